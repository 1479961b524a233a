/* test_unwind.c - the x64 unwinder, the stack walker's return-address
 * check and walk, module base names and bucket rules, over hand-built
 * memory (no dump): every unwind code, prolog and epilog positions,
 * chained info, machine frames, and hostile unwind data.
 *
 * Memory model: a few regions {va, bytes}; the image at IMG holds .pdata
 * at PDATA and UNWIND_INFOs at INFO..; the stack at STK.  Each test builds
 * a function's unwind codes exactly as the MSVC documentation lays them
 * out (codes in reverse prolog order, CodeOffset = end of the prolog
 * instruction) and the stack a real prolog would leave, then checks the
 * caller's registers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "../scan/bucket.h"
#include "../scan/stack.h"
#include "../scan/unwind.h"
#include "../src/bugcheck_info.h"
#include "../src/modules.h"

#define IMG 0xfffff80100000000ull
#define PDATA 0x2000u
#define INFO 0x3000u
#define CODE 0x1000u
#define STK 0xffffa00000001000ull
#define RET_ADDR 0xfffff80100001800ull

typedef struct region {
    uint64_t va;
    uint8_t *p;
    size_t n;
} region;

typedef struct mem {
    region r[4];
    unsigned nr;
} mem;

static ds_err mem_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    const mem *m = ctx;
    for (unsigned i = 0; i < m->nr; i++)
        if (va >= m->r[i].va && va - m->r[i].va <= m->r[i].n && len <= m->r[i].n - (va - m->r[i].va)) {
            memcpy(buf, m->r[i].p + (va - m->r[i].va), len);
            return DS_OK;
        }
    return DS_ERR_NOT_PRESENT;
}

static uint8_t image[0x4000];
static uint8_t stack[0x1000];

static mem make_mem(void)
{
    mem m = {.nr = 2};
    m.r[0] = (region){IMG, image, sizeof(image)};
    m.r[1] = (region){STK, stack, sizeof(stack)};
    return m;
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static void stack_put(uint64_t va, uint64_t v)
{
    put64(stack + (va - STK), v);
}

/* One RUNTIME_FUNCTION at index i of .pdata and its UNWIND_INFO at info. */
static ds_runtime_function add_function(unsigned i, uint32_t begin, uint32_t end, uint32_t info,
                                        uint8_t flags, uint8_t prolog, uint8_t frame_reg,
                                        uint8_t frame_off, const uint16_t *codes, unsigned n)
{
    ds_runtime_function rf = {begin, end, info};
    memcpy(image + PDATA + 12 * i, &rf, sizeof(rf));
    uint8_t *u = image + info;
    u[0] = (uint8_t)(1 | flags << 3);
    u[1] = prolog;
    u[2] = (uint8_t)n;
    u[3] = (uint8_t)(frame_reg | frame_off << 4);
    memcpy(u + 4, codes, 2 * n);
    return rf;
}

/* UNWIND_CODE: CodeOffset, UnwindOp, OpInfo; a raw slot otherwise. */
static uint16_t uc(uint8_t off, uint8_t op, uint8_t info)
{
    return (uint16_t)(off | (op | info << 4) << 8);
}

static ds_regs64 regs_at(uint64_t rip, uint64_t rsp)
{
    ds_regs64 r;
    memset(&r, 0, sizeof(r));
    r.rip = rip;
    r.gpr[DS_CTX64_RSP] = rsp;
    return r;
}

static void setup(void)
{
    memset(image, 0, sizeof(image));
    memset(stack, 0, sizeof(stack));
}

/* push rbx (1) ; push rsi (2) ; sub rsp, 0x28 (6) */
static const ds_runtime_function *push_alloc_function(ds_runtime_function *rf)
{
    static const uint16_t codes[3] = {0};
    uint16_t c[3] = {uc(6, DS_UWOP_ALLOC_SMALL, 4), uc(2, DS_UWOP_PUSH_NONVOL, 6),
                     uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    (void)codes;
    *rf = add_function(0, CODE, CODE + 0x100, INFO, 0, 6, 0, 0, c, 3);
    return rf;
}

static void test_push_and_small_alloc(void **state)
{
    (void)state;
    setup();
    ds_runtime_function rf;
    push_alloc_function(&rf);
    uint64_t sp = STK + 0x100;
    stack_put(sp + 0x28, 0x5151);     /* saved rsi */
    stack_put(sp + 0x30, 0xb0b0);     /* saved rbx */
    stack_put(sp + 0x38, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 0x40, sp);
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_false(trap);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 0x40);
    assert_int_equal(r.gpr[6], 0x5151);
    assert_int_equal(r.gpr[3], 0xb0b0);
}

/* RIP after `push rbx` only: the other two codes are not undone. */
static void test_inside_prolog(void **state)
{
    (void)state;
    setup();
    ds_runtime_function rf;
    push_alloc_function(&rf);
    uint64_t sp = STK + 0x100;
    stack_put(sp, 0xb0b0);
    stack_put(sp + 8, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 1, sp);
    r.gpr[6] = 0x7777; /* rsi not pushed yet: must stay */
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 0x10);
    assert_int_equal(r.gpr[3], 0xb0b0);
    assert_int_equal(r.gpr[6], 0x7777);
}

static void test_large_allocs(void **state)
{
    (void)state;
    setup();
    /* sub rsp, 0x1000 (ALLOC_LARGE info 0: size/8 in one slot) then
     * sub rsp, 0x123458 (info 1: size in two slots) */
    uint16_t c[5] = {uc(14, DS_UWOP_ALLOC_LARGE, 1), 0x3458, 0x0012,
                     uc(7, DS_UWOP_ALLOC_LARGE, 0), 0x1000 / 8};
    ds_runtime_function rf = add_function(0, CODE, CODE + 0x100, INFO, 0, 14, 0, 0, c, 5);
    mem m = make_mem();
    /* a big stack: a separate region far above */
    static uint8_t big[16];
    uint64_t sp = STK + 0x200;
    uint64_t ret_at = sp + 0x123458 + 0x1000;
    put64(big, RET_ADDR);
    m.r[m.nr++] = (region){ret_at, big, sizeof(big)};
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 0x20, sp);
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], ret_at + 8);
}

/* push rbp (1); sub rsp, 0x40 (5); lea rbp, [rsp+0x20] (10): frame
 * register rbp, offset 2 (x16).  The body then moved RSP (alloca): the
 * unwind must start from RBP, not RSP. Also mov [rsp+0x50], rdi saved
 * relative to the establisher frame (SAVE_NONVOL), and an XMM save. */
static void test_frame_register_and_saves(void **state)
{
    (void)state;
    setup();
    uint16_t c[8] = {uc(19, DS_UWOP_SAVE_XMM128, 6), 0x60 / 16,
                     uc(15, DS_UWOP_SAVE_NONVOL, 7), 0x50 / 8,
                     uc(10, DS_UWOP_SET_FPREG, 0),
                     uc(5, DS_UWOP_ALLOC_SMALL, 7),
                     uc(1, DS_UWOP_PUSH_NONVOL, 5), 0};
    ds_runtime_function rf = add_function(0, CODE, CODE + 0x100, INFO, 0, 19, 5, 2, c, 7);
    uint64_t frame = STK + 0x300;          /* RSP after the prolog */
    stack_put(frame + 0x50, 0xd1d1);       /* saved rdi */
    stack_put(frame + 0x40, 0xbbbb);       /* saved rbp */
    stack_put(frame + 0x48, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 0x80, frame - 0x100); /* alloca moved RSP */
    r.gpr[DS_CTX64_RBP] = frame + 0x20;
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], frame + 0x50);
    assert_int_equal(r.gpr[DS_CTX64_RBP], 0xbbbb);
    assert_int_equal(r.gpr[7], 0xd1d1);
}

static void test_save_nonvol_far(void **state)
{
    (void)state;
    setup();
    /* sub rsp, 0x80 (4); mov [rsp+0x88-8 ...]: SAVE_NONVOL_FAR r12 at 0x70 */
    uint16_t c[4] = {uc(12, DS_UWOP_SAVE_NONVOL_FAR, 12), 0x70, 0, uc(4, DS_UWOP_ALLOC_SMALL, 15)};
    ds_runtime_function rf = add_function(0, CODE, CODE + 0x100, INFO, 0, 12, 0, 0, c, 4);
    uint64_t sp = STK + 0x100;
    stack_put(sp + 0x70, 0x1212);
    stack_put(sp + 0x80, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 0x30, sp);
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.gpr[12], 0x1212);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 0x88);
    assert_int_equal(r.rip, RET_ADDR);
}

/* A cold chunk whose UNWIND_INFO has no codes and chains to the parent
 * function's (push rbx; sub rsp, 0x20). */
static void test_chained(void **state)
{
    (void)state;
    setup();
    uint16_t parent[2] = {uc(5, DS_UWOP_ALLOC_SMALL, 3), uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    ds_runtime_function prf = add_function(0, CODE, CODE + 0x80, INFO, 0, 5, 0, 0, parent, 2);
    uint8_t *u = image + INFO + 0x40;
    u[0] = 1 | DS_UNW_FLAG_CHAININFO << 3;
    u[1] = 0;
    u[2] = 0;
    u[3] = 0;
    memcpy(u + 4, &prf, sizeof(prf));
    ds_runtime_function cold = {CODE + 0x200, CODE + 0x240, INFO + 0x40};
    memcpy(image + PDATA + 12, &cold, sizeof(cold));
    uint64_t sp = STK + 0x100;
    stack_put(sp + 0x20, 0xb0b0);
    stack_put(sp + 0x28, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_runtime_function found;
    assert_int_equal(ds_unwind_lookup(&um, IMG, PDATA, 24, CODE + 0x210, &found), DS_OK);
    assert_int_equal(found.BeginAddress, CODE + 0x200);
    ds_regs64 r = regs_at(IMG + CODE + 0x210, sp);
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &found, &r, &trap), DS_OK);
    assert_int_equal(r.gpr[3], 0xb0b0);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 0x30);
    assert_int_equal(r.rip, RET_ADDR);
}

/* A trap handler's machine frame, with and without an error code. */
static void test_machine_frame(void **state)
{
    (void)state;
    for (uint8_t err = 0; err <= 1; err++) {
        setup();
        uint16_t c[1] = {uc(0, DS_UWOP_PUSH_MACHFRAME, err)};
        ds_runtime_function rf = add_function(0, CODE, CODE + 0x100, INFO, 0, 0, 0, 0, c, 1);
        uint64_t sp = STK + 0x100, hw = sp + (err ? 8 : 0);
        stack_put(hw, 0xfffff80122223333ull);        /* RIP of the interrupted code */
        stack_put(hw + 8, 0x10);                     /* CS */
        stack_put(hw + 16, 0x246);                   /* EFLAGS */
        stack_put(hw + 24, STK + 0x800);             /* RSP of the interrupted code */
        mem m = make_mem();
        ds_unwind_mem um = {mem_read, &m};
        ds_regs64 r = regs_at(IMG + CODE + 0x10, sp);
        bool trap;
        assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
        assert_true(trap);
        assert_int_equal(r.rip, 0xfffff80122223333ull);
        assert_int_equal(r.gpr[DS_CTX64_RSP], STK + 0x800);
    }
}

/* RIP at `add rsp, 0x28; pop rsi; pop rbx; ret`: finished by emulation,
 * not by the codes (which would pop the wrong slots). */
static void test_epilog(void **state)
{
    (void)state;
    setup();
    ds_runtime_function rf;
    push_alloc_function(&rf);
    static const uint8_t epi[] = {0x48, 0x83, 0xc4, 0x28, 0x5e, 0x5b, 0xc3};
    memcpy(image + CODE + 0x90, epi, sizeof(epi));
    uint64_t sp = STK + 0x100;
    stack_put(sp + 0x28, 0x5151);
    stack_put(sp + 0x30, 0xb0b0);
    stack_put(sp + 0x38, RET_ADDR);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_regs64 r = regs_at(IMG + CODE + 0x90, sp);
    bool trap;
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 0x40);
    assert_int_equal(r.gpr[6], 0x5151);
    /* after the first pop: only `pop rbx; ret` left */
    r = regs_at(IMG + CODE + 0x95, sp + 0x30);
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_OK);
    assert_int_equal(r.gpr[3], 0xb0b0);
    assert_int_equal(r.rip, RET_ADDR);
}

static void test_lookup_and_leaf(void **state)
{
    (void)state;
    setup();
    uint16_t c[1] = {uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    add_function(0, 0x1000, 0x1010, INFO, 0, 1, 0, 0, c, 1);
    add_function(1, 0x1020, 0x1040, INFO, 0, 1, 0, 0, c, 1);
    add_function(2, 0x1100, 0x1200, INFO, 0, 1, 0, 0, c, 1);
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    ds_runtime_function f;
    assert_int_equal(ds_unwind_lookup(&um, IMG, PDATA, 36, 0x1030, &f), DS_OK);
    assert_int_equal(f.BeginAddress, 0x1020);
    assert_int_equal(ds_unwind_lookup(&um, IMG, PDATA, 36, 0x11ff, &f), DS_OK);
    assert_int_equal(f.BeginAddress, 0x1100);
    assert_int_equal(ds_unwind_lookup(&um, IMG, PDATA, 36, 0x1018, &f), DS_ERR_NOT_FOUND);
    assert_int_equal(ds_unwind_lookup(&um, IMG, PDATA, 36, 0x1200, &f), DS_ERR_NOT_FOUND);
    /* .pdata beyond the image: a read error, not a crash */
    assert_int_not_equal(ds_unwind_lookup(&um, IMG, 0x3ff8, 36, 0x1030, &f), DS_OK);
    uint64_t sp = STK + 0x40;
    stack_put(sp, RET_ADDR);
    ds_regs64 r = regs_at(IMG + 0x1018, sp);
    assert_int_equal(ds_unwind_leaf(&um, &r), DS_OK);
    assert_int_equal(r.rip, RET_ADDR);
    assert_int_equal(r.gpr[DS_CTX64_RSP], sp + 8);
}

static void test_hostile_unwind_data(void **state)
{
    (void)state;
    mem m = make_mem();
    ds_unwind_mem um = {mem_read, &m};
    bool trap;
    /* version 0 and 3 */
    for (uint8_t v = 0; v <= 3; v += 3) {
        setup();
        uint16_t c[1] = {uc(1, DS_UWOP_PUSH_NONVOL, 3)};
        ds_runtime_function rf = add_function(0, CODE, CODE + 0x10, INFO, 0, 1, 0, 0, c, 1);
        image[INFO] = (uint8_t)(v | 0);
        ds_regs64 r = regs_at(IMG + CODE + 4, STK + 0x100), before = r;
        assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_ERR_CORRUPT);
        assert_memory_equal(&r, &before, sizeof(r)); /* untouched on failure */
    }
    /* a code whose extra slots run past CountOfCodes */
    setup();
    uint16_t c1[1] = {uc(2, DS_UWOP_SAVE_NONVOL_FAR, 3)};
    ds_runtime_function rf = add_function(0, CODE, CODE + 0x10, INFO, 0, 2, 0, 0, c1, 1);
    ds_regs64 r = regs_at(IMG + CODE + 8, STK + 0x100);
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_ERR_CORRUPT);
    /* SET_FPREG without a frame register, and undefined op 12..15 */
    setup();
    uint16_t c2[1] = {uc(2, DS_UWOP_SET_FPREG, 0)};
    rf = add_function(0, CODE, CODE + 0x10, INFO, 0, 2, 0, 0, c2, 1);
    r = regs_at(IMG + CODE + 8, STK + 0x100);
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_ERR_CORRUPT);
    setup();
    uint16_t c3[1] = {uc(2, 13, 0)};
    rf = add_function(0, CODE, CODE + 0x10, INFO, 0, 2, 0, 0, c3, 1);
    r = regs_at(IMG + CODE + 8, STK + 0x100);
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_ERR_CORRUPT);
    /* a chain to itself: bounded, DS_ERR_LOOP */
    setup();
    uint8_t *u = image + INFO;
    u[0] = 1 | DS_UNW_FLAG_CHAININFO << 3;
    ds_runtime_function self = {CODE, CODE + 0x10, INFO};
    memcpy(u + 4, &self, sizeof(self));
    r = regs_at(IMG + CODE + 8, STK + 0x100);
    assert_int_equal(ds_unwind_step(&um, IMG, &self, &r, &trap), DS_ERR_LOOP);
    /* unwind data or stack outside memory: an error, registers kept */
    ds_runtime_function far = {CODE, CODE + 0x10, 0x7ffff000};
    r = regs_at(IMG + CODE + 8, STK + 0x100);
    assert_int_not_equal(ds_unwind_step(&um, IMG, &far, &r, &trap), DS_OK);
    setup();
    uint16_t c4[1] = {uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    rf = add_function(0, CODE, CODE + 0x10, INFO, 0, 1, 0, 0, c4, 1);
    r = regs_at(IMG + CODE + 8, 0xffffb00000000000ull);
    assert_int_equal(ds_unwind_step(&um, IMG, &rf, &r, &trap), DS_ERR_NOT_PRESENT);
}

/* ---- the walker -------------------------------------------------------- */

/* A minimal MZ/PE header for an x64 image of 0x4000 bytes with one
 * executable section [0x1000, 0x2000) and .pdata at PDATA. */
static void pe_header(uint32_t pdata_size)
{
    image[0] = 'M';
    image[1] = 'Z';
    uint32_t lfanew = 0x80;
    memcpy(image + 0x3c, &lfanew, 4);
    ds_pe_file_header fh = {.Signature = DS_PE00, .Machine = 0x8664, .NumberOfSections = 1,
                            .SizeOfOptionalHeader = sizeof(ds_pe_opt64)};
    memcpy(image + lfanew, &fh, sizeof(fh));
    ds_pe_opt64 o;
    memset(&o, 0, sizeof(o));
    o.Magic = DS_PE_MAGIC64;
    o.SizeOfImage = sizeof(image);
    o.NumberOfRvaAndSizes = 16;
    o.DataDirectory[DS_PE_DIR_EXCEPTION] = (ds_pe_data_dir){PDATA, pdata_size};
    memcpy(image + lfanew + sizeof(fh), &o, sizeof(o));
    ds_pe_section s;
    memset(&s, 0, sizeof(s));
    memcpy(s.Name, ".text", 5);
    s.VirtualAddress = CODE;
    s.VirtualSize = 0x1000;
    s.Characteristics = DS_SCN_MEM_EXECUTE;
    memcpy(image + lfanew + sizeof(fh) + sizeof(o), &s, sizeof(s));
}

static ds_modlist one_module(ds_module *mod, size_t *order)
{
    memset(mod, 0, sizeof(*mod));
    snprintf(mod->name, sizeof(mod->name), "netdrv.sys");
    mod->base = IMG;
    mod->size = sizeof(image);
    order[0] = 0;
    ds_modlist ml = {.v = mod, .n = 1, .by_base = order};
    return ml;
}

static void test_return_address_check(void **state)
{
    (void)state;
    setup();
    pe_header(0);
    /* call rel32 ending at CODE+0x105; call [rip+x] ending at CODE+0x206;
     * call rax ending at CODE+0x302; a mov ending at CODE+0x404 */
    image[CODE + 0x100] = 0xe8;
    static const uint8_t ind[] = {0xff, 0x15, 0x10, 0x20, 0x00, 0x00};
    memcpy(image + CODE + 0x200, ind, sizeof(ind));
    image[CODE + 0x300] = 0xff;
    image[CODE + 0x301] = 0xd0;
    static const uint8_t mov[] = {0x48, 0x8b, 0x41, 0x28};
    memcpy(image + CODE + 0x400, mov, sizeof(mov));
    mem m = make_mem();
    ds_module mod;
    size_t order[1];
    ds_modlist ml = one_module(&mod, order);
    ds_pe_cache pe[1] = {0};
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = true};
    csh cs;
    assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &cs), CS_ERR_OK);
    void *h = (void *)(uintptr_t)cs;
    assert_int_equal(ds_stack_is_return_address(&env, IMG + CODE + 0x105, h), 1);
    assert_int_equal(ds_stack_is_return_address(&env, IMG + CODE + 0x206, h), 1);
    assert_int_equal(ds_stack_is_return_address(&env, IMG + CODE + 0x302, h), 1);
    assert_int_equal(ds_stack_is_return_address(&env, IMG + CODE + 0x404, h), 0);
    assert_int_equal(ds_stack_is_return_address(&env, 0xfffff90000000000ull, h), -1);
    cs_close(&cs);
}

/* A two-frame stack: inner (push rbx; sub rsp,0x20) called from outer
 * (leaf: no .pdata), outer called from a scan-found return address. */
static void test_walk(void **state)
{
    (void)state;
    setup();
    uint16_t c[2] = {uc(5, DS_UWOP_ALLOC_SMALL, 3), uc(1, DS_UWOP_PUSH_NONVOL, 3)};
    add_function(0, CODE, CODE + 0x80, INFO, 0, 5, 0, 0, c, 2);
    pe_header(12);
    /* outer calls inner: return address CODE+0x105 follows a call rel32 */
    image[CODE + 0x100] = 0xe8;
    /* a second call site for the scanned frame */
    image[CODE + 0x300] = 0xe8;
    uint64_t sp = STK + 0x100;
    stack_put(sp + 0x20, 0xb0b0);
    stack_put(sp + 0x28, IMG + CODE + 0x105);           /* inner -> outer */
    /* outer is a leaf (no .pdata): its return address is at [rsp] */
    stack_put(sp + 0x30, IMG + CODE + 0x305);
    stack_put(sp + 0x38, IMG + CODE + 0x404);            /* above the stack top */
    mem m = make_mem();
    ds_module mod;
    size_t order[1];
    ds_modlist ml = one_module(&mod, order);
    ds_pe_cache pe[1] = {0};
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = true,
                        .stack_top = sp + 0x38};
    ds_regs64 r = regs_at(IMG + CODE + 0x40, sp);
    ds_stack s;
    ds_stack_walk(&env, &r, &s);
    assert_true(s.n >= 3);
    assert_int_equal(s.f[0].method, DS_FRAME_CONTEXT);
    assert_int_equal(s.f[1].ip, IMG + CODE + 0x105);
    assert_int_equal(s.f[1].method, DS_FRAME_UNWIND);
    assert_int_equal(s.f[1].sp, sp + 0x30);
    assert_int_equal(s.f[2].ip, IMG + CODE + 0x305);
    assert_int_equal(s.f[2].method, DS_FRAME_UNWIND); /* leaf rule */
    assert_ptr_equal(s.f[1].module, &mod);
    /* the walk stops at the stack top and never reports the noise */
    for (unsigned i = 0; i < s.n; i++)
        assert_int_not_equal(s.f[i].ip, IMG + CODE + 0x404);
    assert_int_equal(s.end, DS_STACK_END);
}

/* The scan takes only addresses that follow a call: noise before the real
 * return address is skipped. */
static void test_walk_scan_skips_noise(void **state)
{
    (void)state;
    setup();
    pe_header(0); /* no .pdata: every frame is found by scanning */
    image[CODE + 0x300] = 0xe8;
    uint64_t sp = STK + 0x100;
    stack_put(sp, IMG + CODE + 0x404);        /* in the module, not after a call */
    stack_put(sp + 8, 0x1234);                /* not an address */
    stack_put(sp + 16, IMG + CODE + 0x305);   /* a real return address */
    mem m = make_mem();
    ds_module mod;
    size_t order[1];
    ds_modlist ml = one_module(&mod, order);
    ds_pe_cache pe[1] = {0};
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = true,
                        .stack_top = sp + 24};
    ds_regs64 r = regs_at(IMG + CODE + 0x40, sp);
    ds_stack s;
    ds_stack_walk(&env, &r, &s);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.f[1].ip, IMG + CODE + 0x305);
    assert_int_equal(s.f[1].sp, sp + 24);
    assert_int_equal(s.f[1].method, DS_FRAME_SCAN);
}

/* Without .pdata or code bytes: unverified scan frames; with a stack
 * that loops, the walk ends with "loop" or "end", bounded. */
static void test_walk_scan_unverified(void **state)
{
    (void)state;
    setup();
    mem m = {.nr = 1};
    m.r[0] = (region){STK, stack, sizeof(stack)}; /* no image bytes at all */
    ds_module mod;
    size_t order[1];
    ds_modlist ml = one_module(&mod, order);
    ds_pe_cache pe[1] = {0};
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = true};
    for (unsigned i = 0; i < 0x1000 / 8; i++)
        put64(stack + 8 * i, IMG + CODE + 0x10 * (i % 7 + 1));
    ds_regs64 r = regs_at(IMG + CODE, STK);
    ds_stack s;
    ds_stack_walk(&env, &r, &s);
    assert_true(s.n > 1);
    for (unsigned i = 1; i < s.n; i++) {
        assert_int_equal(s.f[i].method, DS_FRAME_SCAN_UNVERIFIED);
        assert_true(s.f[i].sp > s.f[i - 1].sp);
    }
    assert_true(s.n <= DS_STACK_MAX_FRAMES);
    assert_true(s.end == DS_STACK_LIMIT || s.end == DS_STACK_UNREADABLE);
}

/* x86: the saved-EBP chain, frame by frame, ending at a zero EBP. */
static void test_walk_x86_ebp(void **state)
{
    (void)state;
    static uint8_t stk32[0x200];
    memset(stk32, 0, sizeof(stk32));
    const uint64_t base = 0x80400000ull, s0 = 0x8a000000ull;
    mem m = {.nr = 1};
    m.r[0] = (region){s0, stk32, sizeof(stk32)};
    ds_module mod;
    memset(&mod, 0, sizeof(mod));
    snprintf(mod.name, sizeof(mod.name), "ntkrnlpa.exe");
    mod.base = base;
    mod.size = 0x100000;
    size_t order[1] = {0};
    ds_modlist ml = {.v = &mod, .n = 1, .by_base = order};
    ds_pe_cache pe[1] = {0};
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = false,
                        .stack_top = s0 + sizeof(stk32)};
    /* frames at s0+0x40 and s0+0x80: [ebp] = next ebp, [ebp+4] = return */
    uint32_t f1[2] = {(uint32_t)(s0 + 0x80), (uint32_t)(base + 0x1234)};
    uint32_t f2[2] = {0, (uint32_t)(base + 0x5678)};
    memcpy(stk32 + 0x40, f1, 8);
    memcpy(stk32 + 0x80, f2, 8);
    ds_regs64 r = regs_at(base + 0x100, s0 + 0x10);
    r.gpr[DS_CTX64_RBP] = s0 + 0x40;
    ds_stack s;
    ds_stack_walk(&env, &r, &s);
    assert_true(s.n >= 3);
    assert_int_equal(s.f[1].ip, base + 0x1234);
    assert_int_equal(s.f[1].method, DS_FRAME_EBP);
    assert_int_equal(s.f[1].sp, s0 + 0x48);
    assert_int_equal(s.f[2].ip, base + 0x5678);
    assert_int_equal(s.f[2].method, DS_FRAME_EBP);
}

/* ---- names and buckets ------------------------------------------------- */

static void test_base_names_and_buckets(void **state)
{
    (void)state;
    char out[64];
    ds_module_base_name("\\SystemRoot\\system32\\ntoskrnl.exe", out, sizeof(out));
    assert_string_equal(out, "ntoskrnl.exe");
    ds_module_base_name("netdrv.sys", out, sizeof(out));
    assert_string_equal(out, "netdrv.sys");
    ds_module_base_name("C:/x/y/hal.dll", out, sizeof(out));
    assert_string_equal(out, "hal.dll");
    ds_module_base_name("dir\\", out, sizeof(out));
    assert_string_equal(out, "");
    assert_true(ds_is_kernel_module("ntoskrnl.exe"));
    assert_true(ds_is_kernel_module("NTKRNLMP.EXE"));
    assert_true(ds_is_kernel_module("hal.dll"));
    assert_false(ds_is_kernel_module("netdrv.sys"));
    char b[192], bm[192];
    uint64_t id = ds_bucket_make(0xd1, "NetDrv.SYS", 0x1a2b, b, bm, sizeof(b));
    assert_string_equal(b, "0xD1_netdrv.sys+0x1a2b");
    assert_string_equal(bm, "0xD1_netdrv.sys");
    uint64_t id2 = ds_bucket_make(0x1000007e, "winhvr.sys", 0x16755, b, bm, sizeof(b));
    assert_string_equal(b, "0x7E_winhvr.sys+0x16755");
    assert_int_not_equal(id, id2);
    assert_int_equal(ds_bucket_make(0x7e, "winhvr.sys", 0x16755, b, bm, sizeof(b)), id2);
    ds_bucket_make(0x133, NULL, 0, b, bm, sizeof(b));
    assert_string_equal(b, "0x133_UNKNOWN");
    assert_string_equal(bm, "0x133_UNKNOWN");
    ds_bucket_make(0xC000021A, "x.sys", 1, b, bm, sizeof(b));
    assert_string_equal(b, "0xC000021A_x.sys+0x1");
}

/* The table: sorted (bisection works), at least 60 codes, rules in range. */
static void test_bugcheck_table(void **state)
{
    (void)state;
    size_t n = ds_bugcheck_info_count();
    assert_true(n >= 60);
    for (size_t i = 0; i < n; i++) {
        const ds_bugcheck_info *r = ds_bugcheck_info_row(i);
        if (i)
            assert_true(ds_bugcheck_info_row(i - 1)->code < r->code);
        assert_ptr_equal(ds_bugcheck_info_of(r->code), r);
        for (int k = 0; k < 4; k++)
            assert_non_null(r->meaning[k]);
        assert_true(r->ip_param <= 4 && r->exr_param <= 4 && r->cxr_param <= 4 &&
                    r->trap_param <= 4 && r->exc_code_param <= 4);
    }
    const ds_bugcheck_info *d1 = ds_bugcheck_info_of(0xd1);
    assert_non_null(d1);
    assert_int_equal(d1->ip_param, 4);
    const ds_bugcheck_info *m7e = ds_bugcheck_info_of(0x1000007e);
    assert_ptr_equal(m7e, ds_bugcheck_info_of(0x7e));
    assert_int_equal(m7e->cxr_param, 4);
    assert_int_equal(m7e->exr_param, 3);
    assert_int_equal(ds_bugcheck_info_of(0x8e)->trap_param, 3);
    assert_int_equal(ds_bugcheck_info_of(0x139)->trap_param, 2);
    assert_int_equal(ds_bugcheck_info_of(0x50)->ip_param, 3);
    assert_null(ds_bugcheck_info_of(0x12345));
    assert_int_equal(ds_bugcheck_base_code(0x1000008e), 0x8e);
    assert_int_equal(ds_bugcheck_base_code(0xc000021a), 0xc000021a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_and_small_alloc),
        cmocka_unit_test(test_inside_prolog),
        cmocka_unit_test(test_large_allocs),
        cmocka_unit_test(test_frame_register_and_saves),
        cmocka_unit_test(test_save_nonvol_far),
        cmocka_unit_test(test_chained),
        cmocka_unit_test(test_machine_frame),
        cmocka_unit_test(test_epilog),
        cmocka_unit_test(test_lookup_and_leaf),
        cmocka_unit_test(test_hostile_unwind_data),
        cmocka_unit_test(test_return_address_check),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_walk_scan_skips_noise),
        cmocka_unit_test(test_walk_scan_unverified),
        cmocka_unit_test(test_walk_x86_ebp),
        cmocka_unit_test(test_base_names_and_buckets),
        cmocka_unit_test(test_bugcheck_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
