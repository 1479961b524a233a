/* test_pool.c - the worker pool: every job runs exactly once on a valid
 * worker, ds_pool_wait waits for its own group only, a full queue blocks
 * the producer (back-pressure), a job feeding its own full pool does not
 * deadlock, and destroy runs what is still queued. */

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "pool.h"
#include "cpus.h"

/* ---- many jobs, worker indexes ------------------------------------------ */

typedef struct count_ctx {
    atomic_uint runs[20000];
    atomic_uint per_worker[8];
    atomic_int bad_worker;
    unsigned nthreads;
} count_ctx;

typedef struct count_arg {
    count_ctx *ctx;
    unsigned id;
} count_arg;

static void count_job(void *argp, unsigned worker)
{
    count_arg *a = argp;
    atomic_fetch_add(&a->ctx->runs[a->id], 1);
    if (worker >= a->ctx->nthreads)
        atomic_store(&a->ctx->bad_worker, 1);
    else
        atomic_fetch_add(&a->ctx->per_worker[worker], 1);
}

static void test_many_jobs(void **state)
{
    (void)state;
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 4, 8, NULL), DS_OK);
    assert_int_equal(ds_pool_threads(p), 4);
    count_ctx *ctx = calloc(1, sizeof(*ctx));
    count_arg *args = calloc(20000, sizeof(*args));
    assert_non_null(ctx);
    assert_non_null(args);
    ctx->nthreads = 4;
    ds_pool_group g;
    ds_pool_group_init(&g, p);
    for (unsigned i = 0; i < 20000; i++) {
        args[i] = (count_arg){ctx, i};
        assert_int_equal(ds_pool_submit(&g, count_job, &args[i]), DS_OK);
    }
    ds_pool_wait(&g);
    assert_int_equal(ds_pool_pending(&g), 0);
    assert_int_equal(g.done, 20000);
    unsigned sum = 0;
    for (unsigned i = 0; i < 20000; i++)
        assert_int_equal(atomic_load(&ctx->runs[i]), 1);
    for (unsigned w = 0; w < 4; w++)
        sum += atomic_load(&ctx->per_worker[w]);
    assert_int_equal(sum, 20000);
    assert_int_equal(atomic_load(&ctx->bad_worker), 0);
    assert_int_equal(ds_pool_self_worker(p), -1);
    ds_pool_destroy(p);
    free(args);
    free(ctx);
}

/* ---- gate: a job that blocks until the test opens it --------------------- */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    atomic_int entered;
    atomic_int finished;
} gate;

static void gate_init(gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
    atomic_init(&g->entered, 0);
    atomic_init(&g->finished, 0);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_job(void *argp, unsigned worker)
{
    (void)worker;
    gate *g = argp;
    atomic_fetch_add(&g->entered, 1);
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    atomic_fetch_add(&g->finished, 1);
}

static void inc_job(void *argp, unsigned worker)
{
    (void)worker;
    atomic_fetch_add((atomic_int *)argp, 1);
}

/* Group B's wait returns while group A still has a job blocked. */
static void test_groups_independent(void **state)
{
    (void)state;
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 3, 0, NULL), DS_OK);
    gate gt;
    gate_init(&gt);
    ds_pool_group a, b;
    ds_pool_group_init(&a, p);
    ds_pool_group_init(&b, p);
    assert_int_equal(ds_pool_submit(&a, gate_job, &gt), DS_OK);
    atomic_int nb = 0;
    for (int i = 0; i < 500; i++)
        assert_int_equal(ds_pool_submit(&b, inc_job, &nb), DS_OK);
    ds_pool_wait(&b);
    assert_int_equal(atomic_load(&nb), 500);
    assert_int_equal(ds_pool_pending(&a), 1);
    assert_int_equal(atomic_load(&gt.finished), 0);
    gate_open(&gt);
    ds_pool_wait(&a);
    assert_int_equal(atomic_load(&gt.finished), 1);
    assert_int_equal(ds_pool_pending(&a), 0);
    ds_pool_destroy(p);
}

/* ---- back-pressure ------------------------------------------------------- */

typedef struct producer {
    ds_pool_group *g;
    atomic_int *counter;
    atomic_int submitted;
    int total;
} producer;

static void *producer_main(void *argp)
{
    producer *pr = argp;
    for (int i = 0; i < pr->total; i++) {
        ds_pool_submit(pr->g, inc_job, pr->counter);
        atomic_fetch_add(&pr->submitted, 1);
    }
    return NULL;
}

/* One worker blocked, queue of 2: a producer can place at most 2 jobs and
 * then must wait, however long we give it. */
static void test_backpressure(void **state)
{
    (void)state;
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 1, 2, NULL), DS_OK);
    gate gt;
    gate_init(&gt);
    ds_pool_group g;
    ds_pool_group_init(&g, p);
    assert_int_equal(ds_pool_submit(&g, gate_job, &gt), DS_OK);
    while (atomic_load(&gt.entered) == 0) /* the worker holds the gate job */
        usleep(1000);
    atomic_int counter = 0;
    producer pr = {.g = &g, .counter = &counter, .total = 10};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, producer_main, &pr), 0);
    usleep(50 * 1000); /* give it every chance to overrun (it must not) */
    assert_true(atomic_load(&pr.submitted) <= 2);
    assert_int_equal(atomic_load(&counter), 0);
    gate_open(&gt);
    pthread_join(th, NULL);
    ds_pool_wait(&g);
    assert_int_equal(atomic_load(&pr.submitted), 10);
    assert_int_equal(atomic_load(&counter), 10);
    ds_pool_destroy(p);
}

/* ---- nested submission into a full pool ------------------------------------ */

typedef struct nest_ctx {
    ds_pool_group *g;
    atomic_int children;
    atomic_int self_ok;
    ds_pool *p;
} nest_ctx;

static void child_job(void *argp, unsigned worker)
{
    nest_ctx *c = argp;
    if (ds_pool_self_worker(c->p) == (int)worker)
        atomic_fetch_add(&c->self_ok, 1);
    atomic_fetch_add(&c->children, 1);
}

static void parent_job(void *argp, unsigned worker)
{
    (void)worker;
    nest_ctx *c = argp;
    for (int i = 0; i < 50; i++)
        ds_pool_submit(c->g, child_job, c);
}

static void test_nested_no_deadlock(void **state)
{
    (void)state;
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 1, 1, NULL), DS_OK);
    ds_pool_group g;
    ds_pool_group_init(&g, p);
    nest_ctx c = {.g = &g, .p = p};
    assert_int_equal(ds_pool_submit(&g, parent_job, &c), DS_OK);
    ds_pool_wait(&g);
    assert_int_equal(atomic_load(&c.children), 50);
    assert_int_equal(atomic_load(&c.self_ok), 50);
    assert_int_equal(g.done, 51);
    ds_pool_destroy(p);
}

/* ---- destroy drains the queue, bad arguments ------------------------------- */

static void test_destroy_drains(void **state)
{
    (void)state;
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 2, 1000, NULL), DS_OK);
    ds_pool_group g;
    ds_pool_group_init(&g, p);
    atomic_int n = 0;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(ds_pool_submit(&g, inc_job, &n), DS_OK);
    ds_pool_destroy(p);
    assert_int_equal(atomic_load(&n), 1000);
}

static void test_defaults_and_args(void **state)
{
    (void)state;
    assert_true(ds_pool_default_threads() >= 1);
    ds_pool *p;
    assert_int_equal(ds_pool_create(&p, 0, 0, NULL), DS_OK);
    assert_int_equal(ds_pool_threads(p), ds_pool_default_threads());
    ds_pool_group g = {0};
    assert_int_equal(ds_pool_submit(&g, inc_job, NULL), DS_ERR_ARG); /* not initialised */
    ds_pool_group_init(&g, p);
    assert_int_equal(ds_pool_submit(&g, NULL, NULL), DS_ERR_ARG);
    ds_pool_wait(&g); /* nothing pending: returns at once */
    ds_pool_destroy(p);
    ds_pool_destroy(NULL);
}

/* ---- usable CPUs (io/cpus.c) ------------------------------------------ */

static void put_file(const char *dir, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *p = path + strlen(dir) + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(path, 0777);
            *p = '/';
        }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cpu_max_parse(void **state)
{
    (void)state;
    assert_int_equal(ds_cpu_max_parse("200000 100000\n"), 2);
    assert_int_equal(ds_cpu_max_parse("150000 100000"), 2); /* 1.5 CPUs: two workers */
    assert_int_equal(ds_cpu_max_parse("100000 100000"), 1);
    assert_int_equal(ds_cpu_max_parse("50000 100000"), 1);
    assert_int_equal(ds_cpu_max_parse("max 100000"), 0);
    assert_int_equal(ds_cpu_max_parse(""), 0);
    assert_int_equal(ds_cpu_max_parse("garbage"), 0);
    assert_int_equal(ds_cpu_max_parse("100 0"), 0);
}

static void test_usable_cpus_cgroups(void **state)
{
    (void)state;
    char root[] = "/tmp/ds_cgroup_XXXXXX";
    assert_non_null(mkdtemp(root));
    /* v2: the job's cgroup allows 4 CPUs, its parent 3: the parent wins */
    put_file(root, "slurm/job_7/cpu.max", "400000 100000\n");
    put_file(root, "slurm/cpu.max", "300000 100000\n");
    assert_int_equal(ds_usable_cpus_from(16, root, "0::/slurm/job_7\n"), 3);
    /* the affinity mask is smaller still */
    assert_int_equal(ds_usable_cpus_from(2, root, "0::/slurm/job_7\n"), 2);
    /* no limit in the hierarchy: the affinity count */
    assert_int_equal(ds_usable_cpus_from(8, root, "0::/other\n"), 8);
    /* v1: cpu,cpuacct controller with quota 250% -> 3 */
    put_file(root, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "250000\n");
    put_file(root, "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    assert_int_equal(ds_usable_cpus_from(64, root, "5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n"), 3);
    /* v1 quota -1: unlimited */
    put_file(root, "cpu,cpuacct/free/cpu.cfs_quota_us", "-1\n");
    put_file(root, "cpu,cpuacct/free/cpu.cfs_period_us", "100000\n");
    assert_int_equal(ds_usable_cpus_from(64, root, "5:cpu,cpuacct:/free\n"), 64);
    /* nothing known at all: one */
    assert_int_equal(ds_usable_cpus_from(0, root, ""), 1);
    /* this process: at least one, never more than online */
    unsigned n = ds_usable_cpus();
    assert_true(n >= 1 && n <= (unsigned)sysconf(_SC_NPROCESSORS_ONLN));
    assert_int_equal(ds_usable_cpus_once(), n); /* remembered: the same, twice */
    assert_int_equal(ds_usable_cpus_once(), n);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_jobs),
        cmocka_unit_test(test_groups_independent),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_nested_no_deadlock),
        cmocka_unit_test(test_destroy_drains),
        cmocka_unit_test(test_defaults_and_args),
        cmocka_unit_test(test_cpu_max_parse),
        cmocka_unit_test(test_usable_cpus_cgroups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
