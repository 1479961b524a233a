/* test_tagscan.c - the pool tag scan against a naive loop written here.
 *
 * Buffers come from a seeded generator over a two-letter alphabet and the
 * tags are words of that alphabet, so about one slot in sixteen matches
 * by chance: every SIMD lane, block position and tail gets hits.  Every
 * implementation the CPU runs (scalar, sse2, avx2) must report exactly the
 * naive loop's offsets, for lengths 0..300 and large buffers, align 4/8/16
 * and odd ones, every base_align_off, misaligned buffer addresses, 1..5
 * tags, hits at offset 0 and at the very end, tags cut by the end of the
 * buffer (not reported), and a tiny hits array resumed until the end. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tagscan.h"

static const char *const impl_names[] = {"scalar", "sse2", "avx2"};
#define NIMPL (sizeof(impl_names) / sizeof(impl_names[0]))

static uint64_t rng_state;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Bytes from {'A','B'}: four-letter tags of A/B match 1 in 16 words. */
static void fill_ab(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (rng() & 1) ? 'A' : 'B';
}

static uint32_t word_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The obvious definition, independent of the library. */
static size_t naive(const uint8_t *buf, size_t len, uint64_t base, unsigned align,
                    unsigned tag_off, const uint32_t *tags, unsigned ntags, uint32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if ((base + i) % align != 0 || i + tag_off + 4 > len)
            continue;
        uint32_t w = word_at(buf + i + tag_off);
        for (unsigned t = 0; t < ntags; t++) {
            if (w == tags[t]) {
                out[n++] = (uint32_t)i;
                break;
            }
        }
    }
    return n;
}

static void force_or_die(const char *name)
{
    assert_int_equal(ds_tagscan_force(name), 0);
    assert_string_equal(ds_tagscan_impl_name(), name);
}

/* Compare every available implementation with the naive loop. */
static void check_all_impls(const uint8_t *buf, size_t len, uint64_t base, unsigned align,
                            unsigned tag_off, const uint32_t *tags, unsigned ntags)
{
    size_t cap = len / (align ? align : 1) + 2;
    uint32_t *want = malloc(cap * sizeof(*want));
    uint32_t *got = malloc(cap * sizeof(*got));
    assert_non_null(want);
    assert_non_null(got);
    size_t nwant = naive(buf, len, base, align, tag_off, tags, ntags, want);
    for (unsigned k = 0; k < NIMPL; k++) {
        if (!ds_tagscan_impl_available(impl_names[k]))
            continue;
        force_or_die(impl_names[k]);
        size_t next = 12345;
        size_t n = ds_tagscan_ex(buf, len, 0, base, align, tag_off, tags, ntags, got, cap, &next);
        assert_int_equal(n, nwant);
        assert_int_equal(next, len);
        if (n)
            assert_memory_equal(got, want, n * sizeof(*got));
    }
    free(want);
    free(got);
}

static const uint32_t ab_tags[5] = {
    DS_POOLTAG('A', 'B', 'B', 'A'), DS_POOLTAG('B', 'B', 'B', 'B'),
    DS_POOLTAG('A', 'A', 'B', 'A'), DS_POOLTAG('B', 'A', 'A', 'B'),
    DS_POOLTAG('A', 'A', 'A', 'A'),
};

static void test_impls_exist(void **state)
{
    (void)state;
    assert_true(ds_tagscan_impl_available("scalar"));
#if defined(__x86_64__)
    assert_true(ds_tagscan_impl_available("sse2"));
#endif
    assert_int_equal(ds_tagscan_force("bogus"), -1);
    assert_int_equal(ds_tagscan_force("auto"), 0);
    const char *best = ds_tagscan_impl_name();
    assert_true(strcmp(best, "scalar") == 0 || strcmp(best, "sse2") == 0 ||
                strcmp(best, "avx2") == 0);
    if (ds_tagscan_impl_available("avx2"))
        assert_string_equal(best, "avx2");
}

/* Every length 0..300 at align 4, 8 and 16, phases, misaligned
 * addresses, 1..4 tags. */
static void test_small_lengths(void **state)
{
    (void)state;
    rng_state = 0x9e3779b97f4a7c15ull;
    uint8_t *mem = malloc(300 + 64);
    assert_non_null(mem);
    static const unsigned aligns[] = {4, 8, 16};
    for (size_t len = 0; len <= 300; len++) {
        for (unsigned a = 0; a < 3; a++) {
            unsigned align = aligns[a];
            unsigned mis = (unsigned)(len % 7);
            uint8_t *buf = mem + mis;
            fill_ab(buf, len);
            unsigned ntags = 1 + (unsigned)(len % 4);
            uint64_t base = len % align;
            check_all_impls(buf, len, base, align, 4, ab_tags, ntags);
            check_all_impls(buf, len, 0, align, 4, ab_tags, ntags);
        }
    }
    free(mem);
}

/* align 4, unusual tag_off, odd alignments and >4 tags (scalar path). */
static void test_other_shapes(void **state)
{
    (void)state;
    rng_state = 12345;
    uint8_t *buf = malloc(5000);
    assert_non_null(buf);
    fill_ab(buf, 5000);
    for (unsigned base = 0; base < 16; base++) {
        check_all_impls(buf, 5000, base, 4, 4, ab_tags, 2);
        check_all_impls(buf, 4999, base, 16, 3, ab_tags, 3);
        check_all_impls(buf + 1, 4990, base, 8, 0, ab_tags, 1);
        check_all_impls(buf, 5000, base, 32, 4, ab_tags, 2);
        check_all_impls(buf, 5000, base, 12, 4, ab_tags, 1);
        check_all_impls(buf, 5000, base, 16, 4, ab_tags, 5);
    }
    free(buf);
}

/* Large buffer of random bytes with sparse planted tags, including the
 * first slot and the last slot whose tag still fits. */
static void test_big_planted(void **state)
{
    (void)state;
    rng_state = 777;
    size_t len = (1u << 20) + 52; /* ends 4 bytes after a 16-aligned slot+4 */
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)rng();
    const uint32_t tags[2] = {DS_POOLTAG('P', 'r', 'o', 'c'), DS_POOLTAG('T', 'h', 'r', 'e')};
    size_t planted = 0;
    for (size_t off = 0; off + 8 <= len; off += 16 * (1 + rng() % 4000)) {
        memcpy(buf + off + 4, &tags[planted & 1], 4);
        planted++;
    }
    size_t last = (len - 8) & ~(size_t)15; /* last slot with tag inside */
    memcpy(buf + last + 4, &tags[0], 4);
    /* an unaligned copy that must not be reported at align 16 */
    memcpy(buf + 100 + 4 + 8, &tags[1], 4);
    for (unsigned nt = 1; nt <= 2; nt++) {
        check_all_impls(buf, len, 0, 16, 4, tags, nt);
        check_all_impls(buf, len, 0, 8, 4, tags, nt);
        check_all_impls(buf, len, 8, 16, 4, tags, nt);
    }
    /* explicit facts, in case the naive loop and library shared a bug */
    uint32_t *hits = malloc((len / 16 + 1) * sizeof(*hits));
    assert_non_null(hits);
    ds_tagscan_force("auto");
    size_t n = ds_tagscan(buf, len, 0, 16, 4, tags, 2, hits, len / 16 + 1);
    assert_true(n >= planted);
    assert_int_equal(hits[0], 0);
    assert_int_equal(hits[n - 1], last);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(hits[i], 108);
    free(hits);
    free(buf);
}

/* A tag cut by the end of the buffer is not a hit; one ending exactly at
 * the end is. */
static void test_tail_straddle(void **state)
{
    (void)state;
    const uint32_t tag = DS_POOLTAG('P', 'r', 'o', 'c');
    uint8_t buf[96];
    uint32_t hits[8];
    for (unsigned k = 0; k < NIMPL; k++) {
        if (!ds_tagscan_impl_available(impl_names[k]))
            continue;
        force_or_die(impl_names[k]);
        memset(buf, 0, sizeof(buf));
        memcpy(buf + 80 + 4, &tag, 4); /* slot 80: tag bytes 84..87 */
        for (size_t len = 84; len <= 88; len++) {
            size_t n = ds_tagscan(buf, len, 0, 16, 4, &tag, 1, hits, 8);
            assert_int_equal(n, len == 88 ? 1 : 0);
            if (n)
                assert_int_equal(hits[0], 80);
        }
    }
    ds_tagscan_force("auto");
}

/* Fill the hits array repeatedly; resuming at *next must give exactly the
 * full list, in order, with no duplicate. */
static void test_overflow_resume(void **state)
{
    (void)state;
    rng_state = 4242;
    size_t len = 20000 + 13;
    uint8_t *buf = malloc(len);
    uint32_t *want = malloc(len * sizeof(*want));
    uint32_t *got = malloc(len * sizeof(*got));
    assert_non_null(buf);
    assert_non_null(want);
    assert_non_null(got);
    fill_ab(buf, len);
    size_t nwant = naive(buf, len, 0, 8, 4, ab_tags, 3, want);
    assert_true(nwant > 100);
    static const size_t caps[] = {1, 2, 3, 7, 64};
    for (unsigned k = 0; k < NIMPL; k++) {
        if (!ds_tagscan_impl_available(impl_names[k]))
            continue;
        force_or_die(impl_names[k]);
        for (unsigned c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
            size_t total = 0, start = 0, calls = 0;
            while (start < len) {
                size_t next = 0;
                size_t n = ds_tagscan_ex(buf, len, start, 0, 8, 4, ab_tags, 3, got + total,
                                         caps[c], &next);
                assert_true(n <= caps[c]);
                assert_true(next > start || n > 0);
                if (next < len)
                    assert_int_equal(n, caps[c]); /* stopped early only when full */
                total += n;
                start = next;
                assert_true(++calls <= nwant + 2);
            }
            assert_int_equal(total, nwant);
            assert_memory_equal(got, want, nwant * sizeof(*got));
        }
    }
    ds_tagscan_force("auto");
    free(buf);
    free(want);
    free(got);
}

/* Degenerate arguments scan nothing and report where they are. */
static void test_degenerate(void **state)
{
    (void)state;
    uint8_t buf[64] = {0};
    uint32_t tag = 0, hits[4];
    size_t next = 99;
    assert_int_equal(ds_tagscan_ex(buf, 64, 0, 0, 16, 4, &tag, 0, hits, 4, &next), 0);
    assert_int_equal(next, 0);
    assert_int_equal(ds_tagscan_ex(buf, 64, 5, 0, 0, 4, &tag, 1, hits, 4, &next), 0);
    assert_int_equal(next, 5);
    /* all-zero buffer, tag 0: all four slots hit */
    assert_int_equal(ds_tagscan_ex(buf, 64, 0, 0, 16, 4, &tag, 1, hits, 4, &next), 4);
    assert_int_equal(next, 64);
    assert_int_equal(ds_tagscan_ex(buf, 64, 0, 0, 16, 4, &tag, 1, hits, 3, &next), 3);
    assert_int_equal(next, 48);
    assert_int_equal(ds_tagscan_ex(buf, 64, 70, 0, 16, 4, &tag, 1, hits, 4, &next), 0);
    assert_int_equal(next, 64);
    assert_int_equal(ds_tagscan_ex(buf, 64, 0, 0, 16, 100, &tag, 1, hits, 4, &next), 0);
    assert_int_equal(next, 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_impls_exist),
        cmocka_unit_test(test_small_lengths),
        cmocka_unit_test(test_other_shapes),
        cmocka_unit_test(test_big_planted),
        cmocka_unit_test(test_tail_straddle),
        cmocka_unit_test(test_overflow_resume),
        cmocka_unit_test(test_degenerate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
