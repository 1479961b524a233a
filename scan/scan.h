/* scan.h - find every process and thread object in a dump.
 *
 * ds_scan() runs the phases below and returns one ds_proc per process
 * object and one ds_thread per thread object (records.h):
 *   1. stream   every present physical page is read once, in file order,
 *               through io/stream.c (io_uring, mmap or pread) and handed in
 *               chunks to worker threads, which search each pool-aligned
 *               slot for the process/thread pool tags (SIMD, tagscan.h) and
 *               for the dispatcher-header pattern of the bodies themselves
 *               (tags can be wiped).  Hits are cheap-filtered in the page.
 *   2. p2v      one walk of the kernel page tables gives the kernel virtual
 *               address of every page that holds a hit (needed for the
 *               Windows 10 TypeIndex cookie and to read objects that
 *               straddle a page boundary through translation).
 *   3. validate each candidate is checked (validate.c) and scored; tag and
 *               structure hits of the same object merge into one record.
 *   4. xview    the kernel's own views (active process list walked both
 *               ways, thread lists, PspCidTable, session lists) are built
 *               and compared with the scan (xview.c): verdicts.  Their
 *               anchors come from the dump, else from the System process
 *               and the kernel image (anchors.c); when the type keys had
 *               to be learnt that way, phase 3 runs again with them.
 *   5. drivers  PsLoadedModuleList against the loader entries ("MmLd")
 *               and DRIVER_OBJECTs ("Driv") the tag scan found, and
 *               MmUnloadedDrivers (drivers.c).
 * Memory stays bounded: candidates are capped (DS_SCAN_MAX_CANDIDATES) and
 * the cap is reported in the stats; the stream holds a fixed number of
 * buffers. */
#ifndef DS_SCAN_SCAN_H
#define DS_SCAN_SCAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/dump.h"
#include "details.h"
#include "drivers.h"
#include "records.h"

/* 1 Mi candidates: about 5x the objects of a busy 64 GiB server (tag and
 * structure hits of ~100k threads), and at most ~170 MiB of candidate
 * and result slots when a hostile dump is full of tags. */
#define DS_SCAN_MAX_CANDIDATES (1u << 20)
#define DS_SCAN_DEFAULT_MIN_SCORE 60

struct ds_pool;

/* Reads that do not wait for the disk, for a dump not in the page cache:
 * in-stream validation puts off a candidate whose reads miss until its
 * pages have come (scan/candval.h), and the details are asked for a page
 * level at a time for every process before they are read (details.h). */
typedef enum ds_scan_nowait {
    DS_SCAN_NOWAIT_AUTO = 0, /* when the stream reads with O_DIRECT (cold) */
    DS_SCAN_NOWAIT_ON,       /* always (tests) */
    DS_SCAN_NOWAIT_OFF,      /* never: every read waits */
} ds_scan_nowait;

typedef struct ds_scan_opts {
    int io_backend;          /* ds_io_backend (io/stream.h); 0 = auto */
    bool odirect;            /* O_DIRECT reads for cold data (uring) */
    unsigned threads;        /* 0 = all online CPUs (ignored if pool given) */
    struct ds_pool *pool;    /* shared worker pool, or NULL for a private one */
    size_t chunk_bytes;      /* 0 = automatic (4 MiB, less with many threads) */
    size_t inflight_bytes;   /* stream memory in flight; 0 = default (32 MiB,
                                io/stream.h DS_STREAM_DEFAULT_INFLIGHT) */
    int min_score;           /* report objects scoring >= this (0..100) */
    bool no_struct_scan;     /* tag scan only */
    bool struct_all_pages;   /* structure scan on every page, not only
                                kernel-mapped ones */
    bool no_xview;           /* skip cross-view (phase 4) */
    bool no_drivers;         /* skip the driver view (no MmLd/Driv tags) */
    bool validate_after_stream; /* validate every candidate after the stream
                                   instead of per chunk during it (same
                                   records; for tests and comparisons) */
    size_t early_max_pages;  /* most kernel-mapped pages for validating in
                                the stream; 0 = default (512 Ki) */
    int nowait_reads;        /* ds_scan_nowait: validation reads outside the
                                chunk and details (see above) */
    const atomic_bool *cancel; /* when set, the scan stops at the next chunk
                                  or phase and returns DS_ERR_CANCELLED */
    _Atomic uint64_t *progress_bytes; /* bytes scanned so far, added per chunk
                                         as workers finish it (NULL: none) */
} ds_scan_opts;

typedef struct ds_scan_stats {
    uint64_t bytes_scanned;
    uint64_t pages_scanned;
    uint64_t tag_hits;
    uint64_t struct_hits;
    uint64_t candidates;
    uint64_t rejected;
    bool candidates_capped;
    bool validated_in_stream; /* candidates were validated per chunk by the
                                 workers during the stream (scan.c) */
    uint64_t deferred;       /* of those, put off at least once because a
                                no-wait read missed the page cache */
    uint64_t deferred_at_end; /* still put off when the stream ended */
    uint64_t ns_stream, ns_p2v, ns_validate, ns_xview, ns_total;
    char io_backend[16];     /* backend actually used */
    char io_fallback[200];   /* why auto fell back, "" if it did not */
    /* cross-view facts */
    uint32_t list_entries;   /* processes reached from PsActiveProcessHead */
    bool list_complete;      /* forward walk returned to the head */
    uint32_t list_status;    /* ds_list_status */
    bool xview_bounded;      /* a cross-view walk stopped at its work bound */
    bool xview_skipped;      /* the cross-view did not run (no_xview) */
    uint32_t cid_entries;    /* objects decoded from PspCidTable */
    /* anchors of the kernel views (VAs, 0 unknown) and their ds_source */
    uint64_t active_head, cid_table_ptr, module_list;
    ds_source active_head_src, cid_table_src, module_list_src;
} ds_scan_stats;

typedef struct ds_scan_result {
    ds_proc *procs;
    size_t nprocs;
    ds_thread *threads;
    size_t nthreads;
    ds_driver_set drivers;   /* loaded, hidden and unloaded drivers (drivers.h) */
    ds_proc_detail *details; /* per procs[i]: handles, image path, command line
                                (details.h); NULL when not gathered */
    ds_scan_stats stats;
} ds_scan_result;

void ds_scan_opts_default(ds_scan_opts *o);
ds_err ds_scan(const ds_dump *d, const ds_scan_opts *o, ds_scan_result *r, ds_errbuf *eb);
void ds_scan_result_free(ds_scan_result *r);

#endif
