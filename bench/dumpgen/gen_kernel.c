/* gen_kernel.c - virtual layout, kernel image, globals, KDBG, module list,
 * KUSER_SHARED_DATA, low stub and the handle tables.
 *
 * Order of gen_kernel_build(): choose the VA layout, build the page-table
 * roots, reserve and map the kernel image with large pages, write its PE
 * headers, lay out the .data globals, plant the .text routines, write
 * KUSER_SHARED_DATA and the x64 low stub, create the fake OBJECT_TYPEs and
 * session structures, build the population (gen_population.c), then the
 * PspCidTable, the System handle table, PsLoadedModuleList, the PTE
 * fixups, KDDEBUGGER_DATA64 and finally the process page-table copies.
 *
 * Planted KdCopyDataBlock (x64, all builds; keys only meaningful on raw
 * Win8+ images where KDBG is encoded).  Offsets relative to the routine:
 *   00 48 89 5C 24 08        mov  [rsp+8], rbx
 *   05 57                    push rdi
 *   06 48 83 EC 20           sub  rsp, 20h
 *   0a 80 3D r32 00          cmp  byte ptr [rip+KdpDataBlockEncoded], 0
 *   11 48 8B D9              mov  rbx, rcx
 *   14 74 48                 je   5e
 *   16 48 8D 0D r32          lea  rcx, [rip+KdDebuggerDataBlock]
 *   1d 4C 8B C9              mov  r9, rcx
 *   20 41 BA imm32           mov  r10d, Size/8
 *   26 48 8B 05 r32          mov  rax, [rip+KiWaitNever]
 *   2d 49 8B 11              mov  rdx, [r9]
 *   30 48 33 D0              xor  rdx, rax
 *   33 8A C8                 mov  cl, al
 *   35 48 D3 C2              rol  rdx, cl
 *   38 48 8D 05 r32          lea  rax, [rip+KdpDataBlockEncoded]
 *   3f 48 33 C2              xor  rax, rdx
 *   42 48 0F C8              bswap rax
 *   45 48 33 05 r32          xor  rax, [rip+KiWaitAlways]
 *   4c 48 89 03              mov  [rbx], rax
 *   4f 49 83 C1 08           add  r9, 8
 *   53 48 83 C3 08           add  rbx, 8
 *   57 41 FF CA              dec  r10d
 *   5a 75 CA                 jne  26
 *   5c EB 15                 jmp  73
 *   5e 48 8D 15 r32          lea  rdx, [rip+KdDebuggerDataBlock]
 *   65 41 B8 imm32           mov  r8d, Size
 *   6b 48 8B CB              mov  rcx, rbx
 *   6e E8 r32                call memmove
 *   73 48 8B 5C 24 30        mov  rbx, [rsp+30h]
 *   78 48 83 C4 20           add  rsp, 20h
 *   7c 5F                    pop  rdi
 *   7d C3                    ret
 * or, by seed or --kdcopy, in a reordered variant (plant_kdcopy_reordered).
 * Before it in .text: 5,000 `cmp byte ptr [rip+X], 0` global-flag tests
 * and 32 near misses (plant_kdcopy_decoys). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"
#include "dumpfmt.h"
#include "kboot.h"

/* ---------------- layout ---------------- */

static uint64_t slot_va(unsigned slot)
{
    return gen_canon((uint64_t)slot << 39);
}

static unsigned pick_slot(gen_ctx *g, const unsigned *taken, unsigned ntaken)
{
    for (;;) {
        unsigned s = (unsigned)gen_rng_range(&g->rng, 0x100, 0x1ec);
        bool clash = false;
        for (unsigned i = 0; i < ntaken; i++)
            clash |= taken[i] == s;
        if (!clash)
            return s;
    }
}

static void layout_x64(gen_ctx *g)
{
    if (g->build < 10000) {
        /* Windows 7: the fixed regions of the 7600/7601 memory map */
        g->selfref = 0x1ed;
        g->pfn_db_va = 0xfffffa8000000000ull;
        g->pool_va = 0xfffffa8000000000ull + gen_rng_range(&g->rng, 4, 60) * 0x40000000ull;
        g->stack_va = 0xfffff88000000000ull + gen_rng_range(&g->rng, 8, 60) * 0x40000000ull;
    } else {
        unsigned taken[7];
        for (unsigned i = 0; i < 7; i++)
            taken[i] = pick_slot(g, taken, i);
        g->selfref = taken[0];
        g->pool_va = slot_va(taken[1]) + gen_rng_range(&g->rng, 1, 250) * 0x40000000ull;
        g->stack_va = slot_va(taken[2]) + gen_rng_range(&g->rng, 1, 250) * 0x40000000ull;
        g->pfn_db_va = slot_va(taken[3]);
        for (unsigned i = 0; i < 3; i++)
            g->extra_va[i] = slot_va(taken[4 + i]) + gen_rng_range(&g->rng, 0, 250) * 0x40000000ull;
    }
    if (g->build < 10000) {
        g->extra_va[0] = 0xfffff70000000000ull;  /* hyperspace */
        g->extra_va[1] = 0xfffff90000000000ull;  /* session space */
        g->extra_va[2] = 0xfffff98000000000ull;  /* system cache */
    }
    g->pool_end = g->pool_va + 0x40000000ull;
    g->stack_end = g->stack_va + 0x40000000ull;
    g->pte_base = slot_va(g->selfref);
    g->kuser_va = 0xfffff78000000000ull;
    g->user_top = 0x7ffffffeffffull;
    /* 0xfffff800'00000000 .. 0xfffff803'ffe00000, where MemProcFS looks */
    g->kregion_va = 0xfffff80000000000ull + gen_rng_below(&g->rng, 0x2000) * 0x200000ull;
    g->ksize = g->o.size_mib >= 256 ? 0x900000 + gen_rng_below(&g->rng, 0x100) * GEN_PAGE
                                    : 0x1a0000 + gen_rng_below(&g->rng, 0x40) * GEN_PAGE;
    uint64_t off = g->build < 10000 ? gen_rng_range(&g->rng, 0x10, 0x1ff) * GEN_PAGE : 0;
    if (g->build < 10000 && off + g->ksize > gen_round_up(g->ksize, 0x200000))
        off = gen_round_up(g->ksize, 0x200000) - g->ksize;
    g->kbase = g->kregion_va + off;
}

static void layout_x86(gen_ctx *g)
{
    uint64_t lp = g->pae ? 0x200000 : 0x400000;
    g->kregion_va = g->pae ? 0x82400000ull + gen_rng_below(&g->rng, 16) * lp
                           : 0x80400000ull + gen_rng_below(&g->rng, 4) * lp;
    g->ksize = 0x180000 + gen_rng_below(&g->rng, 0x40) * GEN_PAGE;
    g->kbase = g->kregion_va + gen_rng_range(&g->rng, 0x40, 0x1ff) * GEN_PAGE;
    g->pfn_db_va = 0x85000000ull;
    g->pool_va = 0x86000000ull + gen_rng_below(&g->rng, 32) * 0x100000ull;
    g->pool_end = g->pool_va + 0x4000000ull;
    g->stack_va = (g->pae ? 0x9a000000ull : 0xf7400000ull) + gen_rng_below(&g->rng, 16) * 0x100000ull;
    g->stack_end = g->stack_va + 0x2000000ull;
    g->pte_base = 0xc0000000ull;
    g->kuser_va = 0xffdf0000ull;
    g->extra_va[0] = 0xbf800000ull;                        /* session space */
    g->extra_va[1] = g->pae ? 0xc0800000ull : 0xc0400000ull; /* hyperspace */
    g->extra_va[2] = 0xe1000000ull;                        /* paged pool */
    g->user_top = 0x7ffeffffull;
}

/* ---------------- PE image ---------------- */

static void put16(uint8_t *b, size_t off, uint16_t v) { memcpy(b + off, &v, 2); }
static void put32(uint8_t *b, size_t off, uint32_t v) { memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, size_t off, uint64_t v) { memcpy(b + off, &v, 8); }

/* Minimal valid MZ/PE headers in one page. */
void gen_build_pe(const gen_ctx *g, uint8_t *page, uint64_t base, uint32_t size_of_image,
                  uint32_t entry_rva, const gen_pe_section *sec, unsigned nsec)
{
    static const char stub[] = "This program cannot be run in DOS mode.\r\r\n$";
    const uint32_t lfanew = 0x100;
    memset(page, 0, GEN_PAGE);
    put16(page, 0x00, 0x5a4d);            /* e_magic "MZ" */
    put16(page, 0x02, 0x90);
    put16(page, 0x04, 3);
    put16(page, 0x08, 4);
    put16(page, 0x0c, 0xffff);
    put16(page, 0x10, 0xb8);
    put16(page, 0x18, 0x40);
    put32(page, 0x3c, lfanew);
    memcpy(page + 0x4e, stub, sizeof(stub) - 1);
    uint8_t *nt = page + lfanew;
    put32(nt, 0, 0x00004550);             /* "PE\0\0" */
    uint8_t *fh = nt + 4;
    put16(fh, 0, g->is64 ? DS_MACHINE_AMD64 : DS_MACHINE_I386);
    put16(fh, 2, (uint16_t)nsec);
    put32(fh, 4, (uint32_t)(0x5e000000u + (gen_mix64(base) & 0xffffff)));
    put16(fh, 16, g->is64 ? 0xf0 : 0xe0); /* SizeOfOptionalHeader */
    put16(fh, 18, g->is64 ? 0x0022 : 0x0102);
    uint8_t *oh = fh + 20;
    uint32_t major = g->build >= 10000 ? 10 : g->build >= 6000 ? 6 : 5;
    uint32_t minor = g->build >= 10000 ? 0 : g->build >= 7600 ? 1 : 1;
    put16(oh, 0x00, g->is64 ? 0x20b : 0x10b);
    oh[2] = 14;
    put32(oh, 0x04, nsec ? sec[0].size : 0x1000);
    put32(oh, 0x10, entry_rva);
    put32(oh, 0x14, nsec ? sec[0].rva : 0x1000);
    if (g->is64) {
        put64(oh, 0x18, base);
    } else {
        put32(oh, 0x18, nsec > 1 ? sec[nsec - 1].rva : 0x2000);
        put32(oh, 0x1c, (uint32_t)base);
    }
    put32(oh, 0x20, 0x1000);              /* SectionAlignment */
    put32(oh, 0x24, 0x200);               /* FileAlignment */
    put16(oh, 0x28, (uint16_t)major);
    put16(oh, 0x2a, (uint16_t)minor);
    put16(oh, 0x2c, (uint16_t)major);
    put16(oh, 0x2e, (uint16_t)minor);
    put16(oh, 0x30, (uint16_t)major);
    put16(oh, 0x32, (uint16_t)minor);
    put32(oh, 0x38, size_of_image);
    put32(oh, 0x3c, 0x600);               /* SizeOfHeaders */
    put32(oh, 0x40, (uint32_t)(gen_mix64(base ^ size_of_image) & 0xffffff));
    put16(oh, 0x44, 1);                   /* IMAGE_SUBSYSTEM_NATIVE */
    put16(oh, 0x46, g->is64 ? 0x4160 : 0x0140);
    if (g->is64) {
        put64(oh, 0x48, 0x80000);
        put64(oh, 0x50, 0x2000);
        put64(oh, 0x58, 0x100000);
        put64(oh, 0x60, 0x1000);
        put32(oh, 0x6c, 16);
    } else {
        put32(oh, 0x48, 0x40000);
        put32(oh, 0x4c, 0x1000);
        put32(oh, 0x50, 0x100000);
        put32(oh, 0x54, 0x1000);
        put32(oh, 0x5c, 16);
    }
    uint8_t *sh = oh + (g->is64 ? 0xf0 : 0xe0);
    for (unsigned i = 0; i < nsec; i++, sh += 40) {
        memcpy(sh, sec[i].name, strlen(sec[i].name) < 8 ? strlen(sec[i].name) : 8);
        put32(sh, 8, sec[i].size);
        put32(sh, 12, sec[i].rva);
        put32(sh, 16, (uint32_t)gen_round_up(sec[i].size, 0x200));
        put32(sh, 20, sec[i].rva);        /* file layout mirrors memory layout */
        put32(sh, 36, sec[i].flags);
    }
}

static ds_err map_kernel_image(gen_ctx *g)
{
    uint64_t lp = g->mode == DS_PAGING_X86 ? 0x400000 : 0x200000;
    uint64_t lp_pages = lp / GEN_PAGE;
    uint64_t nlarge = gen_round_up(g->kbase - g->kregion_va + g->ksize, lp) / lp;
    uint64_t first;
    uint64_t image_off = (g->kbase - g->kregion_va) / GEN_PAGE;
    ds_err e = gen_reserve_aligned(g, nlarge * lp_pages, lp_pages, image_off,
                                   gen_round_up(g->ksize, GEN_PAGE) / GEN_PAGE, &first);
    if (e)
        return e;
    for (uint64_t i = 0; i < nlarge; i++)
        if ((e = gen_map_large(g, g->kregion_va + i * lp, first + i * lp_pages)))
            return e;
    g->text_rva = 0x1000;
    g->text_size = gen_round_up(g->ksize * 55 / 100, GEN_PAGE);
    g->poolcode_rva = g->text_rva + g->text_size;
    g->data_rva = g->poolcode_rva + 0x1000;
    g->data_size = g->ksize - g->data_rva;
    g->entry_va = g->kbase + g->text_rva + gen_rng_range(&g->rng, 0x100, 0x4000) * 16;
    gen_pe_section sec[3] = {
        {".text", (uint32_t)g->text_rva, (uint32_t)g->text_size, 0x68000020},
        {"POOLCODE", (uint32_t)g->poolcode_rva, 0x1000, 0x68000020},
        {".data", (uint32_t)g->data_rva, (uint32_t)g->data_size, 0xc8000040},
    };
    uint8_t page[GEN_PAGE];
    gen_build_pe(g, page, g->kbase, (uint32_t)g->ksize, (uint32_t)(g->entry_va - g->kbase), sec, 3);
    if ((e = gen_vwrite(g, 0, g->kbase, page, GEN_PAGE)))
        return e;
    g->data_cursor = g->kbase + g->data_rva + gen_rng_range(&g->rng, 0x10, 0x200) * 16;
    g->text_cursor = g->entry_va + 0x400 + gen_rng_range(&g->rng, 0, 0x1000) * 16;
    return DS_OK;
}

/* One mapped page at the start of the other system regions (PFN
 * database, hyperspace, session space, ...), so the kernel top-level
 * table has as many present entries as a real one (MemProcFS's PML4
 * check wants at least six). */
static ds_err map_system_regions(gen_ctx *g)
{
    uint64_t vas[4] = {g->pfn_db_va, g->extra_va[0], g->extra_va[1], g->extra_va[2]};
    for (unsigned i = 0; i < 4; i++) {
        uint64_t pfn;
        ds_err e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn);
        if (!e)
            e = gen_map(g, 0, vas[i], pfn, GEN_PTE_KDATA);
        if (e)
            return e;
    }
    return DS_OK;
}

/* Bump-allocate a kernel global in .data with a random gap before it. */
uint64_t gen_data_alloc(gen_ctx *g, uint64_t size, uint64_t align)
{
    g->data_cursor = gen_round_up(g->data_cursor + gen_rng_below(&g->rng, 8) * 8, align);
    uint64_t va = g->data_cursor;
    g->data_cursor += size;
    return va;
}

uint64_t gen_text_alloc(gen_ctx *g, uint64_t size)
{
    g->text_cursor = gen_round_up(g->text_cursor + gen_rng_range(&g->rng, 0x10, 0x400), 16);
    uint64_t va = g->text_cursor;
    g->text_cursor += size;
    return va;
}

static const char *build_lab(const gen_ctx *g)
{
    switch (g->build) {
    case 2600: return "2600.xpsp.080413-2111";
    case 7601: return g->is64 ? "7601.17514.amd64fre.win7sp1_rtm.101119-1850"
                              : "7601.17514.x86fre.win7sp1_rtm.101119-1850";
    case 17763: return "17763.1.amd64fre.rs5_release.180914-1434";
    case 19041: return "19041.1.amd64fre.vb_release.191206-1406";
    case 22621: return "22621.1.amd64fre.ni_release.220506-1250";
    case 26100: return "26100.1.amd64fre.ge_release.240331-1435";
    }
    return "0.0.unknown";
}

static uint32_t kdbg_size_for(uint32_t build)
{
    /* vol2 kdbgsize, offsets-notes.md section 6 */
    if (build >= 17763) return 0x380;
    if (build >= 14393) return 0x368;
    if (build >= 9200) return 0x360;
    if (build >= 7600) return 0x340;
    return 0x290;
}

static void layout_globals(gen_ctx *g)
{
    unsigned p = g->ptr;
    g->g_kdbg_list = gen_data_alloc(g, 2 * p, 16);
    g->g_active_head = gen_data_alloc(g, 2 * p, 16);
    g->g_module_head = gen_data_alloc(g, 2 * p, 16);
    g->g_cid_table = gen_data_alloc(g, p, 8);
    g->g_cookie = gen_data_alloc(g, 4, 4);
    g->g_wait_never = gen_data_alloc(g, 8, 8);
    g->g_wait_always = gen_data_alloc(g, 8, 8);
    g->g_kdp_encoded = gen_data_alloc(g, 1, 1);
    g->g_pfn_db = gen_data_alloc(g, p, 8);
    g->g_range_start = gen_data_alloc(g, p, 8);
    g->g_highest_user = gen_data_alloc(g, p, 8);
    g->g_probe = gen_data_alloc(g, p, 8);
    g->g_type_type = gen_data_alloc(g, p, 8);
    g->g_prcb_block = gen_data_alloc(g, (uint64_t)p * 64, 16);
    g->g_build_lab = gen_data_alloc(g, 64, 16);
    g->kdbg_size = kdbg_size_for(g->build);
    g->g_kdbg = gen_data_alloc(g, g->kdbg_size, 16);
}

static ds_err write_ptr_at(gen_ctx *g, uint64_t va, uint64_t v)
{
    return gen_kwptr(g, va, 0, v);
}

static ds_err write_simple_globals(gen_ctx *g)
{
    ds_err e;
    uint32_t cookie = (uint32_t)(gen_rng_next(&g->rng) & 0xffffff00u) | g->cookie;
    const char *lab = build_lab(g);
    if ((e = gen_vwrite(g, 0, g->g_cookie, &cookie, 4)) ||
        (e = gen_vwrite(g, 0, g->g_wait_never, &g->ki_wait_never, 8)) ||
        (e = gen_vwrite(g, 0, g->g_wait_always, &g->ki_wait_always, 8)) ||
        (e = write_ptr_at(g, g->g_pfn_db, g->pfn_db_va)) ||
        (e = write_ptr_at(g, g->g_range_start, g->is64 ? 0xffff800000000000ull : 0x80000000ull)) ||
        (e = write_ptr_at(g, g->g_highest_user, g->user_top)) ||
        (e = write_ptr_at(g, g->g_probe, g->is64 ? 0x7fffffff0000ull : 0x7fff0000ull)) ||
        (e = gen_vwrite(g, 0, g->g_build_lab, lab, strlen(lab) + 1)))
        return e;
    uint8_t enc = g->kdbg_encoded ? 1 : 0;
    if ((e = gen_vwrite(g, 0, g->g_kdp_encoded, &enc, 1)))
        return e;
    /* KiProcessorBlock: one pointer per CPU to a PRCB stand-in in .data */
    for (unsigned i = 0; i < g->ncpu && i < GEN_MAX_CPU; i++) {
        uint64_t prcb = gen_data_alloc(g, 0x100, 64);
        g->prcb[i] = prcb;
        if ((e = write_ptr_at(g, g->g_prcb_block + (uint64_t)i * g->ptr, prcb)))
            return e;
    }
    return DS_OK;
}

static void rel32(uint8_t *code, size_t at, uint64_t insn_end_va, uint64_t target)
{
    put32(code, at, (uint32_t)(int32_t)(int64_t)(target - insn_end_va));
}

/* A random 8-aligned VA in the part of .data laid out so far. */
static uint64_t random_data_va(gen_ctx *g)
{
    uint64_t lo = g->kbase + g->data_rva, span = g->data_cursor - lo;
    return lo + (span >= 8 ? gen_rng_below(&g->rng, span / 8) * 8 : 0);
}

/* What a real ntoskrnl holds thousands of: `cmp byte ptr [rip+x], 0`
 * global-flag tests (16 bytes each: cmp; je +6; mov eax, 1; ret; int3 x4),
 * in one block before the routine; then a few near misses that pass every
 * cheap byte test of the KdCopyDataBlock finder (a bswap, the block size
 * as an immediate, RIP-relative lea and mov) but point at data that
 * decodes to no KDBG.  A finder that counts every cmp against its budget,
 * or believes the shape without decoding, fails here. */
#define GEN_KDCOPY_DECOYS 5000u
#define GEN_KDCOPY_NEAR_MISSES 32u

static ds_err plant_kdcopy_decoys(gen_ctx *g)
{
    static const uint8_t tmpl[16] = {0x80, 0x3d, 0, 0, 0, 0, 0x00, 0x74, 0x06, 0xb8,
                                     0x01, 0x00, 0x00, 0x00, 0xc3, 0xcc};
    uint8_t *blk = malloc(GEN_KDCOPY_DECOYS * 16u);
    if (!blk)
        return DS_ERR_NOMEM;
    uint64_t va = gen_text_alloc(g, GEN_KDCOPY_DECOYS * 16u);
    for (unsigned i = 0; i < GEN_KDCOPY_DECOYS; i++) {
        uint8_t *c = blk + i * 16u;
        memcpy(c, tmpl, sizeof(tmpl));
        rel32(c, 2, va + i * 16u + 7, random_data_va(g));
    }
    ds_err e = gen_vwrite(g, 0, va, blk, GEN_KDCOPY_DECOYS * 16u);
    free(blk);
    if (e)
        return e;
    g->kdcopy_decoys = GEN_KDCOPY_DECOYS;
    static const uint8_t near[0x2c] = {
        0x80, 0x3D, 0, 0, 0, 0, 0x00,       /* 00 cmp byte ptr [rip+x], 0 */
        0x74, 0x22,                         /* 07 je ret */
        0x48, 0x8D, 0x0D, 0, 0, 0, 0,       /* 09 lea rcx, [rip+x] */
        0x41, 0xBA, 0, 0, 0, 0,             /* 10 mov r10d, Size/8 */
        0x48, 0x8B, 0x05, 0, 0, 0, 0,       /* 16 mov rax, [rip+x] */
        0x48, 0x0F, 0xC8,                   /* 1d bswap rax */
        0x48, 0x33, 0x05, 0, 0, 0, 0,       /* 20 xor rax, [rip+x] */
        0x48, 0x89, 0x01,                   /* 27 mov [rcx], rax */
        0xC3, 0xCC,                         /* 2a ret */
    };
    for (unsigned i = 0; i < GEN_KDCOPY_NEAR_MISSES; i++) {
        uint8_t c[sizeof(near)];
        memcpy(c, near, sizeof(c));
        uint64_t f = gen_text_alloc(g, sizeof(c));
        rel32(c, 0x02, f + 0x07, random_data_va(g));
        rel32(c, 0x0c, f + 0x10, random_data_va(g));
        put32(c, 0x12, g->kdbg_size / 8);
        rel32(c, 0x19, f + 0x1d, random_data_va(g));
        rel32(c, 0x23, f + 0x27, random_data_va(g));
        if ((e = gen_vwrite(g, 0, f, c, sizeof(c))))
            return e;
    }
    return DS_OK;
}

/* The routine as the header comment lays it out. */
static ds_err plant_kdcopy_classic(gen_ctx *g, uint64_t memmove_va)
{
    uint8_t c[0x7e];
    static const uint8_t tmpl[0x7e] = {
        0x48, 0x89, 0x5C, 0x24, 0x08, 0x57, 0x48, 0x83, 0xEC, 0x20,
        0x80, 0x3D, 0, 0, 0, 0, 0x00,                   /* 0a cmp */
        0x48, 0x8B, 0xD9, 0x74, 0x48,                   /* 11 mov, 14 je */
        0x48, 0x8D, 0x0D, 0, 0, 0, 0,                   /* 16 lea rcx */
        0x4C, 0x8B, 0xC9,                               /* 1d mov r9, rcx */
        0x41, 0xBA, 0, 0, 0, 0,                         /* 20 mov r10d */
        0x48, 0x8B, 0x05, 0, 0, 0, 0,                   /* 26 mov rax */
        0x49, 0x8B, 0x11, 0x48, 0x33, 0xD0, 0x8A, 0xC8, /* 2d..33 */
        0x48, 0xD3, 0xC2,                               /* 35 rol */
        0x48, 0x8D, 0x05, 0, 0, 0, 0,                   /* 38 lea rax */
        0x48, 0x33, 0xC2, 0x48, 0x0F, 0xC8,             /* 3f xor, 42 bswap */
        0x48, 0x33, 0x05, 0, 0, 0, 0,                   /* 45 xor rax */
        0x48, 0x89, 0x03, 0x49, 0x83, 0xC1, 0x08,       /* 4c, 4f */
        0x48, 0x83, 0xC3, 0x08, 0x41, 0xFF, 0xCA,       /* 53, 57 */
        0x75, 0xCA, 0xEB, 0x15,                         /* 5a, 5c */
        0x48, 0x8D, 0x15, 0, 0, 0, 0,                   /* 5e lea rdx */
        0x41, 0xB8, 0, 0, 0, 0,                         /* 65 mov r8d */
        0x48, 0x8B, 0xCB, 0xE8, 0, 0, 0, 0,             /* 6b, 6e call */
        0x48, 0x8B, 0x5C, 0x24, 0x30, 0x48, 0x83, 0xC4, 0x20, 0x5F, 0xC3,
    };
    memcpy(c, tmpl, sizeof(c));
    uint64_t f = gen_text_alloc(g, sizeof(c));
    g->kdcopy_va = f;
    rel32(c, 0x0c, f + 0x11, g->g_kdp_encoded);
    rel32(c, 0x19, f + 0x1d, g->g_kdbg);
    put32(c, 0x22, g->kdbg_size / 8);
    rel32(c, 0x29, f + 0x2d, g->g_wait_never);
    rel32(c, 0x3b, f + 0x3f, g->g_kdp_encoded);
    rel32(c, 0x48, f + 0x4c, g->g_wait_always);
    rel32(c, 0x61, f + 0x65, g->g_kdbg);
    put32(c, 0x67, g->kdbg_size);
    rel32(c, 0x6f, f + 0x73, memmove_va);
    return gen_vwrite(g, 0, f, c, sizeof(c));
}

/* The same routine with KiWaitNever loaded before the flag test and both
 * keys held in registers (a compiler is free to schedule it so):
 *   00 48 89 5C 24 08        mov  [rsp+8], rbx
 *   05 57                    push rdi
 *   06 48 83 EC 20           sub  rsp, 20h
 *   0a 48 8B D9              mov  rbx, rcx
 *   0d 4C 8B 15 r32          mov  r10, [rip+KiWaitNever]
 *   14 80 3D r32 00          cmp  byte ptr [rip+KdpDataBlockEncoded], 0
 *   1b 74 42                 je   5f
 *   1d 48 8D 15 r32          lea  rdx, [rip+KdDebuggerDataBlock]
 *   24 41 BB imm32           mov  r11d, Size/8
 *   2a 4C 8B 0D r32          mov  r9, [rip+KiWaitAlways]
 *   31 4C 8D 05 r32          lea  r8, [rip+KdpDataBlockEncoded]
 *   38 48 8B 02              mov  rax, [rdx]
 *   3b 49 33 C2              xor  rax, r10
 *   3e 44 88 D1              mov  cl, r10b
 *   41 48 D3 C0              rol  rax, cl
 *   44 49 33 C0              xor  rax, r8
 *   47 48 0F C8              bswap rax
 *   4a 49 33 C1              xor  rax, r9
 *   4d 48 89 03              mov  [rbx], rax
 *   50 48 83 C2 08           add  rdx, 8
 *   54 48 83 C3 08           add  rbx, 8
 *   58 41 FF CB              dec  r11d
 *   5b 75 DB                 jne  38
 *   5d EB 15                 jmp  74
 *   5f 48 8D 15 r32          lea  rdx, [rip+KdDebuggerDataBlock]
 *   66 41 B8 imm32           mov  r8d, Size
 *   6c 48 8B CB              mov  rcx, rbx
 *   6f E8 r32                call memmove
 *   74 48 8B 5C 24 30        mov  rbx, [rsp+30h]
 *   79 48 83 C4 20           add  rsp, 20h
 *   7d 5F                    pop  rdi
 *   7e C3                    ret */
static ds_err plant_kdcopy_reordered(gen_ctx *g, uint64_t memmove_va)
{
    uint8_t c[0x7f];
    static const uint8_t tmpl[0x7f] = {
        0x48, 0x89, 0x5C, 0x24, 0x08, 0x57, 0x48, 0x83, 0xEC, 0x20, /* 00 */
        0x48, 0x8B, 0xD9,                                           /* 0a */
        0x4C, 0x8B, 0x15, 0, 0, 0, 0,                               /* 0d */
        0x80, 0x3D, 0, 0, 0, 0, 0x00,                               /* 14 */
        0x74, 0x42,                                                 /* 1b */
        0x48, 0x8D, 0x15, 0, 0, 0, 0,                               /* 1d */
        0x41, 0xBB, 0, 0, 0, 0,                                     /* 24 */
        0x4C, 0x8B, 0x0D, 0, 0, 0, 0,                               /* 2a */
        0x4C, 0x8D, 0x05, 0, 0, 0, 0,                               /* 31 */
        0x48, 0x8B, 0x02, 0x49, 0x33, 0xC2, 0x44, 0x88, 0xD1,       /* 38 3b 3e */
        0x48, 0xD3, 0xC0, 0x49, 0x33, 0xC0, 0x48, 0x0F, 0xC8,       /* 41 44 47 */
        0x49, 0x33, 0xC1, 0x48, 0x89, 0x03,                         /* 4a 4d */
        0x48, 0x83, 0xC2, 0x08, 0x48, 0x83, 0xC3, 0x08,             /* 50 54 */
        0x41, 0xFF, 0xCB, 0x75, 0xDB, 0xEB, 0x15,                   /* 58 5b 5d */
        0x48, 0x8D, 0x15, 0, 0, 0, 0,                               /* 5f */
        0x41, 0xB8, 0, 0, 0, 0,                                     /* 66 */
        0x48, 0x8B, 0xCB, 0xE8, 0, 0, 0, 0,                         /* 6c 6f */
        0x48, 0x8B, 0x5C, 0x24, 0x30, 0x48, 0x83, 0xC4, 0x20, 0x5F, 0xC3, /* 74 */
    };
    _Static_assert(sizeof(tmpl) == 0x7f, "template size");
    memcpy(c, tmpl, sizeof(c));
    uint64_t f = gen_text_alloc(g, sizeof(c));
    g->kdcopy_va = f;
    rel32(c, 0x10, f + 0x14, g->g_wait_never);
    rel32(c, 0x16, f + 0x1b, g->g_kdp_encoded);
    rel32(c, 0x20, f + 0x24, g->g_kdbg);
    put32(c, 0x26, g->kdbg_size / 8);
    rel32(c, 0x2d, f + 0x31, g->g_wait_always);
    rel32(c, 0x34, f + 0x38, g->g_kdp_encoded);
    rel32(c, 0x62, f + 0x66, g->g_kdbg);
    put32(c, 0x68, g->kdbg_size);
    rel32(c, 0x70, f + 0x74, memmove_va);
    return gen_vwrite(g, 0, f, c, sizeof(c));
}

static ds_err plant_text(gen_ctx *g)
{
    ds_err e;
    /* entry point and KeBugCheckEx stand-ins */
    static const uint8_t entry[] = {0x48, 0x83, 0xec, 0x28, 0x33, 0xc9, 0xcc, 0xc3};
    static const uint8_t bugcheck64[] = {0x48, 0x89, 0x4c, 0x24, 0x08, 0x48, 0x89, 0x54, 0x24,
                                         0x10, 0x4c, 0x89, 0x44, 0x24, 0x18, 0x4c, 0x89, 0x4c,
                                         0x24, 0x20, 0x48, 0x83, 0xec, 0x28, 0xcc, 0xc3};
    static const uint8_t bugcheck32[] = {0x8b, 0xff, 0x55, 0x8b, 0xec, 0x6a, 0x00, 0xcc, 0xc3};
    if ((e = gen_vwrite(g, 0, g->entry_va, entry, sizeof(entry))))
        return e;
    const uint8_t *bc = g->is64 ? bugcheck64 : bugcheck32;
    size_t bcn = g->is64 ? sizeof(bugcheck64) : sizeof(bugcheck32);
    g->bugcheck_va = gen_text_alloc(g, bcn);
    if ((e = gen_vwrite(g, 0, g->bugcheck_va, bc, bcn)))
        return e;
    if (!g->is64)
        return DS_OK;
    uint64_t memmove_va = gen_text_alloc(g, 4);
    static const uint8_t mm[] = {0x48, 0x8b, 0xc1, 0xc3};
    if ((e = gen_vwrite(g, 0, memmove_va, mm, sizeof(mm))))
        return e;
    if ((e = plant_kdcopy_decoys(g)))
        return e;
    return g->kdcopy == GEN_KDCOPY_REORDERED ? plant_kdcopy_reordered(g, memmove_va)
                                             : plant_kdcopy_classic(g, memmove_va);
}

/* ---------------- KUSER, low stub ---------------- */

static ds_err write_ksystem_time(gen_ctx *g, uint64_t va, int64_t t)
{
    uint32_t v[3] = {(uint32_t)t, (uint32_t)((uint64_t)t >> 32), (uint32_t)((uint64_t)t >> 32)};
    return gen_vwrite(g, 0, va, v, sizeof(v));
}

static ds_err build_kuser(gen_ctx *g)
{
    ds_err e;
    if ((e = gen_alloc_pfn(g, GP_KERNEL, 0, &g->kuser_pfn)) ||
        (e = gen_map(g, 0, g->kuser_va, g->kuser_pfn, GEN_PTE_KDATA)))
        return e;
    uint32_t major = g->build >= 10000 ? 10 : g->build >= 6000 ? 6 : 5;
    uint32_t minor = g->build >= 10000 ? 0 : 1;
    uint64_t k = g->kuser_va;
    if ((e = write_ksystem_time(g, k + GEN_KUSER_INTERRUPT_TIME, g->system_time - g->boot_time)) ||
        (e = write_ksystem_time(g, k + GEN_KUSER_SYSTEM_TIME, g->system_time)) ||
        (e = gen_kw32(g, k, GEN_KUSER_NT_BUILD_NUMBER, g->build)) ||
        (e = gen_kw32(g, k, GEN_KUSER_NT_PRODUCT_TYPE, 1)) ||
        (e = gen_kw32(g, k, GEN_KUSER_NT_MAJOR, major)) ||
        (e = gen_kw32(g, k, GEN_KUSER_NT_MINOR, minor)) ||
        (e = gen_kw32(g, k, GEN_KUSER_ACTIVE_PROCESSORS, g->ncpu)))
        return e;
    return DS_OK;
}

/* PROCESSOR_START_BLOCK (x64): MemProcFS / vol3 low-stub signature. */
static ds_err build_low_stub(gen_ctx *g)
{
    if (!g->is64)
        return DS_OK;
    g->low_stub_pfn = gen_rng_range(&g->rng, 1, 0x9e);
    ds_err e = gen_register(g, g->low_stub_pfn, GP_KERNEL);
    if (e)
        return e;
    uint64_t pa = g->low_stub_pfn * GEN_PAGE;
    gen_pw64(g, pa, 0x00000001000600e9ull | (gen_rng_range(&g->rng, 1, 0xff) << 8));
    gen_pw64(g, pa + 0x70, g->entry_va);
    gen_pw64(g, pa + 0xa0, g->kroot_pa);
    return DS_OK;
}

/* ---------------- pool helpers, type objects, sessions ---------------- */

ds_err gen_pool_struct(gen_ctx *g, uint32_t bytes, const char tag[4], bool object_tag, uint64_t *body)
{
    uint32_t total = (uint32_t)gen_round_up(g->p->pool_header_size + bytes, g->p->pool_align);
    uint64_t va;
    ds_err e = gen_pool_alloc(g, total, gen_tag(g, GEN_TAG(tag[0], tag[1], tag[2], tag[3]), object_tag),
                              gen_pool_type_nonpaged(g), 0, &va);
    if (e)
        return e;
    *body = va + g->p->pool_header_size;
    return DS_OK;
}

static ds_err build_type_objects(gen_ctx *g)
{
    ds_err e;
    uint64_t b;
    /* stand-in OBJECT_TYPE bodies; XP headers point at them */
    if ((e = gen_pool_struct(g, g->p->oh_body + 0x100, "ObjT", true, &b)))
        return e;
    g->proc_type_obj = b + g->p->oh_body;
    if ((e = gen_pool_struct(g, g->p->oh_body + 0x100, "ObjT", true, &b)))
        return e;
    g->thread_type_obj = b + g->p->oh_body;
    if ((e = gen_pool_struct(g, g->p->oh_body + 0x100, "ObjT", true, &b)))
        return e;
    g->type_type_obj = b + g->p->oh_body;
    return write_ptr_at(g, g->g_type_type, g->type_type_obj);
}

static ds_err build_sessions(gen_ctx *g)
{
    for (unsigned s = 0; s < 2; s++) {
        ds_err e = gen_pool_pages(g, 1, &g->session_va[s]);
        if (!e)
            e = gen_kw32(g, g->session_va[s], g->p->mm_session_id, s);
        if (e)
            return e;
    }
    return DS_OK;
}

/* ---------------- handle tables ---------------- */

static unsigned hte_size(const gen_ctx *g)
{
    return 2 * g->ptr;
}

static ds_err write_hte(gen_ctx *g, uint64_t at, uint64_t obj, uint32_t access)
{
    if (g->is64 && g->build >= GEN_HT_NEW_BUILD) {
        uint64_t v[2] = {((obj << 16) & ~0xfffffull) | 1, access & 0x1ffffffu};
        return gen_vwrite(g, 0, at, v, 16);
    }
    if (g->is64) {
        uint64_t v[2] = {obj | 1, access};
        return gen_vwrite(g, 0, at, v, 16);
    }
    uint32_t v[2] = {(uint32_t)obj | 1, access};
    return gen_vwrite(g, 0, at, v, 8);
}

ds_err gen_handle_table(gen_ctx *g, const gen_hte *ents, size_t n, uint64_t *table_va,
                        unsigned *levels)
{
    unsigned per_leaf = GEN_PAGE / hte_size(g);
    uint32_t max_idx = 0;
    for (size_t i = 0; i < n; i++)
        if (ents[i].handle / 4 > max_idx)
            max_idx = ents[i].handle / 4;
    unsigned nleaves = max_idx / per_leaf + 1;
    if (nleaves > GEN_PAGE / g->ptr)
        return ds_fail(g->eb, DS_ERR_RANGE, "handle table too large");
    uint64_t leaves[GEN_PAGE / 4];
    ds_err e;
    for (unsigned i = 0; i < nleaves; i++)
        if ((e = gen_pool_pages(g, 1, &leaves[i])))
            return e;
    uint64_t table_code = leaves[0];
    *levels = 1;
    if (nleaves > 1) {
        uint64_t mid;
        if ((e = gen_pool_pages(g, 1, &mid)))
            return e;
        for (unsigned i = 0; i < nleaves; i++)
            if ((e = write_ptr_at(g, mid + (uint64_t)i * g->ptr, leaves[i])))
                return e;
        table_code = mid | 1;
        *levels = 2;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t idx = ents[i].handle / 4;
        uint64_t at = leaves[idx / per_leaf] + (uint64_t)(idx % per_leaf) * hte_size(g);
        if ((e = write_hte(g, at, ents[i].obj, ents[i].access)))
            return e;
    }
    uint64_t ht;
    if ((e = gen_pool_struct(g, 0x80, "Obtb", false, &ht)))
        return e;
    bool newer = g->build >= GEN_HT_NEW_BUILD;
    if (newer && (e = gen_kw32(g, ht, 0, nleaves * per_leaf * 4)))
        return e;
    if ((e = gen_kwptr(g, ht, newer ? GEN_HT_TABLECODE_NEW : GEN_HT_TABLECODE_OLD, table_code)))
        return e;
    *table_va = ht;
    return DS_OK;
}

static ds_err build_cid_tables(gen_ctx *g)
{
    size_t cap = g->nprocs + g->nthreads + 1;
    gen_hte *ents = calloc(cap, sizeof(*ents));
    if (!ents)
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < g->nprocs; i++)
        if (g->procs[i].in_cid)
            ents[n++] = (gen_hte){g->procs[i].pid, g->procs[i].va, 0};
    for (size_t i = 0; i < g->nthreads; i++)
        if (g->threads[i].in_cid)
            ents[n++] = (gen_hte){g->threads[i].tid, g->threads[i].va, 0};
    unsigned levels;
    ds_err e = gen_handle_table(g, ents, n, &g->cid_table_va, &levels);
    g->cid_levels = levels;
    if (!e)
        e = write_ptr_at(g, g->g_cid_table, g->cid_table_va);
    /* System's own handle table: a handle to every live process object */
    if (!e) {
        n = 0;
        uint32_t h = 4;
        for (size_t i = 0; i < g->nprocs; i++) {
            if (!g->procs[i].in_cid)
                continue;
            if ((h / 4) % (GEN_PAGE / hte_size(g)) == 0)
                h += 4;
            ents[n++] = (gen_hte){h, g->procs[i].hdr_va, 0x1fffff};
            h += 4;
        }
        uint64_t sys_ht;
        e = gen_handle_table(g, ents, n, &sys_ht, &levels);
        if (!e)
            e = gen_kwptr(g, g->procs[0].va, g->p->ep_object_table, sys_ht);
        g->procs[0].handle_count = (int64_t)n;
    }
    free(ents);
    return e;
}

/* ---------------- loaded modules ---------------- */

ds_err gen_write_ustr(gen_ctx *g, uint64_t at, uint64_t buf_va, const char *s)
{
    uint16_t len = (uint16_t)(strlen(s) * 2);
    uint16_t lm[2] = {len, (uint16_t)(len + 2)};
    ds_err e = gen_vwrite(g, 0, at, lm, 4);
    if (!e)
        e = gen_kwptr(g, at, (uint16_t)g->ptr, buf_va);
    for (size_t i = 0; !e && s[i]; i++) {
        uint16_t ch = (uint8_t)s[i];
        e = gen_vwrite(g, 0, buf_va + 2 * i, &ch, 2);
    }
    /* Windows does not promise a terminating NUL: the spare slot inside
     * MaximumLength holds a stale character, so a reader that stops at
     * NUL instead of at Length shows it */
    uint16_t stale = '~';
    if (!e)
        e = gen_vwrite(g, 0, buf_va + len, &stale, 2);
    return e;
}

/* ---------------- PTE fixups ---------------- */

static void plan_fixups(gen_ctx *g)
{
    for (size_t i = 0; i < g->npool_pages; i++) {
        uint64_t va = g->pool_pages[i];
        if (va == g->unmapped_page_va || !gen_rng_chance(&g->rng, 6))
            continue;
        uint64_t pa, pte = gen_pte_pa(g, 0, va);
        if (pte && gen_xlat(g, 0, va, &pa))
            gen_add_fixup(g, pte, gen_transition_pte(g, pa / GEN_PAGE));
    }
    if (g->unmapped_page_va) {
        uint64_t pte = gen_pte_pa(g, 0, g->unmapped_page_va);
        if (pte)
            gen_add_fixup(g, pte, gen_pagefile_pte(g));
    }
}

/* ---------------- KDBG ---------------- */

static uint64_t kdbg_ptr(const gen_ctx *g, uint64_t va)
{
    /* 32-bit targets store sign-extended pointers in the 64-bit block */
    if (!g->is64 && (va & 0x80000000u))
        return va | 0xffffffff00000000ull;
    return va;
}

static ds_err write_kdbg(gen_ctx *g)
{
    const ds_profile *p = g->p;
    uint8_t b[0x400] = {0};
    uint32_t sz = g->kdbg_size;
    if (g->is64) {
        put64(b, 0x00, g->g_kdbg_list);
        put64(b, 0x08, g->g_kdbg_list);
    }
    put32(b, 0x10, DS_SIG_KDBG);
    put32(b, 0x14, sz);
    put64(b, 0x18, kdbg_ptr(g, g->kbase));
    put64(b, GEN_KDBG_BREAKPOINT_WITH_STATUS, kdbg_ptr(g, g->bugcheck_va + 0x18));
    put16(b, 0x36, g->pae ? 1 : 0);
    put64(b, GEN_KDBG_KI_CALL_USER_MODE, kdbg_ptr(g, g->bugcheck_va + 4));
    put64(b, GEN_KDBG_KE_USER_CALLBACK_DISPATCHER, g->is64 ? 0x00007ffc12345670ull : 0x7c90e440ull);
    put64(b, 0x48, kdbg_ptr(g, g->g_module_head));
    put64(b, 0x50, kdbg_ptr(g, g->g_active_head));
    put64(b, 0x58, kdbg_ptr(g, g->g_cid_table));
    put64(b, DS_KDBG_OBP_TYPE_OBJECT_TYPE, kdbg_ptr(g, g->g_type_type));
    put64(b, DS_KDBG_MM_PFN_DATABASE, kdbg_ptr(g, g->g_pfn_db));
    put64(b, GEN_KDBG_MM_HIGHEST_USER_ADDRESS, kdbg_ptr(g, g->g_highest_user));
    put64(b, DS_KDBG_MM_SYSTEM_RANGE_START, kdbg_ptr(g, g->g_range_start));
    put64(b, GEN_KDBG_MM_USER_PROBE_ADDRESS, kdbg_ptr(g, g->g_probe));
    put64(b, DS_KDBG_NT_BUILD_LAB, kdbg_ptr(g, g->g_build_lab));
    put64(b, DS_KDBG_KI_PROCESSOR_BLOCK, kdbg_ptr(g, g->g_prcb_block));
    if (g->g_unloaded_drivers) {
        put64(b, DS_KDBG_MM_UNLOADED_DRIVERS, kdbg_ptr(g, g->g_unloaded_drivers));
        put64(b, DS_KDBG_MM_LAST_UNLOADED_DRIVER, kdbg_ptr(g, g->g_last_unloaded_driver));
    }
    put16(b, DS_KDBG_OFFSET_PRCB_CURRENT_THREAD, g->is64 ? GEN_PRCB_CURRENT_THREAD64
                                                         : GEN_PRCB_CURRENT_THREAD32);
    put16(b, GEN_KDBG_OFF_KTHREAD_TEB, p->kt_teb);
    put16(b, GEN_KDBG_OFF_KTHREAD_KERNEL_STACK, p->kt_kernel_stack);
    put16(b, GEN_KDBG_OFF_KTHREAD_INITIAL_STACK, p->kt_initial_stack);
    put16(b, GEN_KDBG_OFF_KTHREAD_APC_PROCESS, p->kt_apc_process);
    put16(b, GEN_KDBG_OFF_KTHREAD_STATE, p->kt_state);
    put16(b, DS_KDBG_SIZE_EPROCESS, p->eprocess_size);
    put16(b, DS_KDBG_OFFSET_EPROCESS_PEB, p->ep_peb);
    put16(b, DS_KDBG_OFFSET_EPROCESS_PARENT_CID, p->ep_ppid);
    put16(b, DS_KDBG_OFFSET_EPROCESS_DTB, p->ep_dtb);
    put16(b, DS_KDBG_SIZE_ETHREAD, p->ethread_size);
    if (sz >= 0x360) {
        put32(b, GEN_KDBG_OFF_KTHREAD_STACK_LIMIT, p->kt_stack_limit);
        put32(b, GEN_KDBG_OFF_KTHREAD_STACK_BASE, p->kt_stack_base);
        put16(b, GEN_KDBG_OFF_KTHREAD_WAIT_REASON, p->kt_wait_reason);
    }
    if (sz >= 0x368)
        put64(b, GEN_KDBG_PTE_BASE, g->pte_base);
    if (g->kdbg_wiped)
        memset(b, 0, sz); /* what an anti-forensic wipe leaves */
    else if (g->kdbg_encoded) {
        uint64_t w[0x400 / 8];
        memcpy(w, b, sz);
        ds_kdbg_keys k = {g->ki_wait_never, g->ki_wait_always, g->g_kdp_encoded};
        ds_kdbg_encode(w, sz / 8, &k);
        memcpy(b, w, sz);
    }
    return gen_vwrite(g, 0, g->g_kdbg, b, sz);
}

/* ---------------- driver ---------------- */

ds_err gen_kernel_build(gen_ctx *g)
{
    ds_err e;
    if (g->is64)
        layout_x64(g);
    else
        layout_x86(g);
    if ((e = gen_paging_init(g)) || (e = map_kernel_image(g)) || (e = map_system_regions(g)))
        return e;
    layout_globals(g);
    if ((e = write_simple_globals(g)) || (e = plant_text(g)) || (e = build_kuser(g)) ||
        (e = build_low_stub(g)) || (e = gen_pool_init(g)) || (e = build_type_objects(g)) ||
        (e = build_sessions(g)) || (e = gen_population_build(g)) || (e = build_cid_tables(g)) ||
        (e = gen_modules_build(g)) || (e = gen_crash_build(g)) || (e = gen_drivers_build(g)) ||
        (e = gen_depth_build(g)))
        return e;
    plan_fixups(g);
    if ((e = write_kdbg(g)))
        return e;
    return gen_paging_finalize(g);
}
