/* fuzz_unwind.c - the x64 unwinder and the stack walker on hostile unwind
 * data and stacks: PE headers, .pdata lookup, every unwind code, chains,
 * machine frames, epilog emulation, call-site validation with capstone.
 * Input: rip, rsp, rbp (3 x u64), the image length (u16), then the image
 * (mapped at IMG as module "fuzz.sys") and the stack (mapped at STK). */
#include <string.h>

#include "../../scan/stack.h"
#include "fuzz.h"

#define IMG 0xfffff80100000000ull
#define STK 0xffffa00000000000ull

typedef struct mem {
    const uint8_t *img, *stk;
    size_t nimg, nstk;
} mem;

static ds_err mem_read(void *ctx, uint64_t va, void *buf, size_t len)
{
    const mem *m = ctx;
    if (va >= IMG && va - IMG <= m->nimg && len <= m->nimg - (va - IMG)) {
        memcpy(buf, m->img + (va - IMG), len);
        return DS_OK;
    }
    if (va >= STK && va - STK <= m->nstk && len <= m->nstk - (va - STK)) {
        memcpy(buf, m->stk + (va - STK), len);
        return DS_OK;
    }
    return DS_ERR_NOT_PRESENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 26)
        return 0;
    ds_regs64 r;
    memset(&r, 0, sizeof(r));
    memcpy(&r.rip, data, 8);
    memcpy(&r.gpr[DS_CTX64_RSP], data + 8, 8);
    memcpy(&r.gpr[DS_CTX64_RBP], data + 16, 8);
    size_t nimg = (size_t)data[24] | (size_t)data[25] << 8;
    if (nimg > size - 26)
        nimg = size - 26;
    mem m = {data + 26, data + 26 + nimg, nimg, size - 26 - nimg};
    ds_module mod;
    memset(&mod, 0, sizeof(mod));
    memcpy(mod.name, "fuzz.sys", 9);
    mod.base = IMG;
    mod.size = 1u << 20;
    size_t order[1] = {0};
    ds_modlist ml = {.v = &mod, .n = 1, .by_base = order};
    ds_pe_cache pe[1];
    memset(pe, 0, sizeof(pe));
    ds_stack_env env = {.read = mem_read, .ctx = &m, .mods = &ml, .pe = pe, .is64 = !(data[24] & 1),
                        .stack_top = (data[25] & 1) ? STK + m.nstk : 0};
    ds_stack s;
    ds_stack_walk(&env, &r, &s);
    return 0;
}
