/* stream_pread.c - DS_IO_PREAD backend: the reader thread pread()s each
 * chunk into a free slot buffer and hands it to the pool, then goes on with
 * the next chunk while workers consume (see stream.h).  Aligned chunks go
 * to the O_DIRECT fd when one is open; an EINVAL there drops direct I/O and
 * the chunk is re-read buffered. */

#include "stream_int.h"

#include <errno.h>
#include <unistd.h>

/* Read len bytes at off from fd into buf; 0 or an errno.  A zero-byte read
 * before len is reached means the file shrank: reported as -1. */
static int read_full(int fd, uint8_t *buf, size_t len, uint64_t off, size_t *got)
{
    *got = 0;
    while (*got < len) {
        ssize_t n = pread(fd, buf + *got, len - *got, (off_t)(off + *got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (n == 0)
            return -1;
        *got += (size_t)n;
    }
    return 0;
}

/* Fill slot s with its chunk, preferring O_DIRECT for aligned chunks. */
static ds_err read_chunk(stream_run *r, stream_slot *s)
{
    size_t got = 0;
    if (stream_direct_ok(r, s->file_off, s->len, s->buf)) {
        int rc = read_full(r->direct_fd, s->buf, s->len, s->file_off, &got);
        if (rc == 0) {
            atomic_fetch_add(&r->direct_chunks, 1);
            return DS_OK;
        }
        if (rc == EINVAL)
            stream_drop_direct(r, rc);
        else if (rc == -1)
            return stream_fail_eof(r, s->file_off + got);
        else if (got == 0)
            return stream_fail_errno(r, "O_DIRECT pread", s->file_off, rc);
        /* otherwise finish the chunk buffered from where direct stopped */
    }
    size_t more = 0;
    int rc = read_full(r->f->fd, s->buf + got, s->len - got, s->file_off + got, &more);
    if (rc == -1)
        return stream_fail_eof(r, s->file_off + got + more);
    if (rc != 0)
        return stream_fail_errno(r, "pread", s->file_off + got + more, rc);
    return DS_OK;
}

ds_err stream_pread_run(stream_run *r)
{
    uint64_t t0 = stream_now_ns();
    ds_err e = stream_alloc_buffers(r);
    r->st->setup_ns += stream_now_ns() - t0;
    if (e != DS_OK)
        return e;
    while (e == DS_OK && !stream_stopped(r) && stream_has_more(r)) {
        stream_slot *s = stream_slot_take(r, true);
        if (stream_stopped(r) || !stream_cut_chunk(r, s)) {
            stream_slot_put(r, s);
            break;
        }
        uint64_t t1 = stream_now_ns();
        e = read_chunk(r, s);
        r->st->read_ns += stream_now_ns() - t1;
        if (e != DS_OK) {
            stream_slot_put(r, s);
            break;
        }
        s->data = s->buf;
        e = stream_dispatch(r, s);
    }
    return e;
}
