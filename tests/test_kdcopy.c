/* test_kdcopy.c - the KdCopyDataBlock shape finder (src/kdcopy.c) on
 * hand-assembled code: both instruction orders, the lea of the flag that
 * must not be taken for the block, a previous function's references that
 * must be dropped, the byte prefilter, and near misses.  The byte
 * sequences are written out here from the Intel encodings, not produced
 * by the code under test. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>

#include "src/kdcopy.h"

#define VA 0xfffff80312340000ull
#define FLAG 0xfffff80312500010ull
#define BLOCK 0xfffff80312500800ull
#define NEVER 0xfffff80312500020ull
#define ALWAYS 0xfffff80312500028ull
#define OTHER 0xfffff80312500100ull

typedef struct asm_buf {
    uint8_t b[0x400];
    size_t n;
} asm_buf;

static void bytes(asm_buf *a, const uint8_t *p, size_t n)
{
    memcpy(a->b + a->n, p, n);
    a->n += n;
}

#define B(a, ...)                                                                         \
    do {                                                                                  \
        static const uint8_t _b[] = {__VA_ARGS__};                                        \
        bytes(a, _b, sizeof(_b));                                                         \
    } while (0)

/* opcode bytes, then rel32 to target from the end of the instruction
 * (tail = bytes after the displacement, e.g. the imm8 of cmp). */
static void rip(asm_buf *a, const uint8_t *op, size_t oplen, uint64_t target, size_t tail)
{
    bytes(a, op, oplen);
    uint64_t end = VA + a->n + 4 + tail;
    int32_t rel = (int32_t)(int64_t)(target - end);
    memcpy(a->b + a->n, &rel, 4);
    a->n += 4;
}

static const uint8_t CMP[] = {0x80, 0x3d};         /* cmp byte ptr [rip+d], imm8 */
static const uint8_t LEA_RCX[] = {0x48, 0x8d, 0x0d};
static const uint8_t LEA_RAX[] = {0x48, 0x8d, 0x05};
static const uint8_t MOV_RAX[] = {0x48, 0x8b, 0x05};
static const uint8_t MOV_R10[] = {0x4c, 0x8b, 0x15};
static const uint8_t MOV_R9[] = {0x4c, 0x8b, 0x0d};
static const uint8_t XOR_RAX[] = {0x48, 0x33, 0x05};

static size_t anchor(asm_buf *a)
{
    size_t at = a->n;
    rip(a, CMP, 2, FLAG, 1);
    B(a, 0x00);
    return at;
}

static void size_imm(asm_buf *a, uint32_t v)
{
    B(a, 0x41, 0xba); /* mov r10d, imm32 */
    bytes(a, (const uint8_t *)&v, 4);
}

static void pad(asm_buf *a, size_t n)
{
    memset(a->b + a->n, 0xcc, n);
    a->n += n;
}

/* cmp; je; lea rcx,[block]; mov r10d,size/8; mov rax,[never]; lea rax,[flag];
 * bswap rax; xor rax,[always]; ret */
static size_t classic(asm_buf *a)
{
    pad(a, 0x50);
    B(a, 0x48, 0x89, 0x5c, 0x24, 0x08, 0x57); /* mov [rsp+8], rbx; push rdi */
    size_t at = anchor(a);
    B(a, 0x74, 0x20);
    rip(a, LEA_RCX, 3, BLOCK, 0);
    size_imm(a, 0x380 / 8);
    rip(a, MOV_RAX, 3, NEVER, 0);
    rip(a, LEA_RAX, 3, FLAG, 0);
    B(a, 0x48, 0x0f, 0xc8);
    rip(a, XOR_RAX, 3, ALWAYS, 0);
    B(a, 0x5f, 0xc3);
    pad(a, 0x100);
    return at;
}

static void expect_first(const ds_kdcopy_refs *r)
{
    assert_int_equal(r->flag_va, FLAG);
    assert_int_equal(r->block_va, BLOCK);
    assert_int_equal(r->never_va, NEVER);
    assert_int_equal(r->always_va, ALWAYS);
}

static void test_classic_order(void **state)
{
    (void)state;
    asm_buf a = {.n = 0};
    size_t at = classic(&a);
    assert_true(ds_kdcopy_prefilter(a.b, a.n, at));
    ds_kdcopy_finder *f = ds_kdcopy_open();
    assert_non_null(f);
    ds_kdcopy_refs r[DS_KDCOPY_MAX_PROPOSALS];
    unsigned n = ds_kdcopy_match(f, a.b, a.n, at, VA, r, DS_KDCOPY_MAX_PROPOSALS);
    assert_true(n >= 1);
    expect_first(&r[0]);
    /* no proposal names the flag as the block */
    for (unsigned i = 0; i < n; i++)
        assert_true(r[i].block_va != FLAG);
    ds_kdcopy_close(f);
}

/* KiWaitNever loaded before the anchor, the flag's lea before the block's
 * lea, KiWaitAlways by mov; a previous function (ending in ret + int3
 * padding) holds RIP-relative movs that must not be taken. */
static void test_reordered_with_previous_function(void **state)
{
    (void)state;
    asm_buf a = {.n = 0};
    rip(&a, MOV_RAX, 3, OTHER, 0);         /* previous function */
    rip(&a, MOV_R9, 3, OTHER + 8, 0);
    B(&a, 0xc3, 0xcc, 0xcc, 0xcc);
    B(&a, 0x48, 0x8b, 0xd9);               /* mov rbx, rcx */
    rip(&a, MOV_R10, 3, NEVER, 0);         /* mov r10, [KiWaitNever] */
    size_t at = anchor(&a);
    B(&a, 0x74, 0x30);
    rip(&a, LEA_RAX, 3, FLAG, 0);          /* lea rax, [flag] first */
    rip(&a, LEA_RCX, 3, BLOCK, 0);
    size_imm(&a, 0x380);
    rip(&a, MOV_R9, 3, ALWAYS, 0);         /* mov r9, [KiWaitAlways] */
    B(&a, 0x48, 0x8b, 0x01, 0x49, 0x33, 0xc2, 0x48, 0x0f, 0xc8, 0x49, 0x33, 0xc1, 0xc3);
    pad(&a, 0x100);
    assert_true(at < DS_KDCOPY_BEFORE);
    ds_kdcopy_finder *f = ds_kdcopy_open();
    ds_kdcopy_refs r[DS_KDCOPY_MAX_PROPOSALS];
    unsigned n = ds_kdcopy_match(f, a.b, a.n, at, VA, r, DS_KDCOPY_MAX_PROPOSALS);
    assert_true(n >= 1);
    expect_first(&r[0]);
    for (unsigned i = 0; i < n; i++)
        assert_true(r[i].never_va != OTHER && r[i].always_va != OTHER + 8);
    ds_kdcopy_close(f);
}

static void test_prefilter_and_near_misses(void **state)
{
    (void)state;
    ds_kdcopy_finder *f = ds_kdcopy_open();
    ds_kdcopy_refs r[DS_KDCOPY_MAX_PROPOSALS];

    /* a global-flag test: cmp; je; mov eax, 1; ret */
    asm_buf a = {.n = 0};
    pad(&a, 0x40);
    size_t at = anchor(&a);
    B(&a, 0x74, 0x06, 0xb8, 0x01, 0x00, 0x00, 0x00, 0xc3);
    pad(&a, 0x100);
    assert_false(ds_kdcopy_prefilter(a.b, a.n, at));
    assert_int_equal(ds_kdcopy_match(f, a.b, a.n, at, VA, r, 8), 0);

    /* the classic routine without its bswap */
    a.n = 0;
    at = classic(&a);
    uint8_t *bs = memmem(a.b + at, a.n - at, "\x48\x0f\xc8", 3);
    assert_non_null(bs);
    memcpy(bs, "\x90\x90\x90", 3);
    assert_false(ds_kdcopy_prefilter(a.b, a.n, at));
    assert_int_equal(ds_kdcopy_match(f, a.b, a.n, at, VA, r, 8), 0);

    /* without a KDBG-size immediate (0x10 quadwords is too few) */
    a.n = 0;
    at = classic(&a);
    uint8_t *imm = memmem(a.b + at, a.n - at, "\x41\xba", 2);
    assert_non_null(imm);
    uint32_t small = 0x10;
    memcpy(imm + 2, &small, 4);
    assert_false(ds_kdcopy_prefilter(a.b, a.n, at));
    /* ... or the size in bytes: passes */
    uint32_t bytes_sz = 0x368;
    memcpy(imm + 2, &bytes_sz, 4);
    assert_true(ds_kdcopy_prefilter(a.b, a.n, at));

    /* the anchor is not a cmp with 0: no proposal */
    a.n = 0;
    at = classic(&a);
    a.b[at + 6] = 0x01;
    assert_int_equal(ds_kdcopy_match(f, a.b, a.n, at, VA, r, 8), 0);

    /* no RIP-relative mov at all: nothing to propose */
    a.n = 0;
    pad(&a, 0x40);
    at = anchor(&a);
    rip(&a, LEA_RCX, 3, BLOCK, 0);
    size_imm(&a, 0x70);
    B(&a, 0x48, 0x0f, 0xc8, 0xc3);
    pad(&a, 0x100);
    assert_true(ds_kdcopy_prefilter(a.b, a.n, at));
    assert_int_equal(ds_kdcopy_match(f, a.b, a.n, at, VA, r, 8), 0);

    /* truncated window and zero max */
    assert_int_equal(ds_kdcopy_match(f, a.b, at + 3, at, VA, r, 8), 0);
    assert_int_equal(ds_kdcopy_match(f, a.b, a.n, at, VA, r, 0), 0);
    assert_int_equal(ds_kdcopy_match(NULL, a.b, a.n, at, VA, r, 8), 0);
    ds_kdcopy_close(f);
}

/* The prefilter's window is [anchor - DS_KDCOPY_BEFORE, anchor +
 * DS_KDCOPY_AFTER): a bswap or a size mov wholly inside counts, one that
 * sticks out by a byte at either end does not. */
static bool window_with(size_t bswap_at, size_t mov_at, const uint8_t *mov, size_t mov_len)
{
    enum { AT = 0x100 };
    uint8_t b[0x300];
    memset(b, 0x90, sizeof(b));
    memcpy(b + AT, "\x80\x3d\x00\x00\x00\x00\x00", 7);
    memcpy(b + bswap_at, "\x48\x0f\xc8", 3);
    memcpy(b + mov_at, mov, mov_len);
    return ds_kdcopy_prefilter(b, sizeof(b), AT);
}

static void test_prefilter_window_edges(void **state)
{
    (void)state;
    const size_t lo = 0x100 - DS_KDCOPY_BEFORE, hi = 0x100 + DS_KDCOPY_AFTER;
    static const uint8_t mov_b8[5] = {0xb9, 0x40, 0x03, 0x00, 0x00};       /* mov ecx, 0x340 */
    static const uint8_t mov_c7[6] = {0xc7, 0xc1, 0x40, 0x03, 0x00, 0x00}; /* same, C7 form */
    size_t mid = 0x100 + 0x10;
    assert_true(window_with(lo, mid, mov_b8, 5));
    assert_false(window_with(lo - 1, mid, mov_b8, 5));
    assert_true(window_with(hi - 3, mid, mov_b8, 5));
    assert_false(window_with(hi - 2, mid, mov_b8, 5));
    size_t bs = 0x100 + 0x20;
    assert_true(window_with(bs, lo, mov_b8, 5));
    assert_true(window_with(bs, hi - 5, mov_b8, 5));
    assert_false(window_with(bs, hi - 4, mov_b8, 5));
    assert_true(window_with(bs, hi - 6, mov_c7, 6));
    assert_false(window_with(bs, hi - 5, mov_c7, 6));
    /* the other bswap register (REX.WB) and a non-bswap 0F C0 (xadd) */
    uint8_t b[0x300];
    memset(b, 0x90, sizeof(b));
    memcpy(b + 0x100, "\x80\x3d\x00\x00\x00\x00\x00", 7);
    memcpy(b + 0x110, mov_b8, 5);
    memcpy(b + 0x120, "\x49\x0f\xcf", 3); /* bswap r15 */
    assert_true(ds_kdcopy_prefilter(b, sizeof(b), 0x100));
    memcpy(b + 0x120, "\x48\x0f\xc0", 3); /* xadd al, al (0F C0): no */
    assert_false(ds_kdcopy_prefilter(b, sizeof(b), 0x100));
    /* an anchor near the end of the buffer: the window stops there */
    assert_false(ds_kdcopy_prefilter(b, 0x102, 0x100));
}

/* Garbage around an anchor: the matcher never reads outside the window
 * (ASan checks) and returns at most max proposals. */
static void test_garbage_windows(void **state)
{
    (void)state;
    ds_kdcopy_finder *f = ds_kdcopy_open();
    uint8_t w[0x200];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (unsigned round = 0; round < 2000; round++) {
        for (size_t i = 0; i < sizeof(w); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w[i] = (uint8_t)x;
        }
        size_t at = (size_t)(x % (sizeof(w) - 7));
        memcpy(w + at, "\x80\x3d\x10\x00\x00\x00\x00", 7);
        ds_kdcopy_refs r[3];
        unsigned n = ds_kdcopy_match(f, w, sizeof(w), at, VA, r, 3);
        assert_true(n <= 3);
        (void)ds_kdcopy_prefilter(w, sizeof(w), at);
    }
    ds_kdcopy_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_order),
        cmocka_unit_test(test_reordered_with_previous_function),
        cmocka_unit_test(test_prefilter_and_near_misses),
        cmocka_unit_test(test_prefilter_window_edges),
        cmocka_unit_test(test_garbage_windows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
