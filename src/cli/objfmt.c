/* objfmt.c - scan's process and thread records; see objfmt.h.  The
 * fields past `pool_pa` / `tag_wiped` are the `!process 0 2`-level ones
 * (issue 14): present on every record, null where unknown. */
#include "objfmt.h"

#include <inttypes.h>
#include <string.h>

#include "../syscalls.h"
#include "recfmt.h"

/* The word the `sources` field uses for the triage block of a minidump;
 * the scan's own view names are in scan/names.c. */
#define TRIAGE_SOURCE "triage"

static void rec_triage_source(ds_rec *r)
{
    const char *src[1] = {TRIAGE_SOURCE};
    ds_rec_str_array(r, "sources", src, 1);
}

static void str_or_null(ds_rec *r, const char *name, const char *s)
{
    ds_rec_str(r, name, s && s[0] ? s : NULL);
}

/* PS_PROTECTION: Type in bits 0-2, Signer in bits 4-7 (ntddk). */
static const char *protection_type(int v)
{
    static const char *const n[] = {"none", "light", "full"};
    return v >= 0 && (v & 7) < 3 ? n[v & 7] : NULL;
}

static const char *protection_signer(int v)
{
    static const char *const n[] = {"none", "authenticode", "codegen", "antimalware", "lsa",
                                    "windows", "wintcb", "winsystem", "app"};
    return v >= 0 && (v >> 4) < 9 ? n[v >> 4] : NULL;
}

#define STATUS_PENDING 0x103u

/* Process fields beyond the cross-view: handles, image path, command
 * line and current directory (user memory: null when its pages are not
 * in the dump), token, protection, WoW64, exit status.  p NULL: all null. */
static void process_depth(ds_rec *r, const ds_proc *p, const ds_proc_detail *det)
{
    if (det && det->handle_count >= 0)
        ds_rec_u64(r, "handle_count", (uint64_t)det->handle_count);
    else
        ds_rec_null(r, "handle_count");
    str_or_null(r, "image_path", det ? det->image_path : NULL);
    str_or_null(r, "command_line", det ? det->command_line : NULL);
    str_or_null(r, "current_directory", det ? det->current_directory : NULL);
    rec_opt_hex(r, "token", p ? p->token : 0, 0);
    ds_rec_str(r, "protection_type", p ? protection_type(p->protection) : NULL);
    ds_rec_str(r, "protection_signer", p ? protection_signer(p->protection) : NULL);
    if (p && p->wow64 >= 0)
        ds_rec_bool(r, "wow64", p->wow64);
    else
        ds_rec_null(r, "wow64");
    /* NTSTATUS of an exited process; a live one still holds STATUS_PENDING */
    if (p && (p->exit_time != 0 || p->exit_status != STATUS_PENDING))
        ds_rec_hex(r, "exit_status", p->exit_status);
    else
        ds_rec_null(r, "exit_status");
}

static const char *syscall_source_name(unsigned s)
{
    return s == DS_SYSCALL_KTHREAD ? "kthread" : s == DS_SYSCALL_TRAP_FRAME ? "trap_frame" : NULL;
}

/* Thread fields beyond the scan's: names of state and wait reason, wait
 * mode, alertability, Win32Thread, stacks, the system service it is in. */
static void thread_depth(ds_rec *r, const obj_ctx *c, const ds_thread *t)
{
    ds_rec_str(r, "state_name", t ? ds_thread_state_name(t->state) : NULL);
    ds_rec_str(r, "wait_reason_name",
               t && t->state == 5 ? ds_wait_reason_name(c->build, t->wait_reason) : NULL);
    ds_rec_str(r, "wait_mode",
               t && t->wait_mode >= 0 ? (t->wait_mode ? "UserMode" : "KernelMode") : NULL);
    if (t && t->alertable >= 0)
        ds_rec_bool(r, "alertable", t->alertable);
    else
        ds_rec_null(r, "alertable");
    rec_opt_hex(r, "win32_thread", t ? t->win32_thread : 0, 0);
    rec_opt_hex(r, "stack_base", t ? t->stack_base : 0, 0);
    rec_opt_hex(r, "stack_limit", t ? t->stack_limit : 0, 0);
    rec_opt_hex(r, "kernel_stack", t ? t->kernel_stack : 0, 0);
    bool sc = t && t->syscall_source != DS_SYSCALL_NONE;
    if (sc)
        ds_rec_u64(r, "syscall_number", t->syscall_number);
    else
        ds_rec_null(r, "syscall_number");
    ds_rec_str(r, "syscall_name", sc ? ds_syscall_name(c->build, c->is64, t->syscall_number) : NULL);
    ds_rec_str(r, "syscall_source", sc ? syscall_source_name(t->syscall_source) : NULL);
}

void obj_emit_process(ds_rec *r, ds_writer *w, const obj_ctx *c, const ds_proc *p,
                      const ds_proc_detail *det)
{
    const char *path = c->path, *id = c->id;
    ds_rec_begin(r, w, "process");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    rec_opt_hex(r, "eprocess_va", p->eprocess_va, DS_NO_VALUE);
    rec_opt_hex(r, "eprocess_pa", p->eprocess_pa, DS_NO_VALUE);
    ds_rec_u64(r, "pid", p->pid);
    ds_rec_u64(r, "ppid", p->ppid);
    ds_rec_bytes(r, "name", p->name, strlen(p->name));
    if (p->session_id == UINT32_MAX)
        ds_rec_null(r, "session_id");
    else
        ds_rec_u64(r, "session_id", p->session_id);
    ds_rec_time(r, "create_time", p->create_time);
    ds_rec_time(r, "exit_time", p->exit_time);
    ds_rec_hex(r, "dtb", p->dtb);
    ds_rec_hex(r, "peb", p->peb);
    ds_rec_hex(r, "object_table", p->object_table);
    ds_rec_u64(r, "active_threads", p->active_threads);
    ds_rec_u64(r, "thread_count", p->thread_count);
    ds_rec_i64(r, "score", p->score);
    rec_bits(r, "sources", p->sources, DS_VIEW_COUNT, ds_view_name);
    ds_rec_bool(r, "unlinked", p->unlinked);
    ds_rec_bool(r, "terminated", p->terminated);
    ds_rec_bool(r, "hidden", p->hidden);
    rec_bits(r, "reasons", p->reasons, DS_REASON_COUNT, ds_reason_name);
    rec_bits(r, "failed_checks", p->failed, DS_CHECK_COUNT, ds_check_name);
    ds_rec_bool(r, "tag_wiped", p->tag_wiped);
    rec_opt_hex(r, "pool_pa", p->pool_pa, DS_NO_VALUE);
    process_depth(r, p, det);
}

/* The triage block's process: the same fields as emit_process, null
 * where the triage block does not say (it is a copy, not an object found
 * in physical memory, so it has no address, score or verdict). */
void obj_emit_triage_process(ds_rec *r, ds_writer *w, const obj_ctx *c, const triage_facts *t)
{
    const char *path = c->path, *id = c->id;
    const ds_copy_process *pc = &t->pc;
    ds_rec_begin(r, w, "process");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    ds_rec_null(r, "eprocess_va");
    ds_rec_null(r, "eprocess_pa");
    ds_rec_u64(r, "pid", t->pid);
    ds_rec_u64(r, "ppid", t->ppid);
    ds_rec_bytes(r, "name", t->name, strlen(t->name));
    ds_rec_null(r, "session_id");
    ds_rec_time(r, "create_time", pc->create_time);
    ds_rec_time(r, "exit_time", pc->exit_time);
    ds_rec_hex(r, "dtb", pc->dtb);
    ds_rec_hex(r, "peb", pc->peb);
    ds_rec_hex(r, "object_table", pc->object_table);
    ds_rec_u64(r, "active_threads", pc->active_threads);
    ds_rec_u64(r, "thread_count", t->has_thread && t->thread_pid == t->pid);
    ds_rec_null(r, "score");
    rec_triage_source(r);
    ds_rec_bool(r, "unlinked", false);
    ds_rec_bool(r, "terminated", false);
    ds_rec_bool(r, "hidden", false);
    ds_rec_str_array(r, "reasons", NULL, 0);
    ds_rec_str_array(r, "failed_checks", NULL, 0);
    ds_rec_bool(r, "tag_wiped", false);
    ds_rec_null(r, "pool_pa");
    /* the copy's own fields; what needs other memory (handle table,
     * image path, user pages) is not in a triage dump */
    ds_proc p = {.token = pc->token, .protection = pc->protection, .wow64 = pc->wow64,
                 .exit_status = pc->exit_status, .exit_time = pc->exit_time};
    process_depth(r, &p, NULL);
}

void obj_emit_thread(ds_rec *r, ds_writer *w, const obj_ctx *c, const ds_thread *t)
{
    const char *path = c->path, *id = c->id;
    ds_rec_begin(r, w, "thread");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    rec_opt_hex(r, "ethread_va", t->ethread_va, DS_NO_VALUE);
    rec_opt_hex(r, "ethread_pa", t->ethread_pa, DS_NO_VALUE);
    ds_rec_u64(r, "pid", t->pid);
    ds_rec_u64(r, "tid", t->tid);
    ds_rec_hex(r, "eprocess_va", t->eprocess_va);
    ds_rec_hex(r, "start_address", t->start_address);
    ds_rec_hex(r, "win32_start_address", t->win32_start_address);
    ds_rec_hex(r, "teb", t->teb);
    ds_rec_time(r, "create_time", t->create_time);
    ds_rec_time(r, "exit_time", t->exit_time);
    ds_rec_u64(r, "state", t->state);
    ds_rec_u64(r, "wait_reason", t->wait_reason);
    ds_rec_hex(r, "trap_frame", t->trap_frame);
    rec_opt_hex(r, "rip", t->rip, DS_NO_VALUE);
    rec_opt_hex(r, "rsp", t->rsp, DS_NO_VALUE);
    ds_rec_i64(r, "score", t->score);
    rec_bits(r, "sources", t->sources, DS_VIEW_COUNT, ds_view_name);
    rec_bits(r, "failed_checks", t->failed, DS_CHECK_COUNT, ds_check_name);
    ds_rec_bool(r, "tag_wiped", t->tag_wiped);
    thread_depth(r, c, t);
}

void obj_emit_triage_thread(ds_rec *r, ds_writer *w, const obj_ctx *c, const triage_facts *t)
{
    const char *path = c->path, *id = c->id;
    const ds_copy_thread *tc = &t->tc;
    ds_rec_begin(r, w, "thread");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    ds_rec_null(r, "ethread_va");
    ds_rec_null(r, "ethread_pa");
    ds_rec_u64(r, "pid", t->thread_pid);
    ds_rec_u64(r, "tid", t->tid);
    ds_rec_hex(r, "eprocess_va", tc->eprocess_va);
    ds_rec_hex(r, "start_address", tc->start_address);
    ds_rec_hex(r, "win32_start_address", tc->win32_start_address);
    ds_rec_hex(r, "teb", tc->teb);
    ds_rec_time(r, "create_time", tc->create_time);
    ds_rec_time(r, "exit_time", tc->exit_time);
    ds_rec_u64(r, "state", tc->state);
    ds_rec_u64(r, "wait_reason", tc->wait_reason);
    ds_rec_hex(r, "trap_frame", tc->trap_frame);
    rec_opt_hex(r, "rip", t->rip, DS_NO_VALUE);
    rec_opt_hex(r, "rsp", t->rsp, DS_NO_VALUE);
    ds_rec_null(r, "score");
    rec_triage_source(r);
    ds_rec_str_array(r, "failed_checks", NULL, 0);
    ds_rec_bool(r, "tag_wiped", false);
    ds_thread th = {.state = tc->state, .wait_reason = tc->wait_reason,
                    .win32_thread = tc->win32_thread, .stack_base = tc->stack_base,
                    .stack_limit = tc->stack_limit, .kernel_stack = tc->kernel_stack,
                    .wait_mode = tc->wait_mode, .alertable = tc->alertable,
                    .syscall_number = tc->syscall_number,
                    .syscall_source = tc->has_syscall ? DS_SYSCALL_KTHREAD : DS_SYSCALL_NONE};
    thread_depth(r, c, &th);
}


static void upper(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < cap; i++)
        dst[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    dst[i] = 0;
}

void obj_table_thread(ds_strbuf *sb, const obj_ctx *c, const ds_thread *t)
{
    ds_sb_printf(sb, "    Thread 0x%" PRIx64 " Cid %04" PRIx64 ".%04" PRIx64 " Teb 0x%" PRIx64
                     " Win32Thread 0x%" PRIx64 " ",
                 t->ethread_va == DS_NO_VALUE ? 0 : t->ethread_va, t->pid, t->tid, t->teb,
                 t->win32_thread);
    if (t->state == 5) {
        const char *reason = ds_wait_reason_name(c->build, t->wait_reason);
        ds_sb_printf(sb, "WAIT: (%s) %s %s\n", reason ? reason : "?",
                     t->wait_mode < 0 ? "?" : t->wait_mode ? "UserMode" : "KernelMode",
                     t->alertable < 0 ? "" : t->alertable ? "Alertable" : "Non-Alertable");
    } else {
        char st[32];
        const char *name = ds_thread_state_name(t->state);
        upper(st, sizeof(st), name ? name : "?");
        ds_sb_printf(sb, "%s\n", st);
    }
    ds_sb_printf(sb, "        TrapFrame 0x%" PRIx64 " Start 0x%" PRIx64, t->trap_frame,
                 t->start_address);
    if (t->rip != DS_NO_VALUE)
        ds_sb_printf(sb, " Rip 0x%" PRIx64, t->rip);
    ds_sb_printf(sb, "\n");
    if (t->syscall_source != DS_SYSCALL_NONE) {
        const char *name = ds_syscall_name(c->build, c->is64, t->syscall_number);
        ds_sb_printf(sb, "        System Call Number: %u ===> %s%s\n", t->syscall_number,
                     name ? "nt!" : "", name ? name : "(unknown for this build)");
    }
}
