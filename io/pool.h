/* pool.h - fixed-size worker thread pool with a bounded job queue.
 *
 * A ds_pool owns N pthreads (default: the number of online CPUs) and one
 * ring-buffer queue of jobs.  A job is a function pointer plus an argument;
 * it runs on one worker and receives that worker's index (0..N-1), so a
 * caller can keep per-worker scratch state without locking.
 *
 * Back-pressure: the queue holds at most `queue_cap` jobs.  ds_pool_submit
 * blocks while it is full, so a fast producer (the stream reader) can never
 * queue more work than the consumers absorb, and memory stays bounded.
 *
 * Groups: every job is submitted on behalf of a ds_pool_group, a counter of
 * that group's unfinished jobs.  ds_pool_wait(group) returns once all jobs of
 * that group have finished, independent of other groups.  Several producers
 * (for example one stream per dump in bulk mode) can therefore share one
 * pool and each wait only for its own work.
 *
 * Rules for jobs:
 *  - A job may submit further jobs into the same pool.  When the queue is
 *    full and the submitter is itself a worker of this pool, the new job is
 *    run inline on that worker instead of blocking (blocking there could
 *    deadlock: every worker waiting for queue space that only workers free).
 *  - A job must not call ds_pool_wait on a group whose jobs run on the same
 *    pool (it could wait for a job queued behind itself).
 *
 * All functions are thread-safe.  The library never prints; failures come
 * back as ds_err with a sentence in ds_errbuf. */
#ifndef DS_IO_POOL_H
#define DS_IO_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "../src/dserr.h"

typedef struct ds_pool ds_pool;

/* A job: runs fn(arg, worker_index) on one worker thread. */
typedef void (*ds_job_fn)(void *arg, unsigned worker);

/* Counter of one producer's unfinished jobs.  Initialise with
 * ds_pool_group_init; it lives wherever the producer likes (stack is fine)
 * but must outlive its jobs (call ds_pool_wait before it goes away). */
typedef struct ds_pool_group {
    ds_pool *pool;
    size_t pending;   /* jobs submitted and not yet finished (pool lock) */
    uint64_t done;    /* jobs finished since init (pool lock) */
} ds_pool_group;

/* Upper bounds that keep a hostile or mistaken argument from allocating
 * without limit. */
#define DS_POOL_MAX_THREADS 1024u
#define DS_POOL_MAX_QUEUE (1u << 20)

/* Number of online CPUs (at least 1). */
unsigned ds_pool_default_threads(void);

/* Create a pool.  nthreads 0 = ds_pool_default_threads(); queue_cap 0 =
 * 4 * nthreads.  Both are clamped to the DS_POOL_MAX_* bounds. */
ds_err ds_pool_create(ds_pool **out, unsigned nthreads, size_t queue_cap, ds_errbuf *eb);

/* Run every queued job, stop the workers and free the pool.  No producer
 * may submit concurrently with or after destroy.  NULL-safe. */
void ds_pool_destroy(ds_pool *p);

unsigned ds_pool_threads(const ds_pool *p);

/* Index of the calling thread among p's workers, or -1 when the caller is
 * not one of them. */
int ds_pool_self_worker(const ds_pool *p);

void ds_pool_group_init(ds_pool_group *g, ds_pool *p);

/* Queue fn(arg) on g's pool, blocking while the queue is full.
 * DS_ERR_ARG if g was not initialised or the pool is shutting down. */
ds_err ds_pool_submit(ds_pool_group *g, ds_job_fn fn, void *arg);

/* Block until every job submitted through g has finished. */
void ds_pool_wait(ds_pool_group *g);

/* Snapshot of g's unfinished job count. */
size_t ds_pool_pending(ds_pool_group *g);

#endif
