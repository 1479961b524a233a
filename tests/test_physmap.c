/* test_physmap.c - unit tests of the pfn -> file offset index (physmap.c).
 *
 * RUNS: sorting, merging, holes, overlap/overflow rejection, truncation
 * accounting and file-order extents.  BITMAP: every lookup on random
 * bitmaps checked against a naive count of preceding set bits (with
 * garbage past nbits), truncation, extents checked against per-page
 * lookups, and a 2^28-bit (1 TiB) bitmap indexed within a small budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "physmap.h"

#define PG 4096ull

/* ------------------------------------------------------------ RUNS */

static void test_runs_lookup_and_holes(void **state)
{
    (void)state;
    /* Deliberately unsorted; runs 1 and 2 are contiguous in pfn and file
     * and must merge. */
    ds_run in[] = {
        { .pfn = 0x100, .npages = 2, .file_off = 0x10000 },
        { .pfn = 0x10, .npages = 4, .file_off = 0x2000 },
        { .pfn = 0x14, .npages = 3, .file_off = 0x6000 },
        { .pfn = 0x50, .npages = 0, .file_off = 0x9000 }, /* empty: dropped */
    };
    ds_physmap pm;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_physmap_init_runs(&pm, in, 4, 1ull << 30, &eb), DS_OK);
    assert_int_equal(pm.kind, DS_PM_RUNS);
    assert_int_equal(pm.nruns, 2);
    assert_int_equal(pm.pages_present, 9);
    assert_int_equal(pm.pages_missing, 0);
    assert_int_equal(pm.max_pfn, 0x102);
    assert_int_equal(ds_physmap_index_bytes(&pm), 2 * sizeof(ds_run));

    uint64_t off = 0;
    assert_int_equal(ds_physmap_lookup(&pm, 0x10, &off), DS_OK);
    assert_int_equal(off, 0x2000);
    assert_int_equal(ds_physmap_lookup(&pm, 0x16, &off), DS_OK);
    assert_int_equal(off, 0x2000 + 6 * PG);
    assert_int_equal(ds_physmap_lookup(&pm, 0x101, &off), DS_OK);
    assert_int_equal(off, 0x11000);
    uint64_t absent[] = { 0, 0xf, 0x17, 0x50, 0xff, 0x102, UINT64_MAX };
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        assert_int_equal(ds_physmap_lookup(&pm, absent[i], &off), DS_ERR_NOT_PRESENT);
    ds_physmap_free(&pm);
}

static void test_runs_overlap_rejected(void **state)
{
    (void)state;
    ds_run in[] = {
        { .pfn = 10, .npages = 5, .file_off = 0x1000 },
        { .pfn = 14, .npages = 2, .file_off = 0x100000 },
    };
    ds_physmap pm;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_physmap_init_runs(&pm, in, 2, 1ull << 30, &eb), DS_ERR_CORRUPT);
    assert_non_null(strstr(eb.msg, "overlap"));
    assert_null(pm.runs);
}

static void test_runs_overflow_rejected(void **state)
{
    (void)state;
    ds_run a = { .pfn = UINT64_MAX - 1, .npages = 4, .file_off = 0 };
    ds_run b = { .pfn = 0, .npages = 4, .file_off = UINT64_MAX - 0x2000 };
    ds_run c = { .pfn = 0, .npages = 1ull << 53, .file_off = 0 };
    ds_physmap pm;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_physmap_init_runs(&pm, &a, 1, 1 << 20, &eb), DS_ERR_CORRUPT);
    assert_int_equal(ds_physmap_init_runs(&pm, &b, 1, 1 << 20, &eb), DS_ERR_CORRUPT);
    assert_int_equal(ds_physmap_init_runs(&pm, &c, 1, 1 << 20, &eb), DS_ERR_CORRUPT);
    assert_non_null(strstr(eb.msg, "overflow"));
}

static void test_runs_truncation(void **state)
{
    (void)state;
    ds_run in[] = {
        { .pfn = 0, .npages = 4, .file_off = 0x1000 },   /* pages end 0x5000 */
        { .pfn = 8, .npages = 4, .file_off = 0x5000 },   /* 0x5000..0x9000 */
        { .pfn = 20, .npages = 2, .file_off = 0x20000 }, /* wholly past EOF */
    };
    /* File ends 0x800 bytes into the second page of run 2. */
    uint64_t fsize = 0x6800;
    ds_physmap pm;
    assert_int_equal(ds_physmap_init_runs(&pm, in, 3, fsize, NULL), DS_OK);
    assert_int_equal(pm.pages_present, 10);
    assert_int_equal(pm.pages_missing, 3 + 2);
    uint64_t off;
    assert_int_equal(ds_physmap_lookup(&pm, 3, &off), DS_OK);
    assert_int_equal(ds_physmap_lookup(&pm, 8, &off), DS_OK);
    assert_int_equal(off, 0x5000);
    assert_int_equal(ds_physmap_lookup(&pm, 9, &off), DS_ERR_TRUNCATED);
    assert_int_equal(ds_physmap_lookup(&pm, 11, &off), DS_ERR_TRUNCATED);
    assert_int_equal(ds_physmap_lookup(&pm, 21, &off), DS_ERR_TRUNCATED);
    assert_int_equal(ds_physmap_lookup(&pm, 12, &off), DS_ERR_NOT_PRESENT);
    ds_physmap_free(&pm);
}

typedef struct ext_log {
    size_t n;
    uint64_t pfn[64], npages[64], off[64];
    int stop_after; /* 0: never stop */
} ext_log;

static int log_extent(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off)
{
    ext_log *l = ctx;
    if (l->n < 64) {
        l->pfn[l->n] = pfn;
        l->npages[l->n] = npages;
        l->off[l->n] = file_off;
    }
    l->n++;
    return (l->stop_after && (int)l->n == l->stop_after) ? 77 : 0;
}

static void test_runs_extents_file_order_and_clip(void **state)
{
    (void)state;
    /* ELF-like: higher pfn stored first in the file. */
    ds_run in[] = {
        { .pfn = 0x1000, .npages = 2, .file_off = 0x1000 },
        { .pfn = 0x0, .npages = 3, .file_off = 0x3000 },
        { .pfn = 0x3, .npages = 2, .file_off = 0x6000 }, /* touches previous: merges */
        { .pfn = 0x2000, .npages = 4, .file_off = 0x8000 },
    };
    ds_physmap pm;
    assert_int_equal(ds_physmap_init_runs(&pm, in, 4, 0xa000, NULL), DS_OK);
    ext_log l = { 0 };
    assert_int_equal(ds_physmap_foreach_extent(&pm, log_extent, &l), 0);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.pfn[0], 0x1000);
    assert_int_equal(l.off[0], 0x1000);
    assert_int_equal(l.npages[0], 2);
    assert_int_equal(l.pfn[1], 0);
    assert_int_equal(l.npages[1], 5);
    assert_int_equal(l.off[1], 0x3000);
    assert_int_equal(l.pfn[2], 0x2000);
    assert_int_equal(l.npages[2], 2); /* clipped: file ends at 0xa000 */

    ext_log s = { .stop_after = 2 };
    assert_int_equal(ds_physmap_foreach_extent(&pm, log_extent, &s), 77);
    assert_int_equal(s.n, 2);
    ds_physmap_free(&pm);
}

/* ---------------------------------------------------------- BITMAP */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static bool naive_bit(const uint64_t *w, uint64_t i)
{
    return w[i / 64] >> (i % 64) & 1;
}

/* Random bitmap of nbits bits with density pct%, and garbage ones past
 * nbits in the last word. */
static uint64_t *random_bitmap(uint64_t nbits, unsigned pct)
{
    uint64_t nwords = (nbits + 63) / 64;
    uint64_t *w = calloc(nwords ? nwords : 1, 8);
    assert_non_null(w);
    for (uint64_t i = 0; i < nbits; i++)
        if (rng() % 100 < pct)
            w[i / 64] |= 1ull << (i % 64);
    if (nbits % 64)
        w[nwords - 1] |= ~0ull << (nbits % 64);
    /* a few long runs of ones to exercise the all-ones fast path */
    if (nwords > 40)
        for (uint64_t k = 10; k < 20; k++)
            w[k] = ~0ull;
    return w;
}

static void check_bitmap_against_naive(uint64_t nbits, unsigned pct)
{
    uint64_t *w = random_bitmap(nbits, pct);
    const uint64_t first = 0x3000;
    ds_physmap pm;
    assert_int_equal(ds_physmap_init_bitmap(&pm, w, nbits, first, UINT64_MAX / 2, NULL), DS_OK);
    uint64_t count = 0, max_pfn = 0;
    for (uint64_t i = 0; i < nbits; i++) {
        uint64_t off = 0;
        ds_err e = ds_physmap_lookup(&pm, i, &off);
        if (naive_bit(w, i)) {
            assert_int_equal(e, DS_OK);
            assert_int_equal(off, first + count * PG);
            count++;
            max_pfn = i + 1;
        } else {
            assert_int_equal(e, DS_ERR_NOT_PRESENT);
        }
    }
    assert_int_equal(pm.pages_present, count);
    assert_int_equal(pm.pages_missing, 0);
    assert_int_equal(pm.max_pfn, max_pfn);
    uint64_t off;
    assert_int_equal(ds_physmap_lookup(&pm, nbits, &off), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_physmap_lookup(&pm, nbits + 5, &off), DS_ERR_NOT_PRESENT);
    ds_physmap_free(&pm);
    free(w);
}

static void test_bitmap_rank_random(void **state)
{
    (void)state;
    const uint64_t sizes[] = { 1, 63, 64, 65, 511, 512, 513, 1000, 4097, 70001 };
    const unsigned dens[] = { 3, 50, 97 };
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (size_t d = 0; d < sizeof(dens) / sizeof(dens[0]); d++)
            check_bitmap_against_naive(sizes[s], dens[d]);
}

static void test_bitmap_truncation(void **state)
{
    (void)state;
    uint64_t w[2] = { 0xf0f0ull, 0x3ull }; /* pfns 4-7, 12-15, 64, 65 */
    const uint64_t first = 0x2000;
    /* room for 5 whole pages plus half a page */
    uint64_t fsize = first + 5 * PG + 0x800;
    ds_physmap pm;
    assert_int_equal(ds_physmap_init_bitmap(&pm, w, 100, first, fsize, NULL), DS_OK);
    assert_int_equal(pm.pages_present, 10);
    assert_int_equal(pm.pages_missing, 5);
    uint64_t off;
    assert_int_equal(ds_physmap_lookup(&pm, 12, &off), DS_OK); /* index 4 */
    assert_int_equal(off, first + 4 * PG);
    assert_int_equal(ds_physmap_lookup(&pm, 13, &off), DS_ERR_TRUNCATED);
    assert_int_equal(ds_physmap_lookup(&pm, 65, &off), DS_ERR_TRUNCATED);
    assert_int_equal(ds_physmap_lookup(&pm, 8, &off), DS_ERR_NOT_PRESENT);

    ext_log l = { 0 };
    ds_physmap_foreach_extent(&pm, log_extent, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.pfn[0], 4);
    assert_int_equal(l.npages[0], 4);
    assert_int_equal(l.off[0], first);
    assert_int_equal(l.pfn[1], 12);
    assert_int_equal(l.npages[1], 1); /* clipped at the 5th page */
    ds_physmap_free(&pm);

    /* FirstPage at end of file: everything missing, nothing emitted. */
    assert_int_equal(ds_physmap_init_bitmap(&pm, w, 100, first, first, NULL), DS_OK);
    assert_int_equal(pm.pages_missing, 10);
    l.n = 0;
    ds_physmap_foreach_extent(&pm, log_extent, &l);
    assert_int_equal(l.n, 0);
    ds_physmap_free(&pm);
}

/* Extents must tile exactly the present, in-file pages, be maximal and
 * come in file order. */
typedef struct ext_check {
    const ds_physmap *pm;
    uint64_t next_off;     /* extents are back to back in file order */
    uint64_t last_end_pfn; /* pfn after the previous extent */
    uint64_t pages;
    size_t n;
} ext_check;

static int check_extent(void *ctx, uint64_t pfn, uint64_t npages, uint64_t file_off)
{
    ext_check *c = ctx;
    assert_true(npages > 0);
    assert_int_equal(file_off, c->next_off);
    if (c->n)
        assert_true(pfn > c->last_end_pfn); /* maximal: a gap separates extents */
    for (uint64_t k = 0; k < npages; k += 1 + npages / 7) {
        uint64_t off;
        assert_int_equal(ds_physmap_lookup(c->pm, pfn + k, &off), DS_OK);
        assert_int_equal(off, file_off + k * PG);
    }
    c->next_off = file_off + npages * PG;
    c->last_end_pfn = pfn + npages;
    c->pages += npages;
    c->n++;
    return 0;
}

static void test_bitmap_extents_random(void **state)
{
    (void)state;
    for (unsigned pct = 10; pct <= 90; pct += 40) {
        uint64_t nbits = 20000 + 37;
        uint64_t *w = random_bitmap(nbits, pct);
        ds_physmap pm;
        assert_int_equal(ds_physmap_init_bitmap(&pm, w, nbits, 0x4000, 1ull << 40, NULL), DS_OK);
        ext_check c = { .pm = &pm, .next_off = 0x4000 };
        assert_int_equal(ds_physmap_foreach_extent(&pm, check_extent, &c), 0);
        assert_int_equal(c.pages, pm.pages_present);
        ds_physmap_free(&pm);
        free(w);
    }
}

/* 1 TiB of physical memory: 2^28 pages, a 32 MiB bitmap, mostly ones. */
static void test_bitmap_one_tib(void **state)
{
    (void)state;
    const uint64_t nbits = 1ull << 28;
    uint64_t nwords = nbits / 64;
    uint64_t *w = calloc(nwords, 8);
    assert_non_null(w);
    memset(w, 0xff, nwords * 8);
    /* holes: a whole zero word every 1 Mi words, and single bits */
    const uint64_t hole_words[] = { 5, 1ull << 20, 3ull << 20, nwords - 1 };
    for (size_t i = 0; i < 4; i++)
        w[hole_words[i]] = 0;
    const uint64_t hole_bits[] = { 0, 777, 123456789, (1ull << 27) + 3 };
    for (size_t i = 0; i < 4; i++)
        w[hole_bits[i] / 64] &= ~(1ull << (hole_bits[i] % 64));

    const uint64_t first = 0x2000 + nbits / 8;
    ds_physmap pm;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_physmap_init_bitmap(&pm, w, nbits, first, UINT64_MAX / 4, &eb), DS_OK);
    uint64_t expect_present = nbits - 4 * 64 - 4;
    assert_int_equal(pm.pages_present, expect_present);
    assert_true(ds_physmap_index_bytes(&pm) <= 8u << 20);
    assert_int_equal(pm.max_pfn, nbits - 64);

    uint64_t off;
    assert_int_equal(ds_physmap_lookup(&pm, 0, &off), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_physmap_lookup(&pm, 1, &off), DS_OK);
    assert_int_equal(off, first);
    assert_int_equal(ds_physmap_lookup(&pm, 5 * 64 + 3, &off), DS_ERR_NOT_PRESENT);
    /* pfn 6*64: before it 0..383 minus pfn 0 and word 5 */
    assert_int_equal(ds_physmap_lookup(&pm, 6 * 64, &off), DS_OK);
    assert_int_equal(off, first + (6 * 64 - 1 - 64) * PG);
    assert_int_equal(ds_physmap_lookup(&pm, 777, &off), DS_ERR_NOT_PRESENT);
    /* pfn 2^28 - 65 is the last present page */
    assert_int_equal(ds_physmap_lookup(&pm, nbits - 65, &off), DS_OK);
    assert_int_equal(off, first + (expect_present - 1) * PG);
    /* after the 1 Mi word hole and bit 123456789 */
    uint64_t p = 200000000;
    assert_int_equal(ds_physmap_lookup(&pm, p, &off), DS_OK);
    assert_int_equal(off, first + (p - 4 - 128) * PG); /* 4 single bits, 2 words */
    assert_int_equal(ds_physmap_lookup(&pm, nbits, &off), DS_ERR_NOT_PRESENT);

    ext_log l = { 0 };
    ds_physmap_foreach_extent(&pm, log_extent, &l);
    /* [1,320) [384,777) [778,2^26) [2^26+64,123456789) [123456790,2^27+3)
     * [2^27+4,3*2^26) [3*2^26+64,2^28-64) */
    assert_int_equal(l.n, 7);
    assert_int_equal(l.pfn[0], 1);
    assert_int_equal(l.npages[0], 319);
    assert_int_equal(l.pfn[1], 384);
    assert_int_equal(l.off[1], first + 319 * PG);
    assert_int_equal(l.pfn[6], 3ull * (1 << 26) + 64);
    assert_int_equal(l.pfn[6] + l.npages[6], nbits - 64);
    ds_physmap_free(&pm);
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_lookup_and_holes),
        cmocka_unit_test(test_runs_overlap_rejected),
        cmocka_unit_test(test_runs_overflow_rejected),
        cmocka_unit_test(test_runs_truncation),
        cmocka_unit_test(test_runs_extents_file_order_and_clip),
        cmocka_unit_test(test_bitmap_rank_random),
        cmocka_unit_test(test_bitmap_truncation),
        cmocka_unit_test(test_bitmap_extents_random),
        cmocka_unit_test(test_bitmap_one_tib),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
