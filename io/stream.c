/* stream.c - the backend-independent half of ds_stream_run (see stream.h):
 * argument and extent validation, the chunk cursor, the slot stack that
 * bounds memory, the pool job that calls the consumer, O_DIRECT helpers,
 * and the AUTO choice uring -> mmap -> pread with the reason recorded. */

#define _GNU_SOURCE /* O_DIRECT */
#include "stream_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Keep queue_depth * chunk_bytes below this however the options are set. */
#define STREAM_MAX_INFLIGHT_BYTES ((uint64_t)4 << 30)

uint64_t stream_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void ds_stream_opts_default(ds_stream_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->backend = DS_IO_AUTO;
}

static const char *const backend_names[] = {
    [DS_IO_AUTO] = "auto",
    [DS_IO_URING] = "uring",
    [DS_IO_MMAP] = "mmap",
    [DS_IO_PREAD] = "pread",
};

const char *ds_io_backend_name(ds_io_backend b)
{
    if ((unsigned)b >= sizeof(backend_names) / sizeof(backend_names[0]))
        return "unknown";
    return backend_names[b];
}

ds_err ds_io_backend_parse(const char *name, ds_io_backend *out)
{
    for (unsigned i = 0; name && i < sizeof(backend_names) / sizeof(backend_names[0]); i++) {
        if (strcmp(name, backend_names[i]) == 0) {
            *out = (ds_io_backend)i;
            return DS_OK;
        }
    }
    return DS_ERR_ARG;
}

/* ---- chunk cursor ---------------------------------------------------- */

/* Skip zero-length extents and finished ones. */
static void cursor_settle(stream_run *r)
{
    while (r->cur_ext < r->next && r->cur_pos >= r->ext[r->cur_ext].len) {
        r->cur_ext++;
        r->cur_pos = 0;
    }
}

bool stream_has_more(const stream_run *r)
{
    return r->cur_ext < r->next;
}

bool stream_cut_chunk(stream_run *r, stream_slot *s)
{
    cursor_settle(r);
    if (!stream_has_more(r))
        return false;
    const ds_extent *e = &r->ext[r->cur_ext];
    uint64_t left = e->len - r->cur_pos;
    s->len = left < r->chunk ? (size_t)left : r->chunk;
    s->file_off = e->file_off + r->cur_pos;
    s->tag = e->tag + r->cur_pos; /* user value: wraps like any u64 */
    s->done = 0;
    s->direct = false;
    r->cur_pos += s->len;
    cursor_settle(r);
    return true;
}

/* ---- slots ----------------------------------------------------------- */

stream_slot *stream_slot_take(stream_run *r, bool block)
{
    pthread_mutex_lock(&r->lock);
    if (r->nfree == 0 && block) {
        uint64_t t0 = stream_now_ns();
        while (r->nfree == 0)
            pthread_cond_wait(&r->slot_free, &r->lock);
        r->st->stall_ns += stream_now_ns() - t0; /* reader-only field */
    }
    stream_slot *s = NULL;
    if (r->nfree > 0)
        s = &r->slots[r->free_stack[--r->nfree]];
    pthread_mutex_unlock(&r->lock);
    return s;
}

void stream_slot_put(stream_run *r, stream_slot *s)
{
    pthread_mutex_lock(&r->lock);
    r->free_stack[r->nfree++] = s->index;
    pthread_cond_signal(&r->slot_free);
    pthread_mutex_unlock(&r->lock);
}

void stream_consume(stream_run *r, const stream_slot *s, unsigned worker)
{
    if (stream_stopped(r))
        return;
    uint64_t t0 = stream_now_ns();
    int rc = r->cb(r->ctx, s->data, s->len, s->file_off, s->tag, worker);
    atomic_fetch_add(&r->consume_ns, stream_now_ns() - t0);
    atomic_fetch_add(&r->bytes, s->len);
    atomic_fetch_add(&r->chunks, 1);
    if (rc != 0) {
        atomic_store(&r->consumer_stopped, true);
        stream_set_stop(r);
    }
}

ds_err stream_run_pullers(stream_run *r, ds_job_fn fn)
{
    unsigned n = r->st->threads < r->depth ? r->st->threads : r->depth;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        if (ds_pool_submit(&r->group, fn, &r->slots[i]) != DS_OK)
            break;
        started++;
    }
    ds_pool_wait(&r->group);
    r->st->read_ns += atomic_load(&r->job_read_ns);
    if (started == 0)
        return ds_fail(r->eb, DS_ERR_ARG, "stream: pool refused the chunk jobs");
    return DS_OK;
}

/* Pool job: one chunk to the consumer, then the slot goes back. */
static void chunk_job(void *arg, unsigned worker)
{
    stream_slot *s = arg;
    stream_run *r = s->run;
    stream_consume(r, s, worker);
    if (r->after_consume)
        r->after_consume(r, s);
    stream_slot_put(r, s);
}

ds_err stream_dispatch(stream_run *r, stream_slot *s)
{
    ds_err e = ds_pool_submit(&r->group, chunk_job, s);
    if (e != DS_OK) {
        stream_slot_put(r, s);
        stream_set_stop(r);
        return ds_fail(r->eb, e, "stream: pool refused a chunk job");
    }
    return DS_OK;
}

void stream_note_fallback(stream_run *r, const char *fmt, ...)
{
    char *dst = r->st->fallback_reason;
    size_t cap = sizeof(r->st->fallback_reason);
    size_t used = strlen(dst);
    if (used > 0 && used + 2 < cap) {
        memcpy(dst + used, "; ", 3);
        used += 2;
    }
    if (used + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst + used, cap - used, fmt, ap);
    va_end(ap);
}

ds_err stream_alloc_buffers(stream_run *r, unsigned n)
{
    if (n > r->depth)
        n = r->depth;
    for (unsigned i = 0; i < n; i++) {
        if (r->slots[i].buf)
            continue;
        void *p = NULL;
        if (posix_memalign(&p, STREAM_DIRECT_ALIGN, r->chunk) != 0)
            return ds_fail(r->eb, DS_ERR_NOMEM, "stream: cannot allocate %u buffers of %zu bytes",
                           n, r->chunk);
        r->slots[i].buf = p;
    }
    return DS_OK;
}

/* ---- O_DIRECT -------------------------------------------------------- */

void stream_open_direct(stream_run *r)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", r->f->fd);
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        stream_note_fallback(r, "O_DIRECT open failed (%s), buffered reads", strerror(errno));
        return;
    }
    r->direct_fd = fd;
}

static bool aligned(uint64_t v)
{
    return (v & (STREAM_DIRECT_ALIGN - 1)) == 0;
}

bool stream_direct_ok(const stream_run *r, uint64_t off, size_t len, const void *buf)
{
    return r->direct_fd >= 0 && aligned(off) && aligned(len) && aligned((uintptr_t)buf);
}

void stream_drop_direct(stream_run *r, int err)
{
    if (r->direct_fd < 0)
        return;
    close(r->direct_fd);
    r->direct_fd = -1;
    stream_note_fallback(r, "O_DIRECT read failed (%s), buffered reads", strerror(err));
}

ds_err stream_fail_eof(stream_run *r, uint64_t off)
{
    return ds_fail(r->eb, DS_ERR_TRUNCATED,
                   "stream: file ends before offset 0x%llx (truncated after open?)",
                   (unsigned long long)off);
}

ds_err stream_fail_errno(stream_run *r, const char *what, uint64_t off, int err)
{
    return ds_fail(r->eb, DS_ERR_IO, "stream: %s at offset 0x%llx: %s", what,
                   (unsigned long long)off, strerror(err));
}

/* ---- setup, validation, backend choice ------------------------------- */

static ds_err check_extents(const ds_file *f, const ds_extent *ext, size_t next, ds_errbuf *eb)
{
    for (size_t i = 0; i < next; i++) {
        const ds_extent *e = &ext[i];
        if (e->file_off + e->len < e->file_off)
            return ds_fail(eb, DS_ERR_ARG, "stream: extent %zu end overflows", i);
        if (i > 0 && e->file_off < ext[i - 1].file_off)
            return ds_fail(eb, DS_ERR_ARG, "stream: extent %zu is not sorted by file offset", i);
        if (e->len && !ds_file_has(f, e->file_off, e->len))
            return ds_fail(eb, DS_ERR_TRUNCATED,
                           "stream: extent %zu [0x%llx+0x%llx] ends past end of file 0x%llx", i,
                           (unsigned long long)e->file_off, (unsigned long long)e->len,
                           (unsigned long long)f->size);
    }
    return DS_OK;
}

/* Chunk size and queue depth.  Explicit values are taken (within the
 * hard limits); automatic ones keep depth x chunk under inflight_bytes,
 * so peak memory does not grow with the thread count: the chunk halves
 * first (down to DS_STREAM_MIN_AUTO_CHUNK), then the queue shortens, but
 * never below threads + 2 slots (beyond ~120 threads at 256 KiB that
 * exceeds the bound rather than leave workers idle). */
static void pick_shape(const ds_stream_opts *o, unsigned threads, size_t *chunk_out,
                       unsigned *depth_out)
{
    uint64_t budget = o->inflight_bytes ? o->inflight_bytes : DS_STREAM_DEFAULT_INFLIGHT;
    uint64_t c = o->chunk_bytes ? o->chunk_bytes : DS_STREAM_DEFAULT_CHUNK;
    if (c > DS_STREAM_MAX_CHUNK)
        c = DS_STREAM_MAX_CHUNK;
    uint64_t d = o->queue_depth ? o->queue_depth : (uint64_t)threads + 4;
    if (d > DS_STREAM_MAX_DEPTH)
        d = DS_STREAM_MAX_DEPTH;
    while (!o->chunk_bytes && d * c > budget && c / 2 >= DS_STREAM_MIN_AUTO_CHUNK)
        c /= 2;
    if (!o->queue_depth && d * c > budget) /* never fewer slots than workers + 2 */
        d = budget / c > (uint64_t)threads + 2 ? budget / c : (uint64_t)threads + 2;
    if (d * c > STREAM_MAX_INFLIGHT_BYTES)
        d = STREAM_MAX_INFLIGHT_BYTES / c;
    *chunk_out = (size_t)c;
    *depth_out = d ? (unsigned)d : 1;
}

static ds_err run_init(stream_run *r, unsigned depth)
{
    r->depth = depth;
    r->slots = calloc(depth, sizeof(*r->slots));
    r->free_stack = calloc(depth, sizeof(*r->free_stack));
    if (!r->slots || !r->free_stack)
        return ds_fail(r->eb, DS_ERR_NOMEM, "stream: out of memory");
    for (unsigned i = 0; i < depth; i++) {
        r->slots[i].run = r;
        r->slots[i].index = i;
        r->free_stack[i] = depth - 1 - i;
    }
    r->nfree = depth;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->slot_free, NULL);
    r->direct_fd = -1;
    return DS_OK;
}

static void run_free(stream_run *r)
{
    if (r->slots) {
        for (unsigned i = 0; i < r->depth; i++)
            free(r->slots[i].buf);
        pthread_cond_destroy(&r->slot_free);
        pthread_mutex_destroy(&r->lock);
    }
    if (r->direct_fd >= 0)
        close(r->direct_fd);
    free(r->slots);
    free(r->free_stack);
}

/* Run the requested backend; AUTO walks uring -> mmap -> pread. */
static ds_err run_backend(stream_run *r, ds_io_backend want)
{
    bool unavailable = false;
    ds_err e;
    switch (want) {
    case DS_IO_URING:
        r->st->backend_used = DS_IO_URING;
        return stream_uring_run(r, &unavailable);
    case DS_IO_MMAP:
        r->st->backend_used = DS_IO_MMAP;
        return stream_mmap_run(r, &unavailable);
    case DS_IO_PREAD:
        r->st->backend_used = DS_IO_PREAD;
        return stream_pread_run(r);
    case DS_IO_AUTO:
        r->st->backend_used = DS_IO_URING;
        e = stream_uring_run(r, &unavailable);
        if (!unavailable)
            return e;
        stream_note_fallback(r, "uring unavailable: %s", r->eb->msg);
        r->eb->msg[0] = '\0';
        r->st->backend_used = DS_IO_MMAP;
        unavailable = false;
        e = stream_mmap_run(r, &unavailable);
        if (!unavailable)
            return e;
        stream_note_fallback(r, "mmap unavailable: %s", r->eb->msg);
        r->eb->msg[0] = '\0';
        r->st->backend_used = DS_IO_PREAD;
        return stream_pread_run(r);
    }
    return ds_fail(r->eb, DS_ERR_ARG, "stream: unknown backend %d", (int)want);
}

static ds_err check_args(const ds_file *f, const ds_extent *ext, size_t next,
                         const ds_stream_opts *opts, ds_chunk_cb cb, ds_errbuf *eb)
{
    if (!f || f->fd < 0 || !cb || (next > 0 && !ext))
        return ds_fail(eb, DS_ERR_ARG, "stream: missing file, extents or callback");
    if (opts && (unsigned)opts->backend > DS_IO_PREAD)
        return ds_fail(eb, DS_ERR_ARG, "stream: unknown backend %d", (int)opts->backend);
    return check_extents(f, ext, next, eb);
}

/* Pool for the run: the caller's, or a private one (*owned). */
static ds_err get_pool(const ds_stream_opts *o, ds_pool **pool, bool *owned, ds_errbuf *eb)
{
    *owned = false;
    *pool = o->pool;
    if (*pool)
        return DS_OK;
    *owned = true;
    unsigned n = o->threads ? o->threads : ds_pool_default_threads();
    return ds_pool_create(pool, n, 2 * (size_t)n + 2, eb);
}

static void fill_stats(stream_run *r, uint64_t t0)
{
    ds_stream_stats *st = r->st;
    st->odirect_used = atomic_load(&r->direct_chunks) > 0;
    st->direct_chunks = atomic_load(&r->direct_chunks);
    st->stopped = atomic_load(&r->consumer_stopped);
    st->bytes = atomic_load(&r->bytes);
    st->chunks = atomic_load(&r->chunks);
    st->consume_ns = atomic_load(&r->consume_ns);
    st->queue_depth = r->depth;
    st->chunk_bytes = r->chunk;
    st->elapsed_ns = stream_now_ns() - t0;
}

ds_err ds_stream_run(const ds_file *f, const ds_extent *ext, size_t next,
                     const ds_stream_opts *opts, ds_chunk_cb cb, void *ctx,
                     ds_stream_stats *stats, ds_errbuf *eb)
{
    uint64_t t0 = stream_now_ns();
    ds_stream_stats local_st;
    ds_errbuf local_eb = {{0}};
    ds_stream_opts defaults;
    ds_stream_stats *st = stats ? stats : &local_st;
    memset(st, 0, sizeof(*st));
    if (!eb)
        eb = &local_eb;
    eb->msg[0] = '\0';
    if (!opts) {
        ds_stream_opts_default(&defaults);
        opts = &defaults;
    }
    ds_err e = check_args(f, ext, next, opts, cb, eb);
    if (e != DS_OK)
        return e;

    ds_pool *pool;
    bool own_pool;
    e = get_pool(opts, &pool, &own_pool, eb);
    if (e != DS_OK)
        return e;

    stream_run r = {0};
    r.f = f;
    r.ext = ext;
    r.next = next;
    unsigned depth;
    pick_shape(opts, ds_pool_threads(pool), &r.chunk, &depth);
    r.cb = cb;
    r.ctx = ctx;
    r.st = st;
    r.eb = eb;
    r.prefault = opts->prefault;
    st->threads = ds_pool_threads(pool);
    ds_pool_group_init(&r.group, pool);
    e = run_init(&r, depth);
    if (e == DS_OK) {
        if (opts->odirect && opts->backend != DS_IO_MMAP)
            stream_open_direct(&r);
        e = run_backend(&r, opts->backend);
        if (e != DS_OK)
            stream_set_stop(&r);
        ds_pool_wait(&r.group);
    }
    fill_stats(&r, t0);
    run_free(&r);
    if (own_pool)
        ds_pool_destroy(pool);
    return e;
}
