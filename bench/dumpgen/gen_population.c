/* gen_population.c - the processes and threads of the generated machine.
 *
 * A process list is planned first (pspec): the boot-time system processes
 * of the build (XP, Win7 and Win10+ differ), svchosts and user programs
 * scaled with the dump size, and the planted cases, the user part
 * shuffled.  Then, in creation order, each process gets a PID from the
 * CID handle allocator (PIDs and TIDs share one handle space), a
 * top-level page table, user mappings (PEB, TEBs, image header page,
 * KUSER_SHARED_DATA at 0x7ffe0000), an EPROCESS in pool and its threads:
 * ETHREAD in pool, a kernel stack whose top page holds the KTRAP_FRAME.
 * Finally the lists are linked: ActiveProcessLinks from
 * PsActiveProcessHead, both thread lists, and SessionProcessLinks (a
 * headless ring per session).  Planted cases are applied on the way:
 *   dkom_unlinked            left out of ActiveProcessLinks, its own links
 *                            still naming its old neighbours
 *   dkom_unlinked_tag_wiped  the same, links pointing at itself, pool tag
 *                            overwritten
 *   terminated_linked        ExitTime, Flags Exiting|Delete, no live
 *                            threads (one dead ETHREAD), still linked
 *   terminated_freed         unlinked, pool chunks freed, not in CID table
 *   unmapped                 linked, alone in a pool page whose PTE is
 *                            made a page-file PTE (page still in the dump) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

#define P_NONE (-1)
#define P_GHOST(n) (-10 - (n))

typedef struct pspec {
    const char *name;
    int parent;
    int session;
    gen_cat cat;
    unsigned tmin, tmax;
    bool kernel_only, straddle;
    uint8_t protection;
} pspec;

typedef struct plan {
    pspec *v;
    size_t n, cap;
    size_t nbase;       /* boot-time processes; the rest is the user tail */
} plan;

#define PLAN_CAP 512 /* far above the largest plan (about 130 entries) */

/* Append a process; the plan is preallocated, so this cannot fail (an
 * overflow would be a generator bug: the entry is dropped and the last
 * index returned). */
static int add(plan *pl, const char *name, int parent, int session, unsigned tmin, unsigned tmax)
{
    if (pl->n == pl->cap)
        return (int)pl->n - 1;
    pl->v[pl->n] = (pspec){.name = name, .parent = parent, .session = session, .tmin = tmin,
                           .tmax = tmax};
    return (int)pl->n++;
}

static unsigned scale_of(const gen_ctx *g)
{
    if (g->o.size_mib < 64) return 0;
    if (g->o.size_mib < 512) return 1;
    if (g->o.size_mib < 8192) return 2;
    return 3;
}

/* Build the plan; returns false on allocation failure. */
static bool make_plan(gen_ctx *g, plan *pl)
{
    static const unsigned tmax_s[] = {4, 12, 24, 40};
    static const unsigned sys_s[] = {6, 24, 70, 100};
    static const unsigned svch_s[] = {3, 8, 25, 45};
    unsigned s = scale_of(g);
    unsigned tm = tmax_s[s], heavy = s >= 2 ? 100 : tm;
    bool xp = g->build < 6000;
    pl->v = malloc(PLAN_CAP * sizeof(*pl->v));
    if (!pl->v)
        return false;
    pl->cap = PLAN_CAP;
    int sys = add(pl, "System", P_NONE, -1, sys_s[s], sys_s[s]);
    pl->v[sys].kernel_only = true;
    pl->v[sys].protection = 0x72;
    if (g->build >= 17134) {
        int r = add(pl, "Registry", sys, -1, 2, 4);
        pl->v[r].kernel_only = true;
    }
    int smss = add(pl, "smss.exe", sys, -1, 2, 2);
    pl->v[smss].protection = 0x61;
    int services, winlogon, explorer;
    if (xp) {
        int csrss = add(pl, "csrss.exe", smss, 0, 2, tm);
        winlogon = add(pl, "winlogon.exe", smss, 0, 2, tm);
        (void)csrss;
        services = add(pl, "services.exe", winlogon, 0, 2, tm);
        add(pl, "lsass.exe", winlogon, 0, 2, tm);
    } else {
        int c0 = add(pl, "csrss.exe", P_GHOST(0), 0, 2, tm);
        int wininit = add(pl, "wininit.exe", P_GHOST(0), 0, 1, 3);
        int c1 = add(pl, "csrss.exe", P_GHOST(1), 1, 2, tm);
        winlogon = add(pl, "winlogon.exe", P_GHOST(1), 1, 2, tm);
        pl->v[c0].protection = pl->v[c1].protection = pl->v[wininit].protection = 0x61;
        services = add(pl, "services.exe", wininit, 0, 2, tm);
        pl->v[services].protection = 0x61;
        add(pl, "lsass.exe", wininit, 0, 2, tm);
    }
    for (unsigned i = 0; i < svch_s[s]; i++)
        add(pl, "svchost.exe", services, 0, 1, i == 1 ? heavy : tm);
    if (g->build >= 10586) {
        int mc = add(pl, "MemCompression", sys, -1, 1, 2);
        pl->v[mc].kernel_only = true;
    }
    if (s >= 1) {
        add(pl, "spoolsv.exe", services, 0, 2, tm);
        if (!xp)
            add(pl, "dwm.exe", winlogon, xp ? 0 : 1, 2, tm);
    }
    explorer = add(pl, "explorer.exe", P_GHOST(2), xp ? 0 : 1, 2, heavy);
    pl->nbase = pl->n;

    int us = xp ? 0 : 1;
    add(pl, "notepad.exe", explorer, us, 1, 3);
    int cmd = add(pl, "cmd.exe", explorer, us, 1, 2);
    if (!xp)
        add(pl, "conhost.exe", cmd, us, 1, 3);
    if (s >= 1) {
        add(pl, "SearchProtocolHost.exe", services, 0, 2, tm);
        add(pl, "Taskmgr.exe", explorer, us, 2, tm);
        unsigned nchrome = s == 1 ? 2 : s == 2 ? 6 : 12;
        int c = add(pl, "chrome.exe", explorer, us, 4, heavy);
        for (unsigned i = 1; i < nchrome; i++)
            add(pl, "chrome.exe", c, us, 2, tm);
    }
    if (s >= 2) {
        static const char *const more[] = {"OUTLOOK.EXE", "WINWORD.EXE", "Teams.exe", "msedge.exe",
                                           "powershell.exe", "python.exe", "Code.exe", "slack.exe"};
        unsigned k = s == 2 ? 4 : 8;
        for (unsigned r = 0; r < (s == 3 ? 4u : 1u); r++)
            for (unsigned i = 0; i < k; i++)
                add(pl, more[i], explorer, us, 2, tm);
    }
    /* planted cases */
    pl->v[add(pl, "vds_ps.exe", explorer, us, 2, tm)].cat = GEN_CAT_DKOM_UNLINKED;
    pl->v[add(pl, "svc2_host.exe", services, 0, 2, tm)].cat = GEN_CAT_DKOM_TAG_WIPED;
    add(pl, "\xe9t\xe9.exe", explorer, us, 1, 3);
    pl->v[add(pl, "updater_01.exe", explorer, us, 1, 1)].cat = GEN_CAT_TERMINATED_LINKED;
    pl->v[add(pl, "setup64.tmp", explorer, us, 1, 1)].cat = GEN_CAT_TERMINATED_FREED;
    pl->v[add(pl, "backup_agent.exe", services, 0, 1, tm)].cat = GEN_CAT_UNMAPPED;
    pl->v[add(pl, "OneDrive.exe", explorer, us, 2, tm)].straddle = true;

    /* shuffle the user tail, keeping parents before children */
    for (size_t i = pl->n - 1; i > pl->nbase; i--) {
        size_t j = pl->nbase + gen_rng_below(&g->rng, i - pl->nbase + 1);
        pspec t = pl->v[i];
        pl->v[i] = pl->v[j];
        pl->v[j] = t;
        /* fix parent indexes that pointed at the swapped slots */
        for (size_t k = 0; k < pl->n; k++) {
            if (pl->v[k].parent == (int)i)
                pl->v[k].parent = (int)j;
            else if (pl->v[k].parent == (int)j)
                pl->v[k].parent = (int)i;
        }
    }
    /* a child shuffled before its parent is re-parented to explorer */
    for (size_t k = pl->nbase; k < pl->n; k++)
        if (pl->v[k].parent >= (int)k)
            pl->v[k].parent = explorer;
    return true;
}

/* ---------------- handles, times ---------------- */

ds_err gen_alloc_handle(gen_ctx *g, uint32_t *h)
{
    do {
        g->next_handle += 4 * (uint32_t)gen_rng_range(&g->rng, 1, 4);
    } while ((g->next_handle / 4) % g->handle_slots_per_leaf == 0);
    if (g->next_handle > 0x3fffff)
        return ds_fail(g->eb, DS_ERR_RANGE, "handle space exhausted");
    *h = g->next_handle;
    return DS_OK;
}

/* FILETIME with whole microseconds, so ISO strings are exact. */
static int64_t ft_after(gen_ctx *g, int64_t from, int64_t max_span_100ns)
{
    if (max_span_100ns < 10)
        return from;
    return from + (int64_t)gen_rng_below(&g->rng, (uint64_t)max_span_100ns / 10) * 10;
}

/* ---------------- records ---------------- */

static gen_proc *new_proc(gen_ctx *g)
{
    if (g->nprocs == g->cap_procs) {
        size_t nc = g->cap_procs ? g->cap_procs * 2 : 64;
        gen_proc *n = realloc(g->procs, nc * sizeof(*n));
        if (!n)
            return NULL;
        g->procs = n;
        g->cap_procs = nc;
    }
    gen_proc *p = &g->procs[g->nprocs++];
    memset(p, 0, sizeof(*p));
    return p;
}

static gen_thread *new_thread(gen_ctx *g)
{
    if (g->nthreads == g->cap_threads) {
        size_t nc = g->cap_threads ? g->cap_threads * 2 : 256;
        gen_thread *n = realloc(g->threads, nc * sizeof(*n));
        if (!n)
            return NULL;
        g->threads = n;
        g->cap_threads = nc;
    }
    gen_thread *t = &g->threads[g->nthreads++];
    memset(t, 0, sizeof(*t));
    return t;
}

/* ---------------- user address space ---------------- */

typedef struct uspace {
    uint64_t image, peb, teb0, ntdll, heap;
    int64_t teb_step;
} uspace;

static void choose_uspace(gen_ctx *g, uspace *u)
{
    if (g->is64) {
        u->image = 0x00007ff600000000ull + gen_rng_below(&g->rng, 0xffff) * 0x10000;
        u->peb = gen_rng_range(&g->rng, 0x10, 0xff) << 32 | gen_rng_below(&g->rng, 0xff000) << 12;
        u->teb0 = u->peb + 0x2000;
        u->teb_step = 0x2000;
        u->ntdll = 0x00007ffc00000000ull + (g->o.seed & 0xff) * 0x1000000ull;
        u->heap = u->peb - 0x10000000ull;
    } else if (g->build < 6000) {
        u->image = 0x01000000;
        u->peb = 0x7ffdf000;
        u->teb0 = 0x7ffde000;
        u->teb_step = -0x1000;
        u->ntdll = 0x7c900000;
        u->heap = 0x00150000;
    } else {
        u->image = 0x00a00000 + gen_rng_below(&g->rng, 0x100) * 0x10000;
        u->peb = 0x7ffd3000 + gen_rng_below(&g->rng, 13) * 0x1000;
        u->teb0 = 0x7ffcf000;
        u->teb_step = -0x1000;
        u->ntdll = 0x77a00000 + (g->o.seed & 0x3f) * 0x10000;
        u->heap = 0x00250000 + gen_rng_below(&g->rng, 0x40) * 0x10000;
    }
}

static ds_err map_user_page(gen_ctx *g, uint64_t root, uint64_t va, gen_pte_kind k, uint64_t *pfn_out)
{
    uint64_t pfn;
    ds_err e = gen_alloc_pfn(g, GP_USER, 0, &pfn);
    if (!e)
        e = gen_map(g, root, va, pfn, k);
    if (!e && pfn_out)
        *pfn_out = pfn;
    return e;
}

/* Proc/Thre tags at pool-header positions inside a user-mode heap page. */
static ds_err user_decoy_page(gen_ctx *g, uint64_t root, uint64_t va)
{
    uint64_t pfn;
    ds_err e = map_user_page(g, root, va, GEN_PTE_UDATA, &pfn);
    if (e)
        return e;
    static const char text[] = "Process list exported by tool: Proc Thre Proc...";
    uint64_t pa = pfn * GEN_PAGE;
    static const uint32_t offs[] = {0x100, 0x4a0, 0x930, 0xd10};
    for (unsigned i = 0; i < 4; i++) {
        uint8_t h[16] = {0};
        h[2] = (uint8_t)gen_rng_range(&g->rng, 0x40, 0xc0);
        h[3] = 2;
        uint32_t tag = gen_tag(g, (i & 1) ? GEN_TAG('T', 'h', 'r', 'e') : GEN_TAG('P', 'r', 'o', 'c'), true);
        memcpy(h + 4, &tag, 4);
        if ((e = gen_pwrite(g, pa + offs[i], h, 8)) ||
            (e = gen_pwrite(g, pa + offs[i] + 16, text, sizeof(text))))
            return e;
        gen_add_decoy(g, pa + offs[i], i & 1 ? "thread_tag_in_user_page" : "process_tag_in_user_page");
    }
    return DS_OK;
}

/* ---------------- objects ---------------- */

static uint32_t stack_size(const gen_ctx *g)
{
    return g->is64 ? 0x6000 : 0x3000;
}

/* DISPATCHER_HEADER: Type, Size (when the profile knows it), SignalState
 * (1 once the process/thread has exited) and an empty WaitListHead, which
 * points at itself. */
static ds_err write_dispatcher(gen_ctx *g, uint64_t body, uint8_t type, uint8_t size, bool signaled)
{
    uint64_t wl = body + GEN_DISP_WAIT_LIST;
    ds_err e;
    if ((e = gen_kw8(g, body, 0, type)) || (size && (e = gen_kw8(g, body, 2, size))) ||
        (e = gen_kw32(g, body, GEN_DISP_SIGNAL_STATE, signaled ? 1 : 0)) ||
        (e = gen_kwptr(g, wl, 0, wl)) || (e = gen_kwptr(g, wl, (uint16_t)g->ptr, wl)))
        return e;
    return DS_OK;
}

/* KTRAP_FRAME ends right after the saved SS (x64 0x190 = Rsp + 0x10);
 * x86 frames also carry the V86 segment slots (4 x 4 bytes). */
static uint32_t trap_frame_size(const gen_ctx *g)
{
    uint32_t n = (uint32_t)gen_round_up(g->p->tf_rsp + 2u * g->ptr, 16);
    return g->is64 ? n : n + 0x10;
}

static ds_err write_thread(gen_ctx *g, size_t pi, bool alive, int64_t ct, const uspace *u,
                           unsigned idx_in_proc, unsigned *running)
{
    const ds_profile *p = g->p;
    gen_proc *pr = &g->procs[pi];
    bool user = pr->user;
    gen_thread *t = new_thread(g);
    if (!t)
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    size_t ti = g->nthreads - 1;
    ds_err e;
    uint32_t tid;
    if ((e = gen_alloc_handle(g, &tid)))
        return e;
    t = &g->threads[ti];
    t->tid = tid;
    t->proc = (uint32_t)pi;
    t->alive = alive;
    t->create_time = ct;
    int64_t end = pr->exit_time ? pr->exit_time : g->system_time;
    t->exit_time = alive ? 0 : ft_after(g, ct + 10, end - ct - 10);
    t->in_cid = alive || pr->cat == GEN_CAT_TERMINATED_LINKED;
    t->freed = pr->cat == GEN_CAT_TERMINATED_FREED;
    unsigned flags = (!pr->own_page && gen_rng_chance(&g->rng, 7)) ? GEN_PA_STRADDLE : 0;
    uint64_t pool, hdr, body;
    if ((e = gen_pool_filler(g, 2)) || (e = gen_place_object(g, GEN_OBJ_THREAD, flags, &pool, &hdr, &body)))
        return e;
    t = &g->threads[ti];
    t->va = body;
    t->hdr_va = hdr;
    t->pool_va = pool;
    if (!gen_xlat(g, 0, body, &t->pa))
        return ds_fail(g->eb, DS_ERR_CORRUPT, "thread body unmapped");
    t->straddles = (body & 0xfff) + p->ethread_size > GEN_PAGE;

    /* kernel stack: top page(s) of an 8-page (x86: 4-page) slot */
    uint64_t slot_size = g->is64 ? 0x8000 : 0x4000;
    if (g->stack_next + slot_size > g->stack_end)
        return ds_fail(g->eb, DS_ERR_NOMEM, "stack VA region exhausted");
    uint64_t base = g->stack_next + slot_size;
    g->stack_next += slot_size;
    unsigned mapped = g->o.size_mib >= 128 ? 2 : 1;
    for (unsigned i = 1; i <= mapped; i++) {
        uint64_t pfn;
        if ((e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn)) ||
            (e = gen_map(g, 0, base - i * GEN_PAGE, pfn, GEN_PTE_KDATA)))
            return e;
    }
    uint64_t initial = base - (g->is64 ? 0x200 : 0x210);
    uint64_t trap = user ? initial - trap_frame_size(g) : 0;
    uint64_t kstack = (trap ? trap : initial) - 0x100 - gen_rng_below(&g->rng, 8) * 16;
    t->stack_base = base;
    t->teb = user ? (uint64_t)((int64_t)u->teb0 + (int64_t)idx_in_proc * u->teb_step) : 0;
    if (user) {
        t->start = u->ntdll + 0x2a1f0;
        t->win32_start = pr->section_base + 0x1000 + gen_rng_below(&g->rng, 0x4000) * 16;
        t->trap_va = trap;
        t->trap_ip = u->ntdll + 0x9d000 + gen_rng_below(&g->rng, 0x800) * 4;
        t->trap_sp = g->is64 ? ((t->teb & ~0xffffffull) - 0x100000 - gen_rng_below(&g->rng, 0x1000) * 8)
                             : 0x0012f000 - gen_rng_below(&g->rng, 0x400) * 4;
        for (unsigned k = 0; k < (g->is64 ? 2u : 1u); k++)
            if ((e = map_user_page(g, pr->root_pa, t->teb + k * GEN_PAGE, GEN_PTE_UDATA, NULL)))
                return e;
        if ((e = gen_kwptr(g, trap, p->tf_rip, t->trap_ip)) ||
            (e = gen_kwptr(g, trap, p->tf_rsp, t->trap_sp)))
            return e;
    } else {
        t->start = g->kbase + g->text_rva + gen_rng_below(&g->rng, g->text_size / 16) * 16;
        t->win32_start = t->start;
    }
    uint8_t state = 5, reason = 0;
    static const uint8_t reasons[] = {0, 6, 13, 15, 16, 17, 18};
    if (!alive) {
        state = 4;
    } else if (*running < g->ncpu && gen_rng_chance(&g->rng, 10)) {
        state = 2;
        (*running)++;
    } else if (gen_rng_chance(&g->rng, 5)) {
        state = 1;
    } else {
        reason = reasons[gen_rng_below(&g->rng, sizeof(reasons))];
    }
    t->state = state;
    t->wait_reason = reason;
    t->user = user;
    t->stack_limit = base - stack_size(g);
    t->kernel_stack = kstack;
    t->wait_mode = t->alertable = -1;
    uint64_t ctime = (uint64_t)ct << p->thread_ctime_shift;
    if ((e = write_dispatcher(g, body, 6, p->thread_dispatcher_size, !alive)) ||
        (e = gen_kwptr(g, body, p->kt_initial_stack, initial)) ||
        (e = gen_kwptr(g, body, p->kt_stack_limit, base - stack_size(g))) ||
        (e = gen_kwptr(g, body, p->kt_stack_base, base)) ||
        (e = gen_kwptr(g, body, p->kt_kernel_stack, kstack)) ||
        (e = gen_kwptr(g, body, p->kt_trap_frame, trap)) ||
        (e = gen_kwptr(g, body, p->kt_apc_process, pr->va)) ||
        (e = gen_kwptr(g, body, p->kt_teb, t->teb)) ||
        (e = gen_kw8(g, body, p->kt_state, state)) ||
        (e = gen_kwptr(g, body, p->kt_process, pr->va)) ||
        (e = gen_kw8(g, body, p->kt_wait_reason, reason)) ||
        (e = gen_kw8(g, body, p->kt_previous_mode, user ? 1 : 0)) ||
        (e = gen_kw64(g, body, p->et_create_time, ctime)) ||
        (e = gen_kw64(g, body, p->et_exit_time, (uint64_t)t->exit_time)) ||
        (e = gen_kwptr(g, body, p->et_start_address, t->start)) ||
        (e = gen_kwptr(g, body, p->et_cid_pid, pr->pid)) ||
        (e = gen_kwptr(g, body, p->et_cid_tid, tid)) ||
        (e = gen_kwptr(g, body, p->et_win32_start, t->win32_start)) ||
        (e = gen_kwptr(g, body, p->et_threads_process, pr->va)) ||
        (e = gen_kw32(g, body, p->et_cross_flags, alive ? 0 : 1)) ||
        (e = gen_kw32(g, body, p->et_exit_status, alive ? 0x103 : 0)))
        return e;
    if (t->freed)
        gen_pool_set_type(g, pool, 0);
    return DS_OK;
}

static uint32_t running_flags(void)
{
    return 0x144d0c01u & ~0x2cu; /* no Exiting/Delete/VmDeleted bits */
}

/* ImageFileName keeps the first 14 characters and a NUL (UCHAR[15],
 * Win7+); XP's UCHAR[16] keeps 15. */
static void store_name(uint8_t out[16], const char *name, bool xp)
{
    memset(out, 0, 16);
    size_t n = strlen(name), max = xp ? 15 : 14;
    if (n > max)
        n = max;
    memcpy(out, name, n);
}

typedef struct ctx_build {
    plan pl;
    uint32_t ghost[3];
    int64_t *times;
    unsigned running;
} ctx_build;

static ds_err write_process(gen_ctx *g, ctx_build *cb, size_t si)
{
    const ds_profile *p = g->p;
    const pspec *sp = &cb->pl.v[si];
    gen_proc *pr = new_proc(g);
    if (!pr)
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    size_t pi = g->nprocs - 1;
    ds_err e;

    /* identity */
    uint32_t ppid = 0, pid = 4;
    if (sp->parent >= 0) {
        ppid = g->procs[sp->parent].pid;
    } else if (sp->parent <= P_GHOST(0)) {
        unsigned gi = (unsigned)(P_GHOST(0) - sp->parent);
        if (!cb->ghost[gi] && (e = gen_alloc_handle(g, &cb->ghost[gi])))
            return e;
        ppid = cb->ghost[gi];
    }
    if (si != 0 && (e = gen_alloc_handle(g, &pid)))
        return e;
    pr = &g->procs[pi];
    pr->pid = pid;
    pr->ppid = ppid;
    store_name(pr->name, sp->name, g->build < 6000);
    snprintf(pr->full_name, sizeof(pr->full_name), "%s", sp->name);
    pr->handle_count = -1;
    pr->wow64 = g->is64 ? 0 : -1;
    pr->cat = sp->cat;
    pr->session = g->build < 6000 && sp->session >= 0 ? 0 : sp->session;
    pr->create_time = cb->times[si];
    bool terminated = sp->cat == GEN_CAT_TERMINATED_LINKED || sp->cat == GEN_CAT_TERMINATED_FREED;
    pr->exit_time = terminated ? ft_after(g, pr->create_time + 10000000,
                                          g->system_time - pr->create_time - 20000000) : 0;
    pr->linked = sp->cat == GEN_CAT_NORMAL || sp->cat == GEN_CAT_TERMINATED_LINKED ||
                 sp->cat == GEN_CAT_UNMAPPED;
    pr->in_cid = sp->cat != GEN_CAT_TERMINATED_FREED;
    pr->tag_wiped = sp->cat == GEN_CAT_DKOM_TAG_WIPED;
    pr->user = !sp->kernel_only;
    pr->own_page = sp->cat == GEN_CAT_UNMAPPED;
    pr->protection = sp->protection;

    /* address space */
    uspace u = {0};
    if (si == 0) {
        pr->root_pa = g->kroot_pa;
    } else if ((e = gen_new_process_root(g, &pr->root_pa))) {
        return e;
    }
    pr = &g->procs[pi];
    pr->dtb = pr->root_pa;
    if (g->is64 && g->build >= 10000 && si && gen_rng_chance(&g->rng, 30))
        pr->dtb |= 0x2;
    if (pr->user) {
        choose_uspace(g, &u);
        pr->peb = u.peb;
        pr->section_base = u.image;
        if ((e = map_user_page(g, pr->root_pa, u.peb, GEN_PTE_UDATA, NULL)) ||
            (e = map_user_page(g, pr->root_pa, u.image, GEN_PTE_URO, NULL)) ||
            (e = gen_map(g, pr->root_pa, 0x7ffe0000, g->kuser_pfn, GEN_PTE_URO)))
            return e;
        if (strcmp(sp->name, "explorer.exe") == 0 && (e = user_decoy_page(g, pr->root_pa, u.heap)))
            return e;
    }

    /* EPROCESS */
    uint64_t pool, hdr, body;
    unsigned flags = (sp->straddle ? GEN_PA_STRADDLE : 0) | (pr->own_page ? GEN_PA_OWN_PAGE : 0);
    if ((e = gen_pool_filler(g, 3)) ||
        (e = gen_place_object(g, GEN_OBJ_PROCESS, flags, &pool, &hdr, &body)))
        return e;
    pr = &g->procs[pi];
    pr->va = body;
    pr->hdr_va = hdr;
    pr->pool_va = pool;
    if (!gen_xlat(g, 0, body, &pr->pa))
        return ds_fail(g->eb, DS_ERR_CORRUPT, "process body unmapped");
    pr->straddles = (body & 0xfff) + p->eprocess_size > GEN_PAGE;
    if (pr->own_page)
        g->unmapped_page_va = pool & ~0xfffull;

    uint64_t token, objtable = 0;
    if ((e = gen_pool_struct(g, 0x180, "Toke", true, &token)))
        return e;
    g->procs[pi].token = token;
    if (!terminated && si != 0 && (e = gen_pool_struct(g, 0x80, "Obtb", false, &objtable)))
        return e;
    uint64_t session = pr->session >= 0 ? g->session_va[pr->session] : 0;
    uint32_t flags_v = running_flags();
    if (terminated)
        flags_v |= 0xc;
    if (sp->cat == GEN_CAT_TERMINATED_FREED)
        flags_v |= 0x20;
    if ((e = write_dispatcher(g, body, 3, p->process_dispatcher_size, terminated)) ||
        (e = gen_kwptr(g, body, p->ep_dtb, pr->dtb)) ||
        (e = gen_kwptr(g, body, p->ep_pid, pid)) ||
        (e = gen_kwptr(g, body, p->ep_ppid, ppid)) ||
        (e = gen_kw32(g, body, p->ep_flags, flags_v)) ||
        (e = gen_kw64(g, body, p->ep_create_time, (uint64_t)pr->create_time)) ||
        (e = gen_kw64(g, body, p->ep_exit_time, (uint64_t)pr->exit_time)) ||
        (e = gen_kwptr(g, body, p->ep_token, token | gen_rng_below(&g->rng, 8))) ||
        (e = gen_kwptr(g, body, p->ep_object_table, objtable)) ||
        (e = gen_kwptr(g, body, p->ep_peb, pr->peb)) ||
        (e = gen_kwptr(g, body, p->ep_session, session)) ||
        (e = gen_kwptr(g, body, p->ep_section_base, pr->section_base)) ||
        (e = gen_kw32(g, body, p->ep_exit_status, terminated ? 0 : 0x103)) ||
        (e = gen_kw8(g, body, p->ep_protection, pr->protection)))
        return e;
    if (p->ep_name != DS_OFF_NONE &&
        (e = gen_vwrite(g, 0, body + p->ep_name, pr->name, g->build < 6000 ? 16 : 15)))
        return e;
    if (pr->tag_wiped) {
        uint32_t junk = gen_rng_chance(&g->rng, 50) ? 0 : (uint32_t)gen_rng_next(&g->rng) | 0x01010101u;
        if (junk == gen_tag(g, GEN_TAG('P', 'r', 'o', 'c'), true))
            junk = 0;
        gen_pool_set_tag(g, pool, junk);
    }

    /* threads */
    unsigned nlive = terminated ? 0 : (unsigned)gen_rng_range(&g->rng, sp->tmin, sp->tmax);
    unsigned ndead = terminated ? 1 : (gen_rng_chance(&g->rng, 8) ? 1 : 0);
    unsigned total = nlive + ndead;
    unsigned dead_at = ndead ? (unsigned)gen_rng_below(&g->rng, total) : total;
    int64_t span = g->system_time - pr->create_time - 10;
    if (pr->exit_time)
        span = pr->exit_time - pr->create_time - 10;
    if (si >= cb->pl.nbase && span > 36000000000ll)
        span = 36000000000ll;
    int64_t tct = pr->create_time + 10 * (int64_t)gen_rng_range(&g->rng, 100, 50000);
    pr->first_thread = (uint32_t)g->nthreads;
    for (unsigned k = 0; k < total; k++) {
        if ((e = write_thread(g, pi, k != dead_at, tct, &u, k, &cb->running)))
            return e;
        tct = ft_after(g, tct, span / (int64_t)(total + 1));
    }
    pr = &g->procs[pi];
    pr->nthreads = total;
    pr->live_threads = nlive;
    if ((e = gen_kw32(g, body, p->ep_active_threads, nlive)))
        return e;
    if (sp->cat == GEN_CAT_TERMINATED_FREED)
        gen_pool_set_type(g, pool, 0);
    return DS_OK;
}

/* ---------------- lists ---------------- */

static ds_err link_ring(gen_ctx *g, const uint64_t *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ds_err e;
        if ((e = gen_kwptr(g, nodes[i], 0, nodes[(i + 1) % n])) ||
            (e = gen_kwptr(g, nodes[i], (uint16_t)g->ptr, nodes[(i + n - 1) % n])))
            return e;
    }
    return DS_OK;
}

static ds_err link_entry(gen_ctx *g, uint64_t node, uint64_t flink, uint64_t blink)
{
    ds_err e = gen_kwptr(g, node, 0, flink);
    return e ? e : gen_kwptr(g, node, (uint16_t)g->ptr, blink);
}

static ds_err link_all(gen_ctx *g)
{
    const ds_profile *p = g->p;
    size_t cap = g->nprocs + g->nthreads + 2;
    uint64_t *nodes = malloc(cap * sizeof(*nodes));
    uint64_t *knodes = malloc(cap * sizeof(*knodes));
    if (!nodes || !knodes) {
        free(nodes);
        free(knodes);
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    }
    ds_err e = DS_OK;
    /* ActiveProcessLinks */
    size_t n = 0;
    nodes[n++] = g->g_active_head;
    for (size_t i = 0; i < g->nprocs; i++)
        if (g->procs[i].linked)
            nodes[n++] = g->procs[i].va + p->ep_links;
    e = link_ring(g, nodes, n);
    /* unlinked ones: stale neighbours, or self (tag-wiped DKOM) */
    for (size_t i = 0; !e && i < g->nprocs; i++) {
        const gen_proc *pr = &g->procs[i];
        if (pr->linked)
            continue;
        uint64_t self = pr->va + p->ep_links, prev = g->g_active_head, next = g->g_active_head;
        for (size_t k = 0; k < i; k++)
            if (g->procs[k].linked)
                prev = g->procs[k].va + p->ep_links;
        for (size_t k = g->nprocs; k-- > i + 1;)
            if (g->procs[k].linked)
                next = g->procs[k].va + p->ep_links;
        e = pr->cat == GEN_CAT_DKOM_TAG_WIPED ? link_entry(g, self, self, self)
                                              : link_entry(g, self, next, prev);
    }
    /* thread lists (ETHREAD and KTHREAD) */
    for (size_t i = 0; !e && i < g->nprocs; i++) {
        const gen_proc *pr = &g->procs[i];
        uint64_t eh = pr->va + p->ep_thread_list, kh = pr->va + p->ep_pcb_thread_list;
        size_t m = 0;
        nodes[m] = eh;
        knodes[m++] = kh;
        for (uint32_t k = 0; k < pr->nthreads; k++) {
            const gen_thread *t = &g->threads[pr->first_thread + k];
            if (t->alive) {
                nodes[m] = t->va + p->et_thread_list;
                knodes[m++] = t->va + p->kt_thread_list;
            } else if (!(e = link_entry(g, t->va + p->et_thread_list, eh, eh))) {
                e = link_entry(g, t->va + p->kt_thread_list, kh, kh);
            }
        }
        if (!e && p->ep_thread_list != DS_OFF_NONE && p->et_thread_list != DS_OFF_NONE)
            e = link_ring(g, nodes, m);
        if (!e && p->ep_pcb_thread_list != DS_OFF_NONE && p->kt_thread_list != DS_OFF_NONE)
            e = link_ring(g, knodes, m);
    }
    /* SessionProcessLinks: a headless ring per session */
    for (int s = 0; !e && s < 2 && p->ep_session_links != DS_OFF_NONE; s++) {
        size_t m = 0;
        for (size_t i = 0; i < g->nprocs; i++) {
            const gen_proc *pr = &g->procs[i];
            uint64_t node = pr->va + p->ep_session_links;
            if (pr->session != s)
                continue;
            if (pr->cat == GEN_CAT_TERMINATED_FREED)
                e = link_entry(g, node, node, node);
            else
                nodes[m++] = node;
        }
        if (!e && m)
            e = link_ring(g, nodes, m);
    }
    free(nodes);
    free(knodes);
    return e;
}

/* ---------------- driver ---------------- */

static void plan_times(gen_ctx *g, ctx_build *cb)
{
    size_t n = cb->pl.n, nb = cb->pl.nbase;
    int64_t t = g->boot_time;
    for (size_t i = 0; i < nb; i++) {
        cb->times[i] = t;
        t += 10 * (int64_t)gen_rng_range(&g->rng, 50000, 3000000);
    }
    int64_t lo = t + 900000000ll, hi = g->system_time - 50000000ll;
    for (size_t i = nb; i < n; i++)
        cb->times[i] = ft_after(g, lo, hi - lo);
    /* sort the tail ascending (insertion sort: n is small) */
    for (size_t i = nb + 1; i < n; i++)
        for (size_t k = i; k > nb && cb->times[k - 1] > cb->times[k]; k--) {
            int64_t x = cb->times[k];
            cb->times[k] = cb->times[k - 1];
            cb->times[k - 1] = x;
        }
}

ds_err gen_population_build(gen_ctx *g)
{
    ctx_build cb = {0};
    ds_err e = DS_OK;
    g->handle_slots_per_leaf = GEN_PAGE / (2 * g->ptr);
    g->next_handle = 4;
    g->stack_next = g->stack_va;
    if (!make_plan(g, &cb.pl)) {
        free(cb.pl.v);
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    }
    cb.times = calloc(cb.pl.n, sizeof(*cb.times));
    if (!cb.times) {
        free(cb.pl.v);
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    }
    plan_times(g, &cb);
    size_t decoy_at = cb.pl.nbase + gen_rng_below(&g->rng, cb.pl.n - cb.pl.nbase);
    for (size_t i = 0; !e && i < cb.pl.n; i++) {
        if (i == decoy_at)
            e = gen_plant_decoys(g);
        if (!e)
            e = write_process(g, &cb, i);
    }
    if (!e)
        e = link_all(g);
    free(cb.times);
    free(cb.pl.v);
    return e;
}
