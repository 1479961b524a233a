/* anchors.c - the kernel views' anchors without KDBG; see anchors.h.
 *
 * Reads go through a small budget (reads_left) shared by the searches of
 * one dump.  The data-section search reads each page once and tests each
 * pointer-aligned word in it: most words fail on the page buffer alone
 * (not a kernel pointer), the rest cost one or two translated reads. */
#include "anchors.h"

#include <string.h>

#include "../src/kboot.h"
#include "../src/modules.h"
#include "../src/pe.h"
#include "../src/dumpfmt.h"
#include "handletable.h"

#define KERNEL_MAX_BACK (64ull << 20) /* from a global in .data to the image header */

typedef struct anchor_ctx {
    ds_vctx *vc;
    const ds_dump *d;
    const ds_profile *p;
    unsigned reads_left;
} anchor_ctx;

static bool rd(anchor_ctx *a, uint64_t va, uint64_t *v)
{
    if (!a->reads_left)
        return false;
    a->reads_left--;
    *v = 0;
    return ds_kread(a->d, va, v, a->vc->ptr) == DS_OK;
}

static bool kptr(const anchor_ctx *a, uint64_t v)
{
    return ds_vctx_kptr(a->vc, v);
}

/* The kernel image holding va (the dump's kernel base when known). */
static bool kernel_image(anchor_ctx *a, uint64_t va, ds_pe_info *pe)
{
    uint64_t base = a->d->kernel_base;
    if (!base && ds_find_kernel_base(&a->d->kvas, va, KERNEL_MAX_BACK, &base) != DS_OK)
        return false;
    return ds_pe_read(ds_dump_kread_cb, (void *)a->d, base, pe) == DS_OK;
}

static bool in_image(const ds_pe_info *pe, uint64_t va)
{
    return va >= pe->base && va - pe->base < pe->size_of_image;
}

/* ---- the active list head from System ---------------------------------- */

typedef enum walk_end { WALK_RETURNED, WALK_UNREADABLE, WALK_BAD } walk_end;

/* Follow Flinks (or Blinks) from head: back to it, stopped by a page the
 * dump lacks, or anything else (garbage, a loop elsewhere, the bound). */
static walk_end walk(anchor_ctx *a, uint64_t head, bool forward)
{
    uint64_t cur = head;
    for (unsigned n = 0; n < DS_ANCHOR_MAX_WALK; n++) {
        uint64_t next;
        if (!a->reads_left)
            return WALK_BAD;
        if (!rd(a, cur + (forward ? 0 : a->vc->ptr), &next))
            return WALK_UNREADABLE;
        if (!kptr(a, next))
            return WALK_BAD;
        if (next == head)
            return WALK_RETURNED;
        cur = next;
    }
    return WALK_BAD;
}

static bool head_of(anchor_ctx *a, uint64_t sys_va, uint64_t *head_out)
{
    uint64_t links = sys_va + a->p->ep_links, head, first;
    ds_pe_info pe;
    if (!rd(a, links + a->vc->ptr, &head) || !kptr(a, head) || !rd(a, head, &first) ||
        first != links || !kernel_image(a, head, &pe) || !in_image(&pe, head))
        return false;
    /* One direction coming back is enough (the other may be smeared: the
     * list view then reports it broken); neither coming back is only
     * accepted when both stopped at pages the dump lacks. */
    walk_end f = walk(a, head, true);
    if (f != WALK_RETURNED) {
        walk_end b = walk(a, head, false);
        if (b != WALK_RETURNED && !(f == WALK_UNREADABLE && b == WALK_UNREADABLE))
            return false;
    }
    *head_out = head;
    return true;
}

static bool is_system(const ds_proc *o)
{
    return o->pid == 4 && strcmp(o->name, "System") == 0 && o->eprocess_va != DS_NO_VALUE &&
           !(o->failed & DS_CHK_DISPATCHER);
}

bool ds_anchor_head_from_system(ds_vctx *vc, const ds_scan_result *r)
{
    if (!vc->p || vc->active_head || vc->d->kvas.mode == DS_PAGING_NONE)
        return false;
    anchor_ctx a = {vc, vc->d, vc->p, DS_ANCHOR_MAX_READS};
    unsigned tried = 0;
    for (size_t i = 0; i < r->nprocs && tried < DS_ANCHOR_MAX_SYSTEMS; i++) {
        const ds_proc *o = &r->procs[i];
        uint64_t head;
        if (!is_system(o))
            continue;
        tried++;
        if (!head_of(&a, o->eprocess_va, &head))
            continue;
        vc->active_head = head;
        vc->active_head_src = DS_SRC_SYSTEM_PROCESS;
        bool had_keys = vc->have_proc_key || vc->xp_proc_type;
        bool keys = ds_vctx_learn_keys(vc, o->eprocess_va);
        return keys && !had_keys;
    }
    return false;
}

/* ---- the data-section search ------------------------------------------- */

typedef struct nt_search {
    anchor_ctx *a;
    uint64_t kernel_base;
    uint64_t system_va;
    uint64_t thread_va[2], thread_tid[2]; /* System threads to confirm with */
    unsigned nthreads;
    bool want_cid, want_modules;
} nt_search;

/* Is v (the value of a candidate PspCidTable) a handle table whose PID 4
 * entry is System and whose System-thread entries are those threads? */
static bool is_cid_table(nt_search *s, uint64_t table)
{
    anchor_ctx *a = s->a;
    uint64_t code, ev;
    if (!rd(a, table + ds_ht_table_code_off(a->p), &code) || !kptr(a, code & ~3ull) ||
        (code & 3) > 2)
        return false;
    /* a lookup reads at most three words (two levels and the entry) */
    if (a->reads_left < 3 * (1 + s->nthreads))
        return false;
    a->reads_left -= 3 * (1 + s->nthreads);
    if (!ds_ht_lookup(a->d, a->p, table, 4 / 4, &ev) ||
        ds_ht_entry_object(a->p, ev) != s->system_va)
        return false;
    for (unsigned i = 0; i < s->nthreads; i++)
        if (!ds_ht_lookup(a->d, a->p, table, s->thread_tid[i] / 4, &ev) ||
            ds_ht_entry_object(a->p, ev) != s->thread_va[i])
            return false;
    return true;
}

/* Is the LIST_ENTRY at va (Flink f, Blink b) PsLoadedModuleList? */
static bool is_module_list(nt_search *s, uint64_t va, uint64_t f, uint64_t b)
{
    anchor_ctx *a = s->a;
    uint64_t back, fwd, base;
    return f != va && rd(a, f + a->vc->ptr, &back) && back == va && rd(a, b, &fwd) &&
           fwd == va && a->p->ldr_dll_base != DS_OFF_NONE &&
           rd(a, f + a->p->ldr_dll_base, &base) && base == s->kernel_base;
}

static uint64_t word_at(const uint8_t *page, unsigned off, unsigned ptr)
{
    if (ptr == 8) {
        uint64_t v;
        memcpy(&v, page + off, 8);
        return v;
    }
    uint32_t v;
    memcpy(&v, page + off, 4);
    return v;
}

static void search_page(nt_search *s, uint64_t page_va, const uint8_t *page)
{
    anchor_ctx *a = s->a;
    unsigned ptr = a->vc->ptr;
    for (unsigned off = 0; off + ptr <= DS_PAGE_SIZE && a->reads_left; off += ptr) {
        uint64_t v = word_at(page, off, ptr), va = page_va + off;
        if (!kptr(a, v))
            continue;
        if (s->want_modules && off + 2 * ptr <= DS_PAGE_SIZE) {
            uint64_t b = word_at(page, off + ptr, ptr);
            if (kptr(a, b) && is_module_list(s, va, v, b)) {
                a->vc->module_list = va;
                a->vc->module_list_src = DS_SRC_NT_DATA;
                s->want_modules = false;
            }
        }
        if (s->want_cid && v != va && is_cid_table(s, v)) {
            a->vc->cid_table_ptr = va;
            a->vc->cid_table_src = DS_SRC_NT_DATA;
            s->want_cid = false;
        }
        if (!s->want_cid && !s->want_modules)
            return;
    }
}

static void system_threads(nt_search *s, const ds_scan_result *r)
{
    for (size_t i = 0; i < r->nthreads && s->nthreads < 2; i++) {
        const ds_thread *t = &r->threads[i];
        if (t->pid == 4 && t->eprocess_va == s->system_va && t->ethread_va != DS_NO_VALUE &&
            t->exit_time == 0 && t->tid && t->tid % 4 == 0) {
            s->thread_va[s->nthreads] = t->ethread_va;
            s->thread_tid[s->nthreads] = t->tid;
            s->nthreads++;
        }
    }
}

void ds_anchor_search_nt_data(ds_vctx *vc, const ds_scan_result *r)
{
    if (!vc->p || vc->d->kvas.mode == DS_PAGING_NONE || !vc->system_eprocess)
        return;
    anchor_ctx a = {vc, vc->d, vc->p, DS_ANCHOR_MAX_READS};
    nt_search s = {.a = &a, .system_va = vc->system_eprocess, .want_cid = !vc->cid_table_ptr,
                   .want_modules = !vc->module_list};
    if (!s.want_cid && !s.want_modules)
        return;
    ds_pe_info pe;
    uint64_t hint = vc->active_head ? vc->active_head : vc->system_eprocess;
    if (!kernel_image(&a, hint, &pe))
        return;
    s.kernel_base = pe.base;
    system_threads(&s, r);
    uint8_t page[DS_PAGE_SIZE];
    unsigned pages = DS_ANCHOR_MAX_PAGES;
    for (uint32_t i = 0; i < pe.ndata && (s.want_cid || s.want_modules); i++) {
        uint64_t start = pe.base + (pe.data[i].rva & ~(uint64_t)(DS_PAGE_SIZE - 1));
        uint64_t end = pe.base + (uint64_t)pe.data[i].rva + pe.data[i].size;
        for (uint64_t va = start; va < end && pages && a.reads_left; va += DS_PAGE_SIZE) {
            pages--;
            if (ds_kread(vc->d, va, page, sizeof(page)) == DS_OK)
                search_page(&s, va, page);
            if (!s.want_cid && !s.want_modules)
                break;
        }
    }
}
