/* xview.c - cross-view of processes (see xview.h for the views and the
 * verdict rules).
 *
 * Records are found by VA through a small open-addressing hash map; views
 * that reach an object the scan did not report validate it (validate.h)
 * and add it when it scores at least min_score, so a corrupt list cannot
 * inject garbage.  Every walk is bounded by a step limit and a visited
 * set, so a looping or smeared list ends. */
#include "xview.h"

#include <stdlib.h>
#include <string.h>

#include "../src/dumpfmt.h"
#include "../src/grow.h"
#include "handletable.h"

#define STATUS_PENDING 0x103u
#define EP_FLAG_EXITING 0x4u
#define EP_FLAG_DELETE 0x8u
#define MAX_THREADLIST_STEPS (1u << 20) /* over all processes */
#define MAX_SESSION_STEPS (1u << 20)
#define VALIDATE_COST 16u /* work units of one object validation (~16 reads) */

/* ---- u64 -> u32 hash map (open addressing, power-of-two size) ---------- */

typedef struct u64map {
    uint64_t *keys;
    uint32_t *vals;
    size_t cap, n;
} u64map;

#define MAP_EMPTY UINT64_MAX

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return k;
}

static bool map_init(u64map *m, size_t want)
{
    size_t cap = 64;
    while (cap < want * 2)
        cap <<= 1;
    m->keys = malloc(cap * sizeof(*m->keys));
    m->vals = malloc(cap * sizeof(*m->vals));
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->vals)
        return false;
    for (size_t i = 0; i < cap; i++)
        m->keys[i] = MAP_EMPTY;
    return true;
}

static void map_free(u64map *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
}

static bool map_put(u64map *m, uint64_t k, uint32_t v);

static bool map_grow(u64map *m)
{
    u64map bigger;
    if (!map_init(&bigger, m->cap))
        return false;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != MAP_EMPTY)
            map_put(&bigger, m->keys[i], m->vals[i]);
    map_free(m);
    *m = bigger;
    return true;
}

static bool map_put(u64map *m, uint64_t k, uint32_t v)
{
    if (k == MAP_EMPTY)
        return false;
    if ((m->n + 1) * 2 > m->cap && !map_grow(m))
        return false;
    size_t i = mix(k) & (m->cap - 1);
    while (m->keys[i] != MAP_EMPTY && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    if (m->keys[i] == MAP_EMPTY)
        m->n++;
    m->keys[i] = k;
    m->vals[i] = v;
    return true;
}

static bool map_get(const u64map *m, uint64_t k, uint32_t *v)
{
    if (k == MAP_EMPTY || !m->cap)
        return false;
    size_t i = mix(k) & (m->cap - 1);
    while (m->keys[i] != MAP_EMPTY) {
        if (m->keys[i] == k) {
            if (v)
                *v = m->vals[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

/* ---- context ------------------------------------------------------------ */

typedef struct xv {
    const ds_vctx *vc;
    const ds_profile *p;
    ds_scan_result *r;
    int min_score;
    u64map proc_by_va, thread_by_va;
    size_t pcap, tcap;
    bool nomem;
    uint32_t list_status;      /* what the head walks said (list_view) */
    uint64_t work;             /* reads and validations charged so far */
} xv;

/* Every read a view makes is charged; past DS_XVIEW_MAX_WORK every view
 * stops where it is (stats.xview_bounded), so a hostile table or list
 * costs bounded time whatever it claims. */
static bool charge(xv *x, uint64_t units)
{
    if (x->work + units > DS_XVIEW_MAX_WORK) {
        x->r->stats.xview_bounded = true;
        return false;
    }
    x->work += units;
    return true;
}

static bool kptr(const xv *x, uint64_t v)
{
    return ds_vctx_kptr(x->vc, v);
}

static bool rdptr(xv *x, uint64_t va, uint64_t *v)
{
    return charge(x, 1) && ds_kread_ptr(x->vc->d, va, v) == DS_OK;
}

static uint64_t pa_of(const xv *x, uint64_t va)
{
    ds_xlat t;
    if (x->vc->d->kvas.mode == DS_PAGING_NONE || ds_vtop(&x->vc->d->kvas, va, &t) != DS_OK)
        return DS_NO_VALUE;
    return t.pa;
}

/* Process record at va, validating and adding it when the scan missed it.
 * Returns its index or -1. */
static long proc_at_va(xv *x, uint64_t va, uint32_t view)
{
    uint32_t idx;
    if (!kptr(x, va))
        return -1;
    if (map_get(&x->proc_by_va, va, &idx)) {
        x->r->procs[idx].sources |= view;
        return idx;
    }
    ds_proc rec;
    if (!charge(x, VALIDATE_COST) ||
        ds_validate_process(x->vc, pa_of(x, va), va, &rec) < x->min_score)
        return -1;
    if (!ds_reserve((void **)&x->r->procs, &x->pcap, x->r->nprocs, sizeof(rec))) {
        x->nomem = true;
        return -1;
    }
    rec.sources = view;
    rec.tag_wiped = false; /* never looked at its pool header */
    idx = (uint32_t)x->r->nprocs++;
    x->r->procs[idx] = rec;
    map_put(&x->proc_by_va, va, idx);
    return idx;
}

static long thread_at_va(xv *x, uint64_t va, uint32_t view)
{
    uint32_t idx;
    if (!kptr(x, va))
        return -1;
    if (map_get(&x->thread_by_va, va, &idx)) {
        x->r->threads[idx].sources |= view;
        return idx;
    }
    ds_thread rec;
    if (!charge(x, VALIDATE_COST) ||
        ds_validate_thread(x->vc, pa_of(x, va), va, &rec) < x->min_score)
        return -1;
    if (!ds_reserve((void **)&x->r->threads, &x->tcap, x->r->nthreads, sizeof(rec))) {
        x->nomem = true;
        return -1;
    }
    rec.sources = view;
    idx = (uint32_t)x->r->nthreads++;
    x->r->threads[idx] = rec;
    map_put(&x->thread_by_va, va, idx);
    return idx;
}

/* ---- records without a kernel VA --------------------------------------- */

/* Try va as the kernel VA of record o (found physically): it must agree
 * with o's page offset, and map o's page or nothing (the kernel PTE is
 * gone).  When it maps another page that holds the same process, o is a
 * stale copy (score -1, dropped later).  Returns true when settled. */
static bool try_va(xv *x, ds_proc *o, uint64_t va)
{
    if (!kptr(x, va) || ((va ^ o->eprocess_pa) & (DS_PAGE_SIZE - 1)))
        return false;
    uint64_t pa = pa_of(x, va);
    if (pa == o->eprocess_pa) {
        o->eprocess_va = va;
        o->type_byte = DS_TYPE_BYTE_UNREAD; /* read at another address */
        return true;
    }
    if (pa == DS_NO_VALUE) {
        o->eprocess_va = va;
        o->type_byte = DS_TYPE_BYTE_UNREAD;
        o->reasons |= DS_RSN_KERNEL_UNMAPPED;
        return true;
    }
    ds_proc real;
    if (charge(x, VALIDATE_COST) && ds_validate_process(x->vc, pa, va, &real) >= x->min_score &&
        real.pid == o->pid && real.create_time == o->create_time) {
        o->score = -1;
        return true;
    }
    return false;
}

/* A record found physically on a page no kernel PTE maps: every kernel
 * pointer that names it says where it lives: its list neighbours' links
 * back to it, and the Process pointer of its threads. */
static void resolve_unmapped(xv *x, ds_proc *o)
{
    uint64_t back = 0, fwd = 0;
    const unsigned L = x->p->ep_links;
    if (kptr(x, o->links_flink) && rdptr(x, o->links_flink + x->vc->ptr, &back) &&
        try_va(x, o, back - L))
        return;
    if (kptr(x, o->links_blink) && rdptr(x, o->links_blink, &fwd) && try_va(x, o, fwd - L))
        return;
    for (size_t i = 0; i < x->r->nthreads; i++) {
        const ds_thread *t = &x->r->threads[i];
        if (t->pid == o->pid && t->eprocess_va != o->eprocess_va && try_va(x, o, t->eprocess_va))
            return;
    }
}

/* With its VA recovered, the type of an unmapped record can be decoded
 * (the header is read from the physical page, the cookie byte comes from
 * the VA): settle the check it could not pass before. */
static void recheck_type(xv *x, ds_proc *o)
{
    if (o->score < 0 || o->eprocess_va == DS_NO_VALUE || !(o->failed & DS_CHK_TYPE_UNVERIFIED))
        return;
    int t = ds_object_type_check(x->vc, o->eprocess_pa, o->eprocess_va, true);
    if (t < 0)
        return;
    o->failed &= ~DS_CHK_TYPE_UNVERIFIED;
    if (t == 0)
        o->failed |= DS_CHK_OBJECT_TYPE;
    o->score = ds_score_from_failed(o->failed);
}

/* A thread whose KTHREAD.Process names a process record that no kernel
 * PTE maps failed its owner check only for want of a readable page:
 * the record (found physically, VA recovered) with the same PID is its
 * owner. */
static void settle_thread_owners(xv *x)
{
    for (size_t i = 0; i < x->r->nthreads; i++) {
        ds_thread *t = &x->r->threads[i];
        uint32_t idx;
        if (!(t->failed & DS_CHK_THREAD_OWNER) || !map_get(&x->proc_by_va, t->eprocess_va, &idx))
            continue;
        const ds_proc *o = &x->r->procs[idx];
        if (o->pid != t->pid || !(o->reasons & DS_RSN_KERNEL_UNMAPPED) ||
            (o->failed & (DS_CHK_DISPATCHER | DS_CHK_OBJECT_TYPE)))
            continue;
        t->failed &= ~DS_CHK_THREAD_OWNER;
        t->score = ds_score_from_failed(t->failed);
    }
}

static void index_records(xv *x)
{
    for (size_t i = 0; i < x->r->nprocs; i++) {
        ds_proc *o = &x->r->procs[i];
        if (o->eprocess_va == DS_NO_VALUE) {
            resolve_unmapped(x, o);
            recheck_type(x, o);
        }
        if (o->score >= 0 && o->eprocess_va != DS_NO_VALUE &&
            !map_get(&x->proc_by_va, o->eprocess_va, NULL))
            map_put(&x->proc_by_va, o->eprocess_va, (uint32_t)i);
    }
    for (size_t i = 0; i < x->r->nthreads; i++)
        if (x->r->threads[i].ethread_va != DS_NO_VALUE)
            map_put(&x->thread_by_va, x->r->threads[i].ethread_va, (uint32_t)i);
}

/* ---- active process list ----------------------------------------------- */

/* Next pointer of the list entry at links (forward: Flink, else Blink).
 * Read from memory; when the entry's page is not mapped (kernel PTE gone)
 * but the scan found the process physically at links - ep_links, its own
 * copy of the pointer is used, so one unmapped entry does not cut the
 * walk. */
static bool next_link(xv *x, uint64_t links, bool forward, uint64_t *next)
{
    if (rdptr(x, links + (forward ? 0 : x->vc->ptr), next))
        return true;
    uint32_t idx;
    if (!map_get(&x->proc_by_va, links - x->p->ep_links, &idx))
        return false;
    const ds_proc *o = &x->r->procs[idx];
    *next = forward ? o->links_flink : o->links_blink;
    return true;
}

/* Walk from head in one direction; every entry reached is put in seen
 * (the walk's own set: a loop ends it).  Returns true when the walk came
 * back to the head. */
static bool walk_active(xv *x, uint64_t head, bool forward, u64map *seen)
{
    uint64_t cur = head;
    for (unsigned step = 0; step < DS_XVIEW_MAX_LIST && charge(x, 1); step++) {
        uint64_t next;
        if (!next_link(x, cur, forward, &next) || !kptr(x, next))
            return false;
        if (next == head)
            return true;
        if (map_get(seen, next, NULL))
            return false; /* a loop */
        map_put(seen, next, 0);
        proc_at_va(x, next - x->p->ep_links, DS_VIEW_LIST);
        cur = next;
    }
    return false;
}

/* Every record whose links the walks reached is on the list, including
 * those whose body is not mapped (resolve_unmapped tied them to the VA). */
static void mark_listed(xv *x, const u64map *seen)
{
    for (size_t i = 0; i < seen->cap; i++) {
        uint64_t links = seen->keys[i];
        if (links == MAP_EMPTY)
            continue;
        uint32_t idx;
        if (map_get(&x->proc_by_va, links - x->p->ep_links, &idx))
            x->r->procs[idx].sources |= DS_VIEW_LIST;
    }
}

/* Record whose ActiveProcessLinks are at links, or -1. */
static long proc_at_links(const xv *x, uint64_t links)
{
    uint32_t idx;
    if (!kptr(x, links) || !map_get(&x->proc_by_va, links - x->p->ep_links, &idx) ||
        x->r->procs[idx].score < 0)
        return -1;
    return idx;
}

/* Breadth-first along the neighbour links of the active process list:
 * the records seed() accepts start the walk (seed may mark them); from
 * each record reached, the records next_to() names in either direction
 * join when join() accepts them (and marks them).  Every record joins at
 * most once (join must refuse a marked one), so the queue of nprocs
 * entries cannot overflow.  Returns how many joined. */
typedef struct link_walk {
    bool (*seed)(xv *x, ds_proc *o);
    long (*next_to)(xv *x, const ds_proc *o, int dir);
    bool (*join)(xv *x, const ds_proc *from, int dir, ds_proc *to);
} link_walk;

static size_t walk_links(xv *x, const link_walk *w)
{
    size_t n = x->r->nprocs, head = 0, tail = 0, joined = 0;
    uint32_t *queue = malloc((n ? n : 1) * sizeof(*queue));
    if (!queue) {
        x->nomem = true;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (w->seed(x, &x->r->procs[i]))
            queue[tail++] = (uint32_t)i;
    while (head < tail) {
        const ds_proc *o = &x->r->procs[queue[head++]];
        for (int dir = 0; dir < 2; dir++) {
            long k = w->next_to(x, o, dir);
            if (k < 0 || !w->join(x, o, dir, &x->r->procs[k]))
                continue;
            queue[tail++] = (uint32_t)k;
            joined++;
        }
    }
    free(queue);
    return joined;
}

/* extend_by_links' steps: from the listed records, neighbours that link back. */
static bool listed_seed(xv *x, ds_proc *o)
{
    (void)x;
    return (o->sources & DS_VIEW_LIST) && o->score >= 0;
}

static long linked_neighbour(xv *x, const ds_proc *o, int dir)
{
    if (o->eprocess_va == DS_NO_VALUE)
        return -1;
    uint64_t self = o->eprocess_va + x->p->ep_links;
    uint64_t nb = dir == 0 ? o->links_flink : o->links_blink;
    return nb == self ? -1 : proc_at_links(x, nb);
}

static bool links_back(xv *x, const ds_proc *from, int dir, ds_proc *to)
{
    uint64_t self = from->eprocess_va + x->p->ep_links;
    if ((to->sources & DS_VIEW_LIST) || (dir == 0 ? to->links_blink : to->links_flink) != self)
        return false;
    to->sources |= DS_VIEW_LIST;
    return true;
}

/* From the listed records, follow links whose neighbour points back
 * (Flink's Blink, Blink's Flink) and mark those neighbours listed too.
 * A DKOM-unlinked process never passes: its neighbours were re-linked
 * past it, and a self-linked entry is no neighbour.  Returns the number
 * of records added.  Work: each record is queued at most once. */
static size_t extend_by_links(xv *x)
{
    static const link_walk w = {listed_seed, linked_neighbour, links_back};
    return walk_links(x, &w);
}

/* The System process record to rebuild the list around when the head
 * gives nothing: PID 4, alive, with a VA. */
static long system_record(const xv *x)
{
    for (size_t i = 0; i < x->r->nprocs; i++) {
        const ds_proc *o = &x->r->procs[i];
        if (o->pid == 4 && o->score >= 0 && o->eprocess_va != DS_NO_VALUE && !o->exit_time &&
            o->links_flink != o->eprocess_va + x->p->ep_links)
            return (long)i;
    }
    return -1;
}

/* Live processes some other kernel view vouches for. */
static size_t live_elsewhere(const xv *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->r->nprocs; i++) {
        const ds_proc *o = &x->r->procs[i];
        n += o->score >= 0 && !o->exit_time && o->pid != 0 &&
             (o->sources & (DS_VIEW_CID | DS_VIEW_THREAD | DS_VIEW_HANDLES));
    }
    return n;
}

static size_t count_listed(const xv *x)
{
    size_t n = 0;
    for (size_t i = 0; i < x->r->nprocs; i++)
        n += (x->r->procs[i].sources & DS_VIEW_LIST) && x->r->procs[i].score >= 0;
    return n;
}

/* Walk PsActiveProcessHead both ways; list_repair() judges the result
 * once the other views have run. */
static void list_view(xv *x)
{
    uint64_t head = x->vc->active_head;
    x->list_status = DS_LIST_ABSENT;
    if (!kptr(x, head))
        return;
    u64map seen_f, seen_b;
    bool ok_f = map_init(&seen_f, 1024), ok_b = map_init(&seen_b, 1024);
    if (!ok_f || !ok_b) {
        map_free(&seen_f);
        map_free(&seen_b);
        x->nomem = true;
        return;
    }
    bool fwd = walk_active(x, head, true, &seen_f);
    bool back = walk_active(x, head, false, &seen_b);
    mark_listed(x, &seen_f);
    mark_listed(x, &seen_b);
    /* entries reached by either walk */
    size_t both = seen_f.n;
    for (size_t i = 0; i < seen_b.cap; i++)
        if (seen_b.keys[i] != MAP_EMPTY && !map_get(&seen_f, seen_b.keys[i], NULL))
            both++;
    x->r->stats.list_entries = (uint32_t)both;
    x->r->stats.list_complete = fwd;
    x->list_status = both == 0 ? DS_LIST_EMPTY : fwd && back ? DS_LIST_OK : DS_LIST_BROKEN;
    map_free(&seen_f);
    map_free(&seen_b);
}

/* Repair the list view from the processes' own links (see xview.h) and
 * say how healthy the list was. */
static void list_repair(xv *x)
{
    uint32_t status = x->list_status;
    if (count_listed(x) == 0) {
        long sys = system_record(x);
        if (sys >= 0)
            x->r->procs[sys].sources |= DS_VIEW_LIST;
    }
    extend_by_links(x);
    size_t listed = count_listed(x), live = live_elsewhere(x);
    if (status == DS_LIST_EMPTY && live == 0 && listed == 0)
        status = DS_LIST_OK; /* an empty list and nothing alive elsewhere: consistent */
    else if (status == DS_LIST_OK && listed * 2 < live)
        status = DS_LIST_SHORT;
    x->r->stats.list_status = status;
}

/* Unlisted processes whose membership the dump cannot decide.  A process
 * cut out of the list (DKOM) has a neighbour that no longer points back
 * at it, or links to itself.  One whose own links are intact on every side
 * it can read, and that lead (directly, or through other such processes)
 * to an entry in unreadable memory, sits on a stretch of the list the walk
 * could not reach: a truncated or partial dump, not hiding.  Those get
 * DS_RSN_LIST_UNREADABLE and are not called unlinked.  Work: two link
 * reads per unlisted process, each record queued at most once. */
static bool is_special(const ds_proc *o)
{
    return o->pid == 0; /* Idle: a static in ntoskrnl, never on the list */
}

enum { SIDE_INTACT, SIDE_UNREADABLE, SIDE_CUT };

/* A physical reader that remembers whether any read failed. */
typedef struct probe {
    ds_phys_read_fn read;
    void *ctx;
    bool failed;
} probe;

static ds_err probe_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
    probe *p = ctx;
    ds_err e = p->read(p->ctx, pa, buf, len);
    p->failed |= e != DS_OK;
    return e;
}

/* Why va cannot be read: true when a page its translation or its data
 * needs is missing from the dump file (truncated, or left out of a
 * partial dump); false when the kernel's own page tables say va is not
 * mapped.  A link that points at unmapped kernel memory is no link (a
 * rootkit may aim a hidden process's links there), so only the first
 * makes a list stretch unreadable. */
static bool missing_from_dump(xv *x, uint64_t va)
{
    const ds_vas *k = &x->vc->d->kvas;
    if (!charge(x, 5))
        return false;
    probe pr = {k->read, k->ctx, false};
    ds_vas v = *k;
    v.read = probe_read;
    v.ctx = &pr;
    v.cache_id = 0;
    ds_xlat t;
    if (ds_vtop(&v, va, &t) != DS_OK)
        return pr.failed;
    uint8_t b;
    return ds_phys_read(x->vc->d, t.pa, &b, 1) != DS_OK;
}

static int link_side(xv *x, const ds_proc *o, int dir)
{
    uint64_t self = o->eprocess_va + x->p->ep_links;
    uint64_t nb = dir == 0 ? o->links_flink : o->links_blink, back;
    if (nb == self || !kptr(x, nb))
        return SIDE_CUT;
    /* the neighbour's Blink (for our Flink) or Flink (for our Blink) */
    if (!next_link(x, nb, dir == 1, &back))
        return missing_from_dump(x, nb + (dir == 1 ? 0 : x->vc->ptr)) ? SIDE_UNREADABLE : SIDE_CUT;
    return back == self ? SIDE_INTACT : SIDE_CUT;
}

/* 0: some side cut (or no VA to judge by); 1: intact everywhere it can
 * be read; 2: intact and one side unreadable. */
static int links_state(xv *x, const ds_proc *o)
{
    if (o->eprocess_va == DS_NO_VALUE || is_special(o))
        return 0;
    int a = link_side(x, o, 0), b = link_side(x, o, 1);
    if (a == SIDE_CUT || b == SIDE_CUT)
        return 0;
    return a == SIDE_UNREADABLE || b == SIDE_UNREADABLE ? 2 : 1;
}

static bool open_to_gap(const ds_proc *o)
{
    return o->score >= 0 && !(o->sources & DS_VIEW_LIST) && !(o->reasons & DS_RSN_LIST_UNREADABLE);
}

/* mark_list_gaps: from records whose links lead into pages missing from
 * the dump, their intact neighbours that are not cut either. */
static bool gap_seed(xv *x, ds_proc *o)
{
    if (!open_to_gap(o) || links_state(x, o) != 2)
        return false;
    o->reasons |= DS_RSN_LIST_UNREADABLE;
    return true;
}

static long intact_neighbour(xv *x, const ds_proc *o, int dir)
{
    if (link_side(x, o, dir) != SIDE_INTACT)
        return -1;
    return proc_at_links(x, dir == 0 ? o->links_flink : o->links_blink);
}

static bool gap_joins(xv *x, const ds_proc *from, int dir, ds_proc *to)
{
    (void)from;
    (void)dir;
    if (!open_to_gap(to) || links_state(x, to) == 0)
        return false;
    to->reasons |= DS_RSN_LIST_UNREADABLE;
    return true;
}

static void mark_list_gaps(xv *x)
{
    static const link_walk w = {gap_seed, intact_neighbour, gap_joins};
    walk_links(x, &w);
}

/* ---- threads ------------------------------------------------------------ */

/* Flink of the thread list entry at cur: from the record of the thread
 * it belongs to (at >= 0), which validation read at that same address,
 * else read now.  Charged alike either way, so the work bound falls at
 * the same step. */
static bool next_in_list(xv *x, uint64_t cur, long at, uint64_t *next)
{
    if (at >= 0 && x->r->threads[at].list_flink != DS_NO_VALUE) {
        if (!charge(x, 1))
            return false;
        *next = x->r->threads[at].list_flink;
        return true;
    }
    return rdptr(x, cur, next);
}

static void thread_lists(xv *x)
{
    const ds_profile *p = x->p;
    if (p->ep_thread_list == DS_OFF_NONE || p->et_thread_list == DS_OFF_NONE)
        return;
    unsigned budget = MAX_THREADLIST_STEPS;
    size_t nprocs = x->r->nprocs;
    for (size_t i = 0; i < nprocs && budget; i++) {
        uint64_t va = x->r->procs[i].eprocess_va;
        if (va == DS_NO_VALUE || x->r->procs[i].score < 0)
            continue;
        uint64_t head = va + p->ep_thread_list, cur = head;
        long at = -1; /* the thread record whose list entry is at cur */
        u64map seen;
        if (!map_init(&seen, 64))
            return;
        while (budget--) {
            uint64_t next;
            if (!next_in_list(x, cur, at, &next) || !kptr(x, next) || next == head ||
                map_get(&seen, next, NULL))
                break;
            map_put(&seen, next, 0);
            at = thread_at_va(x, next - p->et_thread_list, DS_VIEW_THREADLIST);
            cur = next;
        }
        map_free(&seen);
    }
}

static void thread_view(xv *x)
{
    size_t nthreads = x->r->nthreads;
    for (size_t i = 0; i < nthreads; i++) {
        ds_thread *t = &x->r->threads[i];
        if (!kptr(x, t->eprocess_va))
            continue;
        uint32_t view = t->exit_time == 0 ? DS_VIEW_THREAD : 0;
        long idx = proc_at_va(x, t->eprocess_va, view);
        if (idx >= 0)
            x->r->procs[idx].thread_count++;
    }
}

/* ---- PspCidTable -------------------------------------------------------- */

typedef struct cid_walk {
    xv *x;
    unsigned entries, budget;
    unsigned esz, per_page;
    bool to_header;     /* entries point at OBJECT_HEADERs (process handle
                           tables), not bodies (PspCidTable) */
    uint32_t view;
    u64map pages;       /* table pages already walked: a real table never
                           names a page twice, a hostile one costs nothing */
} cid_walk;

/* True the first time a table page is met. */
static bool first_visit(cid_walk *w, uint64_t page_va)
{
    if (map_get(&w->pages, page_va, NULL))
        return false;
    if (!map_put(&w->pages, page_va, 0))
        w->x->nomem = true;
    return true;
}

/* Type byte of the object at va when a record there was validated at
 * that address (the same byte a read would give, without the read). */
static bool known_type(const xv *x, uint64_t va, uint8_t *type)
{
    uint32_t idx;
    uint16_t t = DS_TYPE_BYTE_UNREAD;
    if (map_get(&x->proc_by_va, va, &idx))
        t = x->r->procs[idx].type_byte;
    else if (map_get(&x->thread_by_va, va, &idx))
        t = x->r->threads[idx].type_byte;
    if (t == DS_TYPE_BYTE_UNREAD)
        return false;
    *type = (uint8_t)t;
    return true;
}

static void cid_leaf(cid_walk *w, uint64_t page_va, uint64_t first_index)
{
    uint8_t page[DS_PAGE_SIZE];
    if (!first_visit(w, page_va) || !charge(w->x, 1) ||
        ds_kread(w->x->vc->d, page_va, page, sizeof(page)) != DS_OK)
        return;
    for (unsigned i = 0; i < w->per_page && w->budget && charge(w->x, 1); i++, w->budget--) {
        uint64_t v;
        if (w->esz == 16) {
            memcpy(&v, page + i * 16, 8);
        } else {
            uint32_t v32;
            memcpy(&v32, page + i * 8, 4);
            v = v32;
        }
        uint64_t obj = ds_ht_entry_object(w->x->p, v);
        if (!kptr(w->x, obj) || first_index + i == 0)
            continue;
        if (w->to_header)
            obj += w->x->p->oh_body;
        uint8_t type;
        if (!charge(w->x, 1) ||
            (!known_type(w->x, obj, &type) && ds_kread(w->x->vc->d, obj, &type, 1) != DS_OK)) {
            /* body not mapped: a record placed at this VA by its list
             * neighbours (resolve_unmapped) is still named by the table */
            uint32_t known;
            if (map_get(&w->x->proc_by_va, obj, &known)) {
                w->x->r->procs[known].sources |= w->view;
                w->entries++;
            }
            continue;
        }
        long idx = -1;
        if (type == 3)
            idx = proc_at_va(w->x, obj, w->view);
        else if (type == 6)
            idx = thread_at_va(w->x, obj, w->view);
        if (idx >= 0)
            w->entries++;
    }
}

static void cid_level(cid_walk *w, uint64_t table_va, unsigned level, uint64_t first_index)
{
    if (level == 0) {
        cid_leaf(w, table_va, first_index);
        return;
    }
    unsigned ptr = w->x->vc->ptr, n = DS_PAGE_SIZE / ptr;
    uint64_t span = w->per_page;
    for (unsigned l = 1; l < level; l++)
        span *= n;
    if (!first_visit(w, table_va))
        return;
    for (unsigned i = 0; i < n && w->budget; i++) {
        uint64_t sub;
        if (!rdptr(w->x, table_va + (uint64_t)i * ptr, &sub) || !kptr(w->x, sub))
            continue;
        cid_level(w, sub & ~(uint64_t)(DS_PAGE_SIZE - 1), level - 1, first_index + i * span);
    }
}

/* Walk the HANDLE_TABLE at table_va; returns the objects found. */
static unsigned walk_handle_table(xv *x, uint64_t table_va, bool to_header, uint32_t view)
{
    uint64_t code = 0;
    unsigned off = ds_ht_table_code_off(x->p);
    if (!kptr(x, table_va) || !rdptr(x, table_va + off, &code) || !kptr(x, code & ~3ull))
        return 0;
    cid_walk w = {.x = x, .budget = DS_XVIEW_MAX_CID, .to_header = to_header, .view = view};
    w.esz = ds_ht_entry_size(x->p);
    w.per_page = DS_PAGE_SIZE / w.esz;
    if (!map_init(&w.pages, 64)) {
        x->nomem = true;
        return 0;
    }
    cid_level(&w, code & ~(uint64_t)(DS_PAGE_SIZE - 1), (unsigned)(code & 3), 0);
    map_free(&w.pages);
    return w.entries;
}

static void cid_view(xv *x)
{
    uint64_t table = 0, ptr = x->vc->cid_table_ptr;
    if (!kptr(x, ptr) || !rdptr(x, ptr, &table))
        return;
    x->r->stats.cid_entries = walk_handle_table(x, table, false, DS_VIEW_CID);
}

/* MemProcFS's no-link check: the System process (PID 4) holds handles to
 * processes; its handle table entries point at OBJECT_HEADERs. */
static void system_handles_view(xv *x)
{
    uint64_t sys = x->vc->system_eprocess, table = 0;
    if (!sys || x->p->ep_object_table == DS_OFF_NONE ||
        !rdptr(x, sys + x->p->ep_object_table, &table))
        return;
    walk_handle_table(x, table, true, DS_VIEW_HANDLES);
}

/* ---- sessions ----------------------------------------------------------- */

static void session_view(xv *x)
{
    const ds_profile *p = x->p;
    if (p->ep_session_links == DS_OFF_NONE)
        return;
    u64map seen;
    if (!map_init(&seen, 1024))
        return;
    unsigned budget = MAX_SESSION_STEPS;
    size_t nprocs = x->r->nprocs;
    for (size_t i = 0; i < nprocs && budget; i++) {
        const ds_proc *root = &x->r->procs[i];
        if (!(root->sources & DS_VIEW_LIST) || root->eprocess_va == DS_NO_VALUE)
            continue;
        uint64_t start = root->eprocess_va + p->ep_session_links, cur = start;
        if (map_get(&seen, start, NULL))
            continue;
        map_put(&seen, start, 0);
        unsigned members = 0;
        while (budget--) {
            uint64_t next;
            if (!rdptr(x, cur, &next) || !kptr(x, next) || map_get(&seen, next, NULL))
                break;
            if (next == start) {
                if (members)
                    x->r->procs[i].sources |= DS_VIEW_SESSION;
                break;
            }
            map_put(&seen, next, 0);
            uint32_t idx;
            if (map_get(&x->proc_by_va, next - p->ep_session_links, &idx)) {
                x->r->procs[idx].sources |= DS_VIEW_SESSION;
                members++;
            }
            cur = next;
        }
    }
    map_free(&seen);
}

/* ---- verdicts ----------------------------------------------------------- */

static void verdict(ds_proc *o, bool have_list, bool list_damaged)
{
    uint32_t rs = o->reasons & (DS_RSN_KERNEL_UNMAPPED | DS_RSN_LIST_UNREADABLE);
    bool listed = (o->sources & DS_VIEW_LIST) != 0;
    if (is_special(o))
        rs |= DS_RSN_SPECIAL_PROCESS;
    o->unlinked = have_list && !listed && !is_special(o) && !(rs & DS_RSN_LIST_UNREADABLE);
    if (o->unlinked)
        rs |= DS_RSN_NOT_IN_ACTIVE_LIST;
    if (o->unlinked && list_damaged)
        rs |= DS_RSN_LIST_DAMAGED;
    if (o->exit_time)
        rs |= DS_RSN_EXIT_TIME_SET;
    if (o->pool_free)
        rs |= DS_RSN_POOL_FREED;
    bool no_threads = o->active_threads == 0 && o->pid != 0;
    if (no_threads && (o->exit_status != STATUS_PENDING ||
                       (o->flags & (EP_FLAG_EXITING | EP_FLAG_DELETE))))
        rs |= DS_RSN_NO_ACTIVE_THREADS;
    o->terminated = (rs & (DS_RSN_EXIT_TIME_SET | DS_RSN_POOL_FREED | DS_RSN_NO_ACTIVE_THREADS)) != 0;
    if (o->unlinked) {
        if (o->sources & DS_VIEW_CID)
            rs |= DS_RSN_IN_CID_TABLE;
        if (o->sources & DS_VIEW_HANDLES)
            rs |= DS_RSN_SYSTEM_HANDLE;
        if (o->sources & DS_VIEW_THREAD)
            rs |= DS_RSN_LIVE_THREADS;
        if (o->sources & DS_VIEW_SESSION)
            rs |= DS_RSN_IN_SESSION_LIST;
    }
    if (o->tag_wiped)
        rs |= DS_RSN_TAG_WIPED;
    o->hidden = o->unlinked && !o->terminated;
    o->reasons = rs;
}

static int cmp_proc_out(const void *a, const void *b)
{
    const ds_proc *x = a, *y = b;
    if (x->eprocess_pa != y->eprocess_pa)
        return x->eprocess_pa < y->eprocess_pa ? -1 : 1;
    return x->eprocess_va < y->eprocess_va ? -1 : x->eprocess_va > y->eprocess_va;
}

static int cmp_thread_out(const void *a, const void *b)
{
    const ds_thread *x = a, *y = b;
    if (x->ethread_pa != y->ethread_pa)
        return x->ethread_pa < y->ethread_pa ? -1 : 1;
    return x->ethread_va < y->ethread_va ? -1 : x->ethread_va > y->ethread_va;
}

static void finish(xv *x)
{
    ds_scan_result *r = x->r;
    bool have_list = count_listed(x) > 0;
    bool damaged = r->stats.list_status != DS_LIST_OK;
    size_t out = 0;
    for (size_t i = 0; i < r->nprocs; i++) {
        if (r->procs[i].score < 0)
            continue;
        verdict(&r->procs[i], have_list, damaged);
        r->procs[out++] = r->procs[i];
    }
    r->nprocs = out;
    qsort(r->procs, r->nprocs, sizeof(*r->procs), cmp_proc_out);
    qsort(r->threads, r->nthreads, sizeof(*r->threads), cmp_thread_out);
}

ds_err ds_xview(const ds_vctx *vc, ds_scan_result *r, int min_score)
{
    if (!vc->p)
        return DS_OK;
    xv x = {.vc = vc, .p = vc->p, .r = r, .min_score = min_score};
    x.pcap = r->nprocs;
    x.tcap = r->nthreads;
    if (!map_init(&x.proc_by_va, r->nprocs + 64) || !map_init(&x.thread_by_va, r->nthreads + 64)) {
        map_free(&x.proc_by_va);
        map_free(&x.thread_by_va);
        return DS_ERR_NOMEM;
    }
    index_records(&x);
    settle_thread_owners(&x);
    if (vc->d->kvas.mode != DS_PAGING_NONE) {
        list_view(&x);
        thread_lists(&x);
        thread_view(&x);
        cid_view(&x);
        system_handles_view(&x);
        list_repair(&x);
        mark_list_gaps(&x);
        session_view(&x); /* entered from listed processes */
    } else {
        r->stats.list_status = DS_LIST_ABSENT;
    }
    finish(&x);
    map_free(&x.proc_by_va);
    map_free(&x.thread_by_va);
    return x.nomem ? DS_ERR_NOMEM : DS_OK;
}
