/* gen_mem.c - PRNG, physical memory layout, page allocator, sparse page store.
 *
 * PRNG: xoshiro256** seeded through splitmix64; noise pages use a
 * separate wyrand stream keyed by (seed, pfn) so page content does not
 * depend on the order pages are written in.
 *
 * Layout: RAM is three runs, [1, 0x9f) pages, [0x100, hole) and
 * [hole_end, top); everything else is not RAM.  Large-page regions
 * (kernel image) are reserved as aligned runs.  Single pages come from
 * rejection sampling of a random pfn above 1 MiB, so consecutive
 * allocations are physically scattered.
 *
 * Store: an open-addressing hash (pfn -> slot) of every page the
 * generator touched or allocated; a slot's 4 KiB buffer is created on
 * first write and lives in 1 MiB slabs.  Memory stays proportional to the
 * number of interesting pages, not to the dump size. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

/* ---------------- PRNG ---------------- */

uint64_t gen_mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ull;
        r->s[i] = gen_mix64(x);
    }
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Lemire's multiply-shift: no modulo bias worth caring about here, and
 * deterministic across platforms. */
uint64_t gen_rng_below(gen_rng *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    return (uint64_t)(((unsigned __int128)gen_rng_next(r) * n) >> 64);
}

uint64_t gen_rng_range(gen_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + gen_rng_below(r, hi - lo + 1);
}

bool gen_rng_chance(gen_rng *r, unsigned percent)
{
    return gen_rng_below(r, 100) < percent;
}

/* wyrand: one 64x64->128 multiply per 8 bytes, fast enough that writing a
 * noisy multi-GiB dump is bound by the disk. */
void gen_noise_page(uint64_t seed, uint64_t pfn, uint8_t *out)
{
    uint64_t st = gen_mix64(seed ^ gen_mix64(pfn + 0x51ed2701u));
    for (unsigned i = 0; i < GEN_PAGE; i += 8) {
        st += 0xa0761d6478bd642full;
        unsigned __int128 m = (unsigned __int128)st * (st ^ 0xe7037ed1a0b428dbull);
        uint64_t v = (uint64_t)(m >> 64) ^ (uint64_t)m;
        memcpy(out + i, &v, 8);
    }
}

/* ---------------- physical layout ---------------- */

bool gen_pfn_is_ram(const gen_ctx *g, uint64_t pfn)
{
    for (unsigned i = 0; i < 3; i++)
        if (pfn >= g->ram[i].first && pfn - g->ram[i].first < g->ram[i].count)
            return true;
    return false;
}

bool gen_pfn_reserved(const gen_ctx *g, uint64_t pfn)
{
    for (unsigned i = 0; i < g->nreserved; i++)
        if (pfn >= g->reserved[i].first && pfn - g->reserved[i].first < g->reserved[i].count)
            return true;
    return false;
}

static bool run_is_free_ram(const gen_ctx *g, uint64_t first, uint64_t n)
{
    for (unsigned i = 0; i < 3; i++) {
        const gen_range *r = &g->ram[i];
        if (first >= r->first && first + n <= r->first + r->count) {
            for (unsigned k = 0; k < g->nreserved; k++) {
                const gen_range *v = &g->reserved[k];
                if (first < v->first + v->count && v->first < first + n)
                    return false;
            }
            return true;
        }
    }
    return false;
}

/* No page of [first, first + n) handed out already (the kernel's root
 * table is allocated before the kernel image's region is chosen). */
static bool run_unallocated(const gen_ctx *g, uint64_t first, uint64_t n)
{
    for (uint64_t f = first; f < first + n; f++)
        if (gen_slot_find(g, f))
            return false;
    return true;
}

ds_err gen_reserve_aligned(gen_ctx *g, uint64_t npages, uint64_t align_pages, uint64_t used_off,
                           uint64_t used_pages, uint64_t *first)
{
    if (g->nreserved >= sizeof(g->reserved) / sizeof(g->reserved[0]))
        return ds_fail(g->eb, DS_ERR_NOMEM, "too many reserved regions");
    uint64_t nslots = g->total_pages / align_pages, f = UINT64_MAX, over = UINT64_MAX;
    gen_rng after_over = g->rng;
    /* random slots first, none over a page handed out in the part the
     * owner writes (it would be overwritten: the kernel image over the
     * kernel's own top-level table) */
    for (unsigned tries = 0; tries < 64 && nslots && f == UINT64_MAX; tries++) {
        uint64_t c = gen_rng_below(&g->rng, nslots) * align_pages;
        if (c < GEN_LOW_FLOOR_PFN || !run_is_free_ram(g, c, npages))
            continue;
        if (run_unallocated(g, c + used_off, used_pages))
            f = c;
        else if (over == UINT64_MAX) {
            over = c; /* what was taken before that check */
            after_over = g->rng;
        }
    }
    if (f == UINT64_MAX && over != UINT64_MAX) {
        /* no other slot (x86 at 12 MiB has one 4 MiB slot): as before,
         * so the dumps made from such a memory stay what they were */
        f = over;
        g->rng = after_over;
    }
    for (uint64_t c = 0; f == UINT64_MAX && c + npages <= g->total_pages; c += align_pages)
        if (c >= GEN_LOW_FLOOR_PFN && run_is_free_ram(g, c, npages))
            f = c; /* then the first free slot */
    if (f == UINT64_MAX)
        return ds_fail(g->eb, DS_ERR_NOMEM, "no room for a %llu-page aligned region",
                       (unsigned long long)npages);
    g->reserved[g->nreserved++] = (gen_range){f, npages};
    *first = f;
    return DS_OK;
}

/* ---------------- store ---------------- */

#define SLAB_PAGES 256u

static size_t slot_hash(uint64_t pfn, size_t cap)
{
    return (size_t)(gen_mix64(pfn) & (cap - 1));
}

static ds_err store_grow(gen_ctx *g)
{
    size_t ncap = g->slot_cap ? g->slot_cap * 2 : 8192;
    gen_slot *ns = malloc(ncap * sizeof(*ns));
    if (!ns)
        return ds_fail(g->eb, DS_ERR_NOMEM, "page store: out of memory");
    for (size_t i = 0; i < ncap; i++)
        ns[i].pfn = UINT64_MAX;
    for (size_t i = 0; i < g->slot_cap; i++) {
        if (g->slots[i].pfn == UINT64_MAX)
            continue;
        size_t h = slot_hash(g->slots[i].pfn, ncap);
        while (ns[h].pfn != UINT64_MAX)
            h = (h + 1) & (ncap - 1);
        ns[h] = g->slots[i];
    }
    free(g->slots);
    g->slots = ns;
    g->slot_cap = ncap;
    return DS_OK;
}

gen_slot *gen_slot_find(const gen_ctx *g, uint64_t pfn)
{
    if (!g->slot_cap)
        return NULL;
    size_t h = slot_hash(pfn, g->slot_cap);
    while (g->slots[h].pfn != UINT64_MAX) {
        if (g->slots[h].pfn == pfn)
            return &g->slots[h];
        h = (h + 1) & (g->slot_cap - 1);
    }
    return NULL;
}

static gen_slot *slot_insert(gen_ctx *g, uint64_t pfn, uint32_t flags)
{
    gen_slot *s = gen_slot_find(g, pfn);
    if (s) {
        s->flags |= flags;
        return s;
    }
    if ((g->slot_used + 1) * 2 > g->slot_cap && store_grow(g) != DS_OK)
        return NULL;
    size_t h = slot_hash(pfn, g->slot_cap);
    while (g->slots[h].pfn != UINT64_MAX)
        h = (h + 1) & (g->slot_cap - 1);
    g->slots[h] = (gen_slot){.pfn = pfn, .data = NULL, .flags = flags};
    g->slot_used++;
    return &g->slots[h];
}

ds_err gen_register(gen_ctx *g, uint64_t pfn, uint32_t flags)
{
    return slot_insert(g, pfn, flags) ? DS_OK
                                       : ds_fail(g->eb, DS_ERR_NOMEM, "page store: out of memory");
}

static uint8_t *slab_page(gen_ctx *g)
{
    if (!g->nslabs || g->slab_fill == SLAB_PAGES) {
        uint8_t **ns = realloc(g->slabs, (g->nslabs + 1) * sizeof(*ns));
        if (!ns)
            return NULL;
        g->slabs = ns;
        uint8_t *slab = calloc(SLAB_PAGES, GEN_PAGE);
        if (!slab)
            return NULL;
        g->slabs[g->nslabs++] = slab;
        g->slab_fill = 0;
    }
    return g->slabs[g->nslabs - 1] + (size_t)GEN_PAGE * g->slab_fill++;
}

uint8_t *gen_page_data(gen_ctx *g, uint64_t pfn)
{
    gen_slot *s = gen_slot_find(g, pfn);
    if (s && s->data)
        return s->data;
    uint8_t *page = slab_page(g);
    if (!page)
        return NULL;
    /* slot_insert may rehash: look the slot up again afterwards */
    s = slot_insert(g, pfn, s ? 0 : GP_KERNEL);
    if (!s)
        return NULL;
    s->data = page;
    g->stored_pages++;
    return page;
}

ds_err gen_alloc_pfn(gen_ctx *g, uint32_t flags, uint64_t avoid_pfn, uint64_t *pfn)
{
    uint64_t span = g->total_pages - GEN_LOW_FLOOR_PFN;
    for (unsigned tries = 0; tries < 100000; tries++) {
        uint64_t f = GEN_LOW_FLOOR_PFN + gen_rng_below(&g->rng, span);
        if (!gen_pfn_is_ram(g, f) || gen_pfn_reserved(g, f) || gen_slot_find(g, f))
            continue;
        if (avoid_pfn && (f + 1 == avoid_pfn || f == avoid_pfn + 1))
            continue;
        if (!slot_insert(g, f, flags))
            return ds_fail(g->eb, DS_ERR_NOMEM, "page store: out of memory");
        g->alloc_count++;
        *pfn = f;
        return DS_OK;
    }
    return ds_fail(g->eb, DS_ERR_NOMEM, "physical memory exhausted (%llu pages allocated); "
                   "use a larger --size-mib", (unsigned long long)g->alloc_count);
}

ds_err gen_pwrite(gen_ctx *g, uint64_t pa, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    while (len) {
        uint64_t off = pa & (GEN_PAGE - 1);
        size_t n = GEN_PAGE - off;
        if (n > len)
            n = len;
        uint8_t *page = gen_page_data(g, pa / GEN_PAGE);
        if (!page)
            return ds_fail(g->eb, DS_ERR_NOMEM, "page store: out of memory");
        memcpy(page + off, src, n);
        pa += n;
        src += n;
        len -= n;
    }
    return DS_OK;
}

void gen_pread(const gen_ctx *g, uint64_t pa, void *buf, size_t len)
{
    uint8_t *dst = buf;
    while (len) {
        uint64_t off = pa & (GEN_PAGE - 1);
        size_t n = GEN_PAGE - off;
        if (n > len)
            n = len;
        const gen_slot *s = gen_slot_find(g, pa / GEN_PAGE);
        if (s && s->data)
            memcpy(dst, s->data + off, n);
        else
            memset(dst, 0, n);
        pa += n;
        dst += n;
        len -= n;
    }
}

void gen_pw64(gen_ctx *g, uint64_t pa, uint64_t v)
{
    gen_pwrite(g, pa, &v, 8);
}

void gen_pw32(gen_ctx *g, uint64_t pa, uint32_t v)
{
    gen_pwrite(g, pa, &v, 4);
}

uint64_t gen_pr64(const gen_ctx *g, uint64_t pa)
{
    uint64_t v;
    gen_pread(g, pa, &v, 8);
    return v;
}

uint32_t gen_pr32(const gen_ctx *g, uint64_t pa)
{
    uint32_t v;
    gen_pread(g, pa, &v, 4);
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

uint64_t *gen_stored_sorted(const gen_ctx *g, size_t *n)
{
    uint64_t *v = malloc((g->stored_pages + 1) * sizeof(*v));
    if (!v)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < g->slot_cap; i++)
        if (g->slots[i].pfn != UINT64_MAX && g->slots[i].data)
            v[k++] = g->slots[i].pfn;
    qsort(v, k, sizeof(*v), cmp_u64);
    *n = k;
    return v;
}

/* ---------------- init ---------------- */

ds_err gen_mem_init(gen_ctx *g)
{
    uint64_t pages = g->o.size_mib * 256;
    g->total_pages = pages;
    /* hole: 1/64 of memory, 64..1024 pages, in the middle, not 2 MiB aligned */
    uint64_t hole = pages / 64;
    if (hole < 64)
        hole = 64;
    if (hole > 1024)
        hole = 1024;
    uint64_t hole_start = pages / 2 + 16 * gen_rng_range(&g->rng, 1, 7);
    g->ram[0] = (gen_range){1, 0x9f - 1};
    g->ram[1] = (gen_range){0x100, hole_start - 0x100};
    g->ram[2] = (gen_range){hole_start + hole, pages - hole_start - hole};
    return store_grow(g);
}

void gen_mem_free(gen_ctx *g)
{
    for (size_t i = 0; i < g->nslabs; i++)
        free(g->slabs[i]);
    free(g->slabs);
    free(g->slots);
    g->slabs = NULL;
    g->slots = NULL;
}
