/* stream_uring.c - DS_IO_URING backend (see stream.h).
 *
 * One ring with at least queue_depth entries.  The slot buffers are
 * registered once (io_uring_register_buffers) and read with
 * IORING_OP_READ_FIXED, which saves the kernel pinning pages on every read;
 * when registration is refused (RLIMIT_MEMLOCK) plain IORING_OP_READ is used.
 *
 * Reader loop: put a read in flight for every free slot while chunks remain
 * (blocking for a slot only when nothing is in flight), submit and wait for
 * at least one completion, then reap all completions.  A complete chunk goes
 * to the pool; a short read is resubmitted for the rest; a zero-byte read
 * means the file shrank (DS_ERR_TRUNCATED); EINVAL on the O_DIRECT fd drops
 * direct I/O and re-reads buffered.  After an error no new reads are issued,
 * but every read in flight is reaped before returning, because the kernel
 * still owns those buffers. */

#include "stream_int.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

typedef struct uring_state {
    struct io_uring ring;
    bool fixed;          /* buffers registered */
    unsigned inflight;
    unsigned ring_errors; /* consecutive failed waits (broken ring guard) */
} uring_state;

static unsigned ring_entries(unsigned depth)
{
    unsigned n = 8;
    while (n < depth && n < 4096)
        n <<= 1;
    return n;
}

/* Queue the (rest of the) read for slot s.  Never fails: the ring has an
 * entry per slot, and the caller submits before queueing more. */
static void queue_read(stream_run *r, uring_state *u, stream_slot *s)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    uint8_t *dst = s->buf + s->done;
    size_t want = s->len - s->done;
    uint64_t off = s->file_off + s->done;
    s->direct = s->done == 0 && stream_direct_ok(r, off, want, dst);
    int fd = s->direct ? r->direct_fd : r->f->fd;
    if (u->fixed)
        io_uring_prep_read_fixed(sqe, fd, dst, (unsigned)want, off, (int)s->index);
    else
        io_uring_prep_read(sqe, fd, dst, (unsigned)want, off);
    if (!s->direct) /* buffered: copy in io-wq workers, not inline here */
        io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
    io_uring_sqe_set_data(sqe, s);
    u->inflight++;
}

/* Issue reads for as many free slots as possible. */
static void fill_ring(stream_run *r, uring_state *u)
{
    while (!stream_stopped(r) && stream_has_more(r)) {
        stream_slot *s = stream_slot_take(r, u->inflight == 0);
        if (!s)
            return;
        if (stream_stopped(r) || !stream_cut_chunk(r, s)) {
            stream_slot_put(r, s);
            return;
        }
        queue_read(r, u, s);
    }
}

/* Handle one completion.  Returns the error that stops the stream, if any;
 * the slot then goes back to the free stack. */
static ds_err complete(stream_run *r, uring_state *u, stream_slot *s, int res)
{
    u->inflight--;
    if (stream_stopped(r)) { /* draining after an error or a consumer stop */
        stream_slot_put(r, s);
        return DS_OK;
    }
    if (res == -EINTR || res == -EAGAIN) {
        queue_read(r, u, s);
        return DS_OK;
    }
    if (res == -EINVAL && s->direct) {
        stream_drop_direct(r, EINVAL);
        queue_read(r, u, s);
        return DS_OK;
    }
    ds_err e = DS_OK;
    if (res < 0)
        e = stream_fail_errno(r, s->direct ? "O_DIRECT read" : "read", s->file_off + s->done, -res);
    else if (res == 0)
        e = stream_fail_eof(r, s->file_off + s->done);
    if (e != DS_OK) {
        stream_slot_put(r, s);
        return e;
    }
    if (s->direct && s->done == 0 && (size_t)res == s->len)
        atomic_fetch_add(&r->direct_chunks, 1);
    s->done += (size_t)res;
    if (s->done < s->len) {
        queue_read(r, u, s); /* short read: the rest goes buffered */
        return DS_OK;
    }
    s->data = s->buf;
    return stream_dispatch(r, s);
}

/* Submit queued reads, wait for one completion, reap all that are ready. */
static ds_err reap(stream_run *r, uring_state *u)
{
    uint64_t t0 = stream_now_ns();
    int rc = io_uring_submit_and_wait(&u->ring, 1);
    r->st->read_ns += stream_now_ns() - t0;
    ds_err first = DS_OK;
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        u->ring_errors++;
        first = stream_fail_errno(r, "io_uring_submit_and_wait", 0, -rc);
    } else {
        u->ring_errors = 0;
    }
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
        stream_slot *s = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&u->ring, cqe);
        ds_err e = complete(r, u, s, res);
        if (e != DS_OK && first == DS_OK) {
            first = e;
            stream_set_stop(r);
        }
    }
    return first;
}

static void register_buffers(stream_run *r, uring_state *u)
{
    struct iovec *iov = calloc(r->depth, sizeof(*iov));
    if (!iov)
        return;
    for (unsigned i = 0; i < r->depth; i++) {
        iov[i].iov_base = r->slots[i].buf;
        iov[i].iov_len = r->chunk;
    }
    int rc = io_uring_register_buffers(&u->ring, iov, r->depth);
    free(iov);
    if (rc == 0)
        u->fixed = true;
    else
        stream_note_fallback(r, "io_uring_register_buffers: %s, plain IORING_OP_READ",
                             strerror(-rc));
}

static ds_err uring_setup(stream_run *r, uring_state *u, bool *unavailable)
{
    int rc = io_uring_queue_init(ring_entries(r->depth), &u->ring, 0);
    if (rc < 0) {
        *unavailable = true;
        return ds_fail(r->eb, DS_ERR_UNSUPPORTED, "io_uring_queue_init: %s", strerror(-rc));
    }
    ds_err e = stream_alloc_buffers(r, r->depth);
    if (e != DS_OK) {
        io_uring_queue_exit(&u->ring);
        return e;
    }
    register_buffers(r, u);
    r->st->fixed_buffers = u->fixed;
    return DS_OK;
}

ds_err stream_uring_run(stream_run *r, bool *unavailable)
{
    uring_state u = {0};
    uint64_t t0 = stream_now_ns();
    ds_err e = uring_setup(r, &u, unavailable);
    r->st->setup_ns += stream_now_ns() - t0;
    if (e != DS_OK)
        return e;
    for (;;) {
        if (e == DS_OK)
            fill_ring(r, &u);
        /* A ring that keeps failing cannot be drained: give up on it;
         * io_uring_queue_exit cancels what is left. */
        if (u.inflight == 0 || u.ring_errors >= 3)
            break;
        ds_err e2 = reap(r, &u);
        if (e == DS_OK)
            e = e2;
        if (e != DS_OK)
            stream_set_stop(r);
    }
    io_uring_queue_exit(&u.ring); /* also unregisters the buffers */
    return e;
}
