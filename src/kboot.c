/* kboot.c - finding the kernel page tables and KUSER_SHARED_DATA in
 * physical memory without a dump header or symbols.
 *
 * DTB discovery (facts: anchors.md section 2(b), MemProcFS/memflow rules):
 *   1. x64 low stub: the PROCESSOR_START_BLOCK the firmware-to-kernel
 *      trampoline leaves in the first MiB.  Page by page: qword @0 masked
 *      0xffffffffffff00ff == 0x00000001000600e9 (a jmp plus fixed header),
 *      kernel entry @0x70 masked 0xfffff80000000003 == 0xfffff80000000000,
 *      PML4 @0xa0 with (v & 0xffffff0000000fff) == 0 and below max_pa.
 *      The PML4 must then pass the self-reference validation below.
 *   2. Self-referencing top-level table, first in [0, 16 MiB) then in
 *      [16 MiB, 64 MiB) (clipped to max_pa), for each paging mode in turn:
 *      x64  page P is a PML4 when
 *           - some entry 256..511 maps P itself with P|RW and no PS:
 *             (e & 0x0000fffffffff083) == P | 3;
 *           - entry 0, if present, names a frame below max_pa;
 *           - at least 6 kernel entries (256..511) are present, RW,
 *             supervisor, not large, not NX ((e & 0x8000000000000087) ==
 *             3) with their frame below max_pa;
 *           - more than 0x40 zero entries in each half (a System PML4 is
 *             sparse; a page of random data or of other tables is not).
 *      PAE  a 32-byte aligned PDPT of 4 present entries (reserved bits
 *           1,2,5..8 and 52..63 clear, frames below max_pa and distinct)
 *           whose PD #3 maps PD #0..#3 in its entries 0..3 (the self-map
 *           at 0xc0000000) with P|RW.  The DTB is the PDPT address.
 *      x86  page P is a page directory when its entry 0x300 maps P with
 *           P|RW and no PS, at least 6 entries 0x200..0x3ff are present
 *           supervisor with frames below max_pa, and more than 0x40 user
 *           entries (0..0x1ff) are zero.
 *      x64 is tried first because its rule is the strictest; x86 last
 *      because a 4-byte rule is the easiest to meet by chance.
 *
 * KUSER_SHARED_DATA sits at a fixed VA in every build; its fields give
 * the version, product type, time and uptime without any symbol. */
#include "kboot.h"

#include <string.h>

#include "le.h"

#define PAGE 0x1000ull
#define LOWSTUB_LIMIT 0x100000ull
#define SELFREF_NEAR 0x1000000ull   /* 16 MiB */
#define SELFREF_FAR 0x4000000ull    /* 64 MiB */

#define PFN64(e) ((e) & 0x000ffffffffff000ull)

/* A frame address that is a whole page below max_pa. */
static bool frame_ok(const ds_physmem *pm, uint64_t pa)
{
    return pa < pm->max_pa && pm->max_pa - pa >= PAGE;
}

static bool read_page(const ds_physmem *pm, uint64_t pa, uint8_t *buf)
{
    return frame_ok(pm, pa) && pm->read(pm->ctx, pa, buf, PAGE) == DS_OK;
}

/* ------------------------------------------------------------------ */
/* x64                                                                 */
/* ------------------------------------------------------------------ */

static bool pml4_valid(const ds_physmem *pm, uint64_t pa, const uint8_t *page)
{
    bool selfref = false;
    unsigned kernel_ok = 0, zero_user = 0, zero_kernel = 0;

    uint64_t e0 = ds_le64(page);
    if ((e0 & 1) && !frame_ok(pm, PFN64(e0)))
        return false;
    for (unsigned i = 0; i < 512; i++) {
        uint64_t e = ds_le64(page + i * 8);
        if (i < 256) {
            zero_user += e == 0;
            continue;
        }
        zero_kernel += e == 0;
        if ((e & 0x0000fffffffff083ull) == (pa | 3))
            selfref = true;
        if ((e & 0x8000000000000087ull) == 3 && frame_ok(pm, PFN64(e)))
            kernel_ok++;
    }
    return selfref && kernel_ok >= 6 && zero_user > 0x40 && zero_kernel > 0x40;
}

ds_err ds_find_dtb_lowstub(const ds_physmem *pm, uint64_t *dtb, uint64_t *kernel_entry)
{
    if (!pm || !pm->read || !dtb)
        return DS_ERR_ARG;
    uint8_t page[PAGE];
    uint8_t pml4[PAGE];
    uint64_t end = pm->max_pa < LOWSTUB_LIMIT ? pm->max_pa : LOWSTUB_LIMIT;

    for (uint64_t pa = 0; pa + PAGE <= end; pa += PAGE) {
        if (!read_page(pm, pa, page))
            continue;
        if ((ds_le64(page) & 0xffffffffffff00ffull) != 0x00000001000600e9ull)
            continue;
        uint64_t entry = ds_le64(page + 0x70);
        if ((entry & 0xfffff80000000003ull) != 0xfffff80000000000ull)
            continue;
        uint64_t cr3 = ds_le64(page + 0xa0);
        if ((cr3 & 0xffffff0000000fffull) != 0 || !frame_ok(pm, cr3))
            continue;
        if (!read_page(pm, cr3, pml4) || !pml4_valid(pm, cr3, pml4))
            continue;
        *dtb = cr3;
        if (kernel_entry)
            *kernel_entry = entry;
        return DS_OK;
    }
    return DS_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------------ */
/* PAE                                                                 */
/* ------------------------------------------------------------------ */

static bool pdpte_ok(const ds_physmem *pm, uint64_t e)
{
    return (e & 1) && (e & 0xfff00000000001e6ull) == 0 && frame_ok(pm, PFN64(e));
}

/* The 4 entries at slot are a PDPT whose PD #3 self-maps the 4 PDs. */
static bool pdpt_valid(const ds_physmem *pm, const uint8_t *slot)
{
    uint64_t pd[4];
    for (unsigned i = 0; i < 4; i++) {
        uint64_t e = ds_le64(slot + i * 8);
        if (!pdpte_ok(pm, e))
            return false;
        pd[i] = PFN64(e);
        for (unsigned j = 0; j < i; j++)
            if (pd[j] == pd[i])
                return false;
    }
    uint64_t self[4];
    if (pm->read(pm->ctx, pd[3], self, sizeof(self)) != DS_OK)
        return false;
    for (unsigned i = 0; i < 4; i++)
        if ((self[i] & 0x0000fffffffff083ull) != (pd[i] | 3))
            return false;
    return true;
}

static bool find_pae_in_page(const ds_physmem *pm, uint64_t pa, const uint8_t *page,
                             uint64_t *dtb)
{
    for (unsigned off = 0; off < PAGE; off += 32) {
        /* cheap filter before the full check */
        if ((ds_le64(page + off) & 0x1e7) != 1 || (ds_le64(page + off + 24) & 0x1e7) != 1)
            continue;
        if (pdpt_valid(pm, page + off)) {
            *dtb = pa + off;
            return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* x86 non-PAE                                                         */
/* ------------------------------------------------------------------ */

static bool pd32_valid(const ds_physmem *pm, uint64_t pa, const uint8_t *page)
{
    if (pa > 0xfffff000ull)
        return false;
    if ((ds_le32(page + 0x300 * 4) & 0xfffff083u) != (uint32_t)(pa | 3))
        return false;
    unsigned kernel_ok = 0, zero_user = 0;
    for (unsigned i = 0; i < 0x200; i++)
        zero_user += ds_le32(page + i * 4) == 0;
    for (unsigned i = 0x200; i < 0x400; i++) {
        uint32_t e = ds_le32(page + i * 4);
        /* present and supervisor; a 4 MiB page's frame is 4 MiB aligned */
        uint64_t frame = (e & 0x80) ? (e & 0xffc00000u) : (e & 0xfffff000u);
        if ((e & 5) == 1 && frame_ok(pm, frame))
            kernel_ok++;
    }
    return kernel_ok >= 6 && zero_user > 0x40;
}

/* ------------------------------------------------------------------ */
/* Scan driver                                                         */
/* ------------------------------------------------------------------ */

static bool check_page(const ds_physmem *pm, ds_paging mode, uint64_t pa,
                       const uint8_t *page, uint64_t *dtb)
{
    switch (mode) {
    case DS_PAGING_X64:
        if (pml4_valid(pm, pa, page)) {
            *dtb = pa;
            return true;
        }
        return false;
    case DS_PAGING_PAE:
        return pa < 0x100000000ull && find_pae_in_page(pm, pa, page, dtb);
    case DS_PAGING_X86:
        if (pd32_valid(pm, pa, page)) {
            *dtb = pa;
            return true;
        }
        return false;
    case DS_PAGING_NONE:
        break;
    }
    return false;
}

static bool scan_range(const ds_physmem *pm, ds_paging mode, uint64_t start, uint64_t end,
                       uint64_t *dtb)
{
    uint8_t page[PAGE];
    if (end > pm->max_pa)
        end = pm->max_pa;
    for (uint64_t pa = start; pa < end && end - pa >= PAGE; pa += PAGE) {
        if (!read_page(pm, pa, page))
            continue;
        if (check_page(pm, mode, pa, page, dtb))
            return true;
    }
    return false;
}

ds_err ds_find_dtb_selfref(const ds_physmem *pm, ds_paging *mode, uint64_t *dtb)
{
    if (!pm || !pm->read || !mode || !dtb)
        return DS_ERR_ARG;
    static const ds_paging order[] = {DS_PAGING_X64, DS_PAGING_PAE, DS_PAGING_X86};
    for (unsigned i = 0; i < 3; i++) {
        ds_paging m = order[i];
        if (*mode != DS_PAGING_NONE && *mode != m)
            continue;
        if (scan_range(pm, m, 0, SELFREF_NEAR, dtb) ||
            scan_range(pm, m, SELFREF_NEAR, SELFREF_FAR, dtb)) {
            *mode = m;
            return DS_OK;
        }
    }
    return DS_ERR_NOT_FOUND;
}

/* ------------------------------------------------------------------ */
/* KUSER_SHARED_DATA                                                   */
/* ------------------------------------------------------------------ */

#define KUSER_VA64 0xfffff78000000000ull
#define KUSER_VA32 0xffdf0000ull
#define KU_INTERRUPT_TIME 0x8
#define KU_SYSTEM_TIME 0x14
#define KU_NT_BUILD 0x260
#define KU_PRODUCT_TYPE 0x264
#define KU_MAJOR 0x26c
#define KU_MINOR 0x270
#define KU_PROCESSORS 0x3c0
#define KU_READ_LEN 0x3c4

/* FILETIMEs of 1995-01-01 and 2100-01-01 00:00:00 UTC. */
#define FILETIME_1995 124335552000000000ll
#define FILETIME_2100 157469184000000000ll

/* KSYSTEM_TIME: LowPart u32, High1Time i32 (High2Time, a copy, ignored). */
static int64_t ksystem_time(const uint8_t *p)
{
    uint32_t lo = ds_le32(p);
    int32_t hi;
    memcpy(&hi, p + 4, 4);
    return (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo);
}

ds_err ds_kuser_read(const ds_vas *kvas, ds_kuser *out)
{
    if (!kvas || !out)
        return DS_ERR_ARG;
    memset(out, 0, sizeof(*out));
    uint8_t ku[KU_READ_LEN];
    uint64_t va = kvas->mode == DS_PAGING_X64 ? KUSER_VA64 : KUSER_VA32;
    ds_err err = ds_vread(kvas, va, ku, sizeof(ku));
    if (err)
        return err;

    uint32_t major = ds_le32(ku + KU_MAJOR), minor = ds_le32(ku + KU_MINOR);
    int64_t st = ksystem_time(ku + KU_SYSTEM_TIME);
    if (major < 5 || major > 10 || minor > 3)
        return DS_ERR_CORRUPT;
    if (st < FILETIME_1995 || st > FILETIME_2100)
        return DS_ERR_CORRUPT;

    out->major = major;
    out->minor = minor;
    out->system_time = st;
    out->interrupt_time = ksystem_time(ku + KU_INTERRUPT_TIME);
    out->product_type = ds_le32(ku + KU_PRODUCT_TYPE);
    /* NtBuildNumber (Win10+; older kernels leave 0 there).  Only the low
     * 16 bits are the build: the kernel's own NtBuildNumber keeps a
     * free/checked flag in the top nibble, so mask defensively. */
    out->build = ds_le32(ku + KU_NT_BUILD) & 0xffff;
    /* ActiveProcessorCount exists from Vista on (XP's structure ends
     * before 0x3c0). */
    if (major >= 6)
        out->processors = ds_le32(ku + KU_PROCESSORS);
    return DS_OK;
}
