/* file.h - read-only access to one input file.
 *
 * A ds_file is opened O_RDONLY (never written), fstat'ed, rejected when it
 * is a directory or empty, and mapped PROT_READ/MAP_SHARED when it is a
 * regular file, so large structures (a dump's page bitmap) can be used in
 * place through ds_file_ptr.  Small random reads of large files go
 * through pread (see ds_file_read) to keep the resident set small.  Every accessor is
 * bounds-checked against the size seen at open time: a request that would
 * cross end-of-file fails with DS_ERR_TRUNCATED instead of faulting.
 * Sequential bulk reading of large extents lives in stream.h. */
#ifndef DS_IO_FILE_H
#define DS_IO_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/dserr.h"

typedef struct ds_file {
    int fd;               /* -1 when closed */
    uint64_t size;        /* st_size at open */
    int64_t mtime_ns;     /* st_mtim, for resumable state */
    /* Whole-file read-only mapping, made on first use (ds_file_map,
     * ds_file_ptr): a triage minidump read a few KiB at a time never maps,
     * so bulk runs over thousands of them do not pay mmap/munmap (the
     * unmap's TLB shootdown stops every core, and both take the address
     * space lock).  Read through ds_file_map, never directly. */
    _Atomic(const uint8_t *) map;
    bool mappable;        /* mapping allowed (no DS_FILE_NO_MMAP, size fits) */
    uint64_t cache_id;    /* names this open file in the per-thread page cache */
    atomic_bool nowait_off; /* its file system refused a no-wait read */
} ds_file;

/* Flags for ds_file_open. */
enum {
    DS_FILE_NO_MMAP = 1u << 0, /* use pread for ds_file_read; ds_file_ptr fails */
};

ds_err ds_file_open(ds_file *f, const char *path, unsigned flags, ds_errbuf *eb);
/* The same for a file the caller already has open: fd is duplicated (the
 * caller keeps and closes its own), so what is read is exactly the file
 * the caller looked at, however its path changes meanwhile. */
ds_err ds_file_open_fd(ds_file *f, int fd, unsigned flags, ds_errbuf *eb);
void ds_file_close(ds_file *f);

/* Files up to this size are read through the mapping; larger ones with
 * pread (see ds_file_read in file.c). */
#define DS_FILE_SMALL (64ull << 20)

/* Copy len bytes at off into buf.  DS_ERR_TRUNCATED if off+len > size. */
ds_err ds_file_read(const ds_file *f, uint64_t off, void *buf, size_t len);

/* Ask the kernel to read [off, off+len) into the page cache in the
 * background (posix_fadvise WILLNEED); nothing when out of bounds. */
void ds_file_willneed(const ds_file *f, uint64_t off, uint64_t len);

/* While set on the calling thread, ds_file_read of f inside [off,
 * off+len) copies from data (a chunk the stream holds, the same bytes as
 * the file's) instead of reading the file.  Clear before data goes away. */
void ds_file_overlay(const ds_file *f, uint64_t off, const uint8_t *data, size_t len);
void ds_file_overlay_clear(void);

/* No-wait reads on the calling thread, from begin to end: a ds_file_read
 * whose bytes are not in the page cache fails (DS_ERR_IO) instead of
 * waiting for the disk, after asking the kernel to fetch them in the
 * background; end returns how many reads failed so.  A caller that saw
 * misses drops what it computed from those reads and tries again later.
 * On a kernel without no-wait buffered reads every read waits (0 misses). */
void ds_file_nowait_begin(void);
unsigned ds_file_nowait_end(void);

/* Wait until the page of this thread's last no-wait miss in f is read
 * (asked for last, so those asked for before it are mostly read too);
 * nothing when its last miss was elsewhere or has been waited for. */
void ds_file_nowait_settle(const ds_file *f);

/* Pointer to len bytes at off inside the mapping, or NULL when out of
 * bounds or not mapped.  Valid until ds_file_close. */
const uint8_t *ds_file_ptr(const ds_file *f, uint64_t off, size_t len);

/* The whole-file mapping, made now if it was not (thread-safe), or NULL
 * when the file may not or cannot be mapped. */
const uint8_t *ds_file_map(const ds_file *f);

/* Read-only shared mapping of the first size bytes of fd at a 2 MiB-
 * aligned address (so large page-cache folios map cheaply), or a plain
 * mapping where that cannot be had; MAP_FAILED on failure.  Unmap with
 * munmap(p, size). */
void *ds_mmap_aligned(int fd, size_t size);

/* pread() len bytes at off from fd into buf, across short reads and
 * EINTR.  *got says how many arrived.  Returns 0, an errno, or -1 when
 * the file ends first (a zero-byte read). */
int ds_pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got);

/* True when [off, off+len) lies inside the file (overflow-safe). */
static inline bool ds_file_has(const ds_file *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

#endif
