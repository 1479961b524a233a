/* kdcopy.c - find nt!KdCopyDataBlock by its shape (see kdcopy.h).
 *
 * The search slides a three-page window (previous, current, next page)
 * over the code so that a routine may straddle page boundaries either
 * side of its anchor; a page that cannot be read is filled with int3.
 * Per anchor: the byte prefilter, then capstone.  Disassembly has to
 * start before the anchor (a compiler may load KiWaitNever first) at an
 * instruction boundary nobody tells us: it starts DS_KDCOPY_BEFORE bytes
 * back and moves forward a byte at a time (at most SYNC_TRIES times)
 * until the decoding lands exactly on the anchor; x86 code resynchronises
 * within a few instructions, so the first or second try usually does.
 * A `ret` or int3 before the anchor ends the previous function: what was
 * collected before it is dropped. */
#include "kdcopy.h"

#include <capstone/capstone.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"

#define PAGE 0x1000u
#define SYNC_TRIES 8u
#define MAX_INSNS 96u
#define MAX_REFS 8u
#define KDBG_SIZE_MIN 0x290u /* XP */
#define KDBG_SIZE_MAX 0x1000u

struct ds_kdcopy_finder {
    csh cs;
    cs_insn *insn;
};

ds_kdcopy_finder *ds_kdcopy_open(void)
{
    ds_kdcopy_finder *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &f->cs) != CS_ERR_OK) {
        free(f);
        return NULL;
    }
    if (cs_option(f->cs, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK || !(f->insn = cs_malloc(f->cs))) {
        cs_close(&f->cs);
        free(f);
        return NULL;
    }
    return f;
}

void ds_kdcopy_close(ds_kdcopy_finder *f)
{
    if (!f)
        return;
    cs_free(f->insn, 1);
    cs_close(&f->cs);
    free(f);
}

/* ---- prefilter ---------------------------------------------------------- */

static bool kdbg_size_imm(uint32_t v)
{
    bool bytes = v >= KDBG_SIZE_MIN && v <= KDBG_SIZE_MAX && (v & 7) == 0;
    bool qwords = v >= KDBG_SIZE_MIN / 8 && v <= KDBG_SIZE_MAX / 8;
    return bytes || qwords;
}

/* A 64-bit bswap (REX.W 0F C8+r) in code[lo, hi): found by memchr for
 * its 0F, since most anchors have none and the search ends there. */
static bool has_bswap64(const uint8_t *code, size_t lo, size_t hi)
{
    if (hi < lo + 3)
        return false;
    const uint8_t *p = code + lo + 1, *end = code + hi - 1; /* 0F with a byte either side */
    while (p < end && (p = memchr(p, 0x0f, (size_t)(end - p))) != NULL) {
        if ((p[-1] == 0x48 || p[-1] == 0x49) && (p[1] & 0xf8) == 0xc8)
            return true;
        p++;
    }
    return false;
}

/* mov r32, imm32 (B8+r) or mov r/m32, imm32 with a register (C7 C0+r)
 * of a KDBG size, starting in code[lo, hi - 2). */
static bool has_size_mov(const uint8_t *code, size_t lo, size_t hi)
{
    for (size_t i = lo; i + 3 <= hi; i++) {
        uint8_t b = code[i];
        if (b >= 0xb8 && b <= 0xbf && i + 5 <= hi && kdbg_size_imm(ds_le32(code + i + 1)))
            return true;
        if (b == 0xc7 && i + 6 <= hi && (code[i + 1] & 0xf8) == 0xc0 &&
            kdbg_size_imm(ds_le32(code + i + 2)))
            return true;
    }
    return false;
}

bool ds_kdcopy_prefilter(const uint8_t *code, size_t len, size_t anchor)
{
    size_t lo = anchor > DS_KDCOPY_BEFORE ? anchor - DS_KDCOPY_BEFORE : 0;
    size_t hi = anchor + DS_KDCOPY_AFTER < len ? anchor + DS_KDCOPY_AFTER : len;
    return has_bswap64(code, lo, hi) && has_size_mov(code, lo, hi);
}

/* ---- disassembly -------------------------------------------------------- */

typedef enum ref_op { REF_LEA, REF_MOV, REF_XOR } ref_op;

typedef struct shape {
    uint64_t flag_va;
    bool bswap;
    unsigned n;
    struct { ref_op op; uint64_t target; } ref[MAX_REFS];
} shape;

/* Target of a RIP-relative memory operand, or 0 when op is not one. */
static uint64_t rip_target(const cs_insn *insn, const cs_x86_op *op)
{
    if (op->type != X86_OP_MEM || op->mem.base != X86_REG_RIP || op->mem.index != X86_REG_INVALID)
        return 0;
    return insn->address + insn->size + (uint64_t)op->mem.disp;
}

/* Is the current instruction the anchor: cmp byte ptr [rip+F], 0? */
static uint64_t anchor_flag(const cs_insn *insn)
{
    const cs_x86 *x = &insn->detail->x86;
    if (insn->id != X86_INS_CMP || x->op_count != 2 || x->operands[0].size != 1 ||
        x->operands[1].type != X86_OP_IMM || x->operands[1].imm != 0)
        return 0;
    return rip_target(insn, &x->operands[0]);
}

static void note_insn(shape *s, const cs_insn *insn)
{
    const cs_x86 *x = &insn->detail->x86;
    if (insn->id == X86_INS_BSWAP) {
        s->bswap = true;
        return;
    }
    if (x->op_count != 2 || x->operands[0].type != X86_OP_REG || x->operands[0].size != 8)
        return;
    ref_op op;
    if (insn->id == X86_INS_LEA)
        op = REF_LEA;
    else if (insn->id == X86_INS_MOV)
        op = REF_MOV;
    else if (insn->id == X86_INS_XOR)
        op = REF_XOR;
    else
        return;
    uint64_t t = rip_target(insn, &x->operands[1]);
    if (!t || s->n == MAX_REFS)
        return;
    s->ref[s->n].op = op;
    s->ref[s->n].target = t;
    s->n++;
}

/* Decode from code[start] and return true when an instruction begins
 * exactly at the anchor; refs collected before it (since the last
 * function end) are kept in *s. */
static bool decode_to_anchor(ds_kdcopy_finder *f, const uint8_t *code, size_t start,
                             size_t anchor, uint64_t va, shape *s)
{
    const uint8_t *p = code + start;
    size_t left = anchor - start;
    uint64_t addr = va + start;
    memset(s, 0, sizeof(*s));
    while (left) {
        if (!cs_disasm_iter(f->cs, &p, &left, &addr, f->insn))
            return false;
        if (f->insn->id == X86_INS_INT3 || f->insn->id == X86_INS_RET)
            memset(s, 0, sizeof(*s)); /* the previous function ended here */
        else
            note_insn(s, f->insn);
    }
    return addr == va + anchor;
}

/* Decode from the anchor to the window's end or the first int3. */
static bool decode_from_anchor(ds_kdcopy_finder *f, const uint8_t *code, size_t len,
                               size_t anchor, uint64_t va, shape *s)
{
    const uint8_t *p = code + anchor;
    size_t end = anchor + DS_KDCOPY_AFTER < len ? anchor + DS_KDCOPY_AFTER : len;
    size_t left = end - anchor;
    uint64_t addr = va + anchor;
    if (!cs_disasm_iter(f->cs, &p, &left, &addr, f->insn) || !(s->flag_va = anchor_flag(f->insn)))
        return false;
    for (unsigned n = 0; n < MAX_INSNS && left; n++) {
        if (!cs_disasm_iter(f->cs, &p, &left, &addr, f->insn) || f->insn->id == X86_INS_INT3)
            break;
        note_insn(s, f->insn);
    }
    return true;
}

static bool usable(const shape *s, unsigned i, ref_op op)
{
    return s->ref[i].op == op && s->ref[i].target != s->flag_va;
}

/* After never at index i: the next mov/xor to another address. */
static int always_after(const shape *s, unsigned i)
{
    for (unsigned k = i + 1; k < s->n; k++)
        if ((usable(s, k, REF_MOV) || usable(s, k, REF_XOR)) && s->ref[k].target != s->ref[i].target)
            return (int)k;
    return -1;
}

static bool seen(const ds_kdcopy_refs *out, unsigned n, const ds_kdcopy_refs *r)
{
    for (unsigned i = 0; i < n; i++)
        if (memcmp(&out[i], r, sizeof(*r)) == 0)
            return true;
    return false;
}

/* Proposals in order: first lea x first mov (Volatility's reading), then
 * the other pairings of the first three of each. */
static unsigned propose(const shape *s, ds_kdcopy_refs *out, unsigned max)
{
    unsigned n = 0, leas = 0;
    for (unsigned li = 0; li < s->n && leas < 3; li++) {
        if (!usable(s, li, REF_LEA))
            continue;
        leas++;
        unsigned movs = 0;
        for (unsigned mi = 0; mi < s->n && movs < 3 && n < max; mi++) {
            if (!usable(s, mi, REF_MOV))
                continue;
            movs++;
            int ai = always_after(s, mi);
            if (ai < 0)
                continue;
            ds_kdcopy_refs r = {s->flag_va, s->ref[li].target, s->ref[mi].target,
                                s->ref[ai].target};
            if (r.block_va != r.never_va && r.block_va != r.always_va && !seen(out, n, &r))
                out[n++] = r;
        }
    }
    return n;
}

unsigned ds_kdcopy_match(ds_kdcopy_finder *f, const uint8_t *code, size_t len, size_t anchor,
                         uint64_t va, ds_kdcopy_refs *out, unsigned max)
{
    if (!f || anchor + 7 > len || max == 0)
        return 0;
    shape s;
    memset(&s, 0, sizeof(s));
    size_t lo = anchor > DS_KDCOPY_BEFORE ? anchor - DS_KDCOPY_BEFORE : 0;
    for (unsigned t = 0; t < SYNC_TRIES && lo + t < anchor; t++) {
        if (decode_to_anchor(f, code, lo + t, anchor, va, &s))
            break;
        memset(&s, 0, sizeof(s));
    }
    if (!decode_from_anchor(f, code, len, anchor, va, &s) || !s.bswap)
        return 0;
    return propose(&s, out, max < DS_KDCOPY_MAX_PROPOSALS ? max : DS_KDCOPY_MAX_PROPOSALS);
}

/* ---- search ------------------------------------------------------------- */

static void load_page(const ds_vas *kvas, uint64_t va, uint64_t start, uint64_t end, uint8_t *dst)
{
    if (va < start || va >= end || ds_vread(kvas, va, dst, PAGE) != DS_OK)
        memset(dst, 0xcc, PAGE);
}

bool ds_kdcopy_search(ds_kdcopy_finder *f, const ds_vas *kvas, uint64_t start, uint64_t end,
                      ds_kdcopy_budget *b, ds_kdcopy_try_fn try_fn, void *ctx)
{
    uint8_t win[3 * PAGE];
    start &= ~(uint64_t)(PAGE - 1);
    if (!f || end <= start)
        return false;
    memset(win, 0xcc, PAGE);
    load_page(kvas, start, start, end, win + PAGE);
    load_page(kvas, start + PAGE, start, end, win + 2 * PAGE);
    for (uint64_t va = start; va < end; va += PAGE) {
        if (!b->pages)
            return false;
        b->pages--;
        if (va != start) {
            memmove(win, win + PAGE, 2 * PAGE);
            load_page(kvas, va + PAGE, start, end, win + 2 * PAGE);
        }
        for (size_t off = PAGE; off < 2 * PAGE; off++) {
            if (win[off] != 0x80 || win[off + 1] != 0x3d || win[off + 6] != 0 ||
                !ds_kdcopy_prefilter(win, sizeof(win), off))
                continue;
            if (!b->candidates)
                return false;
            b->candidates--;
            ds_kdcopy_refs r[DS_KDCOPY_MAX_PROPOSALS];
            unsigned n = ds_kdcopy_match(f, win, sizeof(win), off, va - PAGE, r,
                                         DS_KDCOPY_MAX_PROPOSALS);
            for (unsigned i = 0; i < n; i++)
                if (try_fn(ctx, &r[i]))
                    return true;
        }
    }
    return false;
}
