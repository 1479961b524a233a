/* unwind.c - x64 virtual unwinding from .pdata / UNWIND_INFO; see
 * unwind.h.  The algorithm is the one Windows documents for x64 exception
 * handling ("x64 exception handling", unwind data and unwind procedure):
 * the establisher frame is RSP, or FrameRegister - 16*FrameOffset once
 * the prolog has set the frame register; codes are undone from the first
 * array entry (the last prolog instruction) on. */
#include "unwind.h"

#include <string.h>

#include "../src/le.h"

static ds_err rd(const ds_unwind_mem *m, uint64_t va, void *buf, size_t len)
{
    return m->read(m->ctx, va, buf, len);
}

static ds_err rd64(const ds_unwind_mem *m, uint64_t va, uint64_t *v)
{
    uint8_t b[8];
    ds_err e = rd(m, va, b, 8);
    if (e == DS_OK)
        *v = ds_le64(b);
    return e;
}

ds_err ds_unwind_lookup(const ds_unwind_mem *m, uint64_t base, uint32_t pdata_rva,
                        uint32_t pdata_size, uint32_t rva, ds_runtime_function *out)
{
    uint32_t lo = 0, hi = pdata_size / (uint32_t)sizeof(ds_runtime_function);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        ds_runtime_function rf;
        ds_err e = rd(m, base + pdata_rva + (uint64_t)mid * sizeof(rf), &rf, sizeof(rf));
        if (e != DS_OK)
            return e;
        if (rva < rf.BeginAddress) {
            hi = mid;
        } else if (rva >= rf.EndAddress) {
            lo = mid + 1;
        } else {
            *out = rf;
            return DS_OK;
        }
    }
    return DS_ERR_NOT_FOUND;
}

ds_err ds_unwind_leaf(const ds_unwind_mem *m, ds_regs64 *regs)
{
    uint64_t ret;
    ds_err e = rd64(m, regs->gpr[DS_CTX64_RSP], &ret);
    if (e != DS_OK)
        return e;
    regs->rip = ret;
    regs->gpr[DS_CTX64_RSP] += 8;
    return DS_OK;
}

/* Array slots an unwind code takes (the code itself included). */
static unsigned op_slots(uint8_t op, uint8_t info)
{
    static const uint8_t extra[16] = {
        [DS_UWOP_PUSH_NONVOL] = 0,  [DS_UWOP_ALLOC_LARGE] = 1,   [DS_UWOP_ALLOC_SMALL] = 0,
        [DS_UWOP_SET_FPREG] = 0,    [DS_UWOP_SAVE_NONVOL] = 1,   [DS_UWOP_SAVE_NONVOL_FAR] = 2,
        [DS_UWOP_EPILOG] = 1,       [DS_UWOP_SPARE] = 2,         [DS_UWOP_SAVE_XMM128] = 1,
        [DS_UWOP_SAVE_XMM128_FAR] = 2, [DS_UWOP_PUSH_MACHFRAME] = 0,
        [11] = 2, /* UWOP_SET_FPREG_LARGE (version 2) */
    };
    if (op == DS_UWOP_ALLOC_LARGE && info != 0)
        return 3;
    return (unsigned)extra[op & 15] + 1;
}

/* ---- epilog ------------------------------------------------------------ */

/* RIP at an epilog (the function's prolog already undone by the code
 * itself)?  Recognises `add rsp, imm8|imm32` or `lea rsp, [reg+disp]`,
 * then `pop reg`s, then `ret`.  On a match the registers are unwound by
 * emulation and true is returned. */
static bool try_epilog(const ds_unwind_mem *m, ds_regs64 *regs, uint8_t frame_reg)
{
    uint8_t c[64];
    if (rd(m, regs->rip, c, sizeof(c)) != DS_OK)
        return false;
    ds_regs64 r = *regs;
    size_t i = 0;
    if (c[0] == 0x48 && c[1] == 0x83 && c[2] == 0xc4) { /* add rsp, imm8 */
        r.gpr[DS_CTX64_RSP] += (uint64_t)(int64_t)(int8_t)c[3];
        i = 4;
    } else if (c[0] == 0x48 && c[1] == 0x81 && c[2] == 0xc4) { /* add rsp, imm32 */
        r.gpr[DS_CTX64_RSP] += (uint64_t)(int64_t)(int32_t)ds_le32(c + 3);
        i = 7;
    } else if ((c[0] & 0xfe) == 0x48 && c[1] == 0x8d && (c[2] & 0x38) == 0x20 &&
               (c[2] >> 6) != 3) { /* lea rsp, [reg + disp8|disp32] */
        uint8_t mod = c[2] >> 6, reg = (uint8_t)((c[2] & 7) | ((c[0] & 1) << 3));
        if (frame_reg && reg != frame_reg)
            return false;
        size_t at = 3;
        if ((c[2] & 7) == 4)
            at++; /* SIB (lea rsp, [rsp + x]) */
        int64_t disp = mod == 1 ? (int8_t)c[at] : mod == 2 ? (int32_t)ds_le32(c + at) : 0;
        r.gpr[DS_CTX64_RSP] = r.gpr[reg] + (uint64_t)disp;
        i = at + (mod == 1 ? 1 : mod == 2 ? 4 : 0);
    }
    for (unsigned pops = 0; i < sizeof(c) - 2 && pops < 16; pops++) {
        unsigned reg;
        if (c[i] >= 0x58 && c[i] <= 0x5f) {
            reg = c[i] - 0x58u;
            i += 1;
        } else if (c[i] == 0x41 && c[i + 1] >= 0x58 && c[i + 1] <= 0x5f) {
            reg = 8 + c[i + 1] - 0x58u;
            i += 2;
        } else {
            break;
        }
        if (rd64(m, r.gpr[DS_CTX64_RSP], &r.gpr[reg]) != DS_OK)
            return false;
        r.gpr[DS_CTX64_RSP] += 8;
    }
    if (i >= sizeof(c) || c[i] != 0xc3) /* only a plain ret ends an epilog here */
        return false;
    if (ds_unwind_leaf(m, &r) != DS_OK)
        return false;
    *regs = r;
    return true;
}

/* ---- prolog codes ---------------------------------------------------- */

typedef struct unwind_state {
    const ds_unwind_mem *m;
    ds_regs64 *regs;
    uint64_t frame_base;       /* establisher frame: base of SAVE_* offsets */
    bool machine_frame;
} unwind_state;

static ds_err apply_code(unwind_state *u, const uint8_t *codes, unsigned i, unsigned n,
                         uint8_t frame_reg, uint8_t frame_off)
{
    uint8_t op = codes[2 * i + 1] & 15, info = codes[2 * i + 1] >> 4;
    unsigned slots = op_slots(op, info);
    if (i + slots > n)
        return DS_ERR_CORRUPT;
    uint64_t *rsp = &u->regs->gpr[DS_CTX64_RSP];
    uint16_t s1 = i + 1 < n ? ds_le16(codes + 2 * (i + 1)) : 0;
    uint32_t s12 = i + 2 < n ? ds_le32(codes + 2 * (i + 1)) : 0;
    switch (op) {
    case DS_UWOP_PUSH_NONVOL: {
        uint64_t v;
        ds_err e = rd64(u->m, *rsp, &v);
        if (e != DS_OK)
            return e;
        *rsp += 8;
        u->regs->gpr[info] = v;
        return DS_OK;
    }
    case DS_UWOP_ALLOC_LARGE:
        *rsp += info == 0 ? (uint64_t)s1 * 8 : s12;
        return DS_OK;
    case DS_UWOP_ALLOC_SMALL:
        *rsp += (uint64_t)info * 8 + 8;
        return DS_OK;
    case DS_UWOP_SET_FPREG:
        if (!frame_reg)
            return DS_ERR_CORRUPT;
        *rsp = u->regs->gpr[frame_reg] - (uint64_t)frame_off * 16;
        return DS_OK;
    case 11: /* UWOP_SET_FPREG_LARGE */
        if (!frame_reg)
            return DS_ERR_CORRUPT;
        *rsp = u->regs->gpr[frame_reg] - (uint64_t)s12 * 16;
        return DS_OK;
    case DS_UWOP_SAVE_NONVOL:
        return rd64(u->m, u->frame_base + (uint64_t)s1 * 8, &u->regs->gpr[info]);
    case DS_UWOP_SAVE_NONVOL_FAR:
        return rd64(u->m, u->frame_base + s12, &u->regs->gpr[info]);
    case DS_UWOP_EPILOG:
    case DS_UWOP_SPARE:
    case DS_UWOP_SAVE_XMM128:
    case DS_UWOP_SAVE_XMM128_FAR:
        return DS_OK; /* epilog descriptions, XMM registers: nothing to restore */
    case DS_UWOP_PUSH_MACHFRAME: {
        uint64_t at = *rsp + (info ? 8 : 0), rip, sp;
        ds_err e = rd64(u->m, at, &rip);
        if (e == DS_OK)
            e = rd64(u->m, at + 24, &sp);
        if (e != DS_OK)
            return e;
        u->regs->rip = rip;
        *rsp = sp;
        u->machine_frame = true;
        return DS_OK;
    }
    default:
        return DS_ERR_CORRUPT;
    }
}

/* Where the frame register was set in the prolog (its code's offset),
 * or -1 when no SET_FPREG code is listed. */
static int fpreg_offset(const uint8_t *codes, unsigned n)
{
    for (unsigned i = 0; i < n;) {
        uint8_t op = codes[2 * i + 1] & 15, info = codes[2 * i + 1] >> 4;
        if (op == DS_UWOP_SET_FPREG || op == 11)
            return codes[2 * i];
        i += op_slots(op, info);
    }
    return -1;
}

ds_err ds_unwind_step(const ds_unwind_mem *m, uint64_t base, const ds_runtime_function *rf,
                      ds_regs64 *regs, bool *machine_frame)
{
    unwind_state u = {.m = m, .regs = regs};
    ds_regs64 saved = *regs;
    ds_runtime_function f = *rf;
    bool first = true;
    *machine_frame = false;
    for (unsigned depth = 0; depth <= DS_UNWIND_MAX_CHAIN; depth++) {
        ds_unwind_info_head h;
        uint8_t codes[2 * 256 + 12];
        uint64_t info_va = base + f.UnwindData;
        ds_err e = rd(m, info_va, &h, sizeof(h));
        if (e != DS_OK)
            goto fail;
        unsigned version = h.VersionFlags & 7, flags = h.VersionFlags >> 3;
        unsigned n = h.CountOfCodes;
        if (version != 1 && version != 2) {
            e = DS_ERR_CORRUPT;
            goto fail;
        }
        bool chained = (flags & DS_UNW_FLAG_CHAININFO) != 0;
        size_t need = 2 * (size_t)((n + 1) & ~1u) + (chained ? sizeof(ds_runtime_function) : 0);
        if (need && (e = rd(m, info_va + sizeof(h), codes, need)) != DS_OK)
            goto fail;
        uint8_t frame_reg = h.FrameRegOffset & 15, frame_off = h.FrameRegOffset >> 4;
        uint64_t pc_off = regs->rip - (base + f.BeginAddress);
        bool in_prolog = pc_off < h.SizeOfProlog;
        if (first && !in_prolog && try_epilog(m, regs, frame_reg))
            return DS_OK; /* finished by emulating the epilog */
        first = false;
        u.frame_base = regs->gpr[DS_CTX64_RSP];
        if (frame_reg) {
            int set_at = fpreg_offset(codes, n);
            if (set_at >= 0 && (!in_prolog || pc_off >= (uint64_t)set_at))
                u.frame_base = regs->gpr[frame_reg] - (uint64_t)frame_off * 16;
        }
        for (unsigned i = 0; i < n;) {
            uint8_t op = codes[2 * i + 1] & 15, info = codes[2 * i + 1] >> 4;
            unsigned slots = op_slots(op, info);
            if (!(in_prolog && codes[2 * i] > pc_off)) {
                e = apply_code(&u, codes, i, n, frame_reg, frame_off);
                if (e != DS_OK)
                    goto fail;
                if (u.machine_frame)
                    break;
            }
            i += slots;
        }
        if (u.machine_frame || !chained)
            break;
        if (depth == DS_UNWIND_MAX_CHAIN) {
            e = DS_ERR_LOOP;
            goto fail;
        }
        memcpy(&f, codes + 2 * ((n + 1) & ~1u), sizeof(f));
        continue;
    fail:
        *regs = saved;
        return e;
    }
    *machine_frame = u.machine_frame;
    if (u.machine_frame)
        return DS_OK;
    ds_err e = ds_unwind_leaf(m, regs);
    if (e != DS_OK)
        *regs = saved;
    return e;
}
