/* stream_mmap.c - DS_IO_MMAP backend: zero-copy chunks from a shared
 * read-only mapping of the file, 2 MiB-aligned (see stream.h).
 *
 * Before handing out chunk i the reader thread checks the file is still
 * long enough (fstat) and keeps asynchronous read-ahead (MADV_WILLNEED)
 * queue_depth chunks ahead of it (each byte advised once, so a cached file
 * pays almost nothing).  Chunk i is prefaulted (MADV_POPULATE_READ; on
 * kernels without it the consumer takes the faults) by the reader while
 * the workers leave it a CPU, else by the job itself before its consumer
 * (ds_prefault).  POPULATE_READ reports a page past end of
 * file as EFAULT instead of raising SIGBUS, which turns a shrunken file
 * into DS_ERR_TRUNCATED.  Consumed chunks lose their page-table entries
 * (MADV_DONTNEED: the page cache keeps the data) so the resident set stays
 * near queue_depth chunks instead of the whole file.  Each DONTNEED sends a
 * TLB-shootdown interrupt to every other CPU running this process, so it is
 * done in batches, not per chunk: jobs mark their chunk consumed in a ring
 * indexed by chunk number, the reader advances a frontier below which all
 * are consumed and drops [dropped_to, frontier) once it holds DROP_BATCH
 * bytes (measured: 4 KiB-page chunks of 256 KiB spent 20 % of the CPU in
 * shootdowns at 2 threads; with 16 threads each one reaches 15 CPUs).  The
 * reader cuts no chunk more than `ring` chunks past the frontier, so what
 * stays mapped is bounded by (queue_depth + DROP_BATCH/chunk) chunks even
 * when one consumer is slow. */

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
    bool reader_populates; /* the reader prefaults (a CPU is left for it),
                              else each job prefaults its own chunk */
    uint64_t ra_end; /* MADV_WILLNEED issued up to here */
    /* consumed-chunk ring (drop_consumed) */
    unsigned ring;
    atomic_uchar *consumed; /* [seq % ring]: the job is done with it */
    uint64_t *end;          /* [seq % ring]: file offset just past the chunk */
    uint64_t next_seq;      /* number of the next chunk cut */
    uint64_t frontier;      /* every chunk numbered below this is consumed */
    uint64_t frontier_end;  /* file offset past the last of them */
    uint64_t dropped_to;    /* page-aligned: mapping dropped below this */
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

/* Job side: the chunk is consumed. */
static void mark_consumed(stream_run *r, stream_slot *s)
{
    mmap_state *m = r->backend_state;
    atomic_store_explicit(&m->consumed[s->seq % m->ring], 1, memory_order_release);
}

/* Reader side: advance the frontier over consumed chunks and drop what
 * lies below it once a batch has gathered. */
static void drop_consumed(mmap_state *m)
{
    while (m->frontier < m->next_seq &&
           atomic_load_explicit(&m->consumed[m->frontier % m->ring], memory_order_acquire)) {
        m->frontier_end = m->end[m->frontier % m->ring];
        m->frontier++;
    }
    uint64_t to = m->frontier_end & ~(uint64_t)(m->page - 1);
    if (to > m->dropped_to && to - m->dropped_to >= DROP_BATCH) {
        madvise(m->base + m->dropped_to, (size_t)(to - m->dropped_to), MADV_DONTNEED);
        m->dropped_to = to;
    }
}

/* Before cutting another chunk: wait while the ring is full (the oldest
 * chunk still with a consumer).  The job marks its chunk before it frees
 * its slot, which signals slot_free under the lock, so a wait started
 * after the check below cannot miss it. */
static void wait_ring_space(stream_run *r, mmap_state *m)
{
    drop_consumed(m);
    while (m->next_seq - m->frontier >= m->ring && !stream_stopped(r)) {
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
    m->ring = r->depth + (unsigned)(batch < 4096 ? batch : 4096);
    m->consumed = calloc(m->ring, sizeof(*m->consumed));
    m->end = calloc(m->ring, sizeof(*m->end));
    return m->consumed && m->end;
}

/* Extend asynchronous read-ahead to queue_depth chunks past this one. */
static void read_ahead(stream_run *r, mmap_state *m, const stream_slot *s)
{
    uint64_t from = s->file_off > m->ra_end ? s->file_off : m->ra_end;
    uint64_t to = s->file_off + s->len + (uint64_t)r->depth * r->chunk;
    if (to > m->size)
        to = m->size;
    if (from >= to)
        return;
    uint8_t *p;
    size_t n;
    page_span(m, from, (size_t)(to - from), &p, &n);
    if (n)
        madvise(p, n, MADV_WILLNEED);
    m->ra_end = to;
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

/* Job side, when the workers prefault their own chunks. */
static int populate_job(stream_run *r, stream_slot *s)
{
    return populate(r->backend_state, s);
}

/* Make the chunk safe and cheap to touch: size check, read-ahead, and
 * the prefault when the reader does it. */
static ds_err prepare_chunk(stream_run *r, mmap_state *m, stream_slot *s)
{
    struct stat sb;
    if (fstat(r->f->fd, &sb) != 0)
        return stream_fail_errno(r, "fstat", s->file_off, errno);
    if ((uint64_t)sb.st_size < s->file_off + s->len)
        return stream_fail_eof(r, (uint64_t)sb.st_size);
    read_ahead(r, m, s);
    if (!m->reader_populates)
        return DS_OK;
    return populate_error(r, s->file_off, populate(m, s));
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
        s->seq = m->next_seq++;
        m->end[s->seq % m->ring] = s->file_off + s->len;
        atomic_store_explicit(&m->consumed[s->seq % m->ring], 0, memory_order_relaxed);
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
    r->after_consume = mark_consumed;
    if (!m.reader_populates)
        r->before_consume = populate_job;
    e = mmap_loop(r, &m);
    /* Jobs still reference the mapping: drain them before unmapping. */
    ds_pool_wait(&r->group);
    r->after_consume = NULL;
    r->before_consume = NULL;
    r->backend_state = NULL;
    if (e == DS_OK)
        e = populate_error(r, atomic_load(&r->job_off), atomic_load(&r->job_code));
    munmap(m.base, m.size);
    free(m.consumed);
    free(m.end);
    return e;
}
