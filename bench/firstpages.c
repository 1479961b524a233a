/* firstpages.c - baseline for bulk scans: open each file, read its first
 * 64 KiB (or all of it), close it.
 *
 *     firstpages [-j THREADS] [--bytes N | --all] [--list LIST | FILE...]
 *
 * LIST is a file of newline-separated paths ("-": stdin); with neither
 * LIST nor FILE the list is read from stdin.
 *
 * This is the least any tool must do per dump to look at it, so
 * `dumpscan scan` dumps/s on many small dumps is compared with this
 * figure (bench/bench_bulk.sh).  THREADS workers (default 1) take files
 * from a shared index, each with one reused buffer; --all reads each whole
 * file with 1 MiB read() calls (the plain-read baseline for a mixed
 * corpus).  Prints files, bytes, seconds, files/s and GB/s (1e9 bytes/s)
 * on one line; exit 1 when a file could not be read. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

typedef struct job {
    char **paths;
    size_t n;
    size_t bytes_each;      /* 0 = whole file */
    atomic_size_t next;
    atomic_uint_fast64_t bytes;
    atomic_size_t failed;
} job;

/* Read up to `limit` bytes (0: all) of one file; -1 on error. */
static int64_t read_file(const char *path, uint8_t *buf, size_t bufsz, size_t limit)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int64_t total = 0;
    for (;;) {
        size_t want = bufsz;
        if (limit && (size_t)total + want > limit)
            want = limit - (size_t)total;
        if (want == 0)
            break;
        ssize_t n = read(fd, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            total = -1;
            break;
        }
        if (n == 0)
            break;
        total += n;
    }
    close(fd);
    return total;
}

static void *worker(void *arg)
{
    job *j = arg;
    size_t bufsz = j->bytes_each ? j->bytes_each : (1u << 20);
    uint8_t *buf = malloc(bufsz);
    if (!buf)
        return NULL;
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        int64_t got = read_file(j->paths[i], buf, bufsz, j->bytes_each);
        if (got < 0)
            atomic_fetch_add(&j->failed, 1);
        else
            atomic_fetch_add(&j->bytes, (uint64_t)got);
    }
    free(buf);
    return NULL;
}

/* Newline-separated list from in. */
static char **read_list(FILE *in, size_t *n)
{
    char **v = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &lcap, in)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        if (len == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            char **nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                exit(1);
            v = nv;
        }
        v[(*n)++] = strdup(line);
    }
    free(line);
    return v;
}

int main(int argc, char **argv)
{
    unsigned threads = 1;
    size_t bytes_each = 65536;
    int first = argc;
    const char *list = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) {
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) {
            bytes_each = (size_t)strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc) {
            list = argv[++i];
        } else if (strcmp(argv[i], "--all") == 0) {
            bytes_each = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "usage: firstpages [-j THREADS] [--bytes N | --all] "
                            "[--list LIST | FILE...]\n");
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (threads < 1 || threads > 1024)
        threads = 1;
    job j = {.bytes_each = bytes_each};
    if (first < argc) {
        j.paths = argv + first;
        j.n = (size_t)(argc - first);
    } else {
        FILE *in = list && strcmp(list, "-") != 0 ? fopen(list, "r") : stdin;
        if (!in) {
            perror(list);
            return 2;
        }
        j.paths = read_list(in, &j.n);
        if (in != stdin)
            fclose(in);
    }
    atomic_init(&j.next, 0);
    atomic_init(&j.bytes, 0);
    atomic_init(&j.failed, 0);

    pthread_t *t = calloc(threads, sizeof(*t));
    uint64_t t0 = bench_now_ns();
    unsigned started = 0;
    for (; t && started < threads; started++)
        if (pthread_create(&t[started], NULL, worker, &j) != 0)
            break;
    for (unsigned i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    double s = (double)(bench_now_ns() - t0) / 1e9;
    uint64_t bytes = atomic_load(&j.bytes);
    printf("files %zu bytes %llu seconds %.3f files_per_s %.0f gbps %.3f failed %zu\n", j.n,
           (unsigned long long)bytes, s, s > 0 ? (double)j.n / s : 0.0,
           s > 0 ? (double)bytes / s / 1e9 : 0.0, atomic_load(&j.failed));
    free(t);
    return atomic_load(&j.failed) ? 1 : 0;
}
