/* vtop.h - virtual to physical address translation.
 *
 * A ds_vas is a page-table root (DTB/CR3) plus a paging mode plus a way to
 * read physical memory (a callback, so unit tests can hand-build page
 * tables in a buffer).  Modes: x64 4-level (1 GiB and 2 MiB pages), x86
 * PAE (3-level, 2 MiB pages) and x86 non-PAE (2-level, 4 MiB pages).
 *
 * Rule for non-present entries: a leaf PTE with the valid bit clear but
 * the Transition bit (bit 11) set and Prototype bit (bit 10) clear names a
 * physical page still holding the data (standby/modified list), so it is
 * treated as present for reads.  Every other non-present entry (demand
 * zero, paged out, prototype) is DS_ERR_NOT_PRESENT.  Upper-level entries
 * must be valid.  The PFN of every entry is bounds-checked by the reader. */
#ifndef DS_VTOP_H
#define DS_VTOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dserr.h"

typedef enum ds_paging {
    DS_PAGING_NONE = 0,
    DS_PAGING_X64,     /* 4-level, 48-bit canonical VAs */
    DS_PAGING_PAE,     /* x86 PAE, 32-bit VAs, 64-bit entries */
    DS_PAGING_X86,     /* x86 non-PAE, 32-bit entries */
} ds_paging;

/* Read len bytes of physical memory at pa.  Must fail (not fault) for
 * absent pages.  len never crosses a page boundary when called by vtop. */
typedef ds_err (*ds_phys_read_fn)(void *ctx, uint64_t pa, void *buf, size_t len);

typedef struct ds_vas {
    ds_paging mode;
    uint64_t dtb;          /* CR3 value; low bits masked per mode */
    ds_phys_read_fn read;
    void *ctx;
    uint64_t cache_id;     /* nonzero: successful translations are cached per
                            * thread under (cache_id, dtb, page); give each
                            * memory image its own id (ds_vtop_cache_id) and
                            * never reuse it for other bytes.  0: no cache. */
} ds_vas;

/* A fresh id for ds_vas.cache_id (unique in this process). */
uint64_t ds_vtop_cache_id(void);

/* Page size of a successful translation, for callers that cache. */
typedef struct ds_xlat {
    uint64_t pa;
    uint64_t page_size;    /* 4 KiB, 2 MiB, 4 MiB or 1 GiB */
    bool transition;       /* leaf was a transition PTE */
} ds_xlat;

ds_err ds_vtop(const ds_vas *vas, uint64_t va, ds_xlat *out);

/* Read len bytes at virtual address va, translating each page separately
 * (virtually contiguous memory is not assumed physically contiguous). */
ds_err ds_vread(const ds_vas *vas, uint64_t va, void *buf, size_t len);

/* Convenience readers; return DS_OK or the translation/read error. */
ds_err ds_vread_u64(const ds_vas *vas, uint64_t va, uint64_t *v);
ds_err ds_vread_u32(const ds_vas *vas, uint64_t va, uint32_t *v);
/* Pointer-sized read: 8 bytes for x64, 4 (zero-extended) for x86 modes. */
ds_err ds_vread_ptr(const ds_vas *vas, uint64_t va, uint64_t *v);

/* Walk every valid leaf mapping of the address space whose VA is >= va_min
 * (e.g. the kernel half), in VA order: cb(ctx, va, pa, page_size,
 * transition).  Page tables themselves are read at most once per table
 * page; loops in malformed tables are bounded by the table structure (each
 * level has a fixed fan-out).  Return non-zero from cb to stop.
 * A physical page is expanded as a table at most once, so self-map
 * windows (x64 self-referencing PML4 slot, PAE PD #3 entries 0..3, x86
 * PD entry 0x300) and tables shared by several parents are skipped.
 * Table pages absent from the dump are skipped silently.  Returns cb's
 * stopping value, 0 after a complete walk, or -1 for bad arguments or
 * when the walker's bound on table pages (4 Mi) was hit. */
typedef int (*ds_map_cb)(void *ctx, uint64_t va, uint64_t pa, uint64_t page_size,
                         bool transition);
int ds_vas_foreach_mapping(const ds_vas *vas, uint64_t va_min, ds_map_cb cb, void *ctx);

/* Canonical x64 kernel address test (bits 47..63 all set). */
static inline bool ds_is_kernel_va64(uint64_t va)
{
    return (va >> 47) == 0x1ffff;
}

/* A pointer that can only be a kernel address: canonical upper half on
 * x64 (ptr_size 8), 0x80000000..0xffffffff on x86 (ptr_size 4). */
static inline bool ds_is_kernel_ptr(unsigned ptr_size, uint64_t v)
{
    if (ptr_size == 8)
        return ds_is_kernel_va64(v);
    return v >= 0x80000000ull && v <= 0xffffffffull;
}

/* Pointer size of a paging mode's addresses (x64 8, x86 modes 4). */
static inline unsigned ds_paging_ptr_size(ds_paging mode)
{
    return mode == DS_PAGING_X64 ? 8 : 4;
}

/* First VA of the kernel half of the address space (0 for NONE). */
static inline uint64_t ds_kernel_va_start(ds_paging mode)
{
    switch (mode) {
    case DS_PAGING_X64:
        return 0xffff800000000000ull;
    case DS_PAGING_PAE:
    case DS_PAGING_X86:
        return 0x80000000ull;
    default:
        return 0;
    }
}

#endif
