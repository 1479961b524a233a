/* stream_mmap.c - DS_IO_MMAP backend: zero-copy chunks from a private
 * read-only mapping of the file (see stream.h).
 *
 * The reader thread does the page-table work ahead of the consumers: before
 * handing out chunk i it checks the file is still long enough (fstat),
 * keeps asynchronous read-ahead (MADV_WILLNEED) queue_depth chunks ahead
 * of it (each byte advised once, so a cached file pays almost nothing) and
 * prefaults chunk i (MADV_POPULATE_READ; on kernels without it, WILLNEED only, and the
 * consumer takes the faults).  POPULATE_READ reports a page past end of
 * file as EFAULT instead of raising SIGBUS, which turns a shrunken file
 * into DS_ERR_TRUNCATED.  After the consumer, the job drops the chunk's
 * page-table entries (MADV_DONTNEED: the page cache keeps the data) so the
 * resident set stays near queue_depth chunks instead of the whole file. */

#define _GNU_SOURCE
#include "stream_int.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

typedef struct mmap_state {
    uint8_t *base;
    size_t size;
    size_t page;
    bool populate;   /* MADV_POPULATE_READ works on this kernel */
    uint64_t ra_end; /* MADV_WILLNEED issued up to here */
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

static void drop_pages(stream_run *r, stream_slot *s)
{
    const mmap_state *m = r->backend_state;
    uint8_t *p;
    size_t n;
    page_span(m, s->file_off, s->len, &p, &n);
    if (n)
        madvise(p, n, MADV_DONTNEED);
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

/* Make the chunk safe and cheap to touch: size check, prefault. */
static ds_err prepare_chunk(stream_run *r, mmap_state *m, stream_slot *s)
{
    struct stat sb;
    if (fstat(r->f->fd, &sb) != 0)
        return stream_fail_errno(r, "fstat", s->file_off, errno);
    if ((uint64_t)sb.st_size < s->file_off + s->len)
        return stream_fail_eof(r, (uint64_t)sb.st_size);
    read_ahead(r, m, s);
    if (!m->populate)
        return DS_OK;
    uint8_t *p;
    size_t n;
    page_span(m, s->file_off, s->len, &p, &n);
    while (madvise(p, n, MADV_POPULATE_READ) != 0) {
        if (errno == EINTR || errno == EAGAIN)
            continue;
        if (errno == EINVAL) { /* kernel older than 5.14 */
            m->populate = false;
            return DS_OK;
        }
        if (errno == EFAULT)
            return stream_fail_eof(r, s->file_off);
        return stream_fail_errno(r, "MADV_POPULATE_READ", s->file_off, errno);
    }
    return DS_OK;
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
    m->populate = true;
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
        stream_slot *s = stream_slot_take(r, true);
        if (stream_stopped(r) || !stream_cut_chunk(r, s)) {
            stream_slot_put(r, s);
            break;
        }
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
    r->backend_state = &m;
    r->after_consume = drop_pages;
    e = mmap_loop(r, &m);
    /* Jobs still reference the mapping: drain them before unmapping. */
    ds_pool_wait(&r->group);
    r->after_consume = NULL;
    r->backend_state = NULL;
    munmap(m.base, m.size);
    return e;
}
