/* stream_int.h - internals shared by stream.c and its backends
 * (stream_uring.c, stream_mmap.c, stream_pread.c).  Not a public header.
 *
 * A stream_run holds one ds_stream_run call: the extent cursor that cuts
 * chunks, the slots (a slot = one chunk between "being read" and "consumed"),
 * the free-slot stack the reader blocks on, the pool group the chunk jobs
 * run in, and the stop flag that errors and consumers raise.  A backend's
 * loop is: take a free slot, cut the next chunk into it, fill slot->data,
 * dispatch it to the pool; the job calls the consumer and gives the slot
 * back.  On error the backend stops cutting, drains what it has in flight
 * and returns the error; stream.c then waits for the pool group.  (The
 * pread backend and the mmap backend's pull mode have no such loop: each
 * worker cuts its own chunks under `lock` and calls stream_consume.) */
#ifndef DS_IO_STREAM_INT_H
#define DS_IO_STREAM_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "stream.h"

/* O_DIRECT needs offset, length and buffer aligned to the logical block
 * size; 4096 covers every common device. */
#define STREAM_DIRECT_ALIGN 4096u

typedef struct stream_run stream_run;

typedef struct stream_slot {
    stream_run *run;
    unsigned index;
    uint8_t *buf;          /* owned buffer (uring/pread); NULL for mmap */
    const uint8_t *data;   /* what the consumer sees */
    size_t len;
    uint64_t file_off;
    uint64_t tag;
    size_t done;           /* uring: bytes read so far */
    uint64_t seq;          /* mmap: chunk number, in file order */
    bool direct;           /* uring: current read went to the O_DIRECT fd */
} stream_slot;

struct stream_run {
    const ds_file *f;
    const ds_extent *ext;
    size_t next;
    size_t chunk;
    unsigned depth;
    ds_chunk_cb cb;
    void *ctx;
    ds_pool_group group;

    stream_slot *slots;
    pthread_mutex_t lock;      /* guards free_stack / nfree (and, where the
                                  workers pull, the cursor and mmap's ring) */
    pthread_cond_t slot_free;
    unsigned *free_stack;
    unsigned nfree;

    atomic_bool stop;          /* error or consumer asked to stop */
    atomic_bool consumer_stopped;
    _Atomic uint64_t consume_ns, bytes, chunks;

    size_t cur_ext;            /* cursor: next extent ... */
    uint64_t cur_pos;          /* ... and offset inside it */

    int direct_fd;             /* O_DIRECT twin of f->fd, or -1 */
    ds_prefault prefault;      /* mmap: opts.prefault */
    _Atomic uint64_t direct_chunks;

    /* Optional hook run by the job after the consumer, before the slot is
     * freed (mmap drops the chunk's page-table entries here). */
    void (*after_consume)(stream_run *r, stream_slot *s);
    /* First failed read of a worker (pread), for the backend
     * to report after the pool drained: an errno, or -1 for end of file,
     * at file offset job_off. */
    _Atomic int job_code;
    _Atomic uint64_t job_off;
    _Atomic uint64_t job_read_ns;  /* time the jobs spent reading */
    atomic_bool direct_broken;     /* a job's O_DIRECT read said EINVAL */
    void *backend_state;

    ds_stream_stats *st;
    ds_errbuf *eb;
};

uint64_t stream_now_ns(void);

/* True while the cursor has chunks left. */
bool stream_has_more(const stream_run *r);
/* Cut the next chunk into s (file_off, len, tag); false when done. */
bool stream_cut_chunk(stream_run *r, stream_slot *s);

/* Take a free slot.  block=false returns NULL when none is free; block=true
 * waits (time counted in stats.stall_ns). */
stream_slot *stream_slot_take(stream_run *r, bool block);
void stream_slot_put(stream_run *r, stream_slot *s);

/* Give the chunk in s to the consumer on this worker (unless the run
 * stopped) and count it; a nonzero answer stops the run. */
void stream_consume(stream_run *r, const stream_slot *s, unsigned worker);

/* Backends without a reader: run fn on one pool job per worker (at most
 * queue_depth), job i with &slots[i] as its own slot, and wait for all;
 * the jobs' read time goes to stats.read_ns.  DS_ERR_ARG when the pool
 * took none. */
ds_err stream_run_pullers(stream_run *r, ds_job_fn fn);

/* Hand a filled slot to the pool.  On failure the slot is freed. */
ds_err stream_dispatch(stream_run *r, stream_slot *s);

static inline bool stream_stopped(stream_run *r)
{
    return atomic_load_explicit(&r->stop, memory_order_acquire);
}

static inline void stream_set_stop(stream_run *r)
{
    atomic_store_explicit(&r->stop, true, memory_order_release);
}

/* Append "; "-separated text to stats.fallback_reason. */
void stream_note_fallback(stream_run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Give the first n slots (at most all) a chunk-sized buffer aligned for
 * O_DIRECT. */
ds_err stream_alloc_buffers(stream_run *r, unsigned n);

/* Direct I/O: open the O_DIRECT twin fd (noting a fallback on failure),
 * decide per chunk, and give up direct I/O after an EINVAL. */
void stream_open_direct(stream_run *r);
bool stream_direct_ok(const stream_run *r, uint64_t off, size_t len, const void *buf);
void stream_drop_direct(stream_run *r, int err);

/* Error for a read that returned 0 bytes / failed at file offset off. */
ds_err stream_fail_eof(stream_run *r, uint64_t off);
ds_err stream_fail_errno(stream_run *r, const char *what, uint64_t off, int err);

/* Backends.  *unavailable is set (and nothing delivered) when the backend
 * cannot start at all, so AUTO may try the next one. */
ds_err stream_uring_run(stream_run *r, bool *unavailable);
ds_err stream_mmap_run(stream_run *r, bool *unavailable);
ds_err stream_pread_run(stream_run *r);

#endif
