/* gen_drivers.c - the kernel modules of the generated machine.
 *
 * gen_modules_build(): ntoskrnl (ntkrnlpa on PAE) and eight boot drivers,
 * each with a mapped PE header page (the kernel's own image is mapped by
 * gen_kernel.c) and a KLDR_DATA_TABLE_ENTRY in an "MmLd" pool chunk,
 * linked into PsLoadedModuleList in load order.
 *
 * gen_drivers_build(), after the crash plant (which may append netdrv.sys):
 *   - a DRIVER_OBJECT ("Driv" chunk: pool header, OBJECT_HEADER, the
 *     object, a DRIVER_EXTENSION, the name) for every listed .sys module,
 *     named \Driver\<stem> (\FileSystem\Ntfs for Ntfs.sys), DriverStart =
 *     base, DriverSection = its loader entry;
 *   - \Driver\WMIxWDM, a built-in I/O driver whose DriverStart lies inside
 *     ntoskrnl (not a module of its own: must add no record);
 *   - rootkit.sys, hidden: mapped image, loader entry and DRIVER_OBJECT in
 *     pool, but unlinked from PsLoadedModuleList (its links point at
 *     itself, as DKOM tools leave them);
 *   - oldscan.sys, stale: an unloaded driver's loader entry left in a
 *     freed "MmLd" chunk, its image no longer mapped;
 *   - nt!MmUnloadedDrivers -> an array of 50 UNLOADED_DRIVERS in pool with
 *     three entries (oldscan.sys among them), nt!MmLastUnloadedDriver = 3,
 *     both named by KDBG.
 * drivers[] and unloaded[] record all of it for the truth file. */
#include <stdio.h>
#include <string.h>

#include "gen_int.h"
#include "dumpfmt.h"

ds_err gen_ldr_entry(gen_ctx *g, const char *name, const char *full, uint64_t base,
                     uint64_t size, uint64_t entry, uint8_t pool_type, uint64_t *ent)
{
    const ds_profile *p = g->p;
    uint32_t entry_size = g->is64 ? 0x140 : 0xa0;
    uint32_t names = (uint32_t)(strlen(full) + strlen(name) + 2) * 2;
    uint32_t body = entry_size + (uint32_t)gen_round_up(names, 16);
    uint32_t total = (uint32_t)gen_round_up(p->pool_header_size + body, p->pool_align);
    uint64_t chunk;
    ds_err e = gen_pool_alloc(g, total, gen_tag(g, GEN_TAG('M', 'm', 'L', 'd'), false), pool_type,
                              0, &chunk);
    if (e)
        return e;
    *ent = chunk + p->pool_header_size;
    uint64_t fbuf = *ent + entry_size, bbuf = fbuf + (strlen(full) + 1) * 2;
    if ((e = gen_kwptr(g, *ent, p->ldr_dll_base, base)) ||
        (e = gen_kw32(g, *ent, p->ldr_size_of_image, (uint32_t)size)) ||
        (entry && p->ldr_entry_point != DS_OFF_NONE &&
         (e = gen_kwptr(g, *ent, p->ldr_entry_point, entry))) ||
        (p->ldr_full_dll_name != DS_OFF_NONE &&
         (e = gen_write_ustr(g, *ent + p->ldr_full_dll_name, fbuf, full))) ||
        (p->ldr_base_dll_name != DS_OFF_NONE &&
         (e = gen_write_ustr(g, *ent + p->ldr_base_dll_name, bbuf, name))))
        return e;
    return DS_OK;
}

static ds_err map_image(gen_ctx *g, uint64_t base, uint64_t size)
{
    uint64_t pfn;
    uint8_t page[GEN_PAGE];
    ds_err e;
    if ((e = gen_alloc_pfn(g, GP_KERNEL, 0, &pfn)) || (e = gen_map(g, 0, base, pfn, GEN_PTE_KCODE)))
        return e;
    gen_pe_section sec = {".text", 0x1000, (uint32_t)(size - 0x1000), 0x68000020};
    gen_build_pe(g, page, base, (uint32_t)size, 0x1010, &sec, 1);
    return gen_vwrite(g, 0, base, page, GEN_PAGE);
}

static ds_err link_entries(gen_ctx *g, const uint64_t *entries, unsigned n)
{
    /* InLoadOrderLinks is the first member of LDR_DATA_TABLE_ENTRY */
    for (unsigned i = 0; i <= n; i++) {
        uint64_t cur = i == n ? g->g_module_head : entries[i];
        uint64_t next = i + 1 == n ? g->g_module_head : i == n ? entries[0] : entries[i + 1];
        uint64_t prev = i == 0 ? g->g_module_head : i == n ? entries[n - 1] : entries[i - 1];
        ds_err e = gen_kwptr(g, cur, 0, next);
        if (!e)
            e = gen_kwptr(g, cur, (uint16_t)g->ptr, prev);
        if (e)
            return e;
    }
    return DS_OK;
}

ds_err gen_modules_build(gen_ctx *g)
{
    static const char *const drivers[] = {"hal.dll", "kdcom.dll", "CLFS.SYS", "CI.dll",
                                          "ACPI.sys", "Ntfs.sys", "tcpip.sys", "disk.sys"};
    const char *kname = g->pae ? "ntkrnlpa.exe" : "ntoskrnl.exe";
    unsigned n = 1 + sizeof(drivers) / sizeof(drivers[0]);
    uint64_t entries[16];
    uint64_t drv = g->is64 ? gen_round_up(g->kbase + g->ksize, 0x200000) + 0x200000
                           : (g->pae ? 0x8b000000ull : 0xf7800000ull);
    ds_err e;
    for (unsigned i = 0; i < n; i++) {
        const char *base = i ? drivers[i - 1] : kname;
        char full[96];
        snprintf(full, sizeof(full), "\\SystemRoot\\system32\\%s%s",
                 (i >= 3) ? "drivers\\" : "", base);
        if (i == 4 || i == 1)
            snprintf(full, sizeof(full), "\\SystemRoot\\system32\\%s", base);
        uint64_t dll_base = g->kbase, size = g->ksize;
        if (i) {
            drv += gen_rng_range(&g->rng, 1, 16) * 0x10000;
            dll_base = drv;
            size = gen_rng_range(&g->rng, 4, 0x100) * 0x1000;
            drv += size;
            if ((e = map_image(g, dll_base, size)))
                return e;
        }
        uint64_t ent;
        if ((e = gen_ldr_entry(g, base, full, dll_base, size, 0, gen_pool_type_nonpaged(g), &ent)))
            return e;
        entries[i] = ent;
        gen_module *m = &g->mods[g->nmods++];
        snprintf(m->name, sizeof(m->name), "%s", base);
        snprintf(m->path, sizeof(m->path), "%s", full);
        m->base = dll_base;
        m->size = size;
        m->entry_va = ent;
        if ((e = gen_pool_filler(g, 2)))
            return e;
    }
    return link_entries(g, entries, n);
}

/* ---- driver objects ------------------------------------------------------ */

/* A DRIVER_OBJECT (and its extension and name) in a "Driv" chunk;
 * returns the object body's VA. */
static ds_err driver_object(gen_ctx *g, const char *name, uint64_t start, uint64_t size,
                            uint64_t section, uint64_t init, uint64_t *obj)
{
    const ds_profile *p = g->p;
    uint32_t osz = g->is64 ? sizeof(ds_driver_object64) : sizeof(ds_driver_object32);
    uint32_t ext = g->is64 ? 0x30 : 0x18;
    uint32_t nbytes = (uint32_t)(strlen(name) + 1) * 2;
    uint64_t b;
    ds_err e = gen_pool_struct(g, p->oh_body + osz + ext + (uint32_t)gen_round_up(nbytes, 16),
                               "Driv", true, &b);
    if (e)
        return e;
    uint64_t o = b + p->oh_body, x = o + osz, nbuf = x + ext;
    unsigned ptr = g->ptr;
    /* OBJECT_HEADER: one reference; body fields in DRIVER_OBJECT order */
    if ((e = gen_kwptr(g, b, p->oh_pointer_count, 1)) || (e = gen_kw16(g, o, 0, DS_IO_TYPE_DRIVER)) ||
        (e = gen_kw16(g, o, 2, (uint16_t)osz)) || (e = gen_kw32(g, o, (uint16_t)(2 * ptr), 0x12)) ||
        (e = gen_kwptr(g, o, (uint16_t)(3 * ptr), start)) ||
        (e = gen_kw32(g, o, (uint16_t)(4 * ptr), (uint32_t)size)) ||
        (e = gen_kwptr(g, o, (uint16_t)(5 * ptr), section)) ||
        (e = gen_kwptr(g, o, (uint16_t)(6 * ptr), x)) ||
        (e = gen_write_ustr(g, o + 7 * ptr, nbuf, name)) ||
        (e = gen_kwptr(g, o, (uint16_t)(g->is64 ? 0x58 : 0x2c), init)) ||
        (e = gen_kwptr(g, x, 0, o))) /* DRIVER_EXTENSION.DriverObject */
        return e;
    *obj = o;
    return DS_OK;
}

static bool is_sys(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && (strcmp(name + n - 4, ".sys") == 0 || strcmp(name + n - 4, ".SYS") == 0);
}

static gen_driver *new_driver(gen_ctx *g, const char *name, const char *path, uint64_t base,
                              uint64_t size, const char *category)
{
    if (g->ndrivers == GEN_MAX_DRIVERS)
        return NULL;
    gen_driver *d = &g->drivers[g->ndrivers++];
    memset(d, 0, sizeof(*d));
    snprintf(d->name, sizeof(d->name), "%s", name);
    snprintf(d->path, sizeof(d->path), "%s", path);
    d->base = base;
    d->size = size;
    d->list_index = -1;
    d->category = category;
    return d;
}

static ds_err listed_drivers(gen_ctx *g)
{
    for (unsigned i = 0; i < g->nmods; i++) {
        const gen_module *m = &g->mods[i];
        gen_driver *d = new_driver(g, m->name, m->path, m->base, m->size, "listed");
        if (!d)
            return DS_ERR_ARG;
        d->ldr_va = m->entry_va;
        d->list_index = (int)i;
        if (!is_sys(m->name))
            continue;
        char stem[32];
        snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(m->name) - 4), m->name);
        snprintf(d->object_name, sizeof(d->object_name), "%s%s",
                 strcmp(stem, "Ntfs") == 0 ? "\\FileSystem\\" : "\\Driver\\", stem);
        ds_err e = driver_object(g, d->object_name, m->base, m->size, m->entry_va,
                                 m->base + 0x1010, &d->object_va);
        if (e)
            return e;
    }
    /* built into ntoskrnl: DriverStart inside the kernel image */
    uint64_t unused;
    return driver_object(g, "\\Driver\\WMIxWDM", g->kbase + 0x1000, 0, 0, g->kbase + 0x1100,
                         &unused);
}

/* Past the last listed driver image, on a fresh 64 KiB boundary. */
static uint64_t free_driver_va(const gen_ctx *g)
{
    uint64_t end = 0;
    for (unsigned i = 1; i < g->nmods; i++)
        if (g->mods[i].base + g->mods[i].size > end)
            end = g->mods[i].base + g->mods[i].size;
    return gen_round_up(end, 0x10000) + 0x40000;
}

static ds_err hidden_driver(gen_ctx *g, uint64_t base)
{
    static const char *const name = "rootkit.sys";
    static const char *const path = "\\??\\C:\\Windows\\Temp\\rootkit.sys";
    uint64_t size = 0x3000, ent;
    ds_err e;
    if ((e = map_image(g, base, size)) ||
        (e = gen_ldr_entry(g, name, path, base, size, base + 0x1010, gen_pool_type_nonpaged(g),
                           &ent)) ||
        (e = gen_kwptr(g, ent, 0, ent)) || (e = gen_kwptr(g, ent, (uint16_t)g->ptr, ent)))
        return e;
    gen_driver *d = new_driver(g, name, path, base, size, "hidden");
    if (!d)
        return DS_ERR_ARG;
    d->ldr_va = ent;
    d->entry = base + 0x1010;
    snprintf(d->object_name, sizeof(d->object_name), "\\Driver\\rootkit");
    return driver_object(g, d->object_name, base, size, ent, base + 0x1010, &d->object_va);
}

/* An unloaded driver's loader entry, left in a freed chunk; its old
 * neighbours are the first two listed entries. */
static ds_err stale_driver(gen_ctx *g, uint64_t base)
{
    static const char *const name = "oldscan.sys";
    static const char *const path = "\\SystemRoot\\system32\\drivers\\oldscan.sys";
    uint64_t size = 0x5000, ent;
    ds_err e;
    if ((e = gen_ldr_entry(g, name, path, base, size, 0, 0, &ent)) ||
        (e = gen_kwptr(g, ent, 0, g->mods[1].entry_va)) ||
        (e = gen_kwptr(g, ent, (uint16_t)g->ptr, g->mods[0].entry_va)))
        return e;
    gen_driver *d = new_driver(g, name, path, base, size, "stale");
    if (!d)
        return DS_ERR_ARG;
    d->ldr_va = ent;
    return DS_OK;
}

/* nt!MmUnloadedDrivers: 50 slots in pool, the first three used. */
static ds_err unloaded_drivers(gen_ctx *g, uint64_t stale_base)
{
    static const char *const names[3] = {"usbvideo.sys", "oldscan.sys", "dump_diskdump.sys"};
    unsigned ptr = g->ptr;
    size_t esz = g->is64 ? sizeof(ds_unloaded_driver64) : sizeof(ds_unloaded_driver32);
    uint64_t arr, nbuf;
    ds_err e;
    if ((e = gen_pool_struct(g, (uint32_t)(DS_MI_UNLOADED_DRIVERS * esz), "MmDT", false, &arr)) ||
        (e = gen_pool_struct(g, 3 * 48, "MmDN", false, &nbuf)))
        return e;
    g->g_unloaded_drivers = gen_data_alloc(g, ptr, ptr);
    g->g_last_unloaded_driver = gen_data_alloc(g, 4, 4);
    if ((e = gen_kwptr(g, g->g_unloaded_drivers, 0, arr)) ||
        (e = gen_kw32(g, g->g_last_unloaded_driver, 0, 3)))
        return e;
    uint64_t other = free_driver_va(g) + 0x200000;
    for (unsigned i = 0; i < 3; i++) {
        gen_unloaded *u = &g->unloaded[g->nunloaded++];
        snprintf(u->name, sizeof(u->name), "%s", names[i]);
        u->start = i == 1 ? stale_base : other + i * 0x20000;
        u->end = u->start + (i == 1 ? 0x5000 : 0x8000);
        u->time = g->system_time - (int64_t)(3 - i) * 600 * 10000000ll;
        u->index = i;
        uint64_t at = arr + i * esz, t_off = g->is64 ? 0x20 : 0x10;
        if ((e = gen_write_ustr(g, at, nbuf + i * 48, u->name)) ||
            (e = gen_kwptr(g, at, (uint16_t)(2 * ptr), u->start)) ||
            (e = gen_kwptr(g, at, (uint16_t)(3 * ptr), u->end)) ||
            (e = gen_kw64(g, at, (uint16_t)t_off, (uint64_t)u->time)))
            return e;
    }
    return DS_OK;
}

ds_err gen_drivers_build(gen_ctx *g)
{
    ds_err e;
    if (g->nmods < 2)
        return DS_OK;
    uint64_t rootkit = free_driver_va(g), stale = rootkit + 0x80000;
    if ((e = listed_drivers(g)) || (e = gen_pool_filler(g, 3)) || (e = hidden_driver(g, rootkit)) ||
        (e = gen_pool_filler(g, 3)) || (e = stale_driver(g, stale)))
        return e;
    return unloaded_drivers(g, stale);
}
