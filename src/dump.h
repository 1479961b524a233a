/* dump.h - one opened Windows kernel dump or physical memory image.
 *
 * ds_dump_open() detects the format by content (never by file name):
 *   PAGEDU64  64-bit crash dump: full (1), bitmap (5, 6), RDMP (8, 9, 0xa),
 *             triage minidump (4), summary (2: header only)
 *   PAGEDUMP  32-bit crash dump: full (1), bitmap (5)
 *   ELF       core file (QEMU dump-guest-memory, VirtualBox dumpvmcore):
 *             PT_LOAD segments with p_paddr give physical ranges
 *   raw       anything else large enough and page-aligned-ish is treated as
 *             a raw physical image (file offset == physical address) only
 *             when a kernel DTB can be found in it; otherwise DS_ERR_FORMAT
 * then builds the physical map, fills the header facts, bootstraps the
 * kernel address space (header DTB, else low stub, else self-ref PML4
 * scan), finds KDBG and the build, and picks an offset profile.  Failures
 * after the format is known (no DTB, no KDBG) are not fatal: the fields
 * stay 0 and `notes` says what is missing.
 *
 * Reads: ds_phys_read() for physical addresses, ds_dump_vas() for the
 * kernel virtual address space.  Nothing is ever written to the input. */
#ifndef DS_DUMP_H
#define DS_DUMP_H

#include <stdbool.h>
#include <stdint.h>

#include "../io/file.h"
#include "dserr.h"
#include "physmap.h"
#include "profile.h"
#include "vtop.h"

typedef enum ds_format {
    DS_FMT_UNKNOWN = 0,
    DS_FMT_CRASH64,  /* "PAGEDU64" */
    DS_FMT_CRASH32,  /* "PAGEDUMP" */
    DS_FMT_ELF,      /* "elf" */
    DS_FMT_RAW,      /* "raw" */
} ds_format;

typedef enum ds_arch {
    DS_ARCH_UNKNOWN = 0,
    DS_ARCH_X64,
    DS_ARCH_X86,     /* non-PAE */
    DS_ARCH_X86_PAE,
    DS_ARCH_ARM64,   /* header parsed; no translation */
} ds_arch;

/* Where a fact came from (reported in records as a word). */
typedef enum ds_source {
    DS_SRC_NONE = 0,
    DS_SRC_HEADER,   /* dump header */
    DS_SRC_KDBG,     /* KDDEBUGGER_DATA64 */
    DS_SRC_LOWSTUB,  /* PROCESSOR_START_BLOCK */
    DS_SRC_SELFREF,  /* self-referencing page-directory scan */
    DS_SRC_TRIAGE,   /* triage block */
    DS_SRC_SCAN,     /* found by scanning memory */
    DS_SRC_KUSER,    /* KUSER_SHARED_DATA */
    DS_SRC_SYSTEM_PROCESS, /* from the System process the scan found */
    DS_SRC_NT_DATA,  /* structure search of the kernel image's data sections */
} ds_source;

/* Triage minidump contents (DumpType 4). */
typedef struct ds_triage_driver {
    char *name;          /* UTF-8, from the string pool; "" if unreadable */
    uint64_t base;
    uint32_t size;
} ds_triage_driver;

/* Fields of the triage block's EPROCESS and ETHREAD copies (decoded with
 * the build's profile; 0 / -1 where the profile has no such field). */
typedef struct ds_copy_process {
    int64_t create_time, exit_time;
    uint64_t dtb, peb, object_table, token;
    uint32_t active_threads, exit_status;
    int16_t protection;          /* -1 unknown */
    int8_t wow64;                /* -1 unknown */
} ds_copy_process;

typedef struct ds_copy_thread {
    int64_t create_time, exit_time;
    uint64_t eprocess_va, start_address, win32_start_address, teb, trap_frame;
    uint64_t win32_thread, stack_base, stack_limit, kernel_stack;
    uint32_t state, wait_reason, syscall_number;
    int8_t wait_mode, alertable, previous_mode; /* -1 unknown */
    bool has_syscall;            /* syscall_number is the service of a waiting user thread */
} ds_copy_thread;

typedef struct ds_triage {
    bool has_process;
    uint32_t process_offset;  /* file offset of the EPROCESS copy */
    uint64_t process_pid, process_ppid;
    char process_name[16];    /* ImageFileName, NUL-terminated raw bytes */
    ds_copy_process pcopy;
    uint8_t process_dispatcher_type;
    bool has_thread;
    uint32_t thread_offset;
    uint64_t thread_pid, thread_tid;
    ds_copy_thread tcopy;
    uint8_t thread_dispatcher_type;
    uint32_t size_of_call_stack;
    uint32_t call_stack_offset;  /* file offset of the stack copy (0: none) */
    uint64_t top_of_stack;       /* VA of its first byte (the stack pointer) */
    uint32_t context_offset;     /* file offset of the crash CONTEXT (0: none) */
    uint32_t exception_offset;   /* file offset of the EXCEPTION_RECORD64 (0: none) */
    uint32_t prcb_offset;        /* file offset of the crashing KPRCB copy (0: none) */
    ds_triage_driver *drivers;
    uint32_t ndrivers;
    uint32_t driver_count_declared; /* DriverCount field */
    /* data blocks: kernel VA ranges copied into the file */
    struct ds_triage_block { uint64_t va; uint64_t file_off; uint32_t size; } *blocks;
    uint32_t nblocks;
} ds_triage;

typedef struct ds_dump_opts {
    unsigned file_flags;        /* DS_FILE_* */
    const char *force_profile;  /* offsets.json key, or NULL */
    bool use_fd;                /* read fd (duplicated; the caller keeps it)
                                   instead of opening path again; path then
                                   only names the dump */
    int fd;
} ds_dump_opts;

/* Limits that keep hostile input from costing unbounded time or memory. */
#define DS_MAX_RUNS 4096u            /* physical memory runs / ELF segments */
#define DS_MAX_PFN (1ull << 40)      /* 4 PiB of physical address space */
/* Pages a bitmap dump header may claim: 2^34 (64 TiB, more than the
 * 48 TiB Windows Server 2022 supports); the bitmap is then 2 GiB and its
 * rank index 256 MiB.  A header beyond it is rejected as corrupt. */
#define DS_MAX_BITMAP_PAGES DS_PM_MAX_BITMAP_BITS
#define DS_MAX_TRIAGE_DRIVERS 4096u
#define DS_MAX_TRIAGE_BLOCKS 65536u

typedef struct ds_dump {
    char *path;
    ds_file file;
    ds_format format;
    const char *format_name;     /* "PAGEDU64", "PAGEDUMP", "elf", "raw" */
    uint32_t dump_type;          /* header DumpType; 0 for raw/elf */
    const char *dump_type_name;  /* "full", "bitmap_full", "bitmap_kernel", ... */
    ds_arch arch;
    uint32_t machine;            /* MachineImageType */
    uint32_t major_version, build; /* header Major/MinorVersion, or KDBG */
    ds_source build_source;
    uint32_t processors;
    uint64_t dtb;
    ds_source dtb_source;
    uint64_t pfn_database;
    uint64_t ps_loaded_module_list;
    uint64_t ps_active_process_head;
    ds_source list_head_source;
    uint64_t kdbg_va;            /* KdDebuggerDataBlock */
    ds_source kdbg_source;
    bool kdbg_valid;             /* KDBG read, tag checked (decoded if needed) */
    bool kdbg_encoded;           /* was Win8+ encoded in memory */
    uint64_t kernel_base;        /* KDBG KernBase, or triage ntoskrnl base */
    uint64_t psp_cid_table;      /* KDBG PspCidTable (pointer VA) */
    ds_source cid_table_source;
    uint64_t mm_unloaded_drivers;      /* KDBG &nt!MmUnloadedDrivers, 0 unknown */
    uint64_t mm_last_unloaded_driver;  /* KDBG &nt!MmLastUnloadedDriver */
    char nt_build_lab[64];       /* KDBG NtBuildLab string, "" if unread */
    uint32_t bugcheck_code;
    uint64_t bugcheck_params[4];
    bool has_bugcheck;           /* crash dumps only */
    int64_t system_time;         /* FILETIME; 0 unknown */
    int64_t uptime_100ns;        /* -1 unknown */
    uint32_t product_type, suite_mask;
    uint64_t required_dump_space;
    uint64_t pages_present;      /* pages the dump holds (readable) */
    uint64_t pages_expected;     /* pages the header says it holds */
    uint64_t pages_missing;      /* expected but beyond end-of-file */
    bool truncated;              /* file shorter than the header requires */
    char comment[129];
    ds_physmap pm;
    ds_vas kvas;                 /* kernel address space; mode NONE if unknown */
    const ds_profile *profile;   /* NULL when the build is unknown */
    ds_profile_match profile_match;
    ds_triage *triage;           /* DumpType 4 only */
    char notes[256];             /* ';'-separated non-fatal problems */
    /* scratch used by the bitmap loader when the on-disk bitmap cannot be
     * borrowed from the mapping (alignment / no mmap) */
    uint64_t *owned_bitmap;
} ds_dump;

ds_err ds_dump_open(ds_dump **out, const char *path, const ds_dump_opts *opts,
                    ds_errbuf *eb);
void ds_dump_close(ds_dump *d);

/* Physical read across pages; every page must be present. */
ds_err ds_phys_read(const ds_dump *d, uint64_t pa, void *buf, size_t len);
/* Pointer to the 4 KiB page pfn inside the file mapping, or NULL. */
const uint8_t *ds_phys_page(const ds_dump *d, uint64_t pfn);
/* ds_phys_read_fn adapter (ctx = const ds_dump *). */
ds_err ds_dump_phys_read_cb(void *ctx, uint64_t pa, void *buf, size_t len);

/* Kernel virtual read.  For triage dumps, which carry no page tables,
 * reads are served from the triage data blocks. */
ds_err ds_kread(const ds_dump *d, uint64_t va, void *buf, size_t len);
ds_err ds_kread_ptr(const ds_dump *d, uint64_t va, uint64_t *v);

/* Append a note (non-fatal problem) to d->notes. */
void ds_dump_note(ds_dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

const char *ds_arch_name(ds_arch a);          /* "x64", "x86", "x86_pae", "arm64", "unknown" */
const char *ds_source_name(ds_source s);      /* "header", "kdbg", ... */
const char *ds_dump_type_name(ds_format f, uint32_t dump_type);

#endif
