/* kdcopy.h - find nt!KdCopyDataBlock in kernel code without symbols.
 *
 * On Windows 8+ x64 KDBG is kept encoded in memory; the four addresses
 * that decode it (KdpDataBlockEncoded, KdDebuggerDataBlock, KiWaitNever,
 * KiWaitAlways) are the RIP-relative operands of nt!KdCopyDataBlock.  The
 * routine is found by its shape, in any instruction order (the rule of
 * Volatility 2, offsets-notes.md section 6):
 *   - anchor: `cmp byte ptr [rip+F], 0` (80 3D rel32 00), F = the flag;
 *   - prefilter, on bytes only, in the window around the anchor: a
 *     `bswap r64` (REX.W 0F C8+r) and a `mov r32, imm32` whose immediate
 *     is a plausible KDBG size (bytes or quadwords).  A real ntoskrnl
 *     holds thousands of such cmp instructions (global-flag tests); only
 *     those that pass the prefilter are disassembled and count against
 *     the candidate budget;
 *   - disassembly (capstone) of the routine around the anchor: the
 *     first RIP-relative `lea r64` other than F is the block, the first
 *     RIP-relative `mov r64` is KiWaitNever, the next RIP-relative
 *     `mov`/`xor r64` after it is KiWaitAlways.  A few alternative
 *     pairings are offered too, since a wrong one costs only a failed
 *     decode.
 * The caller tries each proposal (reads the keys, decodes the block,
 * checks it) through a callback: the shape proposes, the decode decides. */
#ifndef DS_KDCOPY_H
#define DS_KDCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vtop.h"

#define DS_KDCOPY_BEFORE 0x40u   /* bytes before the anchor that may belong to the routine */
#define DS_KDCOPY_AFTER 0xa0u    /* bytes from the anchor examined */
#define DS_KDCOPY_MAX_PROPOSALS 8u

typedef struct ds_kdcopy_refs {
    uint64_t flag_va;   /* KdpDataBlockEncoded */
    uint64_t block_va;  /* KdDebuggerDataBlock */
    uint64_t never_va;  /* KiWaitNever */
    uint64_t always_va; /* KiWaitAlways */
} ds_kdcopy_refs;

/* Work left to one search: pages read and prefiltered candidates tried. */
typedef struct ds_kdcopy_budget {
    uint64_t pages;
    unsigned candidates;
} ds_kdcopy_budget;

typedef struct ds_kdcopy_finder ds_kdcopy_finder;

/* NULL when capstone cannot be opened (or out of memory). */
ds_kdcopy_finder *ds_kdcopy_open(void);
void ds_kdcopy_close(ds_kdcopy_finder *f);

/* Cheap byte test of the window code[0..len) whose anchor is at
 * code[anchor]: a bswap r64 and a KDBG-size immediate are present. */
bool ds_kdcopy_prefilter(const uint8_t *code, size_t len, size_t anchor);

/* Disassemble code[0..len) (code[0] at address va) around the anchor at
 * code[anchor] and write up to max proposals, best first.  Returns how
 * many (0: not the routine's shape). */
unsigned ds_kdcopy_match(ds_kdcopy_finder *f, const uint8_t *code, size_t len, size_t anchor,
                         uint64_t va, ds_kdcopy_refs *out, unsigned max);

/* Called per proposal; return true to accept it (and stop the search). */
typedef bool (*ds_kdcopy_try_fn)(void *ctx, const ds_kdcopy_refs *r);

/* Search the code in [start, end) of the kernel address space, page by
 * page, spending the budget.  True when a proposal was accepted. */
bool ds_kdcopy_search(ds_kdcopy_finder *f, const ds_vas *kvas, uint64_t start, uint64_t end,
                      ds_kdcopy_budget *b, ds_kdcopy_try_fn try_fn, void *ctx);

#endif
