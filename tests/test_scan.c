/* test_scan.c - end-to-end: the scanner against generated dumps with known
 * truth, for every build and format dumpgen writes.
 *
 * For each (build, format): dumpgen's library writes a small dump and its
 * truth file into a temp dir; the dump is opened (src/dump.c) and scanned
 * (scan/scan.c); then
 *   - every planted process is reported at its physical address with the
 *     right pid, ppid, name and create time, and its kernel VA when known;
 *   - every planted thread is reported with the right tid and pid;
 *   - nothing else is reported as a process (no decoy, no duplicate);
 *   - verdicts: DKOM-unlinked (and tag-wiped) processes are hidden,
 *     terminated ones are terminated and not hidden, normal ones neither;
 *   - the tag-wiped process was found by the structure scan alone.
 * The truth file is parsed with a small flat-JSON reader below. */
#define _GNU_SOURCE /* RWF_NOWAIT */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "seccomp_child.h"

#include "bench/dumpgen/gen.h"
#include "scan/scan.h"
#include "src/modules.h"
#include "src/syscalls.h"
#include "src/timefmt.h"

/* ---- flat JSON line reader --------------------------------------------- */

/* Raw text of the value of "key" in a one-line flat JSON object, copied
 * into out (strings without quotes, escapes \uXXXX < 0x100 decoded to one
 * byte).  Returns false when absent. */
static bool jget(const char *line, const char *key, char *out, size_t cap)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p)
        return false;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"' && n + 1 < cap) {
            if (*p == '\\' && p[1] == 'u') {
                unsigned v;
                sscanf(p + 2, "%4x", &v);
                out[n++] = (char)v;
                p += 6;
            } else if (*p == '\\') {
                out[n++] = p[1];
                p += 2;
            } else {
                out[n++] = *p++;
            }
        }
    } else {
        while (*p && *p != ',' && *p != '}' && n + 1 < cap)
            out[n++] = *p++;
    }
    out[n] = 0;
    return true;
}

static uint64_t jnum(const char *line, const char *key)
{
    char v[64];
    if (!jget(line, key, v, sizeof(v)) || strcmp(v, "null") == 0)
        return DS_NO_VALUE;
    return strtoull(v, NULL, 0);
}

static bool jbool(const char *line, const char *key)
{
    char v[16];
    return jget(line, key, v, sizeof(v)) && strcmp(v, "true") == 0;
}

/* ---- truth -------------------------------------------------------------- */

typedef struct tproc {
    uint64_t pid, ppid, va, pa;
    char name[32], category[40], create[40];
    bool linked, in_cid;
    /* depth (gen_depth.c) */
    uint64_t handle_count, token, protection, dtb, peb, session_id, active_threads;
    char image_path[128], command_line[200], current_directory[80], wow64[8], exit_status[16];
} tproc;

typedef struct tthread {
    uint64_t tid, pid, va, pa, start, win32_start, teb, trap_frame, trap_ip, trap_sp;
    char create[40];
    uint64_t state, wait_reason, win32_thread, stack_base, stack_limit, kernel_stack, syscall;
    char wait_mode[16], alertable[8], syscall_name[48], syscall_source[16], exit[40];
} tthread;

typedef struct tdriver {
    char name[32], category[16], object_name[48];
    uint64_t base, size, ldr_va, object_va, list_index;
} tdriver;

typedef struct tunloaded {
    char name[32];
    uint64_t start, end, index;
} tunloaded;

typedef struct truth {
    uint64_t active_head, module_list, cid_table_ptr;
    bool user_pages;
    tdriver drv[32];
    size_t ndrv;
    tunloaded unl[8];
    size_t nunl;
    bool kdbg_wiped, kdbg_encoded;
    tproc *p;
    size_t np;
    tthread *t;
    size_t nt;
    uint64_t *decoy;
    size_t nd;
} truth;

static void load_truth(const char *path, truth *tr)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    memset(tr, 0, sizeof(*tr));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char type[32];
        if (!jget(line, "type", type, sizeof(type)))
            continue;
        if (strcmp(type, "dump_truth") == 0) {
            tr->active_head = jnum(line, "ps_active_process_head");
            tr->module_list = jnum(line, "ps_loaded_module_list");
            tr->cid_table_ptr = jnum(line, "psp_cid_table");
            tr->kdbg_wiped = jbool(line, "kdbg_wiped");
            tr->kdbg_encoded = jbool(line, "kdbg_encoded");
            tr->user_pages = jbool(line, "user_pages");
        } else if (strcmp(type, "process") == 0) {
            tr->p = realloc(tr->p, (tr->np + 1) * sizeof(*tr->p));
            tproc *p = &tr->p[tr->np++];
            memset(p, 0, sizeof(*p));
            p->pid = jnum(line, "pid");
            p->ppid = jnum(line, "ppid");
            p->va = jnum(line, "eprocess_va");
            p->pa = jnum(line, "eprocess_pa");
            jget(line, "name", p->name, sizeof(p->name));
            jget(line, "category", p->category, sizeof(p->category));
            jget(line, "create_time", p->create, sizeof(p->create));
            p->linked = jbool(line, "linked");
            p->in_cid = jbool(line, "in_cid_table");
            p->handle_count = jnum(line, "handle_count");
            p->token = jnum(line, "token");
            p->protection = jnum(line, "protection");
            p->dtb = jnum(line, "dtb");
            p->peb = jnum(line, "peb");
            p->session_id = jnum(line, "session_id");
            p->active_threads = jnum(line, "thread_count");
            jget(line, "image_path", p->image_path, sizeof(p->image_path));
            jget(line, "command_line", p->command_line, sizeof(p->command_line));
            jget(line, "current_directory", p->current_directory, sizeof(p->current_directory));
            jget(line, "wow64", p->wow64, sizeof(p->wow64));
            jget(line, "exit_status", p->exit_status, sizeof(p->exit_status));
        } else if (strcmp(type, "thread") == 0) {
            tr->t = realloc(tr->t, (tr->nt + 1) * sizeof(*tr->t));
            tthread *t = &tr->t[tr->nt++];
            t->tid = jnum(line, "tid");
            t->pid = jnum(line, "pid");
            t->va = jnum(line, "ethread_va");
            t->pa = jnum(line, "ethread_pa");
            t->start = jnum(line, "start_address");
            t->win32_start = jnum(line, "win32_start_address");
            t->teb = jnum(line, "teb");
            t->trap_frame = jnum(line, "trap_frame");
            t->trap_ip = jnum(line, "trap_ip");
            t->trap_sp = jnum(line, "trap_sp");
            jget(line, "create_time", t->create, sizeof(t->create));
            jget(line, "exit_time", t->exit, sizeof(t->exit));
            t->state = jnum(line, "state");
            t->wait_reason = jnum(line, "wait_reason");
            t->win32_thread = jnum(line, "win32_thread");
            t->stack_base = jnum(line, "stack_base");
            t->stack_limit = jnum(line, "stack_limit");
            t->kernel_stack = jnum(line, "kernel_stack");
            t->syscall = jnum(line, "syscall_number");
            jget(line, "wait_mode", t->wait_mode, sizeof(t->wait_mode));
            jget(line, "alertable", t->alertable, sizeof(t->alertable));
            jget(line, "syscall_name", t->syscall_name, sizeof(t->syscall_name));
            jget(line, "syscall_source", t->syscall_source, sizeof(t->syscall_source));
        } else if (strcmp(type, "driver") == 0 && tr->ndrv < 32) {
            tdriver *d = &tr->drv[tr->ndrv++];
            memset(d, 0, sizeof(*d));
            jget(line, "name", d->name, sizeof(d->name));
            jget(line, "category", d->category, sizeof(d->category));
            jget(line, "object_name", d->object_name, sizeof(d->object_name));
            if (strcmp(d->object_name, "null") == 0)
                d->object_name[0] = 0;
            d->base = jnum(line, "base");
            d->size = jnum(line, "size");
            d->ldr_va = jnum(line, "ldr_va");
            d->object_va = jnum(line, "driver_object_va");
            d->list_index = jnum(line, "list_index");
        } else if (strcmp(type, "unloaded") == 0 && tr->nunl < 8) {
            tunloaded *u = &tr->unl[tr->nunl++];
            jget(line, "name", u->name, sizeof(u->name));
            u->start = jnum(line, "start");
            u->end = jnum(line, "end");
            u->index = jnum(line, "index");
        } else if (strcmp(type, "decoy") == 0) {
            tr->decoy = realloc(tr->decoy, (tr->nd + 1) * sizeof(*tr->decoy));
            tr->decoy[tr->nd++] = jnum(line, "pa");
        }
    }
    free(line);
    fclose(f);
}

static void free_truth(truth *tr)
{
    free(tr->p);
    free(tr->t);
    free(tr->decoy);
}

/* ---- checks ------------------------------------------------------------- */

static const ds_proc *find_proc(const ds_scan_result *r, uint64_t pa)
{
    for (size_t i = 0; i < r->nprocs; i++)
        if (r->procs[i].eprocess_pa == pa)
            return &r->procs[i];
    return NULL;
}

static const ds_thread *find_thread(const ds_scan_result *r, uint64_t va)
{
    for (size_t i = 0; i < r->nthreads; i++)
        if (r->threads[i].ethread_va == va)
            return &r->threads[i];
    return NULL;
}

static int failures;

#define CHECK(cond, ...)                                                                 \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            print_error("  %s %s: ", key, fmt);                                          \
            print_error(__VA_ARGS__);                                                    \
            print_error("\n");                                                           \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* got (NULL: null) against the truth's text ("null": null). */
static bool same_str(const char *got, const char *truth)
{
    if (strcmp(truth, "null") == 0)
        return got == NULL;
    return got && strcmp(got, truth) == 0;
}

/* The `!process 0 2` fields (gen_depth.c): every one against the truth. */
static void check_process_depth(const char *key, const char *fmt, const ds_scan_result *r,
                                const truth *tr, const tproc *t, const ds_proc *p)
{
    const ds_proc_detail *det = r->details ? &r->details[p - r->procs] : NULL;
    CHECK(det, "no details");
    if (!det)
        return;
    CHECK(p->dtb == t->dtb && p->peb == t->peb, "%s dtb 0x%" PRIx64 " peb 0x%" PRIx64, t->name,
          p->dtb, p->peb);
    CHECK(p->active_threads == t->active_threads, "%s active threads %u, truth %" PRIu64,
          t->name, p->active_threads, t->active_threads);
    int64_t hc = t->handle_count == DS_NO_VALUE ? -1 : (int64_t)t->handle_count;
    CHECK(det->handle_count == hc && !det->handles_bounded, "%s handle_count %" PRId64
          ", truth %" PRId64, t->name, det->handle_count, hc);
    CHECK(same_str(det->image_path, t->image_path), "%s image_path '%s', truth '%s'", t->name,
          det->image_path ? det->image_path : "(null)", t->image_path);
    const char *cl = tr->user_pages ? t->command_line : "null";
    const char *cd = tr->user_pages ? t->current_directory : "null";
    CHECK(same_str(det->command_line, cl) && same_str(det->current_directory, cd),
          "%s command line '%s' dir '%s', truth '%s' '%s'", t->name,
          det->command_line ? det->command_line : "(null)",
          det->current_directory ? det->current_directory : "(null)", cl, cd);
    CHECK(p->token == t->token, "%s token 0x%" PRIx64 ", truth 0x%" PRIx64, t->name, p->token,
          t->token);
    int64_t prot = t->protection == DS_NO_VALUE ? -1 : (int64_t)t->protection;
    CHECK(p->protection == prot, "%s protection %d, truth %" PRId64, t->name, p->protection, prot);
    int w = strcmp(t->wow64, "null") == 0 ? -1 : strcmp(t->wow64, "true") == 0;
    CHECK(p->wow64 == w, "%s wow64 %d, truth %s", t->name, p->wow64, t->wow64);
    bool exited = strcmp(t->exit_status, "null") != 0;
    CHECK(exited ? p->exit_status == 0 : p->exit_status == 0x103, "%s exit status 0x%x, truth %s",
          t->name, p->exit_status, t->exit_status);
}

static void check_process(const char *key, const char *fmt, const ds_scan_result *r,
                          const truth *tr, const tproc *t)
{
    const ds_proc *p = find_proc(r, t->pa);
    CHECK(p, "process %s pid %" PRIu64 " (%s) at pa 0x%" PRIx64 " not reported", t->name, t->pid,
          t->category, t->pa);
    if (!p)
        return;
    CHECK(p->pid == t->pid, "pid %" PRIu64 " != %" PRIu64, p->pid, t->pid);
    CHECK(p->ppid == t->ppid, "%s ppid %" PRIu64 " != %" PRIu64, t->name, p->ppid, t->ppid);
    CHECK(strcmp(p->name, t->name) == 0, "name '%s' != '%s'", p->name, t->name);
    char iso[DS_TIME_ISO_LEN] = "";
    if (!ds_time_iso(p->create_time, iso))
        strcpy(iso, "null");
    CHECK(strcmp(iso, t->create) == 0, "%s create %s != %s", t->name, iso, t->create);
    if (strcmp(t->category, "unmapped") != 0)
        CHECK(p->eprocess_va == t->va, "%s va 0x%" PRIx64 " != 0x%" PRIx64, t->name,
              p->eprocess_va, t->va);
    bool hidden_cat = strncmp(t->category, "dkom_unlinked", 13) == 0;
    bool term_cat = strncmp(t->category, "terminated", 10) == 0;
    CHECK(p->hidden == hidden_cat, "%s (%s) hidden=%d", t->name, t->category, p->hidden);
    CHECK(p->terminated == term_cat, "%s (%s) terminated=%d", t->name, t->category,
          p->terminated);
    CHECK(p->unlinked == !t->linked || p->pid == 0, "%s (%s) unlinked=%d linked=%d", t->name,
          t->category, p->unlinked, t->linked);
    CHECK(!!(p->sources & DS_VIEW_CID) == t->in_cid, "%s (%s) cid view %d, truth %d", t->name,
          t->category, !!(p->sources & DS_VIEW_CID), t->in_cid);
    CHECK(!(p->failed & (DS_CHK_TYPE_UNVERIFIED | DS_CHK_OBJECT_TYPE)),
          "%s (%s) object type not verified (failed 0x%x)", t->name, t->category, p->failed);
    if (strstr(t->category, "tag_wiped"))
        CHECK(!(p->sources & DS_VIEW_POOL) && p->tag_wiped, "%s tag-wiped but sources 0x%x",
              t->name, p->sources);
    else
        CHECK((p->sources & DS_VIEW_POOL) && !p->tag_wiped,
              "%s (%s) pool tag intact but tag_wiped %d sources 0x%x", t->name, t->category,
              p->tag_wiped, p->sources);
    check_process_depth(key, fmt, r, tr, t, p);
}

/* Thread depth: state, wait, stacks, Win32Thread, the system service. */
static void check_thread_depth(const char *key, const char *fmt, const tthread *tt,
                               const ds_thread *t)
{
    const ds_profile *p = ds_profile_by_key(key);
    CHECK(t->state == tt->state && t->wait_reason == tt->wait_reason,
          "tid %" PRIu64 " state %u/%u, truth %" PRIu64 "/%" PRIu64, tt->tid, t->state,
          t->wait_reason, tt->state, tt->wait_reason);
    const char *wm = t->wait_mode < 0 ? NULL : t->wait_mode ? "UserMode" : "KernelMode";
    const char *al = t->alertable < 0 ? NULL : t->alertable ? "true" : "false";
    CHECK(same_str(wm, tt->wait_mode) && same_str(al, tt->alertable),
          "tid %" PRIu64 " wait mode %s alertable %s, truth %s %s", tt->tid, wm ? wm : "null",
          al ? al : "null", tt->wait_mode, tt->alertable);
    uint64_t w32 = tt->win32_thread == DS_NO_VALUE ? 0 : tt->win32_thread;
    CHECK(t->win32_thread == w32 && t->stack_base == tt->stack_base &&
              t->stack_limit == tt->stack_limit && t->kernel_stack == tt->kernel_stack,
          "tid %" PRIu64 " win32 0x%" PRIx64 " stacks 0x%" PRIx64 "/0x%" PRIx64 "/0x%" PRIx64,
          tt->tid, t->win32_thread, t->stack_base, t->stack_limit, t->kernel_stack);
    const char *src = t->syscall_source == DS_SYSCALL_KTHREAD      ? "kthread"
                      : t->syscall_source == DS_SYSCALL_TRAP_FRAME ? "trap_frame"
                                                                  : NULL;
    CHECK(same_str(src, tt->syscall_source), "tid %" PRIu64 " syscall source %s, truth %s",
          tt->tid, src ? src : "null", tt->syscall_source);
    if (src && strcmp(tt->syscall_name, "null") != 0) {
        const char *name = ds_syscall_name(p->build_min, p->is64, t->syscall_number);
        CHECK(t->syscall_number == tt->syscall && name && strcmp(name, tt->syscall_name) == 0,
              "tid %" PRIu64 " syscall %u %s, truth %" PRIu64 " %s", tt->tid, t->syscall_number,
              name ? name : "(null)", tt->syscall, tt->syscall_name);
    }
}

static void check_thread(const char *key, const char *fmt, const ds_scan_result *r,
                         const truth *tr, const tthread *tt)
{
    const ds_thread *t = find_thread(r, tt->va);
    CHECK(t, "thread tid %" PRIu64 " at va 0x%" PRIx64 " not reported", tt->tid, tt->va);
    if (!t)
        return;
    /* A thread of a live planted process has an owner, mapped or not. */
    for (size_t k = 0; k < tr->np; k++)
        if (tr->p[k].pid == tt->pid && strcmp(tr->p[k].category, "terminated_freed") != 0)
            CHECK(!(t->failed & DS_CHK_THREAD_OWNER),
                  "tid %" PRIu64 " of %s (%s) fails thread_owner", tt->tid, tr->p[k].name,
                  tr->p[k].category);
    CHECK(t->tid == tt->tid && t->pid == tt->pid, "thread tid %" PRIu64 "/%" PRIu64 " pid %" PRIu64
          "/%" PRIu64, t->tid, tt->tid, t->pid, tt->pid);
    CHECK(t->ethread_pa == tt->pa, "tid %" PRIu64 " pa 0x%" PRIx64 " != 0x%" PRIx64, tt->tid,
          t->ethread_pa, tt->pa);
    CHECK((t->sources & DS_VIEW_POOL) && !t->tag_wiped, "tid %" PRIu64 " tag_wiped %d sources 0x%x",
          tt->tid, t->tag_wiped, t->sources);
    CHECK(t->start_address == tt->start && t->win32_start_address == tt->win32_start &&
              t->teb == tt->teb,
          "tid %" PRIu64 " start/win32start/teb differ", tt->tid);
    char iso[DS_TIME_ISO_LEN] = "";
    if (!ds_time_iso(t->create_time, iso))
        strcpy(iso, "null");
    CHECK(strcmp(iso, tt->create) == 0, "tid %" PRIu64 " create %s != %s", tt->tid, iso,
          tt->create);
    check_thread_depth(key, fmt, tt, t);
    if (tt->trap_frame != DS_NO_VALUE && tt->trap_frame != 0)
        CHECK(t->rip == tt->trap_ip && t->rsp == tt->trap_sp,
              "tid %" PRIu64 " rip/rsp 0x%" PRIx64 "/0x%" PRIx64 " != 0x%" PRIx64 "/0x%" PRIx64,
              tt->tid, t->rip, t->rsp, tt->trap_ip, tt->trap_sp);
}

/* The anchors of the kernel views: the truth's addresses, from the
 * expected source.  Crash dumps name both list heads in their header;
 * without KDBG the rest comes from the System process and the kernel
 * image's data (scan/anchors.c). */
static void check_anchors(const char *key, const char *fmt, const ds_dump *d,
                          const ds_scan_result *r, const truth *tr)
{
    const ds_scan_stats *s = &r->stats;
    bool crash = d->format == DS_FMT_CRASH64 || d->format == DS_FMT_CRASH32;
    CHECK(s->active_head == tr->active_head && s->module_list == tr->module_list &&
              s->cid_table_ptr == tr->cid_table_ptr,
          "anchors 0x%" PRIx64 "/0x%" PRIx64 "/0x%" PRIx64 " != truth 0x%" PRIx64 "/0x%" PRIx64
          "/0x%" PRIx64, s->active_head, s->module_list, s->cid_table_ptr, tr->active_head,
          tr->module_list, tr->cid_table_ptr);
    ds_source lists = crash ? DS_SRC_HEADER : tr->kdbg_wiped ? DS_SRC_SYSTEM_PROCESS : DS_SRC_KDBG;
    ds_source mods = crash ? DS_SRC_HEADER : tr->kdbg_wiped ? DS_SRC_NT_DATA : DS_SRC_KDBG;
    ds_source cid = tr->kdbg_wiped ? DS_SRC_NT_DATA : DS_SRC_KDBG;
    CHECK(s->active_head_src == lists && s->module_list_src == mods && s->cid_table_src == cid,
          "anchor sources %s/%s/%s", ds_source_name(s->active_head_src),
          ds_source_name(s->module_list_src), ds_source_name(s->cid_table_src));
    CHECK(d->kdbg_valid == !tr->kdbg_wiped && (!d->kdbg_valid || d->kdbg_encoded == tr->kdbg_encoded),
          "kdbg valid %d encoded %d (truth wiped %d encoded %d)", d->kdbg_valid, d->kdbg_encoded,
          tr->kdbg_wiped, tr->kdbg_encoded);
}

/* Every planted driver reported once, by the views the truth says, with
 * its verdict; nothing else; the unloaded list as planted (when KDBG,
 * which names MmUnloadedDrivers, is there). */
static void check_drivers(const char *key, const char *fmt, const ds_scan_result *r,
                          const truth *tr)
{
    const ds_driver_set *ds = &r->drivers;
    CHECK(ds->n == tr->ndrv, "%zu driver records, truth has %zu", ds->n, tr->ndrv);
    CHECK(ds->list_status == DS_MODLIST_OK, "module list status %u", ds->list_status);
    for (size_t i = 0; i < tr->ndrv; i++) {
        const tdriver *t = &tr->drv[i];
        const ds_driver *d = NULL;
        for (size_t k = 0; k < ds->n; k++)
            if (ds->v[k].base == t->base)
                d = &ds->v[k];
        CHECK(d, "driver %s (%s) at 0x%" PRIx64 " not reported", t->name, t->category, t->base);
        if (!d)
            continue;
        bool listed = strcmp(t->category, "listed") == 0;
        uint32_t want = (listed ? DS_DRV_LIST : 0) | DS_DRV_POOL |
                        (t->object_va != DS_NO_VALUE ? DS_DRV_OBJECT : 0);
        CHECK(strcmp(d->name, t->name) == 0 && d->size == t->size && d->ldr_va == t->ldr_va,
              "driver %s: name '%s' size %" PRIu64 " ldr 0x%" PRIx64, t->name, d->name, d->size,
              d->ldr_va);
        CHECK(d->sources == want, "driver %s sources 0x%x, want 0x%x", t->name, d->sources, want);
        CHECK(d->object_va == t->object_va && strcmp(d->object_name, t->object_name) == 0,
              "driver %s object 0x%" PRIx64 " '%s'", t->name, d->object_va, d->object_name);
        CHECK(listed ? (uint64_t)d->list_index == t->list_index : d->list_index == -1,
              "driver %s list index %d", t->name, d->list_index);
        uint32_t reasons = 0;
        if (strcmp(t->category, "hidden") == 0)
            reasons = DS_DRV_RSN_NOT_IN_LIST | DS_DRV_RSN_IMAGE_MAPPED;
        else if (strcmp(t->category, "stale") == 0)
            reasons = DS_DRV_RSN_NOT_IN_LIST | DS_DRV_RSN_IMAGE_GONE | DS_DRV_RSN_POOL_FREED |
                      (tr->kdbg_wiped ? 0 : DS_DRV_RSN_UNLOADED);
        CHECK(d->reasons == reasons, "driver %s reasons 0x%x, want 0x%x", t->name, d->reasons,
              reasons);
        CHECK(d->hidden == (strcmp(t->category, "hidden") == 0) &&
                  d->stale == (strcmp(t->category, "stale") == 0),
              "driver %s (%s): hidden %d stale %d reasons 0x%x", t->name, t->category, d->hidden,
              d->stale, d->reasons);
    }
    if (!tr->kdbg_wiped) {
        CHECK(ds->unloaded_known && ds->nunloaded == tr->nunl, "%zu unloaded, truth %zu",
              ds->nunloaded, tr->nunl);
        for (size_t i = 0; i < tr->nunl && i < ds->nunloaded; i++)
            CHECK(strcmp(ds->unloaded[i].name, tr->unl[i].name) == 0 &&
                      ds->unloaded[i].start == tr->unl[i].start &&
                      ds->unloaded[i].end == tr->unl[i].end &&
                      ds->unloaded[i].index == tr->unl[i].index,
                  "unloaded %zu: %s", i, ds->unloaded[i].name);
    } else {
        CHECK(!ds->unloaded_known && ds->nunloaded == 0, "unloaded list without KDBG");
    }
}

static void scan_case_kdbg(const char *key, const char *fmt, unsigned size_mib, uint64_t seed,
                           bool noise, gen_kdbg kdbg)
{
    char dir[] = "/tmp/ds_scan_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tpath[160];
    snprintf(path, sizeof(path), "%s/d.dmp", dir);
    snprintf(tpath, sizeof(tpath), "%s.truth.ndjson", path);
    gen_opts go = {.out_path = path, .build_key = key, .size_mib = size_mib, .seed = seed,
                   .noise = noise, .kdbg = kdbg};
    assert_true(gen_format_parse(fmt, &go.format));
    gen_summary sum;
    ds_errbuf eb = {{0}};
    ds_err e = gen_run(&go, &sum, &eb);
    if (e != DS_OK)
        print_error("gen %s %s: %s\n", key, fmt, eb.msg);
    assert_int_equal(e, DS_OK);

    ds_dump *d = NULL;
    e = ds_dump_open(&d, path, NULL, &eb);
    if (e != DS_OK)
        print_error("open %s %s: %s\n", key, fmt, eb.msg);
    assert_int_equal(e, DS_OK);
    ds_scan_opts so;
    ds_scan_opts_default(&so);
    so.threads = 2;
    ds_scan_result r;
    e = ds_scan(d, &so, &r, &eb);
    if (e != DS_OK)
        print_error("scan %s %s: %s\n", key, fmt, eb.msg);
    assert_int_equal(e, DS_OK);

    truth tr;
    load_truth(tpath, &tr);
    int before = failures;
    for (size_t i = 0; i < tr.np; i++)
        check_process(key, fmt, &r, &tr, &tr.p[i]);
    CHECK(r.nprocs == tr.np, "%zu processes reported, truth has %zu", r.nprocs, tr.np);
    for (size_t i = 0; i < r.nprocs; i++) {
        bool known = false;
        for (size_t k = 0; k < tr.np; k++)
            known |= tr.p[k].pa == r.procs[i].eprocess_pa;
        CHECK(known, "extra process '%s' pid %" PRIu64 " pa 0x%" PRIx64 " score %d sources 0x%x",
              r.procs[i].name, r.procs[i].pid, r.procs[i].eprocess_pa, r.procs[i].score,
              r.procs[i].sources);
        for (size_t k = 0; k < tr.nd; k++)
            CHECK(tr.decoy[k] != r.procs[i].eprocess_pa && tr.decoy[k] != r.procs[i].pool_pa,
                  "decoy at 0x%" PRIx64 " reported", tr.decoy[k]);
    }
    for (size_t i = 0; i < tr.nt; i++)
        check_thread(key, fmt, &r, &tr, &tr.t[i]);
    for (size_t i = 0; i < r.nthreads; i++)
        for (size_t k = 0; k < tr.nd; k++)
            CHECK(tr.decoy[k] != r.threads[i].ethread_pa && tr.decoy[k] != r.threads[i].pool_pa,
                  "decoy at 0x%" PRIx64 " reported as a thread", tr.decoy[k]);
    CHECK(r.nthreads == tr.nt, "%zu threads reported, truth has %zu", r.nthreads, tr.nt);
    /* The list view: every entry reached is a reported row, and an
     * undamaged list is walked back to its head. */
    size_t listed = 0, linked = 0;
    for (size_t i = 0; i < r.nprocs; i++)
        listed += (r.procs[i].sources & DS_VIEW_LIST) != 0;
    for (size_t i = 0; i < tr.np; i++)
        linked += tr.p[i].linked;
    CHECK(r.stats.list_entries == listed && listed == linked,
          "list_entries %u, rows with list %zu, linked in truth %zu", r.stats.list_entries,
          listed, linked);
    CHECK(r.stats.list_complete && r.stats.list_status == DS_LIST_OK,
          "list_complete %d list_status %u", r.stats.list_complete, r.stats.list_status);
    check_anchors(key, fmt, d, &r, &tr);
    check_drivers(key, fmt, &r, &tr);
    /* every generated dump has page tables and few kernel pages: the
     * truth above was checked against records validated in the stream */
    CHECK(r.stats.validated_in_stream, "validated after the stream");
    if (failures != before)
        print_error("%s %s seed %" PRIu64 "%s kdbg %s: %d problems (tag_hits %" PRIu64 " struct_hits %" PRIu64 ")\n", key,
                    fmt, seed, noise ? " noise" : "", gen_kdbg_name(kdbg), failures - before, r.stats.tag_hits, r.stats.struct_hits);
    free_truth(&tr);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    unlink(path);
    unlink(tpath);
    rmdir(dir);
}

static void scan_case_with(const char *key, const char *fmt, unsigned size_mib, uint64_t seed,
                           bool noise)
{
    scan_case_kdbg(key, fmt, size_mib, seed, noise, GEN_KDBG_AUTO);
}

static void scan_case(const char *key, const char *fmt)
{
    scan_case_with(key, fmt, 32, 7, false);
}

static void test_scan_all_builds_and_formats(void **state)
{
    (void)state;
    static const char *const x64_formats[] = {"raw", "full", "bitmap", "kernel", "rdmp", "elf"};
    static const char *const x86_formats[] = {"raw", "full32", "elf"};
    for (size_t k = 0; gen_build_keys[k]; k++) {
        const ds_profile *p = ds_profile_by_key(gen_build_keys[k]);
        assert_non_null(p);
        const char *const *fmts = p->is64 ? x64_formats : x86_formats;
        size_t n = p->is64 ? 6 : 3;
        for (size_t f = 0; f < n; f++)
            scan_case(gen_build_keys[k], fmts[f]);
    }
    assert_int_equal(failures, 0);
}

/* Every build and format with KDBG plain, encoded (x64 Windows 8+) and
 * wiped: the same processes, threads and verdicts, the anchors found
 * without KDBG.  Seeds alternate the KdCopyDataBlock instruction order. */
static void test_scan_kdbg_modes(void **state)
{
    (void)state;
    static const char *const x64_formats[] = {"raw", "full", "bitmap", "kernel", "rdmp", "elf"};
    static const char *const x86_formats[] = {"raw", "full32", "elf"};
    static const gen_kdbg modes[] = {GEN_KDBG_PLAIN, GEN_KDBG_ENCODED, GEN_KDBG_WIPED};
    unsigned n = 0;
    for (size_t k = 0; gen_build_keys[k]; k++) {
        const ds_profile *p = ds_profile_by_key(gen_build_keys[k]);
        const char *const *fmts = p->is64 ? x64_formats : x86_formats;
        size_t nf = p->is64 ? 6 : 3;
        for (size_t f = 0; f < nf; f++)
            for (size_t m = 0; m < 3; m++) {
                if (modes[m] == GEN_KDBG_ENCODED && (!p->is64 || p->build_min < 9200))
                    continue;
                scan_case_kdbg(gen_build_keys[k], fmts[f], 16, 20 + n++, false, modes[m]);
            }
    }
    assert_int_equal(failures, 0);
}

/* Raw images full of random bytes, several seeds per x64 build: the
 * placement of the `unmapped` process (alone on a page no kernel PTE
 * maps) and the noise around every object change with the seed.  Each
 * process must still be found at its place, with its threads owned. */
static void test_scan_noisy_raw_seeds(void **state)
{
    (void)state;
    for (size_t k = 0; gen_build_keys[k]; k++) {
        const ds_profile *p = ds_profile_by_key(gen_build_keys[k]);
        if (!p->is64)
            continue;
        for (uint64_t seed = 1; seed <= 4; seed++)
            scan_case_with(gen_build_keys[k], "raw", 64, seed, true);
    }
    assert_int_equal(failures, 0);
}

/* Records, drivers and details of a and b are the same. */
static bool same_result(const ds_scan_result *a, const ds_scan_result *b)
{
    if (a->nprocs != b->nprocs || a->nthreads != b->nthreads || a->drivers.n != b->drivers.n)
        return false;
    if ((a->nprocs && memcmp(a->procs, b->procs, a->nprocs * sizeof(*a->procs))) ||
        (a->nthreads && memcmp(a->threads, b->threads, a->nthreads * sizeof(*a->threads))) ||
        (a->drivers.n && memcmp(a->drivers.v, b->drivers.v, a->drivers.n * sizeof(*a->drivers.v))))
        return false;
    for (size_t i = 0; i < a->nprocs; i++)
        if (a->details[i].handle_count != b->details[i].handle_count ||
            !same_str(a->details[i].image_path,
                      b->details[i].image_path ? b->details[i].image_path : "null"))
            return false;
    return true;
}

static const ds_dump *g_det_dump;
static const ds_scan_result *g_det_first;

/* Child: every no-wait read "would wait" (seccomp answers EAGAIN), so the
 * workers put off every candidate that reads outside its chunk, try it
 * again after each later chunk, validate it waiting once its tries are
 * spent, and drain the rest after the stream, and the details' no-wait
 * rounds all miss before the real pass: the records stay the same. */
static int nowait_miss_child(void)
{
    if (fail_when_flag_set(__NR_preadv2, 5, RWF_NOWAIT, EAGAIN) != 0)
        return 77;
    for (unsigned t = 1; t <= 2; t++) {
        ds_scan_opts so;
        ds_scan_opts_default(&so);
        so.threads = t;
        so.chunk_bytes = 256u << 10;
        so.nowait_reads = DS_SCAN_NOWAIT_ON;
        ds_scan_result r;
        ds_errbuf eb = {{0}};
        if (ds_scan(g_det_dump, &so, &r, &eb) != DS_OK)
            return 2;
        if (!r.stats.validated_in_stream)
            return 3;
        /* put off, some settled in the stream, some after it */
        if (r.stats.deferred == 0 || r.stats.deferred_at_end == 0 ||
            r.stats.deferred_at_end >= r.stats.deferred)
            return 4;
        if (!same_result(&r, g_det_first))
            return 5;
        ds_scan_result_free(&r);
    }
    return 0;
}

/* The result does not depend on how many workers found the hits, nor on
 * which found which first, nor on when the candidates were validated:
 * records, drivers and details are identical with 1, 2 and 3 workers,
 * validated in the stream (per chunk), after it, and after it because the
 * kernel maps more pages than the in-stream page map may hold; nor, in
 * a forked child, when every no-wait read misses the page cache. */
static void test_scan_deterministic(void **state)
{
    (void)state;
    char dir[] = "/tmp/ds_scan_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tpath[160];
    snprintf(path, sizeof(path), "%s/d.raw", dir);
    snprintf(tpath, sizeof(tpath), "%s.truth.ndjson", path);
    gen_opts go = {.out_path = path, .build_key = "win10_2004_22h2_x64", .size_mib = 48,
                   .seed = 13, .noise = true, .format = GEN_FMT_RAW};
    gen_summary sum;
    ds_errbuf eb = {{0}};
    assert_int_equal(gen_run(&go, &sum, &eb), DS_OK);
    ds_dump *d = NULL;
    assert_int_equal(ds_dump_open(&d, path, NULL, &eb), DS_OK);
    ds_scan_result first = {0};
    for (unsigned run = 0; run < 9; run++) {
        ds_scan_opts so;
        ds_scan_opts_default(&so);
        so.threads = 1 + run % 3;
        so.chunk_bytes = 256u << 10; /* many chunks: many orders */
        unsigned mode = run / 3; /* 0 in the stream, 1 after, 2 map too small */
        so.validate_after_stream = mode == 1;
        so.early_max_pages = mode == 2 ? 1 : 0;
        ds_scan_result r;
        assert_int_equal(ds_scan(d, &so, &r, &eb), DS_OK);
        assert_int_equal(r.stats.validated_in_stream, mode == 0);
        if (run == 0) {
            first = r;
            continue;
        }
        assert_int_equal(r.nprocs, first.nprocs);
        assert_int_equal(r.nthreads, first.nthreads);
        assert_true(same_result(&r, &first));
        ds_scan_result_free(&r);
    }
    g_det_dump = d;
    g_det_first = &first;
    run_child_test(nowait_miss_child);
    ds_scan_result_free(&first);
    ds_dump_close(d);
    unlink(path);
    unlink(tpath);
    rmdir(dir);
}

/* A smeared list: overwrite the Flink of the process just before the
 * (unreadable) `unmapped` one with garbage.  The forward walk now stops at
 * the garbage and cannot pass the unmapped entry either, so only the
 * backward walk reaches the tail of the list: every linked process must
 * still be seen by the list view, and none may be called hidden. */
static void test_corrupted_list_entry(void **state)
{
    (void)state;
    char dir[] = "/tmp/ds_scan_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tpath[160];
    snprintf(path, sizeof(path), "%s/d.raw", dir);
    snprintf(tpath, sizeof(tpath), "%s.truth.ndjson", path);
    gen_opts go = {.out_path = path, .build_key = "win10_2004_22h2_x64", .size_mib = 32,
                   .seed = 11, .format = GEN_FMT_RAW};
    gen_summary sum;
    ds_errbuf eb = {{0}};
    assert_int_equal(gen_run(&go, &sum, &eb), DS_OK);
    truth tr;
    load_truth(tpath, &tr);
    const ds_profile *p = ds_profile_by_key("win10_2004_22h2_x64");
    uint64_t unmapped_links = 0;
    for (size_t i = 0; i < tr.np; i++)
        if (strcmp(tr.p[i].category, "unmapped") == 0)
            unmapped_links = tr.p[i].va + p->ep_links;
    assert_true(unmapped_links != 0);

    /* Raw image: file offset == physical address. */
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    bool patched = false;
    for (size_t i = 0; i < tr.np && !patched; i++) {
        uint64_t at = tr.p[i].pa + p->ep_links;
        if (!tr.p[i].linked || (at & 0xfff) + 8 > 0x1000)
            continue;
        uint64_t flink = 0;
        assert_int_equal(fseek(f, (long)at, SEEK_SET), 0);
        assert_int_equal(fread(&flink, 8, 1, f), 1);
        if (flink != unmapped_links)
            continue;
        uint64_t garbage = 0x4141414141414141ull;
        assert_int_equal(fseek(f, (long)at, SEEK_SET), 0);
        assert_int_equal(fwrite(&garbage, 8, 1, f), 1);
        patched = true;
    }
    fclose(f);
    assert_true(patched);

    ds_dump *d = NULL;
    assert_int_equal(ds_dump_open(&d, path, NULL, &eb), DS_OK);
    ds_scan_result r;
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    assert_false(r.stats.list_complete);
    size_t linked = 0;
    for (size_t i = 0; i < tr.np; i++) {
        const ds_proc *o = find_proc(&r, tr.p[i].pa);
        assert_non_null(o);
        if (tr.p[i].linked) {
            linked++;
            if (!(o->sources & DS_VIEW_LIST))
                print_error("%s (pid %" PRIu64 ") lost from the list view\n", tr.p[i].name,
                            tr.p[i].pid);
            assert_true(o->sources & DS_VIEW_LIST);
        }
        assert_int_equal(o->hidden, strncmp(tr.p[i].category, "dkom_unlinked", 13) == 0);
    }
    assert_int_equal(r.stats.list_entries, linked);
    free_truth(&tr);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    unlink(path);
    unlink(tpath);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_all_builds_and_formats),
        cmocka_unit_test(test_scan_noisy_raw_seeds),
        cmocka_unit_test(test_scan_kdbg_modes),
        cmocka_unit_test(test_scan_deterministic),
        cmocka_unit_test(test_corrupted_list_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
