/* vtop.c - virtual to physical address translation for x64, x86 PAE and
 * x86 non-PAE page tables, plus a walker over every leaf mapping.
 *
 * Translation reads one entry per level through the ds_vas read callback
 * (which bounds-checks the physical address).  Upper-level entries must
 * have the valid bit; the leaf may also be a transition PTE (valid clear,
 * Transition bit 11 set, Prototype bit 10 clear), whose frame still holds
 * the data.  Large pages end the walk early: 1 GiB at a PDPTE and 2 MiB
 * at a PDE (x64/PAE, PS bit 7), 4 MiB at a PDE (non-PAE with PSE; the
 * PSE-36 high address bits are ignored).  NX and the software bits above
 * bit 51 are ignored by masking the frame with 0x000ffffffffff000.
 *
 * The walker (ds_vas_foreach_mapping) reads each table page whole into a
 * 4 KiB buffer on the stack, one per level, and visits entries in VA
 * order.  To stay bounded on malformed or hostile tables it expands every
 * physical page as a table at most once, whatever the level: a second
 * reference to an already expanded page (including the root itself) is
 * skipped.  This drops the self-map windows (the x64 self-referencing
 * PML4 slot, the PAE PD #3 entries 0..3, the non-PAE PD entry 0x300),
 * i.e. page tables seen as data, which no caller wants to scan, and it
 * turns a table graph with shared children (512^4 leaves) into a linear
 * walk.  The set of expanded pages is a hash set capped at
 * VTOP_MAX_TABLES pages. */
#include "vtop.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_4K 0x1000ull
#define PAGE_2M 0x200000ull
#define PAGE_4M 0x400000ull
#define PAGE_1G 0x40000000ull

#define PTE_VALID 0x1ull
#define PTE_LARGE 0x80ull          /* PS bit in PDPTE/PDE */
#define PTE_PROTOTYPE (1ull << 10)
#define PTE_TRANSITION (1ull << 11)

#define PFN_MASK_64 0x000ffffffffff000ull
#define PFN_MASK_1G 0x000fffffc0000000ull
#define PFN_MASK_2M 0x000fffffffe00000ull
#define PFN_MASK_32 0xfffff000ull
#define PFN_MASK_4M 0xffc00000ull

/* Most table pages the walker expands (x64 kernel spaces of very large
 * machines hold a few hundred thousand). */
#define VTOP_MAX_TABLES (1u << 22)

/* ------------------------------------------------------------------ */
/* Single-address translation                                          */
/* ------------------------------------------------------------------ */

static ds_err read_entry64(const ds_vas *vas, uint64_t pa, uint64_t *e)
{
    return vas->read(vas->ctx, pa, e, 8);
}

static ds_err read_entry32(const ds_vas *vas, uint64_t pa, uint64_t *e)
{
    uint32_t v;
    ds_err err = vas->read(vas->ctx, pa, &v, 4);
    *e = v;
    return err;
}

/* A leaf PTE the data can be read through: valid, or transition and not
 * prototype. */
static bool leaf_usable(uint64_t pte, bool *transition)
{
    if (pte & PTE_VALID) {
        *transition = false;
        return true;
    }
    if ((pte & PTE_TRANSITION) && !(pte & PTE_PROTOTYPE)) {
        *transition = true;
        return true;
    }
    return false;
}

static void set_xlat(ds_xlat *out, uint64_t pa, uint64_t size, bool transition)
{
    out->pa = pa;
    out->page_size = size;
    out->transition = transition;
}

/* The two lowest levels, shared by x64 and PAE (64-bit entries, 512 per
 * table): the page directory at pd (a 2 MiB large page ends the walk),
 * then the page table. */
static ds_err walk_pd_pt(const ds_vas *vas, uint64_t pd, uint64_t va, ds_xlat *out)
{
    uint64_t e;
    ds_err err = read_entry64(vas, pd + ((va >> 21) & 0x1ff) * 8, &e);
    if (err)
        return err;
    if (!(e & PTE_VALID))
        return DS_ERR_NOT_PRESENT;
    if (e & PTE_LARGE) {
        set_xlat(out, (e & PFN_MASK_2M) | (va & (PAGE_2M - 1)), PAGE_2M, false);
        return DS_OK;
    }
    err = read_entry64(vas, (e & PFN_MASK_64) + ((va >> 12) & 0x1ff) * 8, &e);
    if (err)
        return err;
    bool transition;
    if (!leaf_usable(e, &transition))
        return DS_ERR_NOT_PRESENT;
    set_xlat(out, (e & PFN_MASK_64) | (va & (PAGE_4K - 1)), PAGE_4K, transition);
    return DS_OK;
}

static ds_err vtop_x64(const ds_vas *vas, uint64_t va, ds_xlat *out)
{
    uint64_t top = va >> 47;
    if (top != 0 && top != 0x1ffff)
        return DS_ERR_RANGE; /* non-canonical */

    uint64_t e;
    ds_err err;
    uint64_t table = vas->dtb & PFN_MASK_64;

    err = read_entry64(vas, table + ((va >> 39) & 0x1ff) * 8, &e);
    if (err)
        return err;
    if (!(e & PTE_VALID))
        return DS_ERR_NOT_PRESENT;

    err = read_entry64(vas, (e & PFN_MASK_64) + ((va >> 30) & 0x1ff) * 8, &e);
    if (err)
        return err;
    if (!(e & PTE_VALID))
        return DS_ERR_NOT_PRESENT;
    if (e & PTE_LARGE) {
        set_xlat(out, (e & PFN_MASK_1G) | (va & (PAGE_1G - 1)), PAGE_1G, false);
        return DS_OK;
    }

    return walk_pd_pt(vas, e & PFN_MASK_64, va, out);
}

static ds_err vtop_pae(const ds_vas *vas, uint64_t va, ds_xlat *out)
{
    if (va > 0xffffffffull)
        return DS_ERR_RANGE;

    uint64_t e;
    ds_err err;
    uint64_t pdpt = vas->dtb & 0xffffffe0ull;

    err = read_entry64(vas, pdpt + ((va >> 30) & 3) * 8, &e);
    if (err)
        return err;
    if (!(e & PTE_VALID))
        return DS_ERR_NOT_PRESENT;

    return walk_pd_pt(vas, e & PFN_MASK_64, va, out);
}

static ds_err vtop_x86(const ds_vas *vas, uint64_t va, ds_xlat *out)
{
    if (va > 0xffffffffull)
        return DS_ERR_RANGE;

    uint64_t e;
    ds_err err;
    uint64_t pd = vas->dtb & PFN_MASK_32;

    err = read_entry32(vas, pd + ((va >> 22) & 0x3ff) * 4, &e);
    if (err)
        return err;
    if (!(e & PTE_VALID))
        return DS_ERR_NOT_PRESENT;
    if (e & PTE_LARGE) {
        set_xlat(out, (e & PFN_MASK_4M) | (va & (PAGE_4M - 1)), PAGE_4M, false);
        return DS_OK;
    }

    err = read_entry32(vas, (e & PFN_MASK_32) + ((va >> 12) & 0x3ff) * 4, &e);
    if (err)
        return err;
    bool transition;
    if (!leaf_usable(e, &transition))
        return DS_ERR_NOT_PRESENT;
    set_xlat(out, (e & PFN_MASK_32) | (va & (PAGE_4K - 1)), PAGE_4K, transition);
    return DS_OK;
}

/* ---- translation cache -------------------------------------------------
 * A page-table walk costs up to four physical reads (a pread each on a
 * large dump), and validation walks the same few pool pages again and
 * again: a small direct-mapped cache per thread keeps the last successful
 * translations, keyed by the image (cache_id), the root (dtb) and the
 * virtual page.  Per thread, so no locks; dumps are read-only, so an
 * entry never goes stale while its cache_id lives, and ids are never
 * reused. */
#define TLB_SLOTS 1024

typedef struct tlb_entry {
    uint64_t id, dtb, vpn;
    uint64_t pa_page, page_size;
    uint8_t mode;
    bool transition;
} tlb_entry;

static _Thread_local tlb_entry tlb[TLB_SLOTS];
static _Atomic uint64_t next_cache_id = 1;

uint64_t ds_vtop_cache_id(void)
{
    return atomic_fetch_add(&next_cache_id, 1);
}

static tlb_entry *tlb_slot(const ds_vas *vas, uint64_t vpn)
{
    uint64_t h = vpn ^ (vpn >> 10) ^ (vas->dtb >> 12) ^ (vas->cache_id * 0x9e3779b97f4a7c15ull);
    return &tlb[h & (TLB_SLOTS - 1)];
}

static ds_err walk_tables(const ds_vas *vas, uint64_t va, ds_xlat *out)
{
    switch (vas->mode) {
    case DS_PAGING_X64:
        return vtop_x64(vas, va, out);
    case DS_PAGING_PAE:
        return vtop_pae(vas, va, out);
    case DS_PAGING_X86:
        return vtop_x86(vas, va, out);
    case DS_PAGING_NONE:
        break;
    }
    return DS_ERR_ARG;
}

ds_err ds_vtop(const ds_vas *vas, uint64_t va, ds_xlat *out)
{
    if (!vas || !vas->read || !out)
        return DS_ERR_ARG;
    if (!vas->cache_id)
        return walk_tables(vas, va, out);
    uint64_t vpn = va >> 12;
    tlb_entry *e = tlb_slot(vas, vpn);
    if (e->id == vas->cache_id && e->vpn == vpn && e->dtb == vas->dtb &&
        e->mode == (uint8_t)vas->mode) {
        out->pa = e->pa_page | (va & 0xfff);
        out->page_size = e->page_size;
        out->transition = e->transition;
        return DS_OK;
    }
    ds_err err = walk_tables(vas, va, out);
    if (err == DS_OK)
        *e = (tlb_entry){.id = vas->cache_id, .dtb = vas->dtb, .vpn = vpn,
                         .pa_page = out->pa & ~0xfffull, .page_size = out->page_size,
                         .mode = (uint8_t)vas->mode, .transition = out->transition};
    return err;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

/* Highest VA + 1 of the mode (0 meaning 2^64). */
static uint64_t va_limit(const ds_vas *vas)
{
    return vas->mode == DS_PAGING_X64 ? 0 : 0x100000000ull;
}

ds_err ds_vread(const ds_vas *vas, uint64_t va, void *buf, size_t len)
{
    if (!vas || !vas->read || (!buf && len))
        return DS_ERR_ARG;
    uint64_t limit = va_limit(vas);
    if (len && va + (len - 1) < va)
        return DS_ERR_RANGE; /* wraps around 2^64 */
    if (limit && (va >= limit || len > limit - va))
        return DS_ERR_RANGE;

    uint8_t *out = buf;
    while (len) {
        size_t in_page = (size_t)(PAGE_4K - (va & (PAGE_4K - 1)));
        size_t n = len < in_page ? len : in_page;
        ds_xlat x;
        ds_err err = ds_vtop(vas, va, &x);
        if (err)
            return err;
        err = vas->read(vas->ctx, x.pa, out, n);
        if (err)
            return err;
        out += n;
        va += n;
        len -= n;
    }
    return DS_OK;
}

ds_err ds_vread_u64(const ds_vas *vas, uint64_t va, uint64_t *v)
{
    uint64_t t = 0;
    ds_err err = ds_vread(vas, va, &t, 8);
    *v = err ? 0 : t;
    return err;
}

ds_err ds_vread_u32(const ds_vas *vas, uint64_t va, uint32_t *v)
{
    uint32_t t = 0;
    ds_err err = ds_vread(vas, va, &t, 4);
    *v = err ? 0 : t;
    return err;
}

ds_err ds_vread_ptr(const ds_vas *vas, uint64_t va, uint64_t *v)
{
    if (vas && vas->mode == DS_PAGING_X64)
        return ds_vread_u64(vas, va, v);
    uint32_t t;
    ds_err err = ds_vread_u32(vas, va, &t);
    *v = t;
    return err;
}

/* ------------------------------------------------------------------ */
/* Walking every mapping                                               */
/* ------------------------------------------------------------------ */

/* Open-addressing set of page frame numbers already expanded as tables. */
typedef struct pfn_set {
    uint64_t *slots;   /* 0 = empty; stores pfn + 1 */
    size_t cap;        /* power of two */
    size_t count;
    bool full;         /* VTOP_MAX_TABLES reached or allocation failed */
} pfn_set;

static size_t pfn_hash(uint64_t pfn, size_t cap)
{
    return (size_t)((pfn * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static bool pfn_set_grow(pfn_set *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 1024;
    uint64_t *ns = calloc(ncap, sizeof(*ns));
    if (!ns)
        return false;
    for (size_t i = 0; i < s->cap; i++) {
        uint64_t v = s->slots[i];
        if (!v)
            continue;
        size_t h = pfn_hash(v - 1, ncap);
        while (ns[h])
            h = (h + 1) & (ncap - 1);
        ns[h] = v;
    }
    free(s->slots);
    s->slots = ns;
    s->cap = ncap;
    return true;
}

/* Insert pfn; returns true when it was new (the table should be walked). */
static bool pfn_set_add(pfn_set *s, uint64_t pfn)
{
    if (s->full)
        return false;
    if ((s->count + 1) * 2 > s->cap) {
        if (s->count >= VTOP_MAX_TABLES || !pfn_set_grow(s)) {
            s->full = true;
            return false;
        }
    }
    size_t h = pfn_hash(pfn, s->cap);
    while (s->slots[h]) {
        if (s->slots[h] == pfn + 1)
            return false;
        h = (h + 1) & (s->cap - 1);
    }
    s->slots[h] = pfn + 1;
    s->count++;
    return true;
}

/* Description of one paging level for the generic walker. */
typedef struct level_desc {
    unsigned shift;      /* VA bits below this level's index */
    unsigned nentries;   /* entries per table */
    unsigned esize;      /* 8 or 4 bytes per entry */
    uint64_t large_size; /* page size when PS is set here; 0 = no large pages */
    uint64_t large_mask; /* frame mask of such a large page */
    uint64_t table_mask; /* frame mask of a next-level table / 4 KiB page */
} level_desc;

static const level_desc x64_levels[4] = {
    {39, 512, 8, 0, 0, PFN_MASK_64},
    {30, 512, 8, PAGE_1G, PFN_MASK_1G, PFN_MASK_64},
    {21, 512, 8, PAGE_2M, PFN_MASK_2M, PFN_MASK_64},
    {12, 512, 8, 0, 0, PFN_MASK_64},
};
static const level_desc pae_levels[3] = {
    {30, 4, 8, 0, 0, PFN_MASK_64},
    {21, 512, 8, PAGE_2M, PFN_MASK_2M, PFN_MASK_64},
    {12, 512, 8, 0, 0, PFN_MASK_64},
};
static const level_desc x86_levels[2] = {
    {22, 1024, 4, PAGE_4M, PFN_MASK_4M, PFN_MASK_32},
    {12, 1024, 4, 0, 0, PFN_MASK_32},
};

typedef struct walk {
    const ds_vas *vas;
    const level_desc *levels;
    unsigned nlevels;
    uint64_t va_min;
    ds_map_cb cb;
    void *ctx;
    pfn_set seen;
} walk;

/* VA of entry i of a table covering VAs from base; x64 top-level indices
 * 256..511 are sign-extended into the canonical upper half. */
static uint64_t entry_va(const walk *w, unsigned depth, uint64_t base, unsigned i)
{
    uint64_t va = base | ((uint64_t)i << w->levels[depth].shift);
    if (depth == 0 && w->vas->mode == DS_PAGING_X64 && (va >> 47))
        va |= 0xffff000000000000ull;
    return va;
}

static int walk_table(walk *w, unsigned depth, uint64_t table_pa, uint64_t base);

static int visit_entry(walk *w, unsigned depth, uint64_t e, uint64_t va)
{
    const level_desc *L = &w->levels[depth];
    bool last = depth + 1 == w->nlevels;

    if (last) {
        bool transition;
        if (!leaf_usable(e, &transition))
            return 0;
        return w->cb(w->ctx, va, e & L->table_mask, PAGE_4K, transition);
    }
    if (!(e & PTE_VALID))
        return 0;
    if ((e & PTE_LARGE) && L->large_size)
        return w->cb(w->ctx, va, e & L->large_mask, L->large_size, false);
    return walk_table(w, depth + 1, e & L->table_mask, va);
}

static int walk_table(walk *w, unsigned depth, uint64_t table_pa, uint64_t base)
{
    const level_desc *L = &w->levels[depth];
    uint8_t buf[4096];
    size_t bytes = (size_t)L->nentries * L->esize;

    if (!pfn_set_add(&w->seen, table_pa >> 12))
        return 0; /* already expanded (self-map, shared child) or set full */
    if (w->vas->read(w->vas->ctx, table_pa, buf, bytes) != DS_OK)
        return 0; /* table page absent from the dump: nothing below it */

    uint64_t span = 1ull << L->shift;
    for (unsigned i = 0; i < L->nentries; i++) {
        uint64_t va = entry_va(w, depth, base, i);
        if (va + (span - 1) < w->va_min)
            continue; /* whole entry below va_min */
        uint64_t e;
        if (L->esize == 8) {
            memcpy(&e, buf + (size_t)i * 8, 8);
        } else {
            uint32_t e32;
            memcpy(&e32, buf + (size_t)i * 4, 4);
            e = e32;
        }
        int rc = visit_entry(w, depth, e, va);
        if (rc)
            return rc;
    }
    return 0;
}

int ds_vas_foreach_mapping(const ds_vas *vas, uint64_t va_min, ds_map_cb cb, void *ctx)
{
    if (!vas || !vas->read || !cb)
        return -1;
    walk w = {.vas = vas, .va_min = va_min, .cb = cb, .ctx = ctx};
    uint64_t root;
    switch (vas->mode) {
    case DS_PAGING_X64:
        w.levels = x64_levels;
        w.nlevels = 4;
        root = vas->dtb & PFN_MASK_64;
        /* The walk of the canonical lower half ends at 0x00007fffffffffff;
         * a va_min in the hole starts at the upper half. */
        if ((va_min >> 47) && (va_min >> 47) != 0x1ffff)
            w.va_min = 0xffff800000000000ull;
        break;
    case DS_PAGING_PAE:
        w.levels = pae_levels;
        w.nlevels = 3;
        root = vas->dtb & 0xffffffe0ull;
        if (va_min > 0xffffffffull)
            return 0;
        break;
    case DS_PAGING_X86:
        w.levels = x86_levels;
        w.nlevels = 2;
        root = vas->dtb & PFN_MASK_32;
        if (va_min > 0xffffffffull)
            return 0;
        break;
    default:
        return -1;
    }
    int rc = walk_table(&w, 0, root, 0);
    free(w.seen.slots);
    if (!rc && w.seen.full)
        return -1;
    return rc;
}
