/* crash.c - crash analysis of one dump; see crash.h for the steps. */
#include "crash.h"

#include <capstone/capstone.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/bugcheck.h"
#include "../src/dumpfmt.h"
#include "../src/le.h"
#include "bucket.h"

/* Where the dump header keeps the crash CONTEXT and EXCEPTION_RECORD. */
#define HDR64_CONTEXT 0x348u
#define HDR64_EXCEPTION 0xf00u
#define HDR32_CONTEXT 0x320u
#define KPRCB_LEGACY_NUMBER 0x4u   /* x64 KPRCB: byte processor number (Win7..11) */
#define MAX_PROCESSORS 2048u

const char *ds_ctx_source_name(ds_ctx_source s)
{
    static const char *const n[] = {NULL, "header", "context_record", "trap_frame"};
    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : NULL;
}

static void note(ds_crash *c, const char *fmt, ...)
{
    size_t len = strlen(c->notes);
    if (len + 3 >= sizeof(c->notes))
        return;
    if (len) {
        memcpy(c->notes + len, "; ", 2);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->notes + len, sizeof(c->notes) - len, fmt, ap);
    va_end(ap);
}

static bool is64(const ds_dump *d)
{
    return d->arch == DS_ARCH_X64;
}

static unsigned ptrsz(const ds_dump *d)
{
    return is64(d) ? 8 : 4;
}

static bool kptr(const ds_dump *d, uint64_t v)
{
    return ds_is_kernel_ptr(ptrsz(d), v);
}

/* ---- contexts ------------------------------------------------------------ */

static void regs_from_ctx64(const ds_context64 *c, ds_regs64 *r)
{
    r->rip = c->Rip;
    memcpy(r->gpr, c->Gpr, sizeof(r->gpr));
}

static void regs_from_ctx32(const ds_context32 *c, ds_regs64 *r)
{
    memset(r, 0, sizeof(*r));
    r->rip = c->Eip;
    r->gpr[0] = c->Eax;
    r->gpr[1] = c->Ecx;
    r->gpr[2] = c->Edx;
    r->gpr[3] = c->Ebx;
    r->gpr[DS_CTX64_RSP] = c->Esp;
    r->gpr[DS_CTX64_RBP] = c->Ebp;
    r->gpr[6] = c->Esi;
    r->gpr[7] = c->Edi;
}

/* The header's (or the triage block's) CONTEXT. */
static bool header_context(const ds_dump *d, ds_regs64 *r)
{
    if (d->format == DS_FMT_CRASH64 && is64(d)) {
        ds_context64 c;
        uint64_t off = d->triage && d->triage->context_offset ? d->triage->context_offset
                                                                : HDR64_CONTEXT;
        if (ds_file_read(&d->file, off, &c, sizeof(c)) != DS_OK)
            return false;
        regs_from_ctx64(&c, r);
        return true;
    }
    if (d->format == DS_FMT_CRASH32) {
        ds_context32 c;
        if (ds_file_read(&d->file, HDR32_CONTEXT, &c, sizeof(c)) != DS_OK)
            return false;
        regs_from_ctx32(&c, r);
        return true;
    }
    return false;
}

static bool context_at(const ds_dump *d, uint64_t va, ds_regs64 *r)
{
    if (!kptr(d, va))
        return false;
    if (is64(d)) {
        ds_context64 c;
        if (ds_kread(d, va, &c, sizeof(c)) != DS_OK)
            return false;
        regs_from_ctx64(&c, r);
    } else {
        ds_context32 c;
        if (ds_kread(d, va, &c, offsetof(ds_context32, Extended)) != DS_OK)
            return false;
        regs_from_ctx32(&c, r);
    }
    return kptr(d, r->rip) && kptr(d, r->gpr[DS_CTX64_RSP]);
}

static bool trap_frame_at(const ds_dump *d, uint64_t va, ds_regs64 *r)
{
    const ds_profile *p = d->profile;
    if (!p || !kptr(d, va) || p->tf_rip == DS_OFF_NONE || p->tf_rsp == DS_OFF_NONE)
        return false;
    memset(r, 0, sizeof(*r));
    uint64_t v;
    if (ds_kread_ptr(d, va + p->tf_rip, &v) != DS_OK)
        return false;
    r->rip = v;
    if (ds_kread_ptr(d, va + p->tf_rsp, &v) != DS_OK)
        return false;
    r->gpr[DS_CTX64_RSP] = v;
    if (p->tf_rbp != DS_OFF_NONE && ds_kread_ptr(d, va + p->tf_rbp, &v) == DS_OK)
        r->gpr[DS_CTX64_RBP] = v;
    return kptr(d, r->rip) && kptr(d, r->gpr[DS_CTX64_RSP]);
}

static uint64_t param(const ds_crash *c, uint8_t n)
{
    return n >= 1 && n <= 4 ? c->params[n - 1] : 0;
}

/* Step 3: pick the start context. */
static bool start_context(const ds_dump *d, ds_crash *c, ds_regs64 *r)
{
    const ds_bugcheck_info *bi = c->info;
    if (bi && bi->cxr_param && context_at(d, param(c, bi->cxr_param), r)) {
        c->context_source = DS_CTXSRC_CXR;
        return true;
    }
    if (bi && bi->trap_param && trap_frame_at(d, param(c, bi->trap_param), r)) {
        c->context_source = DS_CTXSRC_TRAP;
        return true;
    }
    if (bi && (bi->cxr_param || bi->trap_param))
        note(c, "the %s named by parameter %u is not in the dump",
             bi->cxr_param ? "context record" : "trap frame",
             bi->cxr_param ? bi->cxr_param : bi->trap_param);
    if (header_context(d, r)) {
        c->context_source = DS_CTXSRC_HEADER;
        return true;
    }
    note(c, "no crash context in this dump");
    return false;
}

/* ---- who crashed ------------------------------------------------------- */

static void from_triage(const ds_dump *d, ds_crash *c)
{
    const ds_triage *t = d->triage;
    if (t->has_process) {
        c->has_process = true;
        memcpy(c->process, t->process_name, sizeof(c->process));
        c->process[sizeof(c->process) - 1] = 0;
        c->pid = t->process_pid;
    }
    if (t->has_thread) {
        c->has_thread = true;
        c->tid = t->thread_tid;
        if (!c->has_process)
            c->pid = t->thread_pid;
    }
    uint8_t num;
    if (t->prcb_offset && is64(d) &&
        ds_file_read(&d->file, t->prcb_offset + KPRCB_LEGACY_NUMBER, &num, 1) == DS_OK)
        c->processor = num;
}

/* The thread and process of the thread at va (full and kernel dumps). */
static void describe_thread(const ds_dump *d, ds_crash *c, uint64_t thread)
{
    const ds_profile *p = d->profile;
    uint64_t v;
    c->has_thread = ds_kread_ptr(d, thread + p->et_cid_tid, &c->tid) == DS_OK;
    uint16_t own = p->kt_process != DS_OFF_NONE ? p->kt_process : p->kt_apc_process;
    uint64_t proc;
    if (own == DS_OFF_NONE || ds_kread_ptr(d, thread + own, &proc) != DS_OK || !kptr(d, proc))
        return;
    char name[16] = {0};
    if (ds_kread_ptr(d, proc + p->ep_pid, &v) == DS_OK &&
        ds_kread(d, proc + p->ep_name, name, 15) == DS_OK) {
        c->has_process = true;
        c->pid = v;
        memcpy(c->process, name, sizeof(name));
    }
}

/* The processor whose current thread's kernel stack holds sp. */
static void from_processors(const ds_dump *d, ds_crash *c, uint64_t sp, uint64_t *stack_top,
                            uint64_t *stack_low)
{
    const ds_profile *p = d->profile;
    uint64_t blk = 0;
    uint16_t cur_off = 0;
    if (!p || !d->kdbg_valid || !kptr(d, d->kdbg_va) ||
        ds_kread_ptr(d, d->kdbg_va + DS_KDBG_KI_PROCESSOR_BLOCK, &blk) != DS_OK || !kptr(d, blk) ||
        ds_kread(d, d->kdbg_va + DS_KDBG_OFFSET_PRCB_CURRENT_THREAD, &cur_off, 2) != DS_OK ||
        p->kt_initial_stack == DS_OFF_NONE || p->kt_stack_limit == DS_OFF_NONE) {
        note(c, "crashing thread unknown: no KiProcessorBlock");
        return;
    }
    unsigned n = d->processors && d->processors < MAX_PROCESSORS ? d->processors : 64;
    for (unsigned i = 0; i < n; i++) {
        uint64_t prcb, thread, top, limit;
        if (ds_kread_ptr(d, blk + (uint64_t)i * ptrsz(d), &prcb) != DS_OK || !kptr(d, prcb) ||
            ds_kread_ptr(d, prcb + cur_off, &thread) != DS_OK || !kptr(d, thread) ||
            ds_kread_ptr(d, thread + p->kt_initial_stack, &top) != DS_OK ||
            ds_kread_ptr(d, thread + p->kt_stack_limit, &limit) != DS_OK)
            continue;
        /* the kernel stack, with room above InitialStack for the
         * KTRAP_FRAME and the floating point save area */
        if (sp >= limit && sp < top + 0x1000) {
            c->processor = (int)i;
            *stack_top = top + 0x1000;
            *stack_low = limit;
            describe_thread(d, c, thread);
            return;
        }
    }
    note(c, "crashing thread unknown: no processor's current thread owns the stack");
}

/* ---- where --------------------------------------------------------------- */

static void disassemble(const ds_dump *d, ds_crash *c, csh cs)
{
    uint8_t code[16];
    if (!cs || ds_kread(d, c->faulting_ip, code, sizeof(code)) != DS_OK)
        return;
    cs_insn *insn = NULL;
    if (cs_disasm(cs, code, sizeof(code), c->faulting_ip, 1, &insn) == 1) {
        snprintf(c->instruction, sizeof(c->instruction), "%s%s%s", insn[0].mnemonic,
                 insn[0].op_str[0] ? " " : "", insn[0].op_str);
        cs_free(insn, 1);
    }
}

static void exception_facts(const ds_dump *d, ds_crash *c, uint64_t *ip)
{
    const ds_bugcheck_info *bi = c->info;
    if (bi && bi->exc_code_param) {
        c->has_exception_code = true;
        c->exception_code = (uint32_t)param(c, bi->exc_code_param);
    }
    if (bi && bi->exr_param && kptr(d, param(c, bi->exr_param))) {
        ds_exception_record64 er;
        if (is64(d) && ds_kread(d, param(c, bi->exr_param), &er, 0x20) == DS_OK) {
            if (!c->has_exception_code) {
                c->has_exception_code = true;
                c->exception_code = er.ExceptionCode;
            }
            if (kptr(d, er.ExceptionAddress))
                *ip = er.ExceptionAddress;
        }
    }
}

/* Step 5 (after the walk: the last fallback needs the stack). */
static void faulting_ip(const ds_dump *d, ds_crash *c, const ds_regs64 *start, bool have_start,
                        csh cs)
{
    uint64_t ip = DS_CRASH_NONE;
    const ds_bugcheck_info *bi = c->info;
    if (bi && bi->ip_param && kptr(d, param(c, bi->ip_param)))
        ip = param(c, bi->ip_param);
    uint64_t exr_ip = DS_CRASH_NONE;
    exception_facts(d, c, &exr_ip);
    if (ip == DS_CRASH_NONE)
        ip = exr_ip;
    if (ip == DS_CRASH_NONE && have_start && c->context_source != DS_CTXSRC_HEADER)
        ip = start->rip;
    if (ip == DS_CRASH_NONE && c->stack.n > 1)
        ip = c->stack.f[1].ip; /* the code that called the bug-check routine */
    if (ip == DS_CRASH_NONE && c->stack.n)
        ip = c->stack.f[0].ip;
    c->faulting_ip = ip;
    if (ip == DS_CRASH_NONE)
        return;
    c->faulting_module = ds_module_at(&c->mods, ip);
    disassemble(d, c, cs);
}

/* Step 7. */
static void blame(ds_crash *c)
{
    const ds_module *m = c->faulting_module;
    uint64_t ip = c->faulting_ip;
    if (!m || ds_is_kernel_module(m->name)) {
        for (unsigned i = 0; i < c->stack.n; i++) {
            const ds_module *fm = c->stack.f[i].module;
            if (fm && !ds_is_kernel_module(fm->name)) {
                m = fm;
                ip = c->stack.f[i].ip;
                break;
            }
        }
    }
    c->caused_by = m;
    c->caused_by_ip = m ? ip : DS_CRASH_NONE;
    c->bucket_id = ds_bucket_make(c->code, m ? m->name : NULL, m ? ip - m->base : 0, c->bucket,
                                  c->bucket_module, sizeof(c->bucket));
}

ds_err ds_crash_analyze(const ds_dump *d, ds_crash *c)
{
    memset(c, 0, sizeof(*c));
    c->processor = -1;
    c->faulting_ip = DS_CRASH_NONE;
    c->caused_by_ip = DS_CRASH_NONE;
    c->system_time = d->system_time;
    c->has_bugcheck = d->has_bugcheck;
    if (d->has_bugcheck) {
        c->code = d->bugcheck_code;
        memcpy(c->params, d->bugcheck_params, sizeof(c->params));
        c->name = ds_bugcheck_name(d->bugcheck_code);
        c->info = ds_bugcheck_info_of(d->bugcheck_code);
    } else {
        note(c, "no bug check: %s images record none", d->format_name);
    }
    ds_err e = ds_modules_load(d, &c->mods);
    if (e != DS_OK)
        return e;
    if (c->mods.status != DS_MODLIST_OK)
        note(c, "module list %s", ds_modlist_status_name(c->mods.status));
    c->pe = calloc(c->mods.n ? c->mods.n : 1, sizeof(*c->pe));
    if (!c->pe) {
        ds_crash_free(c);
        return DS_ERR_NOMEM;
    }
    ds_regs64 start;
    bool have_start = c->has_bugcheck && start_context(d, c, &start);
    uint64_t stack_top = 0, stack_low = 0;
    if (d->triage) {
        from_triage(d, c);
        if (d->triage->top_of_stack && d->triage->size_of_call_stack) {
            stack_low = d->triage->top_of_stack;
            stack_top = stack_low + d->triage->size_of_call_stack;
        }
    } else if (have_start) {
        ds_regs64 hdr;
        uint64_t sp = start.gpr[DS_CTX64_RSP];
        if (c->context_source != DS_CTXSRC_HEADER && header_context(d, &hdr))
            sp = hdr.gpr[DS_CTX64_RSP]; /* the bug-check stack names the thread */
        from_processors(d, c, sp, &stack_top, &stack_low);
    }
    csh cs = 0;
    if (cs_open(CS_ARCH_X86, is64(d) ? CS_MODE_64 : CS_MODE_32, &cs) != CS_ERR_OK)
        cs = 0;
    if (have_start) {
        ds_stack_env env = {.read = ds_dump_kread_cb, .ctx = (void *)d, .mods = &c->mods,
                            .pe = c->pe, .is64 = is64(d), .capstone = cs ? (void *)(uintptr_t)cs : NULL};
        /* bound the walk by the crashing stack when the start context is
         * on it (a context from a parameter may sit on another stack: a
         * DPC or interrupt stack, whose end is unknown) */
        uint64_t sp = start.gpr[DS_CTX64_RSP];
        if (stack_top && sp < stack_top && (stack_low ? sp >= stack_low : true))
            env.stack_top = stack_top;
        ds_stack_walk(&env, &start, &c->stack);
    }
    if (c->has_bugcheck) {
        faulting_ip(d, c, &start, have_start, cs);
        blame(c);
    }
    if (cs)
        cs_close(&cs);
    return DS_OK;
}

void ds_crash_free(ds_crash *c)
{
    ds_modlist_free(&c->mods);
    free(c->pe);
    c->pe = NULL;
}
