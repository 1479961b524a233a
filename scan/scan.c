/* scan.c - the scan pipeline: stream -> p2v -> validate -> cross-view.
 *
 * Phase 1 (stream): the present pages of the dump are listed as file
 * extents (physmap.h) and read through io/stream.c.  Each chunk is
 * searched on a worker thread for
 *   - pool tags of processes and threads at every pool-aligned slot
 *     (tagscan.h, SIMD), and
 *   - the dispatcher header of a process (type 3, bytes 1 and 3 zero, size
 *     byte when the build's size is known) or thread (type 6) at every
 *     pool-aligned slot, accepted only when the WaitListHead that follows
 *     is two kernel pointers: random bytes pass this with odds near 2^-34.
 * Hits go to per-worker vectors (no locks); their total is capped.
 *
 * Phase 2 (p2v): the pages holding hits get their kernel VA from the
 * kernel page tables (p2v.h).  Normally this map is made before the
 * stream, for every kernel-mapped page (start_early), so that phase 3 can
 * run inside phase 1.
 *
 * Phase 3 (validate): each worker validates the
 * candidates of the chunk it just searched (candval.h) and keeps the
 * accepted records, so little is left after the last byte is read.  On
 * a cold dump (O_DIRECT stream) its reads outside the chunk do not wait
 * for the disk: a candidate that misses the page cache is tried again
 * after the worker's next chunk, and what is left when the stream ends is
 * validated on the pool (drain_deferred).  When
 * the kernel maps too many pages for that map, the VAs come from one walk
 * for the hit pages after the stream and the candidates are validated
 * then, in slices on the pool; the records are the same either way.  Tag
 * hits locate their body through the pool and object headers; structure
 * hits are bodies already.  Both collapse to one record per body
 * physical address; records scoring below min_score are dropped.
 *
 * Phase 4 (cross-view): xview.c.  With O_DIRECT reads the pages of the
 * records found are prefetched first (prefetch_records), and the details
 * (details.h) ask for their pages a level at a time for every process.
 *
 * Output is sorted by physical address (then VA), so it does not depend on
 * thread scheduling. */
#define _GNU_SOURCE /* qsort_r */
#include "scan.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../io/pool.h"
#include "../io/stream.h"
#include "../src/dumpfmt.h"
#include "candval.h"
#include "p2v.h"
#include "tagscan.h"
#include "anchors.h"
#include "drivers.h"
#include "validate.h"
#include "xview.h"

typedef struct cand_vec {
    cand *v;
    size_t n, cap;
} cand_vec;

typedef struct scan_ctx {
    const ds_dump *d;
    const ds_profile *p;
    unsigned ptr, align;
    uint32_t tags[DS_TAGSCAN_MAX_TAGS];
    uint8_t tag_kind[DS_TAGSCAN_MAX_TAGS]; /* cand_kind of each tag */
    unsigned ntags;
    bool struct_scan;
    bool struct_all;           /* structure scan on every page, kmap or not */
    bool prefetch;             /* O_DIRECT stream: prefetch validated objects */
    bool nowait;               /* validation and details with no-wait reads */
    const uint64_t *kmap;      /* bit per pfn: kernel-mapped; NULL = unknown */
    uint64_t kmap_pfns;
    uint64_t *kmap_big;        /* bit per 2 MiB chunk already marked by a large leaf */
    cand_vec *per_worker;
    /* In-stream validation (candval.h): with a page map made before the
     * stream (early), each worker validates the candidates of its chunk
     * into its own recs; NULL early = validate after the stream. */
    const ds_vctx *vc;
    const ds_p2v *early;
    ds_cand_recs *recs;
    unsigned nworkers;
    atomic_uint drain_next;    /* drain_job: next worker's list to drain */
    atomic_size_t total;
    atomic_bool capped;
    atomic_ullong tag_hits, struct_hits;
    const atomic_bool *cancel;
    _Atomic uint64_t *progress; /* ds_scan_opts.progress_bytes */
} scan_ctx;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void ds_scan_opts_default(ds_scan_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->min_score = DS_SCAN_DEFAULT_MIN_SCORE;
}

static bool cancelled(const atomic_bool *flag)
{
    return flag && atomic_load(flag);
}

/* ---- phase 1: chunk consumer ------------------------------------------- */

static bool push_cand(scan_ctx *sc, unsigned worker, uint64_t pa, uint64_t va_hint, uint8_t kind)
{
    if (atomic_fetch_add(&sc->total, 1) >= DS_SCAN_MAX_CANDIDATES) {
        atomic_store(&sc->capped, true);
        return false;
    }
    cand_vec *cv = &sc->per_worker[worker];
    if (cv->n == cv->cap) {
        size_t ncap = cv->cap ? cv->cap * 2 : 1024;
        cand *nv = realloc(cv->v, ncap * sizeof(*nv));
        if (!nv) {
            atomic_store(&sc->capped, true);
            return false;
        }
        cv->v = nv;
        cv->cap = ncap;
    }
    cv->v[cv->n++] = (cand){.pa = pa, .va_hint = va_hint, .kind = kind};
    return true;
}

static uint64_t rdp(const scan_ctx *sc, const uint8_t *b)
{
    if (sc->ptr == 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, b, 4);
    return v;
}

static bool kptr(const scan_ctx *sc, uint64_t v)
{
    return ds_is_kernel_ptr(sc->ptr, v);
}

/* Dispatcher-header structure test at b (slot-aligned, >= 8+2*ptr bytes
 * left in the chunk).  Returns the candidate kind or -1. */
static int struct_kind(const scan_ctx *sc, const uint8_t *b)
{
    uint8_t t = b[0];
    if (t != 3 && t != 6)
        return -1;
    if (t == 3) {
        if (b[1] != 0 || b[3] != 0)
            return -1;
        if (sc->p->process_dispatcher_size && b[2] != sc->p->process_dispatcher_size)
            return -1;
    } else if (sc->p->thread_dispatcher_size && b[2] != sc->p->thread_dispatcher_size) {
        return -1;
    }
    if (!kptr(sc, rdp(sc, b + 8)) || !kptr(sc, rdp(sc, b + 8 + sc->ptr)))
        return -1;
    return t == 3 ? CAND_PROC_STRUCT : CAND_THREAD_STRUCT;
}

/* An empty WaitListHead points at itself: that gives the body's VA. */
static uint64_t waitlist_va_hint(const scan_ctx *sc, const uint8_t *b, uint64_t pa)
{
    uint64_t f = rdp(sc, b + 8), bl = rdp(sc, b + 8 + sc->ptr);
    if (f == bl && ((f - 8) & (DS_PAGE_SIZE - 1)) == (pa & (DS_PAGE_SIZE - 1)))
        return f - 8;
    return DS_NO_VALUE;
}

static void struct_scan_range(scan_ctx *sc, const uint8_t *data, size_t len, uint64_t pa,
                              unsigned worker)
{
    size_t need = 8 + 2 * sc->ptr;
    size_t start = (size_t)((sc->align - (pa % sc->align)) % sc->align);
    for (size_t off = start; off + need <= len; off += sc->align) {
        int k = struct_kind(sc, data + off);
        if (k < 0)
            continue;
        atomic_fetch_add(&sc->struct_hits, 1);
        if (!push_cand(sc, worker, pa + off, waitlist_va_hint(sc, data + off, pa + off), (uint8_t)k))
            return;
    }
}

static bool kernel_mapped(const scan_ctx *sc, uint64_t pfn)
{
    if (!sc->kmap || sc->struct_all)
        return true;
    if (pfn >= sc->kmap_pfns)
        return false;
    return (sc->kmap[pfn / 64] >> (pfn % 64)) & 1;
}

/* The structure scan looks only at pages the kernel maps (see
 * build_kernel_map): objects live in kernel pool, and skipping user and
 * cache pages makes this pass nearly free on large dumps.  A run of
 * mapped pages is scanned as one range so bodies near a page end are seen
 * (the test needs 8 + 2*ptr bytes after the header). */
static void struct_scan_chunk(scan_ctx *sc, const uint8_t *data, size_t len, uint64_t pa,
                              unsigned worker)
{
    size_t off = 0;
    while (off < len) {
        uint64_t page_end = ((pa + off) | (DS_PAGE_SIZE - 1)) + 1 - pa;
        if (page_end > len)
            page_end = len;
        if (!kernel_mapped(sc, (pa + off) >> DS_PAGE_SHIFT)) {
            off = page_end;
            continue;
        }
        size_t run_end = page_end;
        while (run_end < len && kernel_mapped(sc, (pa + run_end) >> DS_PAGE_SHIFT)) {
            run_end += DS_PAGE_SIZE;
            if (run_end > len)
                run_end = len;
        }
        struct_scan_range(sc, data + off, run_end - off, pa + off, worker);
        off = run_end;
    }
}

static void tag_scan_chunk(scan_ctx *sc, const uint8_t *data, size_t len, uint64_t pa,
                           unsigned worker)
{
    uint32_t hits[1024];
    size_t pos = 0;
    /* The chunk starts at physical address pa; alignment is of pa. */
    uint64_t misalign = pa % sc->align;
    while (pos < len) {
        size_t next = len;
        size_t n = ds_tagscan_ex(data, len, pos, misalign, sc->align, 4, sc->tags, sc->ntags, hits,
                                 sizeof(hits) / sizeof(hits[0]), &next);
        for (size_t i = 0; i < n; i++) {
            uint64_t off = hits[i];
            uint32_t tag;
            memcpy(&tag, data + off + 4, 4);
            uint8_t kind = CAND_THREAD_TAG;
            for (unsigned t = 0; t < sc->ntags; t++)
                if (tag == sc->tags[t])
                    kind = sc->tag_kind[t];
            if (kind == CAND_PROC_TAG || kind == CAND_THREAD_TAG)
                atomic_fetch_add(&sc->tag_hits, 1);
            if (!push_cand(sc, worker, pa + off, DS_NO_VALUE, kind))
                return;
        }
        if (next <= pos)
            break;
        pos = next;
    }
}

/* With O_DIRECT the page cache never sees the stream's data, and the
 * cross-view reads the objects found (thread lists, list links) one cold
 * page at a time.  Their pages are asked for all at once before it, so
 * the disk reads them with a deep queue instead of one by one. */
static void prefetch_page(const ds_dump *d, uint64_t pa)
{
    uint64_t off;
    if (pa != DS_NO_VALUE && ds_physmap_lookup(&d->pm, pa >> DS_PAGE_SHIFT, &off) == DS_OK)
        ds_file_willneed(&d->file, off, DS_PAGE_SIZE);
}

static void prefetch_records(const ds_dump *d, const ds_scan_result *r)
{
    for (size_t i = 0; i < r->nprocs; i++)
        prefetch_page(d, r->procs[i].eprocess_pa);
    for (size_t i = 0; i < r->nthreads; i++)
        prefetch_page(d, r->threads[i].ethread_pa);
}

static int on_chunk(void *ctx, const uint8_t *data, size_t len, uint64_t file_off, uint64_t pa,
                    unsigned worker)
{
    scan_ctx *sc = ctx;
    if (worker >= sc->nworkers)
        return 1;
    if (cancelled(sc->cancel))
        return 1;
    size_t first = sc->per_worker[worker].n;
    tag_scan_chunk(sc, data, len, pa, worker);
    if (sc->struct_scan)
        struct_scan_chunk(sc, data, len, pa, worker);
    ds_cand_recs *out = sc->early ? &sc->recs[worker] : NULL;
    if (out && (sc->per_worker[worker].n > first || out->ndeferred)) {
        out->nowait = sc->nowait;
        ds_file_overlay(&sc->d->file, file_off, data, len); /* reads inside: no I/O */
        /* those put off after earlier chunks first: a chunk's search
         * later, the pages they asked for are mostly here */
        if (out->ndeferred)
            ds_cand_retry_deferred(sc->vc, sc->early, out, false);
        ds_cand_validate_batch(sc->vc, sc->early, sc->per_worker[worker].v + first,
                               sc->per_worker[worker].n - first, out);
        ds_file_overlay_clear();
    }
    if (sc->progress)
        atomic_fetch_add_explicit(sc->progress, len, memory_order_relaxed);
    return atomic_load(&sc->capped) ? 1 : 0;
}

/* ---- extents ------------------------------------------------------------ */

typedef struct ext_vec {
    ds_extent *v;
    size_t n, cap;
    bool nomem;
} ext_vec;

static int add_extent(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off)
{
    ext_vec *ev = ctx;
    if (ev->n == ev->cap) {
        size_t ncap = ev->cap ? ev->cap * 2 : 256;
        ds_extent *nv = realloc(ev->v, ncap * sizeof(*nv));
        if (!nv) {
            ev->nomem = true;
            return 1;
        }
        ev->v = nv;
        ev->cap = ncap;
    }
    ev->v[ev->n++] = (ds_extent){.file_off = file_off,
                                 .len = npages << DS_PAGE_SHIFT,
                                 .tag = pfn << DS_PAGE_SHIFT};
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    const ds_extent *x = a, *y = b;
    return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* ---- merging ------------------------------------------------------------ */

/* Process and thread records are merged by the same rule; rather than two
 * copies of it, the merge works on either through the offsets of the few
 * fields it needs (offsetof below; the casts stay inside rec_* helpers). */
typedef struct rec_fields {
    size_t size, pa, pool_pa, score, sources, tag_wiped;
} rec_fields;

static const rec_fields proc_fields = {
    sizeof(ds_proc), offsetof(ds_proc, eprocess_pa), offsetof(ds_proc, pool_pa),
    offsetof(ds_proc, score), offsetof(ds_proc, sources), offsetof(ds_proc, tag_wiped),
};
static const rec_fields thread_fields = {
    sizeof(ds_thread), offsetof(ds_thread, ethread_pa), offsetof(ds_thread, pool_pa),
    offsetof(ds_thread, score), offsetof(ds_thread, sources), offsetof(ds_thread, tag_wiped),
};

#define REC_FIELD(type, rec, off) (*(type *)((char *)(rec) + (off)))

static int cmp_by_pa(const void *a, const void *b, void *arg)
{
    const rec_fields *f = arg;
    uint64_t x = REC_FIELD(uint64_t, (void *)a, f->pa), y = REC_FIELD(uint64_t, (void *)b, f->pa);
    if (x != y)
        return x < y ? -1 : 1;
    /* tag hits (with a pool header) first, so they win ties in the merge */
    bool xa = REC_FIELD(uint64_t, (void *)a, f->pool_pa) == DS_NO_VALUE;
    bool ya = REC_FIELD(uint64_t, (void *)b, f->pool_pa) == DS_NO_VALUE;
    return (int)xa - (int)ya;
}

/* Collapse records with the same body PA into the best-scoring one with
 * the union of their sources.  An object no tag hit saw is "tag wiped".
 * Records below min_score are dropped.  Returns the new count. */
static size_t merge_records(void *base, size_t n, const rec_fields *f, int min_score)
{
    char *v = base;
    qsort_r(v, n, f->size, cmp_by_pa, (void *)f);
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        char *first = v + i * f->size, *best = first;
        uint64_t pa = REC_FIELD(uint64_t, first, f->pa);
        uint32_t src = 0;
        size_t k = i;
        for (; k < n && REC_FIELD(uint64_t, v + k * f->size, f->pa) == pa; k++) {
            char *r = v + k * f->size;
            src |= REC_FIELD(uint32_t, r, f->sources);
            if (REC_FIELD(int, r, f->score) > REC_FIELD(int, best, f->score))
                best = r;
        }
        uint64_t pool_pa = REC_FIELD(uint64_t, first, f->pool_pa);
        if (REC_FIELD(int, best, f->score) >= min_score) {
            char *dst = v + out * f->size;
            memmove(dst, best, f->size);
            REC_FIELD(uint32_t, dst, f->sources) = src;
            if (REC_FIELD(uint64_t, dst, f->pool_pa) == DS_NO_VALUE)
                REC_FIELD(uint64_t, dst, f->pool_pa) = pool_pa;
            REC_FIELD(bool, dst, f->tag_wiped) = !(src & DS_VIEW_POOL);
            out++;
        }
        i = k;
    }
    return out;
}

/* ---- kernel-mapped page set -------------------------------------------- */

/* Largest kernel-map bitmap we allocate (bits = pfns): 64 MiB covers 2 TiB
 * of physical memory; beyond that (or without page tables) the structure
 * scan looks at every page. */
#define KMAP_MAX_BYTES (64ull << 20)
#define KMAP_CHUNK_PFNS 512u /* 2 MiB: the unit large leaves are marked in */

/* Set bits [first, end) of a bitmap, a word at a time. */
static void set_bit_range(uint64_t *bits, uint64_t first, uint64_t end)
{
    while (first < end && (first & 63)) {
        bits[first / 64] |= 1ull << (first % 64);
        first++;
    }
    for (; first + 64 <= end; first += 64)
        bits[first / 64] = ~0ull;
    for (; first < end; first++)
        bits[first / 64] |= 1ull << (first % 64);
}

/* A leaf maps [pa, pa + page_size).  4 KiB leaves set one bit.  Large
 * leaves (2 MiB, 4 MiB, 1 GiB) are handled per 2 MiB chunk, each chunk at
 * most once (kmap_big): hostile tables that repeat one 1 GiB leaf in
 * every entry cost a bit test per chunk instead of a loop over 262,144
 * pages each time, so the work is bounded by the table pages the dump
 * holds and by the pages it covers, not by what the tables claim. */
static int mark_mapped(void *ctx, uint64_t va, uint64_t pa, uint64_t page_size, bool transition)
{
    (void)va;
    (void)transition;
    scan_ctx *sc = ctx;
    uint64_t *bits = (uint64_t *)sc->kmap;
    uint64_t first = pa >> DS_PAGE_SHIFT, n = page_size >> DS_PAGE_SHIFT;
    if (first >= sc->kmap_pfns)
        return 0;
    if (n <= 1) {
        bits[first / 64] |= 1ull << (first % 64);
        return 0;
    }
    uint64_t end = first + n < sc->kmap_pfns ? first + n : sc->kmap_pfns;
    for (uint64_t c = first; c < end; c += KMAP_CHUNK_PFNS) {
        uint64_t chunk = c / KMAP_CHUNK_PFNS;
        if ((sc->kmap_big[chunk / 64] >> (chunk % 64)) & 1)
            continue;
        sc->kmap_big[chunk / 64] |= 1ull << (chunk % 64);
        set_bit_range(bits, c, c + KMAP_CHUNK_PFNS < end ? c + KMAP_CHUNK_PFNS : end);
    }
    return 0;
}

/* Bitmap of the pfns the kernel address space maps (leaf PTEs, large
 * pages and transition PTEs included).  Left NULL when there are no page
 * tables or the bitmap would be too large. */
static void build_kernel_map(scan_ctx *sc)
{
    const ds_dump *d = sc->d;
    if (d->kvas.mode == DS_PAGING_NONE || d->pm.max_pfn == 0 ||
        d->pm.max_pfn / 8 > KMAP_MAX_BYTES)
        return;
    sc->kmap_pfns = d->pm.max_pfn;
    sc->kmap = calloc((size_t)(sc->kmap_pfns / 64 + 1), sizeof(uint64_t));
    sc->kmap_big = calloc((size_t)(sc->kmap_pfns / KMAP_CHUNK_PFNS / 64 + 1), sizeof(uint64_t));
    if (sc->kmap && sc->kmap_big &&
        ds_vas_foreach_mapping(&d->kvas, ds_kernel_va_start(d->kvas.mode), mark_mapped, sc) >= 0) {
        free(sc->kmap_big);
        sc->kmap_big = NULL;
        return;
    }
    free((void *)sc->kmap); /* no memory, or walk cut short: do not trust a partial set */
    free(sc->kmap_big);
    sc->kmap = NULL;
    sc->kmap_big = NULL;
}

/* ---- driver ------------------------------------------------------------- */

static void set_tags(scan_ctx *sc, bool drivers)
{
    /* "Proc", "Thre"; before Windows 8 the protected bit 0x80000000 is set. */
    uint32_t proc = 0x636f7250u, thre = 0x65726854u;
    if (sc->p->protected_tags) {
        proc |= 0x80000000u;
        thre |= 0x80000000u;
    }
    sc->tags[0] = proc;
    sc->tags[1] = thre;
    sc->tag_kind[0] = CAND_PROC_TAG;
    sc->tag_kind[1] = CAND_THREAD_TAG;
    sc->ntags = 2;
    if (drivers) {
        /* "MmLd" is a plain allocation tag; "Driv" an object's (protected
         * bit before Windows 8, like the two above) */
        uint32_t driv = 0x76697244u;
        if (sc->p->protected_tags)
            driv |= 0x80000000u;
        sc->tags[2] = 0x644c6d4du;
        sc->tags[3] = driv;
        sc->tag_kind[2] = CAND_LDR_TAG;
        sc->tag_kind[3] = CAND_DRV_TAG;
        sc->ntags = 4;
    }
}

/* --io auto: when the dump is already in the page cache, mmap (no copy)
 * beats io_uring, which must copy every byte into our buffers; for cold
 * data io_uring with O_DIRECT keeps several large reads in flight and
 * reads at disk speed.  mincore() on 64
 * pages spread over the file's mapping tells which case this is without
 * reading anything. */
#define RESIDENCY_SAMPLES 64u

static bool mostly_cached(const ds_file *f)
{
    const uint8_t *map = ds_file_map(f);
    if (!map || f->size < DS_PAGE_SIZE)
        return false;
    unsigned resident = 0;
    uint64_t pages = f->size / DS_PAGE_SIZE;
    for (unsigned i = 0; i < RESIDENCY_SAMPLES; i++) {
        uint64_t page = pages * i / RESIDENCY_SAMPLES;
        unsigned char vec = 0;
        if (mincore((void *)(map + page * DS_PAGE_SIZE), DS_PAGE_SIZE, &vec) == 0 && (vec & 1))
            resident++;
    }
    return resident * 10 >= RESIDENCY_SAMPLES * 9;
}

static ds_err stream_phase(scan_ctx *sc, const ds_scan_opts *o, ds_pool *pool,
                           ds_scan_result *r, ds_errbuf *eb)
{
    ext_vec ev = {0};
    ds_physmap_foreach_extent(&sc->d->pm, add_extent, &ev);
    if (ev.nomem) {
        free(ev.v);
        return ds_fail(eb, DS_ERR_NOMEM, "cannot list the dump's page extents");
    }
    if (ev.n > 1)
        qsort(ev.v, ev.n, sizeof(*ev.v), cmp_extent);
    ds_stream_opts so;
    ds_stream_opts_default(&so);
    so.backend = (ds_io_backend)o->io_backend;
    so.odirect = o->odirect;
    const char *choice = NULL;
    if (so.backend == DS_IO_AUTO && !o->odirect) {
        if (mostly_cached(&sc->d->file)) {
            so.backend = DS_IO_MMAP;
            choice = "auto: file in page cache, mmap avoids the copy";
        } else {
            /* cold: O_DIRECT reads run at disk speed and leave the page
             * cache to the rest of the machine (bench/RESULTS.md) */
            so.odirect = true;
        }
    }
    so.pool = pool;
    sc->prefetch = so.odirect;
    sc->nowait = o->nowait_reads == DS_SCAN_NOWAIT_ON ||
                 (o->nowait_reads == DS_SCAN_NOWAIT_AUTO && so.odirect);
    so.chunk_bytes = o->chunk_bytes;
    so.inflight_bytes = o->inflight_bytes;
    ds_stream_stats st;
    ds_err e = ds_stream_run(&sc->d->file, ev.v, ev.n, &so, on_chunk, sc, &st, eb);
    free(ev.v);
    r->stats.bytes_scanned = st.bytes;
    r->stats.pages_scanned = st.bytes >> DS_PAGE_SHIFT;
    snprintf(r->stats.io_backend, sizeof(r->stats.io_backend), "%s",
             ds_io_backend_name(st.backend_used));
    snprintf(r->stats.io_fallback, sizeof(r->stats.io_fallback), "%s",
             choice ? choice : st.fallback_reason);
    return e;
}

static ds_err gather(scan_ctx *sc, cand **out, size_t *nout)
{
    size_t n = 0;
    for (unsigned w = 0; w < sc->nworkers; w++)
        n += sc->per_worker[w].n;
    cand *all = malloc((n ? n : 1) * sizeof(*all));
    if (!all)
        return DS_ERR_NOMEM;
    size_t k = 0;
    for (unsigned w = 0; w < sc->nworkers; w++) {
        if (sc->per_worker[w].n)
            memcpy(all + k, sc->per_worker[w].v, sc->per_worker[w].n * sizeof(*all));
        k += sc->per_worker[w].n;
        free(sc->per_worker[w].v);
        sc->per_worker[w].v = NULL;
    }
    *out = all;
    *nout = n;
    return DS_OK;
}

/* Move the driver candidates ("MmLd", "Driv") out of c, keeping the
 * order of the rest, and hand them over as hits with their VAs. */
static ds_err split_driver_hits(cand *c, size_t *n, const ds_p2v *m, ds_drv_hit **hits,
                                size_t *nhits)
{
    size_t nd = 0;
    for (size_t i = 0; i < *n; i++)
        nd += c[i].kind == CAND_LDR_TAG || c[i].kind == CAND_DRV_TAG;
    *hits = malloc((nd ? nd : 1) * sizeof(**hits));
    if (!*hits)
        return DS_ERR_NOMEM;
    size_t keep = 0;
    *nhits = 0;
    for (size_t i = 0; i < *n; i++) {
        if (c[i].kind == CAND_LDR_TAG || c[i].kind == CAND_DRV_TAG) {
            uint64_t va = ds_p2v_lookup(m, c[i].pa);
            (*hits)[(*nhits)++] = (ds_drv_hit){c[i].pa, va == DS_P2V_NONE ? DS_NO_VALUE : va,
                                               c[i].kind == CAND_DRV_TAG};
        } else {
            c[keep++] = c[i];
        }
    }
    *n = keep;
    return DS_OK;
}

static ds_err resolve_vas(const ds_dump *d, const cand *c, size_t n, ds_p2v *m)
{
    uint64_t *pfns = malloc((n ? n : 1) * sizeof(*pfns));
    if (!pfns)
        return DS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        pfns[i] = c[i].pa >> DS_PAGE_SHIFT;
    return ds_p2v_resolve(m, d, pfns, n);
}

/* Move process candidates before thread candidates; returns their count. */
static size_t partition_by_kind(cand *c, size_t n)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        if (cand_is_proc(c[lo].kind)) {
            lo++;
        } else {
            cand t = c[lo];
            c[lo] = c[--hi];
            c[hi] = t;
        }
    }
    return lo;
}

/* Keep the accepted records (score >= 0) of procs[0, np) and
 * threads[0, nt), merge duplicates, hand the records over. */
static ds_err collect(ds_proc *procs, size_t np_in, ds_thread *threads, size_t nt_in,
                      size_t ncands, int min_score, ds_scan_result *r)
{
    size_t np = 0, nt = 0;
    for (size_t i = 0; i < np_in; i++)
        if (procs[i].score >= 0)
            procs[np++] = procs[i];
    for (size_t i = 0; i < nt_in; i++)
        if (threads[i].score >= 0)
            threads[nt++] = threads[i];
    r->stats.rejected = ncands - np - nt;
    np = merge_records(procs, np, &proc_fields, min_score);
    nt = merge_records(threads, nt, &thread_fields, min_score);
    r->procs = malloc((np ? np : 1) * sizeof(*r->procs));
    r->threads = malloc((nt ? nt : 1) * sizeof(*r->threads));
    if (!r->procs || !r->threads)
        return DS_ERR_NOMEM;
    memcpy(r->procs, procs, np * sizeof(*procs));
    memcpy(r->threads, threads, nt * sizeof(*threads));
    r->nprocs = np;
    r->nthreads = nt;
    return DS_OK;
}

/* Validate every candidate after the stream (no page map before it, or
 * new type keys learned) into fresh arrays, then collect. */
static ds_err validate_after(const ds_vctx *vc, const ds_p2v *m, const cand *c, size_t n,
                             size_t nproc, ds_pool *pool, int min_score, ds_scan_result *r)
{
    ds_proc *procs = calloc(nproc ? nproc : 1, sizeof(*procs));
    ds_thread *threads = calloc(n - nproc ? n - nproc : 1, sizeof(*threads));
    ds_err e = procs && threads ? DS_OK : DS_ERR_NOMEM;
    if (e == DS_OK)
        e = ds_cand_validate_all(vc, m, c, n, nproc, pool, procs, threads);
    if (e == DS_OK)
        e = collect(procs, nproc, threads, n - nproc, n, min_score, r);
    free(procs);
    free(threads);
    return e;
}

/* Validate what each worker still had put off when the stream ended,
 * on the pool: their pages were asked for, so these reads wait less. */
static void drain_job(void *arg, unsigned worker)
{
    (void)worker;
    scan_ctx *sc = arg;
    unsigned w = atomic_fetch_add(&sc->drain_next, 1);
    ds_cand_retry_deferred(sc->vc, sc->early, &sc->recs[w], true);
}

static void drain_deferred(scan_ctx *sc, ds_pool *pool, ds_scan_stats *st)
{
    for (unsigned w = 0; w < sc->nworkers; w++) {
        st->deferred += sc->recs[w].deferrals;
        st->deferred_at_end += sc->recs[w].ndeferred;
    }
    if (!st->deferred_at_end)
        return; /* (every warm scan) */
    atomic_store(&sc->drain_next, 0);
    ds_pool_group g;
    ds_pool_group_init(&g, pool);
    for (unsigned w = 0; w < sc->nworkers; w++)
        if (ds_pool_submit(&g, drain_job, sc) != DS_OK)
            drain_job(sc, 0);
    ds_pool_wait(&g);
}

/* The records the workers validated during the stream, gathered and
 * collected. */
static ds_err collect_early(scan_ctx *sc, size_t n, int min_score, ds_scan_result *r)
{
    size_t np = 0, nt = 0;
    bool nomem = false;
    for (unsigned w = 0; w < sc->nworkers; w++) {
        np += sc->recs[w].nprocs;
        nt += sc->recs[w].nthreads;
        nomem |= sc->recs[w].nomem;
    }
    ds_proc *procs = malloc((np ? np : 1) * sizeof(*procs));
    ds_thread *threads = malloc((nt ? nt : 1) * sizeof(*threads));
    ds_err e = procs && threads && !nomem ? DS_OK : DS_ERR_NOMEM;
    size_t kp = 0, kt = 0;
    for (unsigned w = 0; e == DS_OK && w < sc->nworkers; w++) {
        if (sc->recs[w].nprocs) /* (a worker that kept nothing has no arrays) */
            memcpy(procs + kp, sc->recs[w].procs, sc->recs[w].nprocs * sizeof(*procs));
        if (sc->recs[w].nthreads)
            memcpy(threads + kt, sc->recs[w].threads, sc->recs[w].nthreads * sizeof(*threads));
        kp += sc->recs[w].nprocs;
        kt += sc->recs[w].nthreads;
    }
    if (e == DS_OK)
        e = collect(procs, np, threads, nt, n, min_score, r);
    free(procs);
    free(threads);
    return e;
}

static void set_anchor_stats(const ds_vctx *vc, ds_scan_stats *s)
{
    s->active_head = vc->active_head;
    s->cid_table_ptr = vc->cid_table_ptr;
    s->module_list = vc->module_list;
    s->active_head_src = vc->active_head_src;
    s->cid_table_src = vc->cid_table_src;
    s->module_list_src = vc->module_list_src;
}

/* Pages whose VAs the page map made before the stream may hold: 512 Ki
 * (8 MiB of map, 12 MiB while it is built) covers 2 GiB of kernel-mapped
 * memory.  A dump whose kernel maps more validates after the stream. */
#define EARLY_MAX_PAGES ((size_t)1 << 19)

/* Make the page map of every kernel-mapped page and switch the workers
 * to validating their chunks as they go; left off when the kernel map is
 * unknown or too large, or memory is short. */
static void start_early(scan_ctx *sc, const ds_vctx *vc, ds_p2v *m, size_t max_pages)
{
    if (!sc->kmap || ds_p2v_resolve_set(m, sc->d, sc->kmap, sc->kmap_pfns,
                                        max_pages ? max_pages : EARLY_MAX_PAGES) != DS_OK)
        return;
    sc->recs = calloc(sc->nworkers, sizeof(*sc->recs));
    if (!sc->recs) {
        ds_p2v_free(m);
        return;
    }
    sc->vc = vc;
    sc->early = m;
}

ds_err ds_scan(const ds_dump *d, const ds_scan_opts *o, ds_scan_result *r, ds_errbuf *eb)
{
    ds_scan_opts defaults;
    if (!o) {
        ds_scan_opts_default(&defaults);
        o = &defaults;
    }
    memset(r, 0, sizeof(*r));
    if (!d->profile)
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "no offset profile for build %u", d->build);
    if (d->pm.kind == DS_PM_NONE)
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "dump holds no physical memory pages");
    uint64_t t0 = now_ns();

    ds_pool *pool = o->pool, *own_pool = NULL;
    if (!pool) {
        ds_err pe = ds_pool_create(&own_pool, o->threads, 0, eb);
        if (pe != DS_OK)
            return pe;
        pool = own_pool;
    }
    scan_ctx sc = {.d = d, .p = d->profile, .struct_scan = !o->no_struct_scan,
                   .cancel = o->cancel, .progress = o->progress_bytes};
    sc.ptr = d->profile->ptr_size;
    sc.align = d->profile->pool_align;
    set_tags(&sc, !o->no_drivers);
    sc.nworkers = ds_pool_threads(pool);
    sc.struct_all = o->struct_all_pages;
    if (sc.struct_scan || !o->validate_after_stream)
        build_kernel_map(&sc);
    ds_vctx vc;
    ds_vctx_init(&vc, d);
    ds_p2v m = {0};
    uint64_t tm = now_ns();
    if (!o->validate_after_stream)
        start_early(&sc, &vc, &m, o->early_max_pages);
    uint64_t ns_early = now_ns() - tm;
    r->stats.validated_in_stream = sc.early != NULL;
    sc.per_worker = calloc(sc.nworkers, sizeof(*sc.per_worker));
    ds_err e = sc.per_worker ? DS_OK : DS_ERR_NOMEM;
    if (e == DS_OK)
        e = stream_phase(&sc, o, pool, r, eb);
    if (e == DS_OK && cancelled(o->cancel))
        e = DS_ERR_CANCELLED;
    uint64_t t1 = now_ns();
    r->stats.tag_hits = atomic_load(&sc.tag_hits);
    r->stats.struct_hits = atomic_load(&sc.struct_hits);
    r->stats.candidates_capped = atomic_load(&sc.capped);

    cand *c = NULL;
    size_t n = 0;
    if (e == DS_OK)
        e = gather(&sc, &c, &n);
    else
        for (unsigned w = 0; sc.per_worker && w < sc.nworkers; w++)
            free(sc.per_worker[w].v);
    free(sc.per_worker);
    free((void *)sc.kmap);
    r->stats.candidates = n;

    if (e == DS_OK && !sc.early)
        e = resolve_vas(d, c, n, &m);
    uint64_t t2 = now_ns();

    ds_drv_hit *dhits = NULL;
    size_t ndhits = 0;
    if (e == DS_OK)
        e = split_driver_hits(c, &n, &m, &dhits, &ndhits);

    size_t nproc = 0;
    if (e == DS_OK) {
        nproc = partition_by_kind(c, n);
        if (sc.early) {
            drain_deferred(&sc, pool, &r->stats);
            e = collect_early(&sc, n, o->min_score, r);
        } else {
            e = validate_after(&vc, &m, c, n, nproc, pool, o->min_score, r);
        }
    }
    for (unsigned w = 0; sc.recs && w < sc.nworkers; w++)
        ds_cand_recs_free(&sc.recs[w]);
    free(sc.recs);
    /* No list head from the dump: take it from the System process found,
     * and when that teaches the type keys, validate again with them. */
    if (e == DS_OK && ds_anchor_head_from_system(&vc, r)) {
        ds_scan_result_free(r);
        e = validate_after(&vc, &m, c, n, nproc, pool, o->min_score, r);
    }
    if (e == DS_OK)
        ds_anchor_search_nt_data(&vc, r);
    set_anchor_stats(&vc, &r->stats);
    if (e == DS_OK && !o->no_drivers)
        e = ds_drivers_build(&vc, dhits, ndhits, &r->drivers);
    free(dhits);
    free(c);
    ds_p2v_free(&m);
    uint64_t t3 = now_ns();

    if (e == DS_OK && cancelled(o->cancel))
        e = DS_ERR_CANCELLED;
    if (e == DS_OK && sc.prefetch)
        prefetch_records(d, r);
    if (e == DS_OK && !o->no_xview)
        e = ds_xview(&vc, r, o->min_score);
    r->stats.xview_skipped = o->no_xview;
    if (e == DS_OK)
        e = ds_details_fill(&vc, r, sc.nowait);
    uint64_t t4 = now_ns();
    ds_pool_destroy(own_pool);

    r->stats.ns_stream = t1 - t0 - ns_early;
    r->stats.ns_p2v = t2 - t1 + ns_early;
    r->stats.ns_validate = t3 - t2;
    r->stats.ns_xview = t4 - t3;
    r->stats.ns_total = t4 - t0;
    if (e != DS_OK) {
        if (e == DS_ERR_NOMEM)
            ds_fail(eb, e, "out of memory while scanning");
        else if (e == DS_ERR_CANCELLED)
            ds_fail(eb, e, "scan stopped on request");
        ds_scan_result_free(r);
    }
    return e;
}

void ds_scan_result_free(ds_scan_result *r)
{
    ds_driver_set_free(&r->drivers);
    ds_details_free(r->details, r->nprocs);
    r->details = NULL;
    free(r->procs);
    free(r->threads);
    r->procs = NULL;
    r->threads = NULL;
    r->nprocs = r->nthreads = 0;
}
