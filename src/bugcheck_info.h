/* bugcheck_info.h - what the four parameters of a bug check mean, and
 * which of them a crash analysis can follow.
 *
 * One table, sorted by code, covers the bug checks crash-triage teams meet
 * most (the common codes of Microsoft's public Bug Check Code Reference).
 * For each: four short meanings (for the `params_meaning` field and the
 * table view) and the rule: which parameter is the faulting instruction
 * address, the exception code, an EXCEPTION_RECORD, a CONTEXT record or a
 * KTRAP_FRAME (1-based parameter numbers, 0 = none).  The _M variants
 * (code | 0x10000000) share their base code's row.  Codes outside the
 * table get NULL: the caller reports the numbers alone. */
#ifndef DS_BUGCHECK_INFO_H
#define DS_BUGCHECK_INFO_H

#include <stddef.h>
#include <stdint.h>

typedef struct ds_bugcheck_info {
    uint32_t code;
    const char *meaning[4];    /* short English, never NULL */
    uint8_t ip_param;          /* faulting instruction address */
    uint8_t exc_code_param;    /* NTSTATUS exception code */
    uint8_t exr_param;         /* EXCEPTION_RECORD address */
    uint8_t cxr_param;         /* CONTEXT record address */
    uint8_t trap_param;        /* KTRAP_FRAME address */
} ds_bugcheck_info;

/* Row of code (or of code & ~0x10000000 for an _M variant), or NULL. */
const ds_bugcheck_info *ds_bugcheck_info_of(uint32_t code);

/* The code bucketing uses: the _M flag (0x10000000) removed, so 0x7E and
 * 0x1000007E fall in one bucket, as WinDbg's BUGCHECK_STR does. */
uint32_t ds_bugcheck_base_code(uint32_t code);

/* Rows of the table, in code order (tests, listings). */
size_t ds_bugcheck_info_count(void);
const ds_bugcheck_info *ds_bugcheck_info_row(size_t i);

#endif
