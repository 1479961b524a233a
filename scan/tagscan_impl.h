/* tagscan_impl.h - internals shared by the tag scan implementations
 * (tagscan.c: scalar, SSE2, dispatch; tagscan_avx2.c: AVX2).  Not public.
 *
 * A tagscan_job carries one normalised request: `slot` is the next aligned
 * slot to test (already >= start and aligned as the physical address),
 * `last` the greatest slot whose tag still fits in the buffer.  An
 * implementation tests slots from `slot` upward and appends hits with
 * tagscan_emit, which stops the scan (setting `next`) when the array is
 * full.  SIMD kernels only decide "some slot of this block matches" and let
 * tagscan_block_scalar find which, in address order (hits are rare); what
 * the SIMD loop leaves over at the end is finished by tagscan_scalar. */
#ifndef DS_SCAN_TAGSCAN_IMPL_H
#define DS_SCAN_TAGSCAN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tagscan.h"

/* The SIMD loops ask for the bytes this far ahead of the block they test
 * (_mm_prefetch; never faults, so it may point past the buffer).  The
 * hardware prefetchers stop at each 4 KiB page, and a page-cache mapping
 * of small folios is all 4 KiB pages: measured on a cached 1 GiB dump
 * (bench_stream, mmap, 4 MiB chunks), stream + scan 13.1 -> 15.4 GB/s at
 * 2 threads with 4 KiB folios, 16.1 -> 20.0 with 2 MiB folios; 512 to
 * 4096 bytes all help, 1024 was best. */
#define TAGSCAN_PREFETCH_AHEAD 1024u

typedef struct tagscan_job {
    const uint8_t *buf;
    size_t len;          /* scan limit (capped buffer length) */
    size_t slot;         /* next slot to test */
    size_t last;         /* last slot whose tag fits; valid when has_slots */
    bool has_slots;
    unsigned align;
    unsigned tag_off;
    uint32_t tags[DS_TAGSCAN_MAX_TAGS];
    unsigned ntags;      /* 1..4 on the SIMD paths, any on scalar */
    const uint32_t *all_tags; /* the caller's array (scalar path, ntags > 4) */
    uint32_t *hits;
    size_t max_hits;
    size_t nhits;
    size_t next;         /* resume offset, set when the job ends */
    bool full;           /* stopped because hits[] filled up */
} tagscan_job;

/* Append slot as a hit; false (and next = slot) when hits[] is full. */
static inline bool tagscan_emit(tagscan_job *j, size_t slot)
{
    if (j->nhits == j->max_hits) {
        j->full = true;
        j->next = slot;
        return false;
    }
    j->hits[j->nhits++] = (uint32_t)slot;
    return true;
}

static inline uint32_t tagscan_load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v)); /* unaligned-safe, little-endian hosts */
    return v;
}

/* Test slots j->slot .. j->last one by one.  Sets next/full. */
void tagscan_scalar(tagscan_job *j);

/* Test, in order, the aligned slots in [slot, slot + bytes) of a SIMD block
 * that matched somewhere (every slot of a full block has its tag inside the
 * buffer).  false when hits[] filled up (next is set). */
static inline bool tagscan_block_scalar(tagscan_job *j, size_t slot, size_t bytes)
{
    for (size_t s = slot; s < slot + bytes; s += j->align) {
        uint32_t v = tagscan_load32(j->buf + s + j->tag_off);
        for (unsigned t = 0; t < j->ntags; t++) {
            if (v == j->tags[t]) {
                if (!tagscan_emit(j, s))
                    return false;
                break;
            }
        }
    }
    return true;
}

#if defined(__x86_64__) || defined(__i386__)
#define DS_TAGSCAN_HAVE_AVX2 1
void tagscan_avx2(tagscan_job *j);
#endif

#endif
