/* test_vtop.c - address translation on hand-built page tables.
 *
 * Each test lays out page tables in a byte array that plays physical
 * memory (read callback fails outside it), then checks translations,
 * reads across pages, the non-present rules and the mapping walker for
 * x64 (4 KiB, 2 MiB, 1 GiB, transition, self-map), PAE and non-PAE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vtop.h"

typedef struct physmem {
    uint8_t *mem;
    size_t size;
} physmem;

static ds_err phys_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
    physmem *pm = ctx;
    if (pa >= pm->size || len > pm->size - pa)
        return DS_ERR_RANGE;
    memcpy(buf, pm->mem + pa, len);
    return DS_OK;
}

static void put64(physmem *pm, uint64_t pa, uint64_t v)
{
    assert_true(pa + 8 <= pm->size);
    memcpy(pm->mem + pa, &v, 8);
}

static void put32(physmem *pm, uint64_t pa, uint32_t v)
{
    assert_true(pa + 4 <= pm->size);
    memcpy(pm->mem + pa, &v, 4);
}

static physmem *pm_new(size_t size)
{
    physmem *pm = calloc(1, sizeof(*pm));
    assert_non_null(pm);
    pm->mem = calloc(1, size);
    assert_non_null(pm->mem);
    pm->size = size;
    return pm;
}

static void pm_free(physmem *pm)
{
    free(pm->mem);
    free(pm);
}

/* ------------------------------------------------------------------ */
/* x64 layout                                                          */
/* ------------------------------------------------------------------ */

#define X_PML4 0x1000ull
#define X_PDPT 0x2000ull
#define X_PD 0x3000ull
#define X_PT 0x4000ull
#define X_PDPT_USER 0xb000ull
#define X_SELF 0x1edu
#define X_KIDX 0x1f0u
/* VA of PML4 index 0x1f0, PDPT 0, PD 0, PT 0 */
#define VA_A 0xfffff80000000000ull
#define VA_USER_1G 0x8080000000ull

static const uint64_t T = 1ull << 11, P = 1ull << 10;

static physmem *build_x64(ds_vas *vas)
{
    physmem *pm = pm_new(4u << 20); /* 4 MiB */
    put64(pm, X_PML4 + X_KIDX * 8, X_PDPT | 0x63);
    put64(pm, X_PML4 + X_SELF * 8, X_PML4 | 0x63);
    put64(pm, X_PML4 + 1 * 8, X_PDPT_USER | 0x67);
    put64(pm, X_PDPT_USER + 2 * 8, 0xc0000000ull | 0xe7);    /* 1 GiB user page */
    put64(pm, X_PDPT + 0 * 8, X_PD | 0x63);
    put64(pm, X_PDPT + 1 * 8, 0x40000000ull | 0xe3);         /* 1 GiB */
    put64(pm, X_PD + 0 * 8, X_PT | 0x63);
    put64(pm, X_PD + 1 * 8, 0x200000ull | 0xe3);             /* 2 MiB */
    put64(pm, X_PD + 3 * 8, 0x10000000000ull | 0x63);        /* table beyond memory */
    put64(pm, X_PD + 4 * 8, 0x8000ull | T);                  /* upper-level transition */
    put64(pm, X_PT + 0 * 8, 0x5000ull | 0x63);
    put64(pm, X_PT + 1 * 8, 0x9000ull | 0x63);               /* not adjacent to 0x5000 */
    put64(pm, X_PT + 2 * 8, 0x7000ull | T | (4u << 5));      /* transition */
    put64(pm, X_PT + 3 * 8, 0x7000ull | T | P);              /* prototype */
    put64(pm, X_PT + 5 * 8, 0x100000000ull | 0x63);          /* frame beyond memory */
    put64(pm, X_PT + 6 * 8, 0x8000000000006063ull | (0x7ffull << 52)); /* NX + high bits */
    memset(pm->mem + 0x5000, 0xa5, 0x1000);
    memset(pm->mem + 0x9000, 0x5a, 0x1000);
    put64(pm, 0x5ff8, 0x1122334455667788ull);
    put64(pm, 0x9000, 0x99aabbccddeeff00ull);
    put64(pm, 0x7010, 0x7777777777777777ull);
    put64(pm, 0x200000 + 0x12340, 0x2222222222222222ull);
    *vas = (ds_vas){.mode = DS_PAGING_X64, .dtb = X_PML4 | 0x2 /* PCID bits */,
                    .read = phys_read, .ctx = pm};
    return pm;
}

static void test_x64_translations(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_x64(&vas);
    ds_xlat x;

    assert_int_equal(ds_vtop(&vas, VA_A + 0x123, &x), DS_OK);
    assert_int_equal(x.pa, 0x5123);
    assert_int_equal(x.page_size, 0x1000);
    assert_false(x.transition);

    assert_int_equal(ds_vtop(&vas, VA_A + 0x200000 + 0x12340, &x), DS_OK);
    assert_int_equal(x.pa, 0x212340);
    assert_int_equal(x.page_size, 0x200000);

    assert_int_equal(ds_vtop(&vas, VA_A + 0x40000000 + 0x3456789, &x), DS_OK);
    assert_int_equal(x.pa, 0x43456789);
    assert_int_equal(x.page_size, 0x40000000);

    assert_int_equal(ds_vtop(&vas, VA_USER_1G + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0xc0000010);

    /* NX and software high bits are not part of the frame */
    assert_int_equal(ds_vtop(&vas, VA_A + 0x6008, &x), DS_OK);
    assert_int_equal(x.pa, 0x6008);

    uint64_t v;
    assert_int_equal(ds_vread_u64(&vas, VA_A + 0x200000 + 0x12340, &v), DS_OK);
    assert_int_equal(v, 0x2222222222222222ull);
    pm_free(pm);
}

static void test_x64_non_present(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_x64(&vas);
    ds_xlat x;
    uint64_t v;

    /* transition leaf is readable */
    assert_int_equal(ds_vtop(&vas, VA_A + 0x2010, &x), DS_OK);
    assert_true(x.transition);
    assert_int_equal(x.pa, 0x7010);
    assert_int_equal(ds_vread_u64(&vas, VA_A + 0x2010, &v), DS_OK);
    assert_int_equal(v, 0x7777777777777777ull);

    /* prototype and zero PTEs are not */
    assert_int_equal(ds_vtop(&vas, VA_A + 0x3000, &x), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_vtop(&vas, VA_A + 0x4000, &x), DS_ERR_NOT_PRESENT);
    /* non-present upper levels: PML4, PD, and a transition-looking PDE */
    assert_int_equal(ds_vtop(&vas, 0xfffff88000000000ull, &x), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_vtop(&vas, VA_A + 2 * 0x200000ull, &x), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_vtop(&vas, VA_A + 4 * 0x200000ull, &x), DS_ERR_NOT_PRESENT);
    /* a table beyond memory makes the walk fail; a leaf frame beyond
     * memory translates but cannot be read */
    assert_int_not_equal(ds_vtop(&vas, VA_A + 3 * 0x200000ull, &x), DS_OK);
    assert_int_equal(ds_vtop(&vas, VA_A + 0x5000, &x), DS_OK);
    assert_int_equal(x.pa, 0x100000000ull);
    assert_int_not_equal(ds_vread_u64(&vas, VA_A + 0x5000, &v), DS_OK);
    /* non-canonical */
    assert_int_equal(ds_vtop(&vas, 0x0000800000000000ull, &x), DS_ERR_RANGE);
    assert_int_equal(ds_vread_u64(&vas, 0x1234000000000000ull, &v), DS_ERR_RANGE);
    pm_free(pm);
}

static void test_x64_selfref(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_x64(&vas);
    uint64_t s = X_SELF;
    uint64_t va = 0xffff000000000000ull | (s << 39) | (s << 30) | (s << 21) | (s << 12);
    ds_xlat x;
    assert_int_equal(ds_vtop(&vas, va, &x), DS_OK);
    assert_int_equal(x.pa, X_PML4);
    uint64_t v;
    assert_int_equal(ds_vread_u64(&vas, va + X_KIDX * 8, &v), DS_OK);
    assert_int_equal(v, X_PDPT | 0x63);
    pm_free(pm);
}

static void test_x64_vread_spans_pages(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_x64(&vas);
    uint8_t buf[16];
    assert_int_equal(ds_vread(&vas, VA_A + 0xff8, buf, sizeof(buf)), DS_OK);
    uint64_t lo, hi;
    memcpy(&lo, buf, 8);
    memcpy(&hi, buf + 8, 8);
    assert_int_equal(lo, 0x1122334455667788ull); /* end of pa 0x5000 page */
    assert_int_equal(hi, 0x99aabbccddeeff00ull); /* start of pa 0x9000 page */
    /* the second page of a span being absent fails the whole read */
    assert_int_not_equal(ds_vread(&vas, VA_A + 0x2ff8, buf, sizeof(buf)), DS_OK);
    /* wrapping past 2^64 is refused */
    assert_int_equal(ds_vread(&vas, 0xfffffffffffffff8ull, buf, sizeof(buf)), DS_ERR_RANGE);
    pm_free(pm);
}

typedef struct seen_map {
    uint64_t va, pa, size;
    bool transition;
} seen_map;

typedef struct seen_list {
    seen_map m[64];
    unsigned n;
    unsigned total;
    unsigned stop_after; /* 0 = never */
} seen_list;

static int record_cb(void *ctx, uint64_t va, uint64_t pa, uint64_t size, bool transition)
{
    seen_list *s = ctx;
    if (s->n < 64)
        s->m[s->n++] = (seen_map){va, pa, size, transition};
    s->total++;
    if (s->stop_after && s->total == s->stop_after)
        return 7;
    return 0;
}

static void expect_map(const seen_list *s, unsigned i, uint64_t va, uint64_t pa,
                       uint64_t size, bool transition)
{
    assert_true(i < s->n);
    assert_int_equal(s->m[i].va, va);
    assert_int_equal(s->m[i].pa, pa);
    assert_int_equal(s->m[i].size, size);
    assert_int_equal(s->m[i].transition, transition);
}

static void test_x64_foreach(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_x64(&vas);
    seen_list s = {0};
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, record_cb, &s), 0);
    assert_int_equal(s.total, 8);
    expect_map(&s, 0, VA_USER_1G, 0xc0000000ull, 0x40000000, false);
    expect_map(&s, 1, VA_A, 0x5000, 0x1000, false);
    expect_map(&s, 2, VA_A + 0x1000, 0x9000, 0x1000, false);
    expect_map(&s, 3, VA_A + 0x2000, 0x7000, 0x1000, true);
    expect_map(&s, 4, VA_A + 0x5000, 0x100000000ull, 0x1000, false);
    expect_map(&s, 5, VA_A + 0x6000, 0x6000, 0x1000, false);
    expect_map(&s, 6, VA_A + 0x200000, 0x200000, 0x200000, false);
    expect_map(&s, 7, VA_A + 0x40000000, 0x40000000, 0x40000000, false);

    /* va_min skips everything below it, including the user half */
    seen_list k = {0};
    assert_int_equal(ds_vas_foreach_mapping(&vas, VA_A + 0x1000, record_cb, &k), 0);
    assert_int_equal(k.total, 6);
    expect_map(&k, 0, VA_A + 0x1000, 0x9000, 0x1000, false);

    /* the callback's non-zero value stops the walk and is returned */
    seen_list st = {.stop_after = 3};
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, record_cb, &st), 7);
    assert_int_equal(st.total, 3);
    pm_free(pm);
}

static int count_cb(void *ctx, uint64_t va, uint64_t pa, uint64_t size, bool transition)
{
    (void)va, (void)pa, (void)size, (void)transition;
    ++*(unsigned long *)ctx;
    return 0;
}

/* Every entry of every level points at one shared child: 512^4 leaves
 * if walked naively; each table page is expanded once. */
static void test_x64_foreach_fanout_bomb(void **state)
{
    (void)state;
    physmem *pm = pm_new(0x10000);
    for (unsigned i = 0; i < 512; i++) {
        put64(pm, 0x1000 + i * 8, 0x2000 | 0x63);
        put64(pm, 0x2000 + i * 8, 0x3000 | 0x63);
        put64(pm, 0x3000 + i * 8, 0x4000 | 0x63);
        put64(pm, 0x4000 + i * 8, 0x5000 | 0x63);
    }
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = 0x1000, .read = phys_read, .ctx = pm};
    unsigned long n = 0;
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, count_cb, &n), 0);
    assert_int_equal(n, 512);

    /* a PML4 whose every entry is itself: nothing but self-references */
    for (unsigned i = 0; i < 512; i++)
        put64(pm, 0x1000 + i * 8, 0x1000 | 0x63);
    n = 0;
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, count_cb, &n), 0);
    assert_int_equal(n, 0);
    pm_free(pm);
}

/* ------------------------------------------------------------------ */
/* PAE                                                                 */
/* ------------------------------------------------------------------ */

#define PAE_PDPT 0x1020ull
static const uint64_t pae_pd[4] = {0x2000, 0x3000, 0x4000, 0x5000};

static physmem *build_pae(ds_vas *vas)
{
    physmem *pm = pm_new(4u << 20);
    for (unsigned i = 0; i < 4; i++) {
        if (i != 1)
            put64(pm, PAE_PDPT + i * 8, pae_pd[i] | 1);
        put64(pm, pae_pd[3] + i * 8, pae_pd[i] | 0x63); /* self-map at 0xc0000000 */
    }
    put64(pm, pae_pd[0] + 0, 0x6000 | 0x67);
    put64(pm, 0x6000 + 1 * 8, 0x8000 | 0x67);
    put64(pm, 0x6000 + 2 * 8, 0x9000 | T);
    put64(pm, 0x6000 + 3 * 8, 0x9000 | T | P);
    put64(pm, pae_pd[3] + 0x100 * 8, 0x200000 | 0xe3);
    put64(pm, 0x8ff8, 0xabcdef0123456789ull);
    put64(pm, 0x9000, 0x4242424242424242ull);
    put64(pm, 0x200000 + 0x1234, 0x1313131313131313ull);
    *vas = (ds_vas){.mode = DS_PAGING_PAE, .dtb = PAE_PDPT, .read = phys_read, .ctx = pm};
    return pm;
}

static void test_pae(void **state)
{
    (void)state;
    ds_vas vas;
    physmem *pm = build_pae(&vas);
    ds_xlat x;
    uint64_t v;

    assert_int_equal(ds_vtop(&vas, 0x1abc, &x), DS_OK);
    assert_int_equal(x.pa, 0x8abc);
    assert_int_equal(ds_vread_u64(&vas, 0x1ff8, &v), DS_OK);
    assert_int_equal(v, 0xabcdef0123456789ull);
    /* spans the valid page at 0x1000 and the transition page at 0x2000 */
    uint8_t buf[16];
    assert_int_equal(ds_vread(&vas, 0x1ff8, buf, 16), DS_OK);
    memcpy(&v, buf + 8, 8);
    assert_int_equal(v, 0x4242424242424242ull);
    assert_int_equal(ds_vtop(&vas, 0x2000, &x), DS_OK);
    assert_true(x.transition);
    assert_int_equal(ds_vtop(&vas, 0x3000, &x), DS_ERR_NOT_PRESENT); /* prototype */
    assert_int_equal(ds_vtop(&vas, 0x4000, &x), DS_ERR_NOT_PRESENT); /* zero */
    assert_int_equal(ds_vtop(&vas, 0x40001000, &x), DS_ERR_NOT_PRESENT); /* PDPTE 1 */
    /* 2 MiB page */
    assert_int_equal(ds_vtop(&vas, 0xe0001234, &x), DS_OK);
    assert_int_equal(x.page_size, 0x200000);
    assert_int_equal(ds_vread_u64(&vas, 0xe0001234, &v), DS_OK);
    assert_int_equal(v, 0x1313131313131313ull);
    /* the self-map: the PDs appear at 0xc0600000, PD #3 at 0xc0603000 */
    assert_int_equal(ds_vtop(&vas, 0xc0603000, &x), DS_OK);
    assert_int_equal(x.pa, pae_pd[3]);
    assert_int_equal(ds_vread_u64(&vas, 0xc0603000, &v), DS_OK);
    assert_int_equal(v, pae_pd[0] | 0x63);
    assert_int_equal(ds_vtop(&vas, 0x100000000ull, &x), DS_ERR_RANGE);
    assert_int_equal(ds_vread(&vas, 0xfffffff8ull, buf, 16), DS_ERR_RANGE);

    seen_list s = {0};
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, record_cb, &s), 0);
    assert_int_equal(s.total, 3);
    expect_map(&s, 0, 0x1000, 0x8000, 0x1000, false);
    expect_map(&s, 1, 0x2000, 0x9000, 0x1000, true);
    expect_map(&s, 2, 0xe0000000ull, 0x200000, 0x200000, false);
    pm_free(pm);
}

/* ------------------------------------------------------------------ */
/* x86 non-PAE                                                         */
/* ------------------------------------------------------------------ */

static void test_x86(void **state)
{
    (void)state;
    physmem *pm = pm_new(8u << 20);
    put32(pm, 0x1000 + 0x300 * 4, 0x1000 | 0x63);   /* self-map at 0xc0000000 */
    put32(pm, 0x1000 + 0 * 4, 0x2000 | 0x67);
    put32(pm, 0x2000 + 3 * 4, 0x5000 | 0x67);
    put32(pm, 0x2000 + 4 * 4, 0x6000 | (uint32_t)T);
    put32(pm, 0x2000 + 5 * 4, 0x6000 | (uint32_t)(T | P));
    put32(pm, 0x1000 + 0x200 * 4, 0x400000 | 0xe3); /* 4 MiB at 0x80000000 */
    put32(pm, 0x5ffc, 0xdeadbeef);
    put32(pm, 0x6000, 0xfeedface);
    put32(pm, 0x400000 + 0x3ffffc, 0x0badf00d);
    ds_vas vas = {.mode = DS_PAGING_X86, .dtb = 0x1000 | 0x18, .read = phys_read, .ctx = pm};
    ds_xlat x;
    uint32_t v32;
    uint64_t v;

    assert_int_equal(ds_vtop(&vas, 0x3010, &x), DS_OK);
    assert_int_equal(x.pa, 0x5010);
    assert_int_equal(ds_vtop(&vas, 0x4000, &x), DS_OK);
    assert_true(x.transition);
    assert_int_equal(ds_vtop(&vas, 0x5000, &x), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_vtop(&vas, 0x803ffffc, &x), DS_OK);
    assert_int_equal(x.pa, 0x7ffffc);
    assert_int_equal(x.page_size, 0x400000);
    assert_int_equal(ds_vread_u32(&vas, 0x803ffffc, &v32), DS_OK);
    assert_int_equal(v32, 0x0badf00d);
    /* pointer reads are 4 bytes, zero-extended; across two pages */
    uint8_t buf[8];
    assert_int_equal(ds_vread(&vas, 0x3ffc, buf, 8), DS_OK);
    assert_int_equal(ds_vread_ptr(&vas, 0x3ffc, &v), DS_OK);
    assert_int_equal(v, 0xdeadbeef);
    assert_int_equal(ds_vread_ptr(&vas, 0x4000, &v), DS_OK);
    assert_int_equal(v, 0xfeedface);
    /* the self-map: 0xc0300000 is the page directory itself */
    assert_int_equal(ds_vtop(&vas, 0xc0300000, &x), DS_OK);
    assert_int_equal(x.pa, 0x1000);
    assert_int_equal(ds_vread_u32(&vas, 0xc0300000 + 0x300 * 4, &v32), DS_OK);
    assert_int_equal(v32, 0x1063);
    assert_int_equal(ds_vtop(&vas, 0xc0400000, &x), DS_ERR_NOT_PRESENT);

    seen_list s = {0};
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0, record_cb, &s), 0);
    assert_int_equal(s.total, 3);
    expect_map(&s, 0, 0x3000, 0x5000, 0x1000, false);
    expect_map(&s, 1, 0x4000, 0x6000, 0x1000, true);
    expect_map(&s, 2, 0x80000000ull, 0x400000, 0x400000, false);

    seen_list k = {0};
    assert_int_equal(ds_vas_foreach_mapping(&vas, 0x80000000ull, record_cb, &k), 0);
    assert_int_equal(k.total, 1);
    pm_free(pm);
}

static void test_bad_args(void **state)
{
    (void)state;
    ds_xlat x;
    ds_vas none = {.mode = DS_PAGING_NONE, .read = phys_read};
    assert_int_equal(ds_vtop(&none, 0, &x), DS_ERR_ARG);
    assert_int_equal(ds_vtop(NULL, 0, &x), DS_ERR_ARG);
    assert_int_equal(ds_vas_foreach_mapping(&none, 0, record_cb, NULL), -1);
}

/* The per-thread translation cache (cache_id != 0) gives exactly what a
 * walk gives, keeps images apart, and is bypassed with cache_id 0. */
static void test_translation_cache(void **state)
{
    (void)state;
    ds_vas plain, cached;
    physmem *pm = build_x64(&plain);
    cached = plain;
    cached.cache_id = ds_vtop_cache_id();
    assert_true(cached.cache_id != 0);
    static const uint64_t vas_[] = {VA_A + 0x123, VA_A + 0x1ff8, VA_A + 0x2010, VA_A + 0x3010,
                                    VA_A + 0x200000 + 0x12340, VA_A + 0x3fffff,
                                    VA_A + 0x40000000 + 0x3456789, VA_USER_1G + 0x10,
                                    VA_A + 0x6008, VA_A + 0x5008, VA_A + 0x600000};
    for (int round = 0; round < 3; round++) /* cold, then from the cache */
        for (size_t i = 0; i < sizeof(vas_) / sizeof(vas_[0]); i++) {
            ds_xlat a = {0}, b = {0};
            ds_err ea = ds_vtop(&plain, vas_[i], &a), eb = ds_vtop(&cached, vas_[i], &b);
            assert_int_equal(ea, eb);
            if (ea == DS_OK) {
                assert_int_equal(a.pa, b.pa);
                assert_int_equal(a.page_size, b.page_size);
                assert_int_equal(a.transition, b.transition);
            }
        }
    /* another image, same dtb and VA, other id: its own translation */
    ds_vas other;
    physmem *pm2 = build_x64(&other);
    put64(pm2, X_PT + 0 * 8, 0x9000ull | 0x63);
    other.cache_id = ds_vtop_cache_id();
    ds_xlat x;
    assert_int_equal(ds_vtop(&cached, VA_A + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0x5010);
    assert_int_equal(ds_vtop(&other, VA_A + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0x9010);
    assert_int_equal(ds_vtop(&cached, VA_A + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0x5010);
    /* another root in the same image (a process DTB): its own entries */
    ds_vas proc = cached;
    proc.dtb = 0x20000;
    put64(pm, 0x20000 + X_KIDX * 8, X_PDPT | 0x63);
    assert_int_equal(ds_vtop(&proc, VA_A + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0x5010);
    assert_int_equal(ds_vtop(&proc, VA_USER_1G + 0x10, &x), DS_ERR_NOT_PRESENT);
    /* cache_id 0 walks every time: a changed table shows at once */
    put64(pm, X_PT + 0 * 8, 0x9000ull | 0x63);
    assert_int_equal(ds_vtop(&plain, VA_A + 0x10, &x), DS_OK);
    assert_int_equal(x.pa, 0x9010);
    /* failures are not cached: a page made present later translates */
    assert_int_equal(ds_vtop(&cached, VA_A + 0x4010, &x), DS_ERR_NOT_PRESENT);
    put64(pm, X_PT + 4 * 8, 0x6000ull | 0x63);
    assert_int_equal(ds_vtop(&cached, VA_A + 0x4010, &x), DS_OK);
    assert_int_equal(x.pa, 0x6010);
    pm_free(pm2);
    pm_free(pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_x64_translations),
        cmocka_unit_test(test_x64_non_present),
        cmocka_unit_test(test_x64_selfref),
        cmocka_unit_test(test_x64_vread_spans_pages),
        cmocka_unit_test(test_x64_foreach),
        cmocka_unit_test(test_x64_foreach_fanout_bomb),
        cmocka_unit_test(test_pae),
        cmocka_unit_test(test_x86),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_translation_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
