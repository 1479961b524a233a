/* tagscan.h - find pool-allocation headers by their pool tag, fast.
 *
 * Windows kernel pool allocations start with a POOL_HEADER whose 32-bit
 * PoolTag sits at a fixed offset (4 on x64) and whose start is aligned to
 * the pool granularity (16 bytes on x64, 8 on x86).  ds_tagscan walks every
 * aligned slot of a buffer and reports the slots whose u32 at +tag_off
 * equals one of up to four tags.  A tag is compared as the little-endian
 * u32 stored in memory: "Proc" is 'P' | 'r'<<8 | 'o'<<16 | 'c'<<24.
 *
 * Alignment is that of the physical address: buf[0] lies at a physical
 * address congruent to base_align_off modulo align, so slots are the
 * offsets i with (base_align_off + i) % align == 0.  Chunks from stream.h
 * start at page boundaries in practice (base_align_off = 0), but any value
 * works.  A slot is reported only when its whole tag lies inside the buffer
 * (i + tag_off + 4 <= len): a tag cut by the end of the buffer is not a
 * hit.  Offsets are relative to buf, in increasing order.
 *
 * Implementations: a scalar reference, SSE2 (always on x86-64) and AVX2
 * (built in tagscan_avx2.c with -mavx2, chosen at run time when the CPU has
 * it).  The SIMD versions load 16/32 bytes at each candidate tag position,
 * compare every 32-bit lane with each tag, OR the results over a 64/128-
 * byte block and test them once, so the common no-hit block costs a handful
 * of instructions; lanes that are not tag positions of an aligned slot are
 * masked out.  They use unaligned loads (any buffer address) and finish the
 * last partial block with the scalar code.  align 4, 8 or 16 with at most 4
 * tags takes the SIMD path; any other align (a power of two or not) or more
 * tags runs scalar.  On non-x86 builds only the scalar code exists.
 *
 * Hits can exceed the caller's array: ds_tagscan_ex returns the number
 * written and sets *next to the buffer offset where scanning should resume.
 * *next == len means the buffer was scanned to the end; otherwise the array
 * filled up (*next is then the slot of the first hit not reported) and a
 * call with start = *next continues without losing or repeating a hit.
 * len is capped at DS_TAGSCAN_MAX_LEN so offsets fit in 32 bits; a longer
 * buffer is scanned up to the cap and *next reports where it stopped. */
#ifndef DS_SCAN_TAGSCAN_H
#define DS_SCAN_TAGSCAN_H

#include <stddef.h>
#include <stdint.h>

#define DS_TAGSCAN_MAX_TAGS 4u
#define DS_TAGSCAN_MAX_LEN ((size_t)UINT32_MAX)

/* Pack a 4-character tag as stored in memory: DS_POOLTAG('P','r','o','c'). */
#define DS_POOLTAG(a, b, c, d) \
    ((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 | (uint32_t)(uint8_t)(c) << 16 | \
     (uint32_t)(uint8_t)(d) << 24)

/* Scan buf[start, len) (offsets relative to buf).  Returns hits written;
 * *next (may be NULL) = resume offset, len when done.  align 0 or ntags 0
 * or max_hits 0 scan nothing (*next = start). */
size_t ds_tagscan_ex(const uint8_t *buf, size_t len, size_t start, uint64_t base_align_off,
                     unsigned align, unsigned tag_off, const uint32_t *tags, unsigned ntags,
                     uint32_t *hits, size_t max_hits, size_t *next);

/* The whole buffer from offset 0.  A return value equal to max_hits may
 * mean more hits exist: continue with ds_tagscan_ex(start = last hit + 1). */
size_t ds_tagscan(const uint8_t *buf, size_t len, uint64_t base_align_off, unsigned align,
                  unsigned tag_off, const uint32_t *tags, unsigned ntags, uint32_t *hits,
                  size_t max_hits);

/* Name of the implementation in use: "scalar", "sse2" or "avx2". */
const char *ds_tagscan_impl_name(void);

/* Force an implementation (tests, benchmarks) or NULL/"auto" for the best
 * one this CPU runs.  Returns 0, or -1 when the name is unknown or the CPU
 * or build lacks it (the current choice is kept).  Process-wide: call it
 * before starting scans on other threads. */
int ds_tagscan_force(const char *name);

/* True when implementation `name` can run here. */
int ds_tagscan_impl_available(const char *name);

#endif
