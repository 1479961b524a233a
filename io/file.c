/* file.c - open, map and bounds-checked reads of one input file.
 * See file.h.  The mapping is advisory-random (MADV_RANDOM) because the
 * format parsers and address translation jump around; bulk scans go
 * through stream.c, which sets its own advice. */
#define _GNU_SOURCE /* preadv2, RWF_NOWAIT */

#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static _Atomic uint64_t next_cache_id = 1;

/* Check what fd is and take it over (closed here on failure). */
static ds_err adopt_fd(ds_file *f, int fd, unsigned flags, ds_errbuf *eb)
{
    struct stat st;

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
    f->cache_id = atomic_fetch_add(&next_cache_id, 1);
    atomic_init(&f->nowait_off, false);
    f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    f->mappable = !(flags & DS_FILE_NO_MMAP) && size <= (uint64_t)SIZE_MAX;
    return DS_OK;
}

ds_err ds_file_open(ds_file *f, const char *path, unsigned flags, ds_errbuf *eb)
{
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
    return adopt_fd(f, fd, flags, eb);
}

ds_err ds_file_open_fd(ds_file *f, int fd, unsigned flags, ds_errbuf *eb)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return ds_fail(eb, DS_ERR_IO, "dup: %s", strerror(errno));
    return adopt_fd(f, own, flags, eb);
}

/* mmap the whole file read-only at a 2 MiB-aligned address.  Aligned,
 * the page cache's large folios map with whole page-table pages at a time
 * (measured on a cached 1 GiB dump: prefaulting took half the time), and
 * 2 MiB folios map as one PMD entry each (prefault 55 ms -> 1 ms).  An
 * anonymous PROT_NONE reservation 2 MiB larger is made first, the file
 * mapped over its aligned part (MAP_FIXED over our own reservation), the
 * slack on both sides returned.  Falls back to a plain mmap. */
void *ds_mmap_aligned(int fd, size_t size)
{
    const size_t huge = (size_t)2 << 20;
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    if (size < huge || size > SIZE_MAX - 2 * huge)
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    size_t span = (size + huge + page - 1) & ~(page - 1);
    uint8_t *res = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    uint8_t *at = (uint8_t *)(((uintptr_t)res + huge - 1) & ~(uintptr_t)(huge - 1));
    void *p = mmap(at, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        munmap(res, span);
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    }
    size_t used = (size + page - 1) & ~(page - 1);
    if (at > res)
        munmap(res, (size_t)(at - res));
    uint8_t *end = at + used;
    if (end < res + span)
        munmap(end, (size_t)(res + span - end));
    return p;
}

const uint8_t *ds_file_map(const ds_file *cf)
{
    ds_file *f = (ds_file *)cf; /* the mapping is a cache: logically const */
    const uint8_t *m = atomic_load(&f->map);
    if (m || !f->mappable || f->fd < 0)
        return m;
    void *p = ds_mmap_aligned(f->fd, (size_t)f->size);
    if (p == MAP_FAILED)
        return NULL;
    madvise(p, (size_t)f->size, MADV_RANDOM);
    const uint8_t *none = NULL;
    if (!atomic_compare_exchange_strong(&f->map, &none, (const uint8_t *)p)) {
        munmap(p, (size_t)f->size); /* another thread mapped it first */
        return none;
    }
    return p;
}

void ds_file_close(ds_file *f)
{
    const uint8_t *m = atomic_load(&f->map);
    if (m)
        munmap((void *)m, (size_t)f->size);
    if (f->fd >= 0)
        close(f->fd);
    atomic_store(&f->map, NULL);
    f->mappable = false;
    f->fd = -1;
    f->size = 0;
}

/* ---- page cache for small reads of large files ---------------------------
 * Validation and the kernel views read a few bytes at a time (pointers,
 * headers, page-table entries), over and over in the same pool pages.
 * Each such read of a large file would be a pread; a small direct-mapped
 * cache of whole 4 KiB file pages per thread turns them into memcpy.
 * Per thread (no locks), keyed by the open file's cache_id (never reused)
 * and the page; 32 pages, 128 KiB of each thread's memory. */
#define FCACHE_SLOTS 32
#define FCACHE_MAX_READ 512

typedef struct fcache_page {
    uint64_t id, page;
    uint32_t len; /* bytes valid (the last page of a file may be short) */
    uint8_t data[4096];
} fcache_page;

static _Thread_local fcache_page fcache[FCACHE_SLOTS];

int ds_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
    uint8_t *p = buf;
    *got = 0;
    while (*got < len) {
        ssize_t n = pread(fd, p + *got, len - *got, (off_t)(off + *got));
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

/* ---- reads that must not wait ---------------------------------------------
 * A worker of a cold (O_DIRECT) stream validates its chunk's candidates
 * with reads outside the chunk, and each page the page cache lacks would
 * hold that worker for a disk read queued behind the stream's own (about
 * a millisecond).  In no-wait mode (per thread) such a read fails at once
 * instead (preadv2 RWF_NOWAIT, which also starts the page's readahead; a
 * POSIX_FADV_WILLNEED makes sure) and the miss is counted: the caller
 * drops what it computed and tries again later, when the page is there.
 * A file whose file system refuses no-wait reads is read waiting. */
typedef struct no_wait_state {
    bool on;
    unsigned misses;
} no_wait_state;

static _Thread_local no_wait_state no_wait;
/* the last miss of this thread (its file's cache_id: never reused), for
 * ds_file_nowait_settle */
static _Thread_local struct {
    uint64_t id, off;
} last_miss;

/* Are f's reads on this thread no-wait reads now? */
static bool nowait_reads(const ds_file *f)
{
    return no_wait.on && !atomic_load_explicit(&f->nowait_off, memory_order_relaxed);
}

void ds_file_nowait_begin(void)
{
    no_wait = (no_wait_state){true, 0};
}

unsigned ds_file_nowait_end(void)
{
    unsigned m = no_wait.misses;
    no_wait = (no_wait_state){0};
    return m;
}

void ds_file_nowait_settle(const ds_file *f)
{
    if (!f->cache_id || last_miss.id != f->cache_id)
        return;
    uint8_t b;
    size_t got;
    ds_pread_full(f->fd, &b, 1, last_miss.off, &got); /* waits for its page */
    last_miss.id = 0;
}

/* pread of [off, off+len) that fails with EAGAIN rather than wait for the
 * disk while no-wait mode is on; else ds_pread_full. */
static int file_pread(const ds_file *f, void *buf, size_t len, uint64_t off, size_t *got)
{
    if (!nowait_reads(f))
        return ds_pread_full(f->fd, buf, len, off, got);
    uint8_t *p = buf;
    *got = 0;
    while (*got < len) {
        struct iovec iov = {p + *got, len - *got};
        ssize_t n = preadv2(f->fd, &iov, 1, (off_t)(off + *got), RWF_NOWAIT);
        if (n > 0) {
            *got += (size_t)n;
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) {
            uint64_t from = (off + *got) & ~4095ull;
            posix_fadvise(f->fd, (off_t)from, (off_t)(off + len - from), POSIX_FADV_WILLNEED);
            no_wait.misses++;
            last_miss.id = f->cache_id;
            last_miss.off = off + *got;
            return EAGAIN;
        }
        if (errno != EOPNOTSUPP && errno != EINVAL)
            return errno;
        atomic_store(&((ds_file *)f)->nowait_off, true); /* wait, as before */
        size_t more;
        int rc = ds_pread_full(f->fd, p + *got, len - *got, off + *got, &more);
        *got += more;
        return rc;
    }
    return 0;
}

/* Whole-page read at page index pg, into one slot; false on any failure. */
static bool fcache_fill(const ds_file *f, fcache_page *c, uint64_t pg)
{
    uint64_t start = pg * 4096;
    size_t want = f->size - start < 4096 ? (size_t)(f->size - start) : 4096, got;
    if (file_pread(f, c->data, want, start, &got) != 0) {
        c->id = 0;
        return false;
    }
    c->id = f->cache_id;
    c->page = pg;
    c->len = (uint32_t)want;
    return true;
}

static bool fcache_read(const ds_file *f, uint64_t off, void *buf, size_t len)
{
    uint64_t pg = off >> 12;
    if (!f->cache_id || len > FCACHE_MAX_READ || ((off + len - 1) >> 12) != pg)
        return false;
    fcache_page *c = &fcache[(pg ^ (pg >> 5) ^ f->cache_id * 0x9e3779b97f4a7c15ull) &
                             (FCACHE_SLOTS - 1)];
    if ((c->id != f->cache_id || c->page != pg) && !fcache_fill(f, c, pg))
        return false;
    if ((off & 4095) + len > c->len)
        return false;
    memcpy(buf, c->data + (off & 4095), len);
    return true;
}

void ds_file_willneed(const ds_file *f, uint64_t off, uint64_t len)
{
    if (f->fd >= 0 && ds_file_has(f, off, len))
        posix_fadvise(f->fd, (off_t)off, (off_t)len, POSIX_FADV_WILLNEED);
}

/* ---- the chunk in hand ----------------------------------------------------
 * A stream worker that validates the candidates of its chunk reads mostly
 * inside that chunk (pool header, object header, body), which it already
 * holds: those reads are copied from its buffer instead of read again (a
 * syscall when warm; a disk read when the stream reads with O_DIRECT and
 * the page cache never saw the data). */
typedef struct overlay {
    uint64_t id, off;
    const uint8_t *data;
    size_t len;
} overlay;

static _Thread_local overlay chunk_in_hand;

void ds_file_overlay(const ds_file *f, uint64_t off, const uint8_t *data, size_t len)
{
    chunk_in_hand = (overlay){f->cache_id, off, data, len};
}

void ds_file_overlay_clear(void)
{
    chunk_in_hand = (overlay){0};
}

static bool overlay_read(const ds_file *f, uint64_t off, void *buf, size_t len)
{
    const overlay *o = &chunk_in_hand;
    if (!o->data || o->id != f->cache_id || off < o->off || off - o->off > o->len ||
        len > o->len - (off - o->off))
        return false;
    memcpy(buf, o->data + (off - o->off), len);
    return true;
}

ds_err ds_file_read(const ds_file *f, uint64_t off, void *buf, size_t len)
{
    if (!ds_file_has(f, off, len))
        return DS_ERR_TRUNCATED;
    if (len == 0)
        return DS_OK;
    if (overlay_read(f, off, buf, len))
        return DS_OK;
    /* Large files: pread even when the file is mapped.  Copying from the
     * mapping would fault it in with the kernel's fault-around (64 KiB per
     * touch), and the scattered reads of page-table walks then pin
     * hundreds of MiB of page cache in our resident set; a pread costs a
     * syscall and keeps peak RSS at the size of our own buffers.  Small
     * files (minidumps: thousands of tiny reads each) are copied from the
     * mapping: their whole size is a bounded RSS cost. */
    const uint8_t *m = atomic_load(&((ds_file *)f)->map);
    if (m && f->size <= DS_FILE_SMALL && !nowait_reads(f)) { /* mapped: no syscall */
        memcpy(buf, m + off, len); /* (a fault on a cold page would wait) */
        return DS_OK;
    }
    unsigned misses = no_wait.misses;
    if (fcache_read(f, off, buf, len))
        return DS_OK;
    if (no_wait.misses != misses)
        return DS_ERR_IO; /* not there yet: on its way */
    size_t got;
    int rc = file_pread(f, buf, len, off, &got);
    if (rc == -1)
        return DS_ERR_TRUNCATED; /* file shrank under us */
    return rc ? DS_ERR_IO : DS_OK;
}

const uint8_t *ds_file_ptr(const ds_file *f, uint64_t off, size_t len)
{
    if (!ds_file_has(f, off, len))
        return NULL;
    const uint8_t *m = ds_file_map(f);
    return m ? m + off : NULL;
}
