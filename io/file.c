/* file.c - open, map and bounds-checked reads of one input file.
 * See file.h.  The mapping is advisory-random (MADV_RANDOM) because the
 * format parsers and address translation jump around; bulk scans go
 * through stream.c, which sets its own advice. */

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

ds_err ds_file_open(ds_file *f, const char *path, unsigned flags, ds_errbuf *eb)
{
    struct stat st;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    /* O_NONBLOCK: opening a FIFO (or a device that waits for a carrier)
     * must not block; anything but a regular file or block device is
     * refused below before a byte is read. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == EISDIR)
            return ds_fail(eb, DS_ERR_ISDIR, "is a directory");
        return ds_fail(eb, DS_ERR_IO, "open: %s", strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ds_fail(eb, DS_ERR_IO, "fstat: %s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return ds_fail(eb, DS_ERR_ISDIR, "is a directory");
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        close(fd);
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "not a regular file");
    }
    /* Back to blocking reads: io_uring would answer -EAGAIN on an
     * O_NONBLOCK file instead of waiting for the disk. */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    uint64_t size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(fd, 0, SEEK_END);
        size = end > 0 ? (uint64_t)end : 0;
    }
    if (size == 0) {
        close(fd);
        return ds_fail(eb, DS_ERR_EMPTY, "file is empty");
    }
    f->fd = fd;
    f->size = size;
    f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (!(flags & DS_FILE_NO_MMAP) && size <= (uint64_t)SIZE_MAX) {
        void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, (size_t)size, MADV_RANDOM);
            f->map = m;
        }
    }
    return DS_OK;
}

void ds_file_close(ds_file *f)
{
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    f->map = NULL;
    f->fd = -1;
    f->size = 0;
}

ds_err ds_file_read(const ds_file *f, uint64_t off, void *buf, size_t len)
{
    if (!ds_file_has(f, off, len))
        return DS_ERR_TRUNCATED;
    /* Large files: pread even when the file is mapped.  Copying from the
     * mapping would fault it in with the kernel's fault-around (64 KiB per
     * touch), and the scattered reads of page-table walks then pin
     * hundreds of MiB of page cache in our resident set; a pread costs a
     * syscall and keeps peak RSS at the size of our own buffers.  Small
     * files (minidumps: thousands of tiny reads each) are copied from the
     * mapping: their whole size is a bounded RSS cost. */
    if (f->map && f->size <= DS_FILE_SMALL) {
        memcpy(buf, f->map + off, len);
        return DS_OK;
    }
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(f->fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return DS_ERR_IO;
        }
        if (n == 0)
            return DS_ERR_TRUNCATED; /* file shrank under us */
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return DS_OK;
}

const uint8_t *ds_file_ptr(const ds_file *f, uint64_t off, size_t len)
{
    if (!f->map || !ds_file_has(f, off, len))
        return NULL;
    return f->map + off;
}
