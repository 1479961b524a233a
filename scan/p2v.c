/* p2v.c - resolve kernel VAs for a sorted set of physical pages (p2v.h).
 *
 * One pass over the kernel half of the address space.  Each leaf mapping
 * (4 KiB, 2 MiB, 4 MiB or 1 GiB) covers a pfn range; a binary search finds
 * the first wanted pfn in it and the loop walks forward while inside the
 * range.  Mappings arrive in VA order, so the first VA recorded for a pfn
 * is the lowest one: the result is deterministic. */
#include "p2v.h"

#include <stdlib.h>

#include "../src/dumpfmt.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t lower_bound(const uint64_t *v, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Index of the first wanted pfn at or after i that still has no VA
 * (path-compressed "next unresolved" links, so resolved pfns are skipped
 * in amortised constant time). */
static size_t next_open(ds_p2v *m, size_t i)
{
    size_t r = i;
    while (r < m->n && m->next[r] != r)
        r = m->next[r];
    while (i < m->n && m->next[i] != i) { /* compress the path */
        size_t nx = m->next[i];
        m->next[i] = r;
        i = nx;
    }
    return r;
}

/* A leaf maps [pa, pa + page_size) at va: give every wanted pfn in it
 * that has no VA yet this one.  Resolved pfns are never looked at again,
 * so a hostile table that maps the same range from a million leaves
 * costs one search per leaf, not a loop over the range. */
static int record_mapping(void *ctx, uint64_t va, uint64_t pa, uint64_t page_size, bool transition)
{
    (void)transition;
    ds_p2v *m = ctx;
    uint64_t first = pa >> DS_PAGE_SHIFT;
    uint64_t count = page_size >> DS_PAGE_SHIFT;
    for (size_t i = next_open(m, lower_bound(m->pfns, m->n, first));
         i < m->n && m->pfns[i] < first + count; i = next_open(m, i + 1)) {
        m->vas[i] = va + ((m->pfns[i] - first) << DS_PAGE_SHIFT);
        m->next[i] = i + 1;
    }
    return 0;
}

ds_err ds_p2v_resolve(ds_p2v *m, const ds_dump *d, uint64_t *pfns, size_t n)
{
    m->pfns = pfns;
    m->n = 0;
    m->vas = NULL;
    m->next = NULL;
    if (n == 0)
        return DS_OK;
    bool sorted = true;
    for (size_t i = 1; sorted && i < n; i++)
        sorted = pfns[i - 1] <= pfns[i];
    if (!sorted)
        qsort(pfns, n, sizeof(*pfns), cmp_u64);
    size_t u = 1;
    for (size_t i = 1; i < n; i++)
        if (pfns[i] != pfns[u - 1])
            pfns[u++] = pfns[i];
    m->n = u;
    m->vas = malloc(u * sizeof(*m->vas));
    m->next = malloc(u * sizeof(*m->next));
    if (!m->vas || !m->next) {
        free(m->next);
        m->next = NULL;
        return DS_ERR_NOMEM;
    }
    for (size_t i = 0; i < u; i++) {
        m->vas[i] = DS_P2V_NONE;
        m->next[i] = i;
    }
    if (d->kvas.mode != DS_PAGING_NONE)
        ds_vas_foreach_mapping(&d->kvas, ds_kernel_va_start(d->kvas.mode), record_mapping, m);
    free(m->next); /* only needed during the walk */
    m->next = NULL;
    return DS_OK;
}

ds_err ds_p2v_resolve_set(ds_p2v *m, const ds_dump *d, const uint64_t *bits, uint64_t nbits,
                          size_t max_pages)
{
    m->pfns = m->vas = NULL;
    m->next = NULL;
    m->n = 0;
    uint64_t words = (nbits + 63) / 64, count = 0;
    for (uint64_t w = 0; w < words; w++)
        count += (uint64_t)__builtin_popcountll(bits[w]);
    if (count > max_pages)
        return DS_ERR_NOMEM;
    uint64_t *pfns = malloc((count ? count : 1) * sizeof(*pfns));
    if (!pfns)
        return DS_ERR_NOMEM;
    size_t k = 0;
    for (uint64_t w = 0; w < words; w++)
        for (uint64_t b = bits[w]; b; b &= b - 1) {
            uint64_t pfn = w * 64 + (uint64_t)__builtin_ctzll(b);
            if (pfn < nbits)
                pfns[k++] = pfn;
        }
    ds_err e = ds_p2v_resolve(m, d, pfns, k);
    if (e != DS_OK)
        ds_p2v_free(m);
    return e;
}

uint64_t ds_p2v_lookup(const ds_p2v *m, uint64_t pa)
{
    uint64_t pfn = pa >> DS_PAGE_SHIFT;
    size_t i = lower_bound(m->pfns, m->n, pfn);
    if (i >= m->n || m->pfns[i] != pfn || m->vas[i] == DS_P2V_NONE)
        return DS_P2V_NONE;
    return m->vas[i] + (pa & (DS_PAGE_SIZE - 1));
}

void ds_p2v_free(ds_p2v *m)
{
    free(m->pfns);
    free(m->vas);
    m->pfns = m->vas = NULL;
    m->n = 0;
}
