/* bugcheck.h - names of Windows bug check (stop) codes.
 *
 * A sorted table maps the codes WinDbg and Microsoft's bug check
 * reference name (e.g. 0x133 -> DPC_WATCHDOG_VIOLATION) to their
 * official symbolic names.  Codes with bit 0x10000000 set are the "_M"
 * variants some bug checks are raised as (same meaning and parameters);
 * only the variants Microsoft defines are listed.  Unknown codes return
 * NULL: the caller prints the number alone rather than a guess. */
#ifndef DS_BUGCHECK_H
#define DS_BUGCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Official name of code, or NULL when it is not in the table. */
const char *ds_bugcheck_name(uint32_t code);

/* Number of table rows, and row i in code order (for tests and listings). */
size_t ds_bugcheck_count(void);
bool ds_bugcheck_row(size_t i, uint32_t *code, const char **name);

#endif
