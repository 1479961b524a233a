/* parread.c - the plain parallel read every scaling figure is compared with:
 * N threads pread() the file in bs-byte blocks (block k to thread k mod N,
 * like N `dd` processes over disjoint parts), touching nothing else.
 * Optionally O_DIRECT (cold data, aligned buffers).  Prints the best of
 * the passes as "best: GB/s seconds".
 *
 * usage: parread FILE [-j N] [--bs MiB] [--passes N] [--odirect] */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

typedef struct worker {
    int fd;
    unsigned id, n;
    size_t bs;
    uint64_t size;
    uint64_t bytes;
    int err;
} worker;

static void *run(void *arg)
{
    worker *w = arg;
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, w->bs) != 0) {
        w->err = ENOMEM;
        return NULL;
    }
    for (uint64_t off = (uint64_t)w->id * w->bs; off < w->size; off += (uint64_t)w->n * w->bs) {
        size_t want = w->size - off < w->bs ? (size_t)(w->size - off) : w->bs;
        size_t got = 0;
        while (got < want) {
            ssize_t r = pread(w->fd, buf + got, w->bs - got, (off_t)(off + got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                w->err = r < 0 ? errno : EIO;
                break;
            }
            got += (size_t)r;
        }
        w->bytes += got;
        if (w->err)
            break;
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: parread FILE [-j N] [--bs MiB] [--passes N] [--odirect]\n");
        return 2;
    }
    unsigned n = 1, passes = 3;
    size_t bs = 4u << 20;
    int flags = O_RDONLY;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc)
            n = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--bs") == 0 && i + 1 < argc)
            bs = (size_t)atoi(argv[++i]) << 20;
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
            passes = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--odirect") == 0)
            flags |= O_DIRECT;
        else {
            fprintf(stderr, "parread: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (n < 1 || n > 1024 || bs == 0 || passes < 1)
        return 2;
    int fd = open(argv[1], flags);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    double best = 0, best_s = 0;
    for (unsigned p = 0; p < passes; p++) {
        worker *w = calloc(n, sizeof(*w));
        pthread_t *t = calloc(n, sizeof(*t));
        if (!w || !t)
            return 1;
        uint64_t t0 = bench_now_ns();
        for (unsigned i = 0; i < n; i++) {
            w[i] = (worker){.fd = fd, .id = i, .n = n, .bs = bs, .size = (uint64_t)st.st_size};
            pthread_create(&t[i], NULL, run, &w[i]);
        }
        uint64_t bytes = 0;
        for (unsigned i = 0; i < n; i++) {
            pthread_join(t[i], NULL);
            bytes += w[i].bytes;
            if (w[i].err) {
                fprintf(stderr, "parread: %s\n", strerror(w[i].err));
                return 1;
            }
        }
        double s = (double)(bench_now_ns() - t0) / 1e9;
        double gbps = (double)bytes / s / 1e9;
        printf("pass %u: %.3f GB/s %.3f s\n", p + 1, gbps, s);
        if (gbps > best) {
            best = gbps;
            best_s = s;
        }
        free(w);
        free(t);
    }
    printf("best: %.3f %.3f\n", best, best_s);
    close(fd);
    return 0;
}
