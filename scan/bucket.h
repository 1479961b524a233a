/* bucket.h - which module a crash is blamed on, and the bucket that
 * groups crashes of one cause.
 *
 * caused_by: the faulting module when it is not one of the kernel's own
 * modules; else the first stack frame (from the top) in a module that is
 * not; else the faulting module; else none.  The kernel's own modules
 * (never blamed while another module is on the stack): ntoskrnl.exe,
 * ntkrnlmp.exe, ntkrnlpa.exe, ntkrpamp.exe, hal.dll, halacpi.dll,
 * halmacpi.dll, halaacpi.dll, halapic.dll, halmps.dll (names compared
 * case-insensitively).
 *
 * bucket:        "<CODE>_<module>+0x<offset>"  e.g. "0xD1_netdrv.sys+0x1a2b"
 * bucket_module: "<CODE>_<module>"             e.g. "0xD1_netdrv.sys"
 * <CODE> is the bug check code without the _M flag (0x1000007E and 0x7E
 * share buckets), "0x" + upper-case hex as WinDbg's BUGCHECK_STR writes
 * it; the module is its base name in lower case (Windows file names are
 * case-insensitive; the same driver must not split into two buckets);
 * the offset is of the blamed address from the module base, lower-case
 * hex.  With no module: "<CODE>_UNKNOWN" for both.  bucket_id is xxh3-64
 * of the bucket string (16 hex digits). */
#ifndef DS_SCAN_BUCKET_H
#define DS_SCAN_BUCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True for the kernel's own modules listed above. */
bool ds_is_kernel_module(const char *base_name);

/* Fill bucket / bucket_module (cap bytes each) and return bucket_id.
 * module NULL = unknown. */
uint64_t ds_bucket_make(uint32_t code, const char *module, uint64_t offset, char *bucket,
                        char *bucket_module, size_t cap);

#endif
