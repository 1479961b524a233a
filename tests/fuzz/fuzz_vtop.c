/* fuzz_vtop.c - address translation and the page-table walk over a small
 * physical memory: x64, PAE and 32-bit, large and transition pages, loops
 * and self-maps.  Input: byte 0 the mode, bytes 1..8 the DTB, bytes 9..
 * physical memory from address 0 (at most 256 KiB). */
#include <string.h>

#include "../../src/vtop.h"
#include "fuzz.h"

typedef struct mem {
    const uint8_t *p;
    size_t n;
} mem;

static ds_err mem_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
    const mem *m = ctx;
    if (pa > m->n || len > m->n - pa)
        return DS_ERR_NOT_PRESENT;
    memcpy(buf, m->p + pa, len);
    return DS_OK;
}

static int count(void *ctx, uint64_t va, uint64_t pa, uint64_t size, bool transition)
{
    (void)va;
    (void)pa;
    (void)size;
    (void)transition;
    return ++*(uint64_t *)ctx > (1u << 22); /* stop absurd walks */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 9)
        return 0;
    static const ds_paging modes[] = {DS_PAGING_X64, DS_PAGING_PAE, DS_PAGING_X86};
    uint64_t dtb;
    memcpy(&dtb, data + 1, 8);
    mem m = {data + 9, size - 9 > (256u << 10) ? (256u << 10) : size - 9};
    ds_vas vas = {.mode = modes[data[0] % 3], .dtb = dtb, .read = mem_read, .ctx = &m};
    ds_xlat x;
    uint8_t buf[64];
    for (size_t i = 0; i + 8 <= m.n && i < 512; i += 8) {
        uint64_t va;
        memcpy(&va, m.p + i, 8);
        ds_vtop(&vas, va, &x);
        ds_vread(&vas, va, buf, sizeof(buf));
    }
    uint64_t n = 0;
    ds_vas_foreach_mapping(&vas, 0, count, &n);
    return 0;
}
