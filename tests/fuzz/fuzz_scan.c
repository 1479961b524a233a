/* fuzz_scan.c - the whole scan of a small dump: tag and structure scan,
 * p2v, validation, and every cross-view walker (active list both ways and
 * its repair, thread lists, PspCidTable and handle tables, sessions).
 * One worker thread, created once. */
#include <unistd.h>

#include "../../io/pool.h"
#include "../../scan/scan.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ds_pool *pool;
    if (!pool && ds_pool_create(&pool, 1, 0, NULL) != DS_OK)
        return 0;
    char path[64];
    int fd = fuzz_input_file(data, size, 64ull << 20, path, sizeof(path));
    if (fd < 0)
        return 0;
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    if (ds_dump_open(&d, path, NULL, &eb) == DS_OK) {
        ds_scan_opts o;
        ds_scan_opts_default(&o);
        o.pool = pool;
        o.io_backend = 3; /* pread: no io_uring ring per execution */
        o.chunk_bytes = 1u << 20;
        ds_scan_result r;
        if (ds_scan(d, &o, &r, &eb) == DS_OK)
            ds_scan_result_free(&r);
        ds_dump_close(d);
    }
    close(fd);
    return 0;
}
