/* gen_objects.c - kernel pool pages, executive objects and decoys.
 *
 * Pool: a bump allocator over a kernel VA region.  Each pool page is a
 * randomly chosen physical page mapped at the next VA, and is carved into
 * chunks, each starting with a POOL_HEADER:
 *   x64 (Win7 and Win8+): byte 0 PreviousSize, byte 1 PoolIndex, byte 2
 *       BlockSize, byte 3 PoolType, u32 PoolTag at +4, units of 16 bytes;
 *   x86: u16 PreviousSize:9|PoolIndex:7, u16 BlockSize:9|PoolType:7, u32
 *       PoolTag at +4, units of 8 bytes (offsets-notes.md section 3.1).
 * A page is always covered by chunks exactly; leftovers become filler
 * chunks with other tags or free chunks (PoolType 0).  A chunk may be
 * forced to straddle into the next page, which is then allocated on a
 * physically non-adjacent frame.  Occasionally a VA page is skipped and
 * given a page-file PTE (paged-out pool).
 *
 * Objects: [POOL_HEADER][padding][PADDING_INFO][..optional headers..]
 * [OBJECT_HEADER][body] (top-down, Win8+) or with the body pushed to the
 * end of the allocation (bottom-up, Win7 and XP).  Optional header b sits
 * at header - sum(sizes of present bits <= b) (ObpInfoMaskToOffset).
 * PADDING_INFO (bit 7) holds pad + 4: the bytes from the end of the
 * POOL_HEADER to the end of PADDING_INFO. */
#include <stdlib.h>
#include <string.h>

#include "gen_int.h"

#define INFO_QUOTA 0x08u
#define INFO_PADDING 0x80u

static const char *const filler_tags[] = {
    "File", "Even", "Toke", "MmCa", "Muta", "Sema", "ObNm", "Vad ",
    "Irp ", "Ntfx", "CcSc", "MmSt", "Ntf0", "FMfc", "AfdE", "Key ",
};
/* executive object tags carry the protected bit before Win8 */
static const bool filler_is_object[] = {
    true, true, true, false, true, true, false, false,
    false, false, false, false, false, false, false, true,
};

static uint32_t tag_of(const char *s)
{
    return GEN_TAG((uint8_t)s[0], (uint8_t)s[1], (uint8_t)s[2], (uint8_t)s[3]);
}

uint32_t gen_tag(const gen_ctx *g, uint32_t plain, bool object_tag)
{
    return (g->p->protected_tags && object_tag) ? (plain | GEN_TAG_PROTECTED) : plain;
}

/* Vista+: even non-zero = nonpaged; XP: odd = nonpaged (vol3 rule). */
uint8_t gen_pool_type_nonpaged(const gen_ctx *g)
{
    return g->build >= 6000 ? 2 : 1;
}

static uint8_t pool_type_paged(const gen_ctx *g)
{
    return g->build >= 6000 ? 3 : 2;
}

static unsigned max_units(const gen_ctx *g)
{
    return g->is64 ? 0xff : 0x1ff;
}

static void write_pool_header(gen_ctx *g, uint64_t va, unsigned prev, unsigned units, uint8_t type,
                              uint32_t tag)
{
    uint8_t h[16] = {0};
    if (g->is64) {
        h[0] = (uint8_t)prev;
        h[1] = 0;
        h[2] = (uint8_t)units;
        h[3] = type;
    } else {
        uint16_t a = (uint16_t)(prev & 0x1ff);
        uint16_t b = (uint16_t)((units & 0x1ff) | (unsigned)(type & 0x7f) << 9);
        memcpy(h, &a, 2);
        memcpy(h + 2, &b, 2);
    }
    memcpy(h + 4, &tag, 4);
    gen_vwrite(g, 0, va, h, g->p->pool_header_size);
}

void gen_pool_set_type(gen_ctx *g, uint64_t chunk_va, uint8_t type)
{
    if (g->is64) {
        gen_vwrite(g, 0, chunk_va + 3, &type, 1);
    } else {
        uint16_t b;
        gen_vread(g, 0, chunk_va + 2, &b, 2);
        b = (uint16_t)((b & 0x1ff) | (unsigned)(type & 0x7f) << 9);
        gen_vwrite(g, 0, chunk_va + 2, &b, 2);
    }
}

void gen_pool_set_tag(gen_ctx *g, uint64_t chunk_va, uint32_t tag)
{
    gen_vwrite(g, 0, chunk_va + 4, &tag, 4);
}

static ds_err track_pool_page(gen_ctx *g, uint64_t va)
{
    if (g->npool_pages == g->cap_pool_pages) {
        size_t nc = g->cap_pool_pages ? g->cap_pool_pages * 2 : 256;
        uint64_t *n = realloc(g->pool_pages, nc * sizeof(*n));
        if (!n)
            return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
        g->pool_pages = n;
        g->cap_pool_pages = nc;
    }
    g->pool_pages[g->npool_pages++] = va;
    return DS_OK;
}

/* Map the next pool VA page on a fresh random frame.  continuation: the
 * page must follow the current one (no VA skip) on a non-adjacent frame. */
static ds_err open_page(gen_ctx *g, bool continuation)
{
    ds_err e;
    if (!continuation && gen_rng_chance(&g->rng, 4) && g->pool_next + 2 * GEN_PAGE <= g->pool_end) {
        if ((e = gen_set_pte(g, 0, g->pool_next, gen_pagefile_pte(g))))
            return e;
        g->pool_next += GEN_PAGE;
    }
    if (g->pool_next + GEN_PAGE > g->pool_end)
        return ds_fail(g->eb, DS_ERR_NOMEM, "pool VA region exhausted");
    uint64_t pfn;
    if ((e = gen_alloc_pfn(g, GP_KERNEL, continuation ? g->pool_last_pfn : 0, &pfn)))
        return e;
    if ((e = gen_map(g, 0, g->pool_next, pfn, GEN_PTE_KDATA)))
        return e;
    if (!gen_page_data(g, pfn))
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    if ((e = track_pool_page(g, g->pool_next)))
        return e;
    g->pool_last_pfn = pfn;
    g->pool_page = g->pool_next;
    g->pool_next += GEN_PAGE;
    g->pool_off = 0;
    g->pool_prev_units = 0;
    return DS_OK;
}

/* Body bytes of a filler chunk: zeros, noise, or pointer-ish words. */
static void fill_body(gen_ctx *g, uint64_t va, uint32_t len)
{
    unsigned kind = (unsigned)gen_rng_below(&g->rng, 3);
    if (kind == 0 || len == 0)
        return; /* fresh pages are zero already */
    uint8_t buf[GEN_PAGE];
    for (uint32_t i = 0; i < len; i += 8) {
        uint64_t v = gen_rng_next(&g->rng);
        if (kind == 2)
            v = (i & 8) ? (g->pool_va + (v & 0xffff0)) : (v & 0xffff);
        memcpy(buf + i, &v, (len - i < 8) ? len - i : 8);
    }
    gen_vwrite(g, 0, va, buf, len);
}

/* One chunk of `bytes` at the current offset (must fit in the page). */
static void emit_filler_chunk(gen_ctx *g, uint32_t bytes)
{
    unsigned units = bytes / g->p->pool_align;
    unsigned t = (unsigned)gen_rng_below(&g->rng, sizeof(filler_tags) / sizeof(filler_tags[0]));
    uint8_t type = gen_rng_chance(&g->rng, 30) ? 0
                   : gen_rng_chance(&g->rng, 50) ? gen_pool_type_nonpaged(g) : pool_type_paged(g);
    uint64_t va = g->pool_page + g->pool_off;
    write_pool_header(g, va, g->pool_prev_units, units, type,
                      gen_tag(g, tag_of(filler_tags[t]), filler_is_object[t]));
    fill_body(g, va + g->p->pool_header_size, bytes - g->p->pool_header_size);
    g->pool_prev_units = units;
    g->pool_off += bytes;
}

/* Fill exactly n bytes of the current page with filler chunks. */
static void filler_exact(gen_ctx *g, uint32_t n)
{
    uint32_t a = g->p->pool_align;
    uint32_t maxb = max_units(g) * a;
    while (n) {
        uint32_t b = n;
        if (n > maxb || (n >= 4 * a && gen_rng_chance(&g->rng, 50))) {
            uint32_t hi = n - a < maxb ? n - a : maxb;
            b = (uint32_t)gen_rng_range(&g->rng, 1, hi / a) * a;
        }
        emit_filler_chunk(g, b);
        n -= b;
    }
}

static void close_page(gen_ctx *g)
{
    if (g->pool_page && g->pool_off < GEN_PAGE)
        filler_exact(g, GEN_PAGE - g->pool_off);
    g->pool_page = 0;
}

ds_err gen_pool_init(gen_ctx *g)
{
    g->pool_next = g->pool_va;
    g->pool_page = 0;
    return DS_OK;
}

ds_err gen_pool_pages(gen_ctx *g, unsigned n, uint64_t *va)
{
    close_page(g);
    if (g->pool_next + (uint64_t)n * GEN_PAGE > g->pool_end)
        return ds_fail(g->eb, DS_ERR_NOMEM, "pool VA region exhausted");
    *va = g->pool_next;
    for (unsigned i = 0; i < n; i++) {
        uint64_t pfn;
        ds_err e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn);
        if (!e)
            e = gen_map(g, 0, g->pool_next, pfn, GEN_PTE_KDATA);
        if (e)
            return e;
        if (!gen_page_data(g, pfn))
            return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
        g->pool_next += GEN_PAGE;
    }
    return DS_OK;
}

ds_err gen_pool_alloc(gen_ctx *g, uint32_t bytes, uint32_t tag, uint8_t pool_type,
                      unsigned flags, uint64_t *chunk_va)
{
    uint32_t a = g->p->pool_align;
    unsigned units = bytes / a;
    ds_err e;
    if (bytes % a || units == 0 || units > max_units(g) || bytes > GEN_PAGE)
        return ds_fail(g->eb, DS_ERR_ARG, "bad pool chunk size 0x%x", bytes);

    if (flags & GEN_PA_OWN_PAGE) {
        close_page(g);
        if ((e = open_page(g, false)))
            return e;
        *chunk_va = g->pool_page;
        write_pool_header(g, *chunk_va, 0, units, pool_type, tag);
        g->pool_prev_units = units;
        g->pool_off = bytes;
        close_page(g);
        return DS_OK;
    }
    if (flags & GEN_PA_STRADDLE) {
        /* r = bytes left in the first page; keep header and a good part of
         * the object there, the rest continues on the next page */
        uint32_t r = (uint32_t)(bytes * gen_rng_range(&g->rng, 25, 75) / 100) / a * a;
        if (r < 4 * a)
            r = 4 * a;
        if (r >= bytes)
            r = bytes - a;
        if (!g->pool_page && (e = open_page(g, false)))
            return e;
        if (GEN_PAGE - g->pool_off < r) {
            close_page(g);
            if ((e = open_page(g, false)))
                return e;
        }
        if (GEN_PAGE - g->pool_off > r)
            filler_exact(g, GEN_PAGE - g->pool_off - r);
        *chunk_va = g->pool_page + g->pool_off;
        write_pool_header(g, *chunk_va, g->pool_prev_units, units, pool_type, tag);
        if ((e = open_page(g, true)))
            return e;
        g->pool_off = bytes - r;
        g->pool_prev_units = units;
        return DS_OK;
    }
    if (!g->pool_page && (e = open_page(g, false)))
        return e;
    if (GEN_PAGE - g->pool_off < bytes) {
        close_page(g);
        if ((e = open_page(g, false)))
            return e;
    }
    *chunk_va = g->pool_page + g->pool_off;
    write_pool_header(g, *chunk_va, g->pool_prev_units, units, pool_type, tag);
    g->pool_prev_units = units;
    g->pool_off += bytes;
    if (g->pool_off == GEN_PAGE)
        g->pool_page = 0;
    return DS_OK;
}

ds_err gen_pool_filler(gen_ctx *g, unsigned max_chunks)
{
    unsigned n = (unsigned)gen_rng_below(&g->rng, max_chunks + 1);
    uint32_t a = g->p->pool_align;
    for (unsigned i = 0; i < n; i++) {
        uint32_t bytes = (uint32_t)gen_rng_range(&g->rng, 2, 0x60) * a;
        if (!g->pool_page) {
            ds_err e = open_page(g, false);
            if (e)
                return e;
        }
        if (GEN_PAGE - g->pool_off < bytes) {
            close_page(g);
            continue;
        }
        emit_filler_chunk(g, bytes);
        if (g->pool_off == GEN_PAGE)
            g->pool_page = 0;
    }
    return DS_OK;
}

/* ---------------- objects ---------------- */

static bool opt_bit_valid(const gen_ctx *g, unsigned bit)
{
    uint16_t s = g->p->oh_opt_size[bit];
    return s != 0 && s != DS_OFF_NONE;
}

static uint32_t opt_len(const gen_ctx *g, uint8_t mask)
{
    uint32_t n = 0;
    for (unsigned b = 0; b < 8; b++)
        if ((mask & (1u << b)) && opt_bit_valid(g, b))
            n += g->p->oh_opt_size[b];
    return n;
}

static uint8_t choose_info_mask(gen_ctx *g, gen_obj_kind kind)
{
    if (g->p->xp_object_type || g->p->oh_info_mask == DS_OFF_NONE)
        return 0;
    uint8_t m = 0;
    if (kind == GEN_OBJ_PROCESS || gen_rng_chance(&g->rng, 70))
        m |= INFO_QUOTA;
    if (g->p->object_top_down && opt_bit_valid(g, 7) &&
        (kind == GEN_OBJ_PROCESS || gen_rng_chance(&g->rng, 30)))
        m |= INFO_PADDING;
    return m;
}

uint8_t gen_real_type_index(const gen_ctx *g, gen_obj_kind kind)
{
    if (kind == GEN_OBJ_PROCESS)
        return g->p->process_type_index ? g->p->process_type_index : 7;
    return g->p->thread_type_index ? g->p->thread_type_index : 8;
}

static ds_err write_object_header(gen_ctx *g, gen_obj_kind kind, uint64_t hdr, uint8_t mask)
{
    const ds_profile *p = g->p;
    uint64_t ptrs = kind == GEN_OBJ_PROCESS ? gen_rng_range(&g->rng, 8, 0x30000)
                                            : gen_rng_range(&g->rng, 2, 0x400);
    uint64_t handles = kind == GEN_OBJ_PROCESS ? gen_rng_range(&g->rng, 1, 300)
                                               : gen_rng_range(&g->rng, 0, 4);
    ds_err e;
    if ((e = gen_kwptr(g, hdr, p->oh_pointer_count, ptrs)) ||
        (e = gen_kwptr(g, hdr, p->oh_handle_count, handles)))
        return e;
    if (p->xp_object_type)
        return gen_kwptr(g, hdr, p->oh_type,
                         kind == GEN_OBJ_PROCESS ? g->proc_type_obj : g->thread_type_obj);
    uint8_t ti = gen_real_type_index(g, kind);
    if (p->typeindex_cookie)
        ti = (uint8_t)(ti ^ g->cookie ^ (uint8_t)(hdr >> 8));
    if ((e = gen_kw8(g, hdr, p->oh_type_index, ti)) || (e = gen_kw8(g, hdr, p->oh_info_mask, mask)))
        return e;
    return DS_OK;
}

ds_err gen_place_object(gen_ctx *g, gen_obj_kind kind, unsigned flags, uint64_t *pool_va,
                        uint64_t *hdr_va, uint64_t *body_va)
{
    const ds_profile *p = g->p;
    uint32_t a = p->pool_align, ph = p->pool_header_size, ob = p->oh_body;
    uint32_t body = kind == GEN_OBJ_PROCESS ? p->eprocess_size : p->ethread_size;
    uint8_t mask = choose_info_mask(g, kind);
    uint32_t optlen = opt_len(g, mask);
    uint32_t pad = 0, hdr_off, total;
    if (p->object_top_down) {
        if (mask & INFO_PADDING)
            pad = (a - (ph + optlen) % a) % a + a * (uint32_t)gen_rng_below(&g->rng, 3);
        hdr_off = ph + pad + optlen;
        total = (uint32_t)gen_round_up(hdr_off + ob + body, a) + a * (uint32_t)gen_rng_below(&g->rng, 2);
    } else {
        uint32_t slack = a * (uint32_t)gen_rng_below(&g->rng, 3);
        uint32_t rbody = (uint32_t)gen_round_up(body, a);
        total = ph + slack + optlen + ob + rbody;
        hdr_off = total - rbody - ob;
    }
    if (hdr_off % a)
        return ds_fail(g->eb, DS_ERR_CORRUPT, "object header misaligned (InfoMask 0x%x)", mask);
    uint32_t tag = gen_tag(g, kind == GEN_OBJ_PROCESS ? GEN_TAG('P', 'r', 'o', 'c')
                                                      : GEN_TAG('T', 'h', 'r', 'e'), true);
    ds_err e = gen_pool_alloc(g, total, tag, gen_pool_type_nonpaged(g), flags, pool_va);
    if (e)
        return e;
    *hdr_va = *pool_va + hdr_off;
    *body_va = *hdr_va + ob;
    if (mask & INFO_PADDING) {
        uint32_t v = pad + p->oh_opt_size[7];
        if ((e = gen_vwrite(g, 0, *hdr_va - optlen, &v, 4)))
            return e;
    }
    return write_object_header(g, kind, *hdr_va, mask);
}

/* ---------------- decoys ---------------- */

void gen_add_decoy(gen_ctx *g, uint64_t pa, const char *reason)
{
    if (g->ndecoys == g->cap_decoys) {
        size_t nc = g->cap_decoys ? g->cap_decoys * 2 : 16;
        gen_decoy *n = realloc(g->decoys, nc * sizeof(*n));
        if (!n)
            return;
        g->decoys = n;
        g->cap_decoys = nc;
    }
    g->decoys[g->ndecoys++] = (gen_decoy){pa, reason};
}

static void random_bytes(gen_ctx *g, uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = gen_rng_next(&g->rng);
        memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
    }
}

/* A Proc/Thre-tagged chunk of object size whose body is garbage. */
static ds_err decoy_stray_tag(gen_ctx *g, bool thread)
{
    const ds_profile *p = g->p;
    uint32_t body = thread ? p->ethread_size : p->eprocess_size;
    uint32_t bytes = (uint32_t)gen_round_up(p->pool_header_size + 0x40 + p->oh_body + body,
                                            p->pool_align);
    uint32_t tag = gen_tag(g, thread ? GEN_TAG('T', 'h', 'r', 'e') : GEN_TAG('P', 'r', 'o', 'c'), true);
    uint64_t va, pa;
    ds_err e = gen_pool_alloc(g, bytes, tag, gen_pool_type_nonpaged(g), 0, &va);
    if (e)
        return e;
    uint8_t buf[GEN_PAGE];
    uint32_t n = bytes - p->pool_header_size;
    random_bytes(g, buf, n);
    if ((e = gen_vwrite(g, 0, va + p->pool_header_size, buf, n)))
        return e;
    if (!gen_xlat(g, 0, va, &pa))
        return DS_ERR_CORRUPT;
    gen_add_decoy(g, pa, thread ? "stray_thread_tag_garbage" : "stray_process_tag_garbage");
    return DS_OK;
}

/* An old process object, freed, whose first half was reused. */
static ds_err decoy_half_overwritten(gen_ctx *g)
{
    const ds_profile *p = g->p;
    uint64_t pool, hdr, body, pa;
    ds_err e = gen_place_object(g, GEN_OBJ_PROCESS, 0, &pool, &hdr, &body);
    if (e)
        return e;
    uint32_t pid = (uint32_t)gen_rng_range(&g->rng, 0x100, 0x3000) * 4;
    if ((e = gen_kwptr(g, body, p->ep_pid, pid)))
        return e;
    uint8_t name[15] = "oldsvc_99.exe";
    if (p->ep_name != DS_OFF_NONE && (e = gen_vwrite(g, 0, body + p->ep_name, name, sizeof(name))))
        return e;
    int64_t ct = g->boot_time + (int64_t)gen_rng_below(&g->rng, 1000) * 10000000;
    if ((e = gen_kw64(g, body, p->ep_create_time, (uint64_t)ct)))
        return e;
    uint8_t garbage[GEN_PAGE];
    uint32_t half = p->eprocess_size / 2;
    random_bytes(g, garbage, half);
    garbage[0] = 0x1d; /* never a process or thread dispatcher type */
    if ((e = gen_vwrite(g, 0, body, garbage, half)))
        return e;
    gen_pool_set_type(g, pool, 0);
    if (!gen_xlat(g, 0, pool, &pa))
        return DS_ERR_CORRUPT;
    gen_add_decoy(g, pa, "half_overwritten_eprocess");
    return DS_OK;
}

/* "Proc" inside a filler chunk at an offset no pool header can have. */
static ds_err decoy_unaligned_tag(gen_ctx *g)
{
    uint64_t va, pa;
    uint32_t bytes = 0x20 * g->p->pool_align;
    ds_err e = gen_pool_alloc(g, bytes, gen_tag(g, GEN_TAG('N', 't', 'f', 'x'), false),
                              pool_type_paged(g), 0, &va);
    if (e)
        return e;
    static const char text[] = "..ProcessId=Proc..";
    uint64_t at = va + g->p->pool_header_size + 3;
    if ((e = gen_vwrite(g, 0, at, text, sizeof(text) - 1)))
        return e;
    if (!gen_xlat(g, 0, at + 12 - 4, &pa))
        return DS_ERR_CORRUPT;
    gen_add_decoy(g, pa, "unaligned_process_tag");
    return DS_OK;
}

ds_err gen_plant_decoys(gen_ctx *g)
{
    ds_err e;
    if ((e = decoy_stray_tag(g, false)) || (e = gen_pool_filler(g, 3)) ||
        (e = decoy_stray_tag(g, true)) || (e = gen_pool_filler(g, 3)) ||
        (e = decoy_half_overwritten(g)) || (e = gen_pool_filler(g, 3)) ||
        (e = decoy_unaligned_tag(g)))
        return e;
    return DS_OK;
}
