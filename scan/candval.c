/* candval.c - validate scan candidates into records (see candval.h).
 *
 * validate_cand() is the one place a candidate becomes a record: a tag
 * hit locates its body through the pool and object headers, a structure
 * hit is a body already; both then go through validate.h.  A structure
 * hit on the body of an accepted tag hit copies that record and changes
 * only what differs between the two (reuse_*): validation is a pure
 * function of body PA and VA, so the copy is what validating would give.
 * The batch runner (one chunk, on its worker) finds those tag records by
 * a sorted key array of the batch; the all-at-once runner validates tag
 * hits in a first pass and structure hits in a second, on the pool. */
#include "candval.h"

#include <stdlib.h>
#include <string.h>

#include "../io/file.h"
#include "../src/dumpfmt.h"
#include "../src/grow.h"

/* ---- one candidate -------------------------------------------------------- */

static uint64_t cand_va(const ds_p2v *m, const cand *c)
{
    uint64_t va = ds_p2v_lookup(m, c->pa);
    if (va == DS_P2V_NONE)
        va = c->va_hint;
    return va == DS_P2V_NONE ? DS_NO_VALUE : va;
}

/* Body physical address of body_va, or of pool_pa+off inside the page. */
static uint64_t body_pa_of(const ds_vctx *vc, uint64_t pool_pa, uint64_t body_va, uint64_t off)
{
    if (body_va != DS_NO_VALUE) {
        ds_xlat x;
        if (vc->d->kvas.mode != DS_PAGING_NONE && ds_vtop(&vc->d->kvas, body_va, &x) == DS_OK)
            return x.pa;
    }
    uint64_t pa = pool_pa + off;
    return (pa >> DS_PAGE_SHIFT) == (pool_pa >> DS_PAGE_SHIFT) ? pa : DS_NO_VALUE;
}

/* Validate c into *po (process candidates) or *pt (thread candidates);
 * a rejected candidate gets score -1. */
static void validate_cand(const ds_vctx *vc, const ds_p2v *m, const cand *c, ds_proc *po,
                          ds_thread *pt)
{
    bool is_proc = cand_is_proc(c->kind);
    bool tagged = cand_is_tagged(c->kind);
    uint64_t va = cand_va(m, c);
    uint64_t body_pa = c->pa, body_va = va, pool_pa = DS_NO_VALUE;
    ds_pool_obj pobj = {0};
    if (tagged) {
        if (!ds_pool_locate(vc, c->pa, va, is_proc, &pobj))
            goto reject;
        pool_pa = c->pa;
        body_va = va == DS_NO_VALUE ? DS_NO_VALUE : va + pobj.body_off;
        body_pa = body_pa_of(vc, c->pa, body_va, pobj.body_off);
        if (body_pa == DS_NO_VALUE)
            goto reject;
    }
    if (is_proc) {
        ds_validate_process(vc, body_pa, body_va, po);
        po->pool_pa = pool_pa;
        po->sources = tagged ? DS_VIEW_POOL : DS_VIEW_STRUCT;
        po->pool_free = pobj.free_chunk;
        if (tagged && !pobj.pool_ok)
            po->failed |= DS_CHK_POOL_HEADER;
        po->score = ds_score_from_failed(po->failed);
        return;
    }
    ds_validate_thread(vc, body_pa, body_va, pt);
    pt->pool_pa = pool_pa;
    pt->sources = tagged ? DS_VIEW_POOL : DS_VIEW_STRUCT;
    pt->pool_free = pobj.free_chunk;
    return;
reject:
    if (is_proc)
        po->score = -1;
    else
        pt->score = -1;
}

/* The structure hit's record made from the tag hit's on the same body
 * (validate_cand differs only in the pool fields and the pool-header
 * check). */
static void reuse_proc(ds_proc *o, const ds_proc *tagged)
{
    *o = *tagged;
    /* (a located tag hit has a sound pool header today; should that
     * change, the structure hit still must not inherit its failure) */
    o->failed &= ~(uint32_t)DS_CHK_POOL_HEADER;
    o->score = ds_score_from_failed(o->failed);
    o->pool_pa = DS_NO_VALUE;
    o->sources = DS_VIEW_STRUCT;
    o->pool_free = false;
}

static void reuse_thread(ds_thread *o, const ds_thread *tagged)
{
    *o = *tagged;
    o->pool_pa = DS_NO_VALUE;
    o->sources = DS_VIEW_STRUCT;
    o->pool_free = false;
}

/* An accepted tag hit's body: pa, va, and where its record is. */
typedef struct body_key {
    uint64_t pa, va;
    size_t idx;
    bool is_proc;
} body_key;

static int cmp_body_key(const void *a, const void *b)
{
    const body_key *x = a, *y = b;
    if (x->pa != y->pa)
        return x->pa < y->pa ? -1 : 1;
    return x->va < y->va ? -1 : x->va > y->va;
}

static const body_key *find_body(const body_key *keys, size_t nkeys, const ds_p2v *m,
                                 const cand *c)
{
    body_key k = {c->pa, cand_va(m, c), 0, false};
    const body_key *hit = bsearch(&k, keys, nkeys, sizeof(k), cmp_body_key);
    return hit && hit->is_proc == cand_is_proc(c->kind) ? hit : NULL;
}

/* ---- one batch, on the calling thread -------------------------------------- */

static void keep_proc(ds_cand_recs *out, const ds_proc *o)
{
    if (o->score < 0)
        return;
    if (!ds_reserve((void **)&out->procs, &out->cap_procs, out->nprocs, sizeof(*o))) {
        out->nomem = true;
        return;
    }
    out->procs[out->nprocs++] = *o;
}

static void keep_thread(ds_cand_recs *out, const ds_thread *o)
{
    if (o->score < 0)
        return;
    if (!ds_reserve((void **)&out->threads, &out->cap_threads, out->nthreads, sizeof(*o))) {
        out->nomem = true;
        return;
    }
    out->threads[out->nthreads++] = *o;
}

/* Keys of the records [p0, nprocs) and [t0, nthreads) of out, sorted. */
static body_key *batch_keys(const ds_cand_recs *out, size_t p0, size_t t0, size_t *nkeys)
{
    size_t n = (out->nprocs - p0) + (out->nthreads - t0);
    body_key *k = malloc((n ? n : 1) * sizeof(*k));
    if (!k)
        return NULL;
    size_t m = 0;
    for (size_t i = p0; i < out->nprocs; i++)
        k[m++] = (body_key){out->procs[i].eprocess_pa, out->procs[i].eprocess_va, i, true};
    for (size_t i = t0; i < out->nthreads; i++)
        k[m++] = (body_key){out->threads[i].ethread_pa, out->threads[i].ethread_va, i, false};
    qsort(k, m, sizeof(*k), cmp_body_key);
    *nkeys = m;
    return k;
}

/* ---- no-wait validation (cold streams) -------------------------------------- */

static void defer(ds_cand_recs *out, const cand *c, unsigned tries)
{
    if (!ds_reserve((void **)&out->deferred, &out->cap_deferred, out->ndeferred,
                    sizeof(*out->deferred))) {
        out->nomem = true;
        return;
    }
    out->deferred[out->ndeferred++] = (deferred_cand){*c, tries};
}

/* validate_cand with no-wait reads when out->nowait and tries are left;
 * false (nothing kept) when a read missed the page cache. */
static bool validate_now(const ds_vctx *vc, const ds_p2v *m, const cand *c, bool nowait,
                         ds_proc *po, ds_thread *pt)
{
    memset(po, 0, sizeof(*po));
    memset(pt, 0, sizeof(*pt));
    if (!nowait) {
        validate_cand(vc, m, c, po, pt);
        return true;
    }
    ds_file_nowait_begin();
    validate_cand(vc, m, c, po, pt);
    return ds_file_nowait_end() == 0;
}

/* Validate c into out (kept when accepted) or, on a miss, defer it. */
static void validate_into(const ds_vctx *vc, const ds_p2v *m, const cand *c, unsigned tries,
                          ds_cand_recs *out)
{
    ds_proc po;
    ds_thread pt;
    bool nowait = out->nowait && tries < DS_CAND_MAX_TRIES;
    if (!validate_now(vc, m, c, nowait, &po, &pt)) {
        out->deferrals += tries == 0;
        defer(out, c, tries + 1);
    } else if (cand_is_proc(c->kind)) {
        keep_proc(out, &po);
    } else {
        keep_thread(out, &pt);
    }
}

void ds_cand_retry_deferred(const ds_vctx *vc, const ds_p2v *m, ds_cand_recs *out, bool wait)
{
    size_t n = out->ndeferred;
    out->ndeferred = 0; /* validate_into appends what misses again */
    for (size_t i = 0; i < n; i++) {
        deferred_cand d = out->deferred[i]; /* (appends land at slots <= i) */
        validate_into(vc, m, &d.c, wait ? DS_CAND_MAX_TRIES : d.tries, out);
    }
}

void ds_cand_validate_batch(const ds_vctx *vc, const ds_p2v *m, const cand *c, size_t n,
                            ds_cand_recs *out)
{
    size_t p0 = out->nprocs, t0 = out->nthreads, nstruct = 0;
    for (size_t i = 0; i < n; i++) {
        if (!cand_is_tagged(c[i].kind)) {
            nstruct += c[i].kind == CAND_PROC_STRUCT || c[i].kind == CAND_THREAD_STRUCT;
            continue;
        }
        validate_into(vc, m, &c[i], 0, out);
    }
    if (nstruct == 0)
        return;
    size_t nkeys = 0;
    body_key *keys = batch_keys(out, p0, t0, &nkeys); /* NULL: no reuse, same records */
    for (size_t i = 0; i < n; i++) {
        if (c[i].kind != CAND_PROC_STRUCT && c[i].kind != CAND_THREAD_STRUCT)
            continue;
        const body_key *hit = keys ? find_body(keys, nkeys, m, &c[i]) : NULL;
        if (!hit) {
            validate_into(vc, m, &c[i], 0, out);
        } else if (hit->is_proc) {
            ds_proc po;
            reuse_proc(&po, &out->procs[hit->idx]);
            keep_proc(out, &po);
        } else {
            ds_thread pt;
            reuse_thread(&pt, &out->threads[hit->idx]);
            keep_thread(out, &pt);
        }
    }
    free(keys);
}

void ds_cand_recs_free(ds_cand_recs *r)
{
    free(r->procs);
    free(r->threads);
    free(r->deferred);
    memset(r, 0, sizeof(*r));
}

/* ---- every candidate, on the pool ------------------------------------------ */

typedef struct vjob {
    const ds_vctx *vc;
    const ds_p2v *p2v;
    const cand *c;     /* the slice */
    size_t first, n;   /* global index of c[0], slice length */
    size_t nproc;
    ds_proc *procs;
    ds_thread *threads;
    int pass;          /* 1: tag hits only; 2: structure hits only */
    const body_key *keys; /* pass 2: the tag hits' bodies, sorted */
    size_t nkeys;
} vjob;

static void validate_job(void *arg, unsigned worker)
{
    (void)worker;
    vjob *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        const cand *c = &j->c[i];
        if (cand_is_tagged(c->kind) != (j->pass == 1))
            continue;
        size_t g = j->first + i;
        ds_proc *po = cand_is_proc(c->kind) ? &j->procs[g] : NULL;
        ds_thread *pt = po ? NULL : &j->threads[g - j->nproc];
        const body_key *hit = j->pass == 2 ? find_body(j->keys, j->nkeys, j->p2v, c) : NULL;
        if (hit && po)
            reuse_proc(po, &j->procs[hit->idx]);
        else if (hit)
            reuse_thread(pt, &j->threads[hit->idx - j->nproc]);
        else
            validate_cand(j->vc, j->p2v, c, po, pt);
    }
}

/* The bodies of the accepted tag hits, sorted for pass 2. */
static body_key *tagged_bodies(const cand *c, size_t n, size_t nproc, const ds_proc *procs,
                               const ds_thread *threads, size_t *nkeys)
{
    body_key *k = malloc((n ? n : 1) * sizeof(*k));
    size_t m = 0;
    for (size_t i = 0; k && i < n; i++) {
        if (!cand_is_tagged(c[i].kind))
            continue;
        if (i < nproc && procs[i].score >= 0)
            k[m++] = (body_key){procs[i].eprocess_pa, procs[i].eprocess_va, i, true};
        else if (i >= nproc && threads[i - nproc].score >= 0)
            k[m++] = (body_key){threads[i - nproc].ethread_pa, threads[i - nproc].ethread_va, i,
                                false};
    }
    if (k)
        qsort(k, m, sizeof(*k), cmp_body_key);
    *nkeys = m;
    return k;
}

ds_err ds_cand_validate_all(const ds_vctx *vc, const ds_p2v *m, const cand *c, size_t n,
                            size_t nproc, ds_pool *pool, ds_proc *procs, ds_thread *threads)
{
    size_t slices = ds_pool_threads(pool) * 4;
    size_t per = (n + slices - 1) / (slices ? slices : 1);
    if (per < 256)
        per = 256;
    size_t njobs = (n + per - 1) / per;
    vjob *jobs = calloc(njobs ? njobs : 1, sizeof(*jobs));
    if (!jobs)
        return DS_ERR_NOMEM;
    body_key *keys = NULL;
    size_t nkeys = 0;
    for (int pass = 1; pass <= 2; pass++) {
        if (pass == 2 && !(keys = tagged_bodies(c, n, nproc, procs, threads, &nkeys))) {
            free(jobs);
            return DS_ERR_NOMEM;
        }
        ds_pool_group g;
        ds_pool_group_init(&g, pool);
        for (size_t j = 0; j < njobs; j++) {
            size_t lo = j * per, hi = lo + per < n ? lo + per : n;
            jobs[j] = (vjob){vc, m, c + lo, lo, hi - lo, nproc, procs, threads, pass, keys, nkeys};
            if (ds_pool_submit(&g, validate_job, &jobs[j]) != DS_OK)
                validate_job(&jobs[j], 0);
        }
        ds_pool_wait(&g);
    }
    free(keys);
    free(jobs);
    return DS_OK;
}
