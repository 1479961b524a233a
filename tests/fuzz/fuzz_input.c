/* fuzz_input.c - decode a fuzz input (fuzz.h) into an anonymous file. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int fuzz_input_file(const uint8_t *data, size_t size, uint64_t max_size, char *path,
                    size_t cap)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    if (size < 12 || memcmp(data, "DSFZ", 4) != 0) {
        if (size > max_size)
            size = (size_t)max_size;
        if (write_all(fd, data, size, 0) != 0) {
            close(fd);
            return -1;
        }
        return fd;
    }
    uint64_t apparent = le(data + 4, 8);
    if (apparent > max_size)
        apparent = max_size;
    if (ftruncate(fd, (off_t)apparent) != 0) {
        close(fd);
        return -1;
    }
    size_t pos = 12;
    while (pos + 10 <= size) {
        uint64_t off = le(data + pos, 8);
        size_t len = (size_t)le(data + pos + 8, 2);
        pos += 10;
        if (len > size - pos)
            len = size - pos;
        if (off < apparent && len <= apparent - off)
            write_all(fd, data + pos, len, off);
        pos += len;
    }
    return fd;
}
