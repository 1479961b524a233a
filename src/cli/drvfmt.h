/* drvfmt.h - scan's driver output: `driver` and `unloaded` records and the
 * psxview-style driver table (scan/drivers.h has the views and verdicts). */
#ifndef DS_CLI_DRVFMT_H
#define DS_CLI_DRVFMT_H

#include <stdbool.h>

#include "../../output/strbuf.h"
#include "../../output/writer.h"
#include "../../scan/drivers.h"

/* One `driver` record (scan) for d, and one `unloaded` record for u. */
void drv_emit(ds_rec *r, ds_writer *w, const char *path, const char *id, const ds_driver *d);
void drv_emit_unloaded(ds_rec *r, ds_writer *w, const char *path, const char *id,
                       const ds_unloaded *u);

/* Hidden drivers in a set. */
size_t drv_count_hidden(const ds_driver_set *s);

/* The driver table: one row per module (hidden first), the three view
 * columns and a verdict, then the unloaded drivers.  only_hidden keeps
 * just the hidden rows. */
void drv_table(ds_strbuf *sb, const ds_driver_set *s, bool only_hidden);

#endif
