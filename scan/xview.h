/* xview.h - cross-view: the kernel's own lists against the scan.
 *
 * ds_xview() adds to the scan result what the kernel's bookkeeping says,
 * then gives every process its verdict:
 *   list     ActiveProcessLinks from PsActiveProcessHead, walked forward and
 *            backward and unioned, so one smeared or corrupted entry does
 *            not hide the rest; bounded (DS_XVIEW_MAX_LIST) and loop-safe.
 *            An entry whose page the kernel no longer maps is crossed with
 *            the links the scan read physically.  Then the view is repaired
 *            from the processes' own links: a neighbour of a listed process
 *            that points back at it is listed too (a DKOM-unlinked process
 *            never qualifies: its neighbours were re-linked past it).  When
 *            the head gives nothing (self-linked, unreadable, unknown) the
 *            ring is rebuilt around the System process the same way.
 *            stats.list_status says how healthy the list was (ok, broken,
 *            empty, short, absent); unlinked processes judged against a
 *            damaged list carry the reason list_damaged.
 *   thread   a process owning a live thread found by the scan (or by a
 *            thread list) is seen by the thread view.
 *   cid      PspCidTable (KDBG), its 1-3 level handle table decoded per
 *            build; every process and thread object in it.
 *   session  SessionProcessLinks rings entered from processes on the
 *            active list.
 *   handles  entries of the System (PID 4) process's handle table.
 * Objects a view reaches that the scan missed are validated and added.
 * Every read is charged against DS_XVIEW_MAX_WORK (stats.xview_bounded).
 * Verdicts (records.h): unlinked = seen, not on the active list, not
 * special; terminated = ExitTime set, or no active threads and an exit
 * status other than STATUS_PENDING, or a freed pool chunk; hidden =
 * unlinked and not terminated.  Special processes (Idle, PID 0, which is
 * never on the list) are judged by rule and never hidden. */
#ifndef DS_SCAN_XVIEW_H
#define DS_SCAN_XVIEW_H

#include "scan.h"
#include "validate.h"

#define DS_XVIEW_MAX_LIST 65536u     /* entries per list walk */
#define DS_XVIEW_MAX_CID (1u << 22)  /* handle table entries examined */
/* Work units (one pointer or page read = 1, one object validation = 16)
 * all views together may spend: about 2-4 s of reads at worst. */
#define DS_XVIEW_MAX_WORK (1ull << 23)

ds_err ds_xview(const ds_vctx *vc, ds_scan_result *r, int min_score);

#endif
