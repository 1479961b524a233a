/* stream.h - fast bulk reading of file extents, consumed in parallel.
 *
 * Given an open ds_file and a list of extents {file_off, len, tag} sorted
 * by file offset, ds_stream_run reads every extent byte once, in file
 * order, as chunks of at most `chunk_bytes` (default 4 MiB, less with many threads).  A chunk never
 * crosses an extent; the last chunk of an extent may be shorter.  Each chunk
 * is handed to a consumer callback running on a worker of a ds_pool:
 *
 *     cb(ctx, data, len, file_off, tag_of_first_byte, worker)
 *
 * where tag_of_first_byte = extent.tag + (file_off - extent.file_off), e.g.
 * the physical address of data[0] when the extent tag is the physical
 * address of the extent's first byte, and worker is the pool worker index
 * (0..threads-1) for lock-free per-worker state.  Chunks are delivered
 * concurrently and possibly out of order; `data` is valid only during the
 * call.  Return 0 to go on, non-zero to stop the stream (stats.stopped).
 *
 * Pipeline: the calling thread is the reader.  It keeps at most
 * `queue_depth` chunks (default threads+4) between "being read" and
 * "being consumed"; each is a slot with its own buffer.  While workers
 * consume some slots the reader fills the others (double buffering), and
 * when every slot is busy it blocks (back-pressure), so memory is bounded
 * by queue_depth * chunk_bytes however slow the consumer is.  (pread, and
 * mmap with the workers prefaulting, have no reader: the calling thread
 * waits while the workers take chunks themselves; see the backends.)
 *
 * Backends (ds_io_backend):
 *  - DS_IO_URING: liburing ring; the slot buffers are registered with
 *    io_uring_register_buffers and read with IORING_OP_READ_FIXED (plain
 *    IORING_OP_READ when registration is refused, e.g. RLIMIT_MEMLOCK),
 *    several multi-MiB reads in flight.  With opts.odirect a second fd is
 *    opened with O_DIRECT (by reopening /proc/self/fd/N) and used for
 *    chunks whose offset and length are 4096-aligned; buffers come from
 *    posix_memalign; unaligned chunks use the buffered fd.  If the O_DIRECT
 *    open or a direct read fails with EINVAL (tmpfs, some FUSE), the chunk is
 *    re-read buffered, direct I/O is dropped for the rest of the run and the
 *    reason is reported in stats.fallback_reason.
 *  - DS_IO_MMAP: a read-only mapping of its own (not the ds_file one,
 *    whose advice is MADV_RANDOM), 2 MiB-aligned, with MADV_SEQUENTIAL and,
 *    where the kernel allows, MADV_HUGEPAGE.  Each chunk is prefaulted
 *    with MADV_POPULATE_READ (MADV_WILLNEED on kernels without it), by the
 *    reader ahead of the consumers while a CPU is left for it; else (opts.
 *    prefault) there is no reader: each worker takes the next chunk off a
 *    shared cursor, prefaults it and consumes it.  Chunks point straight into
 *    the mapping (zero copy), and consumed chunks are dropped from the page
 *    tables in 8 MiB batches (MADV_DONTNEED; the page cache keeps them) so
 *    resident memory stays bounded.  The file size is
 *    re-checked (fstat) before each chunk so a file truncated before or
 *    during the run gives DS_ERR_TRUNCATED, not SIGBUS.  Inherent mmap
 *    limit: a truncation that lands while a consumer is inside an already
 *    checked chunk can still raise SIGBUS; use uring/pread for files that
 *    other processes may shrink.
 *  - DS_IO_PREAD: no reader: each worker (at most queue_depth of them)
 *    takes the next chunk off a shared cursor, pread()s it (O_DIRECT as
 *    for uring when asked) into a slot buffer of its own and consumes it
 *    there; memory is one chunk per worker.
 *  - DS_IO_AUTO: uring when io_uring_queue_init succeeds (it fails with
 *    ENOSYS/EPERM on old kernels or under seccomp), else mmap, else pread.
 *    stats.backend_used says which ran; stats.fallback_reason says why a
 *    preferred one was not used ("" when nothing fell back).
 *
 * Errors: a failed or short read (file truncated after the extents were
 * computed, EIO) stops the stream: no further chunks are read or delivered,
 * in-flight work is drained, and ds_stream_run returns DS_ERR_TRUNCATED or
 * DS_ERR_IO.  Extents are validated first: unsorted extents or an extent
 * whose end overflows give DS_ERR_ARG; an extent past the size recorded in
 * the ds_file gives DS_ERR_TRUNCATED before anything is delivered.
 * Zero-length extents are skipped.  Overlapping extents are allowed; their
 * shared bytes are delivered once per extent.
 *
 * Pools: pass opts.pool to share one pool between several streams (several
 * dumps in bulk mode: each stream waits only for its own chunks); otherwise
 * a private pool of opts.threads workers lives for the call.  A consumer
 * must not start another stream on the same pool from inside its callback.
 *
 * For a tag scan over chunks, pick chunk_bytes as a multiple of the scan
 * alignment so no aligned slot straddles two chunks. */
#ifndef DS_IO_STREAM_H
#define DS_IO_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/dserr.h"
#include "file.h"
#include "pool.h"

typedef struct ds_extent {
    uint64_t file_off; /* first byte in the file */
    uint64_t len;      /* bytes */
    uint64_t tag;      /* user value of the first byte (e.g. its physical address) */
} ds_extent;

typedef enum ds_io_backend {
    DS_IO_AUTO = 0,
    DS_IO_URING = 1,
    DS_IO_MMAP = 2,
    DS_IO_PREAD = 3,
} ds_io_backend;

typedef int (*ds_chunk_cb)(void *ctx, const uint8_t *data, size_t len, uint64_t file_off,
                           uint64_t tag_of_first_byte, unsigned worker);

#define DS_STREAM_DEFAULT_CHUNK (4u << 20)
#define DS_STREAM_MAX_CHUNK (256u << 20)
#define DS_STREAM_MAX_DEPTH 1024u
/* What the automatic choices keep in flight (queue_depth x chunk_bytes),
 * whatever the thread count: the chunk halves from 4 MiB down to
 * DS_STREAM_MIN_AUTO_CHUNK, then the queue shortens (to threads+2 at
 * least).  The mmap backend keeps up to 8 MiB more mapped between its
 * batched page drops (stream_mmap.c). */
#define DS_STREAM_DEFAULT_INFLIGHT (32u << 20)
#define DS_STREAM_MIN_AUTO_CHUNK (256u << 10)

/* Who prefaults an mmap chunk (ds_stream_opts.prefault). */
typedef enum ds_prefault {
    DS_PREFAULT_AUTO = 0,  /* the reader while a CPU is left for it, else the workers */
    DS_PREFAULT_READER = 1,
    DS_PREFAULT_WORKERS = 2, /* the workers take chunks themselves (no reader) */
} ds_prefault;

typedef struct ds_stream_opts {
    ds_io_backend backend; /* DS_IO_AUTO */
    size_t chunk_bytes;    /* 0 = automatic (DS_STREAM_DEFAULT_CHUNK, less when
                              inflight_bytes asks); max DS_STREAM_MAX_CHUNK */
    unsigned queue_depth;  /* slots in flight; 0 = threads+4 (fewer when
                              inflight_bytes asks); max DS_STREAM_MAX_DEPTH */
    size_t inflight_bytes; /* bound for the automatic choices above; 0 =
                              DS_STREAM_DEFAULT_INFLIGHT */
    ds_prefault prefault;  /* mmap: who prefaults each chunk (AUTO) */
    bool odirect;          /* uring/pread: read aligned chunks with O_DIRECT */
    ds_pool *pool;         /* shared pool, or NULL for a private one */
    unsigned threads;      /* private pool size; 0 = online CPUs */
} ds_stream_opts;

typedef struct ds_stream_stats {
    ds_io_backend backend_used;
    char fallback_reason[200]; /* "" when no fallback happened */
    bool odirect_used;         /* at least one chunk was read with O_DIRECT */
    bool fixed_buffers;        /* uring: registered buffers + READ_FIXED */
    bool stopped;              /* a consumer returned non-zero */
    unsigned threads;          /* workers of the pool used */
    unsigned queue_depth;      /* slots used */
    size_t chunk_bytes;        /* chunk size used */
    uint64_t bytes;            /* bytes delivered to consumers */
    uint64_t chunks;           /* chunks delivered to consumers */
    uint64_t direct_chunks;    /* chunks read with O_DIRECT */
    uint64_t elapsed_ns;       /* whole call */
    uint64_t setup_ns;         /* backend setup: ring, buffers, mapping */
    uint64_t read_ns;          /* reader in read syscalls / ring waits / prefault
                                  (pread, mmap pull: summed over the workers) */
    uint64_t stall_ns;         /* reader blocked waiting for a free slot (mmap
                                  pull: workers waiting, summed) */
    uint64_t consume_ns;       /* sum over workers of time inside cb */
} ds_stream_stats;

void ds_stream_opts_default(ds_stream_opts *o);

/* Read every byte of ext[0..next) and feed it to cb as described above.
 * stats may be NULL.  See the header comment for errors. */
ds_err ds_stream_run(const ds_file *f, const ds_extent *ext, size_t next,
                     const ds_stream_opts *opts, ds_chunk_cb cb, void *ctx,
                     ds_stream_stats *stats, ds_errbuf *eb);

/* "auto", "uring", "mmap", "pread". */
const char *ds_io_backend_name(ds_io_backend b);
/* Parse a name as above; DS_ERR_ARG when unknown. */
ds_err ds_io_backend_parse(const char *name, ds_io_backend *out);

#endif
