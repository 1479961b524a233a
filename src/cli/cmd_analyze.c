/* cmd_analyze.c - `dumpscan analyze [options] PATH...`: why each machine
 * crashed, and the buckets that group the crashes by cause.
 *
 * Per dump (scan/crash.h): one `crash` record (bug check and what its
 * parameters mean, crashing process/thread/processor, faulting IP, module,
 * instruction, the stack, the module blamed, the bucket), then one
 * `driver` record per loaded module (`lm`).  After the last dump, one
 * `bucket` record per bucket, most crashes first.  --format table prints a
 * block per dump a WinDbg user recognises, then the bucket table.  Reads
 * only the header, triage block, contexts, stack pages and module headers:
 * never the whole dump.  Inputs, output guard, --state, signals, `error`
 * and `summary` records and exit codes come from run.h, as for `scan`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "../../scan/crash.h"
#include "../bugcheck.h"
#include "cli.h"
#include "usage.h"
#include "recfmt.h"
#include "run.h"

static const char *const analyze_types[] = {"crash", "driver", "bucket", "error", "summary",
                                            NULL};

#define BUCKET_EXAMPLES 3

static void analyze_usage(FILE *f)
{
    fputs("usage: dumpscan analyze [options] PATH...\n"
          "\n"
          "Offline crash analysis of each dump, without symbols or network: the bug\n"
          "check and what its parameters mean, the crashing process and thread, the\n"
          "faulting instruction and module, the stack (x64 unwind data read from the\n"
          "dump, EBP chains on x86, return addresses checked by disassembly), the\n"
          "driver to blame and a bucket that groups crashes of one cause.  PATH is a\n"
          "dump, a directory (every regular file below it), or '-' (a list of paths).\n"
          "\n"
          "  -f, --format FMT   ndjson (default; jsonl), csv, table (WinDbg-like blocks\n"
          "                     and the bucket table) or sqlite (-o results.sqlite;\n"
          "                     the default for -o *.sqlite, *.sqlite3, *.db)\n"
          "  -o, --output PATH  write to PATH; a directory (or PATH/) gets one file per\n"
          "                     record type (crash, driver, bucket, error, summary)\n"
          "      --no-drivers   leave out the driver records (the module list of each\n"
          "                     dump; about half the output of a minidump)\n"
          "  -j, --threads N    worker threads (default: the CPUs this process may use)\n"
          "      --jobs N       dumps in flight at once (default: the worker count)\n"
          "      --sort         write dumps in input order (default: as they finish)\n"
          "      --state FILE   remember finished dumps in FILE and skip them when run\n"
          "                     again\n"
          "      --shard K/N    only share K of N of the inputs (by a hash of the path)\n"
          "      --null         the list read from '-' is NUL separated\n"
          "      --profile KEY  use this offsets.json build key\n"
          "      --no-timing    timing fields null\n"
          "      --progress     progress on stderr even when it is not a terminal\n"
          "  -q, --quiet        no progress\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 every dump analysed, 1 at least one failed (see its error\n"
          "record), 2 usage error (also: an output is one of the inputs), 3 output\n"
          "could not be written, 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP.\n",
          f);
}

enum { ANALYZE_O_NODRIVERS = 256 };

static int analyze_option(void *ctx, int c, const char *arg)
{
    (void)arg;
    if (c != ANALYZE_O_NODRIVERS)
        return RUN_OPT_UNKNOWN;
    *(bool *)ctx = true;
    return RUN_OPT_TAKEN;
}

static int parse_analyze_args(int argc, char **argv, run_opts *o, bool *no_drivers)
{
    static const struct option longopts[] = {
        RUN_LONGOPTS,
        {"no-drivers", no_argument, NULL, ANALYZE_O_NODRIVERS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    return run_parse_args("analyze", argc, argv, longopts, o, analyze_usage, analyze_option,
                          no_drivers);
}

/* ---- buckets (output stage only) --------------------------------------- */

typedef struct bucket {
    char bucket[192], bucket_module[192];
    uint64_t id;
    uint32_t code;
    const char *name;            /* static */
    char caused_by[DS_MODULE_NAME_MAX];
    uint64_t count;
    int64_t first, last;         /* system_time range, 0 unknown */
    char *examples[BUCKET_EXAMPLES];
} bucket;

/* What one dump left for the bucket table. */
typedef struct crash_key {
    bool has;
    char bucket[192], bucket_module[192];
    uint64_t id;
    uint32_t code;
    const char *name;
    char caused_by[DS_MODULE_NAME_MAX];
    int64_t time;
} crash_key;

typedef struct analyze_payload {
    ds_batch *b;
    crash_key key;
} analyze_payload;

typedef struct analyze_run {
    const run_opts *o;
    bool no_drivers;
    ds_writer *w;
    bucket *buckets;
    size_t nbuckets, cap;
    uint64_t with_bugcheck;
    ds_rec rec;
    ds_strbuf text;
} analyze_run;

static void add_to_bucket(analyze_run *ar, const crash_key *k, const char *path)
{
    bucket *b = NULL;
    for (size_t i = 0; i < ar->nbuckets; i++) /* few distinct buckets per run */
        if (ar->buckets[i].id == k->id && strcmp(ar->buckets[i].bucket, k->bucket) == 0)
            b = &ar->buckets[i];
    if (!b) {
        if (ar->nbuckets == ar->cap) {
            size_t cap = ar->cap ? ar->cap * 2 : 64;
            bucket *v = realloc(ar->buckets, cap * sizeof(*v));
            if (!v)
                return;
            ar->buckets = v;
            ar->cap = cap;
        }
        b = &ar->buckets[ar->nbuckets++];
        memset(b, 0, sizeof(*b));
        memcpy(b->bucket, k->bucket, sizeof(b->bucket));
        memcpy(b->bucket_module, k->bucket_module, sizeof(b->bucket_module));
        memcpy(b->caused_by, k->caused_by, sizeof(b->caused_by));
        b->id = k->id;
        b->code = k->code;
        b->name = k->name;
    }
    if (b->count < BUCKET_EXAMPLES)
        b->examples[b->count] = strdup(path);
    b->count++;
    if (k->time > 0 && (!b->first || k->time < b->first))
        b->first = k->time;
    if (k->time > b->last)
        b->last = k->time;
}

static int cmp_bucket(const void *x, const void *y)
{
    const bucket *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->bucket, b->bucket);
}

/* ---- records ------------------------------------------------------------- */

static void location(char *buf, size_t cap, const ds_module *m, uint64_t ip)
{
    if (m)
        snprintf(buf, cap, "%s+0x%" PRIx64, m->name, ip - m->base);
    else
        buf[0] = 0;
}

static void emit_stack(ds_rec *r, const ds_stack *s)
{
    enum { M = 6 };
    ds_member *v = calloc((size_t)s->n * M + 1, sizeof(*v));
    if (!v) {
        ds_rec_null(r, "stack");
        return;
    }
    for (unsigned i = 0; i < s->n; i++) {
        const ds_frame *f = &s->f[i];
        ds_member *o = &v[(size_t)i * M];
        o[0] = (ds_member){"frame", DS_MEMBER_U64, i, NULL};
        o[1] = (ds_member){"sp", DS_MEMBER_HEX, f->sp, NULL};
        o[2] = (ds_member){"ip", DS_MEMBER_HEX, f->ip, NULL};
        o[3] = (ds_member){"module", f->module ? DS_MEMBER_STR : DS_MEMBER_NULL, 0,
                           f->module ? f->module->name : NULL};
        o[4] = (ds_member){"offset", f->module ? DS_MEMBER_HEX : DS_MEMBER_NULL,
                           f->module ? f->ip - f->module->base : 0, NULL};
        o[5] = (ds_member){"method", DS_MEMBER_STR, 0, ds_frame_method_name(f->method)};
    }
    ds_rec_obj_array(r, "stack", v, M, s->n);
    free(v);
}

static void emit_crash(ds_rec *r, ds_writer *w, const run_input *in, const ds_crash *c)
{
    ds_rec_begin(r, w, "crash");
    ds_rec_str(r, "dump", in->path);
    ds_rec_str(r, "dump_id", in->dump_id);
    if (c->has_bugcheck) {
        ds_rec_hex(r, "bugcheck_code", c->code);
        ds_rec_str(r, "bugcheck_name", c->name);
        ds_rec_hex_array(r, "bugcheck_params", c->params, 4);
    } else {
        ds_rec_null(r, "bugcheck_code");
        ds_rec_null(r, "bugcheck_name");
        ds_rec_null(r, "bugcheck_params");
    }
    if (c->info)
        ds_rec_str_array(r, "params_meaning", c->info->meaning, 4);
    else
        ds_rec_null(r, "params_meaning");
    ds_rec_time(r, "system_time", c->system_time);
    ds_rec_str(r, "process", c->has_process ? c->process : NULL);
    if (c->has_process || c->has_thread)
        ds_rec_u64(r, "pid", c->pid);
    else
        ds_rec_null(r, "pid");
    if (c->has_thread)
        ds_rec_u64(r, "tid", c->tid);
    else
        ds_rec_null(r, "tid");
    if (c->processor >= 0)
        ds_rec_u64(r, "processor", (uint64_t)c->processor);
    else
        ds_rec_null(r, "processor");
    ds_rec_str(r, "context_source", ds_ctx_source_name(c->context_source));
    rec_opt_hex(r, "faulting_ip", c->faulting_ip, DS_CRASH_NONE);
    const ds_module *fm = c->faulting_module;
    ds_rec_str(r, "faulting_module", fm ? fm->name : NULL);
    rec_opt_hex(r, "faulting_offset", fm ? c->faulting_ip - fm->base : DS_CRASH_NONE,
                DS_CRASH_NONE);
    char loc[DS_MODULE_NAME_MAX + 24];
    location(loc, sizeof(loc), fm, c->faulting_ip);
    ds_rec_str(r, "faulting_location", loc[0] ? loc : NULL);
    ds_rec_str(r, "instruction", c->instruction[0] ? c->instruction : NULL);
    rec_opt_hex(r, "exception_code", c->has_exception_code ? c->exception_code : DS_CRASH_NONE,
                DS_CRASH_NONE);
    emit_stack(r, &c->stack);
    ds_rec_str(r, "stack_end", c->stack.n ? ds_stack_end_name(c->stack.end) : NULL);
    ds_rec_str(r, "caused_by", c->caused_by ? c->caused_by->name : NULL);
    location(loc, sizeof(loc), c->caused_by, c->caused_by_ip);
    ds_rec_str(r, "caused_by_location", loc[0] ? loc : NULL);
    if (c->has_bugcheck) {
        char id[24];
        snprintf(id, sizeof(id), "%016" PRIx64, c->bucket_id);
        ds_rec_str(r, "bucket", c->bucket);
        ds_rec_str(r, "bucket_module", c->bucket_module);
        ds_rec_str(r, "bucket_id", id);
    } else {
        ds_rec_null(r, "bucket");
        ds_rec_null(r, "bucket_module");
        ds_rec_null(r, "bucket_id");
    }
    ds_rec_str(r, "notes", c->notes[0] ? c->notes : NULL);
}

static ds_err emit_drivers(ds_rec *r, ds_writer *w, ds_batch *b, const run_input *in,
                           const ds_modlist *m)
{
    ds_err e = DS_OK;
    for (size_t i = 0; e == DS_OK && i < m->n; i++) {
        const ds_module *mod = &m->v[i];
        ds_rec_begin(r, w, "driver");
        ds_rec_str(r, "dump", in->path);
        ds_rec_str(r, "dump_id", in->dump_id);
        ds_rec_u64(r, "index", mod->index);
        ds_rec_str(r, "name", mod->name);
        ds_rec_str(r, "path", mod->path[0] ? mod->path : NULL);
        ds_rec_hex(r, "base", mod->base);
        ds_rec_u64(r, "size", mod->size);
        rec_opt_hex(r, "entry", mod->entry ? mod->entry : DS_CRASH_NONE, DS_CRASH_NONE);
        ds_rec_str(r, "source", m->from_triage ? "triage" : "module_list");
        e = rec_done(r, b);
    }
    return e;
}

/* ---- the WinDbg-like block ------------------------------------------------ */

static void windbg_va(ds_strbuf *sb, uint64_t v, bool is64)
{
    if (is64)
        ds_sb_printf(sb, "%08" PRIx64 "`%08" PRIx64, v >> 32, v & 0xffffffffu);
    else
        ds_sb_printf(sb, "%08" PRIx64, v & 0xffffffffu);
}

static void table_block(ds_strbuf *sb, const run_input *in, const ds_dump *d, const ds_crash *c)
{
    bool is64 = d->arch == DS_ARCH_X64;
    ds_sb_printf(sb, "Dump: %s\n", in->path);
    if (!c->has_bugcheck) {
        ds_sb_printf(sb, "No bug check (%s image)\n\n", d->format_name);
        return;
    }
    ds_sb_printf(sb, "%s (%" PRIx32 ")\n", c->name ? c->name : "UNKNOWN_BUGCHECK", c->code);
    ds_sb_printf(sb, "Arguments:\n");
    for (int i = 0; i < 4; i++)
        ds_sb_printf(sb, "Arg%d: %016" PRIx64 "%s%s\n", i + 1, c->params[i],
                     c->info ? ", " : "", c->info ? c->info->meaning[i] : "");
    ds_sb_printf(sb, "\nBUGCHECK_CODE:  %" PRIx32 "\n", c->code);
    if (c->has_process)
        ds_sb_printf(sb, "PROCESS_NAME:  %s\n", c->process);
    if (c->processor >= 0)
        ds_sb_printf(sb, "PROCESSOR:  %d\n", c->processor);
    if (c->has_exception_code)
        ds_sb_printf(sb, "EXCEPTION_CODE:  %08" PRIx32 "\n", c->exception_code);
    if (c->faulting_ip != DS_CRASH_NONE) {
        ds_sb_printf(sb, "FAULTING_IP:\n");
        if (c->faulting_module)
            ds_sb_printf(sb, "%s+0x%" PRIx64 "\n", c->faulting_module->name,
                         c->faulting_ip - c->faulting_module->base);
        windbg_va(sb, c->faulting_ip, is64);
        ds_sb_printf(sb, " %s\n", c->instruction[0] ? c->instruction : "??");
    }
    ds_sb_printf(sb, "\nSTACK_TEXT:\n");
    for (unsigned i = 0; i < c->stack.n; i++) {
        const ds_frame *f = &c->stack.f[i];
        windbg_va(sb, f->sp, is64);
        ds_sb_printf(sb, " ");
        windbg_va(sb, f->ip, is64);
        if (f->module)
            ds_sb_printf(sb, " : %s+0x%" PRIx64, f->module->name, f->ip - f->module->base);
        else
            ds_sb_printf(sb, " : 0x%" PRIx64, f->ip);
        ds_sb_printf(sb, "  (%s%s)\n", ds_frame_method_name(f->method), f->trap ? ", trap" : "");
    }
    ds_sb_printf(sb, "(stack ends: %s)\n\n", ds_stack_end_name(c->stack.end));
    if (c->caused_by) {
        char base[DS_MODULE_NAME_MAX];
        snprintf(base, sizeof(base), "%s", c->caused_by->name);
        char *dot = strrchr(base, '.');
        if (dot)
            *dot = 0;
        ds_sb_printf(sb, "MODULE_NAME: %s\n", base);
        ds_sb_printf(sb, "IMAGE_NAME:  %s\n", c->caused_by->name);
    }
    ds_sb_printf(sb, "FAILURE_BUCKET_ID:  %s\n", c->bucket);
    if (c->notes[0])
        ds_sb_printf(sb, "NOTES:  %s\n", c->notes);
    ds_sb_printf(sb, "\n");
}

/* ---- the run --------------------------------------------------------------- */

static ds_err analyze_start(void *ctx, ds_writer *w, ds_pool *pool, unsigned jobs,
                            const atomic_bool *cancel, ds_errbuf *eb)
{
    (void)pool;
    (void)jobs;
    (void)cancel;
    (void)eb;
    ((analyze_run *)ctx)->w = w;
    return DS_OK;
}

static void take_key(crash_key *k, const ds_crash *c)
{
    k->has = c->has_bugcheck;
    memcpy(k->bucket, c->bucket, sizeof(k->bucket));
    memcpy(k->bucket_module, c->bucket_module, sizeof(k->bucket_module));
    k->id = c->bucket_id;
    k->code = ds_bugcheck_base_code(c->code);
    k->name = ds_bugcheck_name(k->code);
    snprintf(k->caused_by, sizeof(k->caused_by), "%s", c->caused_by ? c->caused_by->name : "");
    k->time = c->system_time;
}

static void analyze_process(void *ctx, unsigned slot, const run_input *in, run_out *out)
{
    (void)slot;
    analyze_run *ar = ctx;
    ds_dump_opts dopts = run_dump_opts(in, ar->o->profile);
    ds_errbuf eb = {{0}};
    ds_dump *d = NULL;
    ds_err e = ds_dump_open(&d, in->path, &dopts, &eb);
    if (e != DS_OK) {
        out->err = e;
        snprintf(out->msg, sizeof(out->msg), "%s", eb.msg);
        return;
    }
    analyze_payload *p = calloc(1, sizeof(*p));
    ds_crash c;
    if (!p || !(p->b = ds_batch_new()) || ds_crash_analyze(d, &c) != DS_OK) {
        if (p)
            ds_batch_free(p->b);
        free(p);
        ds_dump_close(d);
        out->err = DS_ERR_NOMEM;
        return;
    }
    if (ar->o->fmt == DS_OUT_TABLE) {
        ds_sb_clear(in->text);
        table_block(in->text, in, d, &c);
        e = in->text->failed ? DS_ERR_NOMEM : ds_batch_text(p->b, ar->w, in->text->p,
                                                            in->text->len);
    } else {
        emit_crash(in->rec, ar->w, in, &c);
        e = rec_done(in->rec, p->b);
        if (e == DS_OK && !ar->no_drivers)
            e = emit_drivers(in->rec, ar->w, p->b, in, &c.mods);
    }
    take_key(&p->key, &c);
    ds_crash_free(&c);
    ds_dump_close(d);
    if (e != DS_OK) {
        ds_batch_free(p->b);
        free(p);
        out->err = e;
        snprintf(out->msg, sizeof(out->msg), "cannot encode the records: %s", ds_strerror(e));
        return;
    }
    out->payload = p;
    out->held_bytes = ds_batch_bytes(p->b);
}

static ds_err analyze_write(void *ctx, const run_input *in, void *payload)
{
    analyze_run *ar = ctx;
    analyze_payload *p = payload;
    ds_err e = ds_writer_write_batch(ar->w, p->b);
    if (e == DS_OK && p->key.has) {
        ar->with_bugcheck++;
        add_to_bucket(ar, &p->key, in->path);
    }
    return e;
}

static void analyze_free_payload(void *ctx, void *payload)
{
    (void)ctx;
    analyze_payload *p = payload;
    if (!p)
        return;
    ds_batch_free(p->b);
    free(p);
}

static ds_err emit_bucket(analyze_run *ar, const bucket *b)
{
    ds_rec *r = &ar->rec;
    char id[24];
    snprintf(id, sizeof(id), "%016" PRIx64, b->id);
    ds_rec_begin(r, ar->w, "bucket");
    ds_rec_str(r, "bucket", b->bucket);
    ds_rec_str(r, "bucket_id", id);
    ds_rec_str(r, "bucket_module", b->bucket_module);
    ds_rec_u64(r, "count", b->count);
    ds_rec_hex(r, "bugcheck_code", b->code);
    ds_rec_str(r, "bugcheck_name", b->name);
    ds_rec_str(r, "caused_by", b->caused_by[0] ? b->caused_by : NULL);
    ds_rec_time(r, "first_time", b->first);
    ds_rec_time(r, "last_time", b->last);
    size_t n = b->count < BUCKET_EXAMPLES ? (size_t)b->count : BUCKET_EXAMPLES;
    ds_rec_str_array(r, "examples", (const char *const *)b->examples, n);
    return ds_rec_end(r);
}

static ds_err analyze_epilogue(void *ctx)
{
    analyze_run *ar = ctx;
    if (ar->nbuckets > 1)
        qsort(ar->buckets, ar->nbuckets, sizeof(*ar->buckets), cmp_bucket);
    if (ar->o->fmt == DS_OUT_TABLE) {
        ds_strbuf *sb = &ar->text;
        ds_sb_clear(sb);
        ds_sb_printf(sb, "%7s  %-48s %-8s %s\n", "Count", "Bucket", "Code", "Caused by");
        for (size_t i = 0; i < ar->nbuckets; i++) {
            const bucket *b = &ar->buckets[i];
            ds_sb_printf(sb, "%7" PRIu64 "  %-48s %-8" PRIx32 " %s\n", b->count, b->bucket,
                         b->code, b->caused_by[0] ? b->caused_by : "-");
        }
        ds_sb_printf(sb, "\n");
        return sb->failed ? DS_ERR_NOMEM : ds_writer_text(ar->w, sb->p, sb->len);
    }
    for (size_t i = 0; i < ar->nbuckets; i++) {
        ds_err e = emit_bucket(ar, &ar->buckets[i]);
        if (e != DS_OK)
            return e;
    }
    return DS_OK;
}

static void analyze_summary_fields(void *ctx, ds_rec *r)
{
    analyze_run *ar = ctx;
    ds_rec_u64(r, "crashes", ar->with_bugcheck);
    ds_rec_u64(r, "buckets", ar->nbuckets);
}

static void analyze_summary_text(void *ctx, ds_strbuf *sb)
{
    analyze_run *ar = ctx;
    ds_sb_printf(sb, ", %" PRIu64 " %s in %zu %s", ar->with_bugcheck,
                 cli_plural(ar->with_bugcheck, "crash", "crashes"), ar->nbuckets,
                 cli_plural(ar->nbuckets, "bucket", "buckets"));
}

int cmd_analyze(int argc, char **argv)
{
    run_opts o;
    run_opts_default(&o);
    bool no_drivers = false;
    int st = parse_analyze_args(argc, argv, &o, &no_drivers);
    if (st >= 0)
        return st;
    analyze_run ar = {.o = &o, .no_drivers = no_drivers};
    ds_rec_init(&ar.rec);
    ds_sb_init(&ar.text);
    run_cmd cmd = {
        .name = "analyze",
        .primary = "crash",
        .types = analyze_types,
        .ctx = &ar,
        .start = analyze_start,
        .process = analyze_process,
        .write = analyze_write,
        .free_payload = analyze_free_payload,
        .epilogue = analyze_epilogue,
        .summary_fields = analyze_summary_fields,
        .summary_text = analyze_summary_text,
    };
    st = run_main(&cmd, &o, argv + optind, (size_t)(argc - optind));
    for (size_t i = 0; i < ar.nbuckets; i++)
        for (unsigned k = 0; k < BUCKET_EXAMPLES; k++)
            free(ar.buckets[i].examples[k]);
    free(ar.buckets);
    ds_rec_free(&ar.rec);
    ds_sb_free(&ar.text);
    return st;
}
