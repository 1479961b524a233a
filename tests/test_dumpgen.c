/* test_dumpgen.c - self-check of the dump generator (bench/dumpgen).
 *
 * For every supported build x format, a small dump is generated through
 * gen_run() into a temp dir and read back with a walker written here, on
 * purpose independent of src/dump.c and src/vtop.c: minimal header
 * parsing (raw, PAGEDU64 full/bitmap/RDMP, PAGEDUMP full) into a
 * pfn -> file offset table, and x64 / PAE / x86 page walks (transition
 * PTEs count as present).  Checks against the truth file:
 *   - the header fields (DTB, PsActiveProcessHead, KDBG, size, "PAGE" fill);
 *   - PsActiveProcessHead's list holds exactly the linked truth processes;
 *   - every truth process/thread has the right dispatcher type, PID/TID,
 *     name and owner at its physical address, and its VA translates to
 *     that address (an `unmapped` process must not translate);
 *   - pool tags (wiped for tag_wiped, free pool type for terminated_freed);
 *   - thread lists, the CID table encoding, KDBG (decoded here when
 *     encoded) and the planted KdCopyDataBlock references, the low stub;
 *   - determinism: same seed, same bytes; another seed, other bytes. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "../bench/dumpgen/gen.h"
#include "profile.h"

/* ---------------- files ---------------- */

typedef struct dumpf {
    uint8_t *map;
    size_t size;
    uint64_t npfn;
    uint64_t *off;  /* file offset per pfn, UINT64_MAX = absent */
} dumpf;

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void map_file(const char *path, dumpf *d)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    d->size = (size_t)st.st_size;
    d->map = mmap(NULL, d->size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(d->map != MAP_FAILED);
    close(fd);
}

static void set_pages(dumpf *d, uint64_t pfn, uint64_t n, uint64_t file_off)
{
    for (uint64_t i = 0; i < n; i++) {
        assert_true(pfn + i < d->npfn);
        assert_true(file_off + (i + 1) * 4096 <= d->size);
        d->off[pfn + i] = file_off + i * 4096;
    }
}

/* Build the pfn -> file offset table for the format. */
static void index_dump(dumpf *d, gen_format f, uint64_t npfn)
{
    d->npfn = npfn;
    d->off = malloc(npfn * sizeof(*d->off));
    assert_non_null(d->off);
    for (uint64_t i = 0; i < npfn; i++)
        d->off[i] = UINT64_MAX;
    const uint8_t *m = d->map;
    if (f == GEN_FMT_RAW) {
        assert_int_equal(d->size, npfn * 4096);
        set_pages(d, 0, npfn, 0);
        return;
    }
    if (f == GEN_FMT_ELF) { /* ELF core: PT_LOAD p_paddr / p_offset / p_filesz */
        assert_memory_equal(m, "\x7f" "ELF", 4);
        bool is64 = m[4] == 2;
        uint16_t phnum;
        memcpy(&phnum, m + (is64 ? 0x38 : 0x2c), 2);
        uint64_t phoff = is64 ? rd64(m + 0x20) : rd32(m + 0x1c), end = 0;
        assert_true(phnum >= 2 && phnum <= 16);
        for (unsigned i = 0; i < phnum; i++) {
            const uint8_t *ph = m + phoff + i * (is64 ? 56 : 32);
            assert_int_equal(rd32(ph), 1); /* PT_LOAD */
            uint64_t off = is64 ? rd64(ph + 8) : rd32(ph + 4);
            uint64_t pa = is64 ? rd64(ph + 0x18) : rd32(ph + 0xc);
            uint64_t sz = is64 ? rd64(ph + 0x20) : rd32(ph + 0x10);
            assert_int_equal(pa % 4096, 0);
            set_pages(d, pa / 4096, sz / 4096, off);
            end = off + sz > end ? off + sz : end;
        }
        assert_int_equal(end, d->size);
        return;
    }
    assert_memory_equal(m, "PAGE", 4);
    if (f == GEN_FMT_FULL32) {
        assert_memory_equal(m + 4, "DUMP", 4);
        assert_int_equal(rd32(m + 0xf88), 1);
        uint32_t nruns = rd32(m + 0x64);
        assert_true(nruns >= 2 && nruns <= 86);
        uint64_t fo = 0x1000;
        for (uint32_t r = 0; r < nruns; r++) {
            uint32_t base = rd32(m + 0x6c + 8 * r), cnt = rd32(m + 0x70 + 8 * r);
            set_pages(d, base, cnt, fo);
            fo += (uint64_t)cnt * 4096;
        }
        assert_int_equal(fo, d->size);
        assert_int_equal(rd64(m + 0xfa0), d->size);
        return;
    }
    assert_memory_equal(m + 4, "DU64", 4);
    assert_int_equal(rd64(m + 0xfa0), d->size);      /* RequiredDumpSpace */
    assert_memory_equal(m + 0x3c, "PAGE", 4);        /* untouched header bytes */
    uint32_t dt = rd32(m + 0xf98);
    if (f == GEN_FMT_FULL) {
        assert_int_equal(dt, 1);
        uint32_t nruns = rd32(m + 0x88);
        assert_true(nruns >= 2 && nruns <= 42);
        uint64_t fo = 0x2000;
        for (uint32_t r = 0; r < nruns; r++) {
            uint64_t base = rd64(m + 0x98 + 16 * r), cnt = rd64(m + 0xa0 + 16 * r);
            set_pages(d, base, cnt, fo);
            fo += cnt * 4096;
        }
        assert_int_equal(fo, d->size);
    } else if (f == GEN_FMT_BITMAP || f == GEN_FMT_KERNEL) {
        assert_int_equal(dt, f == GEN_FMT_BITMAP ? 5 : 6);
        assert_memory_equal(m + 0x2000, f == GEN_FMT_BITMAP ? "FDMP" : "SDMP", 4);
        assert_memory_equal(m + 0x2004, "DUMP", 4);
        uint64_t first = rd64(m + 0x2020), present = rd64(m + 0x2028), bits = rd64(m + 0x2030);
        assert_int_equal(bits, npfn);
        uint64_t fo = first, seen = 0;
        for (uint64_t pfn = 0; pfn < bits; pfn++)
            if (m[0x2038 + pfn / 8] >> (pfn % 8) & 1) {
                set_pages(d, pfn, 1, fo);
                fo += 4096;
                seen++;
            }
        assert_int_equal(seen, present);
        assert_int_equal(fo, d->size);
    } else {
        assert_int_equal(dt, 8);
        assert_int_equal(rd32(m + 0x2000), 0x40);
        assert_memory_equal(m + 0x2004, "RDMP", 4);
        uint64_t meta = rd64(m + 0x2010), first = rd64(m + 0x2018);
        assert_int_equal(first, 0x2020 + meta);      /* kdmp-parser's check */
        uint64_t fo = first;
        for (uint64_t i = 0; i < meta / 16; i++) {
            uint64_t pfn = rd64(m + 0x2030 + 16 * i), cnt = rd64(m + 0x2038 + 16 * i);
            if (!pfn)
                break;
            set_pages(d, pfn, cnt, fo);
            fo += cnt * 4096;
        }
        assert_int_equal(fo, d->size);
    }
}

static bool pread_phys(const dumpf *d, uint64_t pa, void *buf, size_t len)
{
    uint8_t *o = buf;
    while (len) {
        uint64_t pfn = pa / 4096, in = pa % 4096;
        size_t n = 4096 - in < len ? 4096 - in : len;
        if (pfn >= d->npfn || d->off[pfn] == UINT64_MAX)
            return false;
        memcpy(o, d->map + d->off[pfn] + in, n);
        o += n;
        pa += n;
        len -= n;
    }
    return true;
}

/* ---------------- page walk ---------------- */

typedef enum { M_X64, M_PAE, M_X86 } pmode;
static unsigned g_transitions;

static bool leaf_ok(uint64_t e)
{
    if (e & 1)
        return true;
    if ((e & 0x800) && !(e & 0x400)) {
        g_transitions++;
        return true;
    }
    return false;
}

static bool xlat(const dumpf *d, pmode m, uint64_t dtb, uint64_t va, uint64_t *pa)
{
    uint64_t e;
    if (m == M_X86) {
        uint32_t pde, pte;
        if (!pread_phys(d, (dtb & ~0xfffull) + ((va >> 22) & 0x3ff) * 4, &pde, 4) || !(pde & 1))
            return false;
        if (pde & 0x80) {
            *pa = (pde & 0xffc00000u) + (va & 0x3fffff);
            return true;
        }
        if (!pread_phys(d, (pde & 0xfffff000u) + ((va >> 12) & 0x3ff) * 4, &pte, 4) || !leaf_ok(pte))
            return false;
        *pa = (pte & 0xfffff000u) + (va & 0xfff);
        return true;
    }
    const uint64_t mask = 0x000ffffffffff000ull;
    uint64_t table;
    int level;
    if (m == M_PAE) {
        if (!pread_phys(d, (dtb & ~0x1full) + ((va >> 30) & 3) * 8, &e, 8) || !(e & 1))
            return false;
        table = e & mask;
        level = 2;
    } else {
        table = dtb & ~0xfffull;
        level = 4;
    }
    for (; level >= 1; level--) {
        unsigned shift = 12 + 9 * (level - 1);
        if (!pread_phys(d, table + ((va >> shift) & 0x1ff) * 8, &e, 8))
            return false;
        if (level == 1)
            break;
        if (!(e & 1))
            return false;
        if (level <= 3 && (e & 0x80)) {
            uint64_t size = 1ull << shift;
            *pa = (e & mask & ~(size - 1)) + (va & (size - 1));
            return true;
        }
        table = e & mask;
    }
    if (!leaf_ok(e))
        return false;
    *pa = (e & mask) + (va & 0xfff);
    return true;
}

typedef struct ctx {
    dumpf d;
    pmode mode;
    uint64_t dtb;
    unsigned ptr;
    const ds_profile *p;
} ctx;

static bool vread(const ctx *c, uint64_t va, void *buf, size_t len)
{
    uint8_t *o = buf;
    while (len) {
        size_t n = 4096 - (va & 0xfff) < len ? 4096 - (va & 0xfff) : len;
        uint64_t pa;
        if (!xlat(&c->d, c->mode, c->dtb, va, &pa) || !pread_phys(&c->d, pa, o, n))
            return false;
        o += n;
        va += n;
        len -= n;
    }
    return true;
}

static uint64_t vptr(const ctx *c, uint64_t va, bool *ok)
{
    uint64_t v = 0;
    *ok = vread(c, va, &v, c->ptr);
    return v;
}

/* ---------------- truth ---------------- */

static const char *jfind(const char *line, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? p + strlen(pat) : NULL;
}

static uint64_t jnum(const char *line, const char *key)
{
    const char *p = jfind(line, key);
    assert_non_null(p);
    if (*p == '"')
        p++;
    if (strncmp(p, "null", 4) == 0)
        return 0;
    return strtoull(p, NULL, 0);
}

static bool jbool(const char *line, const char *key)
{
    const char *p = jfind(line, key);
    assert_non_null(p);
    return strncmp(p, "true", 4) == 0;
}

static void jstr(const char *line, const char *key, char *out, size_t cap)
{
    const char *p = jfind(line, key);
    assert_non_null(p);
    assert_int_equal(*p, '"');
    p++;
    size_t n = 0;
    while (*p && *p != '"' && n + 1 < cap) {
        if (p[0] == '\\' && p[1] == 'u') {
            out[n++] = (char)strtoul((char[]){p[4], p[5], 0}, NULL, 16);
            p += 6;
        } else if (p[0] == '\\') {
            out[n++] = p[1];
            p += 2;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = 0;
}

typedef struct tproc {
    uint64_t pid, va, pa, pool_va, hdr_va;
    char name[32], cat[32];
    bool linked, wiped, straddles, in_cid, seen;
    unsigned threads;
} tproc;

typedef struct truth {
    char *hdr;
    tproc *procs;
    size_t nprocs;
    char **threads;
    size_t nthreads;
    uint64_t *decoys;
    size_t ndecoys;
    char *drivers[32], *unloaded[8];
    size_t ndrivers, nunloaded;
} truth;

static void load_truth(const char *path, truth *t)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    memset(t, 0, sizeof(*t));
    t->procs = calloc(4096, sizeof(*t->procs));
    t->threads = calloc(65536, sizeof(char *));
    t->decoys = calloc(256, sizeof(uint64_t));
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, "\"type\":\"dump_truth\"")) {
            t->hdr = strdup(line);
        } else if (strstr(line, "\"type\":\"process\"")) {
            tproc *p = &t->procs[t->nprocs++];
            p->pid = jnum(line, "pid");
            p->va = jnum(line, "eprocess_va");
            p->pa = jnum(line, "eprocess_pa");
            p->pool_va = jnum(line, "pool_header_va");
            p->hdr_va = jnum(line, "object_header_va");
            jstr(line, "name", p->name, sizeof(p->name));
            jstr(line, "category", p->cat, sizeof(p->cat));
            p->linked = jbool(line, "linked");
            p->wiped = jbool(line, "tag_wiped");
            p->straddles = jbool(line, "straddles");
            p->in_cid = jbool(line, "in_cid_table");
            p->threads = (unsigned)jnum(line, "thread_count");
        } else if (strstr(line, "\"type\":\"thread\"")) {
            t->threads[t->nthreads++] = strdup(line);
        } else if (strstr(line, "\"type\":\"driver\"") && t->ndrivers < 32) {
            t->drivers[t->ndrivers++] = strdup(line);
        } else if (strstr(line, "\"type\":\"unloaded\"") && t->nunloaded < 8) {
            t->unloaded[t->nunloaded++] = strdup(line);
        } else if (strstr(line, "\"type\":\"decoy\"")) {
            t->decoys[t->ndecoys++] = jnum(line, "pa");
        }
    }
    free(line);
    fclose(f);
    assert_non_null(t->hdr);
}

static void free_truth(truth *t)
{
    free(t->hdr);
    free(t->procs);
    for (size_t i = 0; i < t->nthreads; i++)
        free(t->threads[i]);
    free(t->threads);
    free(t->decoys);
    for (size_t i = 0; i < t->ndrivers; i++)
        free(t->drivers[i]);
    for (size_t i = 0; i < t->nunloaded; i++)
        free(t->unloaded[i]);
}

static tproc *proc_by_va(truth *t, uint64_t va)
{
    for (size_t i = 0; i < t->nprocs; i++)
        if (t->procs[i].va == va)
            return &t->procs[i];
    return NULL;
}

/* Read len bytes of an object at (va, pa): in its first page physically,
 * beyond it through the page tables (pool is only virtually contiguous). */
static bool obj_read(const ctx *c, uint64_t va, uint64_t pa, uint32_t off, void *buf, size_t len)
{
    if ((pa & 0xfff) + off + len <= 4096)
        return pread_phys(&c->d, pa + off, buf, len);
    return vread(c, va + off, buf, len);
}

static uint64_t obj_ptr(const ctx *c, uint64_t va, uint64_t pa, uint16_t off)
{
    uint64_t v = 0;
    assert_int_not_equal(off, DS_OFF_NONE);
    assert_true(obj_read(c, va, pa, off, &v, c->ptr));
    return v;
}

/* ---------------- checks ---------------- */

/* Read at a VA that may sit in the (unmapped) page of an object whose
 * physical address is known: translate, else derive from the object. */
static void obj_page_read(const ctx *c, uint64_t va, uint64_t obj_va, uint64_t obj_pa, void *buf,
                          size_t len)
{
    if (vread(c, va, buf, len))
        return;
    assert_int_equal(va & ~0xfffull, obj_va & ~0xfffull);
    assert_true(pread_phys(&c->d, obj_pa - (obj_va - va), buf, len));
}

/* OBJECT_HEADER type and the pool allocation around the body. */
static void check_object(const ctx *c, const char *hdr, bool process, uint64_t va, uint64_t pa,
                         uint64_t hdr_va, uint64_t pool_va, uint64_t *xp_type)
{
    const ds_profile *p = c->p;
    assert_int_equal(hdr_va + p->oh_body, va);
    uint8_t oh[0x40];
    obj_page_read(c, hdr_va, va, pa, oh, p->oh_size);
    if (p->xp_object_type) {
        uint64_t t = 0;
        memcpy(&t, oh + p->oh_type, 4);
        uint64_t *want = &xp_type[process ? 0 : 1];
        if (!*want)
            *want = t;
        assert_int_equal(t, *want);
        assert_int_not_equal(xp_type[0], xp_type[1]);
    } else {
        uint8_t ti = oh[p->oh_type_index];
        if (p->typeindex_cookie)
            ti ^= (uint8_t)jnum(hdr, "ob_header_cookie") ^ (uint8_t)(hdr_va >> 8);
        uint8_t want = process ? (p->process_type_index ? p->process_type_index : 7)
                               : (p->thread_type_index ? p->thread_type_index : 8);
        assert_int_equal(ti, want);
    }
    uint8_t ph[8];
    obj_page_read(c, pool_va, va, pa, ph, 8);
    uint32_t units = p->is64 ? ph[2] : (uint32_t)(rd32(ph) >> 16 & 0x1ff);
    uint64_t end = pool_va + (uint64_t)units * p->pool_align;
    uint32_t size = process ? p->eprocess_size : p->ethread_size;
    uint64_t rsize = (size + p->pool_align - 1) / p->pool_align * p->pool_align;
    if (p->object_top_down)
        assert_true(va + size <= end && hdr_va >= pool_va + p->pool_header_size);
    else
        assert_int_equal(va, end - rsize);   /* bottom-up: body at the end */
}

static void check_active_list(ctx *c, truth *t)
{
    const ds_profile *p = c->p;
    uint64_t head = jnum(t->hdr, "ps_active_process_head");
    bool ok;
    uint64_t cur = vptr(c, head, &ok);
    assert_true(ok);
    uint64_t prev = head;
    size_t steps = 0;
    while (cur != head) {
        assert_true(++steps < 10000);
        tproc *tp = proc_by_va(t, cur - p->ep_links);
        assert_non_null(tp);
        assert_true(tp->linked);
        assert_false(tp->seen);
        tp->seen = true;
        uint64_t links[2] = {0, 0};
        if (!vread(c, cur, links, 2 * c->ptr)) {
            /* only the planted unmapped process may fail to translate */
            assert_string_equal(tp->cat, "unmapped");
            assert_true(pread_phys(&c->d, tp->pa + p->ep_links, links, 2 * c->ptr));
        }
        if (c->ptr == 4) {
            links[1] = links[0] >> 32;
            links[0] &= 0xffffffff;
        }
        assert_int_equal(links[1], prev);
        prev = cur;
        cur = links[0];
    }
    for (size_t i = 0; i < t->nprocs; i++)
        assert_int_equal(t->procs[i].seen, t->procs[i].linked);
}

static void check_processes(ctx *c, truth *t, bool *saw_straddle)
{
    const ds_profile *p = c->p;
    uint64_t xp_type[2] = {0, 0};
    uint32_t proc_tag = p->protected_tags ? 0xE36F7250u : 0x636F7250u;
    for (size_t i = 0; i < t->nprocs; i++) {
        tproc *tp = &t->procs[i];
        uint8_t type = 0;
        assert_true(pread_phys(&c->d, tp->pa, &type, 1));
        assert_int_equal(type, 3);
        check_object(c, t->hdr, true, tp->va, tp->pa, tp->hdr_va, tp->pool_va, xp_type);
        assert_int_equal(obj_ptr(c, tp->va, tp->pa, p->ep_pid), tp->pid);
        char name[16] = {0};
        assert_true(obj_read(c, tp->va, tp->pa, p->ep_name, name, 15));
        assert_string_equal(name, tp->name);
        uint64_t pa;
        bool unmapped = strcmp(tp->cat, "unmapped") == 0;
        if (unmapped) {
            assert_false(xlat(&c->d, c->mode, c->dtb, tp->va, &pa));
            assert_false(tp->straddles);
        } else {
            assert_true(xlat(&c->d, c->mode, c->dtb, tp->va, &pa));
            assert_int_equal(pa, tp->pa);
        }
        if (tp->straddles) {
            uint64_t page_end = (tp->va | 0xfff) + 1, pa2;
            assert_true(xlat(&c->d, c->mode, c->dtb, page_end, &pa2));
            assert_int_not_equal(pa2, (tp->pa | 0xfff) + 1); /* not physically adjacent */
            if (tp->linked)
                *saw_straddle = true;
        }
        /* pool header: same page as the body unless the body straddles */
        uint64_t ph_pa = tp->pa - (tp->va - tp->pool_va);
        if ((tp->pool_va & ~0xfffull) != (tp->va & ~0xfffull))
            assert_true(xlat(&c->d, c->mode, c->dtb, tp->pool_va, &ph_pa));
        uint8_t ph[8];
        assert_true(pread_phys(&c->d, ph_pa, ph, 8));
        uint32_t tag = rd32(ph + 4);
        if (tp->wiped)
            assert_true(tag != proc_tag && tag != 0x636F7250u && tag != 0xE36F7250u);
        else
            assert_int_equal(tag, proc_tag);
        unsigned pool_type = p->is64 ? ph[3] : (unsigned)(ph[3] >> 1);
        if (strcmp(tp->cat, "terminated_freed") == 0)
            assert_int_equal(pool_type, 0);
        else
            assert_int_not_equal(pool_type, 0);
        /* live thread list length = ActiveThreads = truth thread_count */
        uint64_t head = tp->va + p->ep_thread_list;
        if (!unmapped && strcmp(tp->cat, "terminated_freed") != 0) {
            bool ok;
            uint64_t cur = vptr(c, head, &ok);
            assert_true(ok);
            unsigned n = 0;
            while (cur != head) {
                assert_true(++n <= 1000);
                cur = vptr(c, cur, &ok);
                assert_true(ok);
            }
            assert_int_equal(n, tp->threads);
        }
    }
}

static void check_threads(ctx *c, truth *t)
{
    const ds_profile *p = c->p;
    uint16_t owner = p->kt_process != DS_OFF_NONE ? p->kt_process : p->kt_apc_process;
    uint64_t xp_type[2] = {0, 0};
    for (size_t i = 0; i < t->nthreads; i++) {
        const char *l = t->threads[i];
        uint64_t va = jnum(l, "ethread_va"), pa = jnum(l, "ethread_pa");
        uint64_t tid = jnum(l, "tid"), pid = jnum(l, "pid");
        uint8_t type = 0;
        assert_true(pread_phys(&c->d, pa, &type, 1));
        assert_int_equal(type, 6);
        check_object(c, t->hdr, false, va, pa, jnum(l, "object_header_va"), jnum(l, "pool_header_va"),
                     xp_type);
        assert_int_equal(obj_ptr(c, va, pa, p->et_cid_tid), tid);
        assert_int_equal(obj_ptr(c, va, pa, p->et_cid_pid), pid);
        uint64_t ep = obj_ptr(c, va, pa, owner);
        tproc *tp = proc_by_va(t, ep);
        assert_non_null(tp);
        assert_int_equal(tp->pid, pid);
        uint64_t xpa;
        assert_true(xlat(&c->d, c->mode, c->dtb, va, &xpa));
        assert_int_equal(xpa, pa);
    }
}

/* CID table: TableCode at +0 (< 9600) or +8; entry per handle/4. */
static void check_cid(ctx *c, truth *t)
{
    const ds_profile *p = c->p;
    uint64_t ht = jnum(t->hdr, "cid_handle_table"), glob = jnum(t->hdr, "psp_cid_table");
    bool ok;
    assert_int_equal(vptr(c, glob, &ok), ht);
    assert_true(ok);
    uint64_t code = vptr(c, ht + (p->build_min >= 9600 ? 8 : 0), &ok);
    assert_true(ok);
    unsigned esz = 2 * c->ptr, per = 4096 / esz;
    for (size_t i = 0; i < t->nprocs; i++) {
        const tproc *tp = &t->procs[i];
        uint64_t idx = tp->pid / 4, leaf = code & ~3ull;
        if (code & 3)
            leaf = vptr(c, leaf + (idx / per) * c->ptr, &ok);
        else
            assert_true(idx < per);
        uint64_t ev = vptr(c, leaf + (idx % per) * esz, &ok);
        assert_true(ok);
        uint64_t obj;
        if (c->ptr == 8 && p->build_min >= 9600)
            obj = (uint64_t)((int64_t)ev >> 16) & ~0xfull;
        else
            obj = ev & ~7ull;
        if (tp->in_cid)
            assert_int_equal(obj, tp->va);
        else
            assert_int_not_equal(obj, tp->va);
    }
}

static uint64_t rol64(uint64_t v, unsigned n) { n &= 63; return n ? (v << n) | (v >> (64 - n)) : v; }

static void check_kdbg(ctx *c, truth *t, gen_format f, gen_kdbg mode)
{
    uint64_t va = jnum(t->hdr, "kdbg_va");
    uint64_t w[0x400 / 8];
    assert_true(vread(c, va, w, 0x18));
    bool enc = jbool(t->hdr, "kdbg_encoded");
    bool live = (f == GEN_FMT_RAW || f == GEN_FMT_ELF) && c->p->is64 && c->p->build_min >= 9200;
    assert_int_equal(enc, mode == GEN_KDBG_ENCODED || (mode == GEN_KDBG_AUTO && live));
    assert_int_equal(jbool(t->hdr, "kdbg_wiped"), mode == GEN_KDBG_WIPED);
    if (mode == GEN_KDBG_WIPED) {
        /* the whole block (the largest size of any build) reads as zeros */
        uint8_t z[0x380], zero[0x380] = {0};
        assert_true(vread(c, va, z, 0x290));
        assert_memory_equal(z, zero, 0x290);
        return;
    }
    uint64_t never = jnum(t->hdr, "ki_wait_never"), always = jnum(t->hdr, "ki_wait_always");
    uint64_t flag_va = jnum(t->hdr, "kdp_data_block_encoded_va");
    uint8_t flag = 0xff;
    assert_true(vread(c, flag_va, &flag, 1));
    assert_int_equal(flag, enc ? 1 : 0);
    size_t n = 0x18 / 8;
    for (int pass = 0; pass < 2; pass++) {
        if (enc)
            for (size_t i = 0; i < n; i++)
                w[i] = __builtin_bswap64(rol64(w[i] ^ never, (uint8_t)never) ^ flag_va) ^ always;
        if (pass == 0) {
            uint32_t size = (uint32_t)(w[2] >> 32);
            assert_true(size >= 0x290 && size <= 0x400);
            n = size / 8;
            assert_true(vread(c, va, w, size));
        }
    }
    assert_int_equal((uint32_t)w[2], 0x4742444b);
    uint64_t sx = c->ptr == 4 ? 0xffffffffull : ~0ull;
    assert_int_equal(w[3] & sx, jnum(t->hdr, "kernel_base"));
    assert_int_equal(w[0x50 / 8] & sx, jnum(t->hdr, "ps_active_process_head"));
    assert_int_equal(w[0x58 / 8] & sx, jnum(t->hdr, "psp_cid_table"));
    if (n * 8 > 0x2a8) /* XP's 0x290-byte block ends before SizeEProcess */
        assert_int_equal(((uint16_t *)w)[0x2a8 / 2], c->p->eprocess_size);
    /* planted KdCopyDataBlock: rip-relative operands name the globals */
    uint64_t kc = jnum(t->hdr, "kd_copy_data_block_va");
    if (!c->p->is64) {
        assert_int_equal(kc, 0);
        return;
    }
    /* byte offsets of each variant (gen_kernel.c header comments) */
    typedef struct { unsigned at; uint8_t op[3]; const char *key; int key_word; } ref;
    static const ref classic[] = {
        {0x0a, {0x80, 0x3d, 0}, "kdp_data_block_encoded_va", 0},
        {0x16, {0x48, 0x8d, 0x0d}, "kdbg_va", 0},
        {0x26, {0x48, 0x8b, 0x05}, NULL, 1},
        {0x45, {0x48, 0x33, 0x05}, NULL, 2},
    };
    static const ref reordered[] = {
        {0x14, {0x80, 0x3d, 0}, "kdp_data_block_encoded_va", 0},
        {0x1d, {0x48, 0x8d, 0x15}, "kdbg_va", 0},
        {0x0d, {0x4c, 0x8b, 0x15}, NULL, 1},
        {0x2a, {0x4c, 0x8b, 0x0d}, NULL, 2},
    };
    char variant[16] = "";
    jstr(t->hdr, "kd_copy_data_block_variant", variant, sizeof(variant));
    bool re = strcmp(variant, "reordered") == 0;
    assert_true(re || strcmp(variant, "classic") == 0);
    assert_int_equal(jnum(t->hdr, "kd_copy_data_block_decoys"), 5000);
    const ref *refs = re ? reordered : classic;
    uint8_t code[0x7f];
    assert_true(vread(c, kc, code, sizeof(code)));
    for (unsigned i = 0; i < 4; i++) {
        unsigned oplen = refs[i].op[2] ? 3 : 2, end = refs[i].at + oplen + 4 + (i == 0);
        assert_memory_equal(code + refs[i].at, refs[i].op, oplen);
        int32_t rel;
        memcpy(&rel, code + refs[i].at + oplen, 4);
        uint64_t target = kc + end + (int64_t)rel, v = 0;
        if (refs[i].key) {
            assert_int_equal(target, jnum(t->hdr, refs[i].key));
        } else {
            assert_true(vread(c, target, &v, 8));
            assert_int_equal(v, refs[i].key_word == 1 ? never : always);
        }
    }
    assert_memory_equal(code + (re ? 0x47 : 0x42), "\x48\x0f\xc8", 3);
}

/* Drivers as the truth lists them, read back with this file's own reader:
 * loader entries (DllBase, SizeOfImage), DRIVER_OBJECTs (Type, Size,
 * DriverStart, DriverSection), the list walked from its head in order,
 * the hidden entry linked to itself, images mapped or not, and
 * MmUnloadedDrivers' slots. */
static void check_drivers(ctx *c, truth *t)
{
    const ds_profile *p = c->p;
    unsigned ptr = c->ptr;
    bool ok;
    assert_true(t->ndrivers >= 11);
    uint64_t head = jnum(t->hdr, "ps_loaded_module_list"), cur = vptr(c, head, &ok);
    assert_true(ok);
    size_t listed = 0, hidden = 0, stale = 0;
    for (size_t i = 0; i < t->ndrivers; i++) {
        const char *l = t->drivers[i];
        char cat[16];
        jstr(l, "category", cat, sizeof(cat));
        uint64_t base = jnum(l, "base"), size = jnum(l, "size"), ldr = jnum(l, "ldr_va");
        uint64_t obj = jnum(l, "driver_object_va");
        assert_int_equal(vptr(c, ldr + p->ldr_dll_base, &ok), base);
        uint32_t soi = 0;
        assert_true(vread(c, ldr + p->ldr_size_of_image, &soi, 4));
        assert_int_equal(soi, size);
        if (obj != 0) {
            int16_t ts[2];
            assert_true(vread(c, obj, ts, 4));
            assert_int_equal(ts[0], 4);
            assert_int_equal((uint16_t)ts[1], ptr == 8 ? 0x150 : 0xa8);
            assert_int_equal(vptr(c, obj + 3 * ptr, &ok), base);
            assert_int_equal(vptr(c, obj + 5 * ptr, &ok), ldr);
        }
        uint16_t mz = 0;
        bool mapped = vread(c, base, &mz, 2) && mz == 0x5a4d;
        if (strcmp(cat, "listed") == 0) {
            assert_int_equal(jnum(l, "list_index"), listed);
            assert_int_equal(cur, ldr); /* the list holds it, in order */
            cur = vptr(c, cur, &ok);
            listed++;
            assert_true(mapped);
        } else if (strcmp(cat, "hidden") == 0) {
            assert_int_equal(vptr(c, ldr, &ok), ldr); /* unlinked: Flink to itself */
            assert_true(mapped);
            hidden++;
        } else {
            assert_string_equal(cat, "stale");
            assert_false(mapped);
            stale++;
        }
    }
    assert_int_equal(cur, head); /* nothing else is listed */
    assert_int_equal(hidden, 1);
    assert_int_equal(stale, 1);
    /* MmUnloadedDrivers -> array of UNLOADED_DRIVERS */
    uint64_t arr = vptr(c, jnum(t->hdr, "mm_unloaded_drivers"), &ok);
    assert_true(ok);
    size_t esz = ptr == 8 ? 0x28 : 0x18;
    assert_int_equal(t->nunloaded, 3);
    for (size_t i = 0; i < t->nunloaded; i++) {
        const char *l = t->unloaded[i];
        uint64_t at = arr + jnum(l, "index") * esz;
        assert_int_equal(vptr(c, at + 2 * ptr, &ok), jnum(l, "start"));
        assert_int_equal(vptr(c, at + 3 * ptr, &ok), jnum(l, "end"));
        uint16_t len = 0;
        assert_true(vread(c, at, &len, 2));
        char name[32], got[32] = {0};
        jstr(l, "name", name, sizeof(name));
        assert_int_equal(len, 2 * strlen(name));
        uint64_t buf = vptr(c, at + ptr, &ok);
        for (size_t k = 0; k < strlen(name); k++) {
            uint16_t ch;
            assert_true(vread(c, buf + 2 * k, &ch, 2));
            got[k] = (char)ch;
        }
        assert_string_equal(got, name);
    }
}

static void check_header(ctx *c, truth *t, gen_format f)
{
    const uint8_t *m = c->d.map;
    if (f == GEN_FMT_RAW || f == GEN_FMT_ELF) {
        uint64_t ls = jnum(t->hdr, "low_stub_pa");
        if (c->p->is64) {
            assert_true(ls > 0 && ls < 0x100000);
            uint64_t q[0xa8 / 8];
            assert_true(pread_phys(&c->d, ls, q, sizeof(q)));
            assert_int_equal(q[0] & 0xffffffffffff00ffull, 0x00000001000600e9ull);
            assert_int_equal(q[0xa0 / 8], c->dtb);
            uint64_t kb = jnum(t->hdr, "kernel_base");
            assert_true(q[0x70 / 8] > kb && q[0x70 / 8] < kb + 0x1000000);
        } else {
            assert_int_equal(ls, 0);
        }
        return;
    }
    if (f == GEN_FMT_FULL32) {
        assert_int_equal(rd32(m + 0x10), c->dtb);
        assert_int_equal(rd32(m + 0x1c), jnum(t->hdr, "ps_active_process_head"));
        assert_int_equal(rd32(m + 0x60), jnum(t->hdr, "kdbg_va"));
        assert_int_equal(m[0x5c], jbool(t->hdr, "pae") ? 1 : 0);
        assert_int_equal(rd32(m + 0xc), jnum(t->hdr, "build"));
        return;
    }
    assert_int_equal(rd64(m + 0x10), c->dtb);
    assert_int_equal(rd64(m + 0x28), jnum(t->hdr, "ps_active_process_head"));
    assert_int_equal(rd64(m + 0x80), jnum(t->hdr, "kdbg_va"));
    assert_int_equal(rd32(m + 0xc), jnum(t->hdr, "build"));
    assert_int_equal(rd32(m + 0x30), 0x8664);
}

static void check_decoys(ctx *c, truth *t, gen_format f, unsigned *absent)
{
    for (size_t i = 0; i < t->ndecoys; i++) {
        uint8_t tag[4];
        if (!pread_phys(&c->d, t->decoys[i] + 4, tag, 4)) {
            (*absent)++;
            assert_true(f == GEN_FMT_KERNEL || f == GEN_FMT_RDMP);
            continue;
        }
        assert_true(memcmp(tag, "Pro", 3) == 0 || memcmp(tag, "Thr", 3) == 0);
        for (size_t k = 0; k < t->nprocs; k++)
            assert_int_not_equal(t->decoys[i], t->procs[k].pa);
    }
}

/* ---------------- driver ---------------- */

static char g_dir[256];

static void gen_path(char *out, size_t cap, const char *key, gen_format f, uint64_t seed)
{
    snprintf(out, cap, "%s/%s_%s_%llu.dmp", g_dir, key, gen_format_name(f), (unsigned long long)seed);
}

static void generate(const char *key, gen_format f, uint64_t mib, uint64_t seed, gen_kdbg kdbg,
                     char *path, size_t cap)
{
    gen_path(path, cap, key, f, seed);
    gen_opts o = {.out_path = path, .build_key = key, .format = f, .size_mib = mib, .seed = seed,
                  .kdbg = kdbg};
    ds_errbuf eb = {{0}};
    gen_summary s;
    ds_err e = gen_run(&o, &s, &eb);
    if (e)
        fail_msg("gen_run %s %s: %s", key, gen_format_name(f), eb.msg);
    assert_true(s.processes > 15 && s.threads > s.processes);
}

static void remove_pair(const char *path)
{
    char tp[512];
    snprintf(tp, sizeof(tp), "%s.truth.ndjson", path);
    unlink(path);
    unlink(tp);
}

static void check_one(const char *key, gen_format f, uint64_t mib, uint64_t seed, gen_kdbg kdbg,
                      unsigned *absent, bool *saw_straddle)
{
    char path[400], tpath[512];
    generate(key, f, mib, seed, kdbg, path, sizeof(path));
    snprintf(tpath, sizeof(tpath), "%s.truth.ndjson", path);
    truth t;
    load_truth(tpath, &t);
    ctx c = {0};
    c.p = ds_profile_by_key(key);
    assert_non_null(c.p);
    c.ptr = c.p->ptr_size;
    c.mode = c.p->is64 ? M_X64 : jbool(t.hdr, "pae") ? M_PAE : M_X86;
    assert_int_equal(jbool(t.hdr, "pae"), strcmp(key, "win7_sp1_x86") == 0);
    c.dtb = jnum(t.hdr, "dtb");
    map_file(path, &c.d);
    assert_int_equal(c.d.size, jnum(t.hdr, "file_bytes"));
    index_dump(&c.d, f, mib * 256);
    check_header(&c, &t, f);
    check_active_list(&c, &t);
    check_processes(&c, &t, saw_straddle);
    check_threads(&c, &t);
    check_cid(&c, &t);
    check_kdbg(&c, &t, f, kdbg);
    check_drivers(&c, &t);
    check_decoys(&c, &t, f, absent);
    munmap(c.d.map, c.d.size);
    free(c.d.off);
    free_truth(&t);
    remove_pair(path);
}

static void test_all_builds_formats(void **state)
{
    (void)state;
    static const gen_format fmts[] = {GEN_FMT_RAW, GEN_FMT_FULL, GEN_FMT_BITMAP, GEN_FMT_KERNEL,
                                      GEN_FMT_RDMP, GEN_FMT_FULL32, GEN_FMT_ELF};
    unsigned runs = 0, absent = 0;
    for (unsigned b = 0; gen_build_keys[b]; b++) {
        const ds_profile *p = ds_profile_by_key(gen_build_keys[b]);
        assert_non_null(p);
        bool saw_straddle = false;
        for (unsigned i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
            if (!gen_format_allowed(p, fmts[i]))
                continue;
            check_one(gen_build_keys[b], fmts[i], (runs % 2) ? 32 : 16, 7 + b, GEN_KDBG_AUTO,
                      &absent, &saw_straddle);
            runs++;
        }
        assert_true(saw_straddle);
    }
    assert_int_equal(runs, 5 * 6 + 2 * 3);
    assert_true(g_transitions > 0);  /* some pool PTEs were transition PTEs */
    assert_true(absent > 0);         /* kernel dumps dropped user pages */
}

/* --kdbg plain / encoded / wiped in a live image and a crash dump. */
static void test_kdbg_modes(void **state)
{
    (void)state;
    static const struct { const char *key; gen_format f; gen_kdbg k; } cases[] = {
        {"win10_2004_22h2_x64", GEN_FMT_RAW, GEN_KDBG_PLAIN},
        {"win10_2004_22h2_x64", GEN_FMT_FULL, GEN_KDBG_ENCODED},
        {"win11_24h2_x64", GEN_FMT_RAW, GEN_KDBG_WIPED},
        {"win7_sp1_x86", GEN_FMT_FULL32, GEN_KDBG_WIPED},
    };
    unsigned absent = 0;
    bool straddle = false;
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_one(cases[i].key, cases[i].f, 16, 3, cases[i].k, &absent, &straddle);
}

/* The kernel image's large-page region is chosen after the kernel's own
 * top-level table was allocated; these seeds once put the image over
 * that table (the image's code then overwrote it: "generator write to
 * unmapped va", or a PAE directory silently replaced by image bytes). */
static void test_image_not_over_own_tables(void **state)
{
    (void)state;
    unsigned absent = 0;
    bool straddle = false;
    check_one("win10_2004_22h2_x64", GEN_FMT_RAW, 16, 158, GEN_KDBG_AUTO, &absent, &straddle);
    check_one("win10_2004_22h2_x64", GEN_FMT_FULL, 16, 215, GEN_KDBG_AUTO, &absent, &straddle);
    check_one("win7_sp1_x86", GEN_FMT_RAW, 12, 1, GEN_KDBG_AUTO, &absent, &straddle);
}

static void test_rejects_bad_options(void **state)
{
    (void)state;
    char path[400];
    gen_path(path, sizeof(path), "bad", GEN_FMT_RAW, 0);
    ds_errbuf eb = {{0}};
    gen_opts o = {.out_path = path, .build_key = "winxp_sp3_x86", .format = GEN_FMT_FULL, .size_mib = 16};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    assert_non_null(strstr(eb.msg, "full"));
    o = (gen_opts){.out_path = path, .build_key = "win10_2004_22h2_x64", .format = GEN_FMT_FULL32, .size_mib = 16};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    o = (gen_opts){.out_path = path, .build_key = "win10_2004_22h2_x64", .size_mib = GEN_MIN_MIB - 1};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    o = (gen_opts){.out_path = path, .build_key = "win7_sp1_x86", .size_mib = GEN_MIN_MIB_X86 - 1};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    o = (gen_opts){.out_path = path, .build_key = "win8_x64", .size_mib = 16};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    /* Windows 7 never encodes KDBG; x86 neither */
    o = (gen_opts){.out_path = path, .build_key = "win7_sp1_x64", .size_mib = 16,
                   .kdbg = GEN_KDBG_ENCODED};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    o = (gen_opts){.out_path = path, .build_key = "win7_sp1_x86", .size_mib = 16,
                   .kdbg = GEN_KDBG_ENCODED};
    assert_int_equal(gen_run(&o, NULL, &eb), DS_ERR_ARG);
    assert_int_equal(access(path, F_OK), -1);
}

static uint64_t hash_file(const char *path)
{
    dumpf d;
    map_file(path, &d);
    uint64_t h = XXH64(d.map, d.size, 0);
    munmap(d.map, d.size);
    return h;
}

static void test_deterministic(void **state)
{
    (void)state;
    static const struct { const char *key; gen_format f; bool noise; } cases[] = {
        {"win10_2004_22h2_x64", GEN_FMT_BITMAP, true},
        {"win7_sp1_x86", GEN_FMT_RAW, false},
        {"win11_24h2_x64", GEN_FMT_RDMP, false},
    };
    for (unsigned i = 0; i < 3; i++) {
        uint64_t h[3], ht[3];
        for (unsigned k = 0; k < 3; k++) {
            char path[400], tpath[512];
            uint64_t seed = k == 2 ? 1234 : 99;
            gen_path(path, sizeof(path), cases[i].key, cases[i].f, seed * 10 + k);
            gen_opts o = {.out_path = path, .build_key = cases[i].key, .format = cases[i].f,
                          .size_mib = 16, .seed = seed, .noise = cases[i].noise};
            ds_errbuf eb = {{0}};
            assert_int_equal(gen_run(&o, NULL, &eb), DS_OK);
            snprintf(tpath, sizeof(tpath), "%s.truth.ndjson", path);
            h[k] = hash_file(path);
            ht[k] = hash_file(tpath);
            remove_pair(path);
        }
        assert_true(h[0] == h[1]);
        assert_true(ht[0] == ht[1]);
        assert_true(h[0] != h[2]);
        assert_true(ht[0] != ht[2]);
    }
}

static int setup(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof(g_dir), "%s/dumpgen-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kdbg_modes),
        cmocka_unit_test(test_image_not_over_own_tables),
        cmocka_unit_test(test_rejects_bad_options),
        cmocka_unit_test(test_all_builds_formats),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
