/* kboot.h - finding the kernel in memory without a dump header's help.
 *
 * Used for raw images and ELF cores, and to fill gaps in crash dumps:
 *   - DTB from the x64 low stub (PROCESSOR_START_BLOCK in the first MiB);
 *   - DTB from a validated self-referencing top-level page table
 *     (x64 PML4, then PAE PDPT/PD, then x86 PD) in the first 16 MiB and,
 *     failing that, a wider bounded range;
 *   - KUSER_SHARED_DATA at its fixed VA: build number, product type,
 *     system time, interrupt time (uptime), processor count;
 *   - KDBG (KDDEBUGGER_DATA64): read at a known VA, or found by its owner
 *     tag in kernel memory; the Windows 8+ encoded form decoded when the
 *     KiWaitNever / KiWaitAlways / KdpDataBlockEncoded values are known
 *     (located by disassembling nt!KdCopyDataBlock with capstone).
 * All functions work on a ds_physmem (a physical read callback plus the
 * highest physical address) or a ds_vas, so tests can feed them
 * hand-built memory.  The validation rules are spelled out in the opening
 * comments of kboot.c (DTB, KUSER) and kdbg.c (KDBG, kernel image). */
#ifndef DS_KBOOT_H
#define DS_KBOOT_H

#include <stdbool.h>
#include <stdint.h>

#include "dserr.h"
#include "vtop.h"

typedef struct ds_physmem {
    ds_phys_read_fn read;
    void *ctx;
    uint64_t max_pa;      /* one past the highest physical address */
} ds_physmem;

/* x64 low stub: DTB (PML4 physical address) and the kernel entry VA
 * (kernel_entry may be NULL).  DS_ERR_NOT_FOUND when absent. */
ds_err ds_find_dtb_lowstub(const ds_physmem *pm, uint64_t *dtb, uint64_t *kernel_entry);

/* Self-referencing page table scan; tries x64, PAE, x86 in that order
 * unless *mode is preset to one of them.  On success *mode is set and
 * *dtb is the PML4 / PDPT (32-byte aligned, not page aligned) / PD
 * physical address. */
ds_err ds_find_dtb_selfref(const ds_physmem *pm, ds_paging *mode, uint64_t *dtb);

/* Facts from KUSER_SHARED_DATA (0xfffff78000000000 x64, 0xffdf0000 x86). */
typedef struct ds_kuser {
    uint32_t build;           /* NtBuildNumber & 0xffff; 0 if unread */
    uint32_t major, minor;    /* NtMajorVersion / NtMinorVersion */
    uint32_t product_type;
    uint32_t processors;      /* ActiveProcessorCount; 0 if absent */
    int64_t system_time;      /* FILETIME */
    int64_t interrupt_time;   /* 100 ns since boot */
} ds_kuser;
/* DS_ERR_CORRUPT when the page is readable but does not look like
 * KUSER_SHARED_DATA (major version outside 5..10, minor > 3, system time
 * outside 1995..2100). */
ds_err ds_kuser_read(const ds_vas *kvas, ds_kuser *out);

/* Decoded KDDEBUGGER_DATA64 essentials. */
typedef struct ds_kdbg {
    uint64_t va;
    uint32_t size;            /* Header.Size */
    bool was_encoded;
    uint64_t kern_base;
    uint64_t ps_loaded_module_list;
    uint64_t ps_active_process_head;
    uint64_t psp_cid_table;
    uint64_t obp_type_object_type;
    uint64_t mm_pfn_database;
    uint64_t nt_build_lab;    /* VA of the NtBuildLab string */
    uint64_t ki_processor_block;
    uint64_t mm_unloaded_drivers;      /* &nt!MmUnloadedDrivers (0 if absent) */
    uint64_t mm_last_unloaded_driver;  /* &nt!MmLastUnloadedDriver */
    uint16_t size_eprocess, offset_eprocess_peb, offset_eprocess_parent_cid,
        offset_eprocess_dtb, size_ethread, offset_prcb_current_thread;
    uint8_t raw[0x400];       /* decoded block (first min(size, 0x400) bytes) */
} ds_kdbg;

/* Keys of the Windows 8+ KDBG encoding. */
typedef struct ds_kdbg_keys {
    uint64_t ki_wait_never;
    uint64_t ki_wait_always;
    uint64_t kdp_data_block_encoded; /* VA of the flag byte */
} ds_kdbg_keys;

/* In-place decode of n 8-byte words (see offsets-notes.md section 6). */
void ds_kdbg_decode(uint64_t *words, size_t n, const ds_kdbg_keys *k);
/* The inverse, used by tests and the dump generator. */
void ds_kdbg_encode(uint64_t *words, size_t n, const ds_kdbg_keys *k);

/* Read and validate KDBG at va (tag "KDBG", Header.Size in
 * [0x290, 0x1000], page-aligned kernel KernBase, kernel-VA
 * PsActiveProcessHead and PsLoadedModuleList; x86 pointers masked to 32
 * bits).  When the tag is absent and keys is non-NULL, decode first.
 * Fields past Header.Size read as 0.  DS_ERR_NOT_FOUND: no tag. */
ds_err ds_kdbg_read(const ds_vas *kvas, uint64_t va, const ds_kdbg_keys *keys,
                    ds_kdbg *out, ds_errbuf *eb);

/* Locate the kernel image base near a hint VA (PsLoadedModuleList,
 * PsActiveProcessHead or the low-stub entry) by scanning back, on 4 KiB
 * steps up to max_back bytes (capped at 1 GiB), for an MZ/PE image of
 * the paging mode's machine type whose SizeOfImage covers the hint. */
ds_err ds_find_kernel_base(const ds_vas *kvas, uint64_t hint, uint64_t max_back,
                           uint64_t *base);

/* Find KDBG inside the kernel image at base: plain tag search of its
 * data sections; else locate KdCopyDataBlock with capstone to get the
 * decoding keys and the block address. */
ds_err ds_kdbg_find(const ds_vas *kvas, uint64_t kernel_base, ds_kdbg *out, ds_errbuf *eb);

/* Read a NUL-terminated ASCII string (e.g. NtBuildLab) of at most cap-1
 * bytes at va.  buf is always NUL-terminated.  DS_ERR_CORRUPT on a
 * non-printable byte, DS_ERR_TRUNCATED when no NUL within cap-1 bytes
 * (buf then holds the first cap-1), a read error when a page is missing. */
ds_err ds_kread_cstr(const ds_vas *kvas, uint64_t va, char *buf, size_t cap);

#endif
