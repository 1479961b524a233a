/* stack.c - the stack walker: unwind, EBP chain and validated scan; see
 * stack.h. */
#include "stack.h"

#include <capstone/capstone.h>
#include <string.h>

#include "../src/le.h"
#include "../src/vtop.h"

const char *ds_frame_method_name(unsigned m)
{
    static const char *const n[] = {"context", "unwind", "ebp", "scan", "scan_unverified"};
    return m < sizeof(n) / sizeof(n[0]) ? n[m] : "?";
}

const char *ds_stack_end_name(unsigned e)
{
    static const char *const n[] = {"end", "unreadable", "loop", "limit"};
    return e < sizeof(n) / sizeof(n[0]) ? n[e] : "?";
}

const ds_pe_info *ds_stack_pe(const ds_stack_env *env, const ds_module *m)
{
    if (!m || !env->pe)
        return NULL;
    ds_pe_cache *c = &env->pe[m - env->mods->v];
    if (c->state == 0)
        c->state = ds_pe_read(env->read, env->ctx, m->base, &c->info) == DS_OK ? 1 : -1;
    return c->state == 1 ? &c->info : NULL;
}

static unsigned ptr_size(const ds_stack_env *env)
{
    return env->is64 ? 8 : 4;
}

static bool read_ptr(const ds_stack_env *env, uint64_t va, uint64_t *v)
{
    uint8_t b[8] = {0};
    if (env->read(env->ctx, va, b, ptr_size(env)) != DS_OK)
        return false;
    *v = env->is64 ? ds_le64(b) : ds_le32(b);
    return true;
}

static bool kernel_ip(const ds_stack_env *env, uint64_t ip)
{
    return ds_is_kernel_ptr(ptr_size(env), ip);
}

/* ip inside an executable section of a module (NULL otherwise). */
static const ds_module *code_module(const ds_stack_env *env, uint64_t ip)
{
    const ds_module *m = ds_module_at(env->mods, ip);
    if (!m)
        return NULL;
    const ds_pe_info *pe = ds_stack_pe(env, m);
    if (pe && !ds_pe_is_code(pe, (uint32_t)(ip - m->base)))
        return NULL;
    return m;
}

int ds_stack_is_return_address(const ds_stack_env *env, uint64_t ret, void *capstone)
{
    uint8_t b[8];
    if (ret < 8 || env->read(env->ctx, ret - 7, b + 1, 7) != DS_OK)
        return -1;
    csh cs = (csh)(uintptr_t)capstone;
    /* call encodings are 2 to 7 bytes long: rel32 (5), reg (2-3),
     * [reg+disp] (3-7), [rip+disp32] (6) */
    for (unsigned len = 2; len <= 7; len++) {
        cs_insn *insn = NULL;
        size_t n = cs_disasm(cs, b + 8 - len, len, ret - len, 1, &insn);
        bool call = n == 1 && insn[0].size == len && insn[0].id == X86_INS_CALL;
        if (n)
            cs_free(insn, n);
        if (call)
            return 1;
    }
    return 0;
}

/* Search the stack from `from` for the next return address: the first
 * value in a module's code that is not disproven, i.e. whose preceding
 * bytes decode as a call (verified) or are not in the dump (unverified).
 * Values whose bytes are there but do not end a call are skipped.
 * Returns false when nothing was found (*unreadable when the stack ran
 * out of the dump before the window did). */
static bool scan_for_return(const ds_stack_env *env, uint64_t from, csh cs, uint64_t *slot,
                            uint64_t *ret, bool *verified, bool *unreadable)
{
    unsigned ps = ptr_size(env);
    uint64_t end = from + DS_STACK_SCAN_BYTES;
    if (env->stack_top && end > env->stack_top)
        end = env->stack_top;
    *unreadable = false;
    for (uint64_t a = from; a + ps <= end; a += ps) {
        uint64_t v;
        if (!read_ptr(env, a, &v)) {
            *unreadable = true;
            return false;
        }
        if (!kernel_ip(env, v) || !code_module(env, v))
            continue;
        int ok = ds_stack_is_return_address(env, v, (void *)(uintptr_t)cs);
        if (ok != 0) {
            *slot = a;
            *ret = v;
            *verified = ok == 1;
            return true;
        }
    }
    return false;
}

/* One x64 step by unwind data.  1 done, 0 not possible (no .pdata), -1
 * unreadable. */
static int unwind_step(const ds_stack_env *env, const ds_module *m, ds_regs64 *r, bool *trap)
{
    const ds_pe_info *pe = ds_stack_pe(env, m);
    if (!pe || !pe->is64 || !pe->pdata_size)
        return 0;
    ds_unwind_mem mem = {env->read, env->ctx};
    ds_runtime_function rf;
    ds_err e = ds_unwind_lookup(&mem, m->base, pe->pdata_rva, pe->pdata_size,
                                (uint32_t)(r->rip - m->base), &rf);
    *trap = false;
    if (e == DS_ERR_NOT_FOUND)
        e = ds_unwind_leaf(&mem, r);
    else if (e == DS_OK)
        e = ds_unwind_step(&mem, m->base, &rf, r, trap);
    else
        return 0; /* .pdata not in the dump: scan instead */
    if (e == DS_ERR_CORRUPT || e == DS_ERR_LOOP)
        return 0;
    return e == DS_OK ? 1 : -1;
}

static void push(ds_stack *s, const ds_stack_env *env, const ds_regs64 *r, unsigned method,
                 bool trap)
{
    ds_frame *f = &s->f[s->n++];
    f->sp = r->gpr[DS_CTX64_RSP];
    f->ip = r->rip;
    f->module = ds_module_at(env->mods, r->rip);
    f->method = (uint8_t)method;
    f->trap = trap;
}

void ds_stack_walk(const ds_stack_env *env, const ds_regs64 *regs, ds_stack *out)
{
    memset(out, 0, sizeof(*out));
    csh cs = (csh)(uintptr_t)env->capstone;
    bool own_cs = !env->capstone;
    bool have_cs = !own_cs ||
                   cs_open(CS_ARCH_X86, env->is64 ? CS_MODE_64 : CS_MODE_32, &cs) == CS_ERR_OK;
    ds_regs64 r = *regs;
    push(out, env, &r, DS_FRAME_CONTEXT, false);
    out->end = DS_STACK_END;
    while (out->n < DS_STACK_MAX_FRAMES) {
        ds_regs64 next = r;
        const ds_module *m = ds_module_at(env->mods, r.rip);
        unsigned method = DS_FRAME_UNWIND;
        bool trap = false;
        int done = 0;
        if (env->is64 && m)
            done = unwind_step(env, m, &next, &trap);
        if (done < 0) {
            out->end = DS_STACK_UNREADABLE;
            break;
        }
        if (!done && !env->is64 && r.gpr[DS_CTX64_RBP] > r.gpr[DS_CTX64_RSP]) {
            uint64_t bp = r.gpr[DS_CTX64_RBP], saved, ret;
            if (read_ptr(env, bp, &saved) && read_ptr(env, bp + 4, &ret) && code_module(env, ret)) {
                next.rip = ret;
                next.gpr[DS_CTX64_RSP] = bp + 8;
                next.gpr[DS_CTX64_RBP] = saved;
                method = DS_FRAME_EBP;
                done = 1;
            }
        }
        if (!done) {
            uint64_t slot, ret;
            bool verified, unreadable;
            /* from RSP: a frame found by scanning has RSP just above its
             * return address, so the search goes on upwards */
            uint64_t from = r.gpr[DS_CTX64_RSP];
            if (!have_cs || !scan_for_return(env, from, cs, &slot, &ret, &verified, &unreadable)) {
                out->end = !have_cs ? DS_STACK_END : unreadable ? DS_STACK_UNREADABLE
                                                                : DS_STACK_END;
                break;
            }
            next.rip = ret;
            next.gpr[DS_CTX64_RSP] = slot + ptr_size(env);
            method = verified ? DS_FRAME_SCAN : DS_FRAME_SCAN_UNVERIFIED;
        }
        if (!next.rip || !kernel_ip(env, next.rip))
            break; /* the bottom, or the user-mode part of the stack */
        if (!trap && next.gpr[DS_CTX64_RSP] <= r.gpr[DS_CTX64_RSP]) {
            out->end = DS_STACK_LOOP;
            break;
        }
        if (env->stack_top && next.gpr[DS_CTX64_RSP] > env->stack_top)
            break;
        push(out, env, &next, method, trap);
        r = next;
    }
    if (out->n == DS_STACK_MAX_FRAMES)
        out->end = DS_STACK_LIMIT;
    if (have_cs && own_cs)
        cs_close(&cs);
}
