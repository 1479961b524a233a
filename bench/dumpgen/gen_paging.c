/* gen_paging.c - page tables of the generated machine.
 *
 * Three modes: x64 4-level, x86 PAE (PDPT + 4 PDs) and x86 non-PAE (one
 * PD).  Tables are ordinary stored pages; gen_map() creates missing levels
 * on the way down.  Every mapping is valid while objects are being
 * written; PTE changes that make pages non-present or transition are
 * queued as fixups and applied by gen_paging_finalize(), after which the
 * kernel half of every process top-level table is copied from the
 * kernel's (the self-reference entry pointing at the process's own table).
 *
 * Entry bits used (Intel SDM; Windows MMPTE_HARDWARE/MMPTE_SOFTWARE/
 * MMPTE_TRANSITION layouts, bit 10 Prototype, bit 11 Transition when
 * invalid):
 *   upper levels, kernel 0x63 (P|RW|A|D), user 0x67 (+U); PAE PDPTE 0x1
 *   kernel data  NX|0x963   kernel code 0x121   large page 0x1e3
 *   user data    NX|0x867   user read-only NX|0x025
 *   transition   pfn<<12 | 0x800 | Protection(4)<<5
 *   page file    PageFileHigh<<32 (x86: <<12) | Protection(4)<<5 | PageFileLow(1)<<1
 * x86 non-PAE has no NX bit. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

#define NX (1ull << 63)
#define PFN64 0x000ffffffffff000ull
#define PFN32 0xfffff000ull
#define UPPER_K 0x63ull
#define UPPER_U 0x67ull
#define LARGE 0x1e3ull

static unsigned esz(const gen_ctx *g)
{
    return g->mode == DS_PAGING_X86 ? 4 : 8;
}

static uint64_t pfn_mask(const gen_ctx *g)
{
    return g->mode == DS_PAGING_X86 ? PFN32 : PFN64;
}

static uint64_t rd_entry(const gen_ctx *g, uint64_t pa)
{
    return esz(g) == 4 ? gen_pr32(g, pa) : gen_pr64(g, pa);
}

static void wr_entry(gen_ctx *g, uint64_t pa, uint64_t v)
{
    if (esz(g) == 4)
        gen_pw32(g, pa, (uint32_t)v);
    else
        gen_pw64(g, pa, v);
}

static bool is_user_va(const gen_ctx *g, uint64_t va)
{
    return g->is64 ? va < 0x0000800000000000ull : va < 0x80000000ull;
}

static uint64_t leaf_bits(const gen_ctx *g, gen_pte_kind k)
{
    bool nx = g->mode != DS_PAGING_X86;
    switch (k) {
    case GEN_PTE_KDATA: return (nx ? NX : 0) | 0x963;
    case GEN_PTE_KCODE: return 0x121;
    case GEN_PTE_UDATA: return (nx ? NX : 0) | 0x867;
    case GEN_PTE_URO: return (nx ? NX : 0) | 0x025;
    }
    return 0;
}

static ds_err new_table(gen_ctx *g, uint64_t *pa)
{
    uint64_t pfn;
    ds_err e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn);
    if (e)
        return e;
    if (!gen_page_data(g, pfn))
        return ds_fail(g->eb, DS_ERR_NOMEM, "page store: out of memory");
    *pa = pfn * GEN_PAGE;
    return DS_OK;
}

/* Descend to the entry that maps va at the page-table (4 KiB) level, or to
 * a large-page entry.  Returns the entry PA in *entry_pa and sets *large
 * when that entry is a large-page PDE.  create: build missing tables. */
static ds_err descend(gen_ctx *g, uint64_t root_pa, uint64_t va, bool create,
                      uint64_t *entry_pa, bool *large, bool stop_at_pd)
{
    uint64_t upper = is_user_va(g, va) ? UPPER_U : UPPER_K;
    uint64_t table;
    unsigned shifts[4], nlev, bits;
    *large = false;
    if (g->mode == DS_PAGING_X64) {
        table = root_pa & ~0xfffull;
        shifts[0] = 39; shifts[1] = 30; shifts[2] = 21; shifts[3] = 12;
        nlev = 4;
        bits = 9;
    } else if (g->mode == DS_PAGING_PAE) {
        uint64_t pdpte = gen_pr64(g, (root_pa & ~0x1full) + ((va >> 30) & 3) * 8);
        if (!(pdpte & 1))
            return DS_ERR_NOT_PRESENT;
        table = pdpte & PFN64;
        shifts[0] = 21; shifts[1] = 12;
        nlev = 2;
        bits = 9;
    } else {
        table = root_pa & ~0xfffull;
        shifts[0] = 22; shifts[1] = 12;
        nlev = 2;
        bits = 10;
    }
    for (unsigned l = 0; l + 1 < nlev; l++) {
        uint64_t epa = table + ((va >> shifts[l]) & ((1u << bits) - 1)) * esz(g);
        bool pd_level = (l + 2 == nlev);
        if (pd_level && stop_at_pd) {
            *entry_pa = epa;
            return DS_OK;
        }
        uint64_t e = rd_entry(g, epa);
        if (!(e & 1)) {
            if (!create)
                return DS_ERR_NOT_PRESENT;
            uint64_t t;
            ds_err err = new_table(g, &t);
            if (err)
                return err;
            e = t | upper;
            wr_entry(g, epa, e);
        }
        if (pd_level && (e & 0x80)) {
            *entry_pa = epa;
            *large = true;
            return DS_OK;
        }
        table = e & pfn_mask(g);
    }
    *entry_pa = table + ((va >> 12) & ((1u << bits) - 1)) * esz(g);
    return DS_OK;
}

static uint64_t root_or_kernel(const gen_ctx *g, uint64_t root_pa)
{
    return root_pa ? root_pa : g->kroot_pa;
}

ds_err gen_map(gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t pfn, gen_pte_kind k)
{
    uint64_t epa;
    bool large;
    ds_err e = descend(g, root_or_kernel(g, root_pa), va, true, &epa, &large, false);
    if (e)
        return e;
    if (large)
        return ds_fail(g->eb, DS_ERR_CORRUPT, "va 0x%llx already in a large page",
                       (unsigned long long)va);
    wr_entry(g, epa, pfn * GEN_PAGE | leaf_bits(g, k));
    return DS_OK;
}

ds_err gen_set_pte(gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t value)
{
    uint64_t epa;
    bool large;
    ds_err e = descend(g, root_or_kernel(g, root_pa), va, true, &epa, &large, false);
    if (e)
        return e;
    if (large)
        return ds_fail(g->eb, DS_ERR_CORRUPT, "va in a large page");
    wr_entry(g, epa, value);
    return DS_OK;
}

ds_err gen_map_large(gen_ctx *g, uint64_t va, uint64_t pfn)
{
    uint64_t epa;
    bool large;
    ds_err e = descend(g, g->kroot_pa, va, true, &epa, &large, true);
    if (e)
        return e;
    wr_entry(g, epa, pfn * GEN_PAGE | LARGE);
    return DS_OK;
}

uint64_t gen_pte_pa(const gen_ctx *g, uint64_t root_pa, uint64_t va)
{
    uint64_t epa;
    bool large;
    if (descend((gen_ctx *)g, root_or_kernel(g, root_pa), va, false, &epa, &large, false) || large)
        return 0;
    return epa;
}

bool gen_xlat(const gen_ctx *g, uint64_t root_pa, uint64_t va, uint64_t *pa)
{
    uint64_t epa;
    bool large;
    if (descend((gen_ctx *)g, root_or_kernel(g, root_pa), va, false, &epa, &large, false))
        return false;
    uint64_t e = rd_entry(g, epa);
    if (!(e & 1))
        return false;
    if (large) {
        uint64_t size = g->mode == DS_PAGING_X86 ? 0x400000 : 0x200000;
        *pa = (e & pfn_mask(g) & ~(size - 1)) + (va & (size - 1));
        return true;
    }
    *pa = (e & pfn_mask(g)) + (va & 0xfff);
    return true;
}

ds_err gen_vwrite(gen_ctx *g, uint64_t root_pa, uint64_t va, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    while (len) {
        size_t n = GEN_PAGE - (va & 0xfff);
        if (n > len)
            n = len;
        uint64_t pa;
        if (!gen_xlat(g, root_pa, va, &pa))
            return ds_fail(g->eb, DS_ERR_NOT_PRESENT, "generator write to unmapped va 0x%llx",
                           (unsigned long long)va);
        ds_err e = gen_pwrite(g, pa, src, n);
        if (e)
            return e;
        va += n;
        src += n;
        len -= n;
    }
    return DS_OK;
}

ds_err gen_vread(const gen_ctx *g, uint64_t root_pa, uint64_t va, void *buf, size_t len)
{
    uint8_t *dst = buf;
    while (len) {
        size_t n = GEN_PAGE - (va & 0xfff);
        if (n > len)
            n = len;
        uint64_t pa;
        if (!gen_xlat(g, root_pa, va, &pa))
            return DS_ERR_NOT_PRESENT;
        gen_pread(g, pa, dst, n);
        va += n;
        dst += n;
        len -= n;
    }
    return DS_OK;
}

ds_err gen_kw8(gen_ctx *g, uint64_t va, uint16_t off, uint8_t v)
{
    return off == DS_OFF_NONE ? DS_OK : gen_vwrite(g, 0, va + off, &v, 1);
}

ds_err gen_kw16(gen_ctx *g, uint64_t va, uint16_t off, uint16_t v)
{
    return off == DS_OFF_NONE ? DS_OK : gen_vwrite(g, 0, va + off, &v, 2);
}

ds_err gen_kw32(gen_ctx *g, uint64_t va, uint16_t off, uint32_t v)
{
    return off == DS_OFF_NONE ? DS_OK : gen_vwrite(g, 0, va + off, &v, 4);
}

ds_err gen_kw64(gen_ctx *g, uint64_t va, uint16_t off, uint64_t v)
{
    return off == DS_OFF_NONE ? DS_OK : gen_vwrite(g, 0, va + off, &v, 8);
}

ds_err gen_kwptr(gen_ctx *g, uint64_t va, uint16_t off, uint64_t v)
{
    if (g->ptr == 8)
        return gen_kw64(g, va, off, v);
    return gen_kw32(g, va, off, (uint32_t)v);
}

void gen_add_fixup(gen_ctx *g, uint64_t pte_pa, uint64_t value)
{
    if (g->nfixups == g->cap_fixups) {
        size_t nc = g->cap_fixups ? g->cap_fixups * 2 : 64;
        gen_fixup *nf = realloc(g->fixups, nc * sizeof(*nf));
        if (!nf)
            return; /* a lost fixup only makes a page stay present */
        g->fixups = nf;
        g->cap_fixups = nc;
    }
    g->fixups[g->nfixups++] = (gen_fixup){pte_pa, value};
}

uint64_t gen_pagefile_pte(gen_ctx *g)
{
    if (g->mode == DS_PAGING_X86)
        return gen_rng_range(&g->rng, 0x100, 0xfffff) << 12 | 4u << 5 | 1u << 1;
    return gen_rng_range(&g->rng, 0x100, 0x3ffff) << 32 | 4u << 5 | 1u << 1;
}

uint64_t gen_transition_pte(const gen_ctx *g, uint64_t pfn)
{
    (void)g;
    return pfn << 12 | 0x800 | 4u << 5;
}

/* ---------------- roots ---------------- */

ds_err gen_paging_init(gen_ctx *g)
{
    ds_err e;
    if (g->mode == DS_PAGING_X64) {
        if ((e = new_table(g, &g->kroot_pa)))
            return e;
        wr_entry(g, g->kroot_pa + g->selfref * 8, g->kroot_pa | UPPER_K);
        return DS_OK;
    }
    if (g->mode == DS_PAGING_PAE) {
        uint64_t page;
        if ((e = new_table(g, &page)))
            return e;
        g->kroot_pa = page + gen_rng_below(&g->rng, 128) * 32;
        for (unsigned i = 0; i < 4; i++) {
            if ((e = new_table(g, &g->kpd_pa[i])))
                return e;
            gen_pw64(g, g->kroot_pa + i * 8, g->kpd_pa[i] | 1);
        }
        for (unsigned i = 0; i < 4; i++)
            gen_pw64(g, g->kpd_pa[3] + i * 8, g->kpd_pa[i] | UPPER_K);
        return DS_OK;
    }
    if ((e = new_table(g, &g->kroot_pa)))
        return e;
    gen_pw32(g, g->kroot_pa + 0x300 * 4, (uint32_t)(g->kroot_pa | UPPER_K));
    return DS_OK;
}

ds_err gen_new_process_root(gen_ctx *g, uint64_t *root_pa)
{
    ds_err e;
    if (g->mode != DS_PAGING_PAE)
        return new_table(g, root_pa);
    /* PAE: PDPT at a 32-byte aligned offset, own PD0, PD1, PD3; PD2 shared */
    uint64_t page, pd0, pd1, pd3;
    if ((e = new_table(g, &page)) || (e = new_table(g, &pd0)) || (e = new_table(g, &pd1)) ||
        (e = new_table(g, &pd3)))
        return e;
    uint64_t pdpt = page + gen_rng_below(&g->rng, 128) * 32;
    gen_pw64(g, pdpt + 0, pd0 | 1);
    gen_pw64(g, pdpt + 8, pd1 | 1);
    gen_pw64(g, pdpt + 16, g->kpd_pa[2] | 1);
    gen_pw64(g, pdpt + 24, pd3 | 1);
    *root_pa = pdpt;
    return DS_OK;
}

static void copy_kernel_half(gen_ctx *g, uint64_t root)
{
    if (g->mode == DS_PAGING_X64) {
        uint8_t buf[256 * 8];
        gen_pread(g, g->kroot_pa + 256 * 8, buf, sizeof(buf));
        gen_pwrite(g, root + 256 * 8, buf, sizeof(buf));
        gen_pw64(g, root + g->selfref * 8, root | UPPER_K);
    } else if (g->mode == DS_PAGING_PAE) {
        uint64_t pd[4];
        for (unsigned i = 0; i < 4; i++)
            pd[i] = gen_pr64(g, root + i * 8) & PFN64;
        uint8_t buf[GEN_PAGE];
        gen_pread(g, g->kpd_pa[3], buf, sizeof(buf));
        gen_pwrite(g, pd[3], buf, sizeof(buf));
        for (unsigned i = 0; i < 4; i++)
            gen_pw64(g, pd[3] + i * 8, pd[i] | UPPER_K);
    } else {
        uint8_t buf[0x200 * 4];
        gen_pread(g, g->kroot_pa + 0x200 * 4, buf, sizeof(buf));
        gen_pwrite(g, root + 0x200 * 4, buf, sizeof(buf));
        gen_pw32(g, root + 0x300 * 4, (uint32_t)(root | UPPER_K));
    }
}

ds_err gen_paging_finalize(gen_ctx *g)
{
    /* fixups first: process roots share the kernel's lower tables, so one
     * write covers every address space */
    for (size_t i = 0; i < g->nfixups; i++)
        wr_entry(g, g->fixups[i].pte_pa, g->fixups[i].value);
    for (size_t i = 0; i < g->nprocs; i++) {
        uint64_t r = g->procs[i].root_pa;
        if (r && r != g->kroot_pa)
            copy_kernel_half(g, r);
    }
    return DS_OK;
}
