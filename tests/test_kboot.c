/* test_kboot.c - finding the kernel without symbols, on hand-built memory.
 *
 * A byte array plays physical memory (pages can be marked unreadable).
 * Tests plant a low stub, self-referencing top-level tables (and decoys
 * that break one validation rule each), KUSER_SHARED_DATA pages, KDBG
 * blocks plain and encoded, and tiny PE images mapped through page tables
 * built here, then check what kboot.c/kdbg.c find. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kboot.h"

#define PAGE 0x1000ull

/* ------------------------------------------------------------------ */
/* Test memory                                                         */
/* ------------------------------------------------------------------ */

#define MAX_MAPS 128

typedef struct tmem {
    uint8_t *mem;
    size_t size;
    uint8_t *absent;       /* one byte per page: 1 = reads fail */
    uint64_t next_free;    /* bump allocator for tables/pages */
    struct { uint64_t va, pa; } maps[MAX_MAPS];
    unsigned nmaps;
    unsigned long reads;   /* read callback calls */
} tmem;

static ds_err tm_read(void *ctx, uint64_t pa, void *buf, size_t len)
{
    tmem *m = ctx;
    m->reads++;
    if (pa >= m->size || len > m->size - pa)
        return DS_ERR_RANGE;
    for (uint64_t p = pa >> 12; p <= (pa + len - 1) >> 12; p++)
        if (m->absent[p])
            return DS_ERR_NOT_PRESENT;
    memcpy(buf, m->mem + pa, len);
    return DS_OK;
}

static tmem *tm_new(size_t size, uint64_t first_free)
{
    tmem *m = calloc(1, sizeof(*m));
    assert_non_null(m);
    m->mem = calloc(1, size);
    m->absent = calloc(1, size >> 12);
    assert_non_null(m->mem);
    assert_non_null(m->absent);
    m->size = size;
    m->next_free = first_free;
    return m;
}

static void tm_free(tmem *m)
{
    free(m->mem);
    free(m->absent);
    free(m);
}

static ds_physmem tm_phys(tmem *m)
{
    return (ds_physmem){.read = tm_read, .ctx = m, .max_pa = m->size};
}

static void put64(tmem *m, uint64_t pa, uint64_t v)
{
    assert_true(pa + 8 <= m->size);
    memcpy(m->mem + pa, &v, 8);
}

static void put32(tmem *m, uint64_t pa, uint32_t v)
{
    assert_true(pa + 4 <= m->size);
    memcpy(m->mem + pa, &v, 4);
}

static uint64_t get64(tmem *m, uint64_t pa)
{
    uint64_t v;
    memcpy(&v, m->mem + pa, 8);
    return v;
}

static uint64_t alloc_page(tmem *m)
{
    uint64_t pa = m->next_free;
    assert_true(pa + PAGE <= m->size);
    m->next_free += PAGE;
    return pa;
}

/* x64: map one 4 KiB page va -> pa, creating tables under pml4. */
static void map_x64(tmem *m, uint64_t pml4, uint64_t va, uint64_t pa)
{
    uint64_t table = pml4;
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t slot = table + ((va >> shift) & 0x1ff) * 8;
        uint64_t e = get64(m, slot);
        if (!(e & 1)) {
            e = alloc_page(m) | 0x63;
            put64(m, slot, e);
        }
        table = e & 0x000ffffffffff000ull;
    }
    put64(m, table + ((va >> 12) & 0x1ff) * 8, pa | 0x63);
    assert_true(m->nmaps < MAX_MAPS);
    m->maps[m->nmaps].va = va & ~(PAGE - 1);
    m->maps[m->nmaps++].pa = pa;
}

/* x86 non-PAE: map one 4 KiB page. */
static void map_x86(tmem *m, uint64_t pd, uint64_t va, uint64_t pa)
{
    uint64_t slot = pd + ((va >> 22) & 0x3ff) * 4;
    uint32_t e;
    memcpy(&e, m->mem + slot, 4);
    if (!(e & 1)) {
        e = (uint32_t)alloc_page(m) | 0x63;
        put32(m, slot, e);
    }
    put32(m, (e & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4, (uint32_t)pa | 0x63);
    assert_true(m->nmaps < MAX_MAPS);
    m->maps[m->nmaps].va = va & ~(PAGE - 1);
    m->maps[m->nmaps++].pa = pa;
}

/* Write through the mappings recorded by map_*, page by page. */
static void vwrite(tmem *m, uint64_t va, const void *data, size_t len)
{
    const uint8_t *src = data;
    while (len) {
        uint64_t page = va & ~(PAGE - 1);
        size_t n = (size_t)(PAGE - (va - page));
        if (n > len)
            n = len;
        unsigned i = 0;
        while (i < m->nmaps && m->maps[i].va != page)
            i++;
        assert_true(i < m->nmaps);
        memcpy(m->mem + m->maps[i].pa + (va - page), src, n);
        src += n;
        va += n;
        len -= n;
    }
}

static void vwrite64(tmem *m, uint64_t va, uint64_t v)
{
    vwrite(m, va, &v, 8);
}

static void vwrite32(tmem *m, uint64_t va, uint32_t v)
{
    vwrite(m, va, &v, 4);
}

/* ------------------------------------------------------------------ */
/* x64 PML4 shapes                                                     */
/* ------------------------------------------------------------------ */

/* A System-like PML4 at pa: self-reference at 0x1ed and `others` more
 * kernel entries (present, RW, supervisor) pointing at low frames. */
static void plant_pml4(tmem *m, uint64_t pa, unsigned others, uint64_t extra_bits)
{
    put64(m, pa + 0x1ed * 8, pa | 0x63);
    for (unsigned i = 0; i < others; i++)
        put64(m, pa + (0x100 + i) * 8, ((0x100 + i) * PAGE) | 0x63 | extra_bits);
}

/* ------------------------------------------------------------------ */
/* Low stub                                                            */
/* ------------------------------------------------------------------ */

static void plant_stub(tmem *m, uint64_t pa, uint64_t entry, uint64_t cr3)
{
    put64(m, pa, 0x0000000100064ae9ull); /* byte 1 is masked out */
    put64(m, pa + 0x70, entry);
    put64(m, pa + 0xa0, cr3);
}

static void test_lowstub(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0);
    ds_physmem pm = tm_phys(m);
    uint64_t dtb = 0, entry = 0;

    plant_pml4(m, 0x1ad000, 5, 0);  /* self + 5 = 6 kernel entries: valid */
    plant_pml4(m, 0x1a0000, 4, 0);  /* 5 kernel entries: not a PML4 */
    plant_stub(m, 0x5000, 0xfffff80312345000ull, 0x1a0000);   /* decoy PML4 */
    plant_stub(m, 0x6000, 0xfffff70312345000ull, 0x1ad000);   /* bad entry VA */
    plant_stub(m, 0x7000, 0xfffff80312345000ull, 0x1ad001);   /* CR3 low bits */
    plant_stub(m, 0x8000, 0xfffff80312345000ull, 0x1ad000);   /* unreadable page */
    m->absent[8] = 1;
    plant_stub(m, 0x13000, 0xfffff8035a1c2010ull, 0x1ad000);

    assert_int_equal(ds_find_dtb_lowstub(&pm, &dtb, &entry), DS_OK);
    assert_int_equal(dtb, 0x1ad000);
    assert_int_equal(entry, 0xfffff8035a1c2010ull);

    /* the same stub above 1 MiB is not looked for */
    memset(m->mem + 0x13000, 0, PAGE);
    plant_stub(m, 0x120000, 0xfffff8035a1c2010ull, 0x1ad000);
    assert_int_equal(ds_find_dtb_lowstub(&pm, &dtb, &entry), DS_ERR_NOT_FOUND);

    /* a CR3 beyond max_pa is refused */
    plant_stub(m, 0x14000, 0xfffff8035a1c2010ull, 0x1ad000);
    pm.max_pa = 0x1ad000;
    assert_int_equal(ds_find_dtb_lowstub(&pm, &dtb, &entry), DS_ERR_NOT_FOUND);
    tm_free(m);
}

/* ------------------------------------------------------------------ */
/* Self-reference scans                                                */
/* ------------------------------------------------------------------ */

static void test_selfref_x64(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0);
    ds_physmem pm = tm_phys(m);

    plant_pml4(m, 0x3000, 4, 0);                        /* too few kernel entries */
    plant_pml4(m, 0x4000, 8, 0x8000000000000000ull);    /* kernel entries NX */
    plant_pml4(m, 0x5000, 6, 0);                        /* dense kernel half */
    for (unsigned i = 0x110; i < 0x1ff; i++)
        if (i != 0x1ed)
            put64(m, 0x5000 + i * 8, 0x8000000000000000ull | (i * PAGE) | 0x63);
    plant_pml4(m, 0x6000, 6, 0);                        /* dense user half */
    for (unsigned i = 0; i < 0x100; i++)
        put64(m, 0x6000 + i * 8, 0x1234567000ull | 0x67);
    plant_pml4(m, 0x7000, 6, 0);                        /* self entry is a large page */
    put64(m, 0x7000 + 0x1ed * 8, 0x7000 | 0xe3);
    plant_pml4(m, 0x8000, 0, 0);                        /* kernel frames beyond memory */
    for (unsigned i = 0; i < 6; i++)
        put64(m, 0x8000 + (0x100 + i) * 8, (0x4000000ull + i * PAGE) | 0x63);
    plant_pml4(m, 0x9000, 6, 0);                        /* the real one */
    put64(m, 0x9000, 0x2000 | 0x67);                    /* a user PDPT */

    ds_paging mode = DS_PAGING_NONE;
    uint64_t dtb = 0;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_OK);
    assert_int_equal(mode, DS_PAGING_X64);
    assert_int_equal(dtb, 0x9000);

    /* entry 0 pointing beyond memory disqualifies it */
    put64(m, 0x9000, 0x7000000000ull | 0x67);
    mode = DS_PAGING_NONE;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_ERR_NOT_FOUND);
    put64(m, 0x9000, 0x2000 | 0x67);

    /* asking for another mode does not return the x64 table */
    mode = DS_PAGING_PAE;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_ERR_NOT_FOUND);
    mode = DS_PAGING_X86;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_ERR_NOT_FOUND);
    tm_free(m);
}

static void test_selfref_x64_beyond_16mib(void **state)
{
    (void)state;
    tmem *m = tm_new(24u << 20, 0);
    ds_physmem pm = tm_phys(m);
    plant_pml4(m, 0x1400000, 6, 0); /* 20 MiB */
    ds_paging mode = DS_PAGING_NONE;
    uint64_t dtb = 0;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_OK);
    assert_int_equal(mode, DS_PAGING_X64);
    assert_int_equal(dtb, 0x1400000);
    tm_free(m);
}

static void test_selfref_pae(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0);
    ds_physmem pm = tm_phys(m);
    static const uint64_t pd[4] = {0x10000, 0x11000, 0x12000, 0x13000};

    memset(m->mem + 0x7000, 0x11, 0x60); /* junk before the PDPT */
    /* decoy PDPT at 0x7000: its PD #3 (0x23000) does not self-map */
    for (unsigned i = 0; i < 4; i++)
        put64(m, 0x7000 + i * 8, (0x20000 + i * PAGE) | 1);
    for (unsigned i = 0; i < 4; i++) {
        put64(m, 0x7060 + i * 8, pd[i] | 1);
        put64(m, pd[3] + i * 8, pd[i] | 0x63);
    }
    put64(m, pd[0], 0x30000 | 0x67);
    put64(m, pd[3] + 0x100 * 8, 0x200000 | 0xe3);

    ds_paging mode = DS_PAGING_NONE;
    uint64_t dtb = 0;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_OK);
    assert_int_equal(mode, DS_PAGING_PAE);
    assert_int_equal(dtb, 0x7060);

    /* the found DTB translates: PD #3 appears at 0xc0603000 */
    ds_vas vas = {.mode = mode, .dtb = dtb, .read = tm_read, .ctx = m};
    ds_xlat x;
    assert_int_equal(ds_vtop(&vas, 0xc0603000, &x), DS_OK);
    assert_int_equal(x.pa, pd[3]);

    /* two PDPT entries naming the same PD: refused */
    put64(m, 0x7060 + 8, pd[0] | 1);
    mode = DS_PAGING_NONE;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_ERR_NOT_FOUND);
    tm_free(m);
}

static void test_selfref_x86(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0);
    ds_physmem pm = tm_phys(m);

    /* decoy: self-map but the user half is full */
    put32(m, 0x20000 + 0x300 * 4, 0x20000 | 0x63);
    for (unsigned i = 0; i < 0x400; i++)
        if (i != 0x300)
            put32(m, 0x20000 + i * 4, (0x40000 + (i & 0xff) * 0x1000) | 0x63);
    /* the real page directory */
    put32(m, 0x30000 + 0x300 * 4, 0x30000 | 0x63);
    put32(m, 0x30000 + 0x301 * 4, 0x31000 | 0x63);
    for (unsigned i = 0x200; i < 0x280; i++)
        put32(m, 0x30000 + i * 4, (0x40000 + (i - 0x200) * 0x1000) | 0x63);
    put32(m, 0x30000, 0x32000 | 0x67);

    ds_paging mode = DS_PAGING_NONE;
    uint64_t dtb = 0;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_OK);
    assert_int_equal(mode, DS_PAGING_X86);
    assert_int_equal(dtb, 0x30000);

    /* unreadable page: skipped, nothing else qualifies */
    m->absent[0x30] = 1;
    mode = DS_PAGING_NONE;
    assert_int_equal(ds_find_dtb_selfref(&pm, &mode, &dtb), DS_ERR_NOT_FOUND);
    tm_free(m);
}

/* ------------------------------------------------------------------ */
/* KUSER_SHARED_DATA                                                   */
/* ------------------------------------------------------------------ */

#define KUSER64 0xfffff78000000000ull
#define KUSER32 0xffdf0000ull
/* 2024-03-31T12:12:36.7244410Z as FILETIME */
#define FT_2024 133563607567244410ll

static void put_ksystem_time(tmem *m, uint64_t va, int64_t t)
{
    vwrite32(m, va, (uint32_t)t);
    vwrite32(m, va + 4, (uint32_t)((uint64_t)t >> 32));
    vwrite32(m, va + 8, (uint32_t)((uint64_t)t >> 32));
}

static void test_kuser_x64(void **state)
{
    (void)state;
    tmem *m = tm_new(1u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    map_x64(m, pml4, KUSER64, alloc_page(m));
    put_ksystem_time(m, KUSER64 + 0x8, 0x1289abcdefll);
    put_ksystem_time(m, KUSER64 + 0x14, FT_2024);
    vwrite32(m, KUSER64 + 0x260, 0xf0004a65u); /* 19045 with flag bits */
    vwrite32(m, KUSER64 + 0x264, 1);
    vwrite32(m, KUSER64 + 0x26c, 10);
    vwrite32(m, KUSER64 + 0x270, 0);
    vwrite32(m, KUSER64 + 0x3c0, 4);
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};

    ds_kuser ku;
    assert_int_equal(ds_kuser_read(&vas, &ku), DS_OK);
    assert_int_equal(ku.build, 19045);
    assert_int_equal(ku.major, 10);
    assert_int_equal(ku.minor, 0);
    assert_int_equal(ku.product_type, 1);
    assert_int_equal(ku.processors, 4);
    assert_int_equal(ku.system_time, FT_2024);
    assert_int_equal(ku.interrupt_time, 0x1289abcdefll);

    vwrite32(m, KUSER64 + 0x26c, 42);
    assert_int_equal(ds_kuser_read(&vas, &ku), DS_ERR_CORRUPT);
    vwrite32(m, KUSER64 + 0x26c, 10);
    put_ksystem_time(m, KUSER64 + 0x14, 120000000000000000ll); /* 1981 */
    assert_int_equal(ds_kuser_read(&vas, &ku), DS_ERR_CORRUPT);

    ds_vas empty = {.mode = DS_PAGING_X64, .dtb = alloc_page(m), .read = tm_read, .ctx = m};
    assert_int_equal(ds_kuser_read(&empty, &ku), DS_ERR_NOT_PRESENT);
    tm_free(m);
}

static void test_kuser_x86_xp(void **state)
{
    (void)state;
    tmem *m = tm_new(1u << 20, 0x10000);
    uint64_t pd = alloc_page(m);
    map_x86(m, pd, KUSER32, alloc_page(m));
    put_ksystem_time(m, KUSER32 + 0x14, FT_2024);
    vwrite32(m, KUSER32 + 0x26c, 5);
    vwrite32(m, KUSER32 + 0x270, 1);
    vwrite32(m, KUSER32 + 0x3c0, 0x55); /* beyond XP's structure */
    ds_vas vas = {.mode = DS_PAGING_X86, .dtb = pd, .read = tm_read, .ctx = m};
    ds_kuser ku;
    assert_int_equal(ds_kuser_read(&vas, &ku), DS_OK);
    assert_int_equal(ku.major, 5);
    assert_int_equal(ku.minor, 1);
    assert_int_equal(ku.build, 0);
    assert_int_equal(ku.processors, 0);
    tm_free(m);
}

/* ------------------------------------------------------------------ */
/* KDBG encoding                                                       */
/* ------------------------------------------------------------------ */

static const ds_kdbg_keys test_keys = {
    .ki_wait_never = 0x1f2e3d4c5b6a7985ull,  /* rotate by 0x85 & 63 = 5 */
    .ki_wait_always = 0x0123456789abcdefull,
    .kdp_data_block_encoded = 0xfffff80002c3f0a8ull,
};

static void test_kdbg_decode_vector(void **state)
{
    (void)state;
    /* Worked by hand: ROL64(0 ^ never, 5) = 0xe5c7a98b6d4f30a3;
     * ^ kdp = 0x1a38518b6f8cc00b; bswap = 0x0bc08c6f8b51381a;
     * ^ always = 0x0ae3c90802faf5f5. */
    uint64_t w[3] = {0, 0x4742444b00000380ull, 0xfffff80002a00000ull};
    ds_kdbg_decode(w, 3, &test_keys);
    assert_int_equal(w[0], 0x0ae3c90802faf5f5ull);
    assert_int_equal(w[1], 0x0293c9086273bd1dull);
    assert_int_equal(w[2], 0x15e3c95c02fa0a0aull);
    ds_kdbg_encode(w, 3, &test_keys);
    assert_int_equal(w[0], 0);
    assert_int_equal(w[1], 0x4742444b00000380ull);
    assert_int_equal(w[2], 0xfffff80002a00000ull);
}

static void test_kdbg_round_trip(void **state)
{
    (void)state;
    static const uint64_t nevers[] = {0, 1, 0x3f, 0x40, 0xff, 0x8000000000000041ull,
                                      0xdeadbeefcafebabeull};
    uint64_t orig[16], w[16];
    for (unsigned i = 0; i < 16; i++)
        orig[i] = 0x0101010101010101ull * i ^ (0xfffff80000000000ull >> (i & 7));
    for (unsigned k = 0; k < sizeof(nevers) / sizeof(nevers[0]); k++) {
        ds_kdbg_keys keys = test_keys;
        keys.ki_wait_never = nevers[k];
        memcpy(w, orig, sizeof(w));
        ds_kdbg_encode(w, 16, &keys);
        assert_memory_not_equal(w, orig, sizeof(w));
        ds_kdbg_decode(w, 16, &keys);
        assert_memory_equal(w, orig, sizeof(w));
    }
}

/* ------------------------------------------------------------------ */
/* KDBG blocks and images                                              */
/* ------------------------------------------------------------------ */

#define KDBG_SIZE 0x380u

typedef struct kdbg_img {
    uint64_t w[KDBG_SIZE / 8];
} kdbg_img;

static void set16(kdbg_img *k, unsigned off, uint16_t v)
{
    memcpy((uint8_t *)k->w + off, &v, 2);
}

static void make_kdbg(kdbg_img *k, uint64_t kern_base, uint32_t size)
{
    memset(k, 0, sizeof(*k));
    k->w[0x10 / 8] = ((uint64_t)size << 32) | 0x4742444bu;
    k->w[0x18 / 8] = kern_base;
    k->w[0x48 / 8] = kern_base + 0x2a1230;
    k->w[0x50 / 8] = kern_base + 0x2b4560;
    k->w[0x58 / 8] = 0xffffc00000012340ull;
    k->w[0xa0 / 8] = kern_base + 0x2c0000;
    k->w[0xc0 / 8] = 0xfffffa8000000000ull;
    k->w[0x208 / 8] = kern_base + 0x150000;
    k->w[0x218 / 8] = kern_base + 0x300000;
    set16(k, 0x2a8, 0xa40);
    set16(k, 0x2aa, 0x550);
    set16(k, 0x2ac, 0x540);
    set16(k, 0x2ae, 0x28);
    set16(k, 0x2b4, 0x8);
    set16(k, 0x2c0, 0x898);
}

/* An x64 space with n consecutive pages mapped at va. */
static void map_range_x64(tmem *m, uint64_t pml4, uint64_t va, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        map_x64(m, pml4, va + i * PAGE, alloc_page(m));
}

static void test_kdbg_read(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    const uint64_t base = 0xfffff80000100000ull;
    const uint64_t va = base + 0x3e00; /* block crosses into the next page */
    map_range_x64(m, pml4, base + 0x3000, 2);
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};
    kdbg_img k;
    ds_kdbg out;
    ds_errbuf eb = {{0}};

    /* plain block */
    make_kdbg(&k, base, KDBG_SIZE);
    vwrite(m, va, &k, sizeof(k));
    assert_int_equal(ds_kdbg_read(&vas, va, &test_keys, &out, &eb), DS_OK);
    assert_false(out.was_encoded);
    assert_int_equal(out.va, va);
    assert_int_equal(out.size, KDBG_SIZE);
    assert_int_equal(out.kern_base, base);

    /* encoded block: needs the keys */
    ds_kdbg_encode(k.w, KDBG_SIZE / 8, &test_keys);
    vwrite(m, va, &k, sizeof(k));
    assert_int_equal(ds_kdbg_read(&vas, va, NULL, &out, &eb), DS_ERR_NOT_FOUND);
    assert_true(strlen(eb.msg) > 0);
    assert_int_equal(ds_kdbg_read(&vas, va, &test_keys, &out, &eb), DS_OK);
    assert_true(out.was_encoded);
    assert_int_equal(out.kern_base, base);
    assert_int_equal(out.ps_loaded_module_list, base + 0x2a1230);
    assert_int_equal(out.ps_active_process_head, base + 0x2b4560);
    assert_int_equal(out.psp_cid_table, 0xffffc00000012340ull);
    assert_int_equal(out.obp_type_object_type, base + 0x2c0000);
    assert_int_equal(out.mm_pfn_database, 0xfffffa8000000000ull);
    assert_int_equal(out.nt_build_lab, base + 0x150000);
    assert_int_equal(out.ki_processor_block, base + 0x300000);
    assert_int_equal(out.size_eprocess, 0xa40);
    assert_int_equal(out.offset_eprocess_peb, 0x550);
    assert_int_equal(out.offset_eprocess_parent_cid, 0x540);
    assert_int_equal(out.offset_eprocess_dtb, 0x28);
    assert_int_equal(out.offset_prcb_current_thread, 0x8);
    assert_int_equal(out.size_ethread, 0x898);
    uint32_t tag;
    memcpy(&tag, out.raw + 0x10, 4);
    assert_int_equal(tag, 0x4742444b);

    /* wrong keys: no tag */
    ds_kdbg_keys bad = test_keys;
    bad.ki_wait_always ^= 1;
    assert_int_equal(ds_kdbg_read(&vas, va, &bad, &out, NULL), DS_ERR_NOT_FOUND);

    /* size out of range; KernBase not a kernel image */
    make_kdbg(&k, base, 0x100);
    vwrite(m, va, &k, sizeof(k));
    assert_int_equal(ds_kdbg_read(&vas, va, NULL, &out, NULL), DS_ERR_CORRUPT);
    make_kdbg(&k, 0x00007ff600000000ull, KDBG_SIZE);
    vwrite(m, va, &k, sizeof(k));
    assert_int_equal(ds_kdbg_read(&vas, va, NULL, &out, NULL), DS_ERR_CORRUPT);
    /* XP-sized block: fields past 0x290 read as 0 */
    make_kdbg(&k, base, 0x290);
    vwrite(m, va, &k, sizeof(k));
    assert_int_equal(ds_kdbg_read(&vas, va, NULL, &out, NULL), DS_OK);
    assert_int_equal(out.size_eprocess, 0);
    assert_int_equal(out.ki_processor_block, base + 0x300000);
    /* unmapped */
    assert_int_not_equal(ds_kdbg_read(&vas, base, NULL, &out, NULL), DS_OK);
    tm_free(m);
}

static void test_kdbg_read_x86(void **state)
{
    (void)state;
    tmem *m = tm_new(1u << 20, 0x10000);
    uint64_t pd = alloc_page(m);
    map_x86(m, pd, 0x80545000, alloc_page(m));
    ds_vas vas = {.mode = DS_PAGING_X86, .dtb = pd, .read = tm_read, .ctx = m};
    kdbg_img k;
    /* x86 pointers are stored sign-extended to 64 bits */
    make_kdbg(&k, 0xffffffff804d7000ull, 0x290);
    vwrite(m, 0x80545000, &k, 0x290);
    ds_kdbg out;
    assert_int_equal(ds_kdbg_read(&vas, 0x80545000, NULL, &out, NULL), DS_OK);
    assert_int_equal(out.kern_base, 0x804d7000);
    assert_int_equal(out.ps_active_process_head, 0x804d7000 + 0x2b4560);
    tm_free(m);
}

/* Minimal PE32+ image headers: 2 sections, .text RVA 0x1000 (0x2000),
 * .data RVA 0x3000 (0x4000), SizeOfImage 0x8000. */
static void write_pe_header(tmem *m, uint64_t base)
{
    uint8_t h[0x400] = {0};
    h[0] = 'M';
    h[1] = 'Z';
    uint32_t lfanew = 0x80;
    memcpy(h + 0x3c, &lfanew, 4);
    uint8_t *nt = h + lfanew;
    memcpy(nt, "PE\0\0", 4);
    uint16_t machine = 0x8664, nsec = 2, optsz = 0xf0, magic = 0x20b;
    memcpy(nt + 4, &machine, 2);
    memcpy(nt + 6, &nsec, 2);
    memcpy(nt + 0x14, &optsz, 2);
    memcpy(nt + 0x18, &magic, 2);
    uint32_t soi = 0x8000;
    memcpy(nt + 0x18 + 0x38, &soi, 4);
    uint8_t *sec = nt + 0x18 + optsz;
    const struct { const char *name; uint32_t va, size, chars; } s[2] = {
        {".text", 0x1000, 0x2000, 0x60000020u},
        {".data", 0x3000, 0x4000, 0xc0000040u},
    };
    for (int i = 0; i < 2; i++) {
        uint8_t *e = sec + i * 40;
        memcpy(e, s[i].name, strlen(s[i].name));
        memcpy(e + 8, &s[i].size, 4);
        memcpy(e + 12, &s[i].va, 4);
        memcpy(e + 16, &s[i].size, 4);
        memcpy(e + 36, &s[i].chars, 4);
    }
    vwrite(m, base, h, sizeof(h));
}

static void test_kernel_base_and_tag_search(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    const uint64_t base = 0xfffff80000400000ull;
    /* image pages except RVA 0x2000 (absent from the dump) */
    for (unsigned i = 0; i < 8; i++)
        if (i != 2)
            map_x64(m, pml4, base + i * PAGE, alloc_page(m));
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};
    write_pe_header(m, base);
    /* decoys: an MZ without PE at a page start; a KDBG of another image */
    vwrite(m, base + 0x3000, "MZ\x90\x00garbage", 11);
    kdbg_img k;
    make_kdbg(&k, 0xfffff80000800000ull, KDBG_SIZE);
    vwrite(m, base + 0x3200, &k, sizeof(k));
    /* the real block */
    make_kdbg(&k, base, KDBG_SIZE);
    vwrite(m, base + 0x4100, &k, sizeof(k));

    uint64_t found = 0;
    assert_int_equal(ds_find_kernel_base(&vas, base + 0x4148, 0x100000, &found), DS_OK);
    assert_int_equal(found, base);
    /* not far enough back */
    assert_int_equal(ds_find_kernel_base(&vas, base + 0x4148, 0x1000, &found),
                     DS_ERR_NOT_FOUND);
    /* an image that ends before the hint does not count */
    map_x64(m, pml4, base + 0x9000, alloc_page(m));
    assert_int_equal(ds_find_kernel_base(&vas, base + 0x9010, 0x100000, &found),
                     DS_ERR_NOT_FOUND);

    ds_kdbg out;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_kdbg_find(&vas, base, &out, &eb), DS_OK);
    assert_int_equal(out.va, base + 0x4100);
    assert_false(out.was_encoded);
    assert_int_equal(out.kern_base, base);

    /* not an image */
    assert_int_equal(ds_kdbg_find(&vas, base + 0x1000, &out, &eb), DS_ERR_FORMAT);
    tm_free(m);
}

/* x86-64 encodings used below (hand-assembled). */
static size_t emit_rip(uint8_t *p, const uint8_t *op, size_t oplen, uint64_t at,
                       uint64_t target, size_t tail)
{
    memcpy(p, op, oplen);
    uint64_t next = at + oplen + 4 + tail;
    int32_t rel = (int32_t)(int64_t)(target - next);
    memcpy(p + oplen, &rel, 4);
    return oplen + 4;
}

static void test_kdbg_find_encoded_via_code(void **state)
{
    (void)state;
    tmem *m = tm_new(2u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    const uint64_t base = 0xfffff80000600000ull;
    for (unsigned i = 0; i < 8; i++)
        map_x64(m, pml4, base + i * PAGE, alloc_page(m));
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};
    write_pe_header(m, base);

    const uint64_t never_va = base + 0x3010, always_va = base + 0x3018;
    const uint64_t flag_va = base + 0x3020, block_va = base + 0x4000;
    vwrite64(m, never_va, test_keys.ki_wait_never);
    vwrite64(m, always_va, test_keys.ki_wait_always);
    vwrite64(m, flag_va, 1);
    ds_kdbg_keys keys = test_keys;
    keys.kdp_data_block_encoded = flag_va;
    kdbg_img k;
    make_kdbg(&k, base, KDBG_SIZE);
    ds_kdbg_encode(k.w, KDBG_SIZE / 8, &keys);
    vwrite(m, block_va, &k, sizeof(k));

    uint8_t code[0x2000];
    memset(code, 0xcc, sizeof(code));
    const uint64_t text = base + 0x1000;
    /* decoy: cmp byte ptr [rip+0], 0 ; ret */
    static const uint8_t decoy[] = {0x80, 0x3d, 0, 0, 0, 0, 0, 0xc3};
    memcpy(code + 0x40, decoy, sizeof(decoy));
    /* KdCopyDataBlock shape at .text+0xff0: crosses into the next page */
    const size_t o = 0xff0;
    uint64_t at = text + o;
    static const uint8_t cmp[] = {0x80, 0x3d}, lea_rcx[] = {0x48, 0x8d, 0x0d},
                         mov_rax[] = {0x48, 0x8b, 0x05}, xor_rax[] = {0x48, 0x33, 0x05};
    size_t n = emit_rip(code + o, cmp, 2, at, flag_va, 1);
    code[o + n++] = 0x00;                         /* imm8 0 */
    code[o + n++] = 0x74;                         /* je +0x10 */
    code[o + n++] = 0x10;
    n += emit_rip(code + o + n, lea_rcx, 3, at + n, block_va, 0);
    code[o + n++] = 0x41;                         /* mov r10d, size/8 */
    code[o + n++] = 0xba;
    uint32_t qwords = KDBG_SIZE / 8;
    memcpy(code + o + n, &qwords, 4);
    n += 4;
    n += emit_rip(code + o + n, mov_rax, 3, at + n, never_va, 0);
    n += emit_rip(code + o + n, xor_rax, 3, at + n, always_va, 0);
    code[o + n++] = 0x48;                         /* bswap rax */
    code[o + n++] = 0x0f;
    code[o + n++] = 0xc8;
    code[o + n++] = 0xc3;                         /* ret */
    vwrite(m, text, code, sizeof(code));

    ds_kdbg out;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_kdbg_find(&vas, base, &out, &eb), DS_OK);
    assert_true(out.was_encoded);
    assert_int_equal(out.va, block_va);
    assert_int_equal(out.kern_base, base);
    assert_int_equal(out.ps_active_process_head, base + 0x2b4560);

    /* without the bswap the shape is not KdCopyDataBlock */
    code[o + n - 3] = 0x90;
    code[o + n - 2] = 0x90;
    vwrite(m, text, code, sizeof(code));
    assert_int_equal(ds_kdbg_find(&vas, base, &out, &eb), DS_ERR_NOT_FOUND);
    tm_free(m);
}

/* 96 sections (half executable) that each claim the whole 64 MiB image,
 * nothing mapped but the header: the searches stop at their page budget
 * instead of reading 96 x 64 MiB. */
static void test_kdbg_find_hostile_sections_bounded(void **state)
{
    (void)state;
    tmem *m = tm_new(1u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    const uint64_t base = 0xfffff80000a00000ull;
    map_x64(m, pml4, base, alloc_page(m));
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};

    uint8_t h[PAGE] = {0};
    h[0] = 'M';
    h[1] = 'Z';
    uint32_t lfanew = 0x40, soi = 0x4000000, rva = 0x1000, vsz = 0x3fff000;
    memcpy(h + 0x3c, &lfanew, 4);
    memcpy(h + lfanew, "PE\0\0", 4);
    uint16_t machine = 0x8664, nsec = 96, optsz = 0x40, magic = 0x20b;
    memcpy(h + lfanew + 4, &machine, 2);
    memcpy(h + lfanew + 6, &nsec, 2);
    memcpy(h + lfanew + 0x14, &optsz, 2);
    memcpy(h + lfanew + 0x18, &magic, 2);
    memcpy(h + lfanew + 0x18 + 0x38, &soi, 4);
    for (unsigned i = 0; i < nsec; i++) {
        uint8_t *e = h + lfanew + 0x18 + optsz + i * 40;
        uint32_t chars = (i & 1) ? 0x60000020u : 0xc0000040u;
        memcpy(e + 8, &vsz, 4);
        memcpy(e + 12, &rva, 4);
        memcpy(e + 36, &chars, 4);
    }
    vwrite(m, base, h, sizeof(h));

    ds_kdbg out;
    m->reads = 0;
    assert_int_equal(ds_kdbg_find(&vas, base, &out, NULL), DS_ERR_NOT_FOUND);
    /* two searches x 16384 pages x a few table reads each */
    assert_true(m->reads < 300000);
    assert_true(m->reads > 10000); /* it did search */
    tm_free(m);
}

/* ------------------------------------------------------------------ */
/* Strings                                                             */
/* ------------------------------------------------------------------ */

static void test_kread_cstr(void **state)
{
    (void)state;
    tmem *m = tm_new(1u << 20, 0x10000);
    uint64_t pml4 = alloc_page(m);
    const uint64_t va = 0xfffff80000150000ull;
    map_range_x64(m, pml4, va, 2);
    ds_vas vas = {.mode = DS_PAGING_X64, .dtb = pml4, .read = tm_read, .ctx = m};
    static const char lab[] = "19041.1.amd64fre.vb_release.191206-1406";
    char buf[64];

    /* string crossing a page boundary */
    vwrite(m, va + 0xff0, lab, sizeof(lab));
    assert_int_equal(ds_kread_cstr(&vas, va + 0xff0, buf, sizeof(buf)), DS_OK);
    assert_string_equal(buf, lab);
    /* cap shorter than the string */
    assert_int_equal(ds_kread_cstr(&vas, va + 0xff0, buf, 6), DS_ERR_TRUNCATED);
    assert_string_equal(buf, "19041");
    /* non-printable byte */
    vwrite(m, va + 0x100, "abc\x01xyz", 8);
    assert_int_equal(ds_kread_cstr(&vas, va + 0x100, buf, sizeof(buf)), DS_ERR_CORRUPT);
    /* running into an unmapped page */
    memset(buf, 'x', sizeof(buf));
    vwrite(m, va + 0x1ffc, "abcd", 4);
    assert_int_not_equal(ds_kread_cstr(&vas, va + 0x1ffc, buf, sizeof(buf)), DS_OK);
    assert_true(memchr(buf, 0, sizeof(buf)) != NULL);
    assert_int_equal(ds_kread_cstr(&vas, va, buf, 0), DS_ERR_ARG);
    tm_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lowstub),
        cmocka_unit_test(test_selfref_x64),
        cmocka_unit_test(test_selfref_x64_beyond_16mib),
        cmocka_unit_test(test_selfref_pae),
        cmocka_unit_test(test_selfref_x86),
        cmocka_unit_test(test_kuser_x64),
        cmocka_unit_test(test_kuser_x86_xp),
        cmocka_unit_test(test_kdbg_decode_vector),
        cmocka_unit_test(test_kdbg_round_trip),
        cmocka_unit_test(test_kdbg_read),
        cmocka_unit_test(test_kdbg_read_x86),
        cmocka_unit_test(test_kernel_base_and_tag_search),
        cmocka_unit_test(test_kdbg_find_encoded_via_code),
        cmocka_unit_test(test_kdbg_find_hostile_sections_bounded),
        cmocka_unit_test(test_kread_cstr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
