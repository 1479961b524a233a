/* tagscan_avx2.c - AVX2 kernel of the pool tag scan (see tagscan.h).
 *
 * Built as its own translation unit with -mavx2 (scan/meson.build), so
 * only this code may use AVX2 instructions; tagscan.c calls it only after
 * __builtin_cpu_supports("avx2").  Same scheme as the SSE2 kernel in
 * tagscan.c, with 32-byte loads and a 128-byte block: walk tag positions
 * q = slot + tag_off, pack the candidate lanes of the four loads, compare
 * them with each tag, one vptest per block; a block that matched is
 * re-checked slot by slot in address order.  The tail (less than one
 * block) is finished by the scalar code. */

#include "tagscan_impl.h"

#if defined(DS_TAGSCAN_HAVE_AVX2) && defined(__AVX2__)
#include <immintrin.h>

#define AVX2_BLOCK 128u

/* OR of (v == tag[t]) over the nt tags. */
static inline __attribute__((always_inline)) __m256i
avx2_match(__m256i v, const __m256i *tv, unsigned nt)
{
    __m256i m = _mm256_cmpeq_epi32(v, tv[0]);
    for (unsigned t = 1; t < nt; t++)
        m = _mm256_or_si256(m, _mm256_cmpeq_epi32(v, tv[t]));
    return m;
}

/* Dwords 0 and 2 of each 128-bit half of a and b (shufps moves bits only). */
static inline __m256i avx2_even_dwords(__m256i a, __m256i b)
{
    return _mm256_castps_si256(
        _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), 0x88));
}

/* True when some tag position of the 128-byte block at p matches.  The
 * candidates are packed before comparing (the shuffles work inside each
 * 128-bit half, which is all that is needed):
 *   align 16: [v0.0 v1.0 v2.0 v3.0 | v0.4 v1.4 v2.4 v3.4] = all 8 positions
 *   align 8:  two vectors of [a.0 a.2 b.0 b.2 | a.4 a.6 b.4 b.6]
 *   align 4:  every lane of the four loads. */
static inline __attribute__((always_inline)) int
avx2_block_matches(const uint8_t *p, const __m256i *tv, unsigned nt, unsigned align)
{
    __m256i v0 = _mm256_loadu_si256((const __m256i *)(p + 0));
    __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
    __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + 64));
    __m256i v3 = _mm256_loadu_si256((const __m256i *)(p + 96));
    __m256i any;
    if (align == 16) {
        __m256i c = _mm256_unpacklo_epi64(_mm256_unpacklo_epi32(v0, v1),
                                          _mm256_unpacklo_epi32(v2, v3));
        any = avx2_match(c, tv, nt);
    } else if (align == 8) {
        any = _mm256_or_si256(avx2_match(avx2_even_dwords(v0, v1), tv, nt),
                              avx2_match(avx2_even_dwords(v2, v3), tv, nt));
    } else {
        any = _mm256_or_si256(_mm256_or_si256(avx2_match(v0, tv, nt), avx2_match(v1, tv, nt)),
                              _mm256_or_si256(avx2_match(v2, tv, nt), avx2_match(v3, tv, nt)));
    }
    return !_mm256_testz_si256(any, any);
}

/* Walk tag positions q = slot + tag_off one block at a time. */
static inline __attribute__((always_inline)) void
avx2_kernel(tagscan_job *j, unsigned nt, unsigned align)
{
    __m256i tv[DS_TAGSCAN_MAX_TAGS];
    for (unsigned t = 0; t < nt; t++)
        tv[t] = _mm256_set1_epi32((int)j->tags[t]);
    size_t q = j->slot + j->tag_off;
    while (q <= j->len && j->len - q >= AVX2_BLOCK) {
        _mm_prefetch((const char *)((uintptr_t)(j->buf + q) + TAGSCAN_PREFETCH_AHEAD), _MM_HINT_T0);
        if (avx2_block_matches(j->buf + q, tv, nt, align) &&
            !tagscan_block_scalar(j, q - j->tag_off, AVX2_BLOCK))
            return;
        q += AVX2_BLOCK;
    }
    j->slot = q - j->tag_off;
    j->has_slots = j->slot <= j->last;
    tagscan_scalar(j);
}

/* One specialised loop per (tag count, alignment). */
static inline __attribute__((always_inline)) void avx2_for_align(tagscan_job *j, unsigned nt)
{
    switch (j->align) {
    case 16: avx2_kernel(j, nt, 16); break;
    case 8: avx2_kernel(j, nt, 8); break;
    default: avx2_kernel(j, nt, 4); break;
    }
}

void tagscan_avx2(tagscan_job *j)
{
    switch (j->ntags) {
    case 1: avx2_for_align(j, 1); break;
    case 2: avx2_for_align(j, 2); break;
    case 3: avx2_for_align(j, 3); break;
    default: avx2_for_align(j, 4); break;
    }
}

#elif defined(DS_TAGSCAN_HAVE_AVX2)
/* Built without -mavx2 (should not happen with scan/meson.build): keep
 * the symbol and stay correct by running the scalar code. */
void tagscan_avx2(tagscan_job *j)
{
    tagscan_scalar(j);
}
#endif

/* Keep the translation unit non-empty on builds without x86 SIMD. */
typedef int ds_tagscan_avx2_unit;
