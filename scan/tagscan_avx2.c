/* tagscan_avx2.c - AVX2 kernel of the pool tag scan (see tagscan.h).
 *
 * Built as its own translation unit with -mavx2 (scan/meson.build), so
 * only this code may use AVX2 instructions; tagscan.c calls it only after
 * __builtin_cpu_supports("avx2").  Same scheme as the SSE2 kernel in
 * tagscan.c, with 32-byte loads and a 128-byte block: walk tag positions
 * q = slot + tag_off, compare every 32-bit lane with each tag, OR the four
 * loads' results, mask lanes that are not tag positions, one vptest per
 * block; decode lanes in address order only when the block matched.  The
 * tail (less than one block) is finished by the scalar code. */

#include "tagscan_impl.h"

#if defined(DS_TAGSCAN_HAVE_AVX2) && defined(__AVX2__)
#include <immintrin.h>

#define AVX2_BLOCK 128u

/* Lanes (movemask_ps bits over 8 dwords) that are tag positions. */
static unsigned avx2_lane_bits(unsigned align)
{
    return align == 16 ? 0x11u : align == 8 ? 0x55u : 0xffu;
}

static inline __attribute__((always_inline)) __m256i
avx2_match(__m256i v, const __m256i *tv, unsigned nt)
{
    __m256i m = _mm256_cmpeq_epi32(v, tv[0]);
    for (unsigned t = 1; t < nt; t++)
        m = _mm256_or_si256(m, _mm256_cmpeq_epi32(v, tv[t]));
    return m;
}

/* Emit the hits of one 32-byte group whose lanes start at tag position q. */
static bool avx2_emit_group(tagscan_job *j, __m256i m, unsigned lanes, size_t q)
{
    unsigned bits = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(m)) & lanes;
    while (bits) {
        unsigned b = (unsigned)__builtin_ctz(bits);
        bits &= bits - 1;
        if (!tagscan_emit(j, q + 4u * b - j->tag_off))
            return false;
    }
    return true;
}

static __m256i avx2_keep_mask(unsigned lanes)
{
    int32_t k[8];
    for (unsigned i = 0; i < 8; i++)
        k[i] = (lanes >> i) & 1 ? -1 : 0;
    return _mm256_loadu_si256((const __m256i *)k);
}

static inline __attribute__((always_inline)) void avx2_kernel(tagscan_job *j, unsigned nt)
{
    __m256i tv[DS_TAGSCAN_MAX_TAGS];
    for (unsigned t = 0; t < nt; t++)
        tv[t] = _mm256_set1_epi32((int)j->tags[t]);
    unsigned lanes = avx2_lane_bits(j->align);
    const __m256i keep = avx2_keep_mask(lanes);
    size_t q = j->slot + j->tag_off;
    while (q <= j->len && j->len - q >= AVX2_BLOCK) {
        const uint8_t *p = j->buf + q;
        __m256i m0 = avx2_match(_mm256_loadu_si256((const __m256i *)(p + 0)), tv, nt);
        __m256i m1 = avx2_match(_mm256_loadu_si256((const __m256i *)(p + 32)), tv, nt);
        __m256i m2 = avx2_match(_mm256_loadu_si256((const __m256i *)(p + 64)), tv, nt);
        __m256i m3 = avx2_match(_mm256_loadu_si256((const __m256i *)(p + 96)), tv, nt);
        __m256i any = _mm256_or_si256(_mm256_or_si256(m0, m1), _mm256_or_si256(m2, m3));
        if (!_mm256_testz_si256(any, keep)) {
            if (!avx2_emit_group(j, m0, lanes, q) || !avx2_emit_group(j, m1, lanes, q + 32) ||
                !avx2_emit_group(j, m2, lanes, q + 64) || !avx2_emit_group(j, m3, lanes, q + 96))
                return;
        }
        q += AVX2_BLOCK;
    }
    j->slot = q - j->tag_off;
    j->has_slots = j->slot <= j->last;
    tagscan_scalar(j);
}

void tagscan_avx2(tagscan_job *j)
{
    switch (j->ntags) {
    case 1: avx2_kernel(j, 1); break;
    case 2: avx2_kernel(j, 2); break;
    case 3: avx2_kernel(j, 3); break;
    default: avx2_kernel(j, 4); break;
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
