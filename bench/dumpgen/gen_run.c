/* gen_run.c - gen_run(): validate options, build the machine, write the
 * dump and its truth file, free everything.
 *
 * The PRNG is seeded once from --seed and every later choice draws from
 * it in a fixed order; the format only changes how pages are written and
 * whether KDBG is encoded (raw Win8+ x64 images), so one seed describes
 * the same machine in every format. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen_int.h"

const char *const gen_build_keys[] = {
    "win7_sp1_x64", "win10_1809_x64", "win10_2004_22h2_x64", "win11_22h2_x64",
    "win11_24h2_x64", "winxp_sp3_x86", "win7_sp1_x86", NULL,
};

static const char *const fmt_names[GEN_FMT_COUNT] = {"raw", "full", "bitmap", "kernel", "rdmp", "full32", "elf"};

const char *gen_format_name(gen_format f)
{
    return (unsigned)f < GEN_FMT_COUNT ? fmt_names[f] : "unknown";
}

bool gen_format_parse(const char *s, gen_format *f)
{
    for (unsigned i = 0; i < GEN_FMT_COUNT; i++)
        if (strcmp(s, fmt_names[i]) == 0) {
            *f = (gen_format)i;
            return true;
        }
    return false;
}

static const char *const kdbg_names[GEN_KDBG_COUNT] = {"auto", "plain", "encoded", "wiped"};
static const char *const kdcopy_names[GEN_KDCOPY_COUNT] = {"auto", "classic", "reordered"};

const char *gen_kdbg_name(gen_kdbg k)
{
    return (unsigned)k < GEN_KDBG_COUNT ? kdbg_names[k] : "unknown";
}

bool gen_kdbg_parse(const char *s, gen_kdbg *k)
{
    for (unsigned i = 0; i < GEN_KDBG_COUNT; i++)
        if (strcmp(s, kdbg_names[i]) == 0) {
            *k = (gen_kdbg)i;
            return true;
        }
    return false;
}

const char *gen_kdcopy_name(gen_kdcopy k)
{
    return (unsigned)k < GEN_KDCOPY_COUNT ? kdcopy_names[k] : "unknown";
}

bool gen_kdcopy_parse(const char *s, gen_kdcopy *k)
{
    for (unsigned i = 0; i < GEN_KDCOPY_COUNT; i++)
        if (strcmp(s, kdcopy_names[i]) == 0) {
            *k = (gen_kdcopy)i;
            return true;
        }
    return false;
}

bool gen_format_allowed(const ds_profile *p, gen_format f)
{
    if (f == GEN_FMT_RAW || f == GEN_FMT_ELF)
        return true;
    if (!p->is64)
        return f == GEN_FMT_FULL32;
    return f != GEN_FMT_FULL32 && f < GEN_FMT_COUNT;
}

static bool key_supported(const char *key)
{
    for (unsigned i = 0; gen_build_keys[i]; i++)
        if (strcmp(gen_build_keys[i], key) == 0)
            return true;
    return false;
}

static ds_err check_opts(const gen_opts *o, const ds_profile **pp, ds_errbuf *eb)
{
    const char *key = o->build_key ? o->build_key : GEN_DEFAULT_BUILD;
    if (!o->out_path || !*o->out_path)
        return ds_fail(eb, DS_ERR_ARG, "no output path");
    if (!key_supported(key))
        return ds_fail(eb, DS_ERR_ARG, "unsupported build key '%s'", key);
    const ds_profile *p = ds_profile_by_key(key);
    if (!p)
        return ds_fail(eb, DS_ERR_ARG, "no profile row for '%s'", key);
    if (!gen_format_allowed(p, o->format))
        return ds_fail(eb, DS_ERR_ARG, "format %s is not available for %s (%s builds support %s)",
                       gen_format_name(o->format), key, p->is64 ? "x64" : "x86",
                       p->is64 ? "raw, full, bitmap, kernel, rdmp" : "raw, full32");
    uint64_t mib = o->size_mib ? o->size_mib : 64;
    uint64_t max = p->is64 ? GEN_MAX_MIB : GEN_MAX_MIB_X86;
    uint64_t min = p->is64 ? GEN_MIN_MIB : GEN_MIN_MIB_X86;
    if (mib < min || mib > max)
        return ds_fail(eb, DS_ERR_ARG, "--size-mib must be %llu..%llu for %s",
                       (unsigned long long)min, (unsigned long long)max, key);
    if (o->kdbg == GEN_KDBG_ENCODED && (!p->is64 || p->build_min < 9200))
        return ds_fail(eb, DS_ERR_ARG, "--kdbg encoded needs an x64 Windows 8+ build (%s)", key);
    if ((unsigned)o->kdbg >= GEN_KDBG_COUNT || (unsigned)o->kdcopy >= GEN_KDCOPY_COUNT)
        return ds_fail(eb, DS_ERR_ARG, "bad --kdbg or --kdcopy value");
    *pp = p;
    return DS_OK;
}

static void init_machine(gen_ctx *g)
{
    const ds_profile *p = g->p;
    g->build = p->build_min;
    g->is64 = p->is64;
    g->pae = !p->is64 && g->build >= 6000;
    g->mode = p->is64 ? DS_PAGING_X64 : g->pae ? DS_PAGING_PAE : DS_PAGING_X86;
    g->ptr = p->ptr_size;
    gen_rng_seed(&g->rng, g->o.seed);
    g->ncpu = (unsigned)gen_rng_range(&g->rng, 2, 8);
    g->cookie = (uint8_t)gen_rng_next(&g->rng);
    if (!p->typeindex_cookie)
        g->cookie = 0;
    g->ki_wait_never = gen_rng_next(&g->rng) | 1;
    g->ki_wait_always = gen_rng_next(&g->rng) | 0x100;
    /* images of a live machine (raw, VM cores) keep KDBG encoded */
    if (g->o.kdbg == GEN_KDBG_AUTO)
        g->kdbg_encoded = (g->o.format == GEN_FMT_RAW || g->o.format == GEN_FMT_ELF) &&
                          g->is64 && g->build >= 9200;
    else
        g->kdbg_encoded = g->o.kdbg == GEN_KDBG_ENCODED;
    g->kdbg_wiped = g->o.kdbg == GEN_KDBG_WIPED;
    /* drawn whatever the option says, so the rest of the machine is the
     * same for one seed */
    bool reordered = gen_rng_chance(&g->rng, 50);
    g->kdcopy = g->o.kdcopy != GEN_KDCOPY_AUTO ? g->o.kdcopy
                : reordered                    ? GEN_KDCOPY_REORDERED
                                               : GEN_KDCOPY_CLASSIC;
    /* 2024-01-01T00:00:00Z plus up to ~700 days; up 2 hours .. 20 days */
    int64_t base = 133485408000000000ll;
    g->system_time = base + (int64_t)gen_rng_below(&g->rng, 700ull * 86400 * 1000000) * 10;
    int64_t up = (int64_t)gen_rng_range(&g->rng, 7200ull * 1000000, 20ull * 86400 * 1000000) * 10;
    g->boot_time = g->system_time - up;
}

static void free_machine(gen_ctx *g)
{
    gen_mem_free(g);
    free(g->fixups);
    free(g->pool_pages);
    free(g->procs);
    free(g->threads);
    free(g->decoys);
}

ds_err gen_run(const gen_opts *o, gen_summary *sum, ds_errbuf *eb)
{
    const ds_profile *p = NULL;
    ds_err e = check_opts(o, &p, eb);
    if (e)
        return e;
    gen_ctx *g = calloc(1, sizeof(*g));
    if (!g)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    g->p = p;
    g->o = *o;
    g->o.build_key = p->key;
    if (!g->o.size_mib)
        g->o.size_mib = 64;
    g->eb = eb;
    init_machine(g);
    uint64_t bytes = 0;
    size_t plen = strlen(o->out_path);
    char *truth = malloc(plen + 16);
    if (!truth) {
        e = ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    } else {
        memcpy(truth, o->out_path, plen);
        memcpy(truth + plen, ".truth.ndjson", 14);
    }
    if (!e)
        e = gen_mem_init(g);
    if (!e)
        e = gen_kernel_build(g);
    if (!e) {
        g->wrote_output = true;
        e = gen_write_dump(g, &bytes);
    }
    if (!e)
        e = gen_write_truth(g, truth, bytes);
    if (!e && sum) {
        sum->file_bytes = bytes;
        sum->stored_pages = g->stored_pages;
        sum->processes = (uint32_t)g->nprocs;
        sum->threads = (uint32_t)g->nthreads;
        sum->decoys = (uint32_t)g->ndecoys;
    }
    if (e && truth && g->wrote_output) {
        /* no half-written dump or stale truth next to a failure */
        unlink(o->out_path);
        unlink(truth);
    }
    free(truth);
    free_machine(g);
    free(g);
    return e;
}
