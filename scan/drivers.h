/* drivers.h - kernel modules found three ways and compared, and the
 * drivers the kernel remembers unloading.
 *
 * Views of a loaded module (one ds_driver per module image):
 *   list           the PsLoadedModuleList walk (its anchor from the dump
 *                  or from anchors.c)
 *   pool           a KLDR_DATA_TABLE_ENTRY found by the physical scan in a
 *                  pool chunk tagged "MmLd" (the loader's allocations)
 *   driver_object  a DRIVER_OBJECT found in a chunk tagged "Driv"
 *                  ("Dri\xf6" before Windows 8) whose DriverStart is the
 *                  image base or whose DriverSection is the loader entry
 * A DRIVER_OBJECT whose DriverStart lies inside a listed image but not at
 * its base (the I/O manager's built-in drivers inside ntoskrnl) is not a
 * module of its own and adds no record.
 *
 * Verdicts: a module the list does not hold but a pool view found is
 *   hidden  when its image is still mapped (a PE header at its base)
 *           and its loader entry's chunk is not free: the rootkit move of
 *           unlinking a driver from PsLoadedModuleList;
 *   stale   otherwise (image gone or chunk freed: what an unloaded
 *           driver leaves behind), never hidden.
 * Reasons say which facts decided (ds_drv_reason).
 *
 * Unloaded drivers: nt!MmUnloadedDrivers (through KDBG) is an array of
 * DS_MI_UNLOADED_DRIVERS entries {name, start, end, unload time}.
 *
 * Bounds: hits are capped by the scan's candidate cap; every list walk by
 * DS_MAX_MODULES; names by their buffers. */
#ifndef DS_SCAN_DRIVERS_H
#define DS_SCAN_DRIVERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate.h"

enum ds_drv_view {
    DS_DRV_LIST = 1u << 0,       /* "list" */
    DS_DRV_POOL = 1u << 1,       /* "pool" */
    DS_DRV_OBJECT = 1u << 2,     /* "driver_object" */
};
#define DS_DRV_VIEW_COUNT 3
const char *ds_drv_view_name(unsigned bit_index);

enum ds_drv_reason {
    DS_DRV_RSN_NOT_IN_LIST = 1u << 0,     /* "not_in_module_list" */
    DS_DRV_RSN_IMAGE_MAPPED = 1u << 1,    /* "image_mapped": PE header at base */
    DS_DRV_RSN_IMAGE_GONE = 1u << 2,      /* "image_unmapped" */
    DS_DRV_RSN_POOL_FREED = 1u << 3,      /* "pool_freed": loader entry chunk free */
    DS_DRV_RSN_UNLOADED = 1u << 4,        /* "in_unloaded_list": MmUnloadedDrivers names it */
    DS_DRV_RSN_LIST_DAMAGED = 1u << 5,    /* "list_damaged": the walk did not come back */
};
#define DS_DRV_REASON_COUNT 6
const char *ds_drv_reason_name(unsigned bit_index);

#define DS_DRIVER_NAME_MAX 128

typedef struct ds_driver {
    char name[DS_DRIVER_NAME_MAX];       /* base name, "" unknown */
    char path[2 * DS_DRIVER_NAME_MAX];   /* FullDllName */
    char object_name[DS_DRIVER_NAME_MAX]; /* DRIVER_OBJECT.DriverName ("\Driver\x") */
    uint64_t base, size, entry;          /* entry 0: unknown */
    uint64_t ldr_va, ldr_pa;             /* loader entry; DS_NO_VALUE unknown */
    uint64_t object_va, object_pa;       /* DRIVER_OBJECT body; DS_NO_VALUE none */
    int32_t list_index;                  /* position in the list, -1 not listed */
    uint32_t sources;                    /* ds_drv_view bits */
    bool hidden, stale;
    uint32_t reasons;                    /* ds_drv_reason bits */
} ds_driver;

typedef struct ds_unloaded {
    char name[DS_DRIVER_NAME_MAX];
    uint64_t start, end;
    int64_t unload_time;                 /* FILETIME, 0 unknown */
    uint32_t index;                      /* slot in MmUnloadedDrivers */
} ds_unloaded;

/* A pool-tag hit handed over by the scan: pool header address. */
typedef struct ds_drv_hit {
    uint64_t pool_pa, pool_va;           /* pool_va DS_NO_VALUE when unmapped */
    bool is_object;                      /* "Driv" (else "MmLd") */
} ds_drv_hit;

typedef struct ds_driver_set {
    ds_driver *v;
    size_t n;
    ds_unloaded *unloaded;
    size_t nunloaded;
    uint32_t list_status;                /* ds_modlist_status of the walk */
    uint32_t list_entries;
    bool unloaded_known;                 /* MmUnloadedDrivers was readable */
} ds_driver_set;

/* Build the driver view of a dump: list, pool hits (sorted here by
 * address: the result does not depend on their order), verdicts,
 * unloaded.  DS_ERR_NOMEM only. */
ds_err ds_drivers_build(const ds_vctx *vc, ds_drv_hit *hits, size_t nhits, ds_driver_set *out);
void ds_driver_set_free(ds_driver_set *s);

#endif
