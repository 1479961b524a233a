/* gen_write.c - the dump file writers.
 *
 * Every format is "a header, then pages in increasing pfn order": raw
 * (no header, every pfn, file offset = PA), full and full32 (the RAM runs
 * back to back after a 0x2000 / 0x1000 byte header), bitmap and kernel
 * (DUMP_HEADER64, BMP header + bitmap at 0x2000, pages from FirstPage),
 * rdmp (DUMP_HEADER64, RDMP header at 0x2000, then a list of
 * {u64 first pfn, u64 page count} ranges ended by a zero entry, pages from
 * FirstPageOffset = 0x2020 + MetadataSize, as kdmp-parser reads it).
 *
 * Page content: a stored page as generated; else, with --noise, the
 * page's wyrand noise; else nothing is written and the file gets a hole
 * (sparse file).  Pages are gathered in an 8 MiB buffer and written with
 * pwrite(), so a noisy multi-GiB dump is bound by disk speed.
 *
 * `kernel` and `rdmp` keep only kernel pages: user-mode pages (PEBs,
 * TEBs, user heap) are dropped, and of the pages the generator never
 * touched, 64-page blocks are kept or dropped at random (about 55% kept),
 * standing in for free and cache memory a kernel dump leaves out.
 *
 * Header bytes the generator does not set keep the "PAGE" fill Windows
 * uses for unused header space. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen_int.h"
#include "dumpfmt.h"

#define WBUF (8u << 20)

typedef struct writer {
    int fd;
    uint8_t *buf;
    size_t len;
    uint64_t off;         /* file offset of buf[0] */
    bool noise;
    uint64_t seed;
    const uint64_t *stored;
    size_t nstored, cur;  /* cursor into the sorted stored pfns */
    const gen_ctx *g;
} writer;

static ds_err pwrite_all(int fd, const void *buf, size_t len, uint64_t off, ds_errbuf *eb)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ds_fail(eb, DS_ERR_IO, "write failed: %s", strerror(errno));
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return DS_OK;
}

static ds_err w_flush(writer *w)
{
    ds_err e = DS_OK;
    if (w->len)
        e = pwrite_all(w->fd, w->buf, w->len, w->off, w->g->eb);
    w->off += w->len;
    w->len = 0;
    return e;
}

/* Emit the content of pfn (ram: whether it is RAM at all, for raw). */
static ds_err w_page(writer *w, uint64_t pfn, bool ram)
{
    while (w->cur < w->nstored && w->stored[w->cur] < pfn)
        w->cur++;
    const uint8_t *data = NULL;
    if (w->cur < w->nstored && w->stored[w->cur] == pfn)
        data = gen_slot_find(w->g, pfn)->data;
    if (!data && !(ram && w->noise)) {
        ds_err e = w_flush(w);
        w->off += GEN_PAGE; /* hole */
        return e;
    }
    if (w->len + GEN_PAGE > WBUF) {
        ds_err e = w_flush(w);
        if (e)
            return e;
    }
    if (data)
        memcpy(w->buf + w->len, data, GEN_PAGE);
    else
        gen_noise_page(w->seed, pfn, w->buf + w->len);
    w->len += GEN_PAGE;
    return DS_OK;
}

/* ---------------- page selection ---------------- */

static bool kernel_dump_keeps(const gen_ctx *g, uint64_t pfn)
{
    const gen_slot *s = gen_slot_find(g, pfn);
    if (s)
        return !(s->flags & GP_USER);
    if (pfn < GEN_LOW_FLOOR_PFN || gen_pfn_reserved(g, pfn))
        return true;
    return gen_mix64(g->o.seed * 0x9e3779b97f4a7c15ull ^ (pfn >> 6)) % 100 < 55;
}

/* Presence bitmap of the pages the format stores; returns the count. */
static uint64_t *presence_bitmap(const gen_ctx *g, uint64_t *count)
{
    uint64_t words = (g->total_pages + 63) / 64;
    uint64_t *bm = calloc(words, 8);
    if (!bm)
        return NULL;
    bool kernel_only = g->o.format == GEN_FMT_KERNEL || g->o.format == GEN_FMT_RDMP;
    uint64_t n = 0;
    for (unsigned r = 0; r < 3; r++)
        for (uint64_t pfn = g->ram[r].first; pfn < g->ram[r].first + g->ram[r].count; pfn++)
            if (!kernel_only || kernel_dump_keeps(g, pfn)) {
                bm[pfn / 64] |= 1ull << (pfn % 64);
                n++;
            }
    *count = n;
    return bm;
}

static bool bit(const uint64_t *bm, uint64_t pfn)
{
    return bm[pfn / 64] >> (pfn % 64) & 1;
}

/* ---------------- headers ---------------- */

static void page_fill(void *buf, size_t n)
{
    uint32_t sig = DS_SIG_PAGE;
    for (size_t i = 0; i + 4 <= n; i += 4)
        memcpy((uint8_t *)buf + i, &sig, 4);
}

static uint64_t current_rsp(const gen_ctx *g)
{
    for (size_t i = 0; i < g->nthreads; i++)
        if (g->threads[i].alive && g->threads[i].stack_base)
            return g->threads[i].stack_base - 0x1000 + 0x9c8;
    return 0;
}

static const char *comment_of(void)
{
    return "dumpgen synthetic dump";
}

static void header64(const gen_ctx *g, ds_dump_header64 *h, uint32_t dump_type, uint64_t file_size)
{
    page_fill(h, sizeof(*h));
    h->Signature = DS_SIG_PAGE;
    h->ValidDump = DS_SIG_DU64;
    h->MajorVersion = 0xf;
    h->MinorVersion = g->build;
    h->DirectoryTableBase = g->kroot_pa;
    h->PfnDataBase = g->pfn_db_va;
    h->PsLoadedModuleList = g->g_module_head;
    h->PsActiveProcessHead = g->g_active_head;
    h->MachineImageType = DS_MACHINE_AMD64;
    h->NumberProcessors = g->ncpu;
    h->BugCheckCode = 0xe2; /* MANUALLY_INITIATED_CRASH */
    memset(h->BugCheckParameter, 0, sizeof(h->BugCheckParameter));
    memset(h->VersionUser, 0, sizeof(h->VersionUser));
    h->KdDebuggerDataBlock = g->g_kdbg;
    ds_phys_desc64 *pm = &h->PhysicalMemoryBlock;
    pm->NumberOfRuns = 3;
    pm->Pad = 0;
    pm->NumberOfPages = 0;
    for (unsigned r = 0; r < 3; r++) {
        pm->Run[r].BasePage = g->ram[r].first;
        pm->Run[r].PageCount = g->ram[r].count;
        pm->NumberOfPages += g->ram[r].count;
    }
    /* x64 CONTEXT: flags, segments, the bugcheck frame */
    uint8_t *c = h->ContextRecord;
    memset(c, 0, 0x4d0);
    uint32_t flags = 0x10001f, mxcsr = 0x1f80, efl = 0x282;
    uint16_t segs[6] = {0x10, 0x2b, 0x2b, 0x53, 0x2b, 0x18};
    uint64_t rcx = 0xe2, rsp = current_rsp(g), rip = g->bugcheck_va;
    memcpy(c + 0x30, &flags, 4);
    memcpy(c + 0x34, &mxcsr, 4);
    memcpy(c + 0x38, segs, sizeof(segs));
    memcpy(c + 0x44, &efl, 4);
    memcpy(c + 0x80, &rcx, 8);
    memcpy(c + 0x98, &rsp, 8);
    memcpy(c + 0xf8, &rip, 8);
    if (g->crash.planted) { /* gen_crash.c: the crash and its KeBugCheckEx frame */
        h->BugCheckCode = g->crash.code;
        memcpy(h->BugCheckParameter, g->crash.params, sizeof(h->BugCheckParameter));
        memcpy(c + 0x78, g->crash.ctx_gpr, sizeof(g->crash.ctx_gpr));
        memcpy(c + 0xf8, &g->crash.ctx_rip, 8);
        rip = g->crash.ctx_rip;
    }
    /* EXCEPTION_RECORD64: breakpoint at KeBugCheckEx, no parameters */
    memset(h->Exception, 0, 0x1c);
    uint32_t code = 0x80000003, eflags = 1;
    memcpy(h->Exception, &code, 4);
    memcpy(h->Exception + 4, &eflags, 4);
    memcpy(h->Exception + 0x10, &rip, 8);
    h->DumpType = dump_type;
    h->RequiredDumpSpace = (int64_t)file_size;
    h->SystemTime = g->system_time;
    const char *cm = comment_of();
    memcpy(h->Comment, cm, strlen(cm) + 1);
    h->SystemUpTime = g->system_time - g->boot_time;
    h->MiniDumpFields = 0;
    h->SecondaryDataState = 0;
    h->ProductType = 1;
    h->SuiteMask = 0x110;
    h->Attributes = 0;
    h->BootId = (uint32_t)(gen_mix64(g->o.seed) & 0xff) + 1;
}

static void header32(const gen_ctx *g, ds_dump_header32 *h, uint64_t file_size)
{
    page_fill(h, sizeof(*h));
    h->Signature = DS_SIG_PAGE;
    h->ValidDump = DS_SIG_DUMP;
    h->MajorVersion = 0xf;
    h->MinorVersion = g->build;
    h->DirectoryTableBase = (uint32_t)g->kroot_pa;
    h->PfnDataBase = (uint32_t)g->pfn_db_va;
    h->PsLoadedModuleList = (uint32_t)g->g_module_head;
    h->PsActiveProcessHead = (uint32_t)g->g_active_head;
    h->MachineImageType = DS_MACHINE_I386;
    h->NumberProcessors = g->ncpu;
    h->BugCheckCode = 0xe2;
    memset(h->BugCheckParameter, 0, sizeof(h->BugCheckParameter));
    memset(h->VersionUser, 0, sizeof(h->VersionUser));
    h->PaeEnabled = g->pae ? 1 : 0;
    h->KdDebuggerDataBlock = (uint32_t)g->g_kdbg;
    ds_phys_desc32 *pm = &h->PhysicalMemoryBlock;
    pm->NumberOfRuns = 3;
    pm->NumberOfPages = 0;
    for (unsigned r = 0; r < 3; r++) {
        pm->Run[r].BasePage = (uint32_t)g->ram[r].first;
        pm->Run[r].PageCount = (uint32_t)g->ram[r].count;
        pm->NumberOfPages += (uint32_t)g->ram[r].count;
    }
    /* x86 CONTEXT: ContextFlags 0, Eip 0xb8, SegCs 0xbc, EFlags 0xc0, Esp 0xc4, SegSs 0xc8 */
    uint8_t *c = h->ContextRecord;
    memset(c, 0, 0x2cc);
    uint32_t v[6] = {0x1003f, (uint32_t)g->bugcheck_va, 0x8, 0x246, (uint32_t)current_rsp(g), 0x10};
    memcpy(c, &v[0], 4);
    memcpy(c + 0xb8, &v[1], 4);
    memcpy(c + 0xbc, &v[2], 4);
    memcpy(c + 0xc0, &v[3], 4);
    memcpy(c + 0xc4, &v[4], 4);
    memcpy(c + 0xc8, &v[5], 4);
    memset(h->Exception, 0, 0x14);
    uint32_t ex[2] = {0x80000003, 1}, addr = (uint32_t)g->bugcheck_va;
    memcpy(h->Exception, ex, 8);
    memcpy(h->Exception + 0xc, &addr, 4);
    const char *cm = comment_of();
    memcpy(h->Comment, cm, strlen(cm) + 1);
    h->DumpType = DS_DT_FULL;
    h->MiniDumpFields = 0;
    h->SecondaryDataState = 0;
    h->ProductType = 1;
    h->SuiteMask = 0x110;
    h->RequiredDumpSpace = (int64_t)file_size;
    h->SystemUpTime = g->system_time - g->boot_time;
    h->SystemTime = g->system_time;
}

/* ---------------- formats ---------------- */

static ds_err write_pages_runs(writer *w, const gen_ctx *g)
{
    for (unsigned r = 0; r < 3; r++)
        for (uint64_t pfn = g->ram[r].first; pfn < g->ram[r].first + g->ram[r].count; pfn++) {
            ds_err e = w_page(w, pfn, true);
            if (e)
                return e;
        }
    return DS_OK;
}

static ds_err write_pages_bitmap(writer *w, const gen_ctx *g, const uint64_t *bm)
{
    for (uint64_t pfn = 0; pfn < g->total_pages; pfn++) {
        if (!bm[pfn / 64]) {
            pfn |= 63;
            continue;
        }
        if (bit(bm, pfn)) {
            ds_err e = w_page(w, pfn, true);
            if (e)
                return e;
        }
    }
    return DS_OK;
}

static uint64_t ram_pages(const gen_ctx *g)
{
    return g->ram[0].count + g->ram[1].count + g->ram[2].count;
}

static ds_err write_raw(writer *w, const gen_ctx *g, uint64_t *size)
{
    *size = g->total_pages * GEN_PAGE;
    w->off = 0;
    for (uint64_t pfn = 0; pfn < g->total_pages; pfn++) {
        ds_err e = w_page(w, pfn, gen_pfn_is_ram(g, pfn));
        if (e)
            return e;
    }
    return DS_OK;
}

static ds_err write_full64(writer *w, const gen_ctx *g, uint64_t *size)
{
    ds_dump_header64 h;
    *size = sizeof(h) + ram_pages(g) * GEN_PAGE;
    header64(g, &h, DS_DT_FULL, *size);
    ds_err e = pwrite_all(w->fd, &h, sizeof(h), 0, g->eb);
    if (e)
        return e;
    w->off = sizeof(h);
    return write_pages_runs(w, g);
}

static ds_err write_full32(writer *w, const gen_ctx *g, uint64_t *size)
{
    ds_dump_header32 h;
    *size = sizeof(h) + ram_pages(g) * GEN_PAGE;
    header32(g, &h, *size);
    ds_err e = pwrite_all(w->fd, &h, sizeof(h), 0, g->eb);
    if (e)
        return e;
    w->off = sizeof(h);
    return write_pages_runs(w, g);
}

static ds_err write_bmp(writer *w, const gen_ctx *g, uint64_t *size)
{
    uint64_t present;
    uint64_t *bm = presence_bitmap(g, &present);
    if (!bm)
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    uint64_t bm_bytes = (g->total_pages + 7) / 8;
    uint64_t first = gen_round_up(sizeof(ds_dump_header64) + sizeof(ds_bmp_header) + bm_bytes, GEN_PAGE);
    *size = first + present * GEN_PAGE;
    ds_dump_header64 h;
    bool kernel = g->o.format == GEN_FMT_KERNEL;
    header64(g, &h, kernel ? DS_DT_BITMAP_KERNEL : DS_DT_BITMAP_FULL, *size);
    ds_bmp_header bh;
    memset(&bh, 0, sizeof(bh));
    bh.Signature = kernel ? DS_SIG_SDMP : DS_SIG_FDMP;
    bh.ValidDump = DS_SIG_DUMP;
    bh.FirstPage = first;
    bh.TotalPresentPages = present;
    bh.Pages = g->total_pages;
    ds_err e = pwrite_all(w->fd, &h, sizeof(h), 0, g->eb);
    if (!e)
        e = pwrite_all(w->fd, &bh, sizeof(bh), sizeof(h), g->eb);
    if (!e)
        e = pwrite_all(w->fd, bm, bm_bytes, sizeof(h) + sizeof(bh), g->eb);
    w->off = first;
    if (!e)
        e = write_pages_bitmap(w, g, bm);
    free(bm);
    return e;
}

static ds_err write_rdmp(writer *w, const gen_ctx *g, uint64_t *size)
{
    uint64_t present;
    uint64_t *bm = presence_bitmap(g, &present);
    if (!bm)
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    /* count the ranges, then list them */
    uint64_t nr = 0;
    for (uint64_t pfn = 0; pfn < g->total_pages; pfn++)
        if (bit(bm, pfn) && (pfn == 0 || !bit(bm, pfn - 1)))
            nr++;
    uint64_t meta_end = gen_round_up(0x2030 + 16 * (nr + 1), GEN_PAGE);
    uint64_t meta_size = meta_end - 0x2020;
    uint8_t *meta = calloc(1, meta_end - 0x2000);
    if (!meta) {
        free(bm);
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    }
    ds_rdmp_kernel *rk = (ds_rdmp_kernel *)meta;
    rk->Hdr.Marker = DS_RDMP_MARKER;
    rk->Hdr.Signature = DS_SIG_RDMP;
    rk->Hdr.ValidDump = DS_SIG_DUMP;
    rk->Hdr.MetadataSize = meta_size;
    rk->Hdr.FirstPageOffset = meta_end;
    uint64_t *rg = (uint64_t *)(meta + sizeof(ds_rdmp_kernel));
    uint64_t k = 0;
    for (uint64_t pfn = 0; pfn < g->total_pages; pfn++) {
        if (!bit(bm, pfn) || (pfn && bit(bm, pfn - 1)))
            continue;
        uint64_t end = pfn;
        while (end < g->total_pages && bit(bm, end))
            end++;
        rg[2 * k] = pfn;
        rg[2 * k + 1] = end - pfn;
        k++;
    }
    *size = meta_end + present * GEN_PAGE;
    ds_dump_header64 h;
    header64(g, &h, DS_DT_RDMP_KERNEL, *size);
    ds_err e = pwrite_all(w->fd, &h, sizeof(h), 0, g->eb);
    if (!e)
        e = pwrite_all(w->fd, meta, meta_end - 0x2000, 0x2000, g->eb);
    free(meta);
    w->off = meta_end;
    if (!e)
        e = write_pages_bitmap(w, g, bm);
    free(bm);
    return e;
}

/* ELF core (QEMU dump-guest-memory): ELF header, one PT_LOAD program
 * header per RAM run (p_paddr = physical address, p_vaddr 0 as QEMU writes
 * it without paging), then the runs back to back from the next page. */
static ds_err write_elf(writer *w, const gen_ctx *g, uint64_t *size)
{
    uint8_t hdr[GEN_PAGE];
    memset(hdr, 0, sizeof(hdr));
    uint64_t data = GEN_PAGE, off = data;
    if (g->is64) {
        Elf64_Ehdr *eh = (Elf64_Ehdr *)hdr;
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS64;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_CORE;
        eh->e_machine = EM_X86_64;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf64_Ehdr);
        eh->e_ehsize = sizeof(Elf64_Ehdr);
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = 3;
        Elf64_Phdr *ph = (Elf64_Phdr *)(hdr + sizeof(Elf64_Ehdr));
        for (unsigned r = 0; r < 3; r++) {
            ph[r] = (Elf64_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
                                 .p_offset = off, .p_paddr = g->ram[r].first * GEN_PAGE,
                                 .p_filesz = g->ram[r].count * GEN_PAGE,
                                 .p_memsz = g->ram[r].count * GEN_PAGE, .p_align = 0};
            off += g->ram[r].count * GEN_PAGE;
        }
    } else {
        Elf32_Ehdr *eh = (Elf32_Ehdr *)hdr;
        memcpy(eh->e_ident, ELFMAG, SELFMAG);
        eh->e_ident[EI_CLASS] = ELFCLASS32;
        eh->e_ident[EI_DATA] = ELFDATA2LSB;
        eh->e_ident[EI_VERSION] = EV_CURRENT;
        eh->e_type = ET_CORE;
        eh->e_machine = EM_386;
        eh->e_version = EV_CURRENT;
        eh->e_phoff = sizeof(Elf32_Ehdr);
        eh->e_ehsize = sizeof(Elf32_Ehdr);
        eh->e_phentsize = sizeof(Elf32_Phdr);
        eh->e_phnum = 3;
        Elf32_Phdr *ph = (Elf32_Phdr *)(hdr + sizeof(Elf32_Ehdr));
        for (unsigned r = 0; r < 3; r++) {
            ph[r] = (Elf32_Phdr){.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X,
                                 .p_offset = (Elf32_Off)off,
                                 .p_paddr = (Elf32_Addr)(g->ram[r].first * GEN_PAGE),
                                 .p_filesz = (Elf32_Word)(g->ram[r].count * GEN_PAGE),
                                 .p_memsz = (Elf32_Word)(g->ram[r].count * GEN_PAGE)};
            off += g->ram[r].count * GEN_PAGE;
        }
    }
    *size = off;
    ds_err e = pwrite_all(w->fd, hdr, sizeof(hdr), 0, g->eb);
    if (e)
        return e;
    w->off = data;
    return write_pages_runs(w, g);
}

ds_err gen_write_dump(gen_ctx *g, uint64_t *file_bytes)
{
    writer w = {.fd = -1, .noise = g->o.noise, .seed = g->o.seed, .g = g};
    w.buf = malloc(WBUF);
    uint64_t *stored = NULL;
    ds_err e = DS_OK;
    if (!w.buf || !(stored = gen_stored_sorted(g, &w.nstored))) {
        free(w.buf);
        return ds_fail(g->eb, DS_ERR_NOMEM, "out of memory");
    }
    w.stored = stored;
    w.fd = open(g->o.out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (w.fd < 0) {
        e = ds_fail(g->eb, DS_ERR_IO, "cannot create %s: %s", g->o.out_path, strerror(errno));
        goto out;
    }
    uint64_t size = 0;
    switch (g->o.format) {
    case GEN_FMT_RAW: e = write_raw(&w, g, &size); break;
    case GEN_FMT_FULL: e = write_full64(&w, g, &size); break;
    case GEN_FMT_BITMAP:
    case GEN_FMT_KERNEL: e = write_bmp(&w, g, &size); break;
    case GEN_FMT_RDMP: e = write_rdmp(&w, g, &size); break;
    case GEN_FMT_FULL32: e = write_full32(&w, g, &size); break;
    case GEN_FMT_ELF: e = write_elf(&w, g, &size); break;
    default: e = ds_fail(g->eb, DS_ERR_ARG, "bad format"); break;
    }
    if (!e)
        e = w_flush(&w);
    if (!e && w.off != size)
        e = ds_fail(g->eb, DS_ERR_CORRUPT, "internal: wrote %llu bytes, expected %llu",
                    (unsigned long long)w.off, (unsigned long long)size);
    if (!e && ftruncate(w.fd, (off_t)size) != 0)
        e = ds_fail(g->eb, DS_ERR_IO, "cannot size %s: %s", g->o.out_path, strerror(errno));
    if (close(w.fd) != 0 && !e)
        e = ds_fail(g->eb, DS_ERR_IO, "close failed: %s", strerror(errno));
    *file_bytes = size;
out:
    free(w.buf);
    free(stored);
    return e;
}
