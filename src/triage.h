/* triage.h - internal interface between dump.c and triage.c.
 *
 * A DumpType 4 (triage minidump) carries no page tables and no physical
 * pages: only the TRIAGE_DUMP64 block at 0x2000 and the structures it
 * points to (EPROCESS/ETHREAD copies, driver list, string pool, KDBG copy
 * and "data blocks" of kernel memory).  triage.c parses them into
 * d->triage; ds_kread() of a triage dump is served from the data blocks.
 * Not part of the public API: only dump.c includes this. */
#ifndef DS_TRIAGE_H
#define DS_TRIAGE_H

#include "dump.h"

/* Parse the triage block, driver list, data blocks and KDBG copy.  Errors
 * only for a header that does not fit or a field pointing outside the
 * file / absurd counts; structures cut off by end-of-file set
 * d->truncated and add a note. */
ds_err ds_triage_load(ds_dump *d, ds_errbuf *eb);

/* Decode the EPROCESS / ETHREAD copies with d->profile (call after the
 * profile is chosen; notes when there is none). */
void ds_triage_read_objects(ds_dump *d);

/* Kernel virtual read served from the triage data blocks. */
ds_err ds_triage_kread(const ds_triage *t, const ds_file *f, uint64_t va, void *buf,
                       size_t len);

void ds_triage_free(ds_triage *t);

/* UTF-16LE (n code units) to NUL-terminated UTF-8 in out (cap bytes);
 * unpaired surrogates become U+FFFD; stops at a NUL unit.  Returns the
 * number of bytes written, excluding the NUL.  Exposed for tests. */
size_t ds_utf16le_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap);

#endif
