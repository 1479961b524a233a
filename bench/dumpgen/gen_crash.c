/* gen_crash.c - plant a crash whose analysis is known frame by frame.
 *
 * x64 builds only; the dump header of crash formats then names it (the
 * header of raw and ELF images has nowhere to).  The machine crashed with
 * DRIVER_IRQL_NOT_LESS_OR_EQUAL (0xD1): a synthetic driver, netdrv.sys,
 * read through a bad pointer at DISPATCH_LEVEL.  The call chain on a
 * System thread's kernel stack, outermost first:
 *
 *   nt!PspSystemThreadStartup   sub rsp,28h ; call IofCallDriver
 *   nt!IofCallDriver            sub rsp,28h ; mov rax,rdx ; call rax
 *   netdrv!DriverDispatch       push rbp ; push rdi ; sub rsp,30h ;
 *                               lea rbp,[rsp+20h] (frame register) ; call DoRead
 *   netdrv!DoRead               push rbx ; sub rsp,20h ; ... mov eax,[rcx+28h]  <- fault
 *     (the CPU pushes a machine frame with an error code)
 *   nt!KiPageFault              sub rsp,160h ; mov [rsp+158h],rbp ; call KiBugCheckDispatch
 *   nt!KiBugCheckDispatch       sub rsp,28h ; call KeBugCheckEx
 *   nt!KeBugCheckEx             (the header CONTEXT: RIP at its first byte)
 *
 * Each function has its code bytes (every return address follows a real
 * `call`), a RUNTIME_FUNCTION in its image's .pdata (exception directory
 * set in the PE header) and an UNWIND_INFO with the codes the MSVC rules
 * give for its prolog: PUSH_NONVOL, ALLOC_SMALL/LARGE, SET_FPREG with a
 * frame offset, SAVE_NONVOL (rbp into the KTRAP_FRAME) and PUSH_MACHFRAME
 * with an error code.  The stack holds what those prologs and the CPU
 * would have written; the header CONTEXT's RBP and RDI are garbage, so an
 * analysis that does not restore them from the frames walks off.
 *
 * Truth (gen_truth.c): the crash record with every frame (sp, ip, module,
 * offset, unwind method), the faulting instruction, processor, thread,
 * caused_by and bucket; PsLoadedModuleList gains netdrv.sys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/dumpfmt.h"
#include "gen_int.h"

#define CRASH_CODE 0xd1u
#define NETDRV_SIZE 0x4000u
#define NETDRV_TEXT 0x1000u
#define NETDRV_PDATA 0x2000u
#define NETDRV_XDATA 0x2400u

typedef struct fn {
    const char *module;       /* "ntoskrnl.exe" or "netdrv.sys" */
    const uint8_t *code;
    size_t ncode;
    uint8_t prolog;
    uint8_t frame;            /* FrameRegister | FrameOffset << 4 */
    const uint16_t *codes;
    uint8_t ncodes;
    uint64_t va;              /* placed */
    uint32_t xdata_rva;       /* UNWIND_INFO */
} fn;

static uint16_t uc(uint8_t off, uint8_t op, uint8_t info)
{
    return (uint16_t)(off | (op | info << 4) << 8);
}

/* ---- the functions ------------------------------------------------------- */

static const uint8_t c_psp[] = {0x48, 0x83, 0xec, 0x28,        /* sub rsp,28h */
                                0xe8, 0, 0, 0, 0,              /* call IofCallDriver */
                                0x48, 0x83, 0xc4, 0x28, 0xc3};
static const uint8_t c_iof[] = {0x48, 0x83, 0xec, 0x28,        /* sub rsp,28h */
                                0x48, 0x8b, 0xc2,              /* mov rax,rdx */
                                0xff, 0xd0,                    /* call rax */
                                0x48, 0x83, 0xc4, 0x28, 0xc3};
static const uint8_t c_disp[] = {0x55, 0x57,                    /* push rbp; push rdi */
                                 0x48, 0x83, 0xec, 0x30,        /* sub rsp,30h */
                                 0x48, 0x8d, 0x6c, 0x24, 0x20,  /* lea rbp,[rsp+20h] */
                                 0xe8, 0, 0, 0, 0,              /* call DoRead */
                                 0x48, 0x8d, 0x65, 0x10, 0x5f, 0x5d, 0xc3};
static const uint8_t c_read[] = {0x53,                          /* push rbx */
                                 0x48, 0x83, 0xec, 0x20,        /* sub rsp,20h */
                                 0x48, 0x8b, 0xd9,              /* mov rbx,rcx */
                                 0x48, 0x85, 0xc9, 0x74, 0x0a,  /* test rcx,rcx; je */
                                 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
                                 0x8b, 0x41, 0x28,              /* +0x17 mov eax,[rcx+28h] */
                                 0x48, 0x83, 0xc4, 0x20, 0x5b, 0xc3};
#define READ_FAULT_OFF 0x17u
static const uint8_t c_kpf[] = {0x48, 0x81, 0xec, 0x60, 0x01, 0x00, 0x00,        /* sub rsp,160h */
                                0x48, 0x89, 0xac, 0x24, 0x58, 0x01, 0x00, 0x00,  /* mov [rsp+158h],rbp */
                                0xb9, 0xd1, 0x00, 0x00, 0x00,                    /* mov ecx,0D1h */
                                0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
                                0xe8, 0, 0, 0, 0,                                /* +0x1f call */
                                0xcc};
static const uint8_t c_kbcd[] = {0x48, 0x83, 0xec, 0x28,       /* sub rsp,28h */
                                 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90,
                                 0x90, 0x90,
                                 0xe8, 0, 0, 0, 0,             /* +0x10 call KeBugCheckEx */
                                 0xcc};

static const uint16_t u_psp[] = {0};
static const uint16_t u_disp[] = {0};

/* Offset of the `call` ending each caller's call site (= return offset). */
enum { RET_PSP = 9, RET_IOF = 9, RET_DISP = 16, RET_KPF = 0x24, RET_KBCD = 0x15 };

static ds_err write_code(gen_ctx *g, fn *f)
{
    return gen_vwrite(g, 0, f->va, f->code, f->ncode);
}

static ds_err patch_call(gen_ctx *g, uint64_t call_va, uint64_t target)
{
    int32_t rel = (int32_t)(int64_t)(target - (call_va + 5));
    return gen_vwrite(g, 0, call_va + 1, &rel, 4);
}

/* UNWIND_INFO at va (version 1). */
static ds_err write_unwind(gen_ctx *g, uint64_t va, const fn *f)
{
    uint8_t u[4 + 2 * 8] = {0};
    u[0] = 1;
    u[1] = f->prolog;
    u[2] = f->ncodes;
    u[3] = f->frame;
    memcpy(u + 4, f->codes, 2u * f->ncodes);
    return gen_vwrite(g, 0, va, u, 4 + 2u * ((f->ncodes + 1u) & ~1u));
}

/* .pdata of n functions (sorted by address) at pdata in an image. */
static ds_err write_pdata(gen_ctx *g, uint64_t image, uint64_t pdata, fn **fs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t rf[3] = {(uint32_t)(fs[i]->va - image), (uint32_t)(fs[i]->va - image + fs[i]->ncode),
                          fs[i]->xdata_rva};
        ds_err e = gen_vwrite(g, 0, pdata + 12 * i, rf, sizeof(rf));
        if (e)
            return e;
    }
    return DS_OK;
}

/* Exception directory of the image at base (headers from gen_build_pe:
 * e_lfanew 0x100, optional header at 0x118, DataDirectory[3] at 0x1a0). */
static ds_err set_exception_dir(gen_ctx *g, uint64_t base, uint32_t rva, uint32_t size)
{
    uint32_t dd[2] = {rva, size};
    return gen_vwrite(g, 0, base + 0x118 + 0x70 + 3 * 8, dd, sizeof(dd));
}

static int by_va(const void *a, const void *b)
{
    const fn *x = *(const fn *const *)a, *y = *(const fn *const *)b;
    return x->va < y->va ? -1 : x->va > y->va;
}

/* ---- netdrv.sys ---------------------------------------------------------- */

static ds_err map_netdrv(gen_ctx *g, uint64_t base)
{
    ds_err e;
    for (uint64_t off = 0; off < NETDRV_SIZE; off += GEN_PAGE) {
        uint64_t pfn;
        if ((e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn)) ||
            (e = gen_map(g, 0, base + off, pfn, off == NETDRV_TEXT ? GEN_PTE_KCODE : GEN_PTE_KDATA)))
            return e;
    }
    gen_pe_section sec[2] = {{".text", NETDRV_TEXT, 0x1000, 0x68000020},
                             {".rdata", NETDRV_PDATA, 0x2000, 0x48000040}};
    uint8_t page[GEN_PAGE];
    gen_build_pe(g, page, base, NETDRV_SIZE, NETDRV_TEXT, sec, 2);
    return gen_vwrite(g, 0, base, page, GEN_PAGE);
}

/* Append netdrv.sys to PsLoadedModuleList (after the last entry). */
static ds_err link_netdrv(gen_ctx *g, uint64_t base)
{
    static const char *const name = "netdrv.sys";
    static const char *const full = "\\SystemRoot\\system32\\drivers\\netdrv.sys";
    uint64_t ent;
    ds_err e = gen_ldr_entry(g, name, full, base, NETDRV_SIZE, base + NETDRV_TEXT,
                             gen_pool_type_nonpaged(g), &ent);
    if (e)
        return e;
    uint64_t last = g->mods[g->nmods - 1].entry_va, head = g->g_module_head;
    if ((e = gen_kwptr(g, last, 0, ent)) || (e = gen_kwptr(g, ent, 0, head)) ||
        (e = gen_kwptr(g, ent, 8, last)) || (e = gen_kwptr(g, head, 8, ent)))
        return e;
    gen_module *m = &g->mods[g->nmods++];
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->path, sizeof(m->path), "%s", full);
    m->base = base;
    m->size = NETDRV_SIZE;
    m->entry_va = ent;
    return DS_OK;
}

/* ---- the crashing thread and its stack ------------------------------------ */

/* A live kernel thread of the System process (no trap frame of its own). */
static long pick_thread(const gen_ctx *g)
{
    for (size_t i = 0; i < g->nthreads; i++) {
        const gen_thread *t = &g->threads[i];
        if (t->alive && !t->trap_va && t->stack_base && g->procs[t->proc].pid == 4)
            return (long)i;
    }
    return -1;
}

static ds_err push64(gen_ctx *g, uint64_t *sp, uint64_t v)
{
    *sp -= 8;
    return gen_vwrite(g, 0, *sp, &v, 8);
}

static void frame(gen_crash *c, uint64_t sp, uint64_t ip, const char *mod, uint64_t base,
                  const char *method)
{
    gen_frame *f = &c->frames[c->nframes++];
    f->sp = sp;
    f->ip = ip;
    f->module = mod;
    f->offset = ip - base;
    f->method = method;
}

ds_err gen_crash_build(gen_ctx *g)
{
    gen_crash *c = &g->crash;
    bool header = g->o.format != GEN_FMT_RAW && g->o.format != GEN_FMT_ELF;
    if (!g->is64 || !header || g->nmods == 0)
        return DS_OK;
    long ti = pick_thread(g);
    if (ti < 0)
        return DS_OK;
    ds_err e;
    uint64_t drv = gen_round_up(g->kbase + g->ksize, 0x200000) + 0x4000000 +
                   gen_rng_below(&g->rng, 64) * 0x10000;
    if ((e = map_netdrv(g, drv)))
        return e;

    /* functions: nt ones in .text (unwind data in .data), netdrv's in its image */
    uint16_t u_iof[1] = {uc(4, DS_UWOP_ALLOC_SMALL, 4)};
    uint16_t u_kbcd[1] = {uc(4, DS_UWOP_ALLOC_SMALL, 4)};
    uint16_t u_kbe[1] = {uc(24, DS_UWOP_ALLOC_SMALL, 4)};
    uint16_t u_kpf[4] = {uc(15, DS_UWOP_SAVE_NONVOL, 5), 0x158 / 8,
                         uc(7, DS_UWOP_ALLOC_LARGE, 0), 0x160 / 8};
    uint16_t u_kpf_m[5] = {u_kpf[0], u_kpf[1], u_kpf[2], u_kpf[3], uc(0, DS_UWOP_PUSH_MACHFRAME, 1)};
    uint16_t u_ps[1] = {uc(4, DS_UWOP_ALLOC_SMALL, 4)};
    uint16_t u_dp[4] = {uc(11, DS_UWOP_SET_FPREG, 0), uc(6, DS_UWOP_ALLOC_SMALL, 5),
                        uc(2, DS_UWOP_PUSH_NONVOL, 7), uc(1, DS_UWOP_PUSH_NONVOL, 5)};
    uint16_t u_rd[2] = {uc(5, DS_UWOP_ALLOC_SMALL, 3), uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    (void)u_psp;
    (void)u_disp;
    uint8_t kbe_code[26];
    if ((e = gen_vread(g, 0, g->bugcheck_va, kbe_code, sizeof(kbe_code))))
        return e;
    fn psp = {"ntoskrnl.exe", c_psp, sizeof(c_psp), 4, 0, u_ps, 1, 0, 0};
    fn iof = {"ntoskrnl.exe", c_iof, sizeof(c_iof), 4, 0, u_iof, 1, 0, 0};
    fn kpf = {"ntoskrnl.exe", c_kpf, sizeof(c_kpf), 15, 0, u_kpf_m, 5, 0, 0};
    fn kbcd = {"ntoskrnl.exe", c_kbcd, sizeof(c_kbcd), 4, 0, u_kbcd, 1, 0, 0};
    fn kbe = {"ntoskrnl.exe", kbe_code, sizeof(kbe_code), 24, 0, u_kbe, 1, g->bugcheck_va, 0};
    fn disp = {"netdrv.sys", c_disp, sizeof(c_disp), 11, 5 | 2 << 4, u_dp, 4, 0, 0};
    fn rd = {"netdrv.sys", c_read, sizeof(c_read), 5, 0, u_rd, 2, 0, 0};
    psp.va = gen_text_alloc(g, sizeof(c_psp));
    iof.va = gen_text_alloc(g, sizeof(c_iof));
    kpf.va = gen_text_alloc(g, sizeof(c_kpf));
    kbcd.va = gen_text_alloc(g, sizeof(c_kbcd));
    disp.va = drv + NETDRV_TEXT + 0x40;
    rd.va = drv + NETDRV_TEXT + 0x100;
    fn *nt[5] = {&psp, &iof, &kpf, &kbcd, &kbe};
    for (unsigned i = 0; i < 5; i++) {
        uint64_t x = gen_data_alloc(g, 4 + 2 * 8, 4);
        nt[i]->xdata_rva = (uint32_t)(x - g->kbase);
        if ((e = write_unwind(g, x, nt[i])) || (i < 4 && (e = write_code(g, nt[i]))))
            return e;
    }
    disp.xdata_rva = NETDRV_XDATA;
    rd.xdata_rva = NETDRV_XDATA + 0x20;
    if ((e = write_unwind(g, drv + disp.xdata_rva, &disp)) ||
        (e = write_unwind(g, drv + rd.xdata_rva, &rd)) || (e = write_code(g, &disp)) ||
        (e = write_code(g, &rd)))
        return e;
    if ((e = patch_call(g, psp.va + 4, iof.va)) || (e = patch_call(g, disp.va + 11, rd.va)) ||
        (e = patch_call(g, kpf.va + 0x1f, kbcd.va)) || (e = patch_call(g, kbcd.va + 0x10, kbe.va)))
        return e;
    qsort(nt, 5, sizeof(nt[0]), by_va);
    uint64_t nt_pdata = gen_data_alloc(g, 12 * 5, 4);
    fn *nd[2] = {&disp, &rd};
    if ((e = write_pdata(g, g->kbase, nt_pdata, nt, 5)) ||
        (e = set_exception_dir(g, g->kbase, (uint32_t)(nt_pdata - g->kbase), 12 * 5)) ||
        (e = write_pdata(g, drv, drv + NETDRV_PDATA, nd, 2)) ||
        (e = set_exception_dir(g, drv, NETDRV_PDATA, 24)) || (e = link_netdrv(g, drv)))
        return e;

    /* the stack, from the outermost frame down (see the header comment) */
    gen_thread *t = &g->threads[ti];
    uint64_t initial = t->stack_base - 0x200;
    uint64_t sp = initial - 0x40;
    uint64_t r_rbp = 0xffffd10000000000ull + gen_rng_below(&g->rng, 1u << 20) * 16;
    uint64_t r_rdi = gen_rng_next(&g->rng), r_rbx = gen_rng_next(&g->rng);
    uint64_t fault = rd.va + READ_FAULT_OFF;
    uint64_t k = g->kbase;
    if ((e = push64(g, &sp, 0)))                        /* PspSystemThreadStartup's caller: none */
        return e;
    uint64_t psp_sp = sp + 8;
    sp -= 0x28;                                         /* Psp: sub rsp,28h */
    if ((e = push64(g, &sp, psp.va + RET_PSP)))
        return e;
    uint64_t iof_sp = sp + 8;
    sp -= 0x28;                                         /* Iof: sub rsp,28h */
    if ((e = push64(g, &sp, iof.va + RET_IOF)))
        return e;
    uint64_t disp_sp = sp + 8;
    if ((e = push64(g, &sp, r_rbp)) || (e = push64(g, &sp, r_rdi)))
        return e;
    sp -= 0x30;                                         /* DriverDispatch: sub rsp,30h */
    uint64_t disp_rbp = sp + 0x20;                      /* lea rbp,[rsp+20h] */
    if ((e = push64(g, &sp, disp.va + RET_DISP)))
        return e;
    uint64_t read_sp = sp + 8;
    if ((e = push64(g, &sp, r_rbx)))
        return e;
    sp -= 0x20;                                         /* DoRead: sub rsp,20h */
    uint64_t fault_sp = sp;
    /* the CPU: SS, RSP, RFLAGS, CS, RIP, error code */
    if ((e = push64(g, &sp, 0x18)) || (e = push64(g, &sp, fault_sp)) ||
        (e = push64(g, &sp, 0x10282)) || (e = push64(g, &sp, 0x10)) ||
        (e = push64(g, &sp, fault)) || (e = push64(g, &sp, 0)))
        return e;
    sp -= 0x160;                                        /* KiPageFault: sub rsp,160h */
    uint64_t trap = sp;
    if ((e = gen_kwptr(g, trap, 0x158, disp_rbp)))      /* mov [rsp+158h],rbp */
        return e;
    if ((e = push64(g, &sp, kpf.va + RET_KPF)))
        return e;
    sp -= 0x28;                                         /* KiBugCheckDispatch: sub rsp,28h */
    if ((e = push64(g, &sp, kbcd.va + RET_KBCD)))
        return e;

    c->planted = true;
    c->code = CRASH_CODE;
    c->params[0] = 0x28;                                /* memory referenced: NULL + 0x28 */
    c->params[1] = 2;                                   /* DISPATCH_LEVEL */
    c->params[2] = 0;                                   /* read */
    c->params[3] = fault;
    c->ctx_rip = kbe.va;
    c->ctx_rsp = sp;
    c->ctx_gpr[1] = CRASH_CODE;                          /* rcx */
    c->ctx_gpr[3] = 0;                                   /* rbx: DoRead's (NULL) */
    c->ctx_gpr[DS_CTX64_RSP] = sp;
    c->ctx_gpr[DS_CTX64_RBP] = 0x4141414141414141ull;    /* garbage: restored from the trap */
    c->ctx_gpr[7] = 0x4242424242424242ull;               /* rdi: garbage, DriverDispatch saved it */
    c->cpu = g->ncpu - 1;
    c->thread = (size_t)ti;
    c->fault_ip = fault;
    c->drv_base = drv;
    c->drv_size = NETDRV_SIZE;
    snprintf(c->instruction, sizeof(c->instruction), "mov eax, dword ptr [rcx + 0x28]");
    frame(c, sp, kbe.va, "ntoskrnl.exe", k, "context");
    frame(c, sp + 8, kbcd.va + RET_KBCD, "ntoskrnl.exe", k, "unwind");
    frame(c, trap, kpf.va + RET_KPF, "ntoskrnl.exe", k, "unwind");
    frame(c, fault_sp, fault, "netdrv.sys", drv, "unwind");
    frame(c, read_sp, disp.va + RET_DISP, "netdrv.sys", drv, "unwind");
    frame(c, disp_sp, iof.va + RET_IOF, "ntoskrnl.exe", k, "unwind");
    frame(c, iof_sp, psp.va + RET_PSP, "ntoskrnl.exe", k, "unwind");
    (void)psp_sp;

    /* every CPU runs a thread; the crashing one runs this one */
    for (unsigned i = 0; i < g->ncpu && i < GEN_MAX_CPU; i++) {
        size_t other = (size_t)gen_rng_below(&g->rng, g->nthreads);
        uint64_t cur = i == c->cpu ? t->va : (other != (size_t)ti ? g->threads[other].va : 0);
        if ((e = gen_kwptr(g, g->prcb[i], GEN_PRCB_CURRENT_THREAD64, cur)))
            return e;
    }
    return DS_OK;
}
