/* physmap.c - physical page number -> file offset index (see physmap.h).
 *
 * RUNS: the caller's runs are copied, empty ones dropped, sorted by pfn,
 * checked for arithmetic overflow, pfn overlap and file-byte overlap (one
 * file page, one physical page), and neighbours that are
 * contiguous in both pfn and file offset are merged.  Lookup is a binary
 * search for the last run starting at or below the pfn.
 *
 * BITMAP: the presence bitmap is borrowed; we only build `rank`, one u64
 * per 512-bit block (8 words) holding the number of set bits before the
 * block.  The n-th present page (0-based, in pfn order) is stored at
 * first_page_off + n * 4096, so a lookup is rank[block] + popcount of the
 * words before the bit inside the block + popcount of the lower bits of
 * its own word: at most 8 popcounts.  Bits past nbits in the last word
 * are masked off everywhere, since the caller's buffer may hold garbage
 * there.
 *
 * Truncation: a page whose 4 KiB file range does not end inside the file
 * is "missing".  For runs that is decided per run; for the bitmap every
 * page with index >= (file_size - first_page_off) / 4096 is missing, since
 * pages are stored back to back. */
#include "physmap.h"

#include <stdlib.h>
#include <string.h>

#define PAGE 4096ull
#define WORD_BITS 64u
#define BLOCK_WORDS (DS_PM_BLOCK_BITS / WORD_BITS)

/* Whole pages of a file area starting at off that lie inside the file. */
static uint64_t pages_in_file(uint64_t file_size, uint64_t off)
{
    return off < file_size ? (file_size - off) / PAGE : 0;
}

/* ---------------------------------------------------------------- RUNS */

static int run_cmp_pfn(const void *a, const void *b)
{
    const ds_run *x = a, *y = b;
    return x->pfn < y->pfn ? -1 : x->pfn > y->pfn;
}

/* A run whose page span or file span overflows 64 bits is corrupt. */
static bool run_arith_ok(const ds_run *r)
{
    if (r->npages > UINT64_MAX - r->pfn)
        return false;
    if (r->npages > UINT64_MAX / PAGE)
        return false;
    return r->npages * PAGE <= UINT64_MAX - r->file_off;
}

static bool runs_touch(const ds_run *a, const ds_run *b)
{
    return a->pfn + a->npages == b->pfn && a->file_off + a->npages * PAGE == b->file_off;
}

/* Merge neighbours contiguous in pfn and file; returns the new count. */
static size_t merge_adjacent_runs(ds_run *r, size_t n)
{
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out && runs_touch(&r[out - 1], &r[i]))
            r[out - 1].npages += r[i].npages;
        else
            r[out++] = r[i];
    }
    return out;
}

static void count_run_pages(ds_physmap *pm)
{
    pm->pages_present = pm->pages_missing = pm->max_pfn = 0;
    for (size_t i = 0; i < pm->nruns; i++) {
        const ds_run *r = &pm->runs[i];
        uint64_t have = pages_in_file(pm->file_size, r->file_off);
        pm->pages_present += r->npages;
        pm->pages_missing += r->npages - (have < r->npages ? have : r->npages);
        pm->max_pfn = r->pfn + r->npages;
    }
}

static int run_cmp_file(const void *a, const void *b)
{
    const ds_run *x = a, *y = b;
    return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* Two runs whose file bytes overlap would give one file page two physical
 * addresses (a hostile ELF core with 4096 PT_LOADs over one range would be
 * streamed 4096 times): corrupt.  Only the bytes inside the file count. */
static ds_err check_file_overlap(const ds_run *runs, size_t n, uint64_t file_size,
                                 ds_errbuf *eb)
{
    if (n < 2)
        return DS_OK;
    ds_run *v = malloc(n * sizeof(*v));
    if (!v)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory checking %zu runs", n);
    memcpy(v, runs, n * sizeof(*v));
    qsort(v, n, sizeof(*v), run_cmp_file);
    ds_err e = DS_OK;
    for (size_t i = 1; i < n && e == DS_OK; i++) {
        uint64_t prev_end = v[i - 1].file_off + v[i - 1].npages * PAGE;
        if (prev_end > file_size)
            prev_end = file_size;
        if (v[i].file_off < prev_end && v[i].file_off < file_size)
            e = ds_fail(eb, DS_ERR_CORRUPT,
                        "runs at pfn 0x%llx and 0x%llx share file bytes at offset 0x%llx",
                        (unsigned long long)v[i - 1].pfn, (unsigned long long)v[i].pfn,
                        (unsigned long long)v[i].file_off);
    }
    free(v);
    return e;
}

ds_err ds_physmap_init_runs(ds_physmap *pm, const ds_run *runs, size_t nruns,
                            uint64_t file_size, ds_errbuf *eb)
{
    memset(pm, 0, sizeof(*pm));
    pm->kind = DS_PM_RUNS;
    pm->file_size = file_size;
    if (nruns > SIZE_MAX / sizeof(ds_run))
        return ds_fail(eb, DS_ERR_NOMEM, "too many physical memory runs (%zu)", nruns);
    pm->runs = malloc((nruns ? nruns : 1) * sizeof(ds_run));
    if (!pm->runs)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate %zu physical memory runs", nruns);

    size_t n = 0;
    for (size_t i = 0; i < nruns; i++) {
        if (!run_arith_ok(&runs[i])) {
            ds_physmap_free(pm);
            return ds_fail(eb, DS_ERR_CORRUPT,
                           "run %zu (pfn 0x%llx, %llu pages, file offset 0x%llx) overflows",
                           i, (unsigned long long)runs[i].pfn,
                           (unsigned long long)runs[i].npages,
                           (unsigned long long)runs[i].file_off);
        }
        if (runs[i].npages)
            pm->runs[n++] = runs[i];
    }
    if (n > 1)
        qsort(pm->runs, n, sizeof(ds_run), run_cmp_pfn);
    ds_err oe = check_file_overlap(pm->runs, n, file_size, eb);
    if (oe != DS_OK) {
        ds_physmap_free(pm);
        return oe;
    }
    for (size_t i = 1; i < n; i++) {
        if (pm->runs[i].pfn < pm->runs[i - 1].pfn + pm->runs[i - 1].npages) {
            ds_err e = ds_fail(eb, DS_ERR_CORRUPT,
                               "physical runs overlap at pfn 0x%llx",
                               (unsigned long long)pm->runs[i].pfn);
            ds_physmap_free(pm);
            return e;
        }
    }
    pm->nruns = merge_adjacent_runs(pm->runs, n);
    count_run_pages(pm);
    return DS_OK;
}

/* Index of the run containing pfn, or -1. */
static ptrdiff_t find_run(const ds_physmap *pm, uint64_t pfn)
{
    size_t lo = 0, hi = pm->nruns; /* first run with .pfn > pfn is in [lo, hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (pm->runs[mid].pfn <= pfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const ds_run *r = &pm->runs[lo - 1];
    return pfn - r->pfn < r->npages ? (ptrdiff_t)(lo - 1) : -1;
}

static ds_err lookup_runs(const ds_physmap *pm, uint64_t pfn, uint64_t *file_off)
{
    ptrdiff_t i = find_run(pm, pfn);
    if (i < 0)
        return DS_ERR_NOT_PRESENT;
    uint64_t off = pm->runs[i].file_off + (pfn - pm->runs[i].pfn) * PAGE;
    if (off > pm->file_size || pm->file_size - off < PAGE)
        return DS_ERR_TRUNCATED;
    *file_off = off;
    return DS_OK;
}

static int cmp_run_ptr_file(const void *a, const void *b)
{
    const ds_run *x = *(const ds_run *const *)a, *y = *(const ds_run *const *)b;
    return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

static int emit_run_clipped(const ds_physmap *pm, const ds_run *r, ds_extent_cb cb, void *ctx)
{
    uint64_t have = pages_in_file(pm->file_size, r->file_off);
    uint64_t n = have < r->npages ? have : r->npages;
    return n ? cb(ctx, r->pfn, n, r->file_off) : 0;
}

static bool runs_in_file_order(const ds_physmap *pm)
{
    for (size_t i = 1; i < pm->nruns; i++)
        if (pm->runs[i].file_off < pm->runs[i - 1].file_off)
            return false;
    return true;
}

/* Runs are merged at build time, so each run is already a maximal extent
 * (two runs can only touch in file order when they touch in pfn order).
 * Full dumps keep pfn order == file order; ELF cores may not, and then a
 * temporary pointer array sorted by file offset gives the order.  If that
 * allocation fails we fall back to pfn order rather than failing. */
static int foreach_runs(const ds_physmap *pm, ds_extent_cb cb, void *ctx)
{
    const ds_run **order = NULL;
    if (!runs_in_file_order(pm)) {
        order = malloc(pm->nruns * sizeof(*order));
        if (order) {
            for (size_t i = 0; i < pm->nruns; i++)
                order[i] = &pm->runs[i];
            qsort(order, pm->nruns, sizeof(*order), cmp_run_ptr_file);
        }
    }
    int rc = 0;
    for (size_t i = 0; i < pm->nruns && !rc; i++)
        rc = emit_run_clipped(pm, order ? order[i] : &pm->runs[i], cb, ctx);
    free(order);
    return rc;
}

/* -------------------------------------------------------------- BITMAP */

static uint64_t bitmap_words(uint64_t nbits)
{
    return nbits / WORD_BITS + (nbits % WORD_BITS != 0);
}

/* Word i of the bitmap with the bits at or past nbits cleared. */
static inline uint64_t bm_word(const ds_physmap *pm, uint64_t i)
{
    uint64_t w = pm->bits[i];
    uint64_t tail = pm->nbits - i * WORD_BITS;
    if (tail < WORD_BITS)
        w &= (1ull << tail) - 1;
    return w;
}

/* Word ranges that may hold bits: the spans, or [0, nwords). */
static size_t data_spans(const ds_physmap *pm, uint64_t nwords, const ds_word_span **v,
                         ds_word_span *all)
{
    if (pm->spans) {
        *v = pm->spans;
        return pm->nspans;
    }
    *all = (ds_word_span){0, nwords};
    *v = all;
    return 1;
}

static void find_max_pfn(ds_physmap *pm, uint64_t nwords)
{
    pm->max_pfn = 0;
    ds_word_span all;
    const ds_word_span *sp;
    size_t ns = data_spans(pm, nwords, &sp, &all);
    for (size_t k = ns; k-- > 0;) {
        for (uint64_t i = sp[k].end; i-- > sp[k].start;) {
            uint64_t w = bm_word(pm, i);
            if (w) {
                pm->max_pfn = i * WORD_BITS + (WORD_BITS - (uint64_t)__builtin_clzll(w));
                return;
            }
        }
    }
}

ds_err ds_physmap_init_bitmap(ds_physmap *pm, const uint64_t *bits, uint64_t nbits,
                              uint64_t first_page_off, uint64_t file_size,
                              ds_errbuf *eb)
{
    return ds_physmap_init_bitmap_spans(pm, bits, nbits, first_page_off, file_size, NULL, 0, eb);
}

/* Copy spans clipped to nwords, dropping empty ones. */
static ds_err copy_spans(ds_physmap *pm, const ds_word_span *spans, size_t n, uint64_t nwords,
                         ds_errbuf *eb)
{
    if (!spans)
        return DS_OK;
    pm->spans = malloc((n ? n : 1) * sizeof(*pm->spans));
    if (!pm->spans)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot copy %zu bitmap spans", n);
    for (size_t i = 0; i < n; i++) {
        uint64_t a = spans[i].start, b = spans[i].end < nwords ? spans[i].end : nwords;
        if (a < b && (pm->nspans == 0 || a >= pm->spans[pm->nspans - 1].end))
            pm->spans[pm->nspans++] = (ds_word_span){a, b};
    }
    return DS_OK;
}

ds_err ds_physmap_init_bitmap_spans(ds_physmap *pm, const uint64_t *bits, uint64_t nbits,
                                    uint64_t first_page_off, uint64_t file_size,
                                    const ds_word_span *spans, size_t nspans, ds_errbuf *eb)
{
    memset(pm, 0, sizeof(*pm));
    pm->kind = DS_PM_BITMAP;
    pm->bits = bits;
    pm->nbits = nbits;
    pm->first_page_off = first_page_off;
    pm->file_size = file_size;
    if (nbits && !bits)
        return ds_fail(eb, DS_ERR_ARG, "bitmap of %llu bits without storage",
                       (unsigned long long)nbits);
    if (nbits > DS_PM_MAX_BITMAP_BITS)
        return ds_fail(eb, DS_ERR_CORRUPT, "bitmap of %llu bits: more than 2^34 pages",
                       (unsigned long long)nbits);

    uint64_t nwords = bitmap_words(nbits);
    uint64_t nblocks = (nwords + BLOCK_WORDS - 1) / BLOCK_WORDS;
    if (nblocks > SIZE_MAX / sizeof(uint64_t))
        return ds_fail(eb, DS_ERR_NOMEM, "bitmap of %llu bits too large to index",
                       (unsigned long long)nbits);
    ds_err se = copy_spans(pm, spans, nspans, nwords, eb);
    if (se != DS_OK)
        return se;
    pm->rank = malloc((size_t)(nblocks ? nblocks : 1) * sizeof(uint64_t));
    if (!pm->rank) {
        ds_physmap_free(pm);
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate bitmap rank index (%llu blocks)",
                       (unsigned long long)nblocks);
    }

    uint64_t total = 0;
    size_t si = 0;
    for (uint64_t blk = 0; blk < nblocks; blk++) {
        pm->rank[blk] = total;
        uint64_t w0 = blk * BLOCK_WORDS, w1 = w0 + BLOCK_WORDS < nwords ? w0 + BLOCK_WORDS : nwords;
        if (pm->spans) {
            while (si < pm->nspans && pm->spans[si].end <= w0)
                si++;
            if (si == pm->nspans || pm->spans[si].start >= w1)
                continue; /* the whole block lies in a hole: zero, not read */
        }
        for (uint64_t w = w0; w < w1; w++)
            total += (uint64_t)__builtin_popcountll(bm_word(pm, w));
    }
    if (total > (UINT64_MAX - first_page_off) / PAGE) {
        ds_physmap_free(pm);
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "bitmap holds %llu pages: file offsets from 0x%llx overflow",
                       (unsigned long long)total, (unsigned long long)first_page_off);
    }
    uint64_t have = pages_in_file(file_size, first_page_off);
    pm->pages_present = total;
    pm->pages_missing = total - (have < total ? have : total);
    find_max_pfn(pm, nwords);
    return DS_OK;
}

/* Number of set bits strictly below bit index pfn (pfn < nbits). */
static uint64_t bm_rank(const ds_physmap *pm, uint64_t pfn)
{
    uint64_t word = pfn / WORD_BITS;
    uint64_t block = word / BLOCK_WORDS;
    uint64_t n = pm->rank[block];
    for (uint64_t w = block * BLOCK_WORDS; w < word; w++)
        n += (uint64_t)__builtin_popcountll(pm->bits[w]);
    unsigned bit = (unsigned)(pfn % WORD_BITS);
    if (bit)
        n += (uint64_t)__builtin_popcountll(pm->bits[word] & ((1ull << bit) - 1));
    return n;
}

static ds_err lookup_bitmap(const ds_physmap *pm, uint64_t pfn, uint64_t *file_off)
{
    if (pfn >= pm->nbits)
        return DS_ERR_NOT_PRESENT;
    if (!(pm->bits[pfn / WORD_BITS] >> (pfn % WORD_BITS) & 1))
        return DS_ERR_NOT_PRESENT;
    uint64_t idx = bm_rank(pm, pfn);
    if (idx >= pages_in_file(pm->file_size, pm->first_page_off))
        return DS_ERR_TRUNCATED;
    *file_off = pm->first_page_off + idx * PAGE;
    return DS_OK;
}

/* State of the extent walk over the bitmap: the open extent (pfn, n) and
 * the page index of its first page; `avail` pages fit in the file. */
typedef struct bm_walk {
    const ds_physmap *pm;
    ds_extent_cb cb;
    void *ctx;
    uint64_t avail;
    uint64_t open_pfn, open_n, open_idx;
    bool done;
    int rc;
} bm_walk;

static void bm_emit(bm_walk *w)
{
    if (!w->open_n || w->done)
        return;
    if (w->open_idx >= w->avail) {
        w->done = true; /* every later page is past end-of-file too */
        return;
    }
    uint64_t n = w->open_n;
    if (n > w->avail - w->open_idx) {
        n = w->avail - w->open_idx;
        w->done = true;
    }
    w->rc = w->cb(w->ctx, w->open_pfn, n, w->pm->first_page_off + w->open_idx * PAGE);
    if (w->rc)
        w->done = true;
}

/* Add n present pages starting at pfn to the walk. */
static void bm_add(bm_walk *w, uint64_t pfn, uint64_t n)
{
    if (w->open_n && w->open_pfn + w->open_n == pfn) {
        w->open_n += n;
        return;
    }
    uint64_t next_idx = w->open_idx + w->open_n;
    bm_emit(w);
    w->open_pfn = pfn;
    w->open_n = n;
    w->open_idx = next_idx;
}

/* Split a mixed word into its runs of ones, lowest first. */
static void bm_add_word_runs(bm_walk *w, uint64_t base, uint64_t word)
{
    while (word && !w->done) {
        unsigned tz = (unsigned)__builtin_ctzll(word);
        uint64_t rest = word >> tz;
        unsigned ones = ~rest ? (unsigned)__builtin_ctzll(~rest) : WORD_BITS - tz;
        bm_add(w, base + tz, ones);
        uint64_t mask = ones == WORD_BITS ? ~0ull : ((1ull << ones) - 1) << tz;
        word &= ~mask;
    }
}

static int foreach_bitmap(const ds_physmap *pm, ds_extent_cb cb, void *ctx)
{
    bm_walk w = { .pm = pm, .cb = cb, .ctx = ctx,
                  .avail = pages_in_file(pm->file_size, pm->first_page_off) };
    uint64_t nwords = bitmap_words(pm->nbits);
    ds_word_span all;
    const ds_word_span *sp;
    size_t ns = data_spans(pm, nwords, &sp, &all);
    for (size_t k = 0; k < ns && !w.done; k++) {
        for (uint64_t i = sp[k].start; i < sp[k].end && !w.done; i++) {
            uint64_t word = bm_word(pm, i);
            if (word == ~0ull)
                bm_add(&w, i * WORD_BITS, WORD_BITS); /* fast path: all present */
            else if (word)
                bm_add_word_runs(&w, i * WORD_BITS, word);
            /* an all-zero word adds nothing; the next add closes the extent */
        }
    }
    bm_emit(&w);
    return w.rc;
}

/* ------------------------------------------------------------- common */

void ds_physmap_free(ds_physmap *pm)
{
    if (!pm)
        return;
    free(pm->runs);
    free(pm->rank);
    free(pm->spans);
    memset(pm, 0, sizeof(*pm));
}

ds_err ds_physmap_lookup(const ds_physmap *pm, uint64_t pfn, uint64_t *file_off)
{
    switch (pm->kind) {
    case DS_PM_RUNS: return lookup_runs(pm, pfn, file_off);
    case DS_PM_BITMAP: return lookup_bitmap(pm, pfn, file_off);
    default: return DS_ERR_NOT_PRESENT;
    }
}

int ds_physmap_foreach_extent(const ds_physmap *pm, ds_extent_cb cb, void *ctx)
{
    switch (pm->kind) {
    case DS_PM_RUNS: return foreach_runs(pm, cb, ctx);
    case DS_PM_BITMAP: return foreach_bitmap(pm, cb, ctx);
    default: return 0;
    }
}

size_t ds_physmap_index_bytes(const ds_physmap *pm)
{
    switch (pm->kind) {
    case DS_PM_RUNS:
        return pm->nruns * sizeof(ds_run);
    case DS_PM_BITMAP: {
        uint64_t nwords = bitmap_words(pm->nbits);
        return (size_t)((nwords + BLOCK_WORDS - 1) / BLOCK_WORDS) * sizeof(uint64_t);
    }
    default:
        return 0;
    }
}
