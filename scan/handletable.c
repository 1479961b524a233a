/* handletable.c - single HANDLE_TABLE lookups; see handletable.h. */
#include "handletable.h"

#include "../src/dumpfmt.h"

#include <string.h>

unsigned ds_ht_table_code_off(const ds_profile *p)
{
    return p->build_min >= 9200 ? 8 : 0;
}

unsigned ds_ht_entry_size(const ds_profile *p)
{
    return p->is64 ? 16 : 8;
}

uint64_t ds_ht_entry_object(const ds_profile *p, uint64_t v)
{
    if (!v)
        return 0;
    if (p->is64 && p->build_min >= 9600)
        /* Win 8.1+: Unlocked:1 RefCnt:16 Attributes:3 ObjectPointerBits:44 */
        return ((v >> 20) << 4) | 0xffff000000000000ull;
    if (p->is64)
        return v & ~7ull;
    return (v & ~7ull) & 0xffffffffull;
}

static bool read_ptr(const ds_dump *d, const ds_profile *p, uint64_t va, uint64_t *v)
{
    if (p->is64)
        return ds_kread(d, va, v, 8) == DS_OK;
    uint32_t v32;
    if (ds_kread(d, va, &v32, 4) != DS_OK)
        return false;
    *v = v32;
    return true;
}

bool ds_ht_lookup(const ds_dump *d, const ds_profile *p, uint64_t table_va, uint64_t index,
                  uint64_t *value)
{
    uint64_t code;
    if (!read_ptr(d, p, table_va + ds_ht_table_code_off(p), &code))
        return false;
    unsigned level = (unsigned)(code & 3), esz = ds_ht_entry_size(p), ptr = p->ptr_size;
    uint64_t per_leaf = DS_PAGE_SIZE / esz, per_dir = DS_PAGE_SIZE / ptr;
    if (level > 2)
        return false;
    uint64_t page = code & ~(uint64_t)(DS_PAGE_SIZE - 1);
    uint64_t span = per_leaf;
    for (unsigned l = 1; l < level; l++)
        span *= per_dir;
    for (unsigned l = level; l > 0; l--) {
        uint64_t slot = index / span;
        if (slot >= per_dir || !read_ptr(d, p, page + slot * ptr, &page) || !page)
            return false;
        page &= ~(uint64_t)(DS_PAGE_SIZE - 1);
        index %= span;
        span /= per_dir;
    }
    if (index >= per_leaf)
        return false;
    if (esz == 16)
        return ds_kread(d, page + index * 16, value, 8) == DS_OK;
    uint32_t v32;
    if (ds_kread(d, page + index * 8, &v32, 4) != DS_OK)
        return false;
    *value = v32;
    return true;
}
