/* tagscan.c - pool tag scan: request normalisation, the scalar reference,
 * the SSE2 kernel and run-time choice of implementation (see tagscan.h).
 *
 * The SIMD kernels walk "tag positions" q = slot + tag_off rather than
 * slots: from q, every align bytes is another candidate, so a 16-byte load
 * at q holds candidates in fixed 32-bit lanes (lane 0 for align 16, lanes
 * 0 and 2 for align 8, all for align 4) whatever tag_off is.  One block is
 * four loads; the candidate lanes are packed together with shuffles so
 * every compare tests real candidates only, the compares are ORed and
 * tested once.  A block with a match is re-checked slot by slot in address
 * order (tagscan_block_scalar), so hits come out sorted. */

#include "tagscan_impl.h"

#include <stdatomic.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- scalar reference ----------------------------------------------- */

void tagscan_scalar(tagscan_job *j)
{
    if (j->has_slots) {
        for (size_t s = j->slot;; s += j->align) {
            uint32_t v = tagscan_load32(j->buf + s + j->tag_off);
            for (unsigned t = 0; t < j->ntags; t++) {
                if (v == j->all_tags[t]) {
                    if (!tagscan_emit(j, s))
                        return;
                    break;
                }
            }
            if (j->last - s < j->align)
                break; /* next slot would pass last (overflow-safe form) */
        }
    }
    j->next = j->len;
}

/* ---- SSE2 ------------------------------------------------------------ */

#ifdef __SSE2__
#define SSE2_BLOCK 64u

/* OR of (v == tag[t]) over the nt tags. */
static inline __attribute__((always_inline)) __m128i
sse2_match(__m128i v, const __m128i *tv, unsigned nt)
{
    __m128i m = _mm_cmpeq_epi32(v, tv[0]);
    for (unsigned t = 1; t < nt; t++)
        m = _mm_or_si128(m, _mm_cmpeq_epi32(v, tv[t]));
    return m;
}

/* Pick dword 0 and 2 of a and of b: [a0, a2, b0, b2] (shufps moves bits,
 * it does not interpret them as floats). */
static inline __m128i sse2_even_dwords(__m128i a, __m128i b)
{
    return _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(a), _mm_castsi128_ps(b), 0x88));
}

/* Non-zero when some tag position of the 64-byte block at p matches.
 * Candidates are packed first so each compare tests only real positions:
 * align 16 has one per load, gathered as [v0.0 v1.0 v2.0 v3.0]; align 8
 * has two per load, gathered into two vectors; align 4 uses every lane. */
static inline __attribute__((always_inline)) int
sse2_block_matches(const uint8_t *p, const __m128i *tv, unsigned nt, unsigned align)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i v1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i v2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i v3 = _mm_loadu_si128((const __m128i *)(p + 48));
    __m128i any;
    if (align == 16) {
        __m128i c = _mm_unpacklo_epi64(_mm_unpacklo_epi32(v0, v1), _mm_unpacklo_epi32(v2, v3));
        any = sse2_match(c, tv, nt);
    } else if (align == 8) {
        any = _mm_or_si128(sse2_match(sse2_even_dwords(v0, v1), tv, nt),
                           sse2_match(sse2_even_dwords(v2, v3), tv, nt));
    } else {
        any = _mm_or_si128(_mm_or_si128(sse2_match(v0, tv, nt), sse2_match(v1, tv, nt)),
                           _mm_or_si128(sse2_match(v2, tv, nt), sse2_match(v3, tv, nt)));
    }
    return _mm_movemask_epi8(any);
}

/* Walk tag positions q = slot + tag_off one block at a time. */
static inline __attribute__((always_inline)) void
sse2_kernel(tagscan_job *j, unsigned nt, unsigned align)
{
    __m128i tv[DS_TAGSCAN_MAX_TAGS];
    for (unsigned t = 0; t < nt; t++)
        tv[t] = _mm_set1_epi32((int)j->tags[t]);
    size_t q = j->slot + j->tag_off;
    while (q <= j->len && j->len - q >= SSE2_BLOCK) {
        _mm_prefetch((const char *)((uintptr_t)(j->buf + q) + TAGSCAN_PREFETCH_AHEAD), _MM_HINT_T0);
        if (sse2_block_matches(j->buf + q, tv, nt, align) &&
            !tagscan_block_scalar(j, q - j->tag_off, SSE2_BLOCK))
            return;
        q += SSE2_BLOCK;
    }
    j->slot = q - j->tag_off;
    j->has_slots = j->slot <= j->last;
    tagscan_scalar(j);
}

/* One specialised loop per (tag count, alignment) so neither is tested
 * inside the loop. */
static inline __attribute__((always_inline)) void sse2_for_align(tagscan_job *j, unsigned nt)
{
    switch (j->align) {
    case 16: sse2_kernel(j, nt, 16); break;
    case 8: sse2_kernel(j, nt, 8); break;
    default: sse2_kernel(j, nt, 4); break;
    }
}

static void tagscan_sse2(tagscan_job *j)
{
    switch (j->ntags) {
    case 1: sse2_for_align(j, 1); break;
    case 2: sse2_for_align(j, 2); break;
    case 3: sse2_for_align(j, 3); break;
    default: sse2_for_align(j, 4); break;
    }
}
#endif

/* ---- implementation table and choice ---------------------------------- */

typedef struct tagscan_impl {
    const char *name;
    void (*fn)(tagscan_job *j);
} tagscan_impl;

enum { IMPL_SCALAR, IMPL_SSE2, IMPL_AVX2, IMPL_COUNT };

static const tagscan_impl impls[IMPL_COUNT] = {
    [IMPL_SCALAR] = {"scalar", tagscan_scalar},
#ifdef __SSE2__
    [IMPL_SSE2] = {"sse2", tagscan_sse2},
#endif
#ifdef DS_TAGSCAN_HAVE_AVX2
    [IMPL_AVX2] = {"avx2", tagscan_avx2},
#endif
};

/* -1 = not chosen yet. */
static atomic_int chosen = -1;

static bool impl_runs_here(int i)
{
    if (i < 0 || i >= IMPL_COUNT || !impls[i].fn)
        return false;
#ifdef DS_TAGSCAN_HAVE_AVX2
    if (i == IMPL_AVX2)
        return __builtin_cpu_supports("avx2");
#endif
    return true;
}

static int best_impl(void)
{
    for (int i = IMPL_COUNT - 1; i > 0; i--)
        if (impl_runs_here(i))
            return i;
    return IMPL_SCALAR;
}

static const tagscan_impl *current_impl(void)
{
    int i = atomic_load_explicit(&chosen, memory_order_relaxed);
    if (i < 0) {
        i = best_impl();
        atomic_store_explicit(&chosen, i, memory_order_relaxed);
    }
    return &impls[i];
}

static int impl_index(const char *name)
{
    for (int i = 0; name && i < IMPL_COUNT; i++)
        if (impls[i].name && strcmp(impls[i].name, name) == 0)
            return i;
    return -1;
}

const char *ds_tagscan_impl_name(void)
{
    return current_impl()->name;
}

int ds_tagscan_impl_available(const char *name)
{
    return impl_runs_here(impl_index(name));
}

int ds_tagscan_force(const char *name)
{
    if (!name || strcmp(name, "auto") == 0) {
        atomic_store(&chosen, best_impl());
        return 0;
    }
    int i = impl_index(name);
    if (!impl_runs_here(i))
        return -1;
    atomic_store(&chosen, i);
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

/* First slot >= start with (base + slot) % align == 0, without overflow. */
static uint64_t first_slot(size_t start, uint64_t base, unsigned align)
{
    uint64_t r = (base % align + start % align) % align;
    return (uint64_t)start + (r ? align - r : 0);
}

/* Fill j from the arguments; false when there is nothing to scan. */
static bool job_init(tagscan_job *j, const uint8_t *buf, size_t len, size_t start,
                     uint64_t base, unsigned align, unsigned tag_off, const uint32_t *tags,
                     unsigned ntags)
{
    if (len > DS_TAGSCAN_MAX_LEN)
        len = DS_TAGSCAN_MAX_LEN;
    j->buf = buf;
    j->len = len;
    j->next = len; /* nothing (more) to scan unless a kernel stops early */
    j->align = align;
    j->tag_off = tag_off;
    j->all_tags = tags;
    j->ntags = ntags;
    for (unsigned t = 0; t < ntags && t < DS_TAGSCAN_MAX_TAGS; t++)
        j->tags[t] = tags[t];
    if (start >= len || (uint64_t)tag_off + 4 > len)
        return false;
    j->last = len - tag_off - 4;
    uint64_t s = first_slot(start, base, align);
    j->slot = (size_t)s;
    j->has_slots = s <= j->last;
    return true;
}

static bool simd_shape(unsigned align, unsigned ntags)
{
    return (align == 4 || align == 8 || align == 16) && ntags <= DS_TAGSCAN_MAX_TAGS;
}

size_t ds_tagscan_ex(const uint8_t *buf, size_t len, size_t start, uint64_t base_align_off,
                     unsigned align, unsigned tag_off, const uint32_t *tags, unsigned ntags,
                     uint32_t *hits, size_t max_hits, size_t *next)
{
    tagscan_job j = {0};
    bool runnable = buf && tags && hits && align && ntags && max_hits;
    if (!runnable) {
        if (next)
            *next = start;
        return 0;
    }
    j.hits = hits;
    j.max_hits = max_hits;
    if (job_init(&j, buf, len, start, base_align_off, align, tag_off, tags, ntags)) {
        if (simd_shape(align, ntags))
            current_impl()->fn(&j);
        else
            tagscan_scalar(&j);
    }
    if (next)
        *next = j.next;
    return j.nhits;
}

size_t ds_tagscan(const uint8_t *buf, size_t len, uint64_t base_align_off, unsigned align,
                  unsigned tag_off, const uint32_t *tags, unsigned ntags, uint32_t *hits,
                  size_t max_hits)
{
    return ds_tagscan_ex(buf, len, 0, base_align_off, align, tag_off, tags, ntags, hits,
                         max_hits, NULL);
}
