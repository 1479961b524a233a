/* bench_stream.c - throughput of the stream pipeline running the pool tag
 * scan, against a plain read() of the same file in the same run.
 *
 *     bench_stream FILE [--threads 1,2] [--backends uring,mmap,pread]
 *                  [--odirect] [--chunk MiB|NNNk] [--passes N] [--bs MiB]
 *                  [--tags N] [--impl scalar|sse2|avx2] [--no-scan] [--cold]
 *
 * The whole file is one extent.  Every chunk goes through ds_tagscan
 * (align 16, tag at +4, N tags, default 4 = worst case for the SIMD code)
 * on the pool workers.  Steps:
 *   1. one plain read pass warms the page cache (with --cold instead every
 *      measured pass, plain read included, starts by evicting the file
 *      from the page cache with posix_fadvise(POSIX_FADV_DONTNEED));
 *   2. the tag scan kernel alone is timed on a 4 MiB in-cache buffer, per
 *      implementation, to show it is not the bottleneck;
 *   3. the baseline: plain read() passes of --bs MiB (default 1, as seqread);
 *   4. each backend x thread count.
 * Steps 3 and 4 each run in a forked child so wait4() gives that child's
 * own peak RSS (ru_maxrss); the best of --passes passes (default 3) is
 * reported.  Columns: GB/s (1e9 bytes/s), time relative to the plain read
 * (1.00 = as fast as reading the file; the aim is <= 1.25), peak RSS, hits,
 * and the per-phase times of the best pass (reader blocked on reads, reader
 * stalled on a full pipeline, total consumer time over all workers). */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "readpass.h"

#include "file.h"
#include "stream.h"
#include "tagscan.h"
#include "clock.h"

#define MAX_LIST 16
#define HITS_PER_CALL 1024

typedef struct bench_args {
    const char *path;
    unsigned threads[MAX_LIST];
    unsigned nthreads;
    ds_io_backend backends[MAX_LIST];
    unsigned nbackends;
    int odirect;
    size_t chunk;
    int passes;
    size_t bs;
    unsigned ntags;
    const char *impl;
    int scan;
    int cold;
} bench_args;

typedef struct result {
    int ok;
    uint64_t best_ns;
    uint64_t bytes;
    uint64_t hits;
    ds_stream_stats st;
    char err[256];
} result;

typedef struct worker_state {
    uint64_t nhits;
    uint32_t hits[HITS_PER_CALL];
} __attribute__((aligned(64))) worker_state;

typedef struct scan_ctx {
    const uint32_t *tags;
    unsigned ntags;
    int scan;
    worker_state *w;
} scan_ctx;

static const uint32_t bench_tags[4] = {
    DS_POOLTAG('P', 'r', 'o', 'c'), DS_POOLTAG('T', 'h', 'r', 'e'),
    DS_POOLTAG('F', 'i', 'l', 'e'), DS_POOLTAG('T', 'o', 'k', 'e'),
};

/* ---- consumer ---------------------------------------------------------- */

/* The tag of a chunk is the address of its first byte, so tag % 16 is the
 * alignment phase; all hits are counted, resuming when the array fills. */
static int scan_cb(void *ctxp, const uint8_t *data, size_t len, uint64_t off, uint64_t tag,
                   unsigned worker)
{
    (void)off;
    scan_ctx *c = ctxp;
    if (!c->scan)
        return 0;
    worker_state *w = &c->w[worker];
    size_t start = 0;
    while (start < len) {
        size_t next = len;
        w->nhits += ds_tagscan_ex(data, len, start, tag, 16, 4, c->tags, c->ntags, w->hits,
                                  HITS_PER_CALL, &next);
        start = next;
    }
    return 0;
}

/* ---- plain read baseline --------------------------------------------------- */

/* --cold: drop the file's cached pages so the pass reads the device. */
static void evict_file(const bench_args *a)
{
    if (!a->cold)
        return;
    int fd = open(a->path, O_RDONLY);
    if (fd < 0)
        return;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

static void run_plain(const bench_args *a, result *r)
{
    int fd = open(a->path, O_RDONLY);
    uint8_t *buf = malloc(a->bs);
    if (fd < 0 || !buf) {
        snprintf(r->err, sizeof(r->err), "open/malloc: %s", strerror(errno));
        return;
    }
    for (int p = 0; p < a->passes; p++) {
        evict_file(a);
        uint64_t t0 = bench_now_ns();
        int64_t n = bench_read_pass(fd, buf, a->bs);
        uint64_t dt = bench_now_ns() - t0;
        if (n < 0) {
            snprintf(r->err, sizeof(r->err), "read: %s", strerror(errno));
            return;
        }
        if (!r->ok || dt < r->best_ns)
            r->best_ns = dt;
        r->bytes = (uint64_t)n;
        r->ok = 1;
    }
    free(buf);
    close(fd);
}

/* ---- one stream configuration ------------------------------------------------ */

static void run_stream(const bench_args *a, ds_io_backend be, unsigned threads, result *r)
{
    ds_file f;
    ds_errbuf eb = {{0}};
    if (ds_file_open(&f, a->path, DS_FILE_NO_MMAP, &eb) != DS_OK) {
        snprintf(r->err, sizeof(r->err), "open: %s", eb.msg);
        return;
    }
    worker_state *w = aligned_alloc(64, sizeof(*w) * threads);
    if (!w) {
        snprintf(r->err, sizeof(r->err), "out of memory");
        return;
    }
    ds_extent whole = {0, f.size, 0};
    scan_ctx c = {bench_tags, a->ntags, a->scan, w};
    ds_stream_opts o;
    ds_stream_opts_default(&o);
    o.backend = be;
    o.threads = threads;
    o.chunk_bytes = a->chunk;
    o.odirect = a->odirect;
    for (int p = 0; p < a->passes; p++) {
        memset(w, 0, sizeof(*w) * threads);
        evict_file(a);
        ds_stream_stats st;
        ds_err e = ds_stream_run(&f, &whole, 1, &o, scan_cb, &c, &st, &eb);
        if (e != DS_OK) {
            snprintf(r->err, sizeof(r->err), "%s: %s", ds_err_name(e), eb.msg);
            r->ok = 0;
            break;
        }
        if (!r->ok || st.elapsed_ns < r->best_ns) {
            r->best_ns = st.elapsed_ns;
            r->st = st;
            r->hits = 0;
            for (unsigned i = 0; i < threads; i++)
                r->hits += w[i].nhits;
        }
        r->bytes = st.bytes;
        r->ok = 1;
    }
    free(w);
    ds_file_close(&f);
}

/* ---- fork per configuration: own ru_maxrss ------------------------------------ */

typedef void (*child_fn)(const bench_args *a, ds_io_backend be, unsigned threads, result *r);

static void plain_child(const bench_args *a, ds_io_backend be, unsigned threads, result *r)
{
    (void)be;
    (void)threads;
    run_plain(a, r);
}

static int in_child(const bench_args *a, child_fn fn, ds_io_backend be, unsigned threads,
                    result *r, long *maxrss_kib)
{
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pfd[0]);
        result cr;
        memset(&cr, 0, sizeof(cr));
        fn(a, be, threads, &cr);
        ssize_t n = write(pfd[1], &cr, sizeof(cr));
        _exit(n == (ssize_t)sizeof(cr) ? 0 : 1);
    }
    close(pfd[1]);
    memset(r, 0, sizeof(*r));
    size_t got = 0;
    while (got < sizeof(*r)) {
        ssize_t n = read(pfd[0], (char *)r + got, sizeof(*r) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pfd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || got != sizeof(*r))
        return -1;
    *maxrss_kib = ru.ru_maxrss;
    return 0;
}

/* ---- tag scan kernel alone ----------------------------------------------------- */

static void kernel_speeds(const bench_args *a)
{
    size_t len = 4u << 20;
    uint8_t *buf = malloc(len);
    if (!buf)
        return;
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    static const char *const names[] = {"scalar", "sse2", "avx2"};
    uint32_t hits[HITS_PER_CALL];
    printf("tag scan kernel, 4 MiB in-cache buffer, %u tags:", a->ntags);
    for (unsigned k = 0; k < 3; k++) {
        if (ds_tagscan_force(names[k]) != 0)
            continue;
        uint64_t best = UINT64_MAX;
        size_t sink = 0;
        for (int rep = 0; rep < 20; rep++) {
            uint64_t t0 = bench_now_ns();
            sink += ds_tagscan(buf, len, 0, 16, 4, bench_tags, a->ntags, hits, HITS_PER_CALL);
            uint64_t dt = bench_now_ns() - t0;
            if (dt < best)
                best = dt;
        }
        printf("  %s %.1f GB/s%s", names[k], (double)len / (double)best, sink ? "*" : "");
    }
    printf("\n");
    free(buf);
}

/* ---- arguments ------------------------------------------------------------------ */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_stream FILE [--threads 1,2] [--backends uring,mmap,pread] [--odirect]\n"
            "       [--chunk MiB|NNNk] [--passes N] [--bs MiB] [--tags 1-4]\n"
            "       [--impl scalar|sse2|avx2] [--no-scan] [--cold]\n");
    exit(2);
}

static unsigned split_list(char *s, char **items)
{
    unsigned n = 0;
    for (char *tok = strtok(s, ","); tok && n < MAX_LIST; tok = strtok(NULL, ","))
        items[n++] = tok;
    return n;
}

static void parse_args(int argc, char **argv, bench_args *a)
{
    char *items[MAX_LIST];
    memset(a, 0, sizeof(*a));
    a->threads[0] = 1, a->threads[1] = 2, a->nthreads = 2;
    a->backends[0] = DS_IO_URING, a->backends[1] = DS_IO_MMAP, a->backends[2] = DS_IO_PREAD;
    a->nbackends = 3;
    a->chunk = DS_STREAM_DEFAULT_CHUNK;
    a->passes = 3;
    a->bs = 1u << 20;
    a->ntags = 4;
    a->scan = 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc;
        if (strcmp(o, "--threads") == 0 && has) {
            unsigned n = split_list(argv[++i], items);
            for (unsigned k = 0; k < n; k++)
                a->threads[k] = (unsigned)atoi(items[k]);
            a->nthreads = n;
        } else if (strcmp(o, "--backends") == 0 && has) {
            unsigned n = split_list(argv[++i], items);
            for (unsigned k = 0; k < n; k++)
                if (ds_io_backend_parse(items[k], &a->backends[k]) != DS_OK)
                    usage();
            a->nbackends = n;
        } else if (strcmp(o, "--odirect") == 0) {
            a->odirect = 1;
        } else if (strcmp(o, "--cold") == 0) {
            a->cold = 1;
        } else if (strcmp(o, "--no-scan") == 0) {
            a->scan = 0;
        } else if (strcmp(o, "--chunk") == 0 && has) {
            char *end;
            a->chunk = (size_t)strtoul(argv[++i], &end, 10);
            a->chunk <<= (*end == 'k' || *end == 'K') ? 10 : 20; /* "512k": KiB */
        } else if (strcmp(o, "--bs") == 0 && has) {
            a->bs = (size_t)strtoul(argv[++i], NULL, 10) << 20;
        } else if (strcmp(o, "--passes") == 0 && has) {
            a->passes = atoi(argv[++i]);
        } else if (strcmp(o, "--tags") == 0 && has) {
            a->ntags = (unsigned)atoi(argv[++i]);
        } else if (strcmp(o, "--impl") == 0 && has) {
            a->impl = argv[++i];
        } else if (o[0] == '-' || a->path) {
            usage();
        } else {
            a->path = o;
        }
    }
    if (!a->path || a->passes < 1 || a->ntags < 1 || a->ntags > 4 || a->bs == 0 ||
        a->chunk == 0)
        usage();
    for (unsigned k = 0; k < a->nthreads; k++)
        if (a->threads[k] < 1 || a->threads[k] > 256)
            usage();
}

/* ---- report --------------------------------------------------------------------- */

static void print_row(const bench_args *a, ds_io_backend be, unsigned threads, const result *r,
                      long rss_kib, double plain_ns)
{
    if (!r->ok) {
        printf("%-6s %3u  error: %s\n", ds_io_backend_name(be), threads, r->err);
        return;
    }
    double gbs = (double)r->bytes / (double)r->best_ns;
    const ds_stream_stats *st = &r->st;
    printf("%-6s %3u %7.2f %7.2fx %8.1f %6llu %7.0f %7.0f %8.0f  %s%s%s%s\n",
           ds_io_backend_name(st->backend_used), threads, gbs, (double)r->best_ns / plain_ns,
           rss_kib / 1024.0, (unsigned long long)r->hits, st->read_ns / 1e6, st->stall_ns / 1e6,
           st->consume_ns / 1e6, st->fixed_buffers ? "fixed-bufs " : "",
           st->odirect_used ? "O_DIRECT " : "", a->odirect && !st->odirect_used ? "(no O_DIRECT) " : "",
           st->fallback_reason);
}

int main(int argc, char **argv)
{
    bench_args a;
    parse_args(argc, argv, &a);
    if (a.impl && ds_tagscan_force(a.impl) != 0) {
        fprintf(stderr, "bench_stream: tag scan implementation %s not available\n", a.impl);
        return 2;
    }
    result warm;
    memset(&warm, 0, sizeof(warm));
    bench_args one = a;
    one.passes = 1;
    one.cold = 0;
    run_plain(&one, &warm); /* page cache warm-up (also checks the file reads) */
    if (!warm.ok) {
        fprintf(stderr, "bench_stream: %s: %s\n", a.path, warm.err);
        return 1;
    }
    kernel_speeds(&a);
    if (a.impl)
        ds_tagscan_force(a.impl);
    else
        ds_tagscan_force("auto");

    result plain;
    long rss;
    if (in_child(&a, plain_child, DS_IO_AUTO, 0, &plain, &rss) != 0 || !plain.ok) {
        fprintf(stderr, "bench_stream: plain read failed: %s\n", plain.err);
        return 1;
    }
    double plain_ns = (double)plain.best_ns;
    printf("file %s: %.1f MiB, chunk %zu MiB, tag scan %s (%u tags)%s, %s, best of %d passes\n",
           a.path, plain.bytes / 1048576.0, a.chunk >> 20, a.scan ? ds_tagscan_impl_name() : "off",
           a.ntags, a.odirect ? ", O_DIRECT requested" : "",
           a.cold ? "cold (evicted before each pass)" : "page cache warm", a.passes);
    printf("%-6s %3s %7s %8s %8s %6s %7s %7s %8s  %s\n", "backend", "thr", "GB/s", "time/rd",
           "RSS MiB", "hits", "read ms", "stall", "consume", "notes");
    printf("%-6s %3s %7.2f %7.2fx %8.1f %6s %7s %7s %8s  read() %zu MiB\n", "plain", "-",
           (double)plain.bytes / plain_ns, 1.0, rss / 1024.0, "-", "-", "-", "-", a.bs >> 20);
    fflush(stdout);
    for (unsigned b = 0; b < a.nbackends; b++) {
        for (unsigned t = 0; t < a.nthreads; t++) {
            result r;
            if (in_child(&a, run_stream, a.backends[b], a.threads[t], &r, &rss) != 0) {
                printf("%-6s %3u  child failed\n", ds_io_backend_name(a.backends[b]), a.threads[t]);
                continue;
            }
            print_row(&a, a.backends[b], a.threads[t], &r, rss, plain_ns);
            fflush(stdout);
        }
    }
    return 0;
}
