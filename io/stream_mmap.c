/* stream_mmap.c - DS_IO_MMAP backend: zero-copy chunks from a shared
 * read-only mapping of the file, 2 MiB-aligned (see stream.h).
 *
 * Two ways to run, chosen by who prefaults (stream_mmap_run):
 *  - push, while a CPU is left over for a reader (fewer workers than
 *    CPUs): the reader thread cuts chunk i, checks the file is still long
 *    enough (fstat), keeps asynchronous read-ahead (MADV_WILLNEED)
 *    queue_depth chunks ahead (each byte advised once, so a cached file
 *    pays almost nothing), prefaults the chunk (MADV_POPULATE_READ) and
 *    hands it to the pool;
 *  - pull, when the workers have every CPU: no thread hands chunks out.
 *    One job per worker (at most queue_depth, each with a slot of its
 *    own) loops: in one short critical section (r->lock) it
 *    gives back the chunk it finished, cuts the next one off the shared
 *    cursor and takes the read-ahead and drop work due; outside the lock
 *    it does that work, prefaults its own chunk and consumes it.  A
 *    hand-off cost a futex wake-up of a sleeping worker per chunk (14 GB/s
 *    at 256 KiB chunks against 23 at 4 MiB, 2 threads); this costs a lock.
 * POPULATE_READ reports a page past end of file as EFAULT instead of
 * raising SIGBUS, which turns a shrunken file into DS_ERR_TRUNCATED (on
 * kernels without it, pull checks the size with fstat instead and the
 * consumer takes the faults).
 *
 * Consumed chunks lose their page-table entries (MADV_DONTNEED: the page
 * cache keeps the data) so the resident set stays near queue_depth chunks
 * instead of the whole file.  Each DONTNEED sends a TLB-shootdown
 * interrupt to every other CPU running this process, so it is done in
 * batches, not per chunk: chunks are marked consumed in a ring indexed by
 * chunk number, a frontier advances below which all are consumed, and
 * [dropped_to, frontier) is dropped once it holds DROP_BATCH bytes
 * (measured: 4 KiB-page chunks of 256 KiB spent 20 % of the CPU in
 * shootdowns at 2 threads; with 16 threads each one reaches 15 CPUs).  No
 * chunk is cut more than `ring` chunks past the frontier, and in pull
 * mode one drop runs at a time and holds back cuts that would map more
 * than the push bound while it runs, so what stays mapped is bounded by
 * queue_depth chunks plus two batches even when one consumer is slow. */

#define _GNU_SOURCE
#include "stream_int.h"

#include "cpus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

#define DROP_BATCH ((uint64_t)8 << 20)

typedef struct mmap_state {
    uint8_t *base;
    size_t size;
    size_t page;
    atomic_bool populate;  /* MADV_POPULATE_READ works on this kernel */
    bool reader_populates; /* push: the reader prefaults (a CPU is left for
                              it); else pull: the workers take chunks */
    uint64_t ra_end; /* MADV_WILLNEED issued up to here */
    /* consumed-chunk ring (take_drop_span) */
    unsigned ring;
    atomic_uchar *consumed; /* [seq % ring]: the job is done with it */
    uint64_t *end;          /* [seq % ring]: file offset just past the chunk */
    uint64_t next_seq;      /* number of the next chunk cut */
    uint64_t frontier;      /* every chunk numbered below this is consumed */
    uint64_t frontier_end;  /* file offset past the last of them */
    uint64_t dropped_to;    /* page-aligned: mapping dropped below this */
    unsigned batch_chunks;  /* ring - queue_depth: chunks of one drop batch */
    /* pull mode (r->lock) */
    unsigned waiters;       /* workers waiting for ring space */
    bool dropping;          /* a worker is dropping a span taken below */
    uint64_t dropped_seq;   /* chunks numbered below this: pages dropped */
    ds_err err;             /* first failure of a worker */
} mmap_state;

/* Page-rounded-out [off, off+len) inside the mapping. */
static void page_span(const mmap_state *m, uint64_t off, size_t len, uint8_t **start, size_t *n)
{
    uint64_t lo = off & ~(uint64_t)(m->page - 1);
    uint64_t hi = off + len;
    hi = (hi + m->page - 1) & ~(uint64_t)(m->page - 1);
    if (hi > m->size)
        hi = m->size;
    *start = m->base + lo;
    *n = (size_t)(hi - lo);
}

/* The job is done with chunk s (push: after its consumer; pull: under
 * r->lock, with the next chunk taken). */
static void mark_consumed(stream_run *r, stream_slot *s)
{
    mmap_state *m = r->backend_state;
    atomic_store_explicit(&m->consumed[s->seq % m->ring], 1, memory_order_release);
}

/* Advance the frontier over consumed chunks.  Reader (push) or r->lock
 * (pull). */
static void advance_frontier(mmap_state *m)
{
    while (m->frontier < m->next_seq &&
           atomic_load_explicit(&m->consumed[m->frontier % m->ring], memory_order_acquire)) {
        m->frontier_end = m->end[m->frontier % m->ring];
        m->frontier++;
    }
}

/* When a batch of consumed chunks has gathered below the frontier, take
 * [*lo, *hi) off the to-drop list and return true; the caller drops it
 * (drop_span), outside any lock. */
static bool take_drop_span(mmap_state *m, uint64_t *lo, uint64_t *hi)
{
    advance_frontier(m);
    uint64_t to = m->frontier_end & ~(uint64_t)(m->page - 1);
    if (to <= m->dropped_to || to - m->dropped_to < DROP_BATCH)
        return false;
    *lo = m->dropped_to;
    *hi = to;
    m->dropped_to = to;
    return true;
}

static void drop_span(mmap_state *m, uint64_t lo, uint64_t hi)
{
    madvise(m->base + lo, (size_t)(hi - lo), MADV_DONTNEED);
}

/* Reader side: drop what lies below the frontier once a batch gathered. */
static void drop_consumed(mmap_state *m)
{
    uint64_t lo, hi;
    if (take_drop_span(m, &lo, &hi))
        drop_span(m, lo, hi);
}

/* No chunk may be cut while the oldest unconsumed one is a whole ring
 * behind: its slot in consumed[]/end[] would be reused, and what stays
 * mapped would grow past the bound. */
static bool ring_full(const mmap_state *m)
{
    return m->next_seq - m->frontier >= m->ring;
}

/* Before cutting another chunk: wait while the ring is full (the oldest
 * chunk still with a consumer).  The job marks its chunk before it frees
 * its slot, which signals slot_free under the lock, so a wait started
 * after the check below cannot miss it. */
static void wait_ring_space(stream_run *r, mmap_state *m)
{
    drop_consumed(m);
    while (ring_full(m) && !stream_stopped(r)) {
        pthread_mutex_lock(&r->lock);
        if (!atomic_load_explicit(&m->consumed[m->frontier % m->ring], memory_order_acquire) &&
            !stream_stopped(r))
            pthread_cond_wait(&r->slot_free, &r->lock);
        pthread_mutex_unlock(&r->lock);
        drop_consumed(m);
    }
}

static bool ring_init(stream_run *r, mmap_state *m)
{
    uint64_t batch = DROP_BATCH / r->chunk + 1;
    m->batch_chunks = (unsigned)(batch < 4096 ? batch : 4096);
    m->ring = r->depth + m->batch_chunks;
    m->consumed = calloc(m->ring, sizeof(*m->consumed));
    m->end = calloc(m->ring, sizeof(*m->end));
    return m->consumed && m->end;
}

/* Number chunk s and record it in the ring (not yet consumed). */
static void ring_add(mmap_state *m, stream_slot *s)
{
    s->seq = m->next_seq++;
    m->end[s->seq % m->ring] = s->file_off + s->len;
    atomic_store_explicit(&m->consumed[s->seq % m->ring], 0, memory_order_relaxed);
}

/* Read-ahead to queue_depth chunks past s not yet asked for: [*from,
 * *to), page-rounded, false when there is none.  Marks it asked for. */
static bool take_read_ahead(stream_run *r, mmap_state *m, const stream_slot *s, uint8_t **p,
                            size_t *n)
{
    uint64_t from = s->file_off > m->ra_end ? s->file_off : m->ra_end;
    uint64_t to = s->file_off + s->len + (uint64_t)r->depth * r->chunk;
    if (to > m->size)
        to = m->size;
    if (from >= to)
        return false;
    page_span(m, from, (size_t)(to - from), p, n);
    m->ra_end = to;
    return *n > 0;
}

/* Extend asynchronous read-ahead to queue_depth chunks past this one. */
static void read_ahead(stream_run *r, mmap_state *m, const stream_slot *s)
{
    uint8_t *p;
    size_t n;
    if (take_read_ahead(r, m, s, &p, &n))
        madvise(p, n, MADV_WILLNEED);
}

/* Prefault the chunk's pages (MADV_POPULATE_READ).  0; -1 when the file
 * ends inside it (EFAULT, where touching would have raised SIGBUS); an
 * errno otherwise.  A kernel older than 5.14 (EINVAL) turns it off. */
static int populate(mmap_state *m, const stream_slot *s)
{
    if (!atomic_load_explicit(&m->populate, memory_order_relaxed))
        return 0;
    uint8_t *p;
    size_t n;
    page_span(m, s->file_off, s->len, &p, &n);
    while (madvise(p, n, MADV_POPULATE_READ) != 0) {
        if (errno == EINTR || errno == EAGAIN)
            continue;
        if (errno == EINVAL) {
            atomic_store_explicit(&m->populate, false, memory_order_relaxed);
            return 0;
        }
        return errno == EFAULT ? -1 : errno;
    }
    return 0;
}

/* The run's error for populate's answer rc at file_off (0: none). */
static ds_err populate_error(stream_run *r, uint64_t file_off, int rc)
{
    if (rc == -1)
        return stream_fail_eof(r, file_off);
    return rc ? stream_fail_errno(r, "MADV_POPULATE_READ", file_off, rc) : DS_OK;
}

/* Is the file still long enough for chunk s?  0; -1 when it now ends
 * at *size; fstat's errno. */
static int size_check(const stream_run *r, const stream_slot *s, uint64_t *size)
{
    struct stat sb;
    if (fstat(r->f->fd, &sb) != 0)
        return errno;
    *size = (uint64_t)sb.st_size;
    return *size < s->file_off + s->len ? -1 : 0;
}

static ds_err size_error(stream_run *r, const stream_slot *s, int rc, uint64_t size)
{
    if (rc == -1)
        return stream_fail_eof(r, size);
    return stream_fail_errno(r, "fstat", s->file_off, rc);
}

/* Make the chunk safe and cheap to touch: size check, read-ahead, and
 * the prefault when the reader does it. */
static ds_err prepare_chunk(stream_run *r, mmap_state *m, stream_slot *s)
{
    uint64_t size = 0;
    int rc = size_check(r, s, &size);
    if (rc)
        return size_error(r, s, rc, size);
    read_ahead(r, m, s);
    if (!m->reader_populates)
        return DS_OK;
    return populate_error(r, s->file_off, populate(m, s));
}

/* ---- pull mode: the workers take the chunks themselves ---------------- */

/* What a puller does outside the lock after taking a chunk. */
typedef struct pull_todo {
    bool drop;             /* drop_span(drop_lo, drop_hi), then pull_dropped */
    uint64_t drop_lo, drop_hi;
    uint64_t drop_seq;     /* the span ends below the chunk numbered this */
    bool ahead;            /* MADV_WILLNEED over [ra, ra + ra_n) */
    uint8_t *ra;
    size_t ra_n;
} pull_todo;

/* Pull mode: no chunk may be cut while the ring is full, nor, while a
 * worker is still dropping a span, so far past the span's start that the
 * mapping would outgrow the bound the reader keeps in push mode (ring
 * chunks plus one batch). */
static bool pull_must_wait(const mmap_state *m)
{
    return ring_full(m) ||
           (m->dropping && m->next_seq - m->dropped_seq >= (uint64_t)m->ring + m->batch_chunks);
}

/* Under r->lock: give back the chunk the worker finished (have), wait
 * for ring space and cut the next one into s.  False when the run is
 * over or stopped.  One drop at a time: a span is taken only while no
 * other worker is dropping one. */
static bool pull_next(stream_run *r, mmap_state *m, stream_slot *s, bool have, pull_todo *t)
{
    if (have) {
        mark_consumed(r, s);
        if (m->waiters)
            pthread_cond_broadcast(&r->slot_free);
    }
    advance_frontier(m);
    while (pull_must_wait(m) && !stream_stopped(r)) {
        uint64_t t0 = stream_now_ns();
        m->waiters++;
        pthread_cond_wait(&r->slot_free, &r->lock);
        m->waiters--;
        r->st->stall_ns += stream_now_ns() - t0;
        advance_frontier(m);
    }
    t->drop = !m->dropping && take_drop_span(m, &t->drop_lo, &t->drop_hi);
    if (t->drop) {
        m->dropping = true;
        t->drop_seq = m->frontier;
    }
    t->ahead = false;
    if (stream_stopped(r) || !stream_cut_chunk(r, s))
        return false;
    ring_add(m, s);
    t->ahead = take_read_ahead(r, m, s, &t->ra, &t->ra_n);
    return true;
}

/* The span taken in t is dropped: let the next drop be taken and the
 * workers held back by it go on. */
static void pull_dropped(stream_run *r, mmap_state *m, const pull_todo *t)
{
    pthread_mutex_lock(&r->lock);
    m->dropping = false;
    m->dropped_seq = t->drop_seq;
    if (m->waiters)
        pthread_cond_broadcast(&r->slot_free);
    pthread_mutex_unlock(&r->lock);
}

/* A worker's size check or prefault failed: the first such failure is
 * the run's error (its message written under the lock, so two failing
 * at once do not both write it), and the run stops. */
static void pull_fail(stream_run *r, mmap_state *m, const stream_slot *s, bool size_failed,
                      int rc, uint64_t size)
{
    pthread_mutex_lock(&r->lock);
    if (m->err == DS_OK)
        m->err = size_failed ? size_error(r, s, rc, size) : populate_error(r, s->file_off, rc);
    pthread_mutex_unlock(&r->lock);
    stream_set_stop(r);
}

/* On the worker: prefault chunk s, which also proves it is still in the
 * file (EFAULT past its end); where the kernel has no MADV_POPULATE_READ
 * the file size is checked instead.  False (the run stopped) when the
 * file no longer holds the chunk or the prefault failed. */
static bool pull_prepare(stream_run *r, mmap_state *m, const stream_slot *s)
{
    uint64_t t0 = stream_now_ns(), size = 0;
    bool size_failed = false;
    int rc = populate(m, s);
    if (rc == 0 && !atomic_load_explicit(&m->populate, memory_order_relaxed)) {
        rc = size_check(r, s, &size);
        size_failed = rc != 0;
    }
    atomic_fetch_add(&r->job_read_ns, stream_now_ns() - t0);
    if (rc) {
        pull_fail(r, m, s, size_failed, rc, size);
        return false;
    }
    return true;
}

/* Pool job, one per worker: take chunks off the shared cursor until none
 * is left.  No thread hands chunks out, so a chunk costs one short
 * critical section instead of a wake-up of a sleeping worker. */
static void pull_job(void *arg, unsigned worker)
{
    stream_slot *s = arg;
    stream_run *r = s->run;
    mmap_state *m = r->backend_state;
    for (bool have = false;; have = true) {
        pull_todo t;
        pthread_mutex_lock(&r->lock);
        bool got = pull_next(r, m, s, have, &t);
        pthread_mutex_unlock(&r->lock);
        if (t.drop) {
            drop_span(m, t.drop_lo, t.drop_hi);
            pull_dropped(r, m, &t);
        }
        if (t.ahead)
            madvise(t.ra, t.ra_n, MADV_WILLNEED);
        if (!got)
            return;
        s->data = m->base + s->file_off;
        if (pull_prepare(r, m, s))
            stream_consume(r, s, worker);
    }
}

/* One pull job per worker; the run ends when all have returned. */
static ds_err pull_run(stream_run *r, mmap_state *m)
{
    ds_err e = stream_run_pullers(r, pull_job);
    return e != DS_OK ? e : m->err;
}

static ds_err map_file(stream_run *r, mmap_state *m)
{
    if (r->f->size > (uint64_t)SIZE_MAX)
        return ds_fail(r->eb, DS_ERR_UNSUPPORTED, "file larger than the address space");
    m->size = (size_t)r->f->size;
    long pg = sysconf(_SC_PAGESIZE);
    m->page = pg > 0 ? (size_t)pg : 4096;
    void *p = ds_mmap_aligned(r->f->fd, m->size); /* see file.h */
    if (p == MAP_FAILED)
        return ds_fail(r->eb, DS_ERR_IO, "mmap: %s", strerror(errno));
    m->base = p;
    atomic_store(&m->populate, true);
    madvise(p, m->size, MADV_SEQUENTIAL);
#ifdef MADV_HUGEPAGE
    madvise(p, m->size, MADV_HUGEPAGE); /* refused on most file systems: harmless */
#endif
    return DS_OK;
}

static ds_err mmap_loop(stream_run *r, mmap_state *m)
{
    ds_err e = DS_OK;
    while (!stream_stopped(r) && stream_has_more(r)) {
        wait_ring_space(r, m);
        stream_slot *s = stream_slot_take(r, true);
        if (stream_stopped(r) || !stream_cut_chunk(r, s)) {
            stream_slot_put(r, s);
            break;
        }
        ring_add(m, s);
        uint64_t t1 = stream_now_ns();
        e = prepare_chunk(r, m, s);
        r->st->read_ns += stream_now_ns() - t1;
        if (e != DS_OK) {
            stream_slot_put(r, s);
            break;
        }
        s->data = m->base + s->file_off;
        e = stream_dispatch(r, s);
        if (e != DS_OK)
            break;
    }
    return e;
}

ds_err stream_mmap_run(stream_run *r, bool *unavailable)
{
    mmap_state m = {0};
    uint64_t t0 = stream_now_ns();
    ds_err e = map_file(r, &m);
    r->st->setup_ns += stream_now_ns() - t0;
    if (e != DS_OK) {
        *unavailable = true;
        return e;
    }
    if (r->direct_fd >= 0)
        stream_note_fallback(r, "O_DIRECT does not apply to mmap");
    if (!ring_init(r, &m)) {
        free(m.consumed);
        free(m.end);
        munmap(m.base, m.size);
        return ds_fail(r->eb, DS_ERR_NOMEM, "stream: out of memory");
    }
    /* The reader prefaults ahead of the workers while a CPU is left over
     * for it (one worker on two CPUs: the prefault runs beside the scan);
     * when the workers have every CPU, a third thread prefaulting only
     * takes turns with them, and each job prefaults its own chunk
     * (measured with a page cache of 4 KiB folios, 2 workers on 2 CPUs:
     * stream + scan 13.4 -> 16.8 GB/s; 1 worker: 12.4 GB/s with the
     * reader prefaulting, less without). */
    m.reader_populates = r->prefault == DS_PREFAULT_AUTO ? r->st->threads < ds_usable_cpus_once()
                                                         : r->prefault == DS_PREFAULT_READER;
    r->backend_state = &m;
    if (m.reader_populates) {
        r->after_consume = mark_consumed;
        e = mmap_loop(r, &m);
        /* Jobs still reference the mapping: drain them before unmapping. */
        ds_pool_wait(&r->group);
        r->after_consume = NULL;
    } else {
        e = pull_run(r, &m);
    }
    r->backend_state = NULL;
    munmap(m.base, m.size);
    free(m.consumed);
    free(m.end);
    return e;
}
