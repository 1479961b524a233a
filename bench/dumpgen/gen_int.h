/* gen_int.h - internal state shared by the dumpgen source files.
 *
 * One gen_ctx holds everything about the machine being generated: the
 * PRNG, the physical layout and sparse page store (gen_mem.c), the page
 * tables (gen_paging.c), the pool allocator and objects (gen_objects.c),
 * the kernel image, globals and population (gen_kernel.c), and the records
 * the truth file and the format writers need.  See gen.h for the design. */
#ifndef DS_GEN_INT_H
#define DS_GEN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gen.h"
#include "dserr.h"
#include "profile.h"
#include "vtop.h"

#define GEN_PAGE 4096u
#define GEN_LOW_FLOOR_PFN 0x100u    /* allocations start at 1 MiB */

/* Facts not in ds_profile, with their source. */
enum {
    /* HANDLE_TABLE.TableCode: +0 up to Win8, +8 from Win8.1 (Vergilius
     * _HANDLE_TABLE; NextHandleNeedingPool/ExtraInfoPages come first). */
    GEN_HT_TABLECODE_OLD = 0,
    GEN_HT_TABLECODE_NEW = 8,
    GEN_HT_NEW_BUILD = 9600,
    /* DISPATCHER_HEADER.SignalState / WaitListHead: 0x4 / 0x8 in every
     * build of offsets.json (_DISPATCHER_HEADER), x86 and x64. */
    GEN_DISP_SIGNAL_STATE = 0x4,
    GEN_DISP_WAIT_LIST = 0x8,
    /* KDDEBUGGER_DATA64 fields beyond dumpfmt.h (offsets.json common). */
    GEN_KDBG_KI_CALL_USER_MODE = 0x38,
    GEN_KDBG_KE_USER_CALLBACK_DISPATCHER = 0x40,
    GEN_KDBG_BREAKPOINT_WITH_STATUS = 0x20,
    GEN_KDBG_MM_HIGHEST_USER_ADDRESS = 0x1c8,
    GEN_KDBG_MM_USER_PROBE_ADDRESS = 0x1d8,
    GEN_KDBG_OFF_KTHREAD_TEB = 0x29a,
    GEN_KDBG_OFF_KTHREAD_KERNEL_STACK = 0x29c,
    GEN_KDBG_OFF_KTHREAD_INITIAL_STACK = 0x29e,
    GEN_KDBG_OFF_KTHREAD_APC_PROCESS = 0x2a0,
    GEN_KDBG_OFF_KTHREAD_STATE = 0x2a2,
    GEN_KDBG_OFF_KTHREAD_STACK_LIMIT = 0x340,  /* Win8+ */
    GEN_KDBG_OFF_KTHREAD_STACK_BASE = 0x344,   /* Win8+ */
    GEN_KDBG_OFF_KTHREAD_WAIT_REASON = 0x35c,  /* 8.1+ */
    GEN_KDBG_PTE_BASE = 0x360,                 /* RS1+ */
};

/* Pool tags (u32 little endian) and the protected bit used before Win8. */
#define GEN_TAG(a, b, c, d) ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define GEN_TAG_PROTECTED 0x80000000u

/* ---- PRNG (gen_mem.c) ---- */
typedef struct gen_rng {
    uint64_t s[4];
} gen_rng;
void gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(gen_rng *r);
uint64_t gen_rng_below(gen_rng *r, uint64_t n);          /* [0, n), n > 0 */
uint64_t gen_rng_range(gen_rng *r, uint64_t lo, uint64_t hi); /* [lo, hi] */
bool gen_rng_chance(gen_rng *r, unsigned percent);
uint64_t gen_mix64(uint64_t x);                            /* splitmix64 finaliser */
/* Fill one page with the noise of pfn for this seed (wyrand stream). */
void gen_noise_page(uint64_t seed, uint64_t pfn, uint8_t *out);

/* ---- sparse page store (gen_mem.c) ---- */
#define GP_KERNEL 0x1u   /* kernel memory (kept in kernel dumps) */
/* KPRCB.CurrentThread, as KDBG.OffsetPrcbCurrentThread says (x64 Win7+, x86) */
#define GEN_PRCB_CURRENT_THREAD64 0x8u
#define GEN_PRCB_CURRENT_THREAD32 0x4u
#define GP_USER 0x2u     /* user-mode page (dropped from kernel dumps) */

typedef struct gen_slot {
    uint64_t pfn;       /* UINT64_MAX = empty */
    uint8_t *data;      /* NULL until written (content zero/noise) */
    uint32_t flags;
} gen_slot;

typedef struct gen_range {
    uint64_t first, count;  /* pfns */
} gen_range;

/* ---- processes, threads, decoys ---- */
typedef enum gen_cat {
    GEN_CAT_NORMAL = 0,
    GEN_CAT_DKOM_UNLINKED,
    GEN_CAT_DKOM_TAG_WIPED,
    GEN_CAT_TERMINATED_LINKED,
    GEN_CAT_TERMINATED_FREED,
    GEN_CAT_UNMAPPED,
} gen_cat;
const char *gen_cat_name(gen_cat c);

typedef struct gen_thread {
    uint32_t tid;
    uint32_t proc;          /* index into procs */
    uint64_t va, pa;        /* ETHREAD body */
    uint64_t hdr_va;        /* OBJECT_HEADER */
    uint64_t pool_va;       /* POOL_HEADER */
    int64_t create_time, exit_time;
    uint64_t teb, start, win32_start;
    uint64_t trap_va, trap_ip, trap_sp;   /* 0 = no trap frame */
    uint64_t stack_base, stack_limit, kernel_stack;
    uint8_t state, wait_reason;
    bool user;              /* came from user mode (PreviousMode UserMode) */
    bool alive, in_cid, linked, straddles, freed;
    /* gen_depth.c */
    int8_t wait_mode, alertable;   /* -1: not waiting / build has no field */
    uint64_t win32_thread;
    const char *syscall;    /* system service it waits in, NULL none */
    uint32_t syscall_number;
} gen_thread;

typedef struct gen_proc {
    uint32_t pid, ppid;
    uint8_t name[16];       /* ImageFileName bytes as stored (NUL padded) */
    gen_cat cat;
    int session;            /* -1 = no session */
    uint64_t va, pa;        /* EPROCESS body */
    uint64_t hdr_va, pool_va;
    uint64_t dtb;           /* DirectoryTableBase value */
    uint64_t root_pa;       /* top-level table PA (PDPT PA for PAE) */
    uint64_t peb, section_base;
    int64_t create_time, exit_time;
    uint32_t first_thread, nthreads, live_threads;
    bool linked, tag_wiped, straddles, in_cid, user, own_page;
    uint8_t protection;
    char full_name[40];     /* the image name untruncated */
    uint64_t token;         /* Token object VA (the pointer's low bits are a count) */
    /* gen_depth.c */
    int64_t handle_count;   /* -1: no handle table */
    char image_path[96];    /* "" none */
    char command_line[160], current_directory[64]; /* "" none */
    int8_t wow64;           /* -1 unknown (x86) */
} gen_proc;

typedef struct gen_decoy {
    uint64_t pa;
    const char *reason;
} gen_decoy;

typedef struct gen_fixup {
    uint64_t pte_pa;
    uint64_t value;
} gen_fixup;

/* A loaded module (PsLoadedModuleList entry), for the truth file. */
typedef struct gen_module {
    char name[32];
    char path[96];
    uint64_t base, size;
    uint64_t entry_va;        /* its LDR_DATA_TABLE_ENTRY */
} gen_module;

#define GEN_MAX_MODULES 16

/* A driver as the dump holds it (gen_drivers.c): listed ones mirror
 * mods[], plus the planted hidden and stale ones. */
typedef struct gen_driver {
    char name[32];
    char path[96];
    char object_name[48];     /* "" when it has no DRIVER_OBJECT */
    uint64_t base, size, entry;
    uint64_t ldr_va, object_va; /* 0 when none */
    int list_index;           /* -1: not in PsLoadedModuleList */
    const char *category;     /* "listed", "hidden", "stale" */
} gen_driver;
#define GEN_MAX_DRIVERS 24

typedef struct gen_unloaded {
    char name[32];
    uint64_t start, end;
    int64_t time;
    unsigned index;
} gen_unloaded;
#define GEN_MAX_UNLOADED 4
#define GEN_MAX_CPU 64
#define GEN_CRASH_FRAMES 16

/* A planted crash (x64 crash-dump formats, gen_crash.c). */
typedef struct gen_frame {
    uint64_t sp, ip;
    const char *module;       /* base name */
    uint64_t offset;
    const char *method;       /* as dumpscan names it */
} gen_frame;

typedef struct gen_crash {
    bool planted;
    uint32_t code;
    uint64_t params[4];
    uint64_t ctx_rip, ctx_rsp;
    uint64_t ctx_gpr[16];     /* header CONTEXT registers */
    unsigned cpu;
    size_t thread;            /* index into threads */
    uint64_t fault_ip;
    uint64_t drv_base, drv_size;
    char instruction[64];
    gen_frame frames[GEN_CRASH_FRAMES];
    unsigned nframes;
} gen_crash;

/* ---- the machine ---- */
typedef struct gen_ctx {
    const ds_profile *p;
    gen_opts o;
    gen_rng rng;
    ds_errbuf *eb;
    uint32_t build;           /* build number (profile build_min) */
    bool is64, pae;
    ds_paging mode;
    unsigned ptr;             /* pointer size */

    /* physical layout */
    uint64_t total_pages;     /* one past the highest pfn */
    gen_range ram[3];
    gen_range reserved[4];    /* large-page regions */
    unsigned nreserved;
    uint64_t low_stub_pfn;    /* x64 PROCESSOR_START_BLOCK page, 0 if none */
    uint64_t alloc_count;

    /* sparse store */
    gen_slot *slots;
    size_t slot_cap, slot_used;
    uint8_t **slabs;          /* page buffers, 256 per slab */
    size_t nslabs, slab_fill;
    size_t stored_pages;

    /* paging */
    uint64_t kroot_pa;        /* kernel DTB (PML4 / PDPT / PD) */
    uint64_t kpd_pa[4];       /* PAE: kernel PDs */
    unsigned selfref;         /* x64 PML4 self-reference slot */
    gen_fixup *fixups;
    size_t nfixups, cap_fixups;

    /* virtual layout */
    uint64_t kbase, ksize;    /* kernel image */
    uint64_t kregion_va;      /* start of its large-page region */
    uint64_t text_rva, text_size, data_rva, data_size, poolcode_rva;
    uint64_t data_cursor;     /* next free .data VA */
    uint64_t text_cursor;     /* next free .text VA */
    uint64_t entry_va;
    uint64_t pool_va, pool_end, pool_next;     /* pool VA region */
    uint64_t stack_va, stack_end, stack_next;  /* kernel stacks */
    uint64_t drv_va;          /* next driver image VA */
    uint64_t kuser_va;
    uint64_t pfn_db_va, pte_base;
    uint64_t extra_va[3];     /* other system regions with one mapped page */
    uint64_t user_top;        /* MmHighestUserAddress */

    /* pool allocator state */
    uint64_t pool_page;       /* VA of the page being filled, 0 = none */
    uint32_t pool_off;        /* next free offset in it */
    uint32_t pool_prev_units; /* BlockSize of the previous chunk in the page */
    uint64_t pool_last_pfn;
    uint64_t *pool_pages;     /* every mapped pool page VA, for transition picks */
    size_t npool_pages, cap_pool_pages;
    uint64_t unmapped_page_va;

    /* kernel globals (VAs) */
    uint64_t g_active_head, g_module_head, g_cid_table, g_cookie;
    uint64_t g_wait_never, g_wait_always, g_kdp_encoded, g_kdbg_list;
    uint64_t g_pfn_db, g_range_start, g_highest_user, g_probe, g_prcb_block;
    uint64_t g_build_lab, g_type_type, g_kdbg;
    uint32_t kdbg_size;
    uint64_t ki_wait_never, ki_wait_always;
    bool kdbg_encoded;
    bool kdbg_wiped;
    gen_kdcopy kdcopy;        /* variant planted (never AUTO) */
    uint32_t kdcopy_decoys;   /* `cmp byte ptr [rip+x], 0` decoys in .text */
    uint8_t cookie;
    uint64_t proc_type_obj, thread_type_obj, type_type_obj; /* fake OBJECT_TYPEs */
    uint64_t cid_table_va, cid_levels;
    uint64_t kdcopy_va;       /* planted KdCopyDataBlock */
    uint64_t bugcheck_va;     /* KeBugCheckEx stand-in */

    /* time, machine */
    int64_t system_time, boot_time;
    unsigned ncpu;
    uint32_t next_handle;     /* CID allocator */
    uint32_t handle_slots_per_leaf;

    /* population */
    gen_proc *procs;
    size_t nprocs, cap_procs;
    gen_thread *threads;
    size_t nthreads, cap_threads;
    gen_decoy *decoys;
    size_t ndecoys, cap_decoys;
    uint64_t session_va[2];   /* MM_SESSION_SPACE of sessions 0 and 1 */
    uint64_t kuser_pfn;
    bool wrote_output;        /* the dump file was created */
    uint64_t system_handle_table; /* System's ObjectTable (HANDLE_TABLE) */
    gen_module mods[GEN_MAX_MODULES];
    unsigned nmods;
    gen_driver drivers[GEN_MAX_DRIVERS];
    unsigned ndrivers;
    gen_unloaded unloaded[GEN_MAX_UNLOADED];
    unsigned nunloaded;
    uint64_t g_unloaded_drivers, g_last_unloaded_driver; /* nt globals, 0 none */
    uint64_t prcb[GEN_MAX_CPU];   /* PRCB stand-ins, per CPU */
    gen_crash crash;
} gen_ctx;

/* ---- gen_mem.c ---- */
ds_err gen_mem_init(gen_ctx *g);
void gen_mem_free(gen_ctx *g);
bool gen_pfn_is_ram(const gen_ctx *g, uint64_t pfn);
bool gen_pfn_reserved(const gen_ctx *g, uint64_t pfn);
/* Choose a free aligned run of n pages (for large pages); returns first
 * pfn.  The owner will write pages [first + used_off, + used_pages) of
 * it: a run where one of those is a page handed out already is taken
 * only when no other is free (see gen_mem.c). */
ds_err gen_reserve_aligned(gen_ctx *g, uint64_t npages, uint64_t align_pages, uint64_t used_off,
                           uint64_t used_pages, uint64_t *first);
/* Allocate one physical page at random; avoid_pfn +-1 is refused when non-zero. */
ds_err gen_alloc_pfn(gen_ctx *g, uint32_t flags, uint64_t avoid_pfn, uint64_t *pfn);
/* Register a page without allocating it (large regions, low pages). */
ds_err gen_register(gen_ctx *g, uint64_t pfn, uint32_t flags);
gen_slot *gen_slot_find(const gen_ctx *g, uint64_t pfn);
/* Page buffer of pfn, created zeroed on first use (registers the pfn). */
uint8_t *gen_page_data(gen_ctx *g, uint64_t pfn);
/* Physical write/read of stored memory (read gives zeros for unstored). */
ds_err gen_pwrite(gen_ctx *g, uint64_t pa, const void *buf, size_t len);
void gen_pread(const gen_ctx *g, uint64_t pa, void *buf, size_t len);
void gen_pw64(gen_ctx *g, uint64_t pa, uint64_t v);
void gen_pw32(gen_ctx *g, uint64_t pa, uint32_t v);
uint64_t gen_pr64(const gen_ctx *g, uint64_t pa);
uint32_t gen_pr32(const gen_ctx *g, uint64_t pa);
/* Sorted list of stored pfns (caller frees). */
uint64_t *gen_stored_sorted(const gen_ctx *g, size_t *n);

/* ---- gen_paging.c ---- */
typedef enum gen_pte_kind {
    GEN_PTE_KDATA = 0, GEN_PTE_KCODE, GEN_PTE_UDATA, GEN_PTE_URO,
} gen_pte_kind;
ds_err gen_paging_init(gen_ctx *g);
/* Map one 4 KiB page (creates tables). */
ds_err gen_map(gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t pfn, gen_pte_kind k);
/* Map one large page (2 MiB x64/PAE, 4 MiB x86) in the kernel root. */
ds_err gen_map_large(gen_ctx *g, uint64_t va, uint64_t pfn);
/* Write a raw leaf entry (software PTE) for va, creating tables. */
ds_err gen_set_pte(gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t value);
/* PA of the leaf PTE of va (4 KiB mapping), or 0. */
uint64_t gen_pte_pa(const gen_ctx *g, uint64_t root_pa, uint64_t va);
/* Translate through the generator's own tables (all valid at build time). */
bool gen_xlat(const gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t *pa);
/* Virtual write / read through root (kernel root when root_pa == 0). */
ds_err gen_vwrite(gen_ctx *g, uint64_t root_pa, uint64_t va, const void *buf, size_t len);
ds_err gen_vread(const gen_ctx *g, uint64_t root_pa, uint64_t va, void *buf, size_t len);
/* Typed kernel-VA writers; off == DS_OFF_NONE writes nothing. */
ds_err gen_kw8(gen_ctx *g, uint64_t va, uint16_t off, uint8_t v);
ds_err gen_kw16(gen_ctx *g, uint64_t va, uint16_t off, uint16_t v);
ds_err gen_kw32(gen_ctx *g, uint64_t va, uint16_t off, uint32_t v);
ds_err gen_kw64(gen_ctx *g, uint64_t va, uint16_t off, uint64_t v);
ds_err gen_kwptr(gen_ctx *g, uint64_t va, uint16_t off, uint64_t v);
/* Build a process top-level table (user half empty); returns root PA. */
ds_err gen_new_process_root(gen_ctx *g, uint64_t *root_pa);
/* Copy the kernel half into every process root; apply PTE fixups. */
ds_err gen_paging_finalize(gen_ctx *g);
void gen_add_fixup(gen_ctx *g, uint64_t pte_pa, uint64_t value);
/* Non-present software PTE values. */
uint64_t gen_pagefile_pte(gen_ctx *g);
uint64_t gen_transition_pte(const gen_ctx *g, uint64_t pfn);

/* ---- gen_objects.c ---- */
typedef enum gen_obj_kind { GEN_OBJ_PROCESS = 0, GEN_OBJ_THREAD } gen_obj_kind;
#define GEN_PA_STRADDLE 0x1u  /* must cross into the next (non-adjacent) page */
#define GEN_PA_OWN_PAGE 0x2u  /* alone in its page (with filler) */
ds_err gen_pool_init(gen_ctx *g);
/* Allocate a pool chunk of `bytes` (header included, multiple of align). */
ds_err gen_pool_alloc(gen_ctx *g, uint32_t bytes, uint32_t tag, uint8_t pool_type,
                      unsigned flags, uint64_t *chunk_va);
/* Random filler chunks (other tags, free chunks). */
ds_err gen_pool_filler(gen_ctx *g, unsigned max_chunks);
/* Whole pages from the pool VA region (no pool header). */
ds_err gen_pool_pages(gen_ctx *g, unsigned n, uint64_t *va);
/* Place an executive object; returns body VA and header VA. */
ds_err gen_place_object(gen_ctx *g, gen_obj_kind kind, unsigned flags, uint64_t *pool_va,
                        uint64_t *hdr_va, uint64_t *body_va);
uint32_t gen_tag(const gen_ctx *g, uint32_t plain, bool object_tag);
uint8_t gen_real_type_index(const gen_ctx *g, gen_obj_kind kind);
uint8_t gen_pool_type_nonpaged(const gen_ctx *g);
void gen_pool_set_type(gen_ctx *g, uint64_t chunk_va, uint8_t type);
void gen_pool_set_tag(gen_ctx *g, uint64_t chunk_va, uint32_t tag);
ds_err gen_plant_decoys(gen_ctx *g);
void gen_add_decoy(gen_ctx *g, uint64_t pa, const char *reason);

/* ---- gen_kernel.c ---- */
/* KUSER_SHARED_DATA is a fixed ABI: same offsets in every version. */
enum {
    GEN_KUSER_INTERRUPT_TIME = 0x8,
    GEN_KUSER_SYSTEM_TIME = 0x14,
    GEN_KUSER_NT_BUILD_NUMBER = 0x260,
    GEN_KUSER_NT_PRODUCT_TYPE = 0x264,
    GEN_KUSER_NT_MAJOR = 0x26c,
    GEN_KUSER_NT_MINOR = 0x270,
    GEN_KUSER_ACTIVE_PROCESSORS = 0x3c0,
};
ds_err gen_kernel_build(gen_ctx *g);

typedef struct gen_pe_section {
    const char *name;
    uint32_t rva, size, flags;
} gen_pe_section;
/* Minimal valid MZ/PE headers of an image in one page. */
void gen_build_pe(const gen_ctx *g, uint8_t *page, uint64_t base, uint32_t size_of_image,
                  uint32_t entry_rva, const gen_pe_section *sec, unsigned nsec);
/* Bump allocators in ntoskrnl's .data and .text. */
uint64_t gen_data_alloc(gen_ctx *g, uint64_t size, uint64_t align);
uint64_t gen_text_alloc(gen_ctx *g, uint64_t size);
/* A handle table from entries {handle, object pointer, access}: one leaf
 * page, or a mid page over leaves; returns the HANDLE_TABLE's VA. */
typedef struct gen_hte {
    uint32_t handle;
    uint64_t obj;
    uint32_t access;
} gen_hte;
ds_err gen_handle_table(gen_ctx *g, const gen_hte *ents, size_t n, uint64_t *table_va,
                        unsigned *levels);
/* A UNICODE_STRING at `at` whose buffer (at buf_va) holds s widened. */
ds_err gen_write_ustr(gen_ctx *g, uint64_t at, uint64_t buf_va, const char *s);

/* ---- gen_drivers.c ---- */
/* A KLDR_DATA_TABLE_ENTRY in an "MmLd" pool chunk (links left 0) with
 * its names; pool_type 0 makes the chunk a free one. */
ds_err gen_ldr_entry(gen_ctx *g, const char *name, const char *full, uint64_t base,
                     uint64_t size, uint64_t entry, uint8_t pool_type, uint64_t *ent);
/* ntoskrnl and the boot drivers, linked into PsLoadedModuleList. */
ds_err gen_modules_build(gen_ctx *g);
/* DRIVER_OBJECTs, a hidden (unlinked) driver, a stale unloaded one and
 * MmUnloadedDrivers; fills drivers[] and unloaded[]. */
ds_err gen_drivers_build(gen_ctx *g);

/* ---- gen_depth.c ---- */
/* Handle tables with known counts, image paths, WoW64 processes, PEB
 * process parameters, threads waiting in known system calls. */
ds_err gen_depth_build(gen_ctx *g);

/* ---- gen_crash.c ---- */
/* x64 crash formats: plant a DRIVER_IRQL_NOT_LESS_OR_EQUAL crash (see
 * gen_crash.c); other builds and formats: nothing. */
ds_err gen_crash_build(gen_ctx *g);
/* Allocate a pool chunk of at least `bytes` body bytes; returns body VA. */
ds_err gen_pool_struct(gen_ctx *g, uint32_t bytes, const char tag[4], bool object_tag, uint64_t *body);

/* ---- gen_population.c ---- */
ds_err gen_population_build(gen_ctx *g);
ds_err gen_alloc_handle(gen_ctx *g, uint32_t *h);

/* ---- gen_write.c ---- */
ds_err gen_write_dump(gen_ctx *g, uint64_t *file_bytes);

/* ---- gen_truth.c ---- */
ds_err gen_write_truth(gen_ctx *g, const char *path, uint64_t file_bytes);
/* FILETIME -> "2024-03-31T12:12:36.724441Z" (buf >= 32). */
void gen_filetime_iso(int64_t ft, char *buf, size_t cap);

/* small helpers */
static inline uint64_t gen_round_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}
/* Sign-extend a 48-bit x64 VA or pass a 32-bit VA through. */
static inline uint64_t gen_canon(uint64_t va)
{
    return (va & (1ull << 47)) ? (va | 0xffff000000000000ull) : va;
}

#endif
