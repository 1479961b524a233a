/* fuzz_physmap.c - the physical map builders and lookups: a runs table
 * (byte 0 even) or a bitmap with its rank index (byte 0 odd), the rest of
 * the input being the runs (24-byte {pfn, count, offset}) or the bitmap. */
#include <stdlib.h>
#include <string.h>

#include "../../src/physmap.h"
#include "fuzz.h"

static int visit(void *ctx, uint64_t pfn, uint64_t n, uint64_t off)
{
    (void)pfn;
    (void)off;
    *(uint64_t *)ctx += n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    uint64_t file_size;
    memcpy(&file_size, data + 1, 8);
    file_size &= (1ull << 44) - 1;
    const uint8_t *p = data + 9;
    size_t n = size - 9;
    ds_physmap pm;
    ds_err e;
    uint64_t *words = NULL;
    if (!(data[0] & 1)) {
        size_t nruns = n / 24;
        ds_run *runs = malloc((nruns ? nruns : 1) * sizeof(*runs));
        if (!runs)
            return 0;
        for (size_t i = 0; i < nruns; i++)
            memcpy(&runs[i], p + 24 * i, 24);
        e = ds_physmap_init_runs(&pm, runs, nruns, file_size, NULL);
        free(runs);
    } else {
        size_t nw = (n + 7) / 8;
        words = calloc(nw ? nw : 1, 8);
        if (!words)
            return 0;
        memcpy(words, p, n);
        uint64_t first = file_size & 0xffffff;
        uint64_t drop = data[0] >> 1 & 7, nbits = (uint64_t)n * 8;
        e = ds_physmap_init_bitmap(&pm, words, nbits > drop ? nbits - drop : 0, first,
                                   file_size, NULL);
    }
    if (e == DS_OK) {
        uint64_t total = 0, off;
        ds_physmap_foreach_extent(&pm, visit, &total);
        for (uint64_t pfn = 0; pfn < 4096; pfn += 7)
            ds_physmap_lookup(&pm, pfn, &off);
        ds_physmap_lookup(&pm, pm.max_pfn, &off);
        ds_physmap_free(&pm);
    }
    free(words);
    return 0;
}
