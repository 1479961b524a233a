/* details.h - what `!process 0 2` prints beyond the cross-view: per
 * process the handle count (a bounded walk of its handle table), the
 * image path (SeAuditProcessCreationInfo, kernel memory) and, when the
 * process's user pages are in the dump, the command line and current
 * directory from its PEB's RTL_USER_PROCESS_PARAMETERS.
 *
 * The strings are heap-allocated per record (ds_proc stays small: it is
 * also the slot type of every candidate the scan validates).  Every read
 * is bounded: DS_DETAIL_MAX_STRING UTF-16 units per string, and
 * DS_DETAIL_MAX_TABLE_PAGES handle-table pages per dump. */
#ifndef DS_SCAN_DETAILS_H
#define DS_SCAN_DETAILS_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/dserr.h"

#define DS_DETAIL_MAX_STRING 4096u        /* UTF-16 units read per string */
#define DS_DETAIL_MAX_TABLE_PAGES 65536u  /* handle-table pages per dump */

typedef struct ds_proc_detail {
    char *image_path;          /* NULL: none or unreadable */
    char *command_line;
    char *current_directory;
    int64_t handle_count;      /* -1: no handle table (exited) or unreadable */
    bool handles_bounded;      /* the walk stopped at its bound: a lower bound */
} ds_proc_detail;

struct ds_vctx;
struct ds_scan_result;

/* Rounds of no-wait reads before the details of a cold dump are read
 * (details.c prefetch_details); each reaches one page deeper. */
#define DS_DETAIL_PREFETCH_ROUNDS 12u

/* Fill r->details (one per r->procs, same order).  cold: the dump's pages
 * are mostly not in the page cache (an O_DIRECT scan); they are asked for
 * a level at a time for every process first.  DS_ERR_NOMEM only. */
ds_err ds_details_fill(const struct ds_vctx *vc, struct ds_scan_result *r, bool cold);
void ds_details_free(ds_proc_detail *d, size_t n);

#endif
