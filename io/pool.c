/* pool.c - fixed-size pthread pool with a bounded ring queue; see pool.h.
 *
 * One mutex guards the queue and every group counter.  Three condition
 * variables: `have_job` wakes idle workers, `have_room` wakes producers
 * blocked on a full queue, `group_done` wakes ds_pool_wait callers (shared
 * by all groups; a woken waiter re-checks its own counter).  Jobs run with
 * the lock released.  A thread-local pointer records which pool, if any,
 * the current thread works for, so a job submitting into its own full pool
 * runs the new job inline instead of deadlocking. */

#include "pool.h"
#include "cpus.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct pool_job {
    ds_job_fn fn;
    void *arg;
    ds_pool_group *group;
} pool_job;

struct ds_pool {
    pthread_mutex_t lock;
    pthread_cond_t have_job;
    pthread_cond_t have_room;
    pthread_cond_t group_done;
    pool_job *ring;       /* queue_cap slots */
    size_t cap, head, count;
    bool stopping;
    unsigned nthreads;    /* threads actually started */
    pthread_t *threads;
};

/* Identity of the current thread when it is a pool worker. */
static __thread const ds_pool *tls_pool;
static __thread unsigned tls_worker;

typedef struct worker_start {
    ds_pool *pool;
    unsigned index;
} worker_start;

unsigned ds_pool_default_threads(void)
{
    unsigned n = ds_usable_cpus(); /* affinity mask and cgroup quota, not every online CPU */
    return n > DS_POOL_MAX_THREADS ? DS_POOL_MAX_THREADS : n;
}

/* Mark one job of g finished; wakes waiters when the group drains.
 * Caller holds p->lock. */
static void finish_job_locked(ds_pool *p, ds_pool_group *g)
{
    g->pending--;
    g->done++;
    if (g->pending == 0)
        pthread_cond_broadcast(&p->group_done);
}

static void run_job(ds_pool *p, pool_job job, unsigned worker)
{
    job.fn(job.arg, worker);
    pthread_mutex_lock(&p->lock);
    finish_job_locked(p, job.group);
    pthread_mutex_unlock(&p->lock);
}

/* Worker loop: take jobs until the pool stops and the queue is empty. */
static void *worker_main(void *argp)
{
    worker_start ws = *(worker_start *)argp;
    free(argp);
    ds_pool *p = ws.pool;
    tls_pool = p;
    tls_worker = ws.index;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->count == 0 && !p->stopping)
            pthread_cond_wait(&p->have_job, &p->lock);
        if (p->count == 0)
            break; /* stopping and drained */
        pool_job job = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->count--;
        pthread_cond_signal(&p->have_room);
        pthread_mutex_unlock(&p->lock);
        job.fn(job.arg, ws.index);
        pthread_mutex_lock(&p->lock);
        finish_job_locked(p, job.group);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static unsigned clamp_threads(unsigned n)
{
    if (n == 0)
        n = ds_pool_default_threads();
    return n > DS_POOL_MAX_THREADS ? DS_POOL_MAX_THREADS : n;
}

static size_t clamp_queue(size_t cap, unsigned nthreads)
{
    if (cap == 0)
        cap = 4 * (size_t)nthreads;
    return cap > DS_POOL_MAX_QUEUE ? DS_POOL_MAX_QUEUE : cap;
}

/* Start the workers; on failure stop the ones already started. */
static ds_err start_workers(ds_pool *p, unsigned want, ds_errbuf *eb)
{
    for (unsigned i = 0; i < want; i++) {
        worker_start *ws = malloc(sizeof(*ws));
        if (!ws)
            return ds_fail(eb, DS_ERR_NOMEM, "pool: out of memory starting worker %u", i);
        ws->pool = p;
        ws->index = i;
        int rc = pthread_create(&p->threads[i], NULL, worker_main, ws);
        if (rc != 0) {
            free(ws);
            return ds_fail(eb, DS_ERR_NOMEM, "pool: pthread_create: %s", strerror(rc));
        }
        p->nthreads = i + 1;
    }
    return DS_OK;
}

ds_err ds_pool_create(ds_pool **out, unsigned nthreads, size_t queue_cap, ds_errbuf *eb)
{
    *out = NULL;
    unsigned want = clamp_threads(nthreads);
    ds_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return ds_fail(eb, DS_ERR_NOMEM, "pool: out of memory");
    p->cap = clamp_queue(queue_cap, want);
    p->ring = calloc(p->cap, sizeof(*p->ring));
    p->threads = calloc(want, sizeof(*p->threads));
    if (!p->ring || !p->threads) {
        free(p->ring);
        free(p->threads);
        free(p);
        return ds_fail(eb, DS_ERR_NOMEM, "pool: out of memory");
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->have_job, NULL);
    pthread_cond_init(&p->have_room, NULL);
    pthread_cond_init(&p->group_done, NULL);
    ds_err e = start_workers(p, want, eb);
    if (e != DS_OK) {
        ds_pool_destroy(p);
        return e;
    }
    *out = p;
    return DS_OK;
}

void ds_pool_destroy(ds_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->have_job);
    pthread_cond_broadcast(&p->have_room);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->have_job);
    pthread_cond_destroy(&p->have_room);
    pthread_cond_destroy(&p->group_done);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p->ring);
    free(p);
}

unsigned ds_pool_threads(const ds_pool *p)
{
    return p ? p->nthreads : 0;
}

int ds_pool_self_worker(const ds_pool *p)
{
    return (p && tls_pool == p) ? (int)tls_worker : -1;
}

void ds_pool_group_init(ds_pool_group *g, ds_pool *p)
{
    g->pool = p;
    g->pending = 0;
    g->done = 0;
}

ds_err ds_pool_submit(ds_pool_group *g, ds_job_fn fn, void *arg)
{
    ds_pool *p = g ? g->pool : NULL;
    if (!p || !fn)
        return DS_ERR_ARG;
    bool from_worker = tls_pool == p;

    pthread_mutex_lock(&p->lock);
    while (p->count == p->cap && !p->stopping && !from_worker)
        pthread_cond_wait(&p->have_room, &p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return DS_ERR_ARG;
    }
    g->pending++;
    if (p->count == p->cap) {
        /* A worker feeding its own full pool: run the job here (see pool.h). */
        pthread_mutex_unlock(&p->lock);
        run_job(p, (pool_job){fn, arg, g}, tls_worker);
        return DS_OK;
    }
    p->ring[(p->head + p->count) % p->cap] = (pool_job){fn, arg, g};
    p->count++;
    pthread_cond_signal(&p->have_job);
    pthread_mutex_unlock(&p->lock);
    return DS_OK;
}

void ds_pool_wait(ds_pool_group *g)
{
    ds_pool *p = g ? g->pool : NULL;
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    while (g->pending != 0)
        pthread_cond_wait(&p->group_done, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

size_t ds_pool_pending(ds_pool_group *g)
{
    ds_pool *p = g ? g->pool : NULL;
    if (!p)
        return 0;
    pthread_mutex_lock(&p->lock);
    size_t n = g->pending;
    pthread_mutex_unlock(&p->lock);
    return n;
}
