/* fuzz_open.c - every format parser: header, physical map (runs, bitmap,
 * RDMP ranges, ELF segments), triage block, kernel bootstrap (DTB scan,
 * KUSER, KDBG search and decoding, profile detection), then a few kernel
 * reads through the result. */
#include <unistd.h>

#include "../../src/dump.h"
#include "fuzz.h"

/* Apparent file size cap.  The input lives in a memfd, where reading a
 * hole allocates a page (a sparse file on disk maps the zero page), so the
 * open-time physical searches (profile detection, the x86 KDBG tag
 * search) over a multi-GiB claim cost GiBs of RSS here and nothing on
 * disk; 256 MiB keeps every parser path and the fuzzer's memory bounded.
 * Header claims beyond the file (bitmaps, runs) are still tested: they
 * are checked against the file size, whatever it is. */
#define OPEN_MAX_FILE (256ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_input_file(data, size, OPEN_MAX_FILE, path, sizeof(path));
    if (fd < 0)
        return 0;
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    if (ds_dump_open(&d, path, NULL, &eb) == DS_OK) {
        uint8_t b[64];
        uint64_t v;
        ds_kread(d, d->ps_active_process_head, b, sizeof(b));
        ds_kread_ptr(d, d->ps_loaded_module_list, &v);
        ds_kread(d, d->kernel_base, b, sizeof(b));
        ds_phys_read(d, 0, b, sizeof(b));
        ds_dump_close(d);
    }
    close(fd);
    return 0;
}
