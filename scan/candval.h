/* candval.h - from scan candidates to validated process and thread
 * records (internal to scan/; scan.c is its only user).
 *
 * A candidate is what the stream found: a pool tag ("Proc", "Thre", ...)
 * at a pool header, or a dispatcher header that passed the structure test
 * at an object body.  Validation (validate.h) is a pure function of the
 * body's physical address and kernel VA, so a structure hit on a body a
 * tag hit already validated takes that record instead of reading it all
 * again.  Two ways to run it, with the same records as result:
 *   - ds_cand_validate_batch: the candidates of one chunk, on the worker
 *     that found them, while the stream goes on (the VAs come from a
 *     page map made before the stream);
 *   - ds_cand_validate_all: every candidate after the stream, in slices
 *     on the pool (when no such page map could be made, and when the
 *     scan learns new type keys and must validate again).
 * When the stream reads a cold dump with O_DIRECT, the batch runner's
 * reads outside the chunk would each wait for the disk behind the
 * stream's queue; it validates with no-wait reads instead and puts off
 * the candidates that missed, to try after the worker's next chunk, when
 * the pages they asked for have come (ds_cand_retry_deferred). */
#ifndef DS_SCAN_CANDVAL_H
#define DS_SCAN_CANDVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../io/pool.h"
#include "p2v.h"
#include "records.h"
#include "validate.h"

enum cand_kind {
    CAND_PROC_TAG, CAND_THREAD_TAG, CAND_PROC_STRUCT, CAND_THREAD_STRUCT,
    CAND_LDR_TAG,  /* "MmLd": a loader entry (drivers.c) */
    CAND_DRV_TAG,  /* "Driv": a DRIVER_OBJECT (drivers.c) */
};

typedef struct cand {
    uint64_t pa;       /* pool header (tag hits) or body (structure hits) */
    uint64_t va_hint;  /* VA from a self-pointing WaitListHead, or DS_NO_VALUE */
    uint8_t kind;
} cand;

static inline bool cand_is_proc(uint8_t kind)
{
    return kind == CAND_PROC_TAG || kind == CAND_PROC_STRUCT;
}

static inline bool cand_is_tagged(uint8_t kind)
{
    return kind == CAND_PROC_TAG || kind == CAND_THREAD_TAG;
}

/* A candidate put off because its validation missed the page cache. */
typedef struct deferred_cand {
    cand c;
    unsigned tries;    /* no-wait validations so far */
} deferred_cand;

/* No-wait tries of one candidate before it is validated waiting for the
 * disk: each try reaches one read deeper (a pointer followed to a page
 * the last try asked for), and validation follows few. */
#define DS_CAND_MAX_TRIES 6

/* Accepted records (score >= 0), grown as needed, and with no-wait reads
 * (cold streams) the candidates put off. */
typedef struct ds_cand_recs {
    ds_proc *procs;
    size_t nprocs, cap_procs;
    ds_thread *threads;
    size_t nthreads, cap_threads;
    bool nomem;        /* a record was dropped for want of memory */
    bool nowait;       /* validate with no-wait reads (file.h) */
    deferred_cand *deferred;
    size_t ndeferred, cap_deferred;
    uint64_t deferrals; /* candidates put off at least once */
} ds_cand_recs;

/* Validate c[0, n) (process and thread candidates; driver hits are
 * skipped) and append the accepted records to out.  With out->nowait a
 * candidate whose reads missed the page cache goes to out->deferred
 * instead (its pages are on their way). */
void ds_cand_validate_batch(const ds_vctx *vc, const ds_p2v *m, const cand *c, size_t n,
                            ds_cand_recs *out);

/* Validate out->deferred again: without waiting while a candidate has
 * tries left and wait is false (those that miss again stay), else
 * waiting for the disk (the list ends empty). */
void ds_cand_retry_deferred(const ds_vctx *vc, const ds_p2v *m, ds_cand_recs *out, bool wait);

/* Validate every candidate on the pool.  c is partitioned: process
 * candidates [0, nproc), thread candidates [nproc, n); candidate g gets
 * its record in procs[g] or threads[g - nproc], score -1 if rejected. */
ds_err ds_cand_validate_all(const ds_vctx *vc, const ds_p2v *m, const cand *c, size_t n,
                            size_t nproc, ds_pool *pool, ds_proc *procs, ds_thread *threads);

void ds_cand_recs_free(ds_cand_recs *r);

#endif
