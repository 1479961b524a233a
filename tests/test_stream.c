/* test_stream.c - bulk extent reading through every backend.
 *
 * The temp file stamps every 8-byte word with its own file offset (xor a
 * constant), so any byte handed to a consumer can be checked against where
 * the stream claims it came from.  Extents have gaps, odd offsets and odd
 * lengths, a zero-length member and one ending at an odd end of file.  The
 * consumer checks each chunk lies inside one extent, carries the right tag,
 * is no longer than chunk_bytes, holds the right bytes, and counts every
 * byte it saw; afterwards every extent byte must have been seen exactly
 * once and every gap byte never.  Runs for uring (skipped only when this
 * kernel refuses io_uring_queue_init), mmap, pread and auto, with 1, 2 and
 * 4 threads.  Also: AUTO's fallback when io_uring is blocked by seccomp
 * (forked child), O_DIRECT (used, or reported as fallen back), O_DIRECT
 * refused by the file system (seccomp-faked EINVAL: buffered reads, reason
 * reported), no-wait reads of ds_file (cached: read; seccomp-faked EAGAIN:
 * counted misses that leave nothing stale; EOPNOTSUPP: they wait), a file
 * truncated before and during the run (error, no hang),
 * a consumer stop, bounded buffers with a slow consumer, two streams
 * sharing one pool, and bad extent lists. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <inttypes.h>

#include "seccomp_child.h"

#include "file.h"
#include "stream.h"

#define STAMP_KEY 0xa5c3f00d12345678ull
#define FILE_SIZE ((3u << 20) + 1234u) /* odd size: last page partial */

static uint8_t expected_byte(uint64_t off)
{
    uint64_t word = (off & ~7ull) ^ STAMP_KEY;
    return (uint8_t)(word >> (8 * (off & 7)));
}

/* Write the stamped file into a new temp file; its name goes to path. */
static void make_file(char *path, size_t cap, uint64_t size)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/ds_stream_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    for (uint64_t w = 0; w < size; w += 8) {
        uint64_t v = w ^ STAMP_KEY;
        size_t n = size - w < 8 ? (size_t)(size - w) : 8;
        memcpy(buf + w, &v, n);
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, buf + done, size - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    close(fd);
    free(buf);
}

/* Extents with gaps, odd offsets/lengths, an empty one, one to EOF. */
static const ds_extent test_extents[] = {
    {0, 3 * 4096, 0x100000},
    {3 * 4096 + 100, 777, 0x7000000000ull},
    {3 * 4096 + 100 + 777, 0, 0x42},          /* empty: skipped */
    {5 * 4096, (1u << 20) + 13, 0x200000},    /* aligned start, odd length */
    {(1u << 20) + 6 * 4096 + 1, 300001, 0x13},
    {(2u << 20), FILE_SIZE - (2u << 20), 0xfffffffffff00000ull}, /* to odd EOF */
};
#define NEXT (sizeof(test_extents) / sizeof(test_extents[0]))

typedef struct check_ctx {
    const ds_extent *ext;
    size_t next;
    size_t chunk;
    _Atomic uint8_t *seen;      /* per file byte: times delivered */
    atomic_int errors;          /* first problem kind, or 0 */
    atomic_ulong calls;
    atomic_ulong bytes;
    unsigned max_workers;
    unsigned slow_us;           /* consumer delay */
    unsigned stop_after;        /* return 1 from this call number on (0 = never) */
    int truncate_fd;            /* >= 0: first call truncates the file */
    uint64_t truncate_to;
    atomic_int truncated;
    pthread_mutex_t mu;         /* guards ptrs */
    const uint8_t *ptrs[64];    /* distinct buffer addresses seen */
    unsigned nptrs;
} check_ctx;

enum { E_EXTENT = 1, E_TAG, E_LEN, E_BYTE, E_WORKER };

static void note_error(check_ctx *c, int kind)
{
    int zero = 0;
    atomic_compare_exchange_strong(&c->errors, &zero, kind);
}

static const ds_extent *owning_extent(const check_ctx *c, uint64_t off, size_t len)
{
    for (size_t i = 0; i < c->next; i++) {
        const ds_extent *e = &c->ext[i];
        if (e->len && off >= e->file_off && off + len <= e->file_off + e->len)
            return e;
    }
    return NULL;
}

static void remember_ptr(check_ctx *c, const uint8_t *p)
{
    pthread_mutex_lock(&c->mu);
    unsigned i = 0;
    while (i < c->nptrs && c->ptrs[i] != p)
        i++;
    if (i == c->nptrs && c->nptrs < 64)
        c->ptrs[c->nptrs++] = p;
    pthread_mutex_unlock(&c->mu);
}

static int check_cb(void *ctxp, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                    unsigned worker)
{
    check_ctx *c = ctxp;
    unsigned long call = atomic_fetch_add(&c->calls, 1) + 1;
    if (c->truncate_fd >= 0 && call == 1) {
        /* no cmocka asserts here: this runs on a pool thread */
        if (ftruncate(c->truncate_fd, (off_t)c->truncate_to) == 0)
            atomic_store(&c->truncated, 1);
    }
    if (worker >= c->max_workers)
        note_error(c, E_WORKER);
    const ds_extent *e = owning_extent(c, off, len);
    if (!e) {
        note_error(c, E_EXTENT);
        return 0;
    }
    if (tag != e->tag + (off - e->file_off))
        note_error(c, E_TAG);
    if (len == 0 || len > c->chunk)
        note_error(c, E_LEN);
    for (size_t i = 0; i < len; i++) {
        if (data[i] != expected_byte(off + i)) {
            note_error(c, E_BYTE);
            break;
        }
        atomic_fetch_add(&c->seen[off + i], 1);
    }
    atomic_fetch_add(&c->bytes, len);
    remember_ptr(c, data);
    if (c->slow_us)
        usleep(c->slow_us);
    /* from that call on: were only that call to ask, a worker descheduled
     * inside it would let the other stream on unboundedly meanwhile */
    return c->stop_after && call >= c->stop_after;
}

static void ctx_init(check_ctx *c, size_t chunk, unsigned workers)
{
    memset(c, 0, sizeof(*c));
    c->ext = test_extents;
    c->next = NEXT;
    c->chunk = chunk;
    c->max_workers = workers;
    c->truncate_fd = -1;
    c->seen = calloc(FILE_SIZE, 1);
    assert_non_null(c->seen);
    pthread_mutex_init(&c->mu, NULL);
}

static void ctx_free(check_ctx *c)
{
    free((void *)c->seen);
    pthread_mutex_destroy(&c->mu);
}

static uint64_t extent_bytes(void)
{
    uint64_t n = 0;
    for (size_t i = 0; i < NEXT; i++)
        n += test_extents[i].len;
    return n;
}

/* Every extent byte seen exactly once, every gap byte never. */
static void assert_exact_coverage(const check_ctx *c)
{
    uint8_t *want = calloc(FILE_SIZE, 1);
    assert_non_null(want);
    for (size_t i = 0; i < NEXT; i++)
        memset(want + test_extents[i].file_off, 1, test_extents[i].len);
    for (uint64_t o = 0; o < FILE_SIZE; o++) {
        if (atomic_load(&c->seen[o]) != want[o]) {
            unsigned expect = want[o];
            free(want);
            fail_msg("byte 0x%llx delivered %u times, expected %u", (unsigned long long)o,
                     (unsigned)atomic_load(&c->seen[o]), expect);
        }
    }
    free(want);
}

static bool uring_works(void)
{
    struct io_uring ring;
    if (io_uring_queue_init(8, &ring, 0) != 0)
        return false;
    io_uring_queue_exit(&ring);
    return true;
}

/* One full run: correctness of data, coverage and stats. */
/* Who prefaults mmap chunks in run_and_check (test_mmap tries both). */
static ds_prefault g_prefault = DS_PREFAULT_AUTO;

static void run_and_check(const char *path, ds_io_backend be, unsigned threads, size_t chunk,
                          bool odirect, ds_stream_stats *st_out)
{
    ds_file f;
    assert_int_equal(ds_file_open(&f, path, 0, NULL), DS_OK);
    check_ctx c;
    ctx_init(&c, chunk, threads);
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.backend = be;
    o.prefault = g_prefault;
    o.threads = threads;
    o.chunk_bytes = chunk;
    o.odirect = odirect;
    ds_stream_stats st;
    ds_errbuf eb = {{0}};
    ds_err e = ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, &eb);
    if (e != DS_OK)
        fail_msg("backend %s threads %u: %s (%s)", ds_io_backend_name(be), threads,
                 ds_err_name(e), eb.msg);
    assert_int_equal(atomic_load(&c.errors), 0);
    assert_exact_coverage(&c);
    assert_int_equal(st.bytes, extent_bytes());
    assert_int_equal(st.chunks, atomic_load(&c.calls));
    assert_int_equal(st.threads, threads);
    assert_false(st.stopped);
    if (be != DS_IO_AUTO)
        assert_int_equal(st.backend_used, be);
    /* bounded memory: no more distinct buffers than slots */
    if (st.backend_used != DS_IO_MMAP)
        assert_true(c.nptrs <= st.queue_depth);
    if (st_out)
        *st_out = st;
    ctx_free(&c);
    ds_file_close(&f);
}

static char g_path[256];

static int setup_file(void **state)
{
    (void)state;
    make_file(g_path, sizeof(g_path), FILE_SIZE);
    return 0;
}

static int teardown_file(void **state)
{
    (void)state;
    unlink(g_path);
    return 0;
}

static void sweep_backend(ds_io_backend be)
{
    static const unsigned threads[] = {1, 2, 4};
    static const size_t chunks[] = {64 * 1024, 12345, DS_STREAM_DEFAULT_CHUNK};
    for (unsigned t = 0; t < 3; t++)
        for (unsigned k = 0; k < 3; k++)
            run_and_check(g_path, be, threads[t], chunks[k], false, NULL);
}

static void test_uring(void **state)
{
    (void)state;
    if (!uring_works())
        skip();
    sweep_backend(DS_IO_URING);
}

static void test_mmap(void **state)
{
    (void)state;
    static const ds_prefault modes[] = {DS_PREFAULT_AUTO, DS_PREFAULT_READER, DS_PREFAULT_WORKERS};
    for (unsigned m = 0; m < 3; m++) {
        g_prefault = modes[m];
        sweep_backend(DS_IO_MMAP);
    }
    g_prefault = DS_PREFAULT_AUTO;
}

static void test_pread(void **state)
{
    (void)state;
    sweep_backend(DS_IO_PREAD);
}

static void test_auto(void **state)
{
    (void)state;
    ds_stream_stats st;
    run_and_check(g_path, DS_IO_AUTO, 2, 65536, false, &st);
    if (uring_works()) {
        assert_int_equal(st.backend_used, DS_IO_URING);
    } else {
        assert_int_not_equal(st.backend_used, DS_IO_URING);
        assert_true(strstr(st.fallback_reason, "uring") != NULL);
    }
}

/* ---- AUTO with io_uring_setup blocked by seccomp (forked child) ---------- */

/* io_uring_setup fails with EPERM (its first argument, the ring size,
 * is never 0). */
static int block_io_uring(void)
{
    return fail_when_flag_set(__NR_io_uring_setup, 0, ~0u, EPERM);
}

/* openat(..., flags & O_DIRECT) fails with EINVAL, as on file systems
 * without direct I/O. */
static int refuse_o_direct(void)
{
    return fail_when_flag_set(__NR_openat, 2, O_DIRECT, EINVAL);
}

/* Child: exit 0 on the expected fallback, 77 when seccomp is unavailable,
 * other codes name the failed check. */
static int seccomp_child(void)
{
    if (block_io_uring() != 0)
        return 77;
    if (uring_works())
        return 2;
    ds_file f;
    if (ds_file_open(&f, g_path, 0, NULL) != DS_OK)
        return 3;
    check_ctx c;
    ctx_init(&c, 65536, 2);
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.threads = 2;
    o.chunk_bytes = 65536;
    ds_stream_stats st;
    ds_err e = ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, NULL);
    int rc = 0;
    if (e != DS_OK)
        rc = 4;
    else if (st.backend_used != DS_IO_MMAP)
        rc = 5;
    else if (!strstr(st.fallback_reason, "io_uring_queue_init"))
        rc = 6;
    else if (atomic_load(&c.errors) || st.bytes != extent_bytes())
        rc = 7;
    o.backend = DS_IO_URING; /* forced: must fail cleanly, not fall back */
    if (rc == 0 && ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, NULL) !=
                       DS_ERR_UNSUPPORTED)
        rc = 8;
    ctx_free(&c);
    ds_file_close(&f);
    return rc;
}

/* Child: O_DIRECT refused, so every backend reads buffered, says why,
 * and still delivers every byte. */
static int odirect_refused_child(void)
{
    if (refuse_o_direct() != 0)
        return 77;
    if (open("/proc/self/exe", O_RDONLY | O_DIRECT) >= 0 || errno != EINVAL)
        return 2;
    ds_file f;
    if (ds_file_open(&f, g_path, 0, NULL) != DS_OK)
        return 3;
    int rc = 0;
    static const ds_io_backend bes[] = {DS_IO_AUTO, DS_IO_PREAD};
    for (unsigned b = 0; b < 2 && rc == 0; b++) {
        check_ctx c;
        ctx_init(&c, 65536, 2);
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = bes[b];
        o.threads = 2;
        o.chunk_bytes = 65536;
        o.odirect = true;
        ds_stream_stats st;
        if (ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, NULL) != DS_OK)
            rc = 4;
        else if (st.odirect_used || st.direct_chunks != 0)
            rc = 5;
        else if (!strstr(st.fallback_reason, "O_DIRECT open failed"))
            rc = 6;
        else if (atomic_load(&c.errors) || st.bytes != extent_bytes())
            rc = 7;
        ctx_free(&c);
    }
    ds_file_close(&f);
    return rc;
}

static void test_auto_fallback_seccomp(void **state)
{
    (void)state;
    run_child_test(seccomp_child);
}

static void test_odirect_refused(void **state)
{
    (void)state;
    run_child_test(odirect_refused_child);
}

/* ---- O_DIRECT -------------------------------------------------------------- */

static void test_odirect(void **state)
{
    (void)state;
    for (int k = 0; k < 2; k++) {
        ds_io_backend be = k == 0 ? DS_IO_PREAD : DS_IO_URING;
        if (be == DS_IO_URING && !uring_works())
            continue;
        ds_stream_stats st;
        run_and_check(g_path, be, 2, 65536, true, &st);
        /* direct I/O was used, or the reason it was not is reported */
        assert_true((st.odirect_used && st.direct_chunks > 0) || st.fallback_reason[0] != '\0');
        assert_int_equal(st.odirect_used, st.direct_chunks > 0);
        /* unaligned chunks (extents 2, 4, the odd tails) cannot go direct */
        assert_true(st.direct_chunks < st.chunks);
    }
}

/* ---- truncation ------------------------------------------------------------- */

static void test_truncated_before_run(void **state)
{
    (void)state;
    static const ds_io_backend bes[] = {DS_IO_URING, DS_IO_MMAP, DS_IO_PREAD, DS_IO_AUTO};
    for (unsigned b = 0; b < 4; b++) {
        if (bes[b] == DS_IO_URING && !uring_works())
            continue;
        char path[256];
        make_file(path, sizeof(path), FILE_SIZE);
        ds_file f;
        assert_int_equal(ds_file_open(&f, path, DS_FILE_NO_MMAP, NULL), DS_OK);
        assert_int_equal(truncate(path, 1u << 20), 0); /* extents now reach past EOF */
        check_ctx c;
        ctx_init(&c, 65536, 2);
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = bes[b];
        o.threads = 2;
        o.chunk_bytes = 65536;
        ds_errbuf eb = {{0}};
        ds_err e = ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, NULL, &eb);
        assert_int_equal(e, DS_ERR_TRUNCATED);
        assert_true(eb.msg[0] != '\0');
        assert_int_equal(atomic_load(&c.errors), 0); /* what came was right */
        assert_true(atomic_load(&c.bytes) < extent_bytes());
        ctx_free(&c);
        ds_file_close(&f);
        unlink(path);
    }
}

/* The first consumer call truncates the file; reads still to come fail. */
static void test_truncated_during_run(void **state)
{
    (void)state;
    /* mmap too, with either side prefaulting: the truncation lands far
     * beyond the chunks mapped when it happens, so no access faults;
     * later chunks fail the reader's size check or the prefault (EFAULT) */
    static const ds_io_backend bes[] = {DS_IO_URING, DS_IO_PREAD, DS_IO_MMAP, DS_IO_MMAP};
    static const ds_prefault pf[] = {DS_PREFAULT_AUTO, DS_PREFAULT_AUTO, DS_PREFAULT_READER,
                                     DS_PREFAULT_WORKERS};
    for (unsigned b = 0; b < 4; b++) {
        if (bes[b] == DS_IO_URING && !uring_works())
            continue;
        for (unsigned threads = 1; threads <= 4; threads *= 2) {
            char path[256];
            make_file(path, sizeof(path), FILE_SIZE);
            ds_file f;
            assert_int_equal(ds_file_open(&f, path, DS_FILE_NO_MMAP, NULL), DS_OK);
            check_ctx c;
            ctx_init(&c, 65536, threads);
            c.truncate_fd = open(path, O_WRONLY);
            assert_true(c.truncate_fd >= 0);
            c.truncate_to = 2u << 20; /* far beyond the reads in flight at the first call */
            ds_stream_opts o;
            ds_stream_opts_default(&o);
            o.backend = bes[b];
            o.prefault = pf[b];
            o.threads = threads;
            o.chunk_bytes = 65536;
            ds_err e = ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, NULL, NULL);
            assert_int_equal(atomic_load(&c.truncated), 1);
            assert_int_equal(e, DS_ERR_TRUNCATED);
            assert_int_equal(atomic_load(&c.errors), 0);
            close(c.truncate_fd);
            ctx_free(&c);
            ds_file_close(&f);
            unlink(path);
        }
    }
}

/* ---- consumer stop, slow consumer, shared pool ------------------------------ */

static void test_consumer_stop(void **state)
{
    (void)state;
    static const ds_io_backend bes[] = {DS_IO_URING, DS_IO_MMAP, DS_IO_MMAP, DS_IO_PREAD};
    static const ds_prefault pf[] = {DS_PREFAULT_AUTO, DS_PREFAULT_READER, DS_PREFAULT_WORKERS,
                                     DS_PREFAULT_AUTO};
    for (unsigned b = 0; b < 4; b++) {
        if (bes[b] == DS_IO_URING && !uring_works())
            continue;
        ds_file f;
        assert_int_equal(ds_file_open(&f, g_path, 0, NULL), DS_OK);
        check_ctx c;
        ctx_init(&c, 4096, 2);
        c.stop_after = 3;
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = bes[b];
        o.prefault = pf[b];
        o.threads = 2;
        o.chunk_bytes = 4096;
        ds_stream_stats st;
        assert_int_equal(ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, NULL), DS_OK);
        assert_true(st.stopped);
        assert_true(st.chunks >= 3);
        /* stopping prevents reading all ~770 chunks: at most the slots in flight
         * when the stop was seen can still be delivered */
        assert_true(st.chunks <= 3 + st.queue_depth);
        assert_int_equal(atomic_load(&c.errors), 0);
        ctx_free(&c);
        ds_file_close(&f);
    }
}

static void test_slow_consumer_bounded(void **state)
{
    (void)state;
    ds_file f;
    assert_int_equal(ds_file_open(&f, g_path, 0, NULL), DS_OK);
    static const ds_io_backend bes[] = {DS_IO_URING, DS_IO_PREAD};
    for (unsigned b = 0; b < 2; b++) {
        if (bes[b] == DS_IO_URING && !uring_works())
            continue;
        check_ctx c;
        ctx_init(&c, 256 * 1024, 2);
        c.slow_us = 2000;
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = bes[b];
        o.threads = 2;
        o.chunk_bytes = 256 * 1024;
        o.queue_depth = 3;
        ds_stream_stats st;
        assert_int_equal(ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &c, &st, NULL), DS_OK);
        assert_int_equal(st.queue_depth, 3);
        assert_true(c.nptrs <= 3);
        assert_int_equal(atomic_load(&c.errors), 0);
        assert_exact_coverage(&c);
        ctx_free(&c);
    }
    ds_file_close(&f);
}

typedef struct shared_run {
    ds_pool *pool;
    ds_io_backend be;
    ds_prefault prefault;
    check_ctx c;
    ds_err e;
} shared_run;

static void *shared_main(void *argp)
{
    shared_run *s = argp;
    ds_file f;
    s->e = ds_file_open(&f, g_path, 0, NULL);
    if (s->e != DS_OK)
        return NULL;
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.backend = s->be;
    o.prefault = s->prefault;
    o.pool = s->pool;
    o.chunk_bytes = 65536;
    s->e = ds_stream_run(&f, test_extents, NEXT, &o, check_cb, &s->c, NULL, NULL);
    ds_file_close(&f);
    return NULL;
}

static void test_shared_pool(void **state)
{
    (void)state;
    ds_pool *pool;
    assert_int_equal(ds_pool_create(&pool, 2, 4, NULL), DS_OK);
    /* mmap twice: pushed by its reader, pulled by the workers (whose
     * loops hold workers that the other streams wait for) */
    enum { RUNS = 4 };
    shared_run runs[RUNS];
    pthread_t th[RUNS];
    static const ds_io_backend bes[RUNS] = {DS_IO_PREAD, DS_IO_MMAP, DS_IO_MMAP, DS_IO_AUTO};
    static const ds_prefault pf[RUNS] = {DS_PREFAULT_AUTO, DS_PREFAULT_READER,
                                         DS_PREFAULT_WORKERS, DS_PREFAULT_AUTO};
    for (int i = 0; i < RUNS; i++) {
        runs[i].pool = pool;
        runs[i].be = bes[i];
        runs[i].prefault = pf[i];
        ctx_init(&runs[i].c, 65536, 2);
        assert_int_equal(pthread_create(&th[i], NULL, shared_main, &runs[i]), 0);
    }
    for (int i = 0; i < RUNS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(runs[i].e, DS_OK);
        assert_int_equal(atomic_load(&runs[i].c.errors), 0);
        assert_exact_coverage(&runs[i].c);
        ctx_free(&runs[i].c);
    }
    ds_pool_destroy(pool);
}

/* ---- bad extent lists ---------------------------------------------------------- */

static void test_bad_extents(void **state)
{
    (void)state;
    ds_file f;
    assert_int_equal(ds_file_open(&f, g_path, 0, NULL), DS_OK);
    check_ctx c;
    ctx_init(&c, 65536, 4);
    ds_extent unsorted[2] = {{8192, 10, 0}, {4096, 10, 0}};
    ds_extent overflow[1] = {{UINT64_MAX - 5, 10, 0}};
    ds_extent past_eof[2] = {{0, 10, 0}, {FILE_SIZE - 10, 11, 0}};
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_stream_run(&f, unsorted, 2, NULL, check_cb, &c, NULL, &eb), DS_ERR_ARG);
    assert_int_equal(ds_stream_run(&f, overflow, 1, NULL, check_cb, &c, NULL, &eb), DS_ERR_ARG);
    assert_int_equal(ds_stream_run(&f, past_eof, 2, NULL, check_cb, &c, NULL, &eb),
                     DS_ERR_TRUNCATED);
    assert_int_equal(ds_stream_run(&f, past_eof, 2, NULL, NULL, &c, NULL, &eb), DS_ERR_ARG);
    assert_int_equal(atomic_load(&c.calls), 0); /* nothing delivered on a bad list */
    ds_stream_stats st;
    assert_int_equal(ds_stream_run(&f, NULL, 0, NULL, check_cb, &c, &st, NULL), DS_OK);
    assert_int_equal(st.chunks, 0);
    ds_io_backend b;
    assert_int_equal(ds_io_backend_parse("mmap", &b), DS_OK);
    assert_int_equal(b, DS_IO_MMAP);
    assert_int_equal(ds_io_backend_parse("floppy", &b), DS_ERR_ARG);
    ctx_free(&c);
    ds_file_close(&f);
}

/* Automatic chunk size and queue depth: whatever the thread count, depth
 * x chunk stays within the in-flight bound (default 32 MiB) as long as
 * threads + 2 slots of 256 KiB fit, never fewer slots than threads + 2,
 * the chunk never under 256 KiB; explicit values are taken as given; a
 * smaller inflight_bytes is honoured. */
static int count_cb(void *ctx, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                    unsigned worker)
{
    (void)ctx, (void)data, (void)len, (void)off, (void)tag, (void)worker;
    return 0;
}

static void test_auto_shape(void **state)
{
    (void)state;
    ds_file f;
    assert_int_equal(ds_file_open(&f, g_path, 0, NULL), DS_OK);
    static const unsigned threads[] = {1, 2, 4, 16, 64};
    for (unsigned k = 0; k < sizeof(threads) / sizeof(threads[0]); k++) {
        for (int explicit_chunk = 0; explicit_chunk < 2; explicit_chunk++) {
            ds_stream_opts o;
            ds_stream_opts_default(&o);
            o.backend = DS_IO_PREAD;
            o.threads = threads[k];
            if (explicit_chunk)
                o.chunk_bytes = 3u << 20;
            ds_stream_stats st;
            assert_int_equal(ds_stream_run(&f, test_extents, NEXT, &o, count_cb, NULL, &st, NULL),
                             DS_OK);
            uint64_t inflight = (uint64_t)st.queue_depth * st.chunk_bytes;
            assert_true(st.queue_depth >= threads[k] + 2);
            if (explicit_chunk) {
                assert_int_equal(st.chunk_bytes, 3u << 20);
                continue;
            }
            assert_true(st.chunk_bytes >= DS_STREAM_MIN_AUTO_CHUNK);
            assert_true(st.chunk_bytes <= DS_STREAM_DEFAULT_CHUNK);
            if ((uint64_t)(threads[k] + 2) * DS_STREAM_MIN_AUTO_CHUNK <= DS_STREAM_DEFAULT_INFLIGHT)
                assert_true(inflight <= DS_STREAM_DEFAULT_INFLIGHT);
            if (threads[k] <= 2) /* room for the full 4 MiB chunks */
                assert_int_equal(st.chunk_bytes, DS_STREAM_DEFAULT_CHUNK);
        }
    }
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.backend = DS_IO_PREAD;
    o.threads = 2;
    o.inflight_bytes = 8u << 20;
    ds_stream_stats st;
    assert_int_equal(ds_stream_run(&f, test_extents, NEXT, &o, count_cb, NULL, &st, NULL), DS_OK);
    assert_true((uint64_t)st.queue_depth * st.chunk_bytes <= (8u << 20));
    assert_int_equal(st.chunk_bytes, 1u << 20);
    ds_file_close(&f);
}

/* The mmap backend drops the pages of consumed chunks in batches: over a
 * 96 MiB file in 256 KiB chunks the file pages mapped into the process
 * (RssFile) stay within the bound stream_mmap.c keeps, queue_depth chunks
 * plus two drop batches of 8 MiB and a chunk (one batch gathering below
 * the oldest chunk in use, one being dropped), plus a 2 MiB page-cache
 * folio at either end (mapped whole by one PMD entry), however long the
 * file; and when the first chunk's consumer is slow while the others race
 * ahead, the reader (push) or the other workers (pull) wait for it (the
 * stream still ends, every byte seen once, none of its pages dropped
 * while it works) instead of mapping on without bound. */
typedef struct rss_ctx {
    _Atomic uint64_t max_kib;
    _Atomic uint64_t bytes;
    uint64_t first_off;
    unsigned slow_first_us;
    unsigned unmapped_in_use; /* pages of the slow chunk gone while it slept */
} rss_ctx;

/* Pages of [p, p+len) not mapped in this process (pagemap "present" bit). */
static unsigned pages_not_present(const uint8_t *p, size_t len)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    assert_true(fd >= 0);
    unsigned missing = 0;
    for (uintptr_t a = (uintptr_t)p & ~(uintptr_t)4095; a < (uintptr_t)p + len; a += 4096) {
        uint64_t e = 0;
        assert_int_equal(pread(fd, &e, 8, (off_t)(a / 4096 * 8)), 8);
        missing += !(e >> 63);
    }
    close(fd);
    return missing;
}

/* Read one byte of every page of [data, data+len). */
static void touch_pages(const uint8_t *data, size_t len)
{
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < len; i += 4096)
        sink ^= data[i];
    (void)sink;
}

static uint64_t rss_file_kib(void)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    assert_true(fd >= 0);
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n > 0);
    buf[n] = 0;
    const char *p = strstr(buf, "RssFile:");
    assert_non_null(p);
    return strtoull(p + 8, NULL, 10);
}

static int rss_cb(void *ctx, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                  unsigned worker)
{
    (void)tag, (void)worker;
    rss_ctx *c = ctx;
    touch_pages(data, len);
    if (off == c->first_off && c->slow_first_us) {
        usleep(c->slow_first_us);
        c->unmapped_in_use = pages_not_present(data, len); /* dropped under our feet? */
    }
    uint64_t kib = rss_file_kib(), cur = atomic_load(&c->max_kib);
    while (kib > cur && !atomic_compare_exchange_weak(&c->max_kib, &cur, kib))
        ;
    atomic_fetch_add(&c->bytes, len);
    return 0;
}

static void test_mmap_pages_dropped(void **state)
{
    (void)state;
    char path[256];
    const uint64_t size = 96u << 20;
    make_file(path, sizeof(path), size);
    ds_file f;
    assert_int_equal(ds_file_open(&f, path, 0, NULL), DS_OK);
    ds_extent whole = {.file_off = 0, .len = size, .tag = 0};
    /* the reader cutting chunks (push) and the workers taking them (pull) */
    static const ds_prefault pf[] = {DS_PREFAULT_READER, DS_PREFAULT_WORKERS};
    for (unsigned run = 0; run < 4; run++) {
        unsigned slow = run & 1;
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = DS_IO_MMAP;
        o.prefault = pf[run >> 1];
        o.threads = 2;
        o.chunk_bytes = 256u << 10;
        rss_ctx c = {.first_off = 0, .slow_first_us = slow ? 300000 : 0};
        uint64_t base = rss_file_kib();
        ds_stream_stats st;
        assert_int_equal(ds_stream_run(&f, &whole, 1, &o, rss_cb, &c, &st, NULL), DS_OK);
        assert_int_equal(atomic_load(&c.bytes), size);
        assert_int_equal(c.unmapped_in_use, 0);
        uint64_t batch = (8u << 20) + st.chunk_bytes;
        uint64_t bound_kib =
            ((uint64_t)st.queue_depth * st.chunk_bytes + 2 * batch + 2 * (2u << 20)) / 1024;
        uint64_t grew = atomic_load(&c.max_kib) > base ? atomic_load(&c.max_kib) - base : 0;
        if (grew > bound_kib)
            fail_msg("prefault=%d slow=%u: %" PRIu64 " KiB of file pages mapped, bound %" PRIu64,
                     (int)o.prefault, slow, grew, bound_kib);
    }
    ds_file_close(&f);
    unlink(path);
}

/* mmap with the workers taking and prefaulting the chunks: a file cut
 * short during the run reaches a worker's prefault as EFAULT, which ends
 * the run with DS_ERR_TRUNCATED before any access could raise SIGBUS.
 * One worker, so the cut lands between its chunks deterministically. */
typedef struct cut_ctx {
    int fd;
    off_t to;
    uint64_t bytes;
} cut_ctx;

static int cut_cb(void *ctx, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                  unsigned worker)
{
    (void)tag, (void)worker;
    cut_ctx *c = ctx;
    touch_pages(data, len); /* SIGBUS if one is gone */
    if (off == 0 && ftruncate(c->fd, c->to) != 0)
        c->to = -1;
    c->bytes += len;
    return 0;
}

/* A fresh file streamed by one worker in 64 KiB chunks, cut to two chunks
 * by the first consumer call: the run's answer, *bytes delivered. */
static ds_err run_cut_short(ds_errbuf *eb, uint64_t *bytes)
{
    char path[256];
    make_file(path, sizeof(path), FILE_SIZE);
    ds_file f;
    ds_err e = ds_file_open(&f, path, 0, NULL);
    cut_ctx c = {.fd = open(path, O_WRONLY), .to = 2 * 65536};
    if (e == DS_OK && c.fd >= 0) {
        ds_extent whole = {.file_off = 0, .len = FILE_SIZE, .tag = 0};
        ds_stream_opts o;
        ds_stream_opts_default(&o);
        o.backend = DS_IO_MMAP;
        o.prefault = DS_PREFAULT_WORKERS;
        o.threads = 1;
        o.chunk_bytes = 65536;
        e = ds_stream_run(&f, &whole, 1, &o, cut_cb, &c, NULL, eb);
        ds_file_close(&f);
    }
    if (c.fd >= 0)
        close(c.fd);
    unlink(path);
    *bytes = c.bytes;
    return c.fd < 0 || c.to < 0 ? DS_ERR_IO : e;
}

static void test_mmap_worker_prefault_truncated(void **state)
{
    (void)state;
    ds_errbuf eb = {{0}};
    uint64_t bytes = 0;
    assert_int_equal(run_cut_short(&eb, &bytes), DS_ERR_TRUNCATED);
    assert_true(bytes <= 2 * 65536);
    assert_non_null(strstr(eb.msg, "file ends"));
}

/* A kernel without MADV_POPULATE_READ (seccomp answers EINVAL to that
 * advice only): the workers taking mmap chunks check the file size
 * instead, so every byte still arrives once, and a file cut short still
 * ends the run with DS_ERR_TRUNCATED before a consumer touches a page past
 * its end (which would kill the child with SIGBUS). */
typedef struct sum_ctx {
    _Atomic uint64_t bytes;
    atomic_uint bad;
} sum_ctx;

static int sum_cb(void *ctx, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                  unsigned worker)
{
    (void)tag, (void)worker;
    sum_ctx *c = ctx;
    for (size_t k = 0; k < len; k += 4093)
        if (data[k] != expected_byte(off + k))
            atomic_fetch_add(&c->bad, 1);
    atomic_fetch_add(&c->bytes, len);
    return 0;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

static int no_populate_child(void)
{
    if (fail_when_equal(__NR_madvise, 2, MADV_POPULATE_READ, EINVAL) != 0)
        return 77;
    ds_file f;
    if (ds_file_open(&f, g_path, 0, NULL) != DS_OK)
        return 1;
    ds_extent whole = {.file_off = 0, .len = FILE_SIZE, .tag = 0};
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.backend = DS_IO_MMAP;
    o.prefault = DS_PREFAULT_WORKERS;
    o.threads = 2;
    o.chunk_bytes = 65536;
    sum_ctx sc = {0};
    if (ds_stream_run(&f, &whole, 1, &o, sum_cb, &sc, NULL, NULL) != DS_OK)
        return 2;
    if (atomic_load(&sc.bytes) != FILE_SIZE || atomic_load(&sc.bad) != 0)
        return 3;
    ds_file_close(&f);

    ds_errbuf eb = {{0}};
    uint64_t bytes = 0;
    if (run_cut_short(&eb, &bytes) != DS_ERR_TRUNCATED || bytes > 2 * 65536 ||
        !strstr(eb.msg, "file ends"))
        return 4;
    return 0;
}

static void test_mmap_no_populate(void **state)
{
    (void)state;
    run_child_test(no_populate_child);
}

/* ---- no-wait reads ---------------------------------------------------------- */

static bool holds_file_bytes(const uint8_t *b, uint64_t off, size_t len)
{
    for (size_t k = 0; k < len; k++)
        if (b[k] != expected_byte(off + k))
            return false;
    return true;
}

/* Pages in the page cache (the temp file was just written) read the same
 * with no-wait reads, through the page cache of small reads and directly,
 * and count no miss. */
static void test_nowait_cached(void **state)
{
    (void)state;
    ds_file f;
    assert_int_equal(ds_file_open(&f, g_path, DS_FILE_NO_MMAP, NULL), DS_OK);
    uint8_t b[600];
    ds_file_nowait_begin();
    assert_int_equal(ds_file_read(&f, 3 * 4096 + 100, b, 64), DS_OK);
    assert_true(holds_file_bytes(b, 3 * 4096 + 100, 64));
    assert_int_equal(ds_file_read(&f, 7 * 4096 - 10, b, 600), DS_OK);
    assert_true(holds_file_bytes(b, 7 * 4096 - 10, 600));
    assert_int_equal(ds_file_nowait_end(), 0);
    ds_file_close(&f);
}

/* Child: every no-wait read "would wait" (seccomp answers EAGAIN). */
static int nowait_miss_child(void)
{
    if (fail_when_flag_set(__NR_preadv2, 5, RWF_NOWAIT, EAGAIN) != 0)
        return 77;
    ds_file f, m;
    if (ds_file_open(&f, g_path, DS_FILE_NO_MMAP, NULL) != DS_OK ||
        ds_file_open(&m, g_path, 0, NULL) != DS_OK)
        return 2;
    uint8_t b[600];
    ds_file_nowait_begin();
    if (ds_file_read(&f, 4 * 4096 + 8, b, 16) != DS_ERR_IO) /* small: one page */
        return 3;
    if (ds_file_read(&f, 9 * 4096 - 8, b, 600) != DS_ERR_IO) /* across pages */
        return 4;
    if (ds_file_nowait_end() != 2)
        return 5;
    /* waiting reads get the file's bytes: a miss left nothing behind */
    if (ds_file_read(&f, 4 * 4096 + 8, b, 16) != DS_OK || !holds_file_bytes(b, 4 * 4096 + 8, 16))
        return 6;
    if (ds_file_read(&f, 9 * 4096 - 8, b, 600) != DS_OK ||
        !holds_file_bytes(b, 9 * 4096 - 8, 600))
        return 7;
    /* a page this thread already holds needs no read: no miss */
    ds_file_nowait_begin();
    if (ds_file_read(&f, 4 * 4096 + 100, b, 16) != DS_OK ||
        !holds_file_bytes(b, 4 * 4096 + 100, 16))
        return 8;
    if (ds_file_nowait_end() != 0)
        return 9;
    /* a small mapped file is not read through its mapping (a fault on a
     * cold page would wait) */
    if (!ds_file_map(&m))
        return 10;
    ds_file_nowait_begin();
    if (ds_file_read(&m, 6 * 4096 + 8, b, 16) != DS_ERR_IO)
        return 11;
    if (ds_file_nowait_end() != 1)
        return 12;
    if (ds_file_read(&m, 6 * 4096 + 8, b, 16) != DS_OK || !holds_file_bytes(b, 6 * 4096 + 8, 16))
        return 13;
    ds_file_close(&f);
    ds_file_close(&m);
    return 0;
}

/* Child: the file system refuses no-wait reads (EOPNOTSUPP): they wait. */
static int nowait_refused_child(void)
{
    if (fail_when_flag_set(__NR_preadv2, 5, RWF_NOWAIT, EOPNOTSUPP) != 0)
        return 77;
    ds_file f;
    if (ds_file_open(&f, g_path, DS_FILE_NO_MMAP, NULL) != DS_OK)
        return 2;
    uint8_t b[600];
    ds_file_nowait_begin();
    if (ds_file_read(&f, 5 * 4096 + 8, b, 16) != DS_OK || !holds_file_bytes(b, 5 * 4096 + 8, 16))
        return 3;
    if (ds_file_read(&f, 11 * 4096 - 8, b, 600) != DS_OK ||
        !holds_file_bytes(b, 11 * 4096 - 8, 600))
        return 4;
    if (ds_file_nowait_end() != 0)
        return 5;
    ds_file_close(&f);
    return 0;
}

static void test_nowait_miss(void **state)
{
    (void)state;
    run_child_test(nowait_miss_child);
}

static void test_nowait_refused(void **state)
{
    (void)state;
    run_child_test(nowait_refused_child);
}

/* The chunk in hand (ds_file_overlay): reads of the file inside the chunk
 * come from the caller's buffer (here deliberately different bytes, to
 * see which served them), reads that reach past either end come from the
 * file, another file and another thread never see it, and after clearing
 * everything comes from the file again. */
typedef struct overlay_probe {
    const ds_file *f;
    uint8_t got;
} overlay_probe;

static void *overlay_other_thread(void *arg)
{
    overlay_probe *o = arg;
    assert_int_equal(ds_file_read(o->f, 8192 + 100, &o->got, 1), DS_OK);
    return NULL;
}

static void test_chunk_overlay(void **state)
{
    (void)state;
    ds_file f, g;
    assert_int_equal(ds_file_open(&f, g_path, DS_FILE_NO_MMAP, NULL), DS_OK);
    assert_int_equal(ds_file_open(&g, g_path, DS_FILE_NO_MMAP, NULL), DS_OK);
    static uint8_t chunk[3 * 4096];
    memset(chunk, 0xee, sizeof(chunk));
    ds_file_overlay(&f, 8192, chunk, sizeof(chunk));
    uint8_t b[64];
    /* inside, at both ends */
    assert_int_equal(ds_file_read(&f, 8192, b, 64), DS_OK);
    assert_int_equal(b[0], 0xee);
    assert_int_equal(ds_file_read(&f, 8192 + sizeof(chunk) - 64, b, 64), DS_OK);
    assert_int_equal(b[63], 0xee);
    /* one byte past either end: the file's bytes */
    assert_int_equal(ds_file_read(&f, 8192 + sizeof(chunk) - 63, b, 64), DS_OK);
    assert_int_equal(b[63], expected_byte(8192 + sizeof(chunk)));
    assert_int_equal(b[0], expected_byte(8192 + sizeof(chunk) - 63));
    assert_int_equal(ds_file_read(&f, 8191, b, 2), DS_OK);
    assert_int_equal(b[0], expected_byte(8191));
    assert_int_equal(b[1], expected_byte(8192));
    /* another open file of the same path, another thread */
    assert_int_equal(ds_file_read(&g, 8192 + 100, b, 1), DS_OK);
    assert_int_equal(b[0], expected_byte(8192 + 100));
    overlay_probe pr = {&f, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, overlay_other_thread, &pr), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(pr.got, expected_byte(8192 + 100));
    ds_file_overlay_clear();
    assert_int_equal(ds_file_read(&f, 8192 + 100, b, 1), DS_OK);
    assert_int_equal(b[0], expected_byte(8192 + 100));
    ds_file_close(&f);
    ds_file_close(&g);
}

/* ds_mmap_aligned: a file of 2 MiB or more lands on a 2 MiB boundary
 * (large page-cache folios then map whole), every byte as in the file, the
 * reservation's slack on both sides is handed back (one mapping more while
 * mapped, none after munmap); a smaller file maps plainly. */
static size_t count_mappings(void)
{
    static char buf[1 << 16]; /* no malloc: it could map memory itself */
    int fd = open("/proc/self/maps", O_RDONLY);
    assert_true(fd >= 0);
    size_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

static void test_aligned_mapping(void **state)
{
    (void)state;
    const uint64_t sizes[] = {4096 + 13, 2u << 20, (2u << 20) + 4097, FILE_SIZE};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        char path[256];
        make_file(path, sizeof(path), sizes[k]);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        size_t before = count_mappings();
        const uint8_t *p = ds_mmap_aligned(fd, (size_t)sizes[k]);
        assert_true(p != MAP_FAILED);
        assert_int_equal(count_mappings(), before + 1);
        if (sizes[k] >= (2u << 20))
            assert_int_equal((uintptr_t)p & ((2u << 20) - 1), 0);
        for (uint64_t off = 0; off < sizes[k]; off++)
            if (p[off] != expected_byte(off))
                fail_msg("size %" PRIu64 ": byte 0x%" PRIx64 " differs", sizes[k], off);
        assert_int_equal(munmap((void *)p, (size_t)sizes[k]), 0);
        assert_int_equal(count_mappings(), before);
        close(fd);
        unlink(path);
    }
}

/* The mapping is made on first use only, once, whoever asks first: reads
 * alone never map (bulk runs over minidumps pay no mmap/munmap). */
typedef struct map_race {
    const ds_file *f;
    const uint8_t *got;
} map_race;

static void *map_racer(void *arg)
{
    map_race *m = arg;
    m->got = ds_file_ptr(m->f, 4096, 16);
    return NULL;
}

static void test_lazy_mapping(void **state)
{
    (void)state;
    ds_file f;
    assert_int_equal(ds_file_open(&f, g_path, 0, NULL), DS_OK);
    uint8_t b[64];
    for (uint64_t off = 0; off < FILE_SIZE - 64; off += 65536)
        assert_int_equal(ds_file_read(&f, off, b, sizeof(b)), DS_OK);
    assert_null(atomic_load(&f.map)); /* reads alone never map */
    pthread_t t[8];
    map_race r[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (map_race){&f, NULL};
        assert_int_equal(pthread_create(&t[i], NULL, map_racer, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 8; i++) {
        assert_non_null(r[i].got);
        assert_ptr_equal(r[i].got, r[0].got); /* one mapping */
        assert_int_equal(r[i].got[0], expected_byte(4096));
    }
    assert_ptr_equal(ds_file_map(&f), r[0].got - 4096);
    ds_file_close(&f);
    /* DS_FILE_NO_MMAP: never mapped */
    assert_int_equal(ds_file_open(&f, g_path, DS_FILE_NO_MMAP, NULL), DS_OK);
    assert_null(ds_file_ptr(&f, 0, 16));
    assert_null(ds_file_map(&f));
    ds_file_close(&f);
}

/* ds_file_read's per-thread page cache (small reads of files read with
 * pread): every byte as in the file, across page boundaries and at the
 * short last page; two open files never see each other's pages; a file
 * cut short after open fails the reads past its new end. */
static void test_small_read_cache(void **state)
{
    (void)state;
    char pa[256], pb[256];
    make_file(pa, sizeof(pa), FILE_SIZE);
    make_file(pb, sizeof(pb), FILE_SIZE);
    int fd = open(pb, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t ee[4096];
    memset(ee, 0xee, sizeof(ee));
    assert_int_equal(pwrite(fd, ee, sizeof(ee), 5 * 4096), (ssize_t)sizeof(ee));
    close(fd);
    ds_file a, b;
    assert_int_equal(ds_file_open(&a, pa, DS_FILE_NO_MMAP, NULL), DS_OK);
    assert_int_equal(ds_file_open(&b, pb, DS_FILE_NO_MMAP, NULL), DS_OK);
    uint64_t rng = 12345;
    uint8_t buf[600];
    for (int i = 0; i < 20000; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = 1 + (size_t)((rng >> 33) % 520);
        uint64_t off = (rng >> 11) % (FILE_SIZE - len + 1);
        if (i % 7 == 0)
            off = 5 * 4096 + (off % 4000); /* the page that differs */
        const ds_file *f = i & 1 ? &b : &a;
        assert_int_equal(ds_file_read(f, off, buf, len), DS_OK);
        for (size_t k = 0; k < len; k++) {
            uint64_t o = off + k;
            uint8_t want = (f == &b && o >= 5 * 4096 && o < 6 * 4096) ? 0xee : expected_byte(o);
            if (buf[k] != want)
                fail_msg("read %d: file %c offset 0x%" PRIx64 ": 0x%02x, want 0x%02x", i,
                         f == &b ? 'b' : 'a', o, buf[k], want);
        }
    }
    /* more open files than cache slots, each page 5 holding its own byte:
     * whichever files share a slot, each read sees its own file */
    enum { NF = 40 };
    ds_file many[NF];
    char mp[NF][256];
    for (int k = 0; k < NF; k++) {
        const char *dir = getenv("TMPDIR");
        snprintf(mp[k], sizeof(mp[k]), "%s/ds_fcache_XXXXXX", dir && *dir ? dir : "/tmp");
        int mfd = mkstemp(mp[k]);
        assert_true(mfd >= 0);
        uint8_t page[4096];
        memset(page, k + 1, sizeof(page));
        for (int pg = 0; pg < 8; pg++)
            assert_int_equal(pwrite(mfd, page, sizeof(page), pg * 4096), (ssize_t)sizeof(page));
        close(mfd);
        assert_int_equal(ds_file_open(&many[k], mp[k], DS_FILE_NO_MMAP, NULL), DS_OK);
    }
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < NF; k++) {
            uint8_t v = 0;
            assert_int_equal(ds_file_read(&many[k], 5 * 4096 + 100, &v, 1), DS_OK);
            assert_int_equal(v, k + 1);
        }
    for (int k = 0; k < NF; k++) {
        ds_file_close(&many[k]);
        unlink(mp[k]);
    }
    /* the short last page, up to the end and one byte past it */
    assert_int_equal(ds_file_read(&a, FILE_SIZE - 10, buf, 10), DS_OK);
    assert_int_equal(buf[9], expected_byte(FILE_SIZE - 1));
    assert_int_equal(ds_file_read(&a, FILE_SIZE - 10, buf, 11), DS_ERR_TRUNCATED);
    /* cut short after open: a page never read before now fails */
    assert_int_equal(truncate(pa, 1u << 20), 0);
    assert_int_equal(ds_file_read(&a, (2u << 20) + 3 * 4096 + 8, buf, 8), DS_ERR_TRUNCATED);
    ds_file_close(&a);
    ds_file_close(&b);
    unlink(pa);
    unlink(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_read_cache),
        cmocka_unit_test(test_lazy_mapping),
        cmocka_unit_test(test_aligned_mapping),
        cmocka_unit_test(test_chunk_overlay),
        cmocka_unit_test(test_nowait_cached),
        cmocka_unit_test(test_nowait_miss),
        cmocka_unit_test(test_nowait_refused),
        cmocka_unit_test(test_auto_shape),
        cmocka_unit_test(test_mmap_pages_dropped),
        cmocka_unit_test(test_mmap_worker_prefault_truncated),
        cmocka_unit_test(test_mmap_no_populate),
        cmocka_unit_test(test_uring),
        cmocka_unit_test(test_mmap),
        cmocka_unit_test(test_pread),
        cmocka_unit_test(test_auto),
        cmocka_unit_test(test_auto_fallback_seccomp),
        cmocka_unit_test(test_odirect),
        cmocka_unit_test(test_odirect_refused),
        cmocka_unit_test(test_truncated_before_run),
        cmocka_unit_test(test_truncated_during_run),
        cmocka_unit_test(test_consumer_stop),
        cmocka_unit_test(test_slow_consumer_bounded),
        cmocka_unit_test(test_shared_pool),
        cmocka_unit_test(test_bad_extents),
    };
    return cmocka_run_group_tests(tests, setup_file, teardown_file);
}
