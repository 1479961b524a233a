/* handletable.h - reading a HANDLE_TABLE (PspCidTable, a process's
 * ObjectTable) without walking it.
 *
 * HANDLE_TABLE.TableCode (offset 8 from Windows 8 on, 0 before) holds the
 * top table page with the number of levels (0..2) in its low two bits.
 * A level-0 page holds entries (16 bytes on x64, 8 on x86), upper levels
 * hold pointers to the pages below.  Handle h is entry h / 4.  The
 * object an entry names depends on the build (ds_ht_entry_object).
 * Walks of whole tables live with their users (xview.c); this file does
 * single lookups, each a bounded number of reads. */
#ifndef DS_SCAN_HANDLETABLE_H
#define DS_SCAN_HANDLETABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/dump.h"

/* Offset of TableCode in HANDLE_TABLE. */
unsigned ds_ht_table_code_off(const ds_profile *p);

/* Object pointer held by an entry value (the body for PspCidTable, the
 * OBJECT_HEADER for process handle tables), or 0 for a free entry. */
uint64_t ds_ht_entry_object(const ds_profile *p, uint64_t v);

/* Entry size in bytes and entries per table page. */
unsigned ds_ht_entry_size(const ds_profile *p);

/* Raw value of entry `index` of the table at table_va.  False when the
 * table is not readable, its level is above 2, or the index lies beyond
 * what the top page can reach. */
bool ds_ht_lookup(const ds_dump *d, const ds_profile *p, uint64_t table_va, uint64_t index,
                  uint64_t *value);

/* Handles in use in the table at table_va (entries naming a kernel
 * object; entry 0 of each leaf page is bookkeeping).  Reads at most
 * *pages table pages (decremented; *bounded set when it ran out: the
 * count is then a lower bound).  -1 when the table is unreadable. */
int64_t ds_ht_count(const ds_dump *d, const ds_profile *p, uint64_t table_va, unsigned *pages,
                    bool *bounded);

#endif
