/* kdbg.c - KDDEBUGGER_DATA64 (KDBG): decoding, reading, and finding it
 * inside the kernel image without symbols.
 *
 * Encoding (Windows 8+ x64, offsets-notes.md section 6): while the byte
 * nt!KdpDataBlockEncoded is non-zero, each 8-byte word w of
 * nt!KdDebuggerDataBlock decodes as
 *     w = ROL64(w ^ KiWaitNever, KiWaitNever & 0xff)   (count mod 64)
 *     w = BSWAP64(w ^ &KdpDataBlockEncoded)             (the flag's VA)
 *     w = w ^ KiWaitAlways
 * and ds_kdbg_encode applies the inverse steps in reverse order.
 *
 * Finding KDBG from the kernel base:
 *   1. parse the PE header of the image (bounded: SizeOfImage <= 64 MiB,
 *      <= 96 sections, section table inside the first page);
 *   2. search every non-executable section, page by page, for the owner
 *      tag "KDBG" at 8-aligned positions (tag at block+0x10) and accept
 *      the first block that ds_kdbg_read validates and whose KernBase is
 *      this image;
 *   3. x64 only: find nt!KdCopyDataBlock in the executable sections by
 *      its shape (kdcopy.c: any instruction order, byte prefilter before
 *      disassembly), read the two keys it names and decode the block it
 *      names; the first proposal whose block decodes to a valid KDBG of
 *      this image wins.
 * Each search reads at most KDBG_MAX_PAGES pages and tries at most
 * KDBG_MAX_CANDIDATES tag hits or prefiltered code candidates, whatever
 * the section table says (sections may overlap or repeat in a hostile
 * image).
 */
#include "kboot.h"

#include <string.h>

#include "dumpfmt.h"
#include "kdcopy.h"
#include "le.h"

#define PAGE 0x1000ull
#define KDBG_MAX_SIZE 0x1000u
#define PE_MAX_IMAGE (64ull << 20)
#define PE_MAX_SECTIONS 96u
#define KDBG_MAX_CANDIDATES 4096u  /* tag hits / prefiltered code candidates per search */
#define KDBG_MAX_PAGES (PE_MAX_IMAGE / PAGE) /* pages read per search, all sections */
#define KBASE_MAX_BACK (1ull << 30) /* cap on ds_find_kernel_base's max_back */

#define SCN_CNT_CODE 0x00000020u
#define SCN_MEM_EXECUTE 0x20000000u

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static uint64_t rol64(uint64_t v, unsigned n)
{
    n &= 63;
    return n ? (v << n) | (v >> (64 - n)) : v;
}

static uint64_t ror64(uint64_t v, unsigned n)
{
    n &= 63;
    return n ? (v >> n) | (v << (64 - n)) : v;
}

void ds_kdbg_decode(uint64_t *words, size_t n, const ds_kdbg_keys *k)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t w = words[i];
        w = rol64(w ^ k->ki_wait_never, (unsigned)(k->ki_wait_never & 0xff));
        w = __builtin_bswap64(w ^ k->kdp_data_block_encoded);
        words[i] = w ^ k->ki_wait_always;
    }
}

void ds_kdbg_encode(uint64_t *words, size_t n, const ds_kdbg_keys *k)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t w = words[i] ^ k->ki_wait_always;
        w = __builtin_bswap64(w) ^ k->kdp_data_block_encoded;
        words[i] = ror64(w, (unsigned)(k->ki_wait_never & 0xff)) ^ k->ki_wait_never;
    }
}

/* ------------------------------------------------------------------ */
/* Reading and validating a block                                      */
/* ------------------------------------------------------------------ */

/* A pointer that can only be a kernel address in this paging mode. */
static bool kernel_ptr(const ds_vas *kvas, uint64_t v)
{
    return ds_is_kernel_ptr(ds_paging_ptr_size(kvas->mode), v);
}

/* Pointer field at off of the decoded block (x86 targets store 32-bit
 * pointers in 64-bit slots: mask them). */
static uint64_t kdbg_ptr(const ds_vas *kvas, const ds_kdbg *k, unsigned off)
{
    if (off + 8 > k->size || off + 8 > sizeof(k->raw))
        return 0;
    uint64_t v = ds_le64(k->raw + off);
    return kvas->mode == DS_PAGING_X64 ? v : (v & 0xffffffffull);
}

static uint16_t kdbg_u16(const ds_kdbg *k, unsigned off)
{
    if (off + 2 > k->size || off + 2 > sizeof(k->raw))
        return 0;
    return ds_le16(k->raw + off);
}

static void fill_fields(const ds_vas *kvas, ds_kdbg *out)
{
    out->kern_base = kdbg_ptr(kvas, out, 0x18);
    out->ps_loaded_module_list = kdbg_ptr(kvas, out, 0x48);
    out->ps_active_process_head = kdbg_ptr(kvas, out, 0x50);
    out->psp_cid_table = kdbg_ptr(kvas, out, 0x58);
    out->obp_type_object_type = kdbg_ptr(kvas, out, DS_KDBG_OBP_TYPE_OBJECT_TYPE);
    out->mm_pfn_database = kdbg_ptr(kvas, out, DS_KDBG_MM_PFN_DATABASE);
    out->nt_build_lab = kdbg_ptr(kvas, out, DS_KDBG_NT_BUILD_LAB);
    out->ki_processor_block = kdbg_ptr(kvas, out, DS_KDBG_KI_PROCESSOR_BLOCK);
    out->mm_unloaded_drivers = kdbg_ptr(kvas, out, DS_KDBG_MM_UNLOADED_DRIVERS);
    out->mm_last_unloaded_driver = kdbg_ptr(kvas, out, DS_KDBG_MM_LAST_UNLOADED_DRIVER);
    out->size_eprocess = kdbg_u16(out, DS_KDBG_SIZE_EPROCESS);
    out->offset_eprocess_peb = kdbg_u16(out, DS_KDBG_OFFSET_EPROCESS_PEB);
    out->offset_eprocess_parent_cid = kdbg_u16(out, DS_KDBG_OFFSET_EPROCESS_PARENT_CID);
    out->offset_eprocess_dtb = kdbg_u16(out, DS_KDBG_OFFSET_EPROCESS_DTB);
    out->size_ethread = kdbg_u16(out, DS_KDBG_SIZE_ETHREAD);
    out->offset_prcb_current_thread = kdbg_u16(out, DS_KDBG_OFFSET_PRCB_CURRENT_THREAD);
}

ds_err ds_kdbg_read(const ds_vas *kvas, uint64_t va, const ds_kdbg_keys *keys,
                    ds_kdbg *out, ds_errbuf *eb)
{
    if (!kvas || !out)
        return ds_fail(eb, DS_ERR_ARG, "ds_kdbg_read: NULL argument");
    memset(out, 0, sizeof(*out));
    out->va = va;

    uint64_t head[3];
    ds_err err = ds_vread(kvas, va, head, sizeof(head));
    if (err)
        return ds_fail(eb, err, "KDBG at 0x%llx unreadable", (unsigned long long)va);
    if ((uint32_t)head[2] != DS_SIG_KDBG && keys) {
        ds_kdbg_decode(head, 3, keys);
        out->was_encoded = true;
    }
    if ((uint32_t)head[2] != DS_SIG_KDBG)
        return ds_fail(eb, DS_ERR_NOT_FOUND, "no KDBG owner tag at 0x%llx",
                       (unsigned long long)va);
    uint32_t size = (uint32_t)(head[2] >> 32);
    if (size < DS_KDBG_MIN_SIZE || size > KDBG_MAX_SIZE)
        return ds_fail(eb, DS_ERR_CORRUPT, "KDBG at 0x%llx: Header.Size 0x%x out of range",
                       (unsigned long long)va, size);
    out->size = size;

    size_t len = size < sizeof(out->raw) ? size : sizeof(out->raw);
    len = (len + 7) & ~(size_t)7;
    err = ds_vread(kvas, va, out->raw, len);
    if (err)
        return ds_fail(eb, err, "KDBG at 0x%llx: block of 0x%x bytes unreadable",
                       (unsigned long long)va, size);
    if (out->was_encoded) {
        uint64_t words[sizeof(out->raw) / 8];
        memcpy(words, out->raw, len);
        ds_kdbg_decode(words, len / 8, keys);
        memcpy(out->raw, words, len);
    }
    if (ds_le32(out->raw + 0x10) != DS_SIG_KDBG)
        return ds_fail(eb, DS_ERR_CORRUPT, "KDBG at 0x%llx changed while read",
                       (unsigned long long)va);

    fill_fields(kvas, out);
    if (!kernel_ptr(kvas, out->kern_base) || (out->kern_base & (PAGE - 1)))
        return ds_fail(eb, DS_ERR_CORRUPT, "KDBG at 0x%llx: KernBase 0x%llx is not a kernel image",
                       (unsigned long long)va, (unsigned long long)out->kern_base);
    if (!kernel_ptr(kvas, out->ps_active_process_head) ||
        !kernel_ptr(kvas, out->ps_loaded_module_list))
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "KDBG at 0x%llx: PsActiveProcessHead/PsLoadedModuleList not kernel VAs",
                       (unsigned long long)va);
    return DS_OK;
}

/* ------------------------------------------------------------------ */
/* PE image parsing                                                    */
/* ------------------------------------------------------------------ */

typedef struct pe_section {
    uint32_t va;      /* RVA */
    uint32_t vsize;
    uint32_t chars;
} pe_section;

typedef struct pe_image {
    uint64_t base;
    uint32_t size_of_image;
    uint16_t machine;
    unsigned nsections;
    pe_section sec[PE_MAX_SECTIONS];
} pe_image;

/* Parse the headers in the first page of an image.  Every offset is
 * checked against the page. */
static bool pe_parse(const uint8_t *pg, uint64_t base, pe_image *img)
{
    if (pg[0] != 'M' || pg[1] != 'Z')
        return false;
    uint32_t lfanew = ds_le32(pg + 0x3c);
    if (lfanew < 0x40 || lfanew > PAGE - 0x18 - 0x40 || (lfanew & 3))
        return false;
    const uint8_t *nt = pg + lfanew;
    if (memcmp(nt, "PE\0\0", 4) != 0)
        return false;
    uint16_t machine = ds_le16(nt + 4);
    uint16_t nsec = ds_le16(nt + 6);
    uint16_t opt_size = ds_le16(nt + 0x14);
    uint16_t magic = ds_le16(nt + 0x18);
    if (magic != 0x20b && magic != 0x10b)
        return false;
    if (opt_size < 0x40 || nsec == 0 || nsec > PE_MAX_SECTIONS)
        return false;
    uint64_t sec_off = (uint64_t)lfanew + 0x18 + opt_size;
    if (sec_off + (uint64_t)nsec * 40 > PAGE)
        return false;
    uint32_t soi = ds_le32(nt + 0x18 + 0x38);
    if (soi < PAGE || soi > PE_MAX_IMAGE)
        return false;

    img->base = base;
    img->size_of_image = soi;
    img->machine = machine;
    img->nsections = nsec;
    for (unsigned i = 0; i < nsec; i++) {
        const uint8_t *s = pg + sec_off + i * 40;
        img->sec[i].vsize = ds_le32(s + 8);
        img->sec[i].va = ds_le32(s + 12);
        img->sec[i].chars = ds_le32(s + 36);
    }
    return true;
}

static bool machine_matches(const ds_vas *kvas, uint16_t machine)
{
    return kvas->mode == DS_PAGING_X64 ? machine == DS_MACHINE_AMD64
                                       : machine == DS_MACHINE_I386;
}

ds_err ds_find_kernel_base(const ds_vas *kvas, uint64_t hint, uint64_t max_back,
                           uint64_t *base)
{
    if (!kvas || !base)
        return DS_ERR_ARG;
    uint8_t pg[PAGE];
    pe_image img;
    uint64_t va = hint & ~(PAGE - 1);
    if (max_back > KBASE_MAX_BACK)
        max_back = KBASE_MAX_BACK;

    for (uint64_t back = 0; back <= max_back; back += PAGE, va -= PAGE) {
        if (!kernel_ptr(kvas, va))
            break; /* left the kernel half (also stops wrap-around) */
        uint16_t mz;
        if (ds_vread(kvas, va, &mz, 2) != DS_OK || mz != 0x5a4d) /* "MZ" */
            continue;
        if (ds_vread(kvas, va, pg, PAGE) != DS_OK)
            continue;
        if (!pe_parse(pg, va, &img) || !machine_matches(kvas, img.machine))
            continue;
        if (hint - va >= img.size_of_image)
            continue; /* an image that ends before the hint */
        *base = va;
        return DS_OK;
    }
    return DS_ERR_NOT_FOUND;
}

/* Section range [start, end) clipped to the image; false when empty. */
static bool section_range(const pe_image *img, const pe_section *s, uint64_t *start,
                          uint64_t *end)
{
    uint64_t lo = s->va, hi = (uint64_t)s->va + s->vsize;
    if (lo >= img->size_of_image)
        return false;
    if (hi > img->size_of_image)
        hi = img->size_of_image;
    if (hi <= lo)
        return false;
    *start = img->base + (lo & ~(PAGE - 1));
    *end = img->base + hi;
    return true;
}

static bool is_exec(const pe_section *s)
{
    return (s->chars & (SCN_MEM_EXECUTE | SCN_CNT_CODE)) != 0;
}

/* Work left to one search over the image. */
typedef struct scan_budget {
    uint64_t pages;
    unsigned candidates;
} scan_budget;

static scan_budget new_budget(void)
{
    return (scan_budget){KDBG_MAX_PAGES, KDBG_MAX_CANDIDATES};
}

static bool spend_page(scan_budget *b)
{
    if (!b->pages)
        return false;
    b->pages--;
    return true;
}

static bool spend_candidate(scan_budget *b)
{
    if (!b->candidates)
        return false;
    b->candidates--;
    return true;
}

/* ------------------------------------------------------------------ */
/* Tag search                                                          */
/* ------------------------------------------------------------------ */

static bool tag_search_section(const ds_vas *kvas, const pe_image *img, uint64_t start,
                               uint64_t end, scan_budget *b, ds_kdbg *out)
{
    uint8_t pg[PAGE];
    for (uint64_t va = start; va < end && spend_page(b); va += PAGE) {
        if (ds_vread(kvas, va, pg, PAGE) != DS_OK)
            continue;
        for (unsigned off = 0x10; off + 4 <= PAGE; off += 8) {
            if (ds_le32(pg + off) != DS_SIG_KDBG)
                continue;
            if (!spend_candidate(b))
                return false;
            if (ds_kdbg_read(kvas, va + off - 0x10, NULL, out, NULL) == DS_OK &&
                out->kern_base == img->base)
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* KdCopyDataBlock (kdcopy.c finds it; a proposal is accepted when its */
/* keys decode a valid KDBG of this image)                             */
/* ------------------------------------------------------------------ */

typedef struct kdcopy_try {
    const ds_vas *kvas;
    const pe_image *img;
    ds_kdbg *out;
} kdcopy_try;

static bool try_kdcopy(void *ctx, const ds_kdcopy_refs *r)
{
    kdcopy_try *t = ctx;
    ds_kdbg_keys keys = {.kdp_data_block_encoded = r->flag_va};
    if (ds_vread_u64(t->kvas, r->never_va, &keys.ki_wait_never) != DS_OK ||
        ds_vread_u64(t->kvas, r->always_va, &keys.ki_wait_always) != DS_OK)
        return false;
    return ds_kdbg_read(t->kvas, r->block_va, &keys, t->out, NULL) == DS_OK &&
           t->out->kern_base == t->img->base;
}

static bool code_search(const ds_vas *kvas, const pe_image *img, ds_kdbg *out)
{
    ds_kdcopy_finder *f = ds_kdcopy_open();
    if (!f)
        return false;
    kdcopy_try t = {kvas, img, out};
    ds_kdcopy_budget b = {KDBG_MAX_PAGES, KDBG_MAX_CANDIDATES};
    bool found = false;
    for (unsigned i = 0; i < img->nsections && !found; i++) {
        uint64_t s, e;
        if (is_exec(&img->sec[i]) && section_range(img, &img->sec[i], &s, &e))
            found = ds_kdcopy_search(f, kvas, s, e, &b, try_kdcopy, &t);
    }
    ds_kdcopy_close(f);
    return found;
}

ds_err ds_kdbg_find(const ds_vas *kvas, uint64_t kernel_base, ds_kdbg *out, ds_errbuf *eb)
{
    if (!kvas || !out)
        return ds_fail(eb, DS_ERR_ARG, "ds_kdbg_find: NULL argument");
    uint8_t pg[PAGE];
    pe_image img;
    ds_err err = ds_vread(kvas, kernel_base, pg, PAGE);
    if (err)
        return ds_fail(eb, err, "kernel image header at 0x%llx unreadable",
                       (unsigned long long)kernel_base);
    if (!pe_parse(pg, kernel_base, &img) || !machine_matches(kvas, img.machine))
        return ds_fail(eb, DS_ERR_FORMAT, "no valid PE image at 0x%llx",
                       (unsigned long long)kernel_base);

    scan_budget b = new_budget();
    for (unsigned i = 0; i < img.nsections; i++) {
        uint64_t s, e;
        if (!is_exec(&img.sec[i]) && section_range(&img, &img.sec[i], &s, &e) &&
            tag_search_section(kvas, &img, s, e, &b, out))
            return DS_OK;
    }
    if (kvas->mode == DS_PAGING_X64 && code_search(kvas, &img, out))
        return DS_OK;
    return ds_fail(eb, DS_ERR_NOT_FOUND, "KDBG not found in the kernel image at 0x%llx",
                   (unsigned long long)kernel_base);
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */
/* ------------------------------------------------------------------ */

ds_err ds_kread_cstr(const ds_vas *kvas, uint64_t va, char *buf, size_t cap)
{
    if (!kvas || !buf || cap == 0)
        return DS_ERR_ARG;
    size_t n = 0;
    buf[0] = 0;
    while (n + 1 < cap) {
        /* read up to the end of the page or of the buffer */
        size_t chunk = (size_t)(PAGE - ((va + n) & (PAGE - 1)));
        if (chunk > cap - 1 - n)
            chunk = cap - 1 - n;
        ds_err err = ds_vread(kvas, va + n, buf + n, chunk);
        if (err) {
            buf[n] = 0;
            return err;
        }
        for (size_t i = n; i < n + chunk; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c == 0)
                return DS_OK;
            if (c < 0x20 || c > 0x7e) {
                buf[i] = 0;
                return DS_ERR_CORRUPT;
            }
        }
        n += chunk;
    }
    buf[n] = 0;
    return DS_ERR_TRUNCATED;
}
