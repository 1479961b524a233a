/* validate.c - is this EPROCESS / ETHREAD real?  Read it and score it.
 *
 * Everything here reads through an "object view" (physical address plus
 * optional kernel VA, see validate.h) and never trusts a field before
 * checking it: every offset comes from the build's profile, every read is
 * bounded by the profile's structure size and by a 4 KiB local buffer.
 *
 * Type checking follows offsets-notes.md section 3.3 without needing the
 * ObHeaderCookie: ds_vctx_init() reads the System process (first entry
 * behind PsActiveProcessHead) and one of its threads, and records
 *   key = stored_TypeIndex ^ (cookie_mode ? (uint8_t)(hdr_va >> 8) : 0)
 * which equals cookie ^ real_index.  A candidate has the same type iff its
 * own stored byte gives the same key.  XP headers carry a Type pointer
 * instead, compared with System's. */
#include "validate.h"

#include <string.h>

#include "../src/dumpfmt.h"
#include "../src/le.h"

#define OBJ_BUF 4096u
#define KTHREAD_WAITING 5u

/* FILETIME of 1995-01-01: nothing Windows-NT-kernel-made is older. */
#define FT_1995 0x01b9d8e6e2d20000LL
#define FT_DAY 864000000000LL

/* Weight of each failed check (index = bit number of enum ds_check). */
static const int check_weight[DS_CHECK_COUNT] = {
    [0] = 5,   /* POOL_HEADER */
    [1] = 20,  /* OBJECT_TYPE */
    [2] = 30,  /* DISPATCHER (also mandatory, see ds_score_from_failed) */
    [3] = 20,  /* ID */
    [4] = 10,  /* DTB */
    [5] = 10,  /* NAME */
    [6] = 10,  /* TIMES */
    [7] = 15,  /* LINKS */
    [8] = 0,   /* LINKS_BACK: evidence for the cross-view, not against */
    [9] = 15,  /* THREAD_OWNER */
    [10] = 10, /* UNREADABLE */
    [11] = 10, /* WAITLIST */
    [12] = 0,  /* TYPE_UNVERIFIED: no evidence either way, said so */
};

int ds_score_from_failed(uint32_t failed)
{
    int score = 100;
    for (unsigned i = 0; i < DS_CHECK_COUNT; i++)
        if (failed & (1u << i))
            score -= check_weight[i];
    if (score < 0)
        score = 0;
    if ((failed & DS_CHK_DISPATCHER) && score > 40)
        score = 40;
    return score;
}

/* ---- small readers ------------------------------------------------------ */

static uint64_t rd64(const uint8_t *b, unsigned off)
{
    return ds_le64(b + off);
}

static uint32_t rd32(const uint8_t *b, unsigned off)
{
    return ds_le32(b + off);
}

uint64_t ds_vctx_rdptr(const ds_vctx *vc, const uint8_t *buf, uint16_t off)
{
    return vc->ptr == 8 ? rd64(buf, off) : rd32(buf, off);
}

bool ds_vctx_kptr(const ds_vctx *vc, uint64_t v)
{
    return ds_is_kernel_ptr(vc->ptr, v);
}

static bool have(uint16_t off)
{
    return off != DS_OFF_NONE;
}

/* True when [off, off+len) of the object lies inside the readable prefix. */
static bool in_read(size_t got, uint16_t off, unsigned len)
{
    return have(off) && (size_t)off + len <= got;
}

size_t ds_obj_read(const ds_vctx *vc, uint64_t pa, uint64_t va, uint64_t off, void *buf,
                   size_t len)
{
    memset(buf, 0, len);
    if (va != DS_NO_VALUE) {
        /* Page by page so a partially mapped object yields its prefix. */
        size_t done = 0;
        while (done < len) {
            uint64_t cur = va + off + done;
            size_t n = DS_PAGE_SIZE - (size_t)(cur & (DS_PAGE_SIZE - 1));
            if (n > len - done)
                n = len - done;
            if (ds_kread(vc->d, cur, (uint8_t *)buf + done, n) != DS_OK)
                break;
            done += n;
        }
        if (done == len || pa == DS_NO_VALUE)
            return done;
        if (done > 0)
            return done;
        /* VA unreadable from the start: fall back to the physical page. */
    }
    if (pa == DS_NO_VALUE)
        return 0;
    uint64_t start = pa + off;
    if ((start >> DS_PAGE_SHIFT) != (pa >> DS_PAGE_SHIFT) && off != 0)
        return 0; /* the requested part begins on a page we cannot locate */
    size_t n = DS_PAGE_SIZE - (size_t)(start & (DS_PAGE_SIZE - 1));
    if (n > len)
        n = len;
    if (ds_phys_read(vc->d, start, buf, n) != DS_OK)
        return 0;
    return n;
}

/* ---- type keys ---------------------------------------------------------- */

static uint8_t addr_byte(const ds_vctx *vc, uint64_t hdr_va)
{
    return vc->cookie_mode ? (uint8_t)(hdr_va >> 8) : 0;
}

/* Learn the stored type value of a known object (System or its thread). */
static void learn_type(ds_vctx *vc, uint64_t body_va, bool is_proc)
{
    const ds_profile *p = vc->p;
    uint64_t hdr = body_va - p->oh_body;
    if (p->xp_object_type) {
        uint64_t t = 0;
        if (ds_kread_ptr(vc->d, hdr + p->oh_type, &t) == DS_OK && ds_vctx_kptr(vc, t)) {
            if (is_proc)
                vc->xp_proc_type = t;
            else
                vc->xp_thread_type = t;
        }
        return;
    }
    uint8_t stored;
    if (!have(p->oh_type_index) || ds_kread(vc->d, hdr + p->oh_type_index, &stored, 1) != DS_OK)
        return;
    uint8_t key = stored ^ addr_byte(vc, hdr);
    if (is_proc) {
        vc->proc_key = key;
        vc->have_proc_key = true;
    } else {
        vc->thread_key = key;
        vc->have_thread_key = true;
    }
}

bool ds_vctx_learn_keys(ds_vctx *vc, uint64_t sys)
{
    const ds_dump *d = vc->d;
    vc->system_eprocess = sys;
    learn_type(vc, sys, true);
    uint64_t tl = 0;
    if (have(vc->p->ep_thread_list) && have(vc->p->et_thread_list) &&
        ds_kread_ptr(d, sys + vc->p->ep_thread_list, &tl) == DS_OK && ds_vctx_kptr(vc, tl) &&
        tl != sys + vc->p->ep_thread_list)
        learn_type(vc, tl - vc->p->et_thread_list, false);
    /* With one key and known indices the other follows from the cookie. */
    if (vc->p->process_type_index && vc->p->thread_type_index && !vc->p->xp_object_type) {
        uint8_t diff = vc->p->process_type_index ^ vc->p->thread_type_index;
        if (vc->have_proc_key && !vc->have_thread_key) {
            vc->thread_key = vc->proc_key ^ diff;
            vc->have_thread_key = true;
        } else if (vc->have_thread_key && !vc->have_proc_key) {
            vc->proc_key = vc->thread_key ^ diff;
            vc->have_proc_key = true;
        }
    }
    return vc->p->xp_object_type ? vc->xp_proc_type != 0 : vc->have_proc_key;
}

void ds_vctx_init(ds_vctx *vc, const ds_dump *d)
{
    memset(vc, 0, sizeof(*vc));
    vc->d = d;
    vc->p = d->profile;
    vc->ptr = (d->arch == DS_ARCH_X64 || d->arch == DS_ARCH_ARM64) ? 8 : 4;
    vc->now = d->system_time;
    vc->max_pfn = d->pm.max_pfn;
    vc->active_head = d->ps_active_process_head;
    vc->active_head_src = d->ps_active_process_head ? d->list_head_source : DS_SRC_NONE;
    vc->module_list = d->ps_loaded_module_list;
    vc->module_list_src = d->ps_loaded_module_list ? d->list_head_source : DS_SRC_NONE;
    vc->cid_table_ptr = d->psp_cid_table;
    vc->cid_table_src = d->psp_cid_table ? d->cid_table_source : DS_SRC_NONE;
    if (!vc->p)
        return;
    vc->cookie_mode = vc->p->typeindex_cookie;
    if (!vc->active_head || d->kvas.mode == DS_PAGING_NONE)
        return;
    uint64_t first = 0;
    if (ds_kread_ptr(d, vc->active_head, &first) != DS_OK || !ds_vctx_kptr(vc, first))
        return;
    uint64_t sys = first - vc->p->ep_links;
    uint64_t pid = 0;
    if (ds_kread_ptr(d, sys + vc->p->ep_pid, &pid) != DS_OK || pid != 4)
        return; /* the first entry is not System: do not learn from it */
    ds_vctx_learn_keys(vc, sys);
}

/* Type check of an OBJECT_HEADER at hdr (pa/va of the header). */
static int header_type_check(const ds_vctx *vc, uint64_t hdr_pa, uint64_t hdr_va, bool is_proc)
{
    const ds_profile *p = vc->p;
    uint8_t hb[64];
    if (p->oh_size > sizeof(hb) || ds_obj_read(vc, hdr_pa, hdr_va, 0, hb, p->oh_size) < p->oh_size)
        return -1;
    if (p->xp_object_type) {
        uint64_t want = is_proc ? vc->xp_proc_type : vc->xp_thread_type;
        if (!want)
            return -1;
        return ds_vctx_rdptr(vc, hb, p->oh_type) == want;
    }
    if (!have(p->oh_type_index))
        return -1;
    uint8_t stored = hb[p->oh_type_index];
    bool have_key = is_proc ? vc->have_proc_key : vc->have_thread_key;
    if (have_key) {
        if (vc->cookie_mode && hdr_va == DS_NO_VALUE)
            return -1;
        uint8_t key = is_proc ? vc->proc_key : vc->thread_key;
        return (uint8_t)(stored ^ addr_byte(vc, hdr_va)) == key;
    }
    /* No learnt key: without the cookie the plain index decides. */
    uint8_t idx = is_proc ? p->process_type_index : p->thread_type_index;
    if (!vc->cookie_mode && idx)
        return stored == idx;
    return -1;
}

int ds_object_type_check(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, bool is_proc)
{
    const ds_profile *p = vc->p;
    uint64_t hdr_va = body_va == DS_NO_VALUE ? DS_NO_VALUE : body_va - p->oh_body;
    uint64_t hdr_pa = DS_NO_VALUE;
    /* Physically, the header is before the body in the same page only if
     * the body does not start within oh_body bytes of the page start. */
    if (body_pa != DS_NO_VALUE && (body_pa & (DS_PAGE_SIZE - 1)) >= p->oh_body)
        hdr_pa = body_pa - p->oh_body;
    if (hdr_va == DS_NO_VALUE && hdr_pa == DS_NO_VALUE)
        return -1;
    return header_type_check(vc, hdr_pa, hdr_va, is_proc);
}

/* ---- pool header -> object body ---------------------------------------- */

typedef struct pool_hdr {
    unsigned block_size, pool_type, pool_index;
} pool_hdr;

static bool read_pool_header(const ds_vctx *vc, uint64_t pool_pa, pool_hdr *h)
{
    uint8_t b[16];
    if (ds_phys_read(vc->d, pool_pa, b, vc->p->pool_header_size) != DS_OK)
        return false;
    if (vc->p->is64) {
        h->pool_index = b[1];
        h->block_size = b[2];
        h->pool_type = b[3];
    } else {
        uint16_t w0, w1;
        memcpy(&w0, b, 2);
        memcpy(&w1, b + 2, 2);
        h->pool_index = w0 >> 9;
        h->block_size = w1 & 0x1ff;
        h->pool_type = w1 >> 9;
    }
    return true;
}

bool ds_pool_chunk(const ds_vctx *vc, uint64_t pool_pa, uint32_t *bytes, bool *free_chunk)
{
    pool_hdr h;
    if (!vc->p || !read_pool_header(vc, pool_pa, &h))
        return false;
    *bytes = h.block_size * vc->p->pool_align;
    *free_chunk = h.pool_type == 0;
    return true;
}

/* Bytes of the body the validator needs to be inside the allocation. */
static unsigned min_body(const ds_profile *p, bool is_proc)
{
    unsigned need = is_proc ? p->ep_name + 15u : p->et_cid_tid + p->ptr_size;
    return need;
}

static unsigned opt_headers_len(const ds_profile *p, unsigned mask)
{
    unsigned len = 0;
    for (unsigned b = 0; b < 8; b++)
        if ((mask & (1u << b)) && p->oh_opt_size[b] != DS_OFF_NONE)
            len += p->oh_opt_size[b];
    return len;
}

static unsigned max_opt_headers(const ds_profile *p)
{
    return opt_headers_len(p, 0xff);
}

/* Does the body at pool + body_off start with this object kind's
 * DISPATCHER_HEADER (type, and size when the build's is known)? */
static bool body_dispatcher_at(const ds_vctx *vc, uint64_t pool_pa, uint64_t pool_va,
                               uint64_t body_off, bool is_proc)
{
    uint8_t b[4];
    if (ds_obj_read(vc, pool_pa, pool_va, body_off, b, sizeof(b)) < sizeof(b))
        return false;
    uint8_t size = is_proc ? vc->p->process_dispatcher_size : vc->p->thread_dispatcher_size;
    return b[0] == (is_proc ? 3 : 6) && (size == 0 || b[2] == size);
}

/* Win8+: the object header follows the pool header and the optional
 * headers named by its own InfoMask; try each aligned position and keep
 * the best.  Garbage can pass the InfoMask test at a second position,
 * and even the type test: a zeroed header decodes to the right type
 * whenever the header-VA byte equals the key (1 in 256 on Windows 10+),
 * and without a VA the type cannot be decoded at all.  So a position is
 * ranked by its type test (match over undecidable) and by whether its
 * body starts with the right DISPATCHER_HEADER; the first of the best
 * rank wins. */
static int top_down_rank(int type, bool dispatcher)
{
    return (type == 1 ? 2 : 0) + (dispatcher ? 1 : 0);
}

static bool locate_top_down(const ds_vctx *vc, uint64_t pool_pa, uint64_t pool_va, bool is_proc,
                            unsigned block_bytes, ds_pool_obj *out)
{
    const ds_profile *p = vc->p;
    unsigned limit = max_opt_headers(p);
    int best = -1;
    for (unsigned a = 0; a <= limit; a += p->pool_align) {
        uint64_t hdr_off = p->pool_header_size + a;
        if (hdr_off + p->oh_body + min_body(p, is_proc) > block_bytes)
            break;
        uint8_t hb[64];
        if (p->oh_size > sizeof(hb) ||
            ds_obj_read(vc, pool_pa, pool_va, hdr_off, hb, p->oh_size) < p->oh_size)
            continue;
        unsigned mask = hb[p->oh_info_mask];
        unsigned len = opt_headers_len(p, mask);
        bool padded = (mask & 0x80) != 0;
        if (!(len == a || (padded && a >= len)))
            continue;
        int64_t refs = p->ptr_size == 8 ? (int64_t)rd64(hb, p->oh_pointer_count)
                                         : (int32_t)rd32(hb, p->oh_pointer_count);
        if (refs < 0 || refs > 0x1000000)
            continue;
        uint64_t hva = pool_va == DS_NO_VALUE ? DS_NO_VALUE : pool_va + hdr_off;
        uint64_t hpa = (pool_pa & 0xfff) + hdr_off + p->oh_size <= DS_PAGE_SIZE ? pool_pa + hdr_off
                                                                               : DS_NO_VALUE;
        int t = header_type_check(vc, hpa, hva, is_proc);
        if (t == 0)
            continue;
        uint64_t body_off = hdr_off + p->oh_body;
        int rank = top_down_rank(t, body_dispatcher_at(vc, pool_pa, pool_va, body_off, is_proc));
        if (rank > best) {
            out->body_off = body_off;
            out->type_ok = t;
            best = rank;
            if (rank == top_down_rank(1, true))
                break;
        }
    }
    return best >= 0;
}

/* Before Win8 the object sits at the end of the pool block. */
static bool locate_bottom_up(const ds_vctx *vc, uint64_t pool_pa, uint64_t pool_va, bool is_proc,
                             unsigned block_bytes, ds_pool_obj *out)
{
    const ds_profile *p = vc->p;
    unsigned size = is_proc ? p->eprocess_size : p->ethread_size;
    unsigned rounded = (size + p->pool_align - 1) & ~(p->pool_align - 1u);
    if (rounded + p->oh_body + p->pool_header_size > block_bytes)
        return false;
    uint64_t body_off = block_bytes - rounded;
    uint64_t hdr_off = body_off - p->oh_body;
    uint64_t hva = pool_va == DS_NO_VALUE ? DS_NO_VALUE : pool_va + hdr_off;
    uint64_t hpa = (pool_pa & 0xfff) + hdr_off + p->oh_size <= DS_PAGE_SIZE ? pool_pa + hdr_off
                                                                           : DS_NO_VALUE;
    out->body_off = body_off;
    out->type_ok = header_type_check(vc, hpa, hva, is_proc);
    return out->type_ok != 0;
}

bool ds_pool_locate(const ds_vctx *vc, uint64_t pool_pa, uint64_t pool_va, bool is_proc,
                    ds_pool_obj *out)
{
    memset(out, 0, sizeof(*out));
    if (!vc->p)
        return false;
    pool_hdr h;
    if (!read_pool_header(vc, pool_pa, &h))
        return false;
    unsigned block_bytes = h.block_size * vc->p->pool_align;
    out->free_chunk = h.pool_type == 0;
    unsigned need = vc->p->pool_header_size + vc->p->oh_body + min_body(vc->p, is_proc);
    out->pool_ok = block_bytes >= need;
    if (!out->pool_ok)
        return false;
    if (vc->p->object_top_down)
        return locate_top_down(vc, pool_pa, pool_va, is_proc, block_bytes, out);
    if (locate_bottom_up(vc, pool_pa, pool_va, is_proc, block_bytes, out))
        return true;
    /* Patch levels change structure sizes; Win7 headers carry InfoMask,
     * so the top-down search is a sound second try there (not on XP). */
    if (!vc->p->xp_object_type)
        return locate_top_down(vc, pool_pa, pool_va, is_proc, block_bytes, out);
    return false;
}

/* ---- body checks -------------------------------------------------------- */

static bool name_ok(const uint8_t *n, char *out)
{
    size_t len = 0;
    while (len < 15 && n[len])
        len++;
    memcpy(out, n, len);
    out[len] = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (n[i] < 0x20 || n[i] == 0x7f)
            return false; /* control bytes; non-ASCII (>= 0x80) is allowed */
    for (size_t i = len; i < 15; i++)
        if (n[i] != 0)
            return false; /* tail after the NUL must be clean */
    return true;
}

static bool times_ok(const ds_vctx *vc, int64_t create, int64_t exit, bool may_be_zero)
{
    /* a day of clock skew; a hostile SystemTime near INT64_MAX saturates */
    int64_t upper = vc->now <= 0 ? INT64_MAX
                    : vc->now > INT64_MAX - FT_DAY ? INT64_MAX : vc->now + FT_DAY;
    if (create == 0) {
        if (!may_be_zero)
            return false;
    } else if (create < FT_1995 || create > upper) {
        return false;
    }
    if (exit != 0 && (exit < create || exit > upper || exit < FT_1995))
        return false;
    return true;
}

/* DTB: page aligned (after masking the low PCID/flag bits on x64) and the
 * page is in the dump. */
static bool dtb_ok(const ds_vctx *vc, uint64_t dtb)
{
    uint64_t base;
    if (vc->d->arch == DS_ARCH_X86_PAE)
        base = dtb & ~0x1full;
    else if (vc->p->is64)
        base = dtb & 0x000ffffffffff000ull;
    else
        base = dtb;
    if (!base || (!vc->p->is64 && vc->d->arch != DS_ARCH_X86_PAE && (dtb & 0xfff)))
        return false;
    uint64_t off;
    return ds_physmap_lookup(&vc->d->pm, base >> DS_PAGE_SHIFT, &off) == DS_OK;
}

static bool list_ok(const ds_vctx *vc, const uint8_t *b, size_t got, uint16_t off)
{
    if (!in_read(got, off, vc->ptr * 2))
        return false;
    return ds_vctx_kptr(vc, ds_vctx_rdptr(vc, b, off)) &&
           ds_vctx_kptr(vc, ds_vctx_rdptr(vc, b, off + vc->ptr));
}

static bool dispatcher_ok(const ds_profile *p, const uint8_t *b, bool is_proc)
{
    uint8_t want = is_proc ? 3 : 6;
    uint8_t size = is_proc ? p->process_dispatcher_size : p->thread_dispatcher_size;
    if (b[0] != want)
        return false;
    return size == 0 || b[2] == size;
}

/* Does the object's list entry at links_va sit between neighbours that
 * point back at it? */
static bool links_back_ok(const ds_vctx *vc, uint64_t links_va, uint64_t flink, uint64_t blink)
{
    uint64_t back = 0, fwd = 0;
    if (ds_kread_ptr(vc->d, flink + vc->ptr, &back) != DS_OK)
        return false;
    if (ds_kread_ptr(vc->d, blink, &fwd) != DS_OK)
        return false;
    return back == links_va && fwd == links_va;
}

/* Read an object body (at most its profile size, capped by the local
 * buffer) and run the checks every dispatcher object shares: readable,
 * DISPATCHER_HEADER type (and size), WaitListHead a kernel pointer.
 * Returns the number of bytes read; *failed gets the failed checks. */
static size_t read_body_common(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va,
                               bool is_proc, uint8_t *b, size_t cap, uint32_t *failed)
{
    const ds_profile *p = vc->p;
    size_t size = is_proc ? p->eprocess_size : p->ethread_size;
    size_t want = size < cap ? size : cap;
    size_t got = ds_obj_read(vc, body_pa, body_va, 0, b, want);
    if (got < want)
        *failed |= DS_CHK_UNREADABLE;
    if (got < 0x20 || !dispatcher_ok(p, b, is_proc))
        *failed |= DS_CHK_DISPATCHER;
    if (got < 0x18 || !ds_vctx_kptr(vc, ds_vctx_rdptr(vc, b, 8)))
        *failed |= DS_CHK_WAITLIST;
    return got;
}

/* Fields that take no part in validation: Token, Protection, the WoW64
 * pointer, the image path's OBJECT_NAME_INFORMATION pointer. */
static void read_process_extras(const ds_vctx *vc, const uint8_t *b, size_t got, ds_proc *o)
{
    const ds_profile *p = vc->p;
    o->protection = -1;
    o->wow64 = p->is64 ? 0 : -1;
    if (in_read(got, p->ep_token, vc->ptr))
        o->token = ds_vctx_rdptr(vc, b, p->ep_token) & ~(uint64_t)(p->is64 ? 0xf : 0x7);
    if (in_read(got, p->ep_protection, 1))
        o->protection = b[p->ep_protection];
    if (p->is64 && in_read(got, p->ep_wow64, 8))
        o->wow64 = ds_vctx_rdptr(vc, b, p->ep_wow64) != 0;
    if (in_read(got, p->ep_se_audit, vc->ptr))
        o->image_path_va = ds_vctx_rdptr(vc, b, p->ep_se_audit);
}

int ds_validate_process(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, ds_proc *o)
{
    const ds_profile *p = vc->p;
    static const size_t cap = OBJ_BUF;
    uint8_t b[OBJ_BUF];
    uint32_t failed = 0;

    memset(o, 0, sizeof(*o));
    o->eprocess_pa = body_pa;
    o->eprocess_va = body_va;
    o->pool_pa = DS_NO_VALUE;
    o->session_id = UINT32_MAX;
    o->type_byte = DS_TYPE_BYTE_UNREAD;
    if (!p)
        return 0;
    size_t got = read_body_common(vc, body_pa, body_va, true, b, cap, &failed);
    if (got && body_va != DS_NO_VALUE) /* read at its VA, as the cross-view would */
        o->type_byte = b[0];

    if (in_read(got, p->ep_pid, vc->ptr))
        o->pid = ds_vctx_rdptr(vc, b, p->ep_pid);
    if (!in_read(got, p->ep_pid, vc->ptr) || (o->pid & 3) || o->pid >= (1u << 26))
        failed |= DS_CHK_ID;
    if (in_read(got, p->ep_ppid, vc->ptr))
        o->ppid = ds_vctx_rdptr(vc, b, p->ep_ppid);
    if ((o->ppid & 3) || o->ppid >= (1u << 26))
        failed |= DS_CHK_ID;

    bool name_read = in_read(got, p->ep_name, 15);
    if (!name_read || !name_ok(b + p->ep_name, o->name))
        failed |= DS_CHK_NAME;

    if (in_read(got, p->ep_create_time, 8))
        o->create_time = (int64_t)rd64(b, p->ep_create_time);
    if (in_read(got, p->ep_exit_time, 8))
        o->exit_time = (int64_t)rd64(b, p->ep_exit_time);
    bool special = o->pid == 0 || o->pid == 4;
    if (!in_read(got, p->ep_create_time, 8) || !times_ok(vc, o->create_time, o->exit_time, special))
        failed |= DS_CHK_TIMES;

    if (in_read(got, p->ep_dtb, vc->ptr))
        o->dtb = p->is64 ? rd64(b, p->ep_dtb) : rd32(b, p->ep_dtb);
    if (!in_read(got, p->ep_dtb, vc->ptr) || !dtb_ok(vc, o->dtb))
        failed |= DS_CHK_DTB;

    if (in_read(got, p->ep_links, vc->ptr * 2)) {
        o->links_flink = ds_vctx_rdptr(vc, b, p->ep_links);
        o->links_blink = ds_vctx_rdptr(vc, b, p->ep_links + vc->ptr);
    }
    if (!list_ok(vc, b, got, p->ep_links) || !list_ok(vc, b, got, p->ep_thread_list))
        failed |= DS_CHK_LINKS;
    else if (body_va == DS_NO_VALUE ||
             !links_back_ok(vc, body_va + p->ep_links, o->links_flink, o->links_blink))
        failed |= DS_CHK_LINKS_BACK;

    if (in_read(got, p->ep_peb, vc->ptr))
        o->peb = ds_vctx_rdptr(vc, b, p->ep_peb);
    if (in_read(got, p->ep_object_table, vc->ptr))
        o->object_table = ds_vctx_rdptr(vc, b, p->ep_object_table);
    if (in_read(got, p->ep_active_threads, 4))
        o->active_threads = rd32(b, p->ep_active_threads);
    if (in_read(got, p->ep_flags, 4))
        o->flags = rd32(b, p->ep_flags);
    if (in_read(got, p->ep_exit_status, 4))
        o->exit_status = rd32(b, p->ep_exit_status);
    read_process_extras(vc, b, got, o);
    if (in_read(got, p->ep_session, vc->ptr) && have(p->mm_session_id)) {
        uint64_t sess = ds_vctx_rdptr(vc, b, p->ep_session);
        uint32_t sid;
        if (ds_vctx_kptr(vc, sess) && ds_kread(vc->d, sess + p->mm_session_id, &sid, 4) == DS_OK &&
            sid < 0x10000)
            o->session_id = sid;
    }

    int t = ds_object_type_check(vc, body_pa, body_va, true);
    if (t == 0)
        failed |= DS_CHK_OBJECT_TYPE;
    else if (t < 0)
        failed |= DS_CHK_TYPE_UNVERIFIED;
    o->failed = failed;
    o->score = ds_score_from_failed(failed);
    return o->score;
}

/* Thread fields that take no part in validation: stacks, Win32Thread,
 * wait mode and alertability, previous mode, the system service number
 * of a thread that came from user mode (KTHREAD.SystemCallNumber; the
 * trap frame's Rax/Eax is taken later, where the trap frame is read). */
static void read_thread_extras(const ds_vctx *vc, const uint8_t *b, size_t got, ds_thread *o)
{
    const ds_profile *p = vc->p;
    o->wait_mode = o->alertable = o->previous_mode = -1;
    if (in_read(got, p->kt_win32thread, vc->ptr))
        o->win32_thread = ds_vctx_rdptr(vc, b, p->kt_win32thread);
    if (in_read(got, p->kt_stack_base, vc->ptr))
        o->stack_base = ds_vctx_rdptr(vc, b, p->kt_stack_base);
    if (in_read(got, p->kt_stack_limit, vc->ptr))
        o->stack_limit = ds_vctx_rdptr(vc, b, p->kt_stack_limit);
    if (in_read(got, p->kt_kernel_stack, vc->ptr))
        o->kernel_stack = ds_vctx_rdptr(vc, b, p->kt_kernel_stack);
    if (in_read(got, p->kt_previous_mode, 1) && b[p->kt_previous_mode] <= 1)
        o->previous_mode = (int8_t)b[p->kt_previous_mode];
    if (o->state != KTHREAD_WAITING)
        return; /* the wait fields and the service number are stale otherwise */
    if (in_read(got, p->kt_wait_mode, 1) && b[p->kt_wait_mode] <= 1)
        o->wait_mode = (int8_t)b[p->kt_wait_mode];
    if (in_read(got, p->kt_alertable, 1))
        o->alertable = (b[p->kt_alertable] >> p->kt_alertable_bit) & 1;
    if (o->previous_mode == 1 && in_read(got, p->kt_syscall_number, 4)) {
        o->syscall_number = rd32(b, p->kt_syscall_number);
        o->syscall_source = DS_SYSCALL_KTHREAD;
    }
}

int ds_validate_thread(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, ds_thread *o)
{
    const ds_profile *p = vc->p;
    static const size_t cap = OBJ_BUF;
    uint8_t b[OBJ_BUF];
    uint32_t failed = 0;

    memset(o, 0, sizeof(*o));
    o->ethread_pa = body_pa;
    o->ethread_va = body_va;
    o->pool_pa = DS_NO_VALUE;
    o->rip = o->rsp = DS_NO_VALUE;
    o->list_flink = DS_NO_VALUE;
    o->type_byte = DS_TYPE_BYTE_UNREAD;
    if (!p)
        return 0;
    size_t got = read_body_common(vc, body_pa, body_va, false, b, cap, &failed);
    if (got && body_va != DS_NO_VALUE) /* read at its VA, as the cross-view would */
        o->type_byte = b[0];
    if (have(p->et_thread_list) && in_read(got, p->et_thread_list, vc->ptr))
        o->list_flink = ds_vctx_rdptr(vc, b, p->et_thread_list);

    if (in_read(got, p->et_cid_pid, vc->ptr))
        o->pid = ds_vctx_rdptr(vc, b, p->et_cid_pid);
    if (in_read(got, p->et_cid_tid, vc->ptr))
        o->tid = ds_vctx_rdptr(vc, b, p->et_cid_tid);
    if (!in_read(got, p->et_cid_tid, vc->ptr) || (o->pid & 3) || (o->tid & 3) || o->tid == 0 ||
        o->pid >= (1u << 26) || o->tid >= (1u << 26))
        failed |= DS_CHK_ID;

    if (in_read(got, p->et_create_time, 8))
        o->create_time = (int64_t)(rd64(b, p->et_create_time) >> p->thread_ctime_shift);
    if (in_read(got, p->et_exit_time, 8))
        o->exit_time = (int64_t)rd64(b, p->et_exit_time);
    if (!in_read(got, p->et_create_time, 8) ||
        !times_ok(vc, o->create_time, o->exit_time, o->pid == 0 || o->pid == 4))
        failed |= DS_CHK_TIMES;

    if (in_read(got, p->et_start_address, vc->ptr))
        o->start_address = ds_vctx_rdptr(vc, b, p->et_start_address);
    if (in_read(got, p->et_win32_start, vc->ptr))
        o->win32_start_address = ds_vctx_rdptr(vc, b, p->et_win32_start);
    if (in_read(got, p->kt_teb, vc->ptr))
        o->teb = ds_vctx_rdptr(vc, b, p->kt_teb);
    if (in_read(got, p->kt_state, 1))
        o->state = b[p->kt_state];
    if (in_read(got, p->kt_wait_reason, 1))
        o->wait_reason = b[p->kt_wait_reason];
    read_thread_extras(vc, b, got, o);
    if (in_read(got, p->et_cross_flags, 4))
        o->cross_flags = rd32(b, p->et_cross_flags);
    if (in_read(got, p->kt_trap_frame, vc->ptr))
        o->trap_frame = ds_vctx_rdptr(vc, b, p->kt_trap_frame);
    if (ds_vctx_kptr(vc, o->trap_frame) && have(p->tf_rip) && have(p->tf_rsp)) {
        uint64_t rip, rsp;
        if (ds_kread_ptr(vc->d, o->trap_frame + p->tf_rip, &rip) == DS_OK &&
            ds_kread_ptr(vc->d, o->trap_frame + p->tf_rsp, &rsp) == DS_OK) {
            o->rip = rip;
            o->rsp = rsp;
        }
        uint32_t eax;
        if (o->state == KTHREAD_WAITING && o->previous_mode == 1 &&
            o->syscall_source == DS_SYSCALL_NONE && have(p->tf_rax) &&
            ds_kread(vc->d, o->trap_frame + p->tf_rax, &eax, 4) == DS_OK && eax < 0x2000) {
            o->syscall_number = eax;
            o->syscall_source = DS_SYSCALL_TRAP_FRAME;
        }
    }

    if (!list_ok(vc, b, got, p->et_thread_list))
        failed |= DS_CHK_LINKS;

    /* Owner: KTHREAD.Process (ApcState.Process on XP) must be a process
     * object with the same PID as the Cid. */
    uint16_t own = have(p->kt_process) ? p->kt_process : p->kt_apc_process;
    if (in_read(got, own, vc->ptr))
        o->eprocess_va = ds_vctx_rdptr(vc, b, own);
    bool owner_ok = false;
    if (ds_vctx_kptr(vc, o->eprocess_va)) {
        uint8_t type = 0;
        uint64_t opid = 0;
        owner_ok = ds_kread(vc->d, o->eprocess_va, &type, 1) == DS_OK && type == 3 &&
                   ds_kread_ptr(vc->d, o->eprocess_va + p->ep_pid, &opid) == DS_OK &&
                   opid == o->pid;
    }
    if (!owner_ok)
        failed |= DS_CHK_THREAD_OWNER;

    int t = ds_object_type_check(vc, body_pa, body_va, false);
    if (t == 0)
        failed |= DS_CHK_OBJECT_TYPE;
    else if (t < 0)
        failed |= DS_CHK_TYPE_UNVERIFIED;
    o->failed = failed;
    o->score = ds_score_from_failed(failed);
    return o->score;
}
