/* p2v.h - kernel virtual address of chosen physical pages.
 *
 * The scanner finds objects by physical address but needs their kernel VA
 * (TypeIndex cookie, reads across page boundaries, VA output).  Rather
 * than a map of all memory, ds_p2v_resolve() takes the sorted set of page
 * frame numbers that hold hits and walks the kernel page tables once
 * (vtop.h ds_vas_foreach_mapping), recording for each wanted pfn the
 * lowest kernel VA that maps it.  Memory is 16 bytes per wanted page. */
#ifndef DS_SCAN_P2V_H
#define DS_SCAN_P2V_H

#include <stddef.h>
#include <stdint.h>

#include "../src/dump.h"

typedef struct ds_p2v {
    uint64_t *pfns;   /* sorted, unique */
    uint64_t *vas;    /* page VA per pfn, DS_P2V_NONE if unmapped */
    size_t *next;     /* during the walk: next unresolved index (p2v.c) */
    size_t n;
} ds_p2v;

#define DS_P2V_NONE UINT64_MAX

/* Takes ownership of pfns (sorted+deduplicated here). */
ds_err ds_p2v_resolve(ds_p2v *m, const ds_dump *d, uint64_t *pfns, size_t n);
/* The same for every pfn whose bit is set in bits[0, nbits) (the set of
 * kernel-mapped pages, for a map made before the stream); DS_ERR_NOMEM
 * without allocating when more than max_pages bits are set. */
ds_err ds_p2v_resolve_set(ds_p2v *m, const ds_dump *d, const uint64_t *bits, uint64_t nbits,
                          size_t max_pages);
/* VA of physical address pa, or DS_P2V_NONE. */
uint64_t ds_p2v_lookup(const ds_p2v *m, uint64_t pa);
void ds_p2v_free(ds_p2v *m);

#endif
