/* unwind.h - the x64 exception-directory unwinder (RtlVirtualUnwind's
 * rules, symbol-free).
 *
 * Given the registers of a frame and the image that holds its RIP, one
 * step finds the caller's registers:
 *   - ds_unwind_lookup() bisects the image's .pdata (RUNTIME_FUNCTION
 *     entries sorted by BeginAddress) for the entry covering RIP;
 *   - ds_unwind_step() applies that entry's UNWIND_INFO in reverse prolog
 *     order: UWOP_PUSH_NONVOL, ALLOC_SMALL/LARGE, SET_FPREG (and the
 *     version 2 SET_FPREG_LARGE), SAVE_NONVOL(_FAR) relative to the
 *     establisher frame, SAVE_XMM128(_FAR) (skipped: no XMM state is
 *     kept), version 2 EPILOG codes (skipped), PUSH_MACHFRAME (a trap or
 *     interrupt frame: the caller's RIP/RSP come from the hardware frame),
 *     chained unwind info (UNW_FLAG_CHAININFO, at most DS_UNWIND_MAX_CHAIN
 *     deep); codes of prolog instructions not yet executed (RIP inside the
 *     prolog) are skipped, and a RIP in an epilog (add/lea rsp, pops, ret)
 *     is finished by emulating it.  Then the return address is popped,
 *     unless a machine frame supplied RIP.
 *   - A function without a .pdata entry is a leaf: RIP = [RSP], RSP += 8
 *     (ds_unwind_leaf).
 * Every read goes through the memory callback and every count is bounded
 * by the structure's own size fields (at most 255 codes, the chain depth),
 * so a hostile UNWIND_INFO costs bounded work and ends in DS_ERR_CORRUPT,
 * never a crash or a loop. */
#ifndef DS_SCAN_UNWIND_H
#define DS_SCAN_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/dumpfmt.h"
#include "../src/pe.h"

#define DS_UNWIND_MAX_CHAIN 32u

/* Registers of one frame; gpr[] in x64 numbering (rax, rcx, rdx, rbx,
 * rsp, rbp, rsi, rdi, r8..r15); gpr[4] is RSP. */
typedef struct ds_regs64 {
    uint64_t rip;
    uint64_t gpr[16];
} ds_regs64;

typedef struct ds_unwind_mem {
    ds_mem_read_fn read;
    void *ctx;
} ds_unwind_mem;

/* The RUNTIME_FUNCTION of the image at base whose [Begin, End) holds rva.
 * DS_ERR_NOT_FOUND when none (a leaf function), a read error when the
 * .pdata page is not in the dump. */
ds_err ds_unwind_lookup(const ds_unwind_mem *m, uint64_t base, uint32_t pdata_rva,
                        uint32_t pdata_size, uint32_t rva, ds_runtime_function *out);

/* Unwind regs (at a RIP inside the image at base, covered by rf) to the
 * caller's.  *machine_frame says the caller came from a hardware frame
 * (trap, interrupt, exception).  DS_ERR_CORRUPT for bad unwind data; a
 * read error when a needed stack or image byte is not in the dump. */
ds_err ds_unwind_step(const ds_unwind_mem *m, uint64_t base, const ds_runtime_function *rf,
                      ds_regs64 *regs, bool *machine_frame);

/* The leaf rule: RIP = [RSP], RSP += 8. */
ds_err ds_unwind_leaf(const ds_unwind_mem *m, ds_regs64 *regs);

#endif
