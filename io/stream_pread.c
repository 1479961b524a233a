/* stream_pread.c - DS_IO_PREAD backend: no reader thread.  One pool job
 * per worker (at most queue_depth), each with a slot buffer of its own,
 * loops: take the next chunk off the shared cursor (stream_cut_chunk under
 * r->lock), pread() it into the buffer, scan it there.  Reading is spread
 * over the workers, no thread copies every byte, and a chunk costs one
 * short critical section instead of a hand-off to a sleeping worker (see
 * stream.h).  Aligned chunks go to the O_DIRECT fd when one is open; an
 * EINVAL there makes the chunk (and later ones) read buffered, and direct
 * I/O is dropped, with a note, once the pool has drained. */

#include "stream_int.h"

#include <errno.h>
#include <unistd.h>

/* Fill slot s with its chunk, preferring O_DIRECT for aligned chunks.
 * 0, an errno, or -1 (the file ends before the chunk does; s->file_off
 * then says where). */
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
        if (rc == EINVAL) /* dropped by the run once the pool drained */
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

/* A worker's read failed at file offset off (code: an errno, or -1 for
 * end of file): keep the first such failure and stop the run. */
static void job_failed(stream_run *r, int code, uint64_t off)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&r->job_code, &none, code))
        atomic_store(&r->job_off, off);
    stream_set_stop(r);
}

/* Under r->lock: the next chunk into s; false when none is left or the
 * run stopped. */
static bool take_chunk(stream_run *r, stream_slot *s)
{
    pthread_mutex_lock(&r->lock);
    bool got = !stream_stopped(r) && stream_cut_chunk(r, s);
    pthread_mutex_unlock(&r->lock);
    return got;
}

/* Pool job: read and consume chunks into this job's slot until none is
 * left; the first failed read stops the run. */
static void pull_job(void *arg, unsigned worker)
{
    stream_slot *s = arg;
    stream_run *r = s->run;
    while (take_chunk(r, s)) {
        int code = read_chunk(r, s);
        if (code) {
            job_failed(r, code, s->file_off);
            return;
        }
        s->data = s->buf;
        stream_consume(r, s, worker);
    }
}

ds_err stream_pread_run(stream_run *r)
{
    uint64_t t0 = stream_now_ns();
    ds_err e = stream_alloc_buffers(r, r->st->threads); /* one per puller */
    r->st->setup_ns += stream_now_ns() - t0;
    if (e == DS_OK)
        e = stream_run_pullers(r, pull_job);
    if (e != DS_OK)
        return e;
    if (atomic_load(&r->direct_broken))
        stream_drop_direct(r, EINVAL);
    int code = atomic_load(&r->job_code);
    if (code == -1)
        return stream_fail_eof(r, atomic_load(&r->job_off));
    if (code)
        return stream_fail_errno(r, "pread", atomic_load(&r->job_off), code);
    return DS_OK;
}
