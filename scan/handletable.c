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

/* ---- counting ------------------------------------------------------------ */

typedef struct ht_count {
    const ds_dump *d;
    const ds_profile *p;
    unsigned *pages;
    uint64_t n;
    bool bounded;
} ht_count;

/* Read one table page against the page budget. */
static bool table_page(ht_count *c, uint64_t page_va, uint8_t *page)
{
    if (!*c->pages) {
        c->bounded = true;
        return false;
    }
    (*c->pages)--;
    return ds_kread(c->d, page_va, page, DS_PAGE_SIZE) == DS_OK;
}

static void count_leaf(ht_count *c, uint64_t page_va)
{
    uint8_t page[DS_PAGE_SIZE];
    if (!table_page(c, page_va, page))
        return;
    unsigned esz = ds_ht_entry_size(c->p), per = DS_PAGE_SIZE / esz;
    for (unsigned i = 1; i < per; i++) { /* entry 0 of a leaf is never a handle */
        uint64_t v = 0;
        memcpy(&v, page + i * esz, c->p->ptr_size);
        uint64_t obj = ds_ht_entry_object(c->p, v);
        if (obj && ds_is_kernel_ptr(c->p->ptr_size, obj))
            c->n++;
    }
}

static void count_level(ht_count *c, uint64_t page_va, unsigned level)
{
    if (level == 0) {
        count_leaf(c, page_va);
        return;
    }
    uint8_t page[DS_PAGE_SIZE];
    if (!table_page(c, page_va, page))
        return;
    unsigned ptr = c->p->ptr_size;
    for (unsigned i = 0; i < DS_PAGE_SIZE / ptr && !c->bounded; i++) {
        uint64_t sub = 0;
        memcpy(&sub, page + i * ptr, ptr);
        if (!sub)
            break; /* sub-tables are allocated in order */
        if (ds_is_kernel_ptr(ptr, sub))
            count_level(c, sub & ~(uint64_t)(DS_PAGE_SIZE - 1), level - 1);
    }
}

int64_t ds_ht_count(const ds_dump *d, const ds_profile *p, uint64_t table_va, unsigned *pages,
                    bool *bounded)
{
    uint64_t code;
    *bounded = false;
    if (!ds_is_kernel_ptr(p->ptr_size, table_va) ||
        !read_ptr(d, p, table_va + ds_ht_table_code_off(p), &code) ||
        !ds_is_kernel_ptr(p->ptr_size, code & ~3ull) || (code & 3) > 2)
        return -1;
    ht_count c = {d, p, pages, 0, false};
    count_level(&c, code & ~(uint64_t)(DS_PAGE_SIZE - 1), (unsigned)(code & 3));
    *bounded = c.bounded;
    return (int64_t)c.n;
}
