/* modules.h - the loaded kernel modules of a dump (`lm`).
 *
 * Sources, in order: the triage block's driver list (minidumps), else a
 * walk of PsLoadedModuleList (KLDR_DATA_TABLE_ENTRY, offsets from the
 * build's profile).  The walk is bounded (DS_MAX_MODULES entries, each
 * entry visited once) and loop-safe; a list that loops, breaks or hits
 * the bound is reported in `status`, never followed for ever.  Names are
 * UNICODE_STRINGs checked against their buffers (odd or oversized lengths
 * are cut, never read past).
 *
 * Windows stores some entries with full paths
 * (`\SystemRoot\system32\ntoskrnl.exe`): `name` is always the base name
 * (what follows the last '\' or '/'), `path` what the dump holds. */
#ifndef DS_MODULES_H
#define DS_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dump.h"

#define DS_MAX_MODULES 4096u
#define DS_MODULE_NAME_MAX 128

typedef struct ds_module {
    char name[DS_MODULE_NAME_MAX];   /* base name, UTF-8, "" if unreadable */
    char path[2 * DS_MODULE_NAME_MAX]; /* as stored (FullDllName or triage name) */
    uint64_t base;
    uint64_t size;
    uint64_t entry;                  /* 0 when unknown */
    uint64_t ldr_va;                 /* list entry VA; 0 for triage */
    uint32_t index;                  /* position in the list */
} ds_module;

typedef enum ds_modlist_status {
    DS_MODLIST_OK = 0,      /* the walk came back to the head */
    DS_MODLIST_BROKEN,      /* an entry was unreadable or not a kernel pointer */
    DS_MODLIST_LOOP,        /* an entry came round again before the head */
    DS_MODLIST_LIMIT,       /* DS_MAX_MODULES entries and still going */
    DS_MODLIST_ABSENT,      /* no list: no head known, or no profile */
} ds_modlist_status;

typedef struct ds_modlist {
    ds_module *v;           /* in list order */
    size_t n;
    ds_modlist_status status;
    bool from_triage;
    size_t *by_base;        /* indices sorted by base (ds_module_at) */
} ds_modlist;

/* Load the module list of d.  DS_ERR_NOMEM only; an absent or damaged
 * list gives what could be read and a status. */
ds_err ds_modules_load(const ds_dump *d, ds_modlist *out);
/* The same, walking PsLoadedModuleList from head (never the triage list):
 * for a head found some other way than the dump's. */
ds_err ds_modules_load_at(const ds_dump *d, uint64_t head, ds_modlist *out);

/* One KLDR_DATA_TABLE_ENTRY at va: base, size, entry, names, ldr_va
 * (index untouched).  DS_OK or the read's error. */
ds_err ds_ldr_entry_read(const ds_dump *d, uint64_t va, ds_module *mod);

/* The UNICODE_STRING at va (ptr: pointer size) as UTF-8 into out; empty
 * when unreadable; odd or oversized lengths are cut, never read past. */
void ds_kread_ustr(const ds_dump *d, uint64_t va, unsigned ptr, char *out, size_t cap);
void ds_modlist_free(ds_modlist *m);

/* The module containing va, or NULL. */
const ds_module *ds_module_at(const ds_modlist *m, uint64_t va);

/* Base name of a path, into out (cap bytes): after the last '\' or '/'. */
void ds_module_base_name(const char *path, char *out, size_t cap);

const char *ds_modlist_status_name(ds_modlist_status s);

/* ds_mem_read_fn over a dump's kernel address space (ctx = const ds_dump *). */
ds_err ds_dump_kread_cb(void *ctx, uint64_t va, void *buf, size_t len);

#endif
