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
 * hand-built memory. */
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

/* x64 low stub: DTB (PML4 physical address) and the kernel entry VA. */
ds_err ds_find_dtb_lowstub(const ds_physmem *pm, uint64_t *dtb, uint64_t *kernel_entry);

/* Self-referencing page table scan; tries x64, PAE, x86 in that order
 * unless *mode is preset to one of them. */
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

/* Read and validate KDBG at va (tag "KDBG", sane size, canonical
 * pointers).  When the tag is absent and keys is non-NULL, decode first. */
ds_err ds_kdbg_read(const ds_vas *kvas, uint64_t va, const ds_kdbg_keys *keys,
                    ds_kdbg *out, ds_errbuf *eb);

/* Locate the kernel image base near a hint VA (PsLoadedModuleList,
 * PsActiveProcessHead or the low-stub entry) by scanning back, on 4 KiB
 * steps up to max_back bytes, for an MZ/PE image. */
ds_err ds_find_kernel_base(const ds_vas *kvas, uint64_t hint, uint64_t max_back,
                           uint64_t *base);

/* Find KDBG inside the kernel image at base: plain tag search of its
 * data sections; else locate KdCopyDataBlock with capstone to get the
 * decoding keys and the block address. */
ds_err ds_kdbg_find(const ds_vas *kvas, uint64_t kernel_base, ds_kdbg *out, ds_errbuf *eb);

/* Read a NUL-terminated ASCII string (e.g. NtBuildLab) of at most cap-1
 * bytes at va. */
ds_err ds_kread_cstr(const ds_vas *kvas, uint64_t va, char *buf, size_t cap);

#endif
