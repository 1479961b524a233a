/* pe.h - the PE headers of an image loaded in kernel memory.
 *
 * Crash analysis needs, per loaded module, its size, its executable
 * sections (a return address must point into code) and, on x64, its
 * exception directory (.pdata: RUNTIME_FUNCTION entries sorted by
 * BeginAddress) for unwinding.  ds_pe_read() reads them through a memory
 * read callback (a dump's kernel reads, or a buffer in tests) and checks
 * every field against the image size before trusting it: a header from a
 * hostile dump yields DS_ERR_CORRUPT, never an out-of-range read. */
#ifndef DS_PE_H
#define DS_PE_H

#include <stdbool.h>
#include <stdint.h>

#include "dserr.h"

/* Read len bytes at virtual address va (DS_OK or an error). */
typedef ds_err (*ds_mem_read_fn)(void *ctx, uint64_t va, void *buf, size_t len);

#define DS_PE_MAX_SECTIONS 96u       /* more is not a real driver */
#define DS_PE_MAX_IMAGE (1u << 30)   /* 1 GiB: larger SizeOfImage is corrupt */
#define DS_PE_MAX_RANGES 16u         /* section ranges kept per kind */

typedef struct ds_pe_info {
    uint64_t base;
    uint16_t machine;            /* 0x8664, 0x14c */
    bool is64;
    uint32_t size_of_image;
    uint32_t entry_rva;
    uint32_t timestamp;
    uint32_t pdata_rva, pdata_size;  /* exception directory; 0 when none */
    uint32_t nexec;              /* executable sections (first DS_PE_MAX_RANGES) */
    struct { uint32_t rva, size; } exec[DS_PE_MAX_RANGES];
    uint32_t ndata;              /* writable, non-executable sections (.data, ...) */
    struct { uint32_t rva, size; } data[DS_PE_MAX_RANGES];
} ds_pe_info;

/* Parse the headers of the image at base.  DS_ERR_NOT_PRESENT (or the
 * read's error) when the header page is not in the dump, DS_ERR_FORMAT
 * when it is no PE image, DS_ERR_CORRUPT when a field is out of range. */
ds_err ds_pe_read(ds_mem_read_fn read, void *ctx, uint64_t base, ds_pe_info *out);

/* True when rva lies in an executable section (or the image has no
 * section table we could read and rva < size_of_image). */
bool ds_pe_is_code(const ds_pe_info *pe, uint32_t rva);

#endif
