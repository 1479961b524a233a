/* physmap.h - physical page number -> file offset index.
 *
 * Two representations, chosen by dump format, both O(log n) or O(1) and
 * small whatever the dump size (never one entry per page):
 *   RUNS    sorted array of {first pfn, page count, file offset}; used for
 *           full dumps, RDMP ranges, raw images (one run) and ELF segments.
 *           Lookup is a binary search.
 *   BITMAP  the dump's own presence bitmap (borrowed, usually from the
 *           mmap) plus a rank array: one u64 per 512-bit block holding the
 *           number of set bits before the block.  Lookup = rank[block] +
 *           popcount of the words before the bit in the block.  For a
 *           1 TiB dump (2^28 pages) the bitmap is 32 MiB (borrowed) and the
 *           rank array 4 MiB.
 * Pages whose computed file range lies beyond end-of-file (truncated
 * dump) are reported as absent; ds_physmap counts them at build time. */
#ifndef DS_PHYSMAP_H
#define DS_PHYSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dserr.h"

typedef struct ds_run {
    uint64_t pfn;      /* first page frame number */
    uint64_t npages;   /* run length in pages */
    uint64_t file_off; /* file offset of the first page */
} ds_run;

typedef enum ds_physmap_kind { DS_PM_NONE = 0, DS_PM_RUNS, DS_PM_BITMAP } ds_physmap_kind;

/* Words [start, end) of a bitmap that may hold set bits; every word
 * outside all spans is zero (a hole of a sparse file) and is never read. */
typedef struct ds_word_span {
    uint64_t start, end;
} ds_word_span;

#define DS_PM_BLOCK_BITS 512u /* rank granularity: 8 u64 words */
/* Largest bitmap indexed: 2^34 pages (64 TiB; rank index 256 MiB). */
#define DS_PM_MAX_BITMAP_BITS (1ull << 34)

typedef struct ds_physmap {
    ds_physmap_kind kind;
    uint64_t file_size;      /* pages ending past this are absent */
    /* RUNS */
    ds_run *runs;            /* owned, sorted by pfn, non-overlapping */
    size_t nruns;
    /* BITMAP */
    const uint64_t *bits;    /* borrowed; bit n = pfn n present */
    uint64_t nbits;          /* pfns covered */
    uint64_t *rank;          /* owned; set bits before each block */
    uint64_t first_page_off; /* file offset of the first stored page */
    ds_word_span *spans;     /* owned, sorted; NULL = every word may hold bits */
    size_t nspans;
    /* summary, filled by the builders */
    uint64_t pages_present;  /* pages the dump claims to hold */
    uint64_t pages_missing;  /* of those, pages beyond end-of-file */
    uint64_t max_pfn;        /* highest present pfn + 1 */
} ds_physmap;

/* Build a RUNS map.  runs are copied, sorted and checked for overlap
 * (DS_ERR_CORRUPT) and for overflow of pfn/file offset arithmetic. */
ds_err ds_physmap_init_runs(ds_physmap *pm, const ds_run *runs, size_t nruns,
                            uint64_t file_size, ds_errbuf *eb);

/* Build a BITMAP map over a borrowed bitmap of nbits bits.  `bits` must
 * stay valid and hold at least ceil(nbits/64) words (the caller copies
 * when the on-disk bitmap is not 8-byte aligned or the file is short). */
ds_err ds_physmap_init_bitmap(ds_physmap *pm, const uint64_t *bits, uint64_t nbits,
                              uint64_t first_page_off, uint64_t file_size,
                              ds_errbuf *eb);

/* The same, knowing that only the words inside spans[0..nspans) (sorted,
 * non-overlapping) can be non-zero: building the index and walking the
 * extents never touch the other words, so a bitmap that is mostly a hole
 * of a sparse file costs no reads (and no resident memory) for the hole.
 * The spans are copied. */
ds_err ds_physmap_init_bitmap_spans(ds_physmap *pm, const uint64_t *bits, uint64_t nbits,
                                    uint64_t first_page_off, uint64_t file_size,
                                    const ds_word_span *spans, size_t nspans, ds_errbuf *eb);

void ds_physmap_free(ds_physmap *pm);

/* File offset of page pfn: DS_OK, DS_ERR_NOT_PRESENT (not in the dump)
 * or DS_ERR_TRUNCATED (in the dump but beyond end-of-file). */
ds_err ds_physmap_lookup(const ds_physmap *pm, uint64_t pfn, uint64_t *file_off);

/* Iterate the file extents that hold present pages, in file order, each a
 * maximal run of pages contiguous in both pfn and file offset, clipped to
 * the file size.  Return non-zero from cb to stop; that value is returned. */
typedef int (*ds_extent_cb)(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off);
int ds_physmap_foreach_extent(const ds_physmap *pm, ds_extent_cb cb, void *ctx);

/* Bytes of index memory owned by the map (for the 1 TiB budget test). */
size_t ds_physmap_index_bytes(const ds_physmap *pm);

#endif
