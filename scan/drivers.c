/* drivers.c - the driver view; see drivers.h.
 *
 * Order: walk the list (one record per entry), then validate each pool
 * hit and join it to the record of the same loader entry or image base,
 * or add a record; then verdicts; then MmUnloadedDrivers.  Records and
 * hits are capped (DS_DRV_MAX_RECORDS, DS_DRV_MAX_HITS) so a dump full of
 * forged tags costs bounded time: joins are linear in the records. */
#include "drivers.h"

#include <stdlib.h>
#include <string.h>

#include "../src/dumpfmt.h"
#include "../src/modules.h"
#include "../src/pe.h"

#define DS_DRV_MAX_RECORDS 4096u
#define DS_DRV_MAX_HITS 16384u
#define OBJ_SCAN_BYTES 0x400u   /* where a DRIVER_OBJECT body may start in its chunk */

const char *ds_drv_view_name(unsigned i)
{
    static const char *const n[DS_DRV_VIEW_COUNT] = {"list", "pool", "driver_object"};
    return i < DS_DRV_VIEW_COUNT ? n[i] : "?";
}

const char *ds_drv_reason_name(unsigned i)
{
    static const char *const n[DS_DRV_REASON_COUNT] = {
        "not_in_module_list", "image_mapped", "image_unmapped",
        "pool_freed", "in_unloaded_list", "list_damaged",
    };
    return i < DS_DRV_REASON_COUNT ? n[i] : "?";
}

typedef struct drv_ctx {
    const ds_vctx *vc;
    const ds_dump *d;
    const ds_profile *p;
    ds_driver_set *s;
    size_t cap;
    bool nomem;
} drv_ctx;

static ds_driver *add_record(drv_ctx *c)
{
    ds_driver_set *s = c->s;
    if (s->n == DS_DRV_MAX_RECORDS)
        return NULL;
    if (s->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64;
        ds_driver *v = realloc(s->v, ncap * sizeof(*v));
        if (!v) {
            c->nomem = true;
            return NULL;
        }
        s->v = v;
        c->cap = ncap;
    }
    ds_driver *r = &s->v[s->n++];
    memset(r, 0, sizeof(*r));
    r->ldr_va = r->ldr_pa = r->object_va = r->object_pa = DS_NO_VALUE;
    r->list_index = -1;
    return r;
}

static void copy_module(ds_driver *r, const ds_module *m)
{
    memcpy(r->name, m->name, sizeof(r->name));
    r->name[sizeof(r->name) - 1] = 0;
    memcpy(r->path, m->path, sizeof(r->path));
    r->path[sizeof(r->path) - 1] = 0;
    r->base = m->base;
    r->size = m->size;
    r->entry = m->entry;
    r->ldr_va = m->ldr_va;
}

/* ---- list ---------------------------------------------------------------- */

static void list_view(drv_ctx *c)
{
    ds_modlist ml;
    if (ds_modules_load_at(c->d, c->vc->module_list, &ml) != DS_OK) {
        c->nomem = true;
        return;
    }
    c->s->list_status = ml.status;
    for (size_t i = 0; i < ml.n; i++) {
        ds_driver *r = add_record(c);
        if (!r)
            break;
        copy_module(r, &ml.v[i]);
        r->list_index = (int32_t)i;
        r->sources = DS_DRV_LIST;
        c->s->list_entries++;
    }
    ds_modlist_free(&ml);
}

/* ---- pool hits ------------------------------------------------------------ */

static bool plausible_image(const drv_ctx *c, uint64_t base, uint64_t size)
{
    return ds_vctx_kptr(c->vc, base) && (base & (DS_PAGE_SIZE - 1)) == 0 &&
           size >= DS_PAGE_SIZE && size <= DS_PE_MAX_IMAGE;
}

static bool printable(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

/* A loader entry in an "MmLd" chunk (it starts right after the pool
 * header).  Its links must be kernel pointers, its image plausible, its
 * name printable. */
static bool ldr_from_hit(drv_ctx *c, const ds_drv_hit *h, ds_module *m, bool *freed)
{
    const ds_profile *p = c->p;
    uint32_t bytes;
    if (h->pool_va == DS_NO_VALUE || !ds_pool_chunk(c->vc, h->pool_pa, &bytes, freed) ||
        bytes < p->pool_header_size + (p->is64 ? 0x70u : 0x38u))
        return false;
    uint64_t va = h->pool_va + p->pool_header_size, flink, blink;
    memset(m, 0, sizeof(*m));
    if (ds_kread_ptr(c->d, va, &flink) != DS_OK ||
        ds_kread_ptr(c->d, va + p->ptr_size, &blink) != DS_OK ||
        !ds_vctx_kptr(c->vc, flink) || !ds_vctx_kptr(c->vc, blink) ||
        ds_ldr_entry_read(c->d, va, m) != DS_OK)
        return false;
    return plausible_image(c, m->base, m->size) && printable(m->name);
}

typedef struct drv_object {
    uint64_t va, pa;
    uint64_t start, size, section;
    char name[DS_DRIVER_NAME_MAX];
} drv_object;

/* The DRIVER_OBJECT body in a "Driv" chunk: the first pointer-aligned
 * position after the pool header with Type IO_TYPE_DRIVER and Size
 * sizeof(DRIVER_OBJECT) (the object header and its optional headers come
 * first, in a layout that varies by build). */
static bool object_from_hit(drv_ctx *c, const ds_drv_hit *h, drv_object *o)
{
    const ds_profile *p = c->p;
    uint32_t bytes;
    bool freed;
    if (h->pool_va == DS_NO_VALUE || !ds_pool_chunk(c->vc, h->pool_pa, &bytes, &freed) || freed)
        return false;
    uint8_t buf[OBJ_SCAN_BYTES];
    memset(o, 0, sizeof(*o)); /* records copy whole fields: no stale bytes */
    size_t n = bytes < sizeof(buf) ? bytes : sizeof(buf);
    n = ds_obj_read(c->vc, h->pool_pa, h->pool_va, 0, buf, n);
    uint16_t want = p->is64 ? sizeof(ds_driver_object64) : sizeof(ds_driver_object32);
    for (size_t off = p->pool_header_size; off + 4 <= n; off += p->ptr_size) {
        int16_t type, size;
        memcpy(&type, buf + off, 2);
        memcpy(&size, buf + off + 2, 2);
        if (type != DS_IO_TYPE_DRIVER || (uint16_t)size != want || off + want > bytes)
            continue;
        o->va = h->pool_va + off;
        o->pa = h->pool_pa + off;
        if (p->is64) {
            ds_driver_object64 b;
            if (ds_kread(c->d, o->va, &b, sizeof(b)) != DS_OK)
                return false;
            o->start = b.DriverStart;
            o->size = b.DriverSize;
            o->section = b.DriverSection;
        } else {
            ds_driver_object32 b;
            if (ds_kread(c->d, o->va, &b, sizeof(b)) != DS_OK)
                return false;
            o->start = b.DriverStart;
            o->size = b.DriverSize;
            o->section = b.DriverSection;
        }
        uint64_t name_va = o->va + (p->is64 ? offsetof(ds_driver_object64, DriverName)
                                            : offsetof(ds_driver_object32, DriverName));
        ds_kread_ustr(c->d, name_va, p->ptr_size, o->name, sizeof(o->name));
        return o->name[0] == '\\' && printable(o->name) && o->size <= DS_PE_MAX_IMAGE &&
               (o->start == 0 || ds_vctx_kptr(c->vc, o->start)) &&
               (o->section == 0 || ds_vctx_kptr(c->vc, o->section));
    }
    return false;
}

static ds_driver *record_by_ldr(drv_ctx *c, uint64_t ldr_va)
{
    for (size_t i = 0; i < c->s->n; i++)
        if (c->s->v[i].ldr_va == ldr_va)
            return &c->s->v[i];
    return NULL;
}

static ds_driver *record_by_base(drv_ctx *c, uint64_t base)
{
    for (size_t i = 0; i < c->s->n; i++)
        if (c->s->v[i].base == base)
            return &c->s->v[i];
    return NULL;
}

/* A listed module whose image holds va, not at its base. */
static bool inside_listed(drv_ctx *c, uint64_t va)
{
    for (size_t i = 0; i < c->s->n; i++) {
        const ds_driver *r = &c->s->v[i];
        if ((r->sources & DS_DRV_LIST) && va > r->base && va - r->base < r->size)
            return true;
    }
    return false;
}

static void join_ldr(drv_ctx *c, const ds_drv_hit *h)
{
    ds_module m;
    bool freed = false;
    if (!ldr_from_hit(c, h, &m, &freed))
        return;
    ds_driver *r = record_by_ldr(c, m.ldr_va);
    if (!r && !freed)
        r = record_by_base(c, m.base);
    if (!r) {
        if (!(r = add_record(c)))
            return;
        copy_module(r, &m);
    }
    r->sources |= DS_DRV_POOL;
    if (r->ldr_va == DS_NO_VALUE || r->ldr_va == m.ldr_va) {
        r->ldr_va = m.ldr_va;
        r->ldr_pa = h->pool_pa + c->p->pool_header_size;
    }
    if (freed)
        r->reasons |= DS_DRV_RSN_POOL_FREED;
}

static void join_object(drv_ctx *c, const ds_drv_hit *h)
{
    drv_object o;
    if (!object_from_hit(c, h, &o) || o.start == 0)
        return;
    ds_driver *r = o.section ? record_by_ldr(c, o.section) : NULL;
    if (!r)
        r = record_by_base(c, o.start);
    if (!r) {
        if (inside_listed(c, o.start))
            return; /* a built-in driver of a listed image (ntoskrnl's I/O drivers) */
        if (!(r = add_record(c)))
            return;
        r->base = o.start;
        r->size = o.size;
    }
    r->sources |= DS_DRV_OBJECT;
    r->object_va = o.va;
    r->object_pa = o.pa;
    memcpy(r->object_name, o.name, sizeof(r->object_name));
}

/* ---- verdicts ------------------------------------------------------------- */

static bool image_mapped(drv_ctx *c, uint64_t base)
{
    ds_pe_info pe;
    return ds_vctx_kptr(c->vc, base) &&
           ds_pe_read(ds_dump_kread_cb, (void *)c->d, base, &pe) == DS_OK;
}

static bool in_unloaded(const ds_driver_set *s, const ds_driver *r)
{
    for (size_t i = 0; i < s->nunloaded; i++)
        if (s->unloaded[i].start == r->base)
            return true;
    return false;
}

static void verdicts(drv_ctx *c)
{
    bool list_ok = c->s->list_status == DS_MODLIST_OK;
    for (size_t i = 0; i < c->s->n; i++) {
        ds_driver *r = &c->s->v[i];
        if (r->sources & DS_DRV_LIST)
            continue;
        r->reasons |= DS_DRV_RSN_NOT_IN_LIST;
        if (in_unloaded(c->s, r))
            r->reasons |= DS_DRV_RSN_UNLOADED;
        if (!list_ok)
            r->reasons |= DS_DRV_RSN_LIST_DAMAGED;
        bool mapped = image_mapped(c, r->base);
        r->reasons |= mapped ? DS_DRV_RSN_IMAGE_MAPPED : DS_DRV_RSN_IMAGE_GONE;
        r->hidden = mapped && !(r->reasons & DS_DRV_RSN_POOL_FREED);
        r->stale = !r->hidden;
    }
}

/* ---- MmUnloadedDrivers ---------------------------------------------------- */

static void unloaded_view(drv_ctx *c)
{
    const ds_dump *d = c->d;
    uint64_t arr;
    if (!d->mm_unloaded_drivers || ds_kread_ptr(d, d->mm_unloaded_drivers, &arr) != DS_OK)
        return;
    c->s->unloaded_known = true;
    if (!arr || !ds_vctx_kptr(c->vc, arr))
        return; /* nothing unloaded since boot: the array is never allocated */
    c->s->unloaded = calloc(DS_MI_UNLOADED_DRIVERS, sizeof(*c->s->unloaded));
    if (!c->s->unloaded) {
        c->nomem = true;
        return;
    }
    bool is64 = c->p->is64;
    size_t esz = is64 ? sizeof(ds_unloaded_driver64) : sizeof(ds_unloaded_driver32);
    for (uint32_t i = 0; i < DS_MI_UNLOADED_DRIVERS; i++) {
        uint64_t at = arr + i * esz, start, end;
        int64_t when;
        if (is64) {
            ds_unloaded_driver64 e;
            if (ds_kread(d, at, &e, sizeof(e)) != DS_OK)
                continue;
            start = e.StartAddress, end = e.EndAddress, when = e.CurrentTime;
        } else {
            ds_unloaded_driver32 e;
            if (ds_kread(d, at, &e, sizeof(e)) != DS_OK)
                continue;
            start = e.StartAddress, end = e.EndAddress, when = e.CurrentTime;
        }
        ds_unloaded *u = &c->s->unloaded[c->s->nunloaded];
        ds_kread_ustr(d, at, c->p->ptr_size, u->name, sizeof(u->name));
        if (!printable(u->name) || !ds_vctx_kptr(c->vc, start) || end <= start)
            continue;
        u->start = start;
        u->end = end;
        u->unload_time = when > 0 ? when : 0;
        u->index = i;
        c->s->nunloaded++;
    }
}

static int cmp_hit(const void *a, const void *b)
{
    const ds_drv_hit *x = a, *y = b;
    if (x->pool_pa != y->pool_pa)
        return x->pool_pa < y->pool_pa ? -1 : 1;
    return (int)x->is_object - (int)y->is_object;
}

ds_err ds_drivers_build(const ds_vctx *vc, ds_drv_hit *hits, size_t nhits, ds_driver_set *out)
{
    memset(out, 0, sizeof(*out));
    out->list_status = DS_MODLIST_ABSENT;
    if (!vc->p || vc->d->kvas.mode == DS_PAGING_NONE)
        return DS_OK;
    drv_ctx c = {.vc = vc, .d = vc->d, .p = vc->p, .s = out};
    if (vc->module_list)
        list_view(&c);
    /* hits arrive in the order the workers found them: sort, so the records
     * (and which of two hits is joined first) do not depend on the worker
     * count */
    qsort(hits, nhits, sizeof(*hits), cmp_hit);
    if (nhits > DS_DRV_MAX_HITS)
        nhits = DS_DRV_MAX_HITS;
    for (size_t i = 0; i < nhits && !c.nomem; i++)
        if (!hits[i].is_object)
            join_ldr(&c, &hits[i]);
    for (size_t i = 0; i < nhits && !c.nomem; i++)
        if (hits[i].is_object)
            join_object(&c, &hits[i]);
    unloaded_view(&c);
    verdicts(&c);
    if (c.nomem) {
        ds_driver_set_free(out);
        return DS_ERR_NOMEM;
    }
    return DS_OK;
}

void ds_driver_set_free(ds_driver_set *s)
{
    free(s->v);
    free(s->unloaded);
    memset(s, 0, sizeof(*s));
}
