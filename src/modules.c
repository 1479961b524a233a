/* modules.c - loaded kernel modules from the triage list or
 * PsLoadedModuleList; see modules.h. */
#define _GNU_SOURCE /* qsort_r */
#include "modules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage.h"

ds_err ds_dump_kread_cb(void *ctx, uint64_t va, void *buf, size_t len)
{
    return ds_kread((const ds_dump *)ctx, va, buf, len);
}

const char *ds_modlist_status_name(ds_modlist_status s)
{
    static const char *const names[] = {"ok", "broken", "loop", "limit", "absent"};
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

void ds_module_base_name(const char *path, char *out, size_t cap)
{
    const char *b = path;
    for (const char *p = path; *p; p++)
        if (*p == '\\' || *p == '/')
            b = p + 1;
    size_t n = strlen(b);
    if (n >= cap)
        n = cap - 1;
    memcpy(out, b, n);
    out[n] = 0;
}

static ds_module *grow(ds_modlist *m)
{
    if (m->n % 64 == 0) {
        ds_module *v = realloc(m->v, (m->n + 64) * sizeof(*v));
        if (!v)
            return NULL;
        m->v = v;
    }
    ds_module *mod = &m->v[m->n];
    memset(mod, 0, sizeof(*mod));
    mod->index = (uint32_t)m->n;
    return mod;
}

static ds_err from_triage(const ds_triage *t, ds_modlist *m)
{
    m->from_triage = true;
    for (uint32_t i = 0; i < t->ndrivers && i < DS_MAX_MODULES; i++) {
        ds_module *mod = grow(m);
        if (!mod)
            return DS_ERR_NOMEM;
        const char *nm = t->drivers[i].name ? t->drivers[i].name : "";
        snprintf(mod->path, sizeof(mod->path), "%s", nm);
        ds_module_base_name(nm, mod->name, sizeof(mod->name));
        mod->base = t->drivers[i].base;
        mod->size = t->drivers[i].size;
        m->n++;
    }
    m->status = DS_MODLIST_OK;
    return DS_OK;
}

void ds_kread_ustr(const ds_dump *d, uint64_t va, unsigned ptr, char *out, size_t cap)
{
    uint8_t us[16];
    out[0] = 0;
    if (ds_kread(d, va, us, ptr == 8 ? 16 : 8) != DS_OK)
        return;
    uint16_t len;
    memcpy(&len, us, 2);
    uint64_t buf = 0;
    memcpy(&buf, us + (ptr == 8 ? 8 : 4), ptr);
    len &= (uint16_t)~1u;                 /* UTF-16 units only */
    if (len > 2 * (cap / 2 - 1))
        len = (uint16_t)(2 * (cap / 2 - 1)); /* cut, never read past */
    if (!len || !ds_is_kernel_ptr(ptr, buf))
        return;
    uint8_t raw[2 * DS_MODULE_NAME_MAX * 2];
    if (len > sizeof(raw))
        len = sizeof(raw);
    if (ds_kread(d, buf, raw, len) != DS_OK)
        return;
    ds_utf16le_to_utf8(raw, len / 2, out, cap);
}

static uint64_t rdptr(const uint8_t *b, unsigned off, unsigned ptr)
{
    uint64_t v = 0;
    memcpy(&v, b + off, ptr);
    return v;
}

/* Has the entry at va been visited (linear over the few thousand at most:
 * the bound keeps it O(DS_MAX_MODULES^2) in the worst case). */
static bool seen(const ds_modlist *m, uint64_t va)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].ldr_va == va)
            return true;
    return false;
}

ds_err ds_ldr_entry_read(const ds_dump *d, uint64_t va, ds_module *mod)
{
    const ds_profile *p = d->profile;
    unsigned ptr = p->ptr_size;
    uint8_t e[0x80];
    ds_err err = ds_kread(d, va, e, ptr == 8 ? 0x68 : 0x34);
    if (err != DS_OK)
        return err;
    mod->ldr_va = va;
    mod->base = rdptr(e, p->ldr_dll_base, ptr);
    mod->entry = p->ldr_entry_point != DS_OFF_NONE ? rdptr(e, p->ldr_entry_point, ptr) : 0;
    uint32_t size;
    memcpy(&size, e + p->ldr_size_of_image, 4);
    mod->size = size;
    ds_kread_ustr(d, va + p->ldr_full_dll_name, ptr, mod->path, sizeof(mod->path));
    char base_name[DS_MODULE_NAME_MAX];
    ds_kread_ustr(d, va + p->ldr_base_dll_name, ptr, base_name, sizeof(base_name));
    ds_module_base_name(base_name[0] ? base_name : mod->path, mod->name, sizeof(mod->name));
    return DS_OK;
}

static ds_err walk_list(const ds_dump *d, uint64_t head, ds_modlist *m)
{
    const ds_profile *p = d->profile;
    unsigned ptr = p->ptr_size;
    uint64_t cur;
    if (ds_kread_ptr(d, head, &cur) != DS_OK) {
        m->status = DS_MODLIST_BROKEN;
        return DS_OK;
    }
    m->status = DS_MODLIST_LIMIT;
    while (m->n < DS_MAX_MODULES) {
        if (cur == head) {
            m->status = DS_MODLIST_OK;
            break;
        }
        if (!ds_is_kernel_ptr(ptr, cur)) {
            m->status = DS_MODLIST_BROKEN;
            break;
        }
        if (seen(m, cur)) {
            m->status = DS_MODLIST_LOOP;
            break;
        }
        ds_module *mod = grow(m);
        if (!mod)
            return DS_ERR_NOMEM;
        uint64_t next;
        if (ds_ldr_entry_read(d, cur, mod) != DS_OK || ds_kread_ptr(d, cur, &next) != DS_OK) {
            m->status = DS_MODLIST_BROKEN;
            break;
        }
        m->n++;
        cur = next; /* InLoadOrderLinks.Flink */
    }
    return DS_OK;
}

static int cmp_base(const void *a, const void *b, void *ctx)
{
    const ds_modlist *m = ctx;
    uint64_t x = m->v[*(const size_t *)a].base, y = m->v[*(const size_t *)b].base;
    return x < y ? -1 : x > y;
}

static ds_err index_by_base(ds_modlist *m)
{
    m->by_base = malloc((m->n ? m->n : 1) * sizeof(*m->by_base));
    if (!m->by_base)
        return DS_ERR_NOMEM;
    for (size_t i = 0; i < m->n; i++)
        m->by_base[i] = i;
    if (m->n > 1)
        qsort_r(m->by_base, m->n, sizeof(*m->by_base), cmp_base, m);
    return DS_OK;
}

ds_err ds_modules_load(const ds_dump *d, ds_modlist *out)
{
    if (!(d->triage && d->triage->ndrivers))
        return ds_modules_load_at(d, d->ps_loaded_module_list, out);
    memset(out, 0, sizeof(*out));
    ds_err e = from_triage(d->triage, out);
    if (e == DS_OK)
        e = index_by_base(out);
    if (e != DS_OK)
        ds_modlist_free(out);
    return e;
}

ds_err ds_modules_load_at(const ds_dump *d, uint64_t head, ds_modlist *out)
{
    memset(out, 0, sizeof(*out));
    out->status = DS_MODLIST_ABSENT;
    ds_err e = DS_OK;
    if (d->profile && head && ds_is_kernel_ptr(d->profile->ptr_size, head) &&
        d->profile->ldr_dll_base != DS_OFF_NONE)
        e = walk_list(d, head, out);
    if (e == DS_OK)
        e = index_by_base(out);
    if (e != DS_OK)
        ds_modlist_free(out);
    return e;
}

void ds_modlist_free(ds_modlist *m)
{
    free(m->v);
    free(m->by_base);
    memset(m, 0, sizeof(*m));
}

const ds_module *ds_module_at(const ds_modlist *m, uint64_t va)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) { /* last module with base <= va */
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[m->by_base[mid]].base <= va)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* modules may overlap in a hostile list: look back a few */
    for (size_t k = lo, tries = 0; k > 0 && tries < 8; k--, tries++) {
        const ds_module *mod = &m->v[m->by_base[k - 1]];
        if (va - mod->base < mod->size)
            return mod;
    }
    return NULL;
}
