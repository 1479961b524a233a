/* gen.h - dumpgen: synthetic Windows kernel memory dumps with a truth file.
 *
 * dumpgen writes a physical memory image of a made-up Windows machine in
 * one of the dump formats dumpscan reads, plus FILE.truth.ndjson listing
 * every process, thread and decoy planted in it.  Tests grade the scanner
 * against the truth; benchmarks use big dumps.
 *
 * One table of facts: every Windows structure offset and size comes from
 * ds_profile_by_key() (src/profile.h, generated from offsets.json); dump
 * header layouts come from src/dumpfmt.h.  The few facts the profile does
 * not carry (HANDLE_TABLE.TableCode, KDBG fields past ds_kdbg_head, PE
 * header layout, page-table entry bits) are named constants in
 * gen_int.h with their source.
 *
 * Design
 * ------
 * Physical memory.  --size-mib of RAM (6 MiB (x86: 12) .. 64 GiB) laid out as three
 * runs: [0x1000, 0x9f000), [1 MiB, hole) and [hole end, top), the hole
 * being a few hundred KiB in the middle (a PCI-hole stand-in).  Pages are
 * handed out by rejection sampling from a seeded xoshiro256** generator
 * above 1 MiB, so virtually contiguous memory is physically scattered.
 * Only "interesting" pages (page tables, touched kernel-image pages, pool,
 * stacks, KUSER_SHARED_DATA, PEBs, ...) are kept, in a sparse pfn -> page
 * hash (gen_mem.c); a few thousand pages whatever the dump size.  Every
 * other RAM page is zero (a hole in the output file) or, with --noise,
 * pseudo-random bytes from a per-page wyrand stream written with large
 * write() calls.
 *
 * Paging (gen_paging.c).  x64: 4-level tables; self-reference PML4 slot
 * 0x1ed on Win7 and random in 0x100..0x1ec on Win10+; kernel image mapped
 * with 2 MiB pages at 0xfffff80x_xxx00000 (Win7: plus a random 4 KiB
 * offset); pool, stacks and session data in their own PML4 slots (random on
 * Win10+, the classic fixed ones on Win7); KUSER_SHARED_DATA at
 * 0xfffff78000000000 and at 0x7ffe0000 in every process.  x86 PAE (Win7):
 * 32-byte aligned PDPT at a random offset in its page, four PDs, self-map
 * at 0xc0000000; x86 non-PAE (XP): one PD with self-map PDE 0x300 and the
 * kernel in one 4 MiB page.  Each process gets its own top-level table
 * whose kernel half is copied from the kernel's at the end (with its own
 * self-reference).  Some pool PTEs are made transition PTEs (valid clear,
 * bit 11 set, page still in memory), some pool VA pages are paged out
 * (software page-file PTE, no page), and the `unmapped` process page gets
 * a page-file PTE although its physical page is still in the dump.
 *
 * Kernel (gen_kernel.c).  A minimal valid MZ/PE ntoskrnl.exe (.text,
 * POOLCODE, .data; SizeOfImage) whose .data holds PsActiveProcessHead,
 * PsLoadedModuleList, PspCidTable, ObHeaderCookie, KiWaitNever,
 * KiWaitAlways, KdpDataBlockEncoded, NtBuildLab and KDDEBUGGER_DATA64.
 * KDBG is plain in crash dumps (as after KeBugCheck) and, for Win8+ x64
 * raw images, encoded with ds_kdbg_encode; .text then holds a
 * KdCopyDataBlock-like routine (byte listing in gen_kernel.c) from which a
 * symbol-less reader recovers the keys.  x64 images have a
 * PROCESSOR_START_BLOCK low stub below 1 MiB.  PsLoadedModuleList links
 * LDR_DATA_TABLE_ENTRYs ("MmLd" pool) for ntoskrnl.exe, hal.dll and a few
 * drivers whose first page holds an MZ header.
 *
 * Objects (gen_objects.c).  Pool pages are filled with chunks: POOL_HEADER
 * (BlockSize in pool_align units, PreviousSize, PoolType 2 = nonpaged on
 * Vista+ / 1 on XP, 0 = free), then for process/thread objects optional
 * headers by InfoMask (placed per ObpInfoMaskToOffset: the highest bit at
 * the lowest address; PADDING_INFO (0x80, Win10+) holds the byte count
 * from the end of the POOL_HEADER to its own end), OBJECT_HEADER and body.
 * Win8+ layouts are top-down (object right after the optional headers),
 * older ones bottom-up (body at the end of the allocation).  TypeIndex is
 * xor-encoded on Win10+ (real ^ cookie ^ byte 1 of the header VA; the
 * real index is the profile's, 7/8 where it has none); XP headers point
 * at stand-in OBJECT_TYPEs.  Bodies start with a DISPATCHER_HEADER (Type
 * 3/6, Size when the profile has one, SignalState 1 once exited, empty
 * self-pointing WaitListHead at +8).  ImageFileName keeps 14 characters
 * (XP: 15) and a NUL.  System threads have no trap frame; user threads
 * have a KTRAP_FRAME (Rip/Rsp or Eip/HardwareEsp) below InitialStack in
 * the top page of their kernel stack.  Filler
 * chunks with other tags and free chunks sit between objects, so objects
 * start at random page offsets; chosen objects straddle a page boundary
 * onto a physically non-adjacent page.
 *
 * Population (gen_kernel.c).  System, Registry, smss, csrss x2, wininit,
 * winlogon, services, lsass, svchosts, MemCompression, explorer, user
 * programs (XP and Win7 get their own sets), scaled with the dump size.
 * Planted cases, each a truth `category`: normal, dkom_unlinked,
 * dkom_unlinked_tag_wiped, terminated_linked, terminated_freed, unmapped;
 * decoys (truth type "decoy"): stray Proc/Thre tags before garbage, a
 * half-overwritten EPROCESS, Proc/Thre tags in a user-mode page, an
 * unaligned tag.
 *
 * PspCidTable.  A HANDLE_TABLE (TableCode at +0 before Win8.1, +8 from
 * 8.1) with a 1-level (TableCode & 3 == 0) or 2-level (== 1) table of
 * HANDLE_TABLE_ENTRY; handle value h sits at index h/4, entry 0 of every
 * leaf page is never used.  Entry encoding: x64 8.1+: LowValue =
 * ((body_va << 16) & ~0xfffff) | 1 (ObjectPointerBits = body_va >> 4 at
 * bit 20, Unlocked), decoded as ((int64_t)LowValue >> 16) & ~0xf;
 * older x64 and x86: Object = body_va | 1 (mask ~7 to decode).  The CID
 * table references object bodies; the System process handle table (its
 * ObjectTable) references OBJECT_HEADERs the same way with GrantedAccess
 * 0x1fffff.  KDBG.PspCidTable is the address of the PspCidTable global.
 *
 * Formats (gen_write.c): raw (file offset = PA), full (PAGEDU64 DumpType 1,
 * three runs), bitmap (DumpType 5 FDMP, all RAM), kernel (DumpType 6 SDMP:
 * user pages and some free 64-page blocks absent), rdmp (DumpType 8, RDMP
 * PFN-range list, pages chosen like `kernel`), full32 (PAGEDUMP DumpType 1,
 * PaeEnabled for PAE), elf (an ELF core like QEMU's dump-guest-memory:
 * ELF64 for x64 and ELF32 for x86 guests, one PT_LOAD per RAM run with
 * p_paddr, data page-aligned after the headers).  Unused header bytes
 * carry the "PAGE" pattern.
 *
 * Truth (gen_truth.c): see the header record and field list there.
 *
 * Determinism: every choice comes from one PRNG seeded by --seed in a fixed
 * order, so a seed gives identical bytes and truth. */
#ifndef DS_GEN_H
#define DS_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "dserr.h"
#include "profile.h"

#define GEN_DEFAULT_BUILD "win10_2004_22h2_x64"
#define GEN_MIN_MIB 6u      /* x64: small dumps for fast fuzz seeds */
#define GEN_MIN_MIB_X86 12u /* x86 kernels map 4 MiB-aligned regions */
#define GEN_MAX_MIB 65536u
#define GEN_MAX_MIB_X86 4096u

typedef enum gen_format {
    GEN_FMT_RAW = 0,
    GEN_FMT_FULL,     /* PAGEDU64 DumpType 1 */
    GEN_FMT_BITMAP,   /* PAGEDU64 DumpType 5, FDMP */
    GEN_FMT_KERNEL,   /* PAGEDU64 DumpType 6, SDMP */
    GEN_FMT_RDMP,     /* PAGEDU64 DumpType 8, RDMP */
    GEN_FMT_FULL32,   /* PAGEDUMP DumpType 1 */
    GEN_FMT_ELF,      /* ELF core as QEMU dump-guest-memory writes it */
    GEN_FMT_COUNT
} gen_format;

/* What becomes of KDDEBUGGER_DATA64 in the image. */
typedef enum gen_kdbg {
    GEN_KDBG_AUTO = 0,  /* encoded in x64 Win8+ raw/ELF images (a live
                           machine's memory), plain in crash dumps (the
                           bug check decodes it) and on older builds */
    GEN_KDBG_PLAIN,
    GEN_KDBG_ENCODED,   /* x64 Windows 8+ only */
    GEN_KDBG_WIPED,     /* the block zeroed: every KDBG-based bootstrap fails */
    GEN_KDBG_COUNT
} gen_kdbg;

/* Instruction order of the planted nt!KdCopyDataBlock (x64). */
typedef enum gen_kdcopy {
    GEN_KDCOPY_AUTO = 0, /* chosen by the seed */
    GEN_KDCOPY_CLASSIC,  /* cmp flag; lea block; mov KiWaitNever; xor KiWaitAlways */
    GEN_KDCOPY_REORDERED,/* mov KiWaitNever before the cmp; mov KiWaitAlways */
    GEN_KDCOPY_COUNT
} gen_kdcopy;

typedef struct gen_opts {
    const char *out_path;     /* dump file; truth goes to out_path + ".truth.ndjson" */
    const char *build_key;    /* NULL = GEN_DEFAULT_BUILD */
    gen_format format;
    uint64_t size_mib;        /* 0 = 64 */
    uint64_t seed;
    bool noise;               /* fill unused RAM with pseudo-random bytes */
    gen_kdbg kdbg;
    gen_kdcopy kdcopy;
} gen_opts;

typedef struct gen_summary {
    uint64_t file_bytes;      /* size of the dump file */
    uint64_t stored_pages;    /* pages the generator kept in memory */
    uint32_t processes, threads, decoys;
} gen_summary;

/* Generate one dump and its truth file.  Never prints. */
ds_err gen_run(const gen_opts *o, gen_summary *sum, ds_errbuf *eb);

const char *gen_format_name(gen_format f);
const char *gen_kdbg_name(gen_kdbg k);       /* "auto", "plain", "encoded", "wiped" */
bool gen_kdbg_parse(const char *s, gen_kdbg *k);
const char *gen_kdcopy_name(gen_kdcopy k);   /* "auto", "classic", "reordered" */
bool gen_kdcopy_parse(const char *s, gen_kdcopy *k);
/* Parse "raw", "full", ...; false if unknown. */
bool gen_format_parse(const char *s, gen_format *f);
/* Build keys dumpgen supports, NULL-terminated. */
extern const char *const gen_build_keys[];
/* Whether the build supports the format (x86: raw, full32; x64: the rest). */
bool gen_format_allowed(const ds_profile *p, gen_format f);

#endif
