/* anchors.h - recover the anchors of the kernel's own views from the scan
 * when the dump does not name them.
 *
 * The cross-view compares the scan with lists the kernel keeps; their
 * heads usually come from the dump header or KDBG.  KDBG may be gone
 * (wiped by anti-forensic tools, encoded in a way the finder misses, a
 * partial image), so each anchor is also recovered without it:
 *   - PsActiveProcessHead: the System process found by the scan (PID 4,
 *     "System", a kernel VA) is the first entry of the active list, so
 *     its ActiveProcessLinks.Blink is the head.  Accepted when the head
 *     lies in the kernel image, its Flink points back at System, and a
 *     walk from it comes back (or stops only at pages the dump lacks).
 *     The object-type keys (Windows 10+ cookie) are then learnt from
 *     System's header, and the caller validates again with them.
 *   - PspCidTable: a pointer in the kernel image's writable sections to a
 *     HANDLE_TABLE whose entry for PID 4 is System's body and whose
 *     entries for System's threads' TIDs are those threads.
 *   - PsLoadedModuleList: a LIST_ENTRY in those sections whose Flink is a
 *     KLDR_DATA_TABLE_ENTRY with DllBase = the kernel base, and whose
 *     neighbours both point back at it.
 * Every search is bounded by the pages and reads it spends
 * (DS_ANCHOR_MAX_PAGES, DS_ANCHOR_MAX_READS), whatever the image claims. */
#ifndef DS_SCAN_ANCHORS_H
#define DS_SCAN_ANCHORS_H

#include <stdbool.h>

#include "scan.h"
#include "validate.h"

#define DS_ANCHOR_MAX_PAGES 8192u       /* 32 MiB of kernel data sections */
#define DS_ANCHOR_MAX_READS (1u << 20)  /* pointer reads over all searches */
#define DS_ANCHOR_MAX_WALK (1u << 15)   /* list steps per walk */
#define DS_ANCHOR_MAX_SYSTEMS 8u        /* System candidates tried */

/* When vc has no active list head: set it from a System record of r and
 * learn the type keys.  Returns true when keys were newly learnt (the
 * caller should validate the candidates again). */
bool ds_anchor_head_from_system(ds_vctx *vc, const ds_scan_result *r);

/* Fill vc->cid_table_ptr and vc->module_list when unknown, by the
 * structure search of the kernel image's data sections. */
void ds_anchor_search_nt_data(ds_vctx *vc, const ds_scan_result *r);

#endif
