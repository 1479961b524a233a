/* dump.c - open a Windows kernel dump or memory image (see dump.h).
 *
 * ds_dump_open() runs four steps:
 *   1. detect the format by content: "PAGEDU64", "PAGEDUMP", "\x7fELF",
 *      else a raw image (only if big enough and a kernel DTB is found);
 *   2. parse the header facts and build the physical map:
 *        PAGEDU64  DumpType 1 runs (data at 0x2000), 5/6/7 bitmap header
 *                  "SDMP"/"FDMP" at 0x2000, 8/9/0xa "RDMP" pfn ranges at
 *                  0x2030, 4 triage block (triage.c, no pages),
 *                  2/3 header facts only;
 *        PAGEDUMP  same with a 0x1000 header (1 and 5/6/7 mapped);
 *        ELF core  PT_LOAD segments, physical address p_paddr (p_vaddr
 *                  when every p_paddr is 0), file offset p_offset;
 *        raw       one run: file offset == physical address;
 *   3. bootstrap the kernel address space: header DTB, else the x64 low
 *      stub, else a self-referencing page table; then KUSER_SHARED_DATA and
 *      KDBG (header VA, else kernel base near a hint + tag/decoder search);
 *   4. choose the offset profile from the build.
 * Step 1-2 failures make the file unusable and return an error with a
 * sentence naming the field; step 3-4 failures only add notes.
 *
 * Truncation: a page whose file range passes end-of-file is "missing"
 * (physmap counts them).  A dump is `truncated` when pages are missing or
 * the file is shorter than RequiredDumpSpace - except triage dumps, where
 * Windows routinely writes less than it planned; there only structures
 * cut off by end-of-file count (triage.c).
 *
 * dump_type_name values (stable, snake_case, used in records):
 *   format    DumpType        name
 *   PAGEDU64/ 1               full
 *   PAGEDUMP  2               summary
 *             3               header
 *             4               triage
 *             5 + "FDMP"      bitmap_full
 *             5 + "SDMP"      bitmap_kernel
 *             6               bitmap_kernel_live   (22H2+ live kernel dump)
 *             7               automatic
 *             8               rdmp_kernel          (.dump /k)
 *             9               rdmp_kernel_user     (.dump /ka)
 *             0xa             rdmp_complete        (.dump /f)
 *             other           unknown
 *   raw       -               raw
 *   elf       -               elf_core */
#define _GNU_SOURCE /* memmem */
#include "dump.h"

#include <errno.h>
#include <unistd.h>
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dumpfmt.h"
#include "kboot.h"
#include "triage.h"

#define PAGE 0x1000ull
#define HDR64_SIZE 0x2000u
#define HDR32_SIZE 0x1000u
#define RAW_MIN_SIZE (1ull << 20)
#define PAGE_FILL32 0x45474150u             /* "PAGE": unwritten header area */
#define PAGE_FILL64 0x4547415045474150ull
#define KERNEL_BASE_MAX_BACK (64ull << 20)  /* hint -> image base scan limit */
#define RDMP_META_START 0x2020u             /* MetadataSize counts from here */
#define RDMP_RANGES_OFF 0x2030u

/* State carried between the open steps that is not part of ds_dump. */
typedef struct open_ctx {
    const ds_dump_opts *opts;
    uint64_t kernel_entry;  /* from the low stub, a kernel-base hint */
} open_ctx;

/* ------------------------------------------------------------- names */

const char *ds_arch_name(ds_arch a)
{
    switch (a) {
    case DS_ARCH_X64: return "x64";
    case DS_ARCH_X86: return "x86";
    case DS_ARCH_X86_PAE: return "x86_pae";
    case DS_ARCH_ARM64: return "arm64";
    default: return "unknown";
    }
}

const char *ds_source_name(ds_source s)
{
    switch (s) {
    case DS_SRC_HEADER: return "header";
    case DS_SRC_KDBG: return "kdbg";
    case DS_SRC_LOWSTUB: return "lowstub";
    case DS_SRC_SELFREF: return "selfref";
    case DS_SRC_TRIAGE: return "triage";
    case DS_SRC_SCAN: return "scan";
    case DS_SRC_KUSER: return "kuser";
    case DS_SRC_SYSTEM_PROCESS: return "system_process";
    case DS_SRC_NT_DATA: return "nt_data";
    default: return "none";
    }
}

const char *ds_dump_type_name(ds_format f, uint32_t dump_type)
{
    if (f == DS_FMT_RAW)
        return "raw";
    if (f == DS_FMT_ELF)
        return "elf_core";
    if (f != DS_FMT_CRASH64 && f != DS_FMT_CRASH32)
        return "unknown";
    switch (dump_type) {
    case DS_DT_FULL: return "full";
    case DS_DT_SUMMARY: return "summary";
    case DS_DT_HEADER: return "header";
    case DS_DT_TRIAGE: return "triage";
    case DS_DT_BITMAP_FULL: return "bitmap_full"; /* "SDMP" refines to bitmap_kernel */
    case DS_DT_BITMAP_KERNEL: return "bitmap_kernel_live";
    case DS_DT_AUTOMATIC: return "automatic";
    case DS_DT_RDMP_KERNEL: return "rdmp_kernel";
    case DS_DT_RDMP_KERNEL_USER: return "rdmp_kernel_user";
    case DS_DT_RDMP_COMPLETE: return "rdmp_complete";
    default: return "unknown";
    }
}

void ds_dump_note(ds_dump *d, const char *fmt, ...)
{
    size_t used = strlen(d->notes);
    if (used + 2 >= sizeof(d->notes))
        return;
    if (used) {
        d->notes[used++] = ';';
        d->notes[used] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->notes + used, sizeof(d->notes) - used, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------- reads */

ds_err ds_phys_read(const ds_dump *d, uint64_t pa, void *buf, size_t len)
{
    uint8_t *out = buf;
    if (len && pa > UINT64_MAX - (len - 1))
        return DS_ERR_RANGE;
    while (len) {
        uint64_t in = pa & (PAGE - 1);
        size_t n = PAGE - in < len ? (size_t)(PAGE - in) : len;
        uint64_t off;
        ds_err e = ds_physmap_lookup(&d->pm, pa >> 12, &off);
        if (e)
            return e;
        e = ds_file_read(&d->file, off + in, out, n);
        if (e)
            return e;
        out += n;
        pa += n;
        len -= n;
    }
    return DS_OK;
}

const uint8_t *ds_phys_page(const ds_dump *d, uint64_t pfn)
{
    uint64_t off;
    if (ds_physmap_lookup(&d->pm, pfn, &off) != DS_OK)
        return NULL;
    return ds_file_ptr(&d->file, off, PAGE);
}

ds_err ds_dump_phys_read_cb(void *ctx, uint64_t pa, void *buf, size_t len)
{
    return ds_phys_read(ctx, pa, buf, len);
}

ds_err ds_kread(const ds_dump *d, uint64_t va, void *buf, size_t len)
{
    if (d->triage)
        return ds_triage_kread(d->triage, &d->file, va, buf, len);
    if (d->kvas.mode == DS_PAGING_NONE)
        return DS_ERR_NOT_PRESENT;
    return ds_vread(&d->kvas, va, buf, len);
}

ds_err ds_kread_ptr(const ds_dump *d, uint64_t va, uint64_t *v)
{
    bool is32 = d->arch == DS_ARCH_X86 || d->arch == DS_ARCH_X86_PAE;
    *v = 0;
    return ds_kread(d, va, v, is32 ? 4 : 8);
}

/* ----------------------------------------------------- header facts */

/* Header fields Windows never wrote still hold the "PAGE" fill. */
static uint32_t unfill32(uint32_t v)
{
    return v == PAGE_FILL32 ? 0 : v;
}

static uint64_t unfill64(uint64_t v)
{
    return v == PAGE_FILL64 ? 0 : v;
}

static void copy_comment(ds_dump *d, const char *c, size_t n)
{
    size_t i = 0;
    if (n >= 4 && memcmp(c, "PAGE", 4) == 0)
        return; /* fill pattern: no comment */
    for (; i < n && i + 1 < sizeof(d->comment) && c[i]; i++)
        d->comment[i] = (c[i] >= 0x20 && c[i] < 0x7f) ? c[i] : '?';
    d->comment[i] = '\0';
}

static ds_arch arch_of_machine(uint32_t m, bool pae)
{
    switch (m) {
    case DS_MACHINE_AMD64: return DS_ARCH_X64;
    case DS_MACHINE_I386: return pae ? DS_ARCH_X86_PAE : DS_ARCH_X86;
    case DS_MACHINE_ARM64: return DS_ARCH_ARM64;
    default: return DS_ARCH_UNKNOWN;
    }
}

static void set_lists(ds_dump *d, uint64_t mods, uint64_t procs, ds_source src)
{
    d->ps_loaded_module_list = mods;
    d->ps_active_process_head = procs;
    if (mods || procs)
        d->list_head_source = src;
}

static void header64_facts(ds_dump *d, const ds_dump_header64 *h)
{
    d->major_version = unfill32(h->MajorVersion);
    d->build = unfill32(h->MinorVersion);
    d->build_source = d->build ? DS_SRC_HEADER : DS_SRC_NONE;
    d->machine = unfill32(h->MachineImageType);
    d->arch = arch_of_machine(d->machine, false);
    d->processors = unfill32(h->NumberProcessors);
    d->dtb = unfill64(h->DirectoryTableBase);
    d->dtb_source = d->dtb ? DS_SRC_HEADER : DS_SRC_NONE;
    d->pfn_database = unfill64(h->PfnDataBase);
    set_lists(d, unfill64(h->PsLoadedModuleList), unfill64(h->PsActiveProcessHead),
              DS_SRC_HEADER);
    d->kdbg_va = unfill64(h->KdDebuggerDataBlock);
    d->kdbg_source = d->kdbg_va ? DS_SRC_HEADER : DS_SRC_NONE;
    d->has_bugcheck = true;
    d->bugcheck_code = h->BugCheckCode;
    for (int i = 0; i < 4; i++)
        d->bugcheck_params[i] = h->BugCheckParameter[i];
    d->dump_type = h->DumpType;
    int64_t rds = (int64_t)unfill64((uint64_t)h->RequiredDumpSpace);
    d->required_dump_space = rds > 0 ? (uint64_t)rds : 0;
    d->system_time = (int64_t)unfill64((uint64_t)h->SystemTime);
    d->uptime_100ns = (int64_t)unfill64((uint64_t)h->SystemUpTime);
    d->product_type = unfill32(h->ProductType);
    d->suite_mask = unfill32(h->SuiteMask);
    copy_comment(d, h->Comment, sizeof(h->Comment));
}

static void header32_facts(ds_dump *d, const ds_dump_header32 *h)
{
    d->major_version = unfill32(h->MajorVersion);
    d->build = unfill32(h->MinorVersion);
    d->build_source = d->build ? DS_SRC_HEADER : DS_SRC_NONE;
    d->machine = unfill32(h->MachineImageType);
    d->arch = arch_of_machine(d->machine, h->PaeEnabled != 0);
    d->processors = unfill32(h->NumberProcessors);
    d->dtb = unfill32(h->DirectoryTableBase);
    d->dtb_source = d->dtb ? DS_SRC_HEADER : DS_SRC_NONE;
    d->pfn_database = unfill32(h->PfnDataBase);
    set_lists(d, unfill32(h->PsLoadedModuleList), unfill32(h->PsActiveProcessHead),
              DS_SRC_HEADER);
    d->kdbg_va = unfill32(h->KdDebuggerDataBlock);
    d->kdbg_source = d->kdbg_va ? DS_SRC_HEADER : DS_SRC_NONE;
    d->has_bugcheck = true;
    d->bugcheck_code = h->BugCheckCode;
    for (int i = 0; i < 4; i++)
        d->bugcheck_params[i] = h->BugCheckParameter[i];
    d->dump_type = h->DumpType;
    int64_t rds = (int64_t)unfill64((uint64_t)h->RequiredDumpSpace);
    d->required_dump_space = rds > 0 ? (uint64_t)rds : 0;
    d->system_time = (int64_t)unfill64((uint64_t)h->SystemTime);
    d->uptime_100ns = (int64_t)unfill64((uint64_t)h->SystemUpTime);
    d->product_type = unfill32(h->ProductType);
    d->suite_mask = unfill32(h->SuiteMask);
    copy_comment(d, h->Comment, sizeof(h->Comment));
}

/* --------------------------------------------------- full dump runs */

/* PhysicalMemoryBlock of either header width, widened. */
typedef struct hdr_runs {
    uint32_t nruns, max_runs;
    uint64_t number_of_pages;
    uint64_t base[DS_HDR32_MAX_RUNS];
    uint64_t count[DS_HDR32_MAX_RUNS];
} hdr_runs;

static void hdr_runs64(hdr_runs *r, const ds_phys_desc64 *p)
{
    memset(r, 0, sizeof(*r));
    r->nruns = p->NumberOfRuns;
    r->max_runs = DS_HDR64_MAX_RUNS;
    r->number_of_pages = p->NumberOfPages;
    for (uint32_t i = 0; i < DS_HDR64_MAX_RUNS; i++) {
        r->base[i] = p->Run[i].BasePage;
        r->count[i] = p->Run[i].PageCount;
    }
}

static void hdr_runs32(hdr_runs *r, const ds_phys_desc32 *p)
{
    memset(r, 0, sizeof(*r));
    r->nruns = p->NumberOfRuns;
    r->max_runs = DS_HDR32_MAX_RUNS;
    r->number_of_pages = p->NumberOfPages;
    for (uint32_t i = 0; i < DS_HDR32_MAX_RUNS; i++) {
        r->base[i] = p->Run[i].BasePage;
        r->count[i] = p->Run[i].PageCount;
    }
}

static ds_err check_hdr_runs(const hdr_runs *r, ds_errbuf *eb)
{
    if (r->nruns > r->max_runs)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "PhysicalMemoryBlock.NumberOfRuns %u exceeds the %u that fit",
                       r->nruns, r->max_runs);
    for (uint32_t i = 0; i < r->nruns; i++)
        if (r->base[i] > DS_MAX_PFN || r->count[i] > DS_MAX_PFN - r->base[i])
            return ds_fail(eb, DS_ERR_CORRUPT,
                           "PhysicalMemoryBlock.Run[%u] (BasePage 0x%llx, PageCount 0x%llx) "
                           "is out of range", i, (unsigned long long)r->base[i],
                           (unsigned long long)r->count[i]);
    return DS_OK;
}

/* Full dump: runs stored back to back from data_off.  A run that ends
 * past both end-of-file and RequiredDumpSpace contradicts the header (a
 * merely truncated file still agrees with its RequiredDumpSpace). */
static ds_err map_full(ds_dump *d, const hdr_runs *r, uint64_t data_off, ds_errbuf *eb)
{
    ds_run runs[DS_HDR32_MAX_RUNS];
    ds_err e = check_hdr_runs(r, eb);
    if (e)
        return e;
    uint64_t off = data_off, total = 0;
    uint64_t limit = d->file.size > d->required_dump_space ? d->file.size
                                                           : d->required_dump_space;
    for (uint32_t i = 0; i < r->nruns; i++) {
        runs[i] = (ds_run){ .pfn = r->base[i], .npages = r->count[i], .file_off = off };
        off += r->count[i] * PAGE; /* <= 86 * 2^40 pages: no overflow */
        total += r->count[i];
        if (d->required_dump_space && off > limit)
            return ds_fail(eb, DS_ERR_CORRUPT,
                           "PhysicalMemoryBlock.Run[%u] data ends at 0x%llx, past end of file "
                           "(0x%llx) and RequiredDumpSpace (0x%llx)", i,
                           (unsigned long long)off, (unsigned long long)d->file.size,
                           (unsigned long long)d->required_dump_space);
    }
    if (total != r->number_of_pages)
        ds_dump_note(d, "PhysicalMemoryBlock.NumberOfPages %llu but runs hold %llu",
                     (unsigned long long)r->number_of_pages, (unsigned long long)total);
    return ds_physmap_init_runs(&d->pm, runs, r->nruns, d->file.size, eb);
}

/* ------------------------------------------------------- bitmaps */

/* Bitmap words for nbits bits at file offset off: borrowed from the
 * mapping when it is mapped, long enough and 8-byte aligned, else copied
 * into d->owned_bitmap (zero-padded to whole words). */
static ds_err get_bitmap(ds_dump *d, uint64_t off, uint64_t nbits, const uint64_t **bits,
                         ds_errbuf *eb)
{
    uint64_t nwords = nbits / 64 + (nbits % 64 != 0);
    uint64_t nbytes = nbits / 8 + (nbits % 8 != 0);
    *bits = NULL;
    if (!nwords)
        return DS_OK;
    const uint8_t *p = ds_file_ptr(&d->file, off, (size_t)(nwords * 8));
    if (p && ((uintptr_t)p & 7) == 0) {
        *bits = (const uint64_t *)(const void *)p;
        return DS_OK;
    }
    d->owned_bitmap = calloc((size_t)nwords, 8);
    if (!d->owned_bitmap)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot copy a %llu-byte bitmap",
                       (unsigned long long)nbytes);
    if (ds_file_read(&d->file, off, d->owned_bitmap, (size_t)nbytes) != DS_OK)
        return ds_fail(eb, DS_ERR_TRUNCATED, "bitmap at 0x%llx cut off",
                       (unsigned long long)off);
    *bits = d->owned_bitmap;
    return DS_OK;
}

/* Large bitmaps of sparse files: the word ranges of the bitmap that hold
 * file data (SEEK_DATA / SEEK_HOLE), so the index skips the holes
 * without reading them.  Leaves *spans NULL (every word is data) for
 * small bitmaps, when the file system cannot say, or when the data is
 * split into more than BITMAP_MAX_SPANS pieces. */
#define BITMAP_SPANS_FROM (16u << 20)  /* bytes of bitmap worth asking about */
#define BITMAP_MAX_SPANS 65536u

static void bitmap_data_spans(const ds_dump *d, uint64_t off, uint64_t nwords,
                              ds_word_span **spans, size_t *nspans)
{
    *spans = NULL;
    *nspans = 0;
    uint64_t end = off + nwords * 8;
    if (nwords * 8 < BITMAP_SPANS_FROM || end > d->file.size)
        return;
    ds_word_span *v = malloc(BITMAP_MAX_SPANS * sizeof(*v));
    if (!v)
        return;
    size_t n = 0;
    uint64_t pos = off;
    while (pos < end) {
        off_t data = lseek(d->file.fd, (off_t)pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            break; /* only a hole up to end of file */
        if (data < 0 || n == BITMAP_MAX_SPANS) {
            free(v);
            return; /* cannot tell: treat every word as data */
        }
        if ((uint64_t)data >= end)
            break;
        off_t hole = lseek(d->file.fd, data, SEEK_HOLE);
        uint64_t stop = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
        /* word range covering the data bytes [data, stop) */
        v[n++] = (ds_word_span){((uint64_t)data - off) / 8, (stop - off + 7) / 8};
        pos = stop;
    }
    *spans = v;
    *nspans = n;
}

static bool is_bmp_signature(uint32_t s)
{
    return s == DS_SIG_SDMP || s == DS_SIG_FDMP;
}

static bool has_bmp_signature(ds_dump *d, uint64_t off)
{
    uint32_t sig = 0;
    return ds_file_read(&d->file, off, &sig, 4) == DS_OK && is_bmp_signature(sig);
}

/* A bitmap header, whichever layout it was read with. */
typedef struct bmp_layout {
    const char *name;            /* "bitmap" or "summary" */
    uint32_t signature, valid;
    uint64_t first_page;         /* file offset of the first stored page */
    uint64_t present;            /* bits set, as the header says */
    uint64_t bits;               /* bitmap length in bits */
    uint64_t bm_off;             /* file offset of the bitmap */
} bmp_layout;

/* BITMAP_DUMP (DumpType 5/6/7, both architectures): 64-bit fields. */
static bool read_bitmap_layout(ds_dump *d, uint64_t hdr_off, bmp_layout *l)
{
    ds_bmp_header bh;
    if (ds_file_read(&d->file, hdr_off, &bh, sizeof(bh)) != DS_OK)
        return false;
    *l = (bmp_layout){"bitmap", bh.Signature, bh.ValidDump, bh.FirstPage, bh.TotalPresentPages,
                      bh.Pages, hdr_off + sizeof(bh)};
    return true;
}

/* SUMMARY_DUMP32/64 (DumpType 2): 32-bit fields. */
static bool read_summary_layout(ds_dump *d, uint64_t hdr_off, bmp_layout *l)
{
    ds_summary_header sh;
    if (ds_file_read(&d->file, hdr_off, &sh, sizeof(sh)) != DS_OK)
        return false;
    uint64_t bits_off = d->format == DS_FMT_CRASH64 ? DS_SUMMARY64_BITS_OFF : DS_SUMMARY32_BITS_OFF;
    *l = (bmp_layout){"summary", sh.Signature, sh.ValidDump, sh.HeaderSize, sh.Pages,
                      sh.BitmapSize, hdr_off + bits_off};
    return true;
}

/* The fields hold together: a bitmap that fits before the first page,
 * which lies inside the file. */
static bool layout_consistent(const ds_dump *d, const bmp_layout *l)
{
    if (!is_bmp_signature(l->signature) || l->bits == 0 || l->bits > DS_MAX_BITMAP_PAGES ||
        l->present > l->bits)
        return false;
    uint64_t bm_end = l->bm_off + (l->bits + 7) / 8;
    return l->first_page >= bm_end && l->first_page <= d->file.size;
}

/* Read the header at hdr_off with the layout its DumpType calls for; when
 * those fields do not hold together but the other layout's do (a writer
 * that used the other one), take that and say so.  Neither: the
 * expected layout, and map_bmp names what is wrong with it. */
static bool pick_layout(ds_dump *d, uint64_t hdr_off, bmp_layout *l)
{
    bool summary_first = d->dump_type == DS_DT_SUMMARY;
    bmp_layout a, b;
    bool ha = summary_first ? read_summary_layout(d, hdr_off, &a) : read_bitmap_layout(d, hdr_off, &a);
    bool hb = summary_first ? read_bitmap_layout(d, hdr_off, &b) : read_summary_layout(d, hdr_off, &b);
    if (ha && layout_consistent(d, &a)) {
        *l = a;
        return true;
    }
    if (hb && layout_consistent(d, &b)) {
        *l = b;
        ds_dump_note(d, "DumpType %u with a %s header layout", d->dump_type, b.name);
        return true;
    }
    if (ha)
        *l = a;
    return ha;
}

/* Bitmap dumps: DumpType 5/6/7 "SDMP"/"FDMP" headers, and DumpType 2
 * summary dumps, at hdr_off. */
static ds_err map_bmp(ds_dump *d, uint64_t hdr_off, ds_errbuf *eb)
{
    bmp_layout bh;
    if (!pick_layout(d, hdr_off, &bh))
        return ds_fail(eb, DS_ERR_TRUNCATED, "bitmap header at 0x%llx cut off by end of file",
                       (unsigned long long)hdr_off);
    if (!is_bmp_signature(bh.signature))
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "DumpType %u without an SDMP/FDMP bitmap header at 0x%llx",
                       d->dump_type, (unsigned long long)hdr_off);
    if (bh.valid != DS_SIG_DUMP)
        ds_dump_note(d, "bitmap header ValidDump is not \"DUMP\"");
    if (bh.bits > DS_MAX_BITMAP_PAGES)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "bitmap Pages 0x%llx: more than 2^34 pages (64 TiB), beyond any "
                       "machine Windows runs on", (unsigned long long)bh.bits);
    uint64_t bm_off = bh.bm_off;
    uint64_t bm_bytes = (bh.bits + 7) / 8;
    if (!ds_file_has(&d->file, bm_off, bm_bytes))
        return ds_fail(eb, DS_ERR_TRUNCATED,
                       "bitmap (%llu bytes at 0x%llx, Pages 0x%llx) runs past end of file",
                       (unsigned long long)bm_bytes, (unsigned long long)bm_off,
                       (unsigned long long)bh.bits);
    if (bh.first_page < bm_off + bm_bytes)
        return ds_fail(eb, DS_ERR_CORRUPT, "bitmap FirstPage 0x%llx overlaps the bitmap",
                       (unsigned long long)bh.first_page);
    if (bh.first_page > d->file.size)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "bitmap FirstPage 0x%llx lies past end of file (0x%llx)",
                       (unsigned long long)bh.first_page, (unsigned long long)d->file.size);
    const uint64_t *bits;
    ds_word_span *spans = NULL;
    size_t nspans = 0;
    ds_err e = get_bitmap(d, bm_off, bh.bits, &bits, eb);
    if (!e && bits != d->owned_bitmap)
        bitmap_data_spans(d, bm_off, (bh.bits + 63) / 64, &spans, &nspans);
    if (!e)
        e = ds_physmap_init_bitmap_spans(&d->pm, bits, bh.bits, bh.first_page, d->file.size,
                                         spans, nspans, eb);
    free(spans);
    if (e)
        return e;
    if (bh.present != d->pm.pages_present)
        ds_dump_note(d, "bitmap TotalPresentPages %llu but %llu bits set",
                     (unsigned long long)bh.present, (unsigned long long)d->pm.pages_present);
    if (d->dump_type == DS_DT_BITMAP_FULL)
        d->dump_type_name = bh.signature == DS_SIG_SDMP ? "bitmap_kernel" : "bitmap_full";
    return DS_OK;
}

/* DumpType 8/9/0xa: RDMP header at 0x2000 followed by metadata running
 * to FirstPageOffset (MetadataSize counts from 0x2020, hence the sanity
 * rule MetadataSize - 0x20 == FirstPageOffset - 0x2040).  From 0x2030 the
 * metadata is a list of {u64 first pfn, u64 page count} ranges; the pages
 * follow at FirstPageOffset, back to back in list order.  A range with pfn
 * 0 ends the list (kdmp-parser, the one public reader of this format,
 * reads it the same way; offsets.json names the field "Bitmap" after its
 * struct, but its code walks ranges).  For 0xa, NumberOfRanges and
 * TotalNumberOfPages bound the list. */
typedef struct rdmp_range {
    uint64_t pfn, npages;
} rdmp_range;
_Static_assert(sizeof(rdmp_range) == 16, "rdmp_range");

static ds_err map_rdmp(ds_dump *d, ds_errbuf *eb)
{
    ds_rdmp_full rh;
    if (ds_file_read(&d->file, HDR64_SIZE, &rh, sizeof(rh)) != DS_OK)
        return ds_fail(eb, DS_ERR_TRUNCATED, "RDMP header at 0x2000 cut off by end of file");
    if (rh.Hdr.Marker != DS_RDMP_MARKER || rh.Hdr.Signature != DS_SIG_RDMP)
        return ds_fail(eb, DS_ERR_CORRUPT, "DumpType 0x%x without an RDMP header at 0x2000",
                       d->dump_type);
    if (rh.Hdr.ValidDump != DS_SIG_DUMP)
        ds_dump_note(d, "RDMP header ValidDump is not \"DUMP\"");
    uint64_t meta = rh.Hdr.MetadataSize, first = rh.Hdr.FirstPageOffset;
    if (meta < RDMP_RANGES_OFF - RDMP_META_START || meta > UINT64_MAX - RDMP_META_START ||
        meta + RDMP_META_START != first)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "RDMP MetadataSize 0x%llx and FirstPageOffset 0x%llx disagree",
                       (unsigned long long)meta, (unsigned long long)first);
    if (first > d->file.size)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "RDMP FirstPageOffset 0x%llx lies past end of file (0x%llx)",
                       (unsigned long long)first, (unsigned long long)d->file.size);
    uint64_t nranges = (first - RDMP_RANGES_OFF) / sizeof(rdmp_range);
    bool complete = d->dump_type == DS_DT_RDMP_COMPLETE;
    if (complete && rh.NumberOfRanges < nranges)
        nranges = rh.NumberOfRanges;
    if (nranges > DS_MAX_RUNS)
        return ds_fail(eb, DS_ERR_CORRUPT, "RDMP lists %llu ranges (limit %u)",
                       (unsigned long long)nranges, DS_MAX_RUNS);
    ds_run *runs = malloc((nranges ? nranges : 1) * sizeof(*runs));
    if (!runs)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory for RDMP ranges");
    size_t n = 0;
    uint64_t off = first, total = 0;
    for (uint64_t i = 0; i < nranges; i++) {
        rdmp_range rr;
        if (ds_file_read(&d->file, RDMP_RANGES_OFF + i * sizeof(rr), &rr, sizeof(rr)) != DS_OK)
            break;
        if (rr.pfn == 0)
            break;
        if (rr.npages == 0)
            continue;
        if (rr.pfn >= DS_MAX_PFN || rr.npages > DS_MAX_PFN - rr.pfn ||
            rr.npages > (UINT64_MAX - off) / DS_PAGE_SIZE) {
            free(runs);
            return ds_fail(eb, DS_ERR_CORRUPT, "RDMP range %llu (pfn 0x%llx, %llu pages) out of range",
                           (unsigned long long)i, (unsigned long long)rr.pfn,
                           (unsigned long long)rr.npages);
        }
        runs[n++] = (ds_run){.pfn = rr.pfn, .npages = rr.npages, .file_off = off};
        off += rr.npages * DS_PAGE_SIZE;
        total += rr.npages;
    }
    ds_err e = ds_physmap_init_runs(&d->pm, runs, n, d->file.size, eb);
    free(runs);
    if (e)
        return e;
    if (n == 0)
        ds_dump_note(d, "RDMP lists no memory ranges: the dump holds no pages");
    if (complete && rh.TotalNumberOfPages != total)
        ds_dump_note(d, "RDMP TotalNumberOfPages %llu but the ranges hold %llu",
                     (unsigned long long)rh.TotalNumberOfPages, (unsigned long long)total);
    return DS_OK;
}

/* ------------------------------------------------- PAGEDU64 / PAGEDUMP */

static ds_err map_crash64(ds_dump *d, const ds_dump_header64 *h, ds_errbuf *eb)
{
    hdr_runs hr;
    hdr_runs64(&hr, &h->PhysicalMemoryBlock);
    switch (d->dump_type) {
    case DS_DT_FULL:
        return map_full(d, &hr, HDR64_SIZE, eb);
    case DS_DT_SUMMARY:
        if (has_bmp_signature(d, HDR64_SIZE))
            return map_bmp(d, HDR64_SIZE, eb);
        /* fall through */
    case DS_DT_HEADER:
        ds_dump_note(d, "%s dump: header facts only, page data not parsed",
                     d->dump_type_name);
        return DS_OK;
    case DS_DT_TRIAGE:
        return ds_triage_load(d, eb);
    case DS_DT_BITMAP_FULL:
    case DS_DT_BITMAP_KERNEL:
        return map_bmp(d, HDR64_SIZE, eb);
    case DS_DT_AUTOMATIC: {
        uint32_t sig = 0;
        if (ds_file_read(&d->file, HDR64_SIZE, &sig, 4) == DS_OK && is_bmp_signature(sig))
            return map_bmp(d, HDR64_SIZE, eb);
        ds_dump_note(d, "automatic dump without a bitmap header: page data not parsed");
        return DS_OK;
    }
    case DS_DT_RDMP_KERNEL:
    case DS_DT_RDMP_KERNEL_USER:
    case DS_DT_RDMP_COMPLETE:
        return map_rdmp(d, eb);
    default:
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "DumpType 0x%x unsupported", d->dump_type);
    }
}

static ds_err open_crash64(ds_dump *d, ds_errbuf *eb)
{
    d->format = DS_FMT_CRASH64;
    d->format_name = "PAGEDU64";
    ds_dump_header64 *h = malloc(sizeof(*h));
    if (!h)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate the dump header");
    if (ds_file_read(&d->file, 0, h, sizeof(*h)) != DS_OK) {
        free(h);
        return ds_fail(eb, DS_ERR_TRUNCATED,
                       "DUMP_HEADER64 needs 0x2000 bytes but the file has 0x%llx",
                       (unsigned long long)d->file.size);
    }
    header64_facts(d, h);
    d->dump_type_name = ds_dump_type_name(d->format, d->dump_type);
    if (d->arch == DS_ARCH_UNKNOWN)
        ds_dump_note(d, "MachineImageType 0x%x unknown", d->machine);
    ds_err e = map_crash64(d, h, eb);
    free(h);
    return e;
}

static ds_err map_crash32(ds_dump *d, const ds_dump_header32 *h, ds_errbuf *eb)
{
    hdr_runs hr;
    hdr_runs32(&hr, &h->PhysicalMemoryBlock);
    switch (d->dump_type) {
    case DS_DT_FULL:
        return map_full(d, &hr, HDR32_SIZE, eb);
    case DS_DT_BITMAP_FULL:
    case DS_DT_BITMAP_KERNEL:
        return map_bmp(d, HDR32_SIZE, eb);
    case DS_DT_AUTOMATIC: {
        uint32_t sig = 0;
        if (ds_file_read(&d->file, HDR32_SIZE, &sig, 4) == DS_OK && is_bmp_signature(sig))
            return map_bmp(d, HDR32_SIZE, eb);
    } /* fall through */
    case DS_DT_SUMMARY:
        if (d->dump_type == DS_DT_SUMMARY && has_bmp_signature(d, HDR32_SIZE))
            return map_bmp(d, HDR32_SIZE, eb);
    /* fall through */
    case DS_DT_HEADER:
    case DS_DT_TRIAGE:
        ds_dump_note(d, "32-bit %s dump: header facts only, page data not parsed",
                     d->dump_type_name);
        return DS_OK;
    default:
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "DumpType 0x%x unsupported in PAGEDUMP",
                       d->dump_type);
    }
}

static ds_err open_crash32(ds_dump *d, ds_errbuf *eb)
{
    d->format = DS_FMT_CRASH32;
    d->format_name = "PAGEDUMP";
    ds_dump_header32 *h = malloc(sizeof(*h));
    if (!h)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate the dump header");
    if (ds_file_read(&d->file, 0, h, sizeof(*h)) != DS_OK) {
        free(h);
        return ds_fail(eb, DS_ERR_TRUNCATED,
                       "DUMP_HEADER32 needs 0x1000 bytes but the file has 0x%llx",
                       (unsigned long long)d->file.size);
    }
    header32_facts(d, h);
    d->dump_type_name = ds_dump_type_name(d->format, d->dump_type);
    if (d->arch == DS_ARCH_UNKNOWN)
        ds_dump_note(d, "MachineImageType 0x%x unknown", d->machine);
    ds_err e = map_crash32(d, h, eb);
    free(h);
    return e;
}

/* ------------------------------------------------------------ ELF */

/* One PT_LOAD, width-independent. */
typedef struct elf_load {
    uint64_t paddr, vaddr, offset, filesz;
} elf_load;

typedef struct elf_info {
    bool is64;
    uint16_t machine;
    uint64_t phoff, phnum, phentsize;
} elf_info;

static ds_err elf_read_ehdr(ds_dump *d, elf_info *ei, ds_errbuf *eb)
{
    unsigned char ident[EI_NIDENT];
    if (ds_file_read(&d->file, 0, ident, sizeof(ident)) != DS_OK)
        return ds_fail(eb, DS_ERR_TRUNCATED, "ELF identification cut off");
    if (ident[EI_DATA] != ELFDATA2LSB)
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "big-endian or invalid ELF (EI_DATA %u)",
                       ident[EI_DATA]);
    uint16_t type;
    if (ident[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr h;
        if (ds_file_read(&d->file, 0, &h, sizeof(h)) != DS_OK)
            return ds_fail(eb, DS_ERR_TRUNCATED, "ELF64 header cut off");
        *ei = (elf_info){ true, h.e_machine, h.e_phoff, h.e_phnum, h.e_phentsize };
        type = h.e_type;
        if (ei->phentsize != sizeof(Elf64_Phdr))
            return ds_fail(eb, DS_ERR_CORRUPT, "ELF e_phentsize %llu, expected %zu",
                           (unsigned long long)ei->phentsize, sizeof(Elf64_Phdr));
    } else if (ident[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr h;
        if (ds_file_read(&d->file, 0, &h, sizeof(h)) != DS_OK)
            return ds_fail(eb, DS_ERR_TRUNCATED, "ELF32 header cut off");
        *ei = (elf_info){ false, h.e_machine, h.e_phoff, h.e_phnum, h.e_phentsize };
        type = h.e_type;
        if (ei->phentsize != sizeof(Elf32_Phdr))
            return ds_fail(eb, DS_ERR_CORRUPT, "ELF e_phentsize %llu, expected %zu",
                           (unsigned long long)ei->phentsize, sizeof(Elf32_Phdr));
    } else {
        return ds_fail(eb, DS_ERR_UNSUPPORTED, "ELF class %u unsupported", ident[EI_CLASS]);
    }
    if (type != ET_CORE)
        return ds_fail(eb, DS_ERR_FORMAT, "ELF file is not a core dump (e_type %u)", type);
    return DS_OK;
}

/* With PN_XNUM the real program header count is section 0's sh_info. */
static ds_err elf_real_phnum(ds_dump *d, elf_info *ei, ds_errbuf *eb)
{
    if (ei->phnum != PN_XNUM)
        return DS_OK;
    bool ok;
    uint32_t info = 0;
    if (ei->is64) {
        Elf64_Ehdr h;
        Elf64_Shdr s;
        ok = ds_file_read(&d->file, 0, &h, sizeof(h)) == DS_OK &&
             ds_file_read(&d->file, h.e_shoff, &s, sizeof(s)) == DS_OK;
        info = ok ? s.sh_info : 0;
    } else {
        Elf32_Ehdr h;
        Elf32_Shdr s;
        ok = ds_file_read(&d->file, 0, &h, sizeof(h)) == DS_OK &&
             ds_file_read(&d->file, h.e_shoff, &s, sizeof(s)) == DS_OK;
        info = ok ? s.sh_info : 0;
    }
    if (!ok)
        return ds_fail(eb, DS_ERR_CORRUPT, "ELF e_phnum is PN_XNUM but section 0 is unreadable");
    ei->phnum = info;
    return DS_OK;
}

static bool elf_read_phdr(ds_dump *d, const elf_info *ei, uint64_t i, uint32_t *type,
                          elf_load *out)
{
    uint64_t off = ei->phoff + i * ei->phentsize;
    if (ei->is64) {
        Elf64_Phdr p;
        if (ds_file_read(&d->file, off, &p, sizeof(p)) != DS_OK)
            return false;
        *type = p.p_type;
        *out = (elf_load){ p.p_paddr, p.p_vaddr, p.p_offset, p.p_filesz };
    } else {
        Elf32_Phdr p;
        if (ds_file_read(&d->file, off, &p, sizeof(p)) != DS_OK)
            return false;
        *type = p.p_type;
        *out = (elf_load){ p.p_paddr, p.p_vaddr, p.p_offset, p.p_filesz };
    }
    return true;
}

/* Collect the non-empty PT_LOAD segments (at most DS_MAX_RUNS). */
static ds_err elf_collect_loads(ds_dump *d, const elf_info *ei, elf_load *loads, size_t *n,
                                ds_errbuf *eb)
{
    if (ei->phnum > (d->file.size / ei->phentsize) ||
        !ds_file_has(&d->file, ei->phoff, ei->phnum * ei->phentsize))
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "ELF program headers (e_phoff 0x%llx, e_phnum %llu) lie past end of file",
                       (unsigned long long)ei->phoff, (unsigned long long)ei->phnum);
    *n = 0;
    for (uint64_t i = 0; i < ei->phnum; i++) {
        uint32_t type;
        elf_load l;
        if (!elf_read_phdr(d, ei, i, &type, &l))
            return ds_fail(eb, DS_ERR_TRUNCATED, "ELF program header %llu cut off",
                           (unsigned long long)i);
        if (type != PT_LOAD || !l.filesz)
            continue;
        if (*n == DS_MAX_RUNS)
            return ds_fail(eb, DS_ERR_CORRUPT, "ELF has more than %u PT_LOAD segments",
                           DS_MAX_RUNS);
        loads[(*n)++] = l;
    }
    return DS_OK;
}

static ds_err elf_build_runs(ds_dump *d, const elf_load *loads, size_t n, ds_errbuf *eb)
{
    bool all_paddr_zero = true;
    for (size_t i = 0; i < n; i++)
        all_paddr_zero &= loads[i].paddr == 0;
    bool use_vaddr = n > 1 && all_paddr_zero;
    if (use_vaddr)
        ds_dump_note(d, "ELF p_paddr all zero: using p_vaddr as physical address");
    ds_run *runs = malloc((n ? n : 1) * sizeof(*runs));
    if (!runs)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate %zu ELF runs", n);
    size_t nr = 0;
    bool partial = false, unaligned = false;
    for (size_t i = 0; i < n; i++) {
        uint64_t pa = use_vaddr ? loads[i].vaddr : loads[i].paddr;
        uint64_t npages = loads[i].filesz / PAGE;
        if (pa & (PAGE - 1)) {
            unaligned = true;
            continue;
        }
        partial |= (loads[i].filesz & (PAGE - 1)) != 0;
        if ((pa >> 12) > DS_MAX_PFN || npages > DS_MAX_PFN - (pa >> 12)) {
            free(runs);
            return ds_fail(eb, DS_ERR_CORRUPT,
                           "ELF PT_LOAD %zu (address 0x%llx, 0x%llx bytes) is out of range", i,
                           (unsigned long long)pa, (unsigned long long)loads[i].filesz);
        }
        runs[nr++] = (ds_run){ .pfn = pa >> 12, .npages = npages, .file_off = loads[i].offset };
    }
    if (unaligned)
        ds_dump_note(d, "ELF PT_LOAD at an address not 4 KiB aligned skipped");
    if (partial)
        ds_dump_note(d, "ELF PT_LOAD size not a page multiple: partial page ignored");
    ds_err e = ds_physmap_init_runs(&d->pm, runs, nr, d->file.size, eb);
    free(runs);
    return e;
}

static ds_arch arch_of_elf(uint16_t m)
{
    switch (m) {
    case EM_X86_64: return DS_ARCH_X64;
    case EM_386: return DS_ARCH_X86; /* PAE or not: decided by the DTB scan */
    case EM_AARCH64: return DS_ARCH_ARM64;
    default: return DS_ARCH_UNKNOWN;
    }
}

static ds_err open_elf(ds_dump *d, ds_errbuf *eb)
{
    d->format = DS_FMT_ELF;
    d->format_name = "elf";
    d->dump_type_name = ds_dump_type_name(d->format, 0);
    elf_info ei = { 0 };
    ds_err e = elf_read_ehdr(d, &ei, eb);
    if (!e)
        e = elf_real_phnum(d, &ei, eb);
    if (e)
        return e;
    d->machine = ei.machine;
    d->arch = arch_of_elf(ei.machine);
    elf_load *loads = malloc(DS_MAX_RUNS * sizeof(*loads));
    if (!loads)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate ELF segment table");
    size_t n = 0;
    e = elf_collect_loads(d, &ei, loads, &n, eb);
    if (!e && !n)
        e = ds_fail(eb, DS_ERR_CORRUPT, "ELF core has no PT_LOAD segment with file data");
    if (!e)
        e = elf_build_runs(d, loads, n, eb);
    free(loads);
    return e;
}

/* ------------------------------------------------------------- raw */

static ds_physmem dump_physmem(ds_dump *d)
{
    return (ds_physmem){ .read = ds_dump_phys_read_cb, .ctx = d,
                         .max_pa = d->pm.max_pfn * PAGE };
}

static ds_arch arch_of_paging(ds_paging m)
{
    switch (m) {
    case DS_PAGING_X64: return DS_ARCH_X64;
    case DS_PAGING_PAE: return DS_ARCH_X86_PAE;
    case DS_PAGING_X86: return DS_ARCH_X86;
    default: return DS_ARCH_UNKNOWN;
    }
}

static ds_paging paging_of_arch(ds_arch a)
{
    switch (a) {
    case DS_ARCH_X64: return DS_PAGING_X64;
    case DS_ARCH_X86_PAE: return DS_PAGING_PAE;
    case DS_ARCH_X86: return DS_PAGING_X86;
    default: return DS_PAGING_NONE;
    }
}

/* DTB from the low stub (x64), else a self-referencing table.  `preset`
 * restricts the self-ref scan to one mode (DS_PAGING_NONE: try all). */
static bool find_dtb(ds_dump *d, open_ctx *cx, ds_paging preset)
{
    ds_physmem pm = dump_physmem(d);
    uint64_t dtb = 0, entry = 0;
    if ((preset == DS_PAGING_NONE || preset == DS_PAGING_X64) &&
        ds_find_dtb_lowstub(&pm, &dtb, &entry) == DS_OK && dtb) {
        d->dtb = dtb;
        d->dtb_source = DS_SRC_LOWSTUB;
        d->arch = DS_ARCH_X64;
        cx->kernel_entry = entry;
        return true;
    }
    ds_paging mode = preset;
    if (ds_find_dtb_selfref(&pm, &mode, &dtb) == DS_OK && dtb) {
        d->dtb = dtb;
        d->dtb_source = DS_SRC_SELFREF;
        if (arch_of_paging(mode) != DS_ARCH_UNKNOWN)
            d->arch = arch_of_paging(mode);
        return true;
    }
    return false;
}

static ds_err open_raw(ds_dump *d, open_ctx *cx, ds_errbuf *eb)
{
    if (d->file.size < RAW_MIN_SIZE)
        return ds_fail(eb, DS_ERR_FORMAT,
                       "unknown format: no PAGEDU64/PAGEDUMP/ELF signature and only %llu bytes",
                       (unsigned long long)d->file.size);
    d->format = DS_FMT_RAW;
    d->format_name = "raw";
    d->dump_type_name = ds_dump_type_name(d->format, 0);
    ds_run run = { .pfn = 0, .npages = d->file.size / PAGE, .file_off = 0 };
    ds_err e = ds_physmap_init_runs(&d->pm, &run, 1, d->file.size, eb);
    if (e)
        return e;
    if (!find_dtb(d, cx, DS_PAGING_NONE))
        return ds_fail(eb, DS_ERR_FORMAT,
                       "unknown format: no dump signature and no kernel page table found "
                       "in a raw reading");
    return DS_OK;
}

/* ---------------------------------------------------- page accounting */

static void account_pages(ds_dump *d)
{
    d->pages_expected = d->pm.pages_present;
    d->pages_missing = d->pm.pages_missing;
    d->pages_present = d->pages_expected - d->pages_missing;
    if (d->pages_missing) {
        d->truncated = true;
        ds_dump_note(d, "%llu of %llu pages lie past end of file",
                     (unsigned long long)d->pages_missing,
                     (unsigned long long)d->pages_expected);
    }
    if (d->format != DS_FMT_CRASH64 && d->format != DS_FMT_CRASH32)
        return;
    if (d->dump_type != DS_DT_TRIAGE && d->required_dump_space > d->file.size) {
        d->truncated = true;
        ds_dump_note(d, "file is %llu bytes, RequiredDumpSpace %llu",
                     (unsigned long long)d->file.size,
                     (unsigned long long)d->required_dump_space);
    }
}

/* --------------------------------------------------- kernel bootstrap */

static void fill_from_kuser(ds_dump *d)
{
    ds_kuser ku;
    memset(&ku, 0, sizeof(ku));
    if (ds_kuser_read(&d->kvas, &ku) != DS_OK) {
        ds_dump_note(d, "KUSER_SHARED_DATA unreadable");
        return;
    }
    if (!d->build && ku.build) {
        d->build = ku.build;
        d->build_source = DS_SRC_KUSER;
        if (!d->major_version)
            d->major_version = ku.major;
    }
    if (!d->system_time && ku.system_time)
        d->system_time = ku.system_time;
    if (d->uptime_100ns < 0 && ku.interrupt_time)
        d->uptime_100ns = ku.interrupt_time;
    if (!d->processors && ku.processors)
        d->processors = ku.processors;
    if (!d->product_type && ku.product_type)
        d->product_type = ku.product_type;
}

/* Build number from the leading digits of NtBuildLab ("19041.1.amd64fre..."). */
static uint32_t build_from_lab(const char *lab)
{
    uint32_t b = 0;
    for (int i = 0; i < 6 && lab[i] >= '0' && lab[i] <= '9'; i++)
        b = b * 10 + (uint32_t)(lab[i] - '0');
    return b;
}

/* Processors from nt!KiProcessorBlock (one KPRCB pointer per CPU, NULL
 * after the last): XP's KUSER_SHARED_DATA has no processor count. */
#define MAX_PROCESSOR_BLOCK 64u

static uint32_t count_processors(const ds_dump *d, uint64_t block)
{
    unsigned ptr = d->kvas.mode == DS_PAGING_X64 ? 8 : 4;
    uint32_t n = 0;
    for (; n < MAX_PROCESSOR_BLOCK; n++) {
        uint64_t v = 0;
        if (ds_vread(&d->kvas, block + (uint64_t)n * ptr, &v, ptr) != DS_OK || !v)
            break;
    }
    return n;
}

static void fill_from_kdbg(ds_dump *d, const ds_kdbg *kd)
{
    d->kdbg_valid = true;
    d->kdbg_encoded = kd->was_encoded;
    if (kd->kern_base)
        d->kernel_base = kd->kern_base;
    d->psp_cid_table = kd->psp_cid_table;
    d->cid_table_source = kd->psp_cid_table ? DS_SRC_KDBG : DS_SRC_NONE;
    d->mm_unloaded_drivers = kd->mm_unloaded_drivers;
    d->mm_last_unloaded_driver = kd->mm_last_unloaded_driver;
    if (!d->processors && kd->ki_processor_block)
        d->processors = count_processors(d, kd->ki_processor_block);
    if (!d->ps_loaded_module_list && !d->ps_active_process_head)
        set_lists(d, kd->ps_loaded_module_list, kd->ps_active_process_head, DS_SRC_KDBG);
    if (!d->pfn_database)
        d->pfn_database = kd->mm_pfn_database;
    if (kd->nt_build_lab &&
        ds_kread_cstr(&d->kvas, kd->nt_build_lab, d->nt_build_lab,
                      sizeof(d->nt_build_lab)) != DS_OK)
        d->nt_build_lab[0] = '\0';
    if (!d->build && build_from_lab(d->nt_build_lab)) {
        d->build = build_from_lab(d->nt_build_lab);
        d->build_source = DS_SRC_KDBG;
    }
}

/* Physical search for the KDBG owner tag when no kernel address is known
 * to start from (raw x86 images have no low stub).  The block's KernBase
 * field names the kernel image, where ds_kdbg_find then locates and
 * validates the block through the page tables.  Bounded by
 * KDBG_PHYS_MAX_HITS candidates; needs the file mapping. */
#define KDBG_PHYS_MAX_HITS 64u

typedef struct kdbg_phys_scan {
    ds_dump *d;
    ds_kdbg *kd;
    unsigned hits;
    bool found;
    uint64_t base;
} kdbg_phys_scan;

static bool kdbg_tag_candidate(kdbg_phys_scan *ks, const uint8_t *tag)
{
    uint32_t size;
    uint64_t kern;
    memcpy(&size, tag + 4, 4);
    memcpy(&kern, tag + 8, 8);
    if (size < DS_KDBG_MIN_SIZE || size > 0x1000)
        return false;
    if (ks->d->kvas.mode != DS_PAGING_X64)
        kern &= 0xffffffffull;
    ds_errbuf eb = { "" };
    if (ds_kdbg_find(&ks->d->kvas, kern & ~0xfffull, ks->kd, &eb) != DS_OK)
        return false;
    ks->base = kern;
    return true;
}

static int kdbg_scan_extent(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off)
{
    (void)pfn;
    kdbg_phys_scan *ks = ctx;
    uint64_t len = npages * DS_PAGE_SIZE;
    const uint8_t *base = ds_file_ptr(&ks->d->file, file_off, (size_t)len);
    if (!base)
        return 0;
    const uint8_t *p = base, *end = base + len;
    while (p + 16 <= end && ks->hits < KDBG_PHYS_MAX_HITS) {
        const uint8_t *t = memmem(p, (size_t)(end - p) - 12, "KDBG", 4);
        if (!t)
            break;
        p = t + 4;
        if (((uintptr_t)(t - base) & 7) != 0) /* OwnerTag sits at +0x10 of an 8-aligned block */
            continue;
        ks->hits++;
        if (kdbg_tag_candidate(ks, t)) {
            ks->found = true;
            return 1;
        }
    }
    return ks->hits >= KDBG_PHYS_MAX_HITS;
}

static bool find_kdbg_physically(ds_dump *d, ds_kdbg *kd)
{
    kdbg_phys_scan ks = { .d = d, .kd = kd };
    ds_physmap_foreach_extent(&d->pm, kdbg_scan_extent, &ks);
    if (ks.found && !kd->kern_base)
        kd->kern_base = ks.base;
    return ks.found;
}

static void find_kdbg(ds_dump *d, const open_ctx *cx)
{
    ds_kdbg *kd = calloc(1, sizeof(*kd));
    ds_errbuf keb = { "" };
    if (!kd) {
        ds_dump_note(d, "KDBG: out of memory");
        return;
    }
    bool ok = d->kdbg_va && ds_kdbg_read(&d->kvas, d->kdbg_va, NULL, kd, &keb) == DS_OK;
    if (!ok) {
        uint64_t hint = d->ps_loaded_module_list ? d->ps_loaded_module_list
                        : d->ps_active_process_head ? d->ps_active_process_head
                        : cx->kernel_entry ? cx->kernel_entry : d->kdbg_va;
        uint64_t base = 0;
        bool have_base =
            hint && ds_find_kernel_base(&d->kvas, hint, KERNEL_BASE_MAX_BACK, &base) == DS_OK;
        if (have_base && !d->kernel_base)
            d->kernel_base = base; /* the image is known even if its KDBG is not */
        if (have_base && ds_kdbg_find(&d->kvas, base, kd, &keb) == DS_OK) {
            ok = true;
            if (d->kdbg_va && d->kdbg_va != kd->va)
                ds_dump_note(d, "header KdDebuggerDataBlock unreadable, KDBG found by scan");
            d->kdbg_va = kd->va;
            d->kdbg_source = DS_SRC_SCAN;
            if (!kd->kern_base)
                kd->kern_base = base;
        } else if (!hint && find_kdbg_physically(d, kd)) {
            ok = true;
            d->kdbg_va = kd->va;
            d->kdbg_source = DS_SRC_SCAN;
        }
    }
    if (ok)
        fill_from_kdbg(d, kd);
    else
        ds_dump_note(d, "KDBG not found%s%s", keb.msg[0] ? ": " : "", keb.msg);
    free(kd);
}

/* DTB search restricted by what the container says about the CPU: a
 * PAGEDUMP header knows PAE or not; an ELF EM_386 core does not, so both
 * 32-bit modes are tried. */
static bool find_dtb_for_arch(ds_dump *d, open_ctx *cx)
{
    if (d->arch == DS_ARCH_ARM64)
        return false; /* no ARM64 translation */
    if (d->arch == DS_ARCH_X86 && d->format != DS_FMT_CRASH32)
        return find_dtb(d, cx, DS_PAGING_PAE) || find_dtb(d, cx, DS_PAGING_X86);
    return find_dtb(d, cx, paging_of_arch(d->arch));
}

static void bootstrap_kernel(ds_dump *d, open_ctx *cx)
{
    if (d->pm.kind == DS_PM_NONE)
        return; /* triage / summary: no physical pages */
    if (!d->dtb && d->format != DS_FMT_RAW && !find_dtb_for_arch(d, cx)) {
        ds_dump_note(d, "no kernel DTB found");
        return;
    }
    ds_paging mode = paging_of_arch(d->arch);
    if (mode == DS_PAGING_NONE) {
        ds_dump_note(d, "no address translation for architecture %s", ds_arch_name(d->arch));
        return;
    }
    d->kvas = (ds_vas){ .mode = mode, .dtb = d->dtb, .read = ds_dump_phys_read_cb, .ctx = d,
                        .cache_id = ds_vtop_cache_id() };
    fill_from_kuser(d);
    find_kdbg(d, cx);
}

/* Profile auto-detection, for images whose build could not be read (no
 * header, KUSER_SHARED_DATA and KDBG unreadable).  Search physical memory
 * for the System process's ImageFileName ("System" + 9 NULs) and, for each
 * hit and each profile of the architecture, check what that profile says
 * should surround it: PID 4 and two kernel list pointers in the same page;
 * then, through the page tables, that the VA its list neighbour gives for
 * it holds a process object named System with PID 4, and that the first
 * entry of its thread list is a thread of PID 4.  The first profile that
 * passes wins.  Bounded by DETECT_MAX_HITS name hits. */
#define DETECT_MAX_HITS 256u

typedef struct detect_ctx {
    ds_dump *d;
    bool is64;
    unsigned hits;
    const ds_profile *found;
    uint64_t head;          /* PsActiveProcessHead = System's Blink */
} detect_ctx;

static bool kva_ok(const ds_dump *d, uint64_t v)
{
    return ds_is_kernel_ptr(ds_paging_ptr_size(d->kvas.mode), v);
}

static uint64_t rd_ptr_buf(const uint8_t *b, unsigned ptr)
{
    uint64_t v = 0;
    memcpy(&v, b, ptr);
    return v;
}

static bool system_fits(detect_ctx *dc, const ds_profile *p, const uint8_t *page, size_t name_off)
{
    ds_dump *d = dc->d;
    unsigned ptr = p->ptr_size;
    if (p->ep_name == DS_OFF_NONE || p->ep_pid == DS_OFF_NONE || p->ep_links == DS_OFF_NONE ||
        p->ep_thread_list == DS_OFF_NONE || p->et_thread_list == DS_OFF_NONE ||
        p->et_cid_pid == DS_OFF_NONE || name_off < p->ep_name)
        return false;
    size_t body = name_off - p->ep_name; /* may be negative: checked per field */
    if (body + p->ep_pid < body || p->ep_pid > p->ep_name)
        return false;
    if (name_off - (p->ep_name - p->ep_pid) + ptr > DS_PAGE_SIZE ||
        name_off - (p->ep_name - p->ep_links) + 2 * ptr > DS_PAGE_SIZE)
        return false;
    if (rd_ptr_buf(page + name_off - (p->ep_name - p->ep_pid), ptr) != 4)
        return false;
    uint64_t flink = rd_ptr_buf(page + name_off - (p->ep_name - p->ep_links), ptr);
    uint64_t blink = rd_ptr_buf(page + name_off - (p->ep_name - p->ep_links) + ptr, ptr);
    if (!kva_ok(d, flink) || !kva_ok(d, blink))
        return false;
    uint64_t me = 0, pid = 0, tl = 0, tpid = 0;
    if (ds_kread_ptr(d, flink + ptr, &me) != DS_OK || !kva_ok(d, me))
        return false;
    uint64_t va = me - p->ep_links;
    uint8_t type = 0, ttype = 0;
    char name[16] = "";
    if (ds_kread(d, va, &type, 1) != DS_OK || type != 3 ||
        ds_kread_ptr(d, va + p->ep_pid, &pid) != DS_OK || pid != 4 ||
        ds_kread(d, va + p->ep_name, name, 15) != DS_OK || memcmp(name, "System", 7) != 0)
        return false;
    if (ds_kread_ptr(d, va + p->ep_thread_list, &tl) != DS_OK || !kva_ok(d, tl))
        return false;
    uint64_t th = tl - p->et_thread_list;
    if (ds_kread(d, th, &ttype, 1) != DS_OK || ttype != 6 ||
        ds_kread_ptr(d, th + p->et_cid_pid, &tpid) != DS_OK || tpid != 4)
        return false;
    dc->head = blink;
    return true;
}

static int detect_in_extent(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off)
{
    (void)pfn;
    detect_ctx *dc = ctx;
    static const char pat[15] = "System";
    for (uint64_t i = 0; i < npages && dc->hits < DETECT_MAX_HITS; i++) {
        const uint8_t *page = ds_file_ptr(&dc->d->file, file_off + i * DS_PAGE_SIZE, DS_PAGE_SIZE);
        if (!page)
            return 1;
        const uint8_t *p = page;
        while ((size_t)(p - page) + sizeof(pat) <= DS_PAGE_SIZE) {
            const uint8_t *h = memmem(p, DS_PAGE_SIZE - (size_t)(p - page), pat, sizeof(pat));
            if (!h)
                break;
            p = h + 1;
            dc->hits++;
            for (unsigned k = 0; k < ds_profile_count; k++) {
                const ds_profile *pr = &ds_profiles[k];
                if ((bool)pr->is64 == dc->is64 && system_fits(dc, pr, page, (size_t)(h - page))) {
                    dc->found = pr;
                    return 1;
                }
            }
        }
    }
    return dc->hits >= DETECT_MAX_HITS;
}

static void detect_profile(ds_dump *d, bool is64)
{
    if (d->kvas.mode == DS_PAGING_NONE)
        return;
    detect_ctx dc = { .d = d, .is64 = is64 };
    ds_physmap_foreach_extent(&d->pm, detect_in_extent, &dc);
    if (!dc.found)
        return;
    d->profile = dc.found;
    d->profile_match = DS_PROFILE_DETECTED;
    if (!d->ps_active_process_head) {
        d->ps_active_process_head = dc.head;
        d->list_head_source = DS_SRC_SCAN;
    }
    ds_dump_note(d, "build unknown: profile %s detected from the System process", dc.found->key);
}

static void choose_profile(ds_dump *d, const open_ctx *cx)
{
    const char *key = cx->opts ? cx->opts->force_profile : NULL;
    if (key) {
        d->profile = ds_profile_by_key(key);
        d->profile_match = DS_PROFILE_FORCED;
        if (!d->profile)
            ds_dump_note(d, "unknown profile '%s'", key);
        return;
    }
    bool is64 = d->arch == DS_ARCH_X64;
    if (!is64 && d->arch != DS_ARCH_X86 && d->arch != DS_ARCH_X86_PAE) {
        ds_dump_note(d, "no profile for architecture %s", ds_arch_name(d->arch));
        return;
    }
    if (!d->build) {
        detect_profile(d, is64);
        if (!d->profile)
            ds_dump_note(d, "build unknown: no profile");
        return;
    }
    d->profile = ds_profile_select(d->build, is64, &d->profile_match);
    if (!d->profile)
        ds_dump_note(d, "no profile for build %u", d->build);
}

/* The DTB a self-referencing page-directory search finds may be any
 * process's (every page directory maps itself; kernel space is shared,
 * so translation works either way), but `dtb` means the kernel's: take
 * the System process's DirectoryTableBase once the list head and the
 * profile are known, when it translates the same kernel space. */
static void prefer_system_dtb(ds_dump *d)
{
    const ds_profile *p = d->profile;
    if (!p || d->dtb_source != DS_SRC_SELFREF || !d->ps_active_process_head ||
        d->kvas.mode == DS_PAGING_NONE || p->ep_dtb == DS_OFF_NONE)
        return;
    unsigned ptr = p->ptr_size;
    uint64_t first = 0, pid = 0, dtb = 0;
    if (ds_vread(&d->kvas, d->ps_active_process_head, &first, ptr) != DS_OK ||
        ds_vread(&d->kvas, first - p->ep_links + p->ep_pid, &pid, ptr) != DS_OK || pid != 4 ||
        ds_vread(&d->kvas, first - p->ep_links + p->ep_dtb, &dtb, ptr) != DS_OK)
        return;
    dtb &= d->kvas.mode == DS_PAGING_PAE ? ~0x1full : ~0xfffull;
    if (!dtb || dtb == d->dtb)
        return;
    ds_vas sys = d->kvas;
    sys.dtb = dtb;
    uint64_t check = 0;
    if (ds_vread(&sys, d->ps_active_process_head, &check, ptr) != DS_OK || check != first)
        return; /* not a page directory of this kernel */
    d->dtb = dtb;
    d->kvas.dtb = dtb;
    d->dtb_source = DS_SRC_SYSTEM_PROCESS;
}

/* ------------------------------------------------------ open / close */

static ds_err detect_and_map(ds_dump *d, open_ctx *cx, ds_errbuf *eb)
{
    uint8_t magic[8] = { 0 };
    size_t n = d->file.size < sizeof(magic) ? (size_t)d->file.size : sizeof(magic);
    if (ds_file_read(&d->file, 0, magic, n) != DS_OK)
        return ds_fail(eb, DS_ERR_IO, "cannot read the first bytes");
    if (n == 8 && memcmp(magic, "PAGEDU64", 8) == 0)
        return open_crash64(d, eb);
    if (n == 8 && memcmp(magic, "PAGEDUMP", 8) == 0)
        return open_crash32(d, eb);
    if (n >= 4 && memcmp(magic, "PAGE", 4) == 0)
        return ds_fail(eb, DS_ERR_FORMAT, "PAGE signature with unknown ValidDump \"%.4s\"",
                       n == 8 ? (const char *)magic + 4 : "");
    if (n >= 4 && memcmp(magic, ELFMAG, SELFMAG) == 0)
        return open_elf(d, eb);
    return open_raw(d, cx, eb);
}

ds_err ds_dump_open(ds_dump **out, const char *path, const ds_dump_opts *opts,
                    ds_errbuf *eb)
{
    if (!out || !path)
        return ds_fail(eb, DS_ERR_ARG, "no output or path");
    *out = NULL;
    ds_dump *d = calloc(1, sizeof(*d));
    if (!d)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate the dump");
    d->file.fd = -1;
    d->uptime_100ns = -1;
    d->format_name = "unknown";
    d->dump_type_name = "unknown";
    d->path = strdup(path);
    ds_err e = d->path ? DS_OK : ds_fail(eb, DS_ERR_NOMEM, "cannot copy the path");
    unsigned ff = opts ? opts->file_flags : 0;
    if (!e)
        e = opts && opts->use_fd ? ds_file_open_fd(&d->file, opts->fd, ff, eb)
                                 : ds_file_open(&d->file, path, ff, eb);
    open_ctx cx = { .opts = opts };
    if (!e)
        e = detect_and_map(d, &cx, eb);
    if (e) {
        ds_dump_close(d);
        return e;
    }
    account_pages(d);
    bootstrap_kernel(d, &cx);
    choose_profile(d, &cx);
    prefer_system_dtb(d);
    ds_triage_read_objects(d);
    *out = d;
    return DS_OK;
}

void ds_dump_close(ds_dump *d)
{
    if (!d)
        return;
    ds_triage_free(d->triage);
    ds_physmap_free(&d->pm);
    free(d->owned_bitmap);
    if (d->file.fd >= 0 || atomic_load(&d->file.map))
        ds_file_close(&d->file);
    free(d->path);
    free(d);
}
