/* test_scan_hostile.c - the scanner on dumps that lie.
 *
 * Starts from generated raw dumps (file offset == physical address, so a
 * structure is patched by writing at its physical address) and breaks the
 * kernel's own bookkeeping the way malware or memory smear does:
 *   - an active-process list that loops without returning to its head, and
 *     an entry pointing at itself;
 *   - a PspCidTable whose TableCode claims three levels and points back at
 *     the handle table (a table that contains itself);
 *   - random overwrites of object bodies, pool headers and page tables;
 *   - a file cut short after it was generated.
 * Every case must finish (bounded walks), return DS_OK, and still report
 * the processes the damage did not touch.  Run under ASan/UBSan by the
 * suite, this is also the memory-safety check of the scan layer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/dumpgen/gen.h"
#include "scan/scan.h"
#include "src/modules.h"

typedef struct tp {
    uint64_t pa, va;
    bool linked;
    bool contiguous; /* the body's pages are physically contiguous (set by tests) */
} tp;

typedef struct fixture {
    char dir[64], path[128], tpath[160];
    tp procs[256];
    size_t np;
    uint64_t cid_table; /* VA of the HANDLE_TABLE */
    uint64_t ldr[16];   /* loader entries of the listed drivers, in list order */
    size_t nldr;
    uint64_t hidden_ldr; /* loader entry of the hidden driver (rootkit.sys) */
    const ds_profile *p;
} fixture;

static uint64_t field_u64(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":\"", key);
    const char *s = strstr(line, pat);
    return s ? strtoull(s + strlen(pat), NULL, 16) : 0;
}

static void make_dump_kdbg(fixture *fx, const char *key, uint64_t seed, gen_kdbg kdbg)
{
    memset(fx, 0, sizeof(*fx));
    strcpy(fx->dir, "/tmp/ds_hostile_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/d.raw", fx->dir);
    snprintf(fx->tpath, sizeof(fx->tpath), "%s.truth.ndjson", fx->path);
    gen_opts go = {.out_path = fx->path, .build_key = key, .size_mib = 32, .seed = seed,
                   .format = GEN_FMT_RAW, .kdbg = kdbg};
    gen_summary sum;
    ds_errbuf eb = {{0}};
    assert_int_equal(gen_run(&go, &sum, &eb), DS_OK);
    fx->p = ds_profile_by_key(key);
    FILE *f = fopen(fx->tpath, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, "\"type\":\"dump_truth\""))
            fx->cid_table = field_u64(line, "cid_handle_table");
        if (strstr(line, "\"type\":\"driver\"") && strstr(line, "\"category\":\"listed\"") &&
            fx->nldr < 16)
            fx->ldr[fx->nldr++] = field_u64(line, "ldr_va");
        if (strstr(line, "\"type\":\"driver\"") && strstr(line, "\"category\":\"hidden\""))
            fx->hidden_ldr = field_u64(line, "ldr_va");
        if (!strstr(line, "\"type\":\"process\"") || fx->np == 256)
            continue;
        tp *t = &fx->procs[fx->np++];
        t->pa = field_u64(line, "eprocess_pa");
        t->va = field_u64(line, "eprocess_va");
        t->linked = strstr(line, "\"linked\":true") != NULL;
    }
    free(line);
    fclose(f);
}

static void make_dump(fixture *fx, const char *key, uint64_t seed)
{
    make_dump_kdbg(fx, key, seed, GEN_KDBG_AUTO);
}

static void drop_dump(fixture *fx)
{
    unlink(fx->path);
    unlink(fx->tpath);
    rmdir(fx->dir);
}

static void poke(const fixture *fx, uint64_t pa, const void *v, size_t n)
{
    FILE *f = fopen(fx->path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)pa, SEEK_SET), 0);
    assert_int_equal(fwrite(v, n, 1, f), 1);
    fclose(f);
}

static void poke_ptr(const fixture *fx, uint64_t pa, uint64_t v)
{
    poke(fx, pa, &v, fx->p->ptr_size);
}

/* Physical address of kernel VA va in the generated dump. */
static uint64_t pa_of(const ds_dump *d, uint64_t va)
{
    ds_xlat x;
    return ds_vtop(&d->kvas, va, &x) == DS_OK ? x.pa : 0;
}

/* Open + scan; returns the number of truth processes reported. */
static size_t scan_count(const fixture *fx, ds_scan_result *r)
{
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_dump_open(&d, fx->path, NULL, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, r, &eb), DS_OK);
    size_t found = 0;
    for (size_t i = 0; i < fx->np; i++)
        for (size_t k = 0; k < r->nprocs; k++)
            if (r->procs[k].eprocess_pa == fx->procs[i].pa) {
                found++;
                break;
            }
    ds_dump_close(d);
    return found;
}

/* Two linked processes whose list entries lie inside one page each. */
static void pick_two(const fixture *fx, const tp **a, const tp **b)
{
    *a = *b = NULL;
    for (size_t i = 0; i < fx->np; i++) {
        const tp *t = &fx->procs[i];
        if (!t->linked || ((t->pa + fx->p->ep_links) & 0xfff) + 16 > 0x1000)
            continue;
        if (!*a)
            *a = t;
        else if (!*b && i > 4)
            *b = t;
    }
    assert_non_null(*a);
    assert_non_null(*b);
}

static void test_list_loops(void **state)
{
    (void)state;
    static const char *const keys[] = {"win10_2004_22h2_x64", "win7_sp1_x86", "winxp_sp3_x86"};
    for (size_t k = 0; k < 3; k++) {
        fixture fx;
        make_dump(&fx, keys[k], 21);
        const tp *a, *b;
        pick_two(&fx, &a, &b);
        unsigned ptr = fx.p->ptr_size;
        /* b -> a and a -> b: a ring that never returns to the head, both
         * directions; and an entry whose Blink points at itself. */
        poke_ptr(&fx, b->pa + fx.p->ep_links, a->va + fx.p->ep_links);
        poke_ptr(&fx, a->pa + fx.p->ep_links + ptr, b->va + fx.p->ep_links);
        poke_ptr(&fx, a->pa + fx.p->ep_links, b->va + fx.p->ep_links);
        ds_scan_result r;
        size_t found = scan_count(&fx, &r);
        assert_int_equal(found, fx.np);
        assert_true(r.stats.list_entries <= fx.np);
        assert_int_equal(r.stats.list_status, DS_LIST_BROKEN); /* a loop is no way home */
        ds_scan_result_free(&r);
        drop_dump(&fx);
    }
}

/* No KDBG, and the active list loops without returning to its head: the
 * head taken from the System process is either refused (no list view) or
 * kept with the list reported broken; either way the scan ends and finds
 * every process.  Then System's own links made to point at themselves. */
static void test_system_list_loops_without_kdbg(void **state)
{
    (void)state;
    static const char *const keys[] = {"win10_2004_22h2_x64", "win7_sp1_x86", "winxp_sp3_x86"};
    for (size_t k = 0; k < 3; k++) {
        for (int variant = 0; variant < 2; variant++) {
            fixture fx;
            make_dump_kdbg(&fx, keys[k], 31 + variant, GEN_KDBG_WIPED);
            unsigned ptr = fx.p->ptr_size;
            if (variant == 0) {
                const tp *a, *b;
                pick_two(&fx, &a, &b);
                poke_ptr(&fx, b->pa + fx.p->ep_links, a->va + fx.p->ep_links);
                poke_ptr(&fx, a->pa + fx.p->ep_links + ptr, b->va + fx.p->ep_links);
            } else {
                const tp *sys = &fx.procs[0]; /* truth lists System first */
                poke_ptr(&fx, sys->pa + fx.p->ep_links, sys->va + fx.p->ep_links);
                poke_ptr(&fx, sys->pa + fx.p->ep_links + ptr, sys->va + fx.p->ep_links);
            }
            ds_scan_result r;
            assert_int_equal(scan_count(&fx, &r), fx.np);
            if (r.stats.active_head_src == DS_SRC_SYSTEM_PROCESS)
                assert_int_not_equal(r.stats.list_status, DS_LIST_OK);
            else
                assert_int_equal(r.stats.list_status, DS_LIST_ABSENT);
            ds_scan_result_free(&r);
            drop_dump(&fx);
        }
    }
}

/* A module list whose fourth entry points back at the third: the walk
 * stops (loop), the entries it no longer reaches are judged against a
 * damaged list, the unlinked rootkit is still hidden, and the scan ends. */
static void test_module_list_loops(void **state)
{
    (void)state;
    static const char *const keys[] = {"win10_2004_22h2_x64", "winxp_sp3_x86"};
    for (size_t k = 0; k < 2; k++) {
        fixture fx;
        make_dump(&fx, keys[k], 41);
        assert_true(fx.nldr >= 5);
        ds_dump *d = NULL;
        ds_errbuf eb = {{0}};
        assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
        uint64_t pa3 = pa_of(d, fx.ldr[3]);
        ds_dump_close(d);
        assert_true(pa3 != 0);
        poke_ptr(&fx, pa3, fx.ldr[2]); /* InLoadOrderLinks.Flink */
        ds_scan_result r;
        assert_int_equal(scan_count(&fx, &r), fx.np);
        const ds_driver_set *ds = &r.drivers;
        assert_int_equal(ds->list_status, DS_MODLIST_LOOP);
        assert_int_equal(ds->list_entries, 4);
        size_t hidden = 0, damaged = 0;
        for (size_t i = 0; i < ds->n; i++) {
            hidden += ds->v[i].hidden;
            damaged += (ds->v[i].reasons & DS_DRV_RSN_LIST_DAMAGED) != 0;
            if (strcmp(ds->v[i].name, "rootkit.sys") == 0)
                assert_true(ds->v[i].hidden);
        }
        assert_true(damaged >= fx.nldr - 4);
        assert_true(hidden >= 1);
        ds_scan_result_free(&r);
        drop_dump(&fx);
    }
}

/* The `!process 0 2` fields on lying structures: a process handle table
 * whose TableCode claims two levels and points back at its own page, an
 * image-path UNICODE_STRING whose Length runs far past its buffer and is
 * odd, a PEB pointer into unmapped user space: the scan ends, every
 * process is still found, the counts are bounded and the strings cut,
 * never read past. */
static void test_depth_fields_lie(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 51);
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    const ds_profile *p = fx.p;
    unsigned patched = 0;
    for (size_t i = 1; i < fx.np && patched < 3; i++) {
        uint64_t table = 0, oni = 0, peb = 0;
        if (ds_kread_ptr(d, fx.procs[i].va + p->ep_object_table, &table) != DS_OK || !table ||
            ds_kread_ptr(d, fx.procs[i].va + p->ep_se_audit, &oni) != DS_OK || !oni ||
            ds_kread_ptr(d, fx.procs[i].va + p->ep_peb, &peb) != DS_OK || !peb)
            continue;
        uint64_t table_pa = pa_of(d, table), oni_pa = pa_of(d, oni);
        if (!table_pa || !oni_pa)
            continue;
        /* TableCode = its own page, level 2 */
        poke_ptr(&fx, table_pa + 8, (table & ~0xfffull) | 2);
        /* Length 0xffff (odd, 32 KiB), MaximumLength 2 */
        uint16_t lm[2] = {0xffff, 2};
        poke(&fx, oni_pa, lm, sizeof(lm));
        /* the first one's PEB somewhere unmapped */
        if (patched == 0)
            poke_ptr(&fx, fx.procs[i].pa + p->ep_peb, 0x7ffe00001000ull);
        patched++;
    }
    ds_dump_close(d);
    assert_int_equal(patched, 3);
    ds_scan_result r;
    assert_int_equal(scan_count(&fx, &r), fx.np);
    assert_non_null(r.details);
    for (size_t i = 0; i < r.nprocs; i++) {
        assert_true(r.details[i].handle_count < (1 << 20));
        if (r.details[i].image_path)
            assert_true(strlen(r.details[i].image_path) <= 3 * DS_DETAIL_MAX_STRING);
    }
    ds_scan_result_free(&r);
    drop_dump(&fx);
}

static void test_cid_table_contains_itself(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 22);
    assert_true(fx.cid_table != 0);
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    uint64_t table_pa = pa_of(d, fx.cid_table);
    ds_dump_close(d);
    assert_true(table_pa != 0);
    /* TableCode (+8 on 8.1+): three levels, pointing at the page of the
     * handle table itself. */
    poke_ptr(&fx, table_pa + 8, (fx.cid_table & ~0xfffull) | 2);
    ds_scan_result r;
    assert_int_equal(scan_count(&fx, &r), fx.np);
    ds_scan_result_free(&r);
    drop_dump(&fx);
}

/* The record of the process at pa in r, or NULL. */
static const ds_proc *proc_at_pa(const ds_scan_result *r, uint64_t pa)
{
    for (size_t k = 0; k < r->nprocs; k++)
        if (r->procs[k].eprocess_pa == pa)
            return &r->procs[k];
    return NULL;
}

/* A DKOM-hidden process whose own Flink and Blink were aimed at unmapped
 * kernel memory (the kernel's page tables say so; every page-table page is
 * in the dump) is still hidden: a link into nothing is a cut, not a list
 * stretch the dump lost. */
static void test_links_into_unmapped_memory(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 28);
    ds_scan_result r;
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    uint64_t pa = 0, va = 0;
    for (size_t k = 0; k < r.nprocs && !pa; k++)
        if (r.procs[k].hidden && r.procs[k].eprocess_va != DS_NO_VALUE) {
            pa = r.procs[k].eprocess_pa;
            va = r.procs[k].eprocess_va;
        }
    ds_scan_result_free(&r);
    assert_true(pa != 0);
    /* a canonical kernel address the page tables do not map */
    uint64_t hole = 0;
    for (uint64_t cand = 0xffff900000000000ull; cand < 0xfffff00000000000ull && !hole;
         cand += 1ull << 39) {
        ds_xlat x;
        if (ds_vtop(&d->kvas, cand, &x) == DS_ERR_NOT_PRESENT)
            hole = cand + 0x1230;
    }
    ds_dump_close(d);
    assert_true(hole != 0);
    (void)va;
    poke_ptr(&fx, pa + fx.p->ep_links, hole);
    poke_ptr(&fx, pa + fx.p->ep_links + fx.p->ptr_size, hole + 0x40);
    d = NULL;
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    const ds_proc *o = proc_at_pa(&r, pa);
    assert_non_null(o);
    assert_true(o->unlinked);
    assert_true(o->hidden);
    assert_false(o->reasons & DS_RSN_LIST_UNREADABLE);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    drop_dump(&fx);
}

/* The record of the process at pa, scanned with every score kept. */
static const ds_proc *scan_all_find(const fixture *fx, ds_scan_result *r, uint64_t pa)
{
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    ds_scan_opts o;
    ds_scan_opts_default(&o);
    o.min_score = 0;
    assert_int_equal(ds_dump_open(&d, fx->path, NULL, &eb), DS_OK);
    assert_int_equal(ds_scan(d, &o, r, &eb), DS_OK);
    ds_dump_close(d);
    return proc_at_pa(r, pa);
}

/* Fields that lie fail their checks: a PID that is no multiple of 4, an
 * exit time before the create time. */
static void test_fields_that_lie_fail_checks(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 26);
    const tp *a, *b;
    pick_two(&fx, &a, &b);
    poke_ptr(&fx, a->pa + fx.p->ep_pid, 0x1001);
    uint64_t ct;
    FILE *f = fopen(fx.path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)(b->pa + fx.p->ep_create_time), SEEK_SET), 0);
    assert_int_equal(fread(&ct, 8, 1, f), 1);
    fclose(f);
    uint64_t et = ct - 10000000; /* a second before it was created */
    poke(&fx, b->pa + fx.p->ep_exit_time, &et, 8);
    ds_scan_result r;
    const ds_proc *pa = scan_all_find(&fx, &r, a->pa);
    assert_non_null(pa);
    assert_true(pa->failed & DS_CHK_ID);
    assert_true(pa->score < 100);
    const ds_proc *pb = NULL;
    for (size_t k = 0; k < r.nprocs; k++)
        if (r.procs[k].eprocess_pa == b->pa)
            pb = &r.procs[k];
    assert_non_null(pb);
    assert_true(pb->failed & DS_CHK_TIMES);
    assert_false(pb->failed & DS_CHK_ID);
    ds_scan_result_free(&r);
    drop_dump(&fx);
}

/* A loader entry whose pool chunk is free is a driver that was unloaded
 * (stale), not one that hides, even when its image is still mapped. */
static void test_freed_loader_entry_not_hidden(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 27);
    assert_true(fx.hidden_ldr != 0);
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    uint64_t ldr_pa = pa_of(d, fx.hidden_ldr);
    ds_dump_close(d);
    assert_true(ldr_pa != 0);
    ds_scan_result r;
    for (int freed = 0; freed < 2; freed++) {
        if (freed) {
            uint8_t zero = 0; /* PoolType 0: a free chunk */
            poke(&fx, ldr_pa - fx.p->pool_header_size + 3, &zero, 1);
        }
        scan_count(&fx, &r);
        const ds_driver *drv = NULL;
        for (size_t i = 0; i < r.drivers.n; i++)
            if (strcmp(r.drivers.v[i].name, "rootkit.sys") == 0)
                drv = &r.drivers.v[i];
        assert_non_null(drv);
        assert_int_equal(drv->hidden, !freed);
        assert_int_equal(drv->stale, freed);
        assert_int_equal((drv->reasons & DS_DRV_RSN_POOL_FREED) != 0, freed);
        ds_scan_result_free(&r);
    }
    drop_dump(&fx);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random damage around every other object: nothing may crash, the scan
 * returns DS_OK, and every process whose pool header and body the damage
 * did not touch is still found.  Then garbage in the kernel half of the
 * top-level page table: still no crash and a clean DS_OK. */
typedef struct span {
    uint64_t lo, hi;
} span;

static bool touched(const span *s, size_t n, uint64_t lo, uint64_t hi)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].lo < hi && lo < s[i].hi)
            return true;
    return false;
}

static void test_random_damage(void **state)
{
    (void)state;
    for (uint64_t round = 0; round < 12; round++) {
        fixture fx;
        make_dump(&fx, round % 3 == 2 ? "win7_sp1_x86" : "win10_2004_22h2_x64", 100 + round);
        uint64_t rng = 0x9e3779b97f4a7c15ull * (round + 1);
        static span hits[256 * 8];
        size_t nhits = 0;
        for (size_t i = 0; i < fx.np; i += 2) {
            for (int n = 0; n < 8; n++) {
                uint64_t at = fx.procs[i].pa - 0x40 + xorshift(&rng) % 0x800;
                uint64_t junk = xorshift(&rng);
                if (n & 1)
                    junk = (junk & 0xffffffffull) | 0xffff800000000000ull; /* kernel-looking */
                poke(&fx, at, &junk, 8);
                hits[nhits++] = (span){at, at + 8};
            }
        }
        ds_scan_result r;
        ds_dump *d = NULL;
        ds_errbuf eb = {{0}};
        assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
        uint64_t dtb = d->dtb & ~0xfffull;
        assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
        size_t untouched = 0;
        for (size_t i = 0; i < fx.np; i++) {
            /* pool header (up to 0x80 before) through the end of the body */
            if (touched(hits, nhits, fx.procs[i].pa - 0x80, fx.procs[i].pa + 0xc00))
                continue;
            untouched++;
            bool found = false;
            for (size_t k = 0; k < r.nprocs && !found; k++)
                found = r.procs[k].eprocess_pa == fx.procs[i].pa;
            if (!found)
                fail_msg("round %" PRIu64 ": untouched process at pa 0x%" PRIx64 " not found",
                         round, fx.procs[i].pa);
        }
        assert_true(untouched >= fx.np / 3);
        for (size_t k = 0; k < r.nprocs; k++)
            assert_true(r.procs[k].score >= DS_SCAN_DEFAULT_MIN_SCORE);
        ds_scan_result_free(&r);
        ds_dump_close(d);
        for (int n = 0; n < 24; n++) { /* garbage kernel PML4/PD entries */
            uint64_t junk = xorshift(&rng);
            poke(&fx, dtb + 0x800 + (xorshift(&rng) % 0x100) * 8, &junk, 8);
        }
        d = NULL;
        assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
        assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
        ds_scan_result_free(&r);
        ds_dump_close(d);
        drop_dump(&fx);
    }
}

static void test_truncated_after_generation(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 23);
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    /* which bodies can be read without the page tables (which are cut) */
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    for (size_t i = 0; i < fx.np; i++) {
        tp *t = &fx.procs[i];
        t->contiguous = true;
        for (uint64_t off = 0; off < 0xb00; off += 0x100)
            t->contiguous &= pa_of(d, t->va + off) == t->pa + off;
    }
    ds_dump_close(d);
    assert_int_equal(truncate(fx.path, 20ll << 20), 0);
    assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
    ds_scan_result r;
    /* the build is unreadable now (its pages are gone): the scan refuses
     * cleanly instead of guessing */
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_ERR_UNSUPPORTED);
    assert_null(d->profile);
    ds_dump_close(d);
    /* with the profile named: every process wholly and contiguously below
     * the cut is found, and the list's lost stretch hides nobody */
    ds_dump_opts opts = {.force_profile = "win10_2004_22h2_x64"};
    assert_int_equal(ds_dump_open(&d, fx.path, &opts, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    assert_true(r.stats.bytes_scanned <= (20ull << 20));
    size_t below = 0, gaps = 0;
    for (size_t i = 0; i < fx.np; i++) {
        if (fx.procs[i].pa + 0xb00 > (20ull << 20) || !fx.procs[i].contiguous)
            continue;
        below++;
        bool found = false;
        for (size_t k = 0; k < r.nprocs && !found; k++)
            found = r.procs[k].eprocess_pa == fx.procs[i].pa;
        if (!found)
            fail_msg("process at pa 0x%" PRIx64 " below the cut not found", fx.procs[i].pa);
    }
    for (size_t k = 0; k < r.nprocs; k++) {
        const ds_proc *o = &r.procs[k];
        gaps += (o->reasons & DS_RSN_LIST_UNREADABLE) != 0;
        assert_false((o->reasons & DS_RSN_LIST_UNREADABLE) && o->unlinked);
        for (size_t i = 0; i < fx.np; i++)
            if (fx.procs[i].pa == o->eprocess_pa && fx.procs[i].linked && o->hidden)
                fail_msg("linked process pid %" PRIu64 " called hidden", (uint64_t)o->pid);
    }
    assert_true(below >= 5);
    assert_true(gaps >= 5);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    drop_dump(&fx);
}

/* The list-gap rule excuses only processes whose own links are sound: in
 * the truncated dump above, take a process excused as list_unreadable
 * whose predecessor is excused too, and point its Flink at itself (a
 * cut).  Reached from that predecessor through an intact link, it must
 * not be excused any more: it is unlinked, and reported as such. */
static void test_gap_does_not_excuse_a_cut_link(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 23);
    assert_int_equal(truncate(fx.path, 20ll << 20), 0);
    ds_dump_opts opts = {.force_profile = "win10_2004_22h2_x64"};
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    ds_scan_result r;
    assert_int_equal(ds_dump_open(&d, fx.path, &opts, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    ds_dump_close(d);
    const unsigned L = fx.p->ep_links;
    uint64_t pa = 0, va = 0;
    for (size_t k = 0; k < r.nprocs && !pa; k++) {
        const ds_proc *o = &r.procs[k];
        if (!(o->reasons & DS_RSN_LIST_UNREADABLE) || o->eprocess_va == DS_NO_VALUE)
            continue;
        for (size_t j = 0; j < r.nprocs; j++) /* its predecessor, excused too */
            if (r.procs[j].eprocess_va != DS_NO_VALUE &&
                r.procs[j].eprocess_va + L == o->links_blink &&
                r.procs[j].links_flink == o->eprocess_va + L &&
                (r.procs[j].reasons & DS_RSN_LIST_UNREADABLE)) {
                pa = o->eprocess_pa;
                va = o->eprocess_va;
            }
    }
    ds_scan_result_free(&r);
    assert_true(pa != 0);
    poke_ptr(&fx, pa + L, va + L); /* Flink -> itself */
    assert_int_equal(ds_dump_open(&d, fx.path, &opts, &eb), DS_OK);
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    const ds_proc *o = proc_at_pa(&r, pa);
    assert_non_null(o);
    assert_false(o->reasons & DS_RSN_LIST_UNREADABLE);
    assert_true(o->unlinked);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    drop_dump(&fx);
}

/* No build anywhere (KUSER_SHARED_DATA and KDBG wiped): the profile is
 * detected from the System process and the scan still finds everything. */
static void test_profile_detected(void **state)
{
    (void)state;
    static const char *const keys[] = {"win10_2004_22h2_x64", "win11_24h2_x64", "win7_sp1_x86"};
    for (size_t k = 0; k < 3; k++) {
        fixture fx;
        make_dump(&fx, keys[k], 24);
        ds_dump *d = NULL;
        ds_errbuf eb = {{0}};
        assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
        assert_non_null(d->profile);
        const char *want = d->profile->key;
        uint64_t kuser = pa_of(d, fx.p->is64 ? 0xfffff78000000000ull : 0xffdf0000ull);
        uint64_t kdbg = d->kdbg_va ? pa_of(d, d->kdbg_va) : 0;
        ds_dump_close(d);
        assert_true(kuser != 0);
        static const uint8_t zero[0x1000];
        poke(&fx, kuser, zero, sizeof(zero));
        if (kdbg)
            poke(&fx, kdbg, zero, 0x380);
        assert_int_equal(ds_dump_open(&d, fx.path, NULL, &eb), DS_OK);
        assert_int_equal(d->build, 0);
        assert_non_null(d->profile);
        assert_int_equal(d->profile_match, DS_PROFILE_DETECTED);
        /* rows with the same layout (7600 and 7601 x86) are equally right */
        const ds_profile *w = ds_profile_by_key(want), *got = d->profile;
        assert_int_equal(got->ep_pid, w->ep_pid);
        assert_int_equal(got->ep_links, w->ep_links);
        assert_int_equal(got->ep_name, w->ep_name);
        assert_int_equal(got->et_cid_pid, w->et_cid_pid);
        assert_int_equal(got->et_thread_list, w->et_thread_list);
        ds_dump_close(d);
        ds_scan_result r;
        assert_int_equal(scan_count(&fx, &r), fx.np);
        ds_scan_result_free(&r);
        drop_dump(&fx);
    }
}

/* A dump stuffed with pool tags (a slot-aligned "Proc"/"Thre" every 16
 * bytes over 24 MiB: 1.5 Mi tag hits) hits the candidate cap, says so,
 * and finishes with bounded memory. */
static void test_candidate_cap(void **state)
{
    (void)state;
    fixture fx;
    make_dump(&fx, "win10_2004_22h2_x64", 25);
    static uint8_t junk[1 << 20];
    for (size_t i = 0; i < sizeof(junk); i += 16) {
        memset(junk + i, 0x41, 16);
        memcpy(junk + i + 4, (i / 16) % 2 ? "Thre" : "Proc", 4);
    }
    for (uint64_t mib = 8; mib < 32; mib++)
        poke(&fx, mib << 20, junk, sizeof(junk));
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    /* the junk may bury the build number too: name the profile */
    ds_dump_opts opts = {.force_profile = "win10_2004_22h2_x64"};
    assert_int_equal(ds_dump_open(&d, fx.path, &opts, &eb), DS_OK);
    ds_scan_result r;
    assert_int_equal(ds_scan(d, NULL, &r, &eb), DS_OK);
    assert_true(r.stats.candidates_capped);
    assert_true(r.stats.candidates <= DS_SCAN_MAX_CANDIDATES);
    /* the junk is never a process: whatever is reported inside it is a
     * truth process (none survive there), and the processes outside it are
     * all still found */
    size_t outside = 0, found = 0;
    for (size_t i = 0; i < fx.np; i++) {
        bool in_junk = fx.procs[i].pa + 0x1000 > (8ull << 20) && fx.procs[i].pa < (32ull << 20);
        outside += !in_junk;
        for (size_t k = 0; k < r.nprocs && !in_junk; k++)
            if (r.procs[k].eprocess_pa == fx.procs[i].pa) {
                found++;
                break;
            }
    }
    for (size_t k = 0; k < r.nprocs; k++) {
        uint64_t pa = r.procs[k].eprocess_pa;
        if (pa < (8ull << 20) || pa >= (32ull << 20))
            continue;
        bool truth = false;
        for (size_t i = 0; i < fx.np && !truth; i++)
            truth = fx.procs[i].pa == pa;
        if (!truth)
            fail_msg("junk reported as a process at pa 0x%" PRIx64 " pid %" PRIu64, pa,
                     (uint64_t)r.procs[k].pid);
    }
    assert_true(outside > 0);
    assert_int_equal(found, outside);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    drop_dump(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_loops),
        cmocka_unit_test(test_cid_table_contains_itself),
        cmocka_unit_test(test_system_list_loops_without_kdbg),
        cmocka_unit_test(test_module_list_loops),
        cmocka_unit_test(test_depth_fields_lie),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_truncated_after_generation),
        cmocka_unit_test(test_gap_does_not_excuse_a_cut_link),
        cmocka_unit_test(test_profile_detected),
        cmocka_unit_test(test_candidate_cap),
        cmocka_unit_test(test_fields_that_lie_fail_checks),
        cmocka_unit_test(test_freed_loader_entry_not_hidden),
        cmocka_unit_test(test_links_into_unmapped_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
