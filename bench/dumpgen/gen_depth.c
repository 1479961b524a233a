/* gen_depth.c - what `!process 0 2` shows of the generated machine beyond
 * the cross-view, with the truth to check it against.
 *
 * Per process (after the population, the CID tables and the drivers):
 *   - a handle table with a known number of handles (System's is built
 *     with the CID table): each live user process gets 3..40 handles to
 *     its own threads' and token's object headers;
 *   - the image path: SeAuditProcessCreationInfo.ImageFileName ->
 *     OBJECT_NAME_INFORMATION in pool, "\Device\HarddiskVolume3\..." (none
 *     for the kernel-only processes);
 *   - on x64, about one user process in eight is a WoW64 one (a non-null
 *     Wow64Process);
 *   - user processes get RTL_USER_PROCESS_PARAMETERS (in a user page: x64
 *     PEB + 0x1000, x86 0x20000 as XP put it) with a command line and a
 *     current directory, named by PEB.ProcessParameters.
 * Per thread: a waiting thread gets a wait mode (UserMode for user
 * threads in UserRequest/WrUserRequest/DelayExecution/WrQueue waits) and,
 * where the build's layout is known, an Alertable flag; a waiting user
 * thread waits in a known system service (KTHREAD.SystemCallNumber and the
 * trap frame's Rax/Eax; by name, numbered from the build's table); GUI
 * processes' threads get a Win32Thread. */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"
#include "syscalls.h"

static const char *const gui[] = {"explorer.exe", "chrome.exe", "notepad.exe", "Taskmgr.exe",
                                  "OneDrive.exe", NULL};

static bool is_gui(const gen_proc *p)
{
    for (unsigned i = 0; gui[i]; i++)
        if (strcmp(p->full_name, gui[i]) == 0)
            return true;
    return false;
}

/* Number of service `name` in the build's table (reverse lookup). */
static bool syscall_number(const gen_ctx *g, const char *name, uint32_t *n)
{
    const ds_syscall_table *t = ds_syscall_table_for(g->build, g->is64);
    for (uint32_t i = 0; t && i < t->count; i++)
        if (t->names[i] && strcmp(t->names[i], name) == 0) {
            *n = i;
            return true;
        }
    return false;
}

static ds_err process_handles(gen_ctx *g, size_t pi)
{
    gen_proc *pr = &g->procs[pi];
    gen_hte ents[48];
    size_t n = 0;
    unsigned want = (unsigned)gen_rng_range(&g->rng, 3, 40);
    uint32_t h = 4;
    for (uint32_t k = 0; k < pr->nthreads && n < want; k++, h += 4)
        ents[n++] = (gen_hte){h, g->threads[pr->first_thread + k].hdr_va, 0x1fffff};
    uint64_t token_hdr = pr->token + g->p->oh_body;
    while (n < want) {
        ents[n++] = (gen_hte){h, token_hdr, 0x8};
        h += 4;
    }
    uint64_t table;
    unsigned levels;
    ds_err e = gen_handle_table(g, ents, n, &table, &levels);
    if (!e)
        e = gen_kwptr(g, pr->va, g->p->ep_object_table, table);
    g->procs[pi].handle_count = (int64_t)n;
    return e;
}

static ds_err image_path(gen_ctx *g, gen_proc *pr)
{
    if (g->p->ep_se_audit == DS_OFF_NONE)
        return DS_OK;
    snprintf(pr->image_path, sizeof(pr->image_path),
             "\\Device\\HarddiskVolume3\\Windows\\System32\\%s", pr->full_name);
    uint64_t oni;
    uint32_t bytes = (uint32_t)(2 * g->ptr + (strlen(pr->image_path) + 1) * 2);
    ds_err e = gen_pool_struct(g, bytes, "SeOn", false, &oni);
    if (!e)
        e = gen_write_ustr(g, oni, oni + 2 * g->ptr, pr->image_path);
    if (!e)
        e = gen_kwptr(g, pr->va, g->p->ep_se_audit, oni);
    return e;
}

static ds_err user_params(gen_ctx *g, gen_proc *pr)
{
    unsigned ptr = g->ptr;
    uint64_t params = g->is64 ? pr->peb + 0x1000 : 0x20000;
    uint64_t pfn;
    ds_err e = gen_alloc_pfn(g, GP_USER, 0, &pfn);
    if (!e)
        e = gen_map(g, pr->root_pa, params, pfn, GEN_PTE_UDATA);
    if (e)
        return e;
    snprintf(pr->command_line, sizeof(pr->command_line),
             "\"C:\\Windows\\System32\\%s\" --instance %u", pr->full_name, pr->pid);
    snprintf(pr->current_directory, sizeof(pr->current_directory), "C:\\Windows\\system32\\");
    unsigned cd = g->is64 ? 0x38 : 0x24, cl = g->is64 ? 0x70 : 0x40;
    uint64_t strings = params + 0x400;
    uint64_t cmd_buf = strings + 0x100;
    uint8_t zero[GEN_PAGE] = {0};
    if ((e = gen_vwrite(g, pr->root_pa, params, zero, sizeof(zero))) ||
        (e = gen_vwrite(g, pr->root_pa, pr->peb + (g->is64 ? 0x20 : 0x10), &params, ptr)))
        return e;
    /* UNICODE_STRINGs and their buffers, written through the process's
     * tables (user pages are not in the kernel address space) */
    const char *s[2] = {pr->current_directory, pr->command_line};
    uint64_t at[2] = {params + cd, params + cl}, buf[2] = {strings, cmd_buf};
    for (int k = 0; k < 2 && !e; k++) {
        uint16_t lm[2] = {(uint16_t)(strlen(s[k]) * 2), (uint16_t)(strlen(s[k]) * 2 + 2)};
        if ((e = gen_vwrite(g, pr->root_pa, at[k], lm, 4)) ||
            (e = gen_vwrite(g, pr->root_pa, at[k] + ptr, &buf[k], ptr)))
            return e;
        for (size_t i = 0; s[k][i] && !e; i++) {
            uint16_t ch = (uint8_t)s[k][i];
            e = gen_vwrite(g, pr->root_pa, buf[k] + 2 * i, &ch, 2);
        }
        uint16_t stale = '~'; /* no terminating NUL promised: see gen_write_ustr */
        if (!e)
            e = gen_vwrite(g, pr->root_pa, buf[k] + lm[0], &stale, 2);
    }
    return e;
}

static ds_err wow64(gen_ctx *g, gen_proc *pr)
{
    if (!g->is64 || g->p->ep_wow64 == DS_OFF_NONE || !pr->user || !gen_rng_chance(&g->rng, 12))
        return DS_OK;
    uint64_t w;
    ds_err e = gen_pool_struct(g, 0x40, "Wo64", false, &w);
    if (!e)
        e = gen_kwptr(g, pr->va, g->p->ep_wow64, w);
    if (!e)
        pr->wow64 = 1;
    return e;
}

static bool user_wait(uint8_t reason)
{
    return reason == 6 || reason == 13 || reason == 4 || reason == 15;
}

static ds_err thread_depth(gen_ctx *g, gen_thread *t, bool gui_proc)
{
    static const char *const services[] = {"NtWaitForSingleObject", "NtWaitForMultipleObjects",
                                           "NtRemoveIoCompletion", "NtDelayExecution",
                                           "NtDeviceIoControlFile", "NtReadFile"};
    const ds_profile *p = g->p;
    ds_err e = DS_OK;
    if (gui_proc && t->alive && t->user && gen_rng_chance(&g->rng, 50)) {
        if ((e = gen_pool_struct(g, 0x80, "Usti", false, &t->win32_thread)) ||
            (e = gen_kwptr(g, t->va, p->kt_win32thread, t->win32_thread)))
            return e;
    }
    if (t->state != 5)
        return DS_OK;
    t->wait_mode = (int8_t)(t->user && user_wait(t->wait_reason));
    if ((e = gen_kw8(g, t->va, p->kt_wait_mode, (uint8_t)t->wait_mode)))
        return e;
    if (p->kt_alertable != DS_OFF_NONE) {
        t->alertable = (int8_t)gen_rng_chance(&g->rng, 40);
        uint8_t v = (uint8_t)((uint8_t)t->alertable << p->kt_alertable_bit);
        if ((e = gen_kw8(g, t->va, p->kt_alertable, v)))
            return e;
    }
    if (!t->user || !t->trap_va)
        return DS_OK;
    const char *name = services[gen_rng_below(&g->rng, sizeof(services) / sizeof(services[0]))];
    if (!syscall_number(g, name, &t->syscall_number))
        return DS_OK;
    t->syscall = name;
    if (p->kt_syscall_number != DS_OFF_NONE &&
        (e = gen_kw32(g, t->va, p->kt_syscall_number, t->syscall_number)))
        return e;
    return gen_kwptr(g, t->trap_va, p->tf_rax, t->syscall_number);
}

ds_err gen_depth_build(gen_ctx *g)
{
    ds_err e;
    for (size_t i = 0; i < g->nprocs; i++) {
        gen_proc *pr = &g->procs[i];
        bool live = pr->exit_time == 0;
        if (live && i != 0 && (e = process_handles(g, i)))
            return e;
        pr = &g->procs[i];
        if (pr->user && (e = image_path(g, pr)))
            return e;
        if (pr->user && pr->peb && (e = user_params(g, pr)))
            return e;
        if ((e = wow64(g, pr)))
            return e;
        bool gui_proc = is_gui(pr);
        for (uint32_t k = 0; k < pr->nthreads; k++)
            if ((e = thread_depth(g, &g->threads[pr->first_thread + k], gui_proc)))
                return e;
    }
    return DS_OK;
}
