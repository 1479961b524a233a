/* stream_pread.c - DS_IO_PREAD backend: the reader thread only cuts chunks
 * and hands each, with a free slot buffer, to the pool; the worker that
 * takes it pread()s it into the buffer and scans it there, so reading is
 * spread over the workers instead of one thread copying every byte (see
 * stream.h).  Aligned chunks go to the O_DIRECT fd when one is open; an
 * EINVAL there makes the chunk (and later ones) read buffered, and direct
 * I/O is dropped, with a note, once the pool has drained. */

#include "stream_int.h"

#include <errno.h>
#include <unistd.h>

/* On the worker, before the consumer: fill slot s with its chunk,
 * preferring O_DIRECT for aligned chunks.  0, an errno, or -1 (the file
 * ends before the chunk does; job_off then says where). */
static int read_chunk(stream_run *r, stream_slot *s)
{
    uint64_t t0 = stream_now_ns();
    size_t got = 0;
    int rc = 0;
    if (!atomic_load(&r->direct_broken) && stream_direct_ok(r, s->file_off, s->len, s->buf)) {
        rc = ds_pread_full(r->direct_fd, s->buf, s->len, s->file_off, &got);
        if (rc == 0) {
            atomic_fetch_add(&r->direct_chunks, 1);
            goto done;
        }
        if (rc == EINVAL) /* dropped by the reader once the pool drained */
            atomic_store(&r->direct_broken, true);
        else if (rc == -1 || got == 0)
            goto done;
        /* otherwise finish the chunk buffered from where direct stopped */
    }
    size_t more = 0;
    rc = ds_pread_full(r->f->fd, s->buf + got, s->len - got, s->file_off + got, &more);
    got += more;
done:
    atomic_fetch_add(&r->job_read_ns, stream_now_ns() - t0);
    if (rc == -1) /* report where the file ended */
        s->file_off += got;
    return rc;
}

ds_err stream_pread_run(stream_run *r)
{
    uint64_t t0 = stream_now_ns();
    ds_err e = stream_alloc_buffers(r);
    r->st->setup_ns += stream_now_ns() - t0;
    if (e != DS_OK)
        return e;
    r->before_consume = read_chunk;
    while (e == DS_OK && !stream_stopped(r) && stream_has_more(r)) {
        stream_slot *s = stream_slot_take(r, true);
        if (stream_stopped(r) || !stream_cut_chunk(r, s)) {
            stream_slot_put(r, s);
            break;
        }
        s->data = s->buf;
        e = stream_dispatch(r, s);
    }
    ds_pool_wait(&r->group);
    r->before_consume = NULL;
    r->st->read_ns += atomic_load(&r->job_read_ns);
    if (atomic_load(&r->direct_broken))
        stream_drop_direct(r, EINVAL);
    int code = atomic_load(&r->job_code);
    if (e == DS_OK && code == -1)
        e = stream_fail_eof(r, atomic_load(&r->job_off));
    else if (e == DS_OK && code)
        e = stream_fail_errno(r, "pread", atomic_load(&r->job_off), code);
    return e;
}
