/* seqread.c - baseline benchmark: plain sequential read() of a whole file.
 *
 *     seqread FILE [--bs MiB] [--passes N] [--no-warm]
 *
 * Reads the file front to back with read() calls of --bs MiB (default 1)
 * into one reused buffer, touching nothing else, and prints GB/s (1e9
 * bytes/s) per pass and the best pass.  Unless --no-warm, one unmeasured
 * pass first pulls the file into the page cache, so the figure is the cost
 * of copying cached pages to user space: the floor any scanner that reads
 * the whole file has to meet.  bench_stream measures the same thing in the
 * same run for its ratios. */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "readpass.h"
#include "clock.h"

/* One pass over the file; returns bytes read, or -1 on error. */
static void usage(void)
{
    fprintf(stderr, "usage: seqread FILE [--bs MiB] [--passes N] [--no-warm]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    size_t bs = 1u << 20;
    int passes = 3, warm = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bs") == 0 && i + 1 < argc)
            bs = (size_t)strtoul(argv[++i], NULL, 10) << 20;
        else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc)
            passes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--no-warm") == 0)
            warm = 0;
        else if (argv[i][0] == '-' || path)
            usage();
        else
            path = argv[i];
    }
    if (!path || bs == 0 || passes < 1)
        usage();
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "seqread: %s: %s\n", path, strerror(errno));
        return 1;
    }
    uint8_t *buf = malloc(bs);
    if (!buf) {
        fprintf(stderr, "seqread: out of memory\n");
        return 1;
    }
    if (warm && bench_read_pass(fd, buf, bs) < 0) {
        fprintf(stderr, "seqread: read: %s\n", strerror(errno));
        return 1;
    }
    double best = 0;
    for (int p = 0; p < passes; p++) {
        uint64_t t0 = bench_now_ns();
        int64_t n = bench_read_pass(fd, buf, bs);
        uint64_t dt = bench_now_ns() - t0;
        if (n < 0) {
            fprintf(stderr, "seqread: read: %s\n", strerror(errno));
            return 1;
        }
        double gbs = dt ? (double)n / (double)dt : 0;
        printf("pass %d: %lld bytes in %.3f s = %.2f GB/s\n", p + 1, (long long)n, dt / 1e9, gbs);
        if (gbs > best)
            best = gbs;
    }
    printf("best: %.2f GB/s (read() of %zu MiB, %s)\n", best, bs >> 20,
           warm ? "page cache warm" : "no warm-up");
    free(buf);
    close(fd);
    return 0;
}
