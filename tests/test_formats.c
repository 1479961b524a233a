/* test_formats.c - ds_dump_open() on hand-built dump files of every format.
 *
 * Each test lays out a file byte by byte in a buffer (header structs from
 * dumpfmt.h, <elf.h> for cores), writes it to a temporary directory, opens
 * it and checks the header facts, the physical map (every stored page
 * holds a pattern naming its pfn, so a wrong file offset cannot pass),
 * truncation accounting, triage contents, and that malformed inputs fail
 * with the right error code and a message instead of crashing.  A small
 * mutation loop at the end feeds corrupted variants of the valid files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <elf.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dump.h"
#include "dumpfmt.h"
#include "triage.h"

#define PG 4096u

static char g_dir[PATH_MAX];

/* ------------------------------------------------------- file helpers */

static int make_dir(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/dsfmtXXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    return rmdir(g_dir);
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(buf, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Write buf as a file, open it, delete the file (the mapping survives). */
static ds_err open_buf(const void *buf, size_t len, unsigned flags, ds_dump **d,
                       ds_errbuf *eb)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/dump.bin", g_dir);
    write_file(path, buf, len);
    ds_dump_opts o = { .file_flags = flags };
    eb->msg[0] = '\0';
    ds_err e = ds_dump_open(d, path, &o, eb);
    unlink(path);
    return e;
}

/* Open must fail with `want`, leave *d NULL and explain itself. */
static void expect_open_error(const void *buf, size_t len, ds_err want, const char *needle)
{
    ds_dump *d = (ds_dump *)0x1;
    ds_errbuf eb;
    ds_err e = open_buf(buf, len, 0, &d, &eb);
    if (e != want)
        fail_msg("expected %s, got %s (%s)", ds_err_name(want), ds_err_name(e), eb.msg);
    assert_null(d);
    assert_true(strlen(eb.msg) > 0);
    if (needle && !strstr(eb.msg, needle))
        fail_msg("message '%s' lacks '%s'", eb.msg, needle);
}

/* -------------------------------------------------------- page pattern */

static void fill_page(uint8_t *p, uint64_t pfn)
{
    for (uint64_t i = 0; i < PG / 8; i++) {
        uint64_t v = 0xd5d5000000000000ull | pfn << 16 | i;
        memcpy(p + i * 8, &v, 8);
    }
}

static void check_page(const ds_dump *d, uint64_t pfn)
{
    uint8_t got[PG], want[PG];
    fill_page(want, pfn);
    ds_err e = ds_phys_read(d, pfn * PG, got, PG);
    if (e != DS_OK)
        fail_msg("pfn 0x%llx: %s", (unsigned long long)pfn, ds_err_name(e));
    assert_memory_equal(got, want, PG);
    /* an unaligned small read inside the page */
    uint32_t w;
    assert_int_equal(ds_phys_read(d, pfn * PG + 0x7f4, &w, 4), DS_OK);
    assert_memory_equal(&w, want + 0x7f4, 4);
}

static void check_absent(const ds_dump *d, uint64_t pfn)
{
    uint8_t b;
    assert_int_equal(ds_phys_read(d, pfn * PG + 5, &b, 1), DS_ERR_NOT_PRESENT);
    assert_null(ds_phys_page(d, pfn));
}

/* ---------------------------------------------------- 64-bit headers */

#define T_SYSTIME 0x01da835ab4cf8a49ll
#define T_UPTIME 25873845877ll
#define T_KDBG 0xfffff80057600b20ull
#define T_MODS 0xfffff8005762a730ull
#define T_PROCS 0xfffff8005761e0e0ull

static void fill_page_pattern(void *p, size_t n)
{
    for (size_t i = 0; i + 4 <= n; i += 4)
        memcpy((uint8_t *)p + i, "PAGE", 4);
}

/* DUMP_HEADER64 as Windows writes it: "PAGE" fill, then the fields. */
static void put_hdr64(uint8_t *buf, uint32_t dump_type, uint64_t rds)
{
    ds_dump_header64 h;
    fill_page_pattern(&h, sizeof(h));
    h.Signature = DS_SIG_PAGE;
    h.ValidDump = DS_SIG_DU64;
    h.MajorVersion = 0xf;
    h.MinorVersion = 19041;
    h.DirectoryTableBase = 0x1ad000;
    h.PfnDataBase = 0xffffe30000000000ull;
    h.PsLoadedModuleList = T_MODS;
    h.PsActiveProcessHead = T_PROCS;
    h.MachineImageType = DS_MACHINE_AMD64;
    h.NumberProcessors = 24;
    h.BugCheckCode = 0x133;
    h.BugCheckCodePad = 0;
    h.BugCheckParameter[0] = 1;
    h.BugCheckParameter[1] = 0x1e00;
    h.BugCheckParameter[2] = 0xfffff800576fb320ull;
    h.BugCheckParameter[3] = 0;
    h.KdDebuggerDataBlock = T_KDBG;
    memset(&h.PhysicalMemoryBlock, 0, sizeof(h.PhysicalMemoryBlock));
    h.DumpType = dump_type;
    h.RequiredDumpSpace = (int64_t)rds;
    h.SystemTime = T_SYSTIME;
    h.SystemUpTime = T_UPTIME;
    memset(h.Comment, 0, sizeof(h.Comment));
    strcpy(h.Comment, "synthetic dump");
    h.ProductType = 1;
    h.SuiteMask = 0x110;
    memcpy(buf, &h, sizeof(h));
}

static ds_dump_header64 *hdr64(uint8_t *buf)
{
    return (ds_dump_header64 *)(void *)buf;
}

static void check_hdr64_facts(const ds_dump *d)
{
    assert_int_equal(d->format, DS_FMT_CRASH64);
    assert_string_equal(d->format_name, "PAGEDU64");
    assert_int_equal(d->arch, DS_ARCH_X64);
    assert_string_equal(ds_arch_name(d->arch), "x64");
    assert_int_equal(d->machine, DS_MACHINE_AMD64);
    assert_int_equal(d->major_version, 0xf);
    assert_int_equal(d->build, 19041);
    assert_int_equal(d->build_source, DS_SRC_HEADER);
    assert_int_equal(d->processors, 24);
    assert_int_equal(d->dtb, 0x1ad000);
    assert_int_equal(d->dtb_source, DS_SRC_HEADER);
    assert_int_equal(d->pfn_database, 0xffffe30000000000ull);
    assert_int_equal(d->ps_loaded_module_list, T_MODS);
    assert_int_equal(d->ps_active_process_head, T_PROCS);
    assert_int_equal(d->list_head_source, DS_SRC_HEADER);
    assert_true(d->has_bugcheck);
    assert_int_equal(d->bugcheck_code, 0x133);
    assert_int_equal(d->bugcheck_params[1], 0x1e00);
    assert_int_equal(d->bugcheck_params[2], 0xfffff800576fb320ull);
    assert_int_equal(d->system_time, T_SYSTIME);
    assert_int_equal(d->uptime_100ns, T_UPTIME);
    assert_int_equal(d->product_type, 1);
    assert_int_equal(d->suite_mask, 0x110);
    assert_string_equal(d->comment, "synthetic dump");
}

/* ---------------------------------------------------------- full64 */

static const struct { uint64_t base, count; } full_runs[] = {
    { 1, 2 }, { 5, 3 }, { 0x100, 1 },
};
#define FULL_PAGES 6

static uint8_t *build_full64(size_t *len)
{
    size_t n = 0x2000 + FULL_PAGES * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr64(b, DS_DT_FULL, n);
    ds_phys_desc64 *pmb = &hdr64(b)->PhysicalMemoryBlock;
    pmb->NumberOfRuns = 3;
    pmb->NumberOfPages = FULL_PAGES;
    size_t off = 0x2000;
    for (int r = 0; r < 3; r++) {
        pmb->Run[r].BasePage = full_runs[r].base;
        pmb->Run[r].PageCount = full_runs[r].count;
        for (uint64_t k = 0; k < full_runs[r].count; k++, off += PG)
            fill_page(b + off, full_runs[r].base + k);
    }
    *len = n;
    return b;
}

static void test_full64(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_full64(&len);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
    check_hdr64_facts(d);
    assert_int_equal(d->dump_type, 1);
    assert_string_equal(d->dump_type_name, "full");
    assert_int_equal(d->kdbg_va, T_KDBG);
    assert_int_equal(d->required_dump_space, len);
    assert_int_equal(d->pages_expected, FULL_PAGES);
    assert_int_equal(d->pages_present, FULL_PAGES);
    assert_int_equal(d->pages_missing, 0);
    assert_false(d->truncated);
    assert_int_equal(d->pm.kind, DS_PM_RUNS);
    assert_int_equal(d->kvas.mode, DS_PAGING_X64);
    for (int r = 0; r < 3; r++)
        for (uint64_t k = 0; k < full_runs[r].count; k++)
            check_page(d, full_runs[r].base + k);
    uint64_t absent[] = { 0, 3, 4, 8, 0xff, 0x101, 1ull << 40 };
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        check_absent(d, absent[i]);
    /* page pointer equals file content; reads across contiguous pages */
    const uint8_t *p = ds_phys_page(d, 6);
    assert_non_null(p);
    uint8_t want[PG];
    fill_page(want, 6);
    assert_memory_equal(p, want, PG);
    uint8_t two[16];
    assert_int_equal(ds_phys_read(d, 2 * PG - 8, two, 16), DS_OK); /* pfn 1 -> 2 */
    uint64_t lo, hi;
    memcpy(&lo, two, 8);
    memcpy(&hi, two + 8, 8);
    assert_int_equal(lo, 0xd5d5000000000000ull | 1ull << 16 | 511);
    assert_int_equal(hi, 0xd5d5000000000000ull | 2ull << 16 | 0);
    assert_int_equal(ds_phys_read(d, 3 * PG - 8, two, 16), DS_ERR_NOT_PRESENT); /* 2 -> 3 */
    assert_int_equal(ds_phys_read(d, UINT64_MAX - 3, two, 8), DS_ERR_RANGE);
    /* the callback adapter reads the same bytes */
    assert_int_equal(ds_dump_phys_read_cb(d, 5 * PG, two, 8), DS_OK);
    memcpy(&lo, two, 8);
    assert_int_equal(lo, 0xd5d5000000000000ull | 5ull << 16);
    ds_dump_close(d);
    free(b);
}

static void test_full64_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_full64(&len);
    /* cut in the middle of the 5th stored page (pfn 7): pfn 7 and 0x100 lost */
    size_t cut = 0x2000 + 4 * PG + 0x800;
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, cut, 0, &d, &eb), DS_OK);
    assert_true(d->truncated);
    assert_int_equal(d->pages_expected, FULL_PAGES);
    assert_int_equal(d->pages_missing, 2);
    assert_int_equal(d->pages_present, FULL_PAGES - 2);
    check_page(d, 6);
    uint8_t x[16];
    assert_int_equal(ds_phys_read(d, 7 * PG, x, 1), DS_ERR_TRUNCATED);
    assert_int_equal(ds_phys_read(d, 0x100 * PG, x, 16), DS_ERR_TRUNCATED);
    assert_int_equal(ds_phys_read(d, 7 * PG - 8, x, 16), DS_ERR_TRUNCATED);
    assert_null(ds_phys_page(d, 7));
    assert_non_null(strstr(d->notes, "RequiredDumpSpace"));
    char want[64];
    snprintf(want, sizeof(want), "2 of %u pages lie past end of file", (unsigned)FULL_PAGES);
    assert_non_null(strstr(d->notes, want));
    ds_dump_close(d);

    /* cut right after the header: opens, nothing readable */
    assert_int_equal(open_buf(b, 0x2000, 0, &d, &eb), DS_OK);
    assert_true(d->truncated);
    assert_int_equal(d->pages_present, 0);
    assert_int_equal(d->pages_missing, FULL_PAGES);
    assert_int_equal(ds_phys_read(d, PG, x, 1), DS_ERR_TRUNCATED);
    ds_dump_close(d);
    free(b);
}

static void test_full64_bad_runs(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_full64(&len);
    ds_phys_desc64 *pmb = &hdr64(b)->PhysicalMemoryBlock;

    pmb->NumberOfRuns = 100000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "NumberOfRuns");
    pmb->NumberOfRuns = 3;

    /* run 1 claims far more pages than the file or RequiredDumpSpace hold */
    pmb->Run[1].PageCount = 0x100000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "Run[1]");
    pmb->Run[1].PageCount = 3;

    pmb->Run[2].BasePage = 1ull << 50;
    expect_open_error(b, len, DS_ERR_CORRUPT, "Run[2]");
    pmb->Run[2].BasePage = 0x100;

    pmb->Run[1].BasePage = 2; /* overlaps run 0 (pfn 1..2) */
    expect_open_error(b, len, DS_ERR_CORRUPT, "overlap");
    pmb->Run[1].BasePage = 5;

    hdr64(b)->DumpType = 0x77;
    expect_open_error(b, len, DS_ERR_UNSUPPORTED, "DumpType");
    free(b);
}

/* ------------------------------------------------------------ bitmap */

static const uint64_t bmp_pfns[] = { 0, 1, 2, 7, 64, 65, 99 };
#define BMP_N 7
#define BMP_BITS 100
#define BMP_FIRST 0x3000u

static uint8_t *build_bmp(bool is64, uint32_t sig, uint32_t dump_type, size_t *len)
{
    uint32_t hoff = is64 ? 0x2000 : 0x1000;
    size_t n = BMP_FIRST + BMP_N * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    if (is64)
        put_hdr64(b, dump_type, n);
    ds_bmp_header bh = { .Signature = sig, .ValidDump = DS_SIG_DUMP, .FirstPage = BMP_FIRST,
                         .TotalPresentPages = BMP_N, .Pages = BMP_BITS };
    memcpy(b + hoff, &bh, sizeof(bh));
    uint8_t *bits = b + hoff + sizeof(bh);
    for (int i = 0; i < BMP_N; i++) {
        bits[bmp_pfns[i] / 8] |= (uint8_t)(1u << (bmp_pfns[i] % 8));
        fill_page(b + BMP_FIRST + i * PG, bmp_pfns[i]);
    }
    bits[101 / 8] |= 1u << (101 % 8); /* garbage past Pages: must be ignored */
    *len = n;
    return b;
}

static void check_bmp_pages(const ds_dump *d)
{
    assert_int_equal(d->pm.kind, DS_PM_BITMAP);
    assert_int_equal(d->pages_present, BMP_N);
    for (int i = 0; i < BMP_N; i++)
        check_page(d, bmp_pfns[i]);
    uint64_t absent[] = { 3, 6, 8, 63, 66, 98, 100, 101, 5000 };
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        check_absent(d, absent[i]);
}

static void test_bitmap64_types(void **state)
{
    (void)state;
    const struct { uint32_t sig, type; const char *name; } v[] = {
        { DS_SIG_SDMP, 5, "bitmap_kernel" },
        { DS_SIG_FDMP, 5, "bitmap_full" },
        { DS_SIG_SDMP, 6, "bitmap_kernel_live" },
        { DS_SIG_FDMP, 7, "automatic" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len;
        uint8_t *b = build_bmp(true, v[i].sig, v[i].type, &len);
        ds_dump *d = NULL;
        ds_errbuf eb;
        assert_int_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
        check_hdr64_facts(d);
        assert_int_equal(d->dump_type, v[i].type);
        assert_string_equal(d->dump_type_name, v[i].name);
        assert_false(d->truncated);
        check_bmp_pages(d);
        assert_non_null(ds_phys_page(d, 65));
        ds_dump_close(d);
        free(b);
    }
}

static void test_bitmap64_no_mmap_copy(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_bmp(true, DS_SIG_FDMP, 5, &len);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, len, DS_FILE_NO_MMAP, &d, &eb), DS_OK);
    assert_non_null(d->owned_bitmap); /* nothing to borrow without a mapping */
    check_bmp_pages(d);
    assert_null(ds_phys_page(d, 0));  /* no mapping, no pointer */
    ds_dump_close(d);
    free(b);
}

static void test_bitmap64_truncated(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_bmp(true, DS_SIG_SDMP, 5, &len);
    ds_dump *d = NULL;
    ds_errbuf eb;
    /* keep 4 whole pages and a bit of the 5th: pfns 64, 65, 99 missing */
    assert_int_equal(open_buf(b, BMP_FIRST + 4 * PG + 100, 0, &d, &eb), DS_OK);
    assert_true(d->truncated);
    assert_int_equal(d->pages_expected, BMP_N);
    assert_int_equal(d->pages_missing, 3);
    assert_int_equal(d->pages_present, 4);
    assert_non_null(strstr(d->notes, "3 of "));
    assert_non_null(strstr(d->notes, "pages lie past end of file"));
    check_page(d, 7);
    uint8_t x;
    assert_int_equal(ds_phys_read(d, 64 * PG, &x, 1), DS_ERR_TRUNCATED);
    assert_int_equal(ds_phys_read(d, 99 * PG, &x, 1), DS_ERR_TRUNCATED);
    ds_dump_close(d);
    free(b);
}

static void test_bitmap_bad(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_bmp(true, DS_SIG_SDMP, 5, &len);
    ds_bmp_header *bh = (ds_bmp_header *)(void *)(b + 0x2000);

    bh->FirstPage = len + 0x10000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "FirstPage");
    bh->FirstPage = 0x2010; /* inside the header/bitmap */
    expect_open_error(b, len, DS_ERR_CORRUPT, "FirstPage");
    bh->FirstPage = BMP_FIRST;

    bh->Pages = 1ull << 41;
    expect_open_error(b, len, DS_ERR_CORRUPT, "Pages");
    bh->Pages = 1ull << 30; /* a 128 MiB bitmap in a 40 KiB file */
    expect_open_error(b, len, DS_ERR_TRUNCATED, "bitmap");
    bh->Pages = BMP_BITS;

    bh->Signature = 0x41414141;
    expect_open_error(b, len, DS_ERR_CORRUPT, "SDMP");
    bh->Signature = DS_SIG_SDMP;

    expect_open_error(b, 0x2010, DS_ERR_TRUNCATED, "bitmap header"); /* cut in the BMP header */
    free(b);
}

/* -------------------------------------------------------------- RDMP */

static const uint64_t rdmp_pfns[] = { 3, 4, 150, 199 };
#define RDMP_N 4
#define RDMP_FIRST 0x3000u

static uint8_t *build_rdmp(uint32_t dump_type, size_t *len)
{
    size_t n = RDMP_FIRST + RDMP_N * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr64(b, dump_type, n);
    ds_phys_desc64 *pmb = &hdr64(b)->PhysicalMemoryBlock;
    pmb->NumberOfRuns = 1;
    pmb->NumberOfPages = 200;
    pmb->Run[0].BasePage = 0;
    pmb->Run[0].PageCount = 200;
    ds_rdmp_full rh = { .Hdr = { .Marker = DS_RDMP_MARKER, .Signature = DS_SIG_RDMP,
                                 .ValidDump = DS_SIG_DUMP,
                                 .MetadataSize = RDMP_FIRST - 0x2020,
                                 .FirstPageOffset = RDMP_FIRST } };
    /* ranges {3,2} {150,1} {199,1}, then a pfn-0 terminator and junk after
     * it that must be ignored */
    static const uint64_t ranges[][2] = { {3, 2}, {150, 1}, {199, 1}, {0, 0}, {300, 1} };
    if (dump_type == DS_DT_RDMP_COMPLETE) {
        rh.NumberOfRanges = 5;
        rh.TotalNumberOfPages = RDMP_N;
    }
    memcpy(b + 0x2000, &rh, sizeof(rh));
    memcpy(b + 0x2030, ranges, sizeof(ranges));
    for (int i = 0; i < RDMP_N; i++)
        fill_page(b + RDMP_FIRST + i * PG, rdmp_pfns[i]);
    *len = n;
    return b;
}

static void test_rdmp(void **state)
{
    (void)state;
    const struct { uint32_t type; const char *name; } v[] = {
        { DS_DT_RDMP_KERNEL, "rdmp_kernel" },
        { DS_DT_RDMP_KERNEL_USER, "rdmp_kernel_user" },
        { DS_DT_RDMP_COMPLETE, "rdmp_complete" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len;
        uint8_t *b = build_rdmp(v[i].type, &len);
        ds_dump *d = NULL;
        ds_errbuf eb;
        assert_int_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
        check_hdr64_facts(d);
        assert_string_equal(d->dump_type_name, v[i].name);
        assert_int_equal(d->pages_present, RDMP_N);
        assert_false(d->truncated);
        for (int k = 0; k < RDMP_N; k++)
            check_page(d, rdmp_pfns[k]);
        check_absent(d, 0);
        check_absent(d, 5);
        check_absent(d, 198);
        check_absent(d, 300);
        assert_null(strstr(d->notes, "TotalNumberOfPages"));
        ds_dump_close(d);
        free(b);
    }
}

static void test_rdmp_bad(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_rdmp(DS_DT_RDMP_COMPLETE, &len);
    ds_rdmp_header *rh = (ds_rdmp_header *)(void *)(b + 0x2000);
    rh->MetadataSize += 0x1000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "MetadataSize");
    rh->MetadataSize = 0x100000 - 0x2020;
    rh->FirstPageOffset = 0x100000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "FirstPageOffset");
    rh->MetadataSize = RDMP_FIRST - 0x2020;
    rh->FirstPageOffset = RDMP_FIRST;
    rh->Signature = 0;
    expect_open_error(b, len, DS_ERR_CORRUPT, "RDMP");
    free(b);
}

/* ---------------------------------------------------------- PAGEDUMP */

static void put_hdr32(uint8_t *buf, uint32_t dump_type, bool pae, uint64_t rds)
{
    ds_dump_header32 h;
    fill_page_pattern(&h, sizeof(h));
    h.Signature = DS_SIG_PAGE;
    h.ValidDump = DS_SIG_DUMP;
    h.MajorVersion = 0xf;
    h.MinorVersion = 7601;
    h.DirectoryTableBase = 0x185000;
    h.PfnDataBase = 0x84c00000;
    h.PsLoadedModuleList = 0x82d84850;
    h.PsActiveProcessHead = 0x82d7ef18;
    h.MachineImageType = DS_MACHINE_I386;
    h.NumberProcessors = 2;
    h.BugCheckCode = 0xe2;
    h.BugCheckParameter[0] = 0;
    h.BugCheckParameter[1] = 0x11;
    h.BugCheckParameter[2] = 0x22;
    h.BugCheckParameter[3] = 0x33;
    h.PaeEnabled = pae;
    h.KdSecondaryVersion = 0;
    h.KdDebuggerDataBlock = 0x82d6bc28;
    memset(&h.PhysicalMemoryBlock, 0, sizeof(h.PhysicalMemoryBlock));
    memset(h.Comment, 0, sizeof(h.Comment));
    h.DumpType = dump_type;
    h.ProductType = 1;
    h.SuiteMask = 0x100;
    h.RequiredDumpSpace = (int64_t)rds;
    h.SystemUpTime = 12345678;
    h.SystemTime = T_SYSTIME;
    memcpy(buf, &h, sizeof(h));
}

static void check_hdr32_facts(const ds_dump *d)
{
    assert_int_equal(d->format, DS_FMT_CRASH32);
    assert_string_equal(d->format_name, "PAGEDUMP");
    assert_int_equal(d->build, 7601);
    assert_int_equal(d->dtb, 0x185000);
    assert_int_equal(d->processors, 2);
    assert_int_equal(d->ps_loaded_module_list, 0x82d84850);
    assert_int_equal(d->ps_active_process_head, 0x82d7ef18);
    assert_int_equal(d->kdbg_va, 0x82d6bc28);
    assert_int_equal(d->bugcheck_code, 0xe2);
    assert_int_equal(d->bugcheck_params[3], 0x33);
    assert_int_equal(d->system_time, T_SYSTIME);
    assert_int_equal(d->uptime_100ns, 12345678);
    assert_string_equal(d->comment, "");
}

static void test_pagedump32_full_pae(void **state)
{
    (void)state;
    size_t n = 0x1000 + 4 * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr32(b, DS_DT_FULL, true, n);
    ds_dump_header32 *h = (ds_dump_header32 *)(void *)b;
    h->PhysicalMemoryBlock.NumberOfRuns = 2;
    h->PhysicalMemoryBlock.NumberOfPages = 4;
    h->PhysicalMemoryBlock.Run[0] = (ds_phys_run32){ 0, 2 };
    h->PhysicalMemoryBlock.Run[1] = (ds_phys_run32){ 4, 2 };
    const uint64_t pfns[] = { 0, 1, 4, 5 };
    for (int i = 0; i < 4; i++)
        fill_page(b + 0x1000 + i * PG, pfns[i]);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    check_hdr32_facts(d);
    assert_int_equal(d->arch, DS_ARCH_X86_PAE);
    assert_string_equal(ds_arch_name(d->arch), "x86_pae");
    assert_int_equal(d->kvas.mode, DS_PAGING_PAE);
    assert_string_equal(d->dump_type_name, "full");
    assert_int_equal(d->pages_present, 4);
    for (int i = 0; i < 4; i++)
        check_page(d, pfns[i]);
    check_absent(d, 2);
    check_absent(d, 6);
    ds_dump_close(d);

    h->PhysicalMemoryBlock.NumberOfRuns = 87;
    expect_open_error(b, n, DS_ERR_CORRUPT, "NumberOfRuns");
    expect_open_error(b, 0x800, DS_ERR_TRUNCATED, "DUMP_HEADER32");
    free(b);
}

static void test_pagedump32_bitmap(void **state)
{
    (void)state;
    const uint64_t pfns[] = { 2, 3, 40 };
    size_t n = 0x2000 + 3 * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr32(b, DS_DT_BITMAP_FULL, false, n);
    ds_bmp_header bh = { .Signature = DS_SIG_FDMP, .ValidDump = DS_SIG_DUMP,
                         .FirstPage = 0x2000, .TotalPresentPages = 3, .Pages = 64 };
    memcpy(b + 0x1000, &bh, sizeof(bh));
    for (int i = 0; i < 3; i++) {
        b[0x1038 + pfns[i] / 8] |= (uint8_t)(1u << (pfns[i] % 8));
        fill_page(b + 0x2000 + i * PG, pfns[i]);
    }
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    check_hdr32_facts(d);
    assert_int_equal(d->arch, DS_ARCH_X86);
    assert_int_equal(d->kvas.mode, DS_PAGING_X86);
    assert_string_equal(d->dump_type_name, "bitmap_full");
    for (int i = 0; i < 3; i++)
        check_page(d, pfns[i]);
    check_absent(d, 4);
    check_absent(d, 41);
    ds_dump_close(d);
    free(b);
}

/* --------------------------------------------------------------- ELF */

/* Two PT_LOADs stored in the opposite order of their physical addresses,
 * plus a PT_NOTE that must be ignored. */
static uint8_t *build_elf64(bool zero_paddr, size_t *len)
{
    size_t n = 0x6000;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    Elf64_Ehdr eh = { 0 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_X86_64;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(eh);
    eh.e_ehsize = sizeof(eh);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = 3;
    memcpy(b, &eh, sizeof(eh));
    Elf64_Phdr ph[3] = {
        { .p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = 0x20 },
        { .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x100000,
          .p_vaddr = 0x100000, .p_filesz = 3 * PG, .p_memsz = 3 * PG },
        { .p_type = PT_LOAD, .p_offset = 0x4000, .p_paddr = 0, .p_vaddr = 0,
          .p_filesz = 2 * PG, .p_memsz = 2 * PG },
    };
    if (zero_paddr)
        ph[1].p_paddr = 0;
    memcpy(b + sizeof(eh), ph, sizeof(ph));
    for (int i = 0; i < 3; i++)
        fill_page(b + 0x1000 + i * PG, 0x100 + i);
    for (int i = 0; i < 2; i++)
        fill_page(b + 0x4000 + i * PG, i);
    *len = n;
    return b;
}

static void check_elf_pages(const ds_dump *d)
{
    assert_int_equal(d->pages_present, 5);
    check_page(d, 0);
    check_page(d, 1);
    check_page(d, 0x100);
    check_page(d, 0x102);
    check_absent(d, 2);
    check_absent(d, 0xff);
    check_absent(d, 0x103);
}

static void test_elf64_core(void **state)
{
    (void)state;
    for (int zero = 0; zero < 2; zero++) {
        size_t len;
        uint8_t *b = build_elf64(zero, &len);
        ds_dump *d = NULL;
        ds_errbuf eb;
        assert_int_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
        assert_int_equal(d->format, DS_FMT_ELF);
        assert_string_equal(d->format_name, "elf");
        assert_string_equal(d->dump_type_name, "elf_core");
        assert_int_equal(d->arch, DS_ARCH_X64);
        assert_false(d->has_bugcheck);
        assert_int_equal(d->uptime_100ns, -1);
        check_elf_pages(d);
        if (zero)
            assert_non_null(strstr(d->notes, "p_vaddr"));
        ds_dump_close(d);

        /* truncated in the second segment */
        assert_int_equal(open_buf(b, 0x5000, 0, &d, &eb), DS_OK);
        assert_true(d->truncated);
        assert_int_equal(d->pages_missing, 1);
        uint8_t x;
        assert_int_equal(ds_phys_read(d, 1 * PG, &x, 1), DS_ERR_TRUNCATED);
        check_page(d, 0);
        ds_dump_close(d);
        free(b);
    }
}

static void test_elf32_core(void **state)
{
    (void)state;
    size_t n = 0x3000;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    Elf32_Ehdr eh = { 0 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_type = ET_CORE;
    eh.e_machine = EM_386;
    eh.e_phoff = sizeof(eh);
    eh.e_phentsize = sizeof(Elf32_Phdr);
    eh.e_phnum = 1;
    memcpy(b, &eh, sizeof(eh));
    Elf32_Phdr ph = { .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x7000,
                      .p_filesz = 2 * PG, .p_memsz = 2 * PG };
    memcpy(b + sizeof(eh), &ph, sizeof(ph));
    fill_page(b + 0x1000, 7);
    fill_page(b + 0x2000, 8);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    assert_int_equal(d->format, DS_FMT_ELF);
    assert_int_equal(d->arch == DS_ARCH_X86 || d->arch == DS_ARCH_X86_PAE, true);
    check_page(d, 7);
    check_page(d, 8);
    check_absent(d, 6);
    ds_dump_close(d);
    free(b);
}

static void test_elf_bad(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_elf64(false, &len);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)(void *)b;
    eh->e_phoff = 0x100000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "e_phoff");
    eh->e_phoff = sizeof(*eh);
    eh->e_phnum = 60000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "e_phnum");
    eh->e_phnum = 3;
    eh->e_type = ET_EXEC;
    expect_open_error(b, len, DS_ERR_FORMAT, "core");
    eh->e_type = ET_CORE;
    eh->e_phentsize = 12;
    expect_open_error(b, len, DS_ERR_CORRUPT, "e_phentsize");
    eh->e_phentsize = sizeof(Elf64_Phdr);
    /* overlapping segments */
    Elf64_Phdr *ph = (Elf64_Phdr *)(void *)(b + sizeof(*eh));
    ph[2].p_paddr = 0x101000;
    expect_open_error(b, len, DS_ERR_CORRUPT, "overlap");
    expect_open_error(b, 20, DS_ERR_TRUNCATED, "ELF");
    free(b);
}

/* ----------------------------------------------------------- summary */

/* A bitmap dump whose header uses the DumpType 2 layout (SUMMARY_DUMP32/64:
 * 32-bit HeaderSize/BitmapSize/Pages at 0xc/0x10/0x14, bitmap at 0x20 or,
 * for 64-bit dumps, 0x28) or the BITMAP_DUMP layout of DumpType 5+. */
static uint8_t *build_summary(bool is64, uint32_t dump_type, bool summary_layout, size_t *len)
{
    uint32_t hoff = is64 ? 0x2000 : 0x1000;
    size_t n = BMP_FIRST + BMP_N * PG;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    if (is64)
        put_hdr64(b, dump_type, n);
    else
        put_hdr32(b, dump_type, true, n);
    uint8_t *bits;
    if (summary_layout) {
        ds_summary_header sh = {.Signature = DS_SIG_SDMP, .ValidDump = DS_SIG_DUMP,
                                .HeaderSize = BMP_FIRST, .BitmapSize = BMP_BITS,
                                .Pages = BMP_N, .SizeOfBitMap = BMP_BITS};
        memcpy(b + hoff, &sh, sizeof(sh));
        bits = b + hoff + (is64 ? DS_SUMMARY64_BITS_OFF : DS_SUMMARY32_BITS_OFF);
    } else {
        ds_bmp_header bh = {.Signature = DS_SIG_SDMP, .ValidDump = DS_SIG_DUMP,
                            .FirstPage = BMP_FIRST, .TotalPresentPages = BMP_N,
                            .Pages = BMP_BITS};
        memcpy(b + hoff, &bh, sizeof(bh));
        bits = b + hoff + sizeof(bh);
    }
    for (int i = 0; i < BMP_N; i++) {
        bits[bmp_pfns[i] / 8] |= (uint8_t)(1u << (bmp_pfns[i] % 8));
        fill_page(b + BMP_FIRST + i * PG, bmp_pfns[i]);
    }
    *len = n;
    return b;
}

/* Summary dumps (DumpType 2: XP..7 kernel dumps) are bitmap dumps with
 * the old header; each architecture with each layout, and DumpType 5 with
 * the old layout too (accepted, with a note). */
static void test_summary_bitmaps(void **state)
{
    (void)state;
    const struct { bool is64; uint32_t type; bool summary_layout; bool noted; } v[] = {
        {true, DS_DT_SUMMARY, true, false},
        {false, DS_DT_SUMMARY, true, false},
        {false, DS_DT_BITMAP_FULL, false, false},
        {false, DS_DT_BITMAP_FULL, true, true},
        {true, DS_DT_BITMAP_FULL, true, true},
        {true, DS_DT_SUMMARY, false, true},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t len;
        uint8_t *b = build_summary(v[i].is64, v[i].type, v[i].summary_layout, &len);
        ds_dump *d = NULL;
        ds_errbuf eb = {{0}};
        ds_err e = open_buf(b, len, 0, &d, &eb);
        if (e != DS_OK)
            print_error("case %zu: %s\n", i, eb.msg);
        assert_int_equal(e, DS_OK);
        check_bmp_pages(d);
        assert_false(d->truncated);
        assert_int_equal(strstr(d->notes, "header layout") != NULL, v[i].noted);
        assert_null(strstr(d->notes, "TotalPresentPages"));
        ds_dump_close(d);
        /* a bitmap that claims more bits than the file holds is refused */
        uint32_t hoff = v[i].is64 ? 0x2000 : 0x1000;
        if (v[i].summary_layout)
            ((ds_summary_header *)(void *)(b + hoff))->BitmapSize = 0x7fffffff;
        else
            ((ds_bmp_header *)(void *)(b + hoff))->Pages = 1ull << 33;
        assert_int_not_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
        free(b);
    }
}

static void test_rdmp_no_ranges(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_rdmp(DS_DT_RDMP_COMPLETE, &len);
    memset(b + 0x2030, 0, 16); /* the first range is the terminator */
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, len, 0, &d, &eb), DS_OK);
    assert_int_equal(d->pages_present, 0);
    assert_non_null(strstr(d->notes, "no memory ranges"));
    ds_dump_close(d);
    free(b);
}

static void test_summary(void **state)
{
    (void)state;
    size_t n = 0x2000 + 0x800;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr64(b, DS_DT_SUMMARY, n);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    check_hdr64_facts(d);
    assert_string_equal(d->dump_type_name, "summary");
    assert_int_equal(d->pages_present, 0);
    assert_int_equal(d->pm.kind, DS_PM_NONE);
    assert_non_null(strstr(d->notes, "summary"));
    assert_false(d->truncated);
    uint8_t x;
    assert_int_equal(ds_phys_read(d, 0, &x, 1), DS_ERR_NOT_PRESENT);
    ds_dump_close(d);
    free(b);
}

/* ------------------------------------------------------------ triage */

enum {
    TR_PROC = 0x3000, TR_THREAD = 0x4000, TR_STACK = 0x5000, TR_DRIVERS = 0x5200,
    TR_POOL = 0x5400, TR_KDBG = 0x5800, TR_BLOCKS = 0x5c00, TR_DATA = 0x6000,
    TR_SIZE = 0x6300,
};
#define TR_KERNBASE 0xfffff80056a00000ull
#define TR_CID 0xfffff800576fc5c8ull
#define TR_LAB_VA 0xfffff80000300010ull
#define TR_VA1 0xffff800000001000ull
static const char *const tr_names_utf8[] = { "ntoskrnl.exe", "hal.dll", "caf\xc3\xa9\xf0\x9f\x98\x80.sys" };
static const uint16_t tr_name2[] = { 'c', 'a', 'f', 0xe9, 0xd83d, 0xde00, '.', 's', 'y', 's' };
static const uint64_t tr_bases[] = { TR_KERNBASE, 0xfffff800561d0000ull, 0xfffff8005b950000ull };
static const uint32_t tr_sizes[] = { 0x1046000, 0x6000, 0x63000 };

static size_t put_dump_string(uint8_t *b, size_t off, const uint16_t *u, uint32_t n)
{
    memcpy(b + off, &n, 4);
    memcpy(b + off + 4, u, n * 2);
    return off + 4 + (n + 1) * 2;
}

static size_t put_ascii_string(uint8_t *b, size_t off, const char *s)
{
    uint16_t u[64];
    uint32_t n = (uint32_t)strlen(s);
    for (uint32_t i = 0; i < n; i++)
        u[i] = (uint8_t)s[i];
    return put_dump_string(b, off, u, n);
}

static void put_u64(uint8_t *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, 8);
}

static uint8_t *build_triage(const ds_profile *prof)
{
    uint8_t *b = calloc(1, TR_SIZE);
    assert_non_null(b);
    /* Windows wrote less than it planned: RequiredDumpSpace > file size */
    put_hdr64(b, DS_DT_TRIAGE, TR_SIZE + 0x100000);
    ds_triage_dump64 t = {
        .SizeOfDump = TR_SIZE, .ProcessOffset = TR_PROC, .ThreadOffset = TR_THREAD,
        .CallStackOffset = TR_STACK, .SizeOfCallStack = 0x100,
        .DriverListOffset = TR_DRIVERS, .DriverCount = 3, .StringPoolOffset = TR_POOL,
        .StringPoolSize = 0x200, .DebuggerDataOffset = TR_KDBG, .DebuggerDataSize = 0x380,
        .DataBlocksOffset = TR_BLOCKS, .DataBlocksCount = 3,
    };
    memcpy(b + 0x2000, &t, sizeof(t));

    b[TR_PROC] = 3;   /* DISPATCHER_HEADER.Type: process */
    b[TR_THREAD] = 6; /* thread */
    if (prof) {
        put_u64(b, TR_PROC + prof->ep_pid, 7680);
        put_u64(b, TR_PROC + prof->ep_ppid, 3460);
        memcpy(b + TR_PROC + prof->ep_name, "UIEngine.exe", 12);
        put_u64(b, TR_THREAD + prof->et_cid_pid, 7680);
        put_u64(b, TR_THREAD + prof->et_cid_tid, 15620);
    }

    size_t pool = TR_POOL;
    for (int i = 0; i < 3; i++) {
        ds_dump_driver_entry64 e = { 0 };
        e.DriverNameOffset = (uint32_t)pool;
        e.LdrEntry.DllBase = tr_bases[i];
        e.LdrEntry.SizeOfImage = tr_sizes[i];
        memcpy(b + TR_DRIVERS + i * sizeof(e), &e, sizeof(e));
        if (i < 2)
            pool = put_ascii_string(b, pool, tr_names_utf8[i]);
        else
            pool = put_dump_string(b, pool, tr_name2, 10);
    }

    ds_kdbg_head kh = { .OwnerTag = DS_SIG_KDBG, .Size = 0x380, .KernBase = TR_KERNBASE,
                        .PsLoadedModuleList = T_MODS, .PsActiveProcessHead = T_PROCS,
                        .PspCidTable = TR_CID };
    memcpy(b + TR_KDBG, &kh, sizeof(kh));
    put_u64(b, TR_KDBG + DS_KDBG_NT_BUILD_LAB, TR_LAB_VA);

    ds_triage_data_block blk[3] = {
        { .Address = TR_LAB_VA - 0x10, .Offset = TR_DATA, .Size = 0x40 },
        { .Address = TR_VA1, .Offset = TR_DATA + 0x100, .Size = 0x100 },
        { .Address = TR_VA1 + 0x100, .Offset = TR_DATA + 0x200, .Size = 0x100 },
    };
    memcpy(b + TR_BLOCKS, blk, sizeof(blk));
    strcpy((char *)b + TR_DATA + 0x10, "19041.1.amd64fre.vb_release.191206-1406");
    for (int i = 0; i < 0x200; i++)
        b[TR_DATA + 0x100 + i] = (uint8_t)(i * 7 + 1);
    return b;
}

static void test_triage(void **state)
{
    (void)state;
    ds_profile_match m;
    const ds_profile *prof = ds_profile_select(19041, true, &m);
    uint8_t *b = build_triage(prof);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, TR_SIZE, 0, &d, &eb), DS_OK);
    check_hdr64_facts(d);
    assert_string_equal(d->dump_type_name, "triage");
    assert_false(d->truncated); /* RequiredDumpSpace > size is normal here */
    assert_int_equal(d->required_dump_space, TR_SIZE + 0x100000);
    assert_int_equal(d->pages_present, 0);
    assert_non_null(d->triage);
    const ds_triage *t = d->triage;

    assert_true(t->has_process);
    assert_int_equal(t->process_offset, TR_PROC);
    assert_int_equal(t->process_dispatcher_type, 3);
    assert_true(t->has_thread);
    assert_int_equal(t->thread_offset, TR_THREAD);
    assert_int_equal(t->thread_dispatcher_type, 6);
    assert_int_equal(t->size_of_call_stack, 0x100);
    if (prof) {
        assert_ptr_equal(d->profile, prof);
        assert_int_equal(t->process_pid, 7680);
        assert_int_equal(t->process_ppid, 3460);
        assert_string_equal(t->process_name, "UIEngine.exe");
        assert_int_equal(t->thread_pid, 7680);
        assert_int_equal(t->thread_tid, 15620);
    } else {
        assert_non_null(strstr(d->notes, "no profile"));
    }

    assert_int_equal(t->driver_count_declared, 3);
    assert_int_equal(t->ndrivers, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(t->drivers[i].name, tr_names_utf8[i]);
        assert_int_equal(t->drivers[i].base, tr_bases[i]);
        assert_int_equal(t->drivers[i].size, tr_sizes[i]);
    }

    assert_true(d->kdbg_valid);
    assert_int_equal(d->kdbg_va, T_KDBG);
    assert_int_equal(d->kernel_base, TR_KERNBASE);
    assert_int_equal(d->psp_cid_table, TR_CID);
    assert_string_equal(d->nt_build_lab, "19041.1.amd64fre.vb_release.191206-1406");

    /* kernel reads come from the data blocks, across block boundaries */
    assert_int_equal(t->nblocks, 3);
    uint8_t buf[0x20];
    assert_int_equal(ds_kread(d, TR_VA1 + 0xf0, buf, sizeof(buf)), DS_OK);
    for (int i = 0; i < 0x20; i++)
        assert_int_equal(buf[i], (uint8_t)((0xf0 + i) * 7 + 1));
    uint64_t ptr;
    assert_int_equal(ds_kread_ptr(d, TR_VA1 + 8, &ptr), DS_OK);
    uint64_t want = 0;
    for (int i = 7; i >= 0; i--)
        want = want << 8 | (uint8_t)((8 + i) * 7 + 1);
    assert_int_equal(ptr, want);
    assert_int_equal(ds_kread(d, TR_VA1 + 0x1f8, buf, 16), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_kread(d, TR_VA1 - 1, buf, 2), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_kread(d, 0x1000, buf, 1), DS_ERR_NOT_PRESENT);
    ds_dump_close(d);

    /* without the KDBG copy the first driver (ntoskrnl) gives the base */
    ds_triage_dump64 *th = (ds_triage_dump64 *)(void *)(b + 0x2000);
    th->DebuggerDataOffset = 0;
    assert_int_equal(open_buf(b, TR_SIZE, 0, &d, &eb), DS_OK);
    assert_int_equal(d->kernel_base, tr_bases[0]);
    assert_false(d->kdbg_valid);
    assert_string_equal(d->nt_build_lab, "");
    ds_dump_close(d);
    free(b);
}

static void test_triage_truncated(void **state)
{
    (void)state;
    uint8_t *b = build_triage(NULL);
    ds_dump *d = NULL;
    ds_errbuf eb;
    /* cut inside data block 1; block 2 lies wholly past the end */
    assert_int_equal(open_buf(b, TR_DATA + 0x180, 0, &d, &eb), DS_OK);
    assert_true(d->truncated);
    assert_non_null(strstr(d->notes, "data block"));
    assert_int_equal(d->triage->ndrivers, 3);
    assert_int_equal(d->triage->nblocks, 2);
    uint8_t buf[8];
    assert_int_equal(ds_kread(d, TR_VA1 + 0x10, buf, 8), DS_OK);
    assert_int_equal(buf[0], (uint8_t)(0x10 * 7 + 1));
    assert_int_equal(ds_kread(d, TR_VA1 + 0x7c, buf, 8), DS_ERR_NOT_PRESENT);
    assert_int_equal(ds_kread(d, TR_VA1 + 0x100, buf, 1), DS_ERR_NOT_PRESENT);
    ds_dump_close(d);

    /* cut inside the driver list: the first driver survives */
    assert_int_equal(open_buf(b, TR_DRIVERS + 0x100, 0, &d, &eb), DS_OK);
    assert_true(d->truncated);
    assert_int_equal(d->triage->ndrivers, 1);
    assert_int_equal(d->triage->driver_count_declared, 3);
    assert_string_equal(d->triage->drivers[0].name, ""); /* its name was in the pool */
    ds_dump_close(d);
    free(b);
}

static void test_triage_bad(void **state)
{
    (void)state;
    uint8_t *b = build_triage(NULL);
    ds_triage_dump64 *t = (ds_triage_dump64 *)(void *)(b + 0x2000);
    t->ProcessOffset = TR_SIZE + 0x1000;
    expect_open_error(b, TR_SIZE, DS_ERR_CORRUPT, "ProcessOffset");
    t->ProcessOffset = TR_PROC;
    t->DriverListOffset = 0xfffffff0u;
    expect_open_error(b, TR_SIZE, DS_ERR_CORRUPT, "DriverListOffset");
    t->DriverListOffset = TR_DRIVERS;
    t->DriverCount = 0x7fffffff;
    expect_open_error(b, TR_SIZE, DS_ERR_CORRUPT, "DriverCount");
    t->DriverCount = 3;
    t->DataBlocksOffset = TR_SIZE;
    expect_open_error(b, TR_SIZE, DS_ERR_CORRUPT, "DataBlocksOffset");
    t->DataBlocksOffset = TR_BLOCKS;
    t->DataBlocksCount = 1u << 30;
    expect_open_error(b, TR_SIZE, DS_ERR_CORRUPT, "DataBlocksCount");
    t->DataBlocksCount = 3;
    expect_open_error(b, 0x2040, DS_ERR_TRUNCATED, "triage");
    free(b);
}

/* ------------------------------------------------ kernel bootstrap */

/* 1 MiB of physical memory holding x64 page tables (a self-referencing
 * PML4 at 0x10000), a KDBG block and KUSER_SHARED_DATA, used as a full
 * dump, a raw image and an ELF core. */
#define KB_MEM (0x100 * PG)
#define KB_PML4 0x10000ull
#define KB_KDBG_PAGE 0x40000ull
#define KB_KUSER_PAGE 0x41000ull
#define KB_KUSER_VA 0xfffff78000000000ull
#define KB_LAB_VA (T_KDBG - 0xb20 + 0x100)
#define KB_CID 0xfffff800576fc5c8ull
#define KB_PFNDB 0xffffa80000000000ull
#define KB_KUSER_TIME 0x01da836ab4cf8a49ll

static void map4k(uint8_t *mem, uint64_t va, uint64_t pa, uint64_t *next)
{
    uint64_t table = KB_PML4;
    for (int level = 3; level > 0; level--) {
        unsigned idx = (unsigned)(va >> (12 + 9 * level)) & 0x1ff;
        uint64_t e;
        memcpy(&e, mem + table + idx * 8, 8);
        if (!(e & 1)) {
            e = *next | 3;
            *next += PG;
            memcpy(mem + table + idx * 8, &e, 8);
        }
        table = e & 0x000ffffffffff000ull;
    }
    uint64_t e = pa | 3;
    memcpy(mem + table + ((va >> 12) & 0x1ff) * 8, &e, 8);
}

static void build_kernel_memory(uint8_t *mem)
{
    memset(mem, 0, KB_MEM);
    uint64_t next = KB_PML4 + PG;
    put_u64(mem, KB_PML4 + 0x1ed * 8, KB_PML4 | 3); /* self-reference */
    for (unsigned i = 0; i < 5; i++)                  /* more kernel entries */
        put_u64(mem, KB_PML4 + (0x1f5 + i) * 8, (0x50000 + i * PG) | 3);
    map4k(mem, T_KDBG & ~0xfffull, KB_KDBG_PAGE, &next);
    map4k(mem, KB_KUSER_VA, KB_KUSER_PAGE, &next);

    uint8_t *k = mem + KB_KDBG_PAGE + 0xb20;
    ds_kdbg_head kh = { .OwnerTag = DS_SIG_KDBG, .Size = 0x340, .KernBase = 0xfffff80056a00000ull,
                        .PsLoadedModuleList = T_MODS, .PsActiveProcessHead = T_PROCS,
                        .PspCidTable = KB_CID };
    memcpy(k, &kh, sizeof(kh));
    memcpy(k + DS_KDBG_MM_PFN_DATABASE, &(uint64_t){ KB_PFNDB }, 8);
    memcpy(k + DS_KDBG_NT_BUILD_LAB, &(uint64_t){ KB_LAB_VA }, 8);
    strcpy((char *)mem + KB_KDBG_PAGE + 0x100, "19041.1.amd64fre.vb_release.191206-1406");

    uint8_t *u = mem + KB_KUSER_PAGE;
    uint64_t it = 417661652862ull; /* InterruptTime: KSYSTEM_TIME lo, hi, hi2 */
    memcpy(u + 0x8, &(uint32_t){ (uint32_t)it }, 4);
    memcpy(u + 0xc, &(uint32_t){ (uint32_t)(it >> 32) }, 4);
    memcpy(u + 0x10, &(uint32_t){ (uint32_t)(it >> 32) }, 4);
    uint64_t st = (uint64_t)KB_KUSER_TIME;
    memcpy(u + 0x14, &(uint32_t){ (uint32_t)st }, 4);
    memcpy(u + 0x18, &(uint32_t){ (uint32_t)(st >> 32) }, 4);
    memcpy(u + 0x1c, &(uint32_t){ (uint32_t)(st >> 32) }, 4);
    memcpy(u + 0x260, &(uint32_t){ 19041 }, 4); /* NtBuildNumber */
    memcpy(u + 0x264, &(uint32_t){ 1 }, 4);     /* NtProductType */
    memcpy(u + 0x26c, &(uint32_t){ 10 }, 4);    /* NtMajorVersion */
    memcpy(u + 0x270, &(uint32_t){ 0 }, 4);     /* NtMinorVersion */
    memcpy(u + 0x3c0, &(uint32_t){ 12 }, 4);    /* ActiveProcessorCount */
}

static void check_kernel_facts(const ds_dump *d)
{
    assert_int_equal(d->kvas.mode, DS_PAGING_X64);
    assert_int_equal(d->kvas.dtb, KB_PML4);
    uint32_t tag = 0;
    assert_int_equal(ds_kread(d, T_KDBG + 0x10, &tag, 4), DS_OK);
    assert_int_equal(tag, DS_SIG_KDBG);
    uint64_t v = 0;
    assert_int_equal(ds_kread_ptr(d, T_KDBG + 0x58, &v), DS_OK);
    assert_int_equal(v, KB_CID);
    assert_int_equal(ds_kread(d, 0xfffff80000000000ull, &v, 8), DS_ERR_NOT_PRESENT);
    assert_int_equal(d->processors, 12); /* header never has it here: KUSER */
}

static void test_kernel_bootstrap_full64(void **state)
{
    (void)state;
    size_t n = 0x2000 + KB_MEM;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    put_hdr64(b, DS_DT_FULL, n);
    ds_dump_header64 *h = hdr64(b);
    h->DirectoryTableBase = KB_PML4;
    h->NumberProcessors = 0x45474150; /* "PAGE": not written -> from KUSER */
    h->PfnDataBase = 0x4547415045474150ull;
    h->PhysicalMemoryBlock.NumberOfRuns = 1;
    h->PhysicalMemoryBlock.NumberOfPages = KB_MEM / PG;
    h->PhysicalMemoryBlock.Run[0].PageCount = KB_MEM / PG;
    build_kernel_memory(b + 0x2000);

    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    assert_int_equal(d->dtb_source, DS_SRC_HEADER);
    check_kernel_facts(d);
    assert_int_equal(d->processors, 12);      /* KUSER filled the gap */
    assert_int_equal(d->system_time, T_SYSTIME); /* the header wins */
    assert_true(d->kdbg_valid);
    assert_false(d->kdbg_encoded);
    assert_int_equal(d->kdbg_source, DS_SRC_HEADER);
    assert_int_equal(d->kernel_base, 0xfffff80056a00000ull);
    assert_int_equal(d->psp_cid_table, KB_CID);
    assert_int_equal(d->pfn_database, KB_PFNDB);
    assert_string_equal(d->nt_build_lab, "19041.1.amd64fre.vb_release.191206-1406");
    ds_dump_close(d);

    /* no DTB in the header: found by the self-reference scan */
    h->DirectoryTableBase = 0;
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    assert_int_equal(d->dtb, KB_PML4);
    assert_int_equal(d->dtb_source, DS_SRC_SELFREF);
    check_kernel_facts(d);
    assert_true(d->kdbg_valid);
    ds_dump_close(d);

    /* an unreadable KDBG is a note, not an error */
    h->DirectoryTableBase = KB_PML4;
    memset(b + 0x2000 + KB_KDBG_PAGE + 0xb30, 0, 4);
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    assert_false(d->kdbg_valid);
    assert_non_null(strstr(d->notes, "KDBG"));
    assert_int_equal(d->kernel_base, 0);
    ds_dump_close(d);
    free(b);
}

static void test_kernel_bootstrap_raw_and_elf(void **state)
{
    (void)state;
    uint8_t *mem = malloc(KB_MEM);
    assert_non_null(mem);
    build_kernel_memory(mem);
    ds_dump *d = NULL;
    ds_errbuf eb;
    assert_int_equal(open_buf(mem, KB_MEM, 0, &d, &eb), DS_OK);
    assert_int_equal(d->format, DS_FMT_RAW);
    assert_string_equal(d->format_name, "raw");
    assert_string_equal(d->dump_type_name, "raw");
    assert_int_equal(d->arch, DS_ARCH_X64);
    assert_int_equal(d->dtb, KB_PML4);
    assert_int_equal(d->dtb_source, DS_SRC_SELFREF);
    assert_int_equal(d->pages_present, KB_MEM / PG);
    assert_false(d->has_bugcheck);
    check_kernel_facts(d);
    assert_int_equal(d->build, 19041); /* from KUSER_SHARED_DATA */
    assert_int_equal(d->build_source, DS_SRC_KUSER);
    assert_int_equal(d->system_time, KB_KUSER_TIME);
    assert_int_equal(d->uptime_100ns, 417661652862ll);
    assert_int_equal(d->product_type, 1);
    ds_profile_match m;
    assert_ptr_equal(d->profile, ds_profile_select(19041, true, &m));
    ds_dump_close(d);

    /* the same memory as one PT_LOAD of an ELF core */
    size_t n = PG + KB_MEM;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_phoff = sizeof(eh),
                      .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    memcpy(b, &eh, sizeof(eh));
    Elf64_Phdr ph = { .p_type = PT_LOAD, .p_offset = PG, .p_filesz = KB_MEM, .p_memsz = KB_MEM };
    memcpy(b + sizeof(eh), &ph, sizeof(ph));
    memcpy(b + PG, mem, KB_MEM);
    assert_int_equal(open_buf(b, n, 0, &d, &eb), DS_OK);
    assert_int_equal(d->format, DS_FMT_ELF);
    assert_int_equal(d->dtb_source, DS_SRC_SELFREF);
    check_kernel_facts(d);
    assert_int_equal(d->build, 19041);
    ds_dump_close(d);
    free(b);
    free(mem);
}

/* ------------------------------------------------------- bad inputs */

static void test_bad_files(void **state)
{
    (void)state;
    ds_dump *d = (ds_dump *)0x1;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_dump_open(&d, g_dir, NULL, &eb), DS_ERR_ISDIR);
    assert_null(d);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/missing.dmp", g_dir);
    assert_int_equal(ds_dump_open(&d, path, NULL, &eb), DS_ERR_IO);
    assert_null(d);
    assert_int_equal(ds_dump_open(NULL, path, NULL, &eb), DS_ERR_ARG);

    expect_open_error("", 0, DS_ERR_EMPTY, NULL);
    expect_open_error("hello, world\n", 13, DS_ERR_FORMAT, "unknown format");
    expect_open_error("PAGE", 4, DS_ERR_FORMAT, NULL);
    expect_open_error("PAGEXYZW12345678", 16, DS_ERR_FORMAT, "ValidDump");

    uint8_t *z = calloc(1, 2u << 20); /* big enough for raw, but no page tables */
    assert_non_null(z);
    expect_open_error(z, 2u << 20, DS_ERR_FORMAT, "unknown format");
    memcpy(z, "PAGEDU64", 8);
    expect_open_error(z, 0x1000, DS_ERR_TRUNCATED, "DUMP_HEADER64");
    memcpy(z, "PAGEDUMP", 8);
    expect_open_error(z, 0x800, DS_ERR_TRUNCATED, "DUMP_HEADER32");
    free(z);
}

/* ds_dump_opts.use_fd: the caller's open file is read (the path only names
 * it: here a path that does not exist), through a duplicate, so the
 * caller's descriptor stays open and its own after the dump is closed;
 * a directory or a FIFO handed over is refused as when opened by path. */
static void test_open_by_fd(void **state)
{
    (void)state;
    char path[PATH_MAX + 16], missing[PATH_MAX + 16], fifo[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/byfd.bin", g_dir);
    snprintf(missing, sizeof(missing), "%s/not-there.dmp", g_dir);
    write_file(path, "hello, world\n", 13);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    unlink(path); /* gone by name: only the descriptor reaches it */
    ds_dump_opts o = {.use_fd = true, .fd = fd};
    ds_dump *d = (ds_dump *)0x1;
    ds_errbuf eb = { "" };
    assert_int_equal(ds_dump_open(&d, missing, &o, &eb), DS_ERR_FORMAT);
    assert_non_null(strstr(eb.msg, "unknown format"));
    assert_null(d);
    assert_int_equal(fcntl(fd, F_GETFD) >= 0, 1); /* still the caller's */
    close(fd);
    int dfd = open(g_dir, O_RDONLY | O_DIRECTORY);
    assert_true(dfd >= 0);
    o.fd = dfd;
    assert_int_equal(ds_dump_open(&d, missing, &o, &eb), DS_ERR_ISDIR);
    close(dfd);
    snprintf(fifo, sizeof(fifo), "%s/byfd.fifo", g_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    int ffd = open(fifo, O_RDONLY | O_NONBLOCK);
    assert_true(ffd >= 0);
    o.fd = ffd;
    assert_int_equal(ds_dump_open(&d, fifo, &o, &eb), DS_ERR_UNSUPPORTED);
    close(ffd);
    unlink(fifo);
}

/* ------------------------------------------------------ mutation loop */

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Open must either fail cleanly or give a dump whose reads stay safe. */
static void poke_dump(const ds_dump *d)
{
    uint8_t buf[64];
    for (int i = 0; i < 16; i++) {
        uint64_t pa = rng() % (1ull << 24);
        ds_phys_read(d, pa, buf, 1 + rng() % 64);
        ds_kread(d, 0xfffff80000000000ull + rng() % (1ull << 32), buf, 1 + rng() % 64);
    }
    if (d->triage)
        for (uint32_t i = 0; i < d->triage->ndrivers; i++)
            assert_true(strlen(d->triage->drivers[i].name) < 4096);
    assert_true(d->pages_present + d->pages_missing == d->pages_expected);
}

static void mutate_and_open(const uint8_t *orig, size_t len, size_t lo, size_t hi, int iters)
{
    uint8_t *b = malloc(len);
    assert_non_null(b);
    for (int it = 0; it < iters; it++) {
        memcpy(b, orig, len);
        int nflip = 1 + (int)(rng() % 6);
        for (int k = 0; k < nflip; k++) {
            size_t pos = lo + rng() % (hi - lo);
            uint64_t r = rng();
            b[pos] = (r & 3) == 0 ? 0xff : (r & 3) == 1 ? 0 : (uint8_t)(r >> 8);
        }
        size_t cut = (rng() % 4 == 0) ? 1 + rng() % len : len;
        ds_dump *d = NULL;
        ds_errbuf eb;
        ds_err e = open_buf(b, cut, 0, &d, &eb);
        if (e == DS_OK) {
            poke_dump(d);
            ds_dump_close(d);
        } else {
            assert_null(d);
            assert_true(eb.msg[0] != '\0');
        }
    }
    free(b);
}

static void test_mutations(void **state)
{
    (void)state;
    size_t len;
    uint8_t *b = build_full64(&len);
    mutate_and_open(b, len, 0x80, 0x200, 150);
    free(b);
    b = build_bmp(true, DS_SIG_SDMP, 5, &len);
    mutate_and_open(b, len, 0x2000, 0x2048, 150);
    free(b);
    b = build_rdmp(DS_DT_RDMP_COMPLETE, &len);
    mutate_and_open(b, len, 0x2000, 0x2040, 100);
    free(b);
    b = build_triage(NULL);
    mutate_and_open(b, TR_SIZE, 0x2000, 0x2080, 200);
    mutate_and_open(b, TR_SIZE, TR_DRIVERS, TR_DATA, 200);
    free(b);
    b = build_elf64(false, &len);
    mutate_and_open(b, len, 0, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr), 150);
    free(b);
}

/* ------------------------------------------------------------ UTF-16 */

static size_t u16(const uint16_t *in, size_t n, char *out, size_t cap)
{
    uint8_t raw[64];
    for (size_t i = 0; i < n; i++) {
        raw[2 * i] = (uint8_t)in[i];
        raw[2 * i + 1] = (uint8_t)(in[i] >> 8);
    }
    return ds_utf16le_to_utf8(raw, n, out, cap);
}

static void test_utf16(void **state)
{
    (void)state;
    char out[32];
    const uint16_t pair[] = { 'A', 0xd83d, 0xde00, 0x20ac };
    assert_int_equal(u16(pair, 4, out, sizeof(out)), 1 + 4 + 3);
    assert_string_equal(out, "A\xf0\x9f\x98\x80\xe2\x82\xac");
    const uint16_t lone_hi[] = { 0xd800, 'x' }, lone_lo[] = { 0xdc00 }, end_hi[] = { 'y', 0xdbff };
    u16(lone_hi, 2, out, sizeof(out));
    assert_string_equal(out, "\xef\xbf\xbdx");
    u16(lone_lo, 1, out, sizeof(out));
    assert_string_equal(out, "\xef\xbf\xbd");
    u16(end_hi, 2, out, sizeof(out));
    assert_string_equal(out, "y\xef\xbf\xbd");
    const uint16_t nul[] = { 'a', 0, 'b' };
    u16(nul, 3, out, sizeof(out));
    assert_string_equal(out, "a");
    /* never a partial sequence when the buffer is short */
    assert_int_equal(u16(pair, 4, out, 4), 1);
    assert_string_equal(out, "A");
}

/* Reference: one unit at a time, written out from RFC 3629 / RFC 2781
 * (lone surrogates become U+FFFD; stop at NUL, or before a sequence that
 * would not leave room for the terminating NUL). */
static size_t ref_utf16(const uint16_t *in, size_t n, char *out, size_t cap)
{
    size_t pos = 0;
    for (size_t i = 0; i < n && in[i]; i++) {
        uint32_t cp = in[i];
        if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n && in[i + 1] >= 0xdc00 && in[i + 1] <= 0xdfff)
            cp = 0x10000 + ((cp - 0xd800) << 10) + (in[++i] - 0xdc00);
        else if (cp >= 0xd800 && cp <= 0xdfff)
            cp = 0xfffd;
        size_t w = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        if (pos + w >= cap)
            break;
        if (w == 1) {
            out[pos] = (char)cp;
        } else {
            static const uint8_t lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
            for (size_t k = w - 1; k > 0; k--, cp >>= 6)
                out[pos + k] = (char)(0x80 | (cp & 0x3f));
            out[pos] = (char)(lead[w] | cp);
        }
        pos += w;
    }
    out[pos] = '\0';
    return pos;
}

/* Random strings, mostly ASCII runs (the four-at-a-time path) broken by
 * the other cases at every alignment, against the reference, for every
 * output size from 1 to past the need. */
static void test_utf16_against_reference(void **state)
{
    (void)state;
    static const uint16_t odd[] = {0, 0x7f, 0x80, 0xe9, 0x7ff, 0x800, 0x20ac, 0xd83d, 0xde00,
                                   0xdbff, 0xdc00, 0xffff, 0x100, 0x4100};
    uint64_t rng = 99;
    for (int iter = 0; iter < 3000; iter++) {
        uint16_t in[32];
        size_t n = 1 + iter % 32;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            unsigned r = (unsigned)(rng >> 33);
            in[i] = r % 9 ? (uint16_t)(0x20 + r / 9 % 0x5f)
                          : odd[r / 9 % (sizeof(odd) / sizeof(odd[0]))];
        }
        for (size_t cap = 1; cap <= 4 * n + 2; cap++) {
            char got[160], want[160];
            memset(got, 0x55, sizeof(got));
            size_t g = u16(in, n, got, cap), w = ref_utf16(in, n, want, cap);
            assert_int_equal(g, w);
            assert_memory_equal(got, want, w + 1);
            assert_int_equal((uint8_t)got[cap], 0x55); /* nothing past cap */
        }
    }
}

/* -------------------------------------------------------------- names */

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ds_dump_type_name(DS_FMT_CRASH64, 1), "full");
    assert_string_equal(ds_dump_type_name(DS_FMT_CRASH64, 4), "triage");
    assert_string_equal(ds_dump_type_name(DS_FMT_CRASH32, 0xa), "rdmp_complete");
    assert_string_equal(ds_dump_type_name(DS_FMT_CRASH64, 0x55), "unknown");
    assert_string_equal(ds_dump_type_name(DS_FMT_RAW, 0), "raw");
    assert_string_equal(ds_dump_type_name(DS_FMT_ELF, 0), "elf_core");
    assert_string_equal(ds_source_name(DS_SRC_LOWSTUB), "lowstub");
    assert_string_equal(ds_source_name(DS_SRC_TRIAGE), "triage");
    assert_string_equal(ds_source_name(DS_SRC_NONE), "none");
    assert_string_equal(ds_arch_name(DS_ARCH_ARM64), "arm64");
    assert_string_equal(ds_arch_name((ds_arch)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full64),
        cmocka_unit_test(test_full64_truncated),
        cmocka_unit_test(test_full64_bad_runs),
        cmocka_unit_test(test_bitmap64_types),
        cmocka_unit_test(test_bitmap64_no_mmap_copy),
        cmocka_unit_test(test_bitmap64_truncated),
        cmocka_unit_test(test_bitmap_bad),
        cmocka_unit_test(test_rdmp),
        cmocka_unit_test(test_rdmp_bad),
        cmocka_unit_test(test_pagedump32_full_pae),
        cmocka_unit_test(test_pagedump32_bitmap),
        cmocka_unit_test(test_elf64_core),
        cmocka_unit_test(test_elf32_core),
        cmocka_unit_test(test_elf_bad),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_summary_bitmaps),
        cmocka_unit_test(test_rdmp_no_ranges),
        cmocka_unit_test(test_triage),
        cmocka_unit_test(test_triage_truncated),
        cmocka_unit_test(test_triage_bad),
        cmocka_unit_test(test_kernel_bootstrap_full64),
        cmocka_unit_test(test_kernel_bootstrap_raw_and_elf),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_open_by_fd),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_utf16),
        cmocka_unit_test(test_utf16_against_reference),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
