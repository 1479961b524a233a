/* readpass.h - the plain sequential read every benchmark compares with:
 * read() the whole file front to back in bs-byte calls into one reused
 * buffer, touching nothing else.  Shared by bench/seqread.c and
 * bench/bench_stream.c so both measure the same baseline. */
#ifndef DS_BENCH_READPASS_H
#define DS_BENCH_READPASS_H

#include <errno.h>
#include <stdint.h>
#include <unistd.h>

/* One pass over the file; returns bytes read, or -1 on error. */
static inline int64_t bench_read_pass(int fd, uint8_t *buf, size_t bs)
{
    int64_t total = 0;
    if (lseek(fd, 0, SEEK_SET) != 0)
        return -1;
    for (;;) {
        ssize_t n = read(fd, buf, bs);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return total;
        total += n;
    }
}

#endif
