/* cmd_scan.c - `dumpscan scan [options] PATH...`: processes and threads.
 *
 * For each PATH: open the dump (format by content), run the scan pipeline
 * (scan/scan.h: stream + tag/structure scan + validation + cross-view)
 * and emit a `dump` record with the scan statistics, then one `process`
 * record per process object and one `thread` record per thread object.
 * A dump that cannot be opened or scanned gives an `error` record and the
 * run goes on.  Records of every type carry `dump` (the path) and
 * `dump_id` (xxh3-64 of the first 8 KiB and the file size), so outputs of
 * different runs join.  --format table prints a psxview-style view.
 * Exit status as for info: 0 ok, 1 some input failed, 2 usage, 3 output. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../../io/stream.h"
#include "../../scan/scan.h"
#include "cli.h"

typedef enum only_filter { ONLY_ALL = 0, ONLY_HIDDEN, ONLY_UNLINKED } only_filter;

typedef struct scan_cli {
    ds_outfmt fmt;
    const char *output;
    const char *profile;
    ds_scan_opts so;
    only_filter only;
    bool no_timing;
    int progress;    /* -1 auto (TTY), 0 off, 1 on */
} scan_cli;

static void scan_usage(FILE *f)
{
    fputs("usage: dumpscan scan [options] PATH...\n"
          "\n"
          "Find every process and thread object in each dump: pool-tag and\n"
          "structure scan of all physical pages, checked against the kernel's\n"
          "own lists (active process list, thread lists, PspCidTable, sessions).\n"
          "\n"
          "  -f, --format FMT     ndjson (default), csv or table (psxview-style)\n"
          "  -o, --output PATH    write to PATH; a directory (or PATH/) gets one file\n"
          "                       per record type (dump, process, thread, error)\n"
          "      --only WHAT      hidden | unlinked: keep just those processes (and\n"
          "                       their threads)\n"
          "      --io BACKEND     auto (default), uring, mmap or pread\n"
          "      --odirect        read with O_DIRECT (uring/pread): cold data that\n"
          "                       should not fill the page cache\n"
          "  -j, --threads N      worker threads (default: all cores)\n"
          "      --min-score N    report objects scoring at least N (0-100, default 60)\n"
          "      --no-struct      pool-tag scan only (skip the structure scan)\n"
          "      --no-xview       skip the cross-view (no list/cid/session views)\n"
          "      --no-timing      timing fields null: byte-identical output per input\n"
          "      --profile KEY    use this offsets.json build key\n"
          "      --progress       progress on stderr even when it is not a terminal\n"
          "  -q, --quiet          no progress\n"
          "  -h, --help           show this help\n"
          "\n"
          "Exit status: 0 every dump scanned, 1 at least one failed (see its error\n"
          "record), 2 usage error, 3 output could not be written.\n",
          f);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_scan_args(int argc, char **argv, scan_cli *o)
{
    enum { O_ONLY = 256, O_IO, O_ODIRECT, O_MINSCORE, O_NOSTRUCT, O_NOXVIEW, O_NOTIMING,
           O_PROFILE, O_PROGRESS };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, O_ONLY},
        {"io", required_argument, NULL, O_IO},
        {"odirect", no_argument, NULL, O_ODIRECT},
        {"threads", required_argument, NULL, 'j'},
        {"min-score", required_argument, NULL, O_MINSCORE},
        {"no-struct", no_argument, NULL, O_NOSTRUCT},
        {"no-xview", no_argument, NULL, O_NOXVIEW},
        {"no-timing", no_argument, NULL, O_NOTIMING},
        {"profile", required_argument, NULL, O_PROFILE},
        {"progress", no_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long v;
    ds_io_backend b;

    optind = 1;
    while ((c = getopt_long(argc, argv, "f:o:j:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!ds_outfmt_parse(optarg, &o->fmt))
                goto bad;
            break;
        case 'o':
            o->output = optarg;
            break;
        case O_ONLY:
            if (strcmp(optarg, "hidden") == 0)
                o->only = ONLY_HIDDEN;
            else if (strcmp(optarg, "unlinked") == 0)
                o->only = ONLY_UNLINKED;
            else
                goto bad;
            break;
        case O_IO:
            if (ds_io_backend_parse(optarg, &b) != DS_OK)
                goto bad;
            o->so.io_backend = b;
            break;
        case O_ODIRECT:
            o->so.odirect = true;
            break;
        case 'j':
            if (parse_int(optarg, 1, 1024, &v) != 0)
                goto bad;
            o->so.threads = (unsigned)v;
            break;
        case O_MINSCORE:
            if (parse_int(optarg, 0, 100, &v) != 0)
                goto bad;
            o->so.min_score = (int)v;
            break;
        case O_NOSTRUCT:
            o->so.no_struct_scan = true;
            break;
        case O_NOXVIEW:
            o->so.no_xview = true;
            break;
        case O_NOTIMING:
            o->no_timing = true;
            break;
        case O_PROFILE:
            if (!ds_profile_by_key(optarg))
                goto bad;
            o->profile = optarg;
            break;
        case O_PROGRESS:
            o->progress = 1;
            break;
        case 'q':
            o->progress = 0;
            break;
        case 'h':
            scan_usage(stdout);
            return DS_EXIT_OK;
        default:
            scan_usage(stderr);
            return DS_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs("dumpscan scan: no input file\n", stderr);
        scan_usage(stderr);
        return DS_EXIT_USAGE;
    }
    return -1;
bad:
    fprintf(stderr, "dumpscan scan: invalid value '%s' for an option (see --help)\n", optarg);
    return DS_EXIT_USAGE;
}

/* ---- records ------------------------------------------------------------ */

static uint64_t dump_id(const ds_dump *d)
{
    uint8_t head[8192];
    size_t n = d->file.size < sizeof(head) ? (size_t)d->file.size : sizeof(head);
    XXH3_state_t *st = XXH3_createState();
    uint64_t h = 0;
    if (!st)
        return 0;
    XXH3_64bits_reset(st);
    if (ds_file_read(&d->file, 0, head, n) == DS_OK)
        XXH3_64bits_update(st, head, n);
    uint64_t size = d->file.size;
    XXH3_64bits_update(st, &size, sizeof(size));
    h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
}

static void rec_opt_hex(ds_rec *r, const char *name, uint64_t v)
{
    if (v == DS_NO_VALUE)
        ds_rec_null(r, name);
    else
        ds_rec_hex(r, name, v);
}

static void rec_bits(ds_rec *r, const char *name, uint32_t bits, unsigned count,
                     const char *(*namer)(unsigned))
{
    const char *v[32];
    size_t n = 0;
    for (unsigned i = 0; i < count && i < 32; i++)
        if (bits & (1u << i))
            v[n++] = namer(i);
    ds_rec_str_array(r, name, v, n);
}

static void rec_ms(ds_rec *r, const char *name, uint64_t ns, bool no_timing)
{
    if (no_timing)
        ds_rec_null(r, name);
    else
        ds_rec_fixed(r, name, (int64_t)(ns / 1000), 3);
}

static size_t count_hidden(const ds_scan_result *res)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nprocs; i++)
        n += res->procs[i].hidden;
    return n;
}

static void emit_dump(ds_rec *r, ds_writer *w, const char *path, const char *id,
                      const ds_dump *d, const ds_scan_result *res, const scan_cli *o)
{
    const ds_scan_stats *s = &res->stats;
    ds_rec_begin(r, w, "dump");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    ds_rec_u64(r, "size", d->file.size);
    ds_rec_str(r, "format", d->format_name);
    ds_rec_str(r, "dump_type_name", d->dump_type_name);
    if (d->build)
        ds_rec_u64(r, "build", d->build);
    else
        ds_rec_null(r, "build");
    ds_rec_str(r, "arch", ds_arch_name(d->arch));
    ds_rec_str(r, "profile", d->profile ? d->profile->key : NULL);
    ds_rec_str(r, "status", "ok");
    ds_rec_str(r, "io_backend", s->io_backend);
    ds_rec_str(r, "io_fallback", s->io_fallback[0] ? s->io_fallback : NULL);
    ds_rec_u64(r, "bytes_scanned", s->bytes_scanned);
    rec_ms(r, "elapsed_ms", s->ns_total, o->no_timing);
    if (o->no_timing || s->ns_total == 0)
        ds_rec_null(r, "gbps");
    else /* bytes per ns == GB/s; three decimals */
        ds_rec_fixed(r, "gbps", (int64_t)(s->bytes_scanned * 1000 / s->ns_total), 3);
    rec_ms(r, "ms_stream", s->ns_stream, o->no_timing);
    rec_ms(r, "ms_p2v", s->ns_p2v, o->no_timing);
    rec_ms(r, "ms_validate", s->ns_validate, o->no_timing);
    rec_ms(r, "ms_xview", s->ns_xview, o->no_timing);
    ds_rec_u64(r, "tag_hits", s->tag_hits);
    ds_rec_u64(r, "struct_hits", s->struct_hits);
    ds_rec_u64(r, "candidates", s->candidates);
    ds_rec_bool(r, "candidates_capped", s->candidates_capped);
    ds_rec_u64(r, "processes", res->nprocs);
    ds_rec_u64(r, "threads", res->nthreads);
    ds_rec_u64(r, "hidden", count_hidden(res));
    ds_rec_u64(r, "list_entries", s->list_entries);
    ds_rec_bool(r, "list_complete", s->list_complete);
    ds_rec_u64(r, "cid_entries", s->cid_entries);
    ds_rec_str(r, "notes", d->notes[0] ? d->notes : NULL);
}

static void emit_process(ds_rec *r, ds_writer *w, const char *path, const char *id,
                         const ds_proc *p)
{
    ds_rec_begin(r, w, "process");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    rec_opt_hex(r, "eprocess_va", p->eprocess_va);
    rec_opt_hex(r, "eprocess_pa", p->eprocess_pa);
    ds_rec_u64(r, "pid", p->pid);
    ds_rec_u64(r, "ppid", p->ppid);
    ds_rec_bytes(r, "name", p->name, strlen(p->name));
    if (p->session_id == UINT32_MAX)
        ds_rec_null(r, "session_id");
    else
        ds_rec_u64(r, "session_id", p->session_id);
    ds_rec_time(r, "create_time", p->create_time);
    ds_rec_time(r, "exit_time", p->exit_time);
    ds_rec_hex(r, "dtb", p->dtb);
    ds_rec_hex(r, "peb", p->peb);
    ds_rec_hex(r, "object_table", p->object_table);
    ds_rec_u64(r, "active_threads", p->active_threads);
    ds_rec_u64(r, "thread_count", p->thread_count);
    ds_rec_i64(r, "score", p->score);
    rec_bits(r, "sources", p->sources, DS_VIEW_COUNT, ds_view_name);
    ds_rec_bool(r, "unlinked", p->unlinked);
    ds_rec_bool(r, "terminated", p->terminated);
    ds_rec_bool(r, "hidden", p->hidden);
    rec_bits(r, "reasons", p->reasons, DS_REASON_COUNT, ds_reason_name);
    rec_bits(r, "failed_checks", p->failed, DS_CHECK_COUNT, ds_check_name);
    ds_rec_bool(r, "tag_wiped", p->tag_wiped);
    rec_opt_hex(r, "pool_pa", p->pool_pa);
}

static void emit_thread(ds_rec *r, ds_writer *w, const char *path, const char *id,
                        const ds_thread *t)
{
    ds_rec_begin(r, w, "thread");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    rec_opt_hex(r, "ethread_va", t->ethread_va);
    rec_opt_hex(r, "ethread_pa", t->ethread_pa);
    ds_rec_u64(r, "pid", t->pid);
    ds_rec_u64(r, "tid", t->tid);
    ds_rec_hex(r, "eprocess_va", t->eprocess_va);
    ds_rec_hex(r, "start_address", t->start_address);
    ds_rec_hex(r, "win32_start_address", t->win32_start_address);
    ds_rec_hex(r, "teb", t->teb);
    ds_rec_time(r, "create_time", t->create_time);
    ds_rec_time(r, "exit_time", t->exit_time);
    ds_rec_u64(r, "state", t->state);
    ds_rec_u64(r, "wait_reason", t->wait_reason);
    ds_rec_hex(r, "trap_frame", t->trap_frame);
    rec_opt_hex(r, "rip", t->rip);
    rec_opt_hex(r, "rsp", t->rsp);
    ds_rec_i64(r, "score", t->score);
    rec_bits(r, "sources", t->sources, DS_VIEW_COUNT, ds_view_name);
    rec_bits(r, "failed_checks", t->failed, DS_CHECK_COUNT, ds_check_name);
    ds_rec_bool(r, "tag_wiped", t->tag_wiped);
}

static bool keep_process(const scan_cli *o, const ds_proc *p)
{
    switch (o->only) {
    case ONLY_HIDDEN:
        return p->hidden;
    case ONLY_UNLINKED:
        return p->unlinked;
    default:
        return true;
    }
}

static bool keep_thread(const scan_cli *o, const ds_scan_result *res, const ds_thread *t)
{
    if (o->only == ONLY_ALL)
        return true;
    for (size_t i = 0; i < res->nprocs; i++)
        if (res->procs[i].eprocess_va == t->eprocess_va)
            return keep_process(o, &res->procs[i]);
    return false;
}

/* ---- psxview-style table ------------------------------------------------ */

static int table_rank(const ds_proc *p)
{
    return p->hidden ? 0 : p->unlinked ? 1 : p->terminated ? 2 : 3;
}

static int cmp_table_rows(const void *a, const void *b)
{
    const ds_proc *x = *(const ds_proc *const *)a, *y = *(const ds_proc *const *)b;
    if (table_rank(x) != table_rank(y))
        return table_rank(x) - table_rank(y);
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return x->eprocess_pa < y->eprocess_pa ? -1 : x->eprocess_pa > y->eprocess_pa;
}

static const char *verdict_word(const ds_proc *p)
{
    if (p->hidden)
        return "HIDDEN";
    if (p->unlinked)
        return "terminated+unlinked";
    if (p->terminated)
        return "terminated";
    return "ok";
}

static void table_text(ds_strbuf *sb, const char *path, const ds_dump *d, const ds_scan_result *res,
                       const scan_cli *o)
{
    static const unsigned cols[] = {0, 1, 2, 3, 4, 5}; /* pool struct list thread cid session */
    const ds_proc **rows = malloc((res->nprocs ? res->nprocs : 1) * sizeof(*rows));
    if (!rows) {
        sb->failed = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < res->nprocs; i++)
        if (keep_process(o, &res->procs[i]))
            rows[n++] = &res->procs[i];
    qsort(rows, n, sizeof(*rows), cmp_table_rows);
    ds_sb_printf(sb, "Dump: %s (%s %s, build %u, %s)\n", path, d->format_name,
                 d->dump_type_name ? d->dump_type_name : "", d->build, ds_arch_name(d->arch));
    ds_sb_printf(sb, "%zu processes (%zu hidden), %zu threads, %" PRIu64 " bytes scanned\n",
                 res->nprocs, count_hidden(res), res->nthreads, res->stats.bytes_scanned);
    ds_sb_printf(sb, "%-18s %-18s %7s %7s %-16s pool struct list thread cid session  %s\n",
                 "Offset(V)", "Offset(P)", "PID", "PPID", "Name", "Verdict");
    for (size_t i = 0; i < n; i++) {
        const ds_proc *p = rows[i];
        char va[24], pa[24];
        snprintf(va, sizeof(va), p->eprocess_va == DS_NO_VALUE ? "-" : "0x%" PRIx64, p->eprocess_va);
        snprintf(pa, sizeof(pa), p->eprocess_pa == DS_NO_VALUE ? "-" : "0x%" PRIx64, p->eprocess_pa);
        ds_sb_printf(sb, "%-18s %-18s %7" PRIu64 " %7" PRIu64 " ", va, pa, p->pid, p->ppid);
        ds_strbuf name;
        ds_sb_init(&name);
        ds_text_line(&name, p->name, strlen(p->name));
        ds_sb_printf(sb, "%-16s", name.p ? name.p : "");
        ds_sb_free(&name);
        static const int widths[] = {4, 6, 4, 6, 3, 7};
        for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
            ds_sb_printf(sb, " %-*s", widths[c], (p->sources & (1u << cols[c])) ? "True" : "False");
        ds_sb_printf(sb, "  %s\n", verdict_word(p));
    }
    ds_sb_printf(sb, "\n");
    free(rows);
}

/* ---- driver ------------------------------------------------------------- */

static ds_err emit_error(ds_writer *w, ds_rec *r, const char *path, ds_err e, const ds_errbuf *eb)
{
    return ds_info_error(w, r, path, e, eb);
}

static ds_err scan_one(ds_writer *w, ds_rec *r, ds_strbuf *text, const char *path,
                       const scan_cli *o, bool *input_failed)
{
    ds_dump_opts dopts = {.file_flags = 0, .force_profile = o->profile};
    ds_errbuf eb = {{0}};
    ds_dump *d = NULL;
    ds_err e = ds_dump_open(&d, path, &dopts, &eb);
    if (e != DS_OK) {
        *input_failed = true;
        return emit_error(w, r, path, e, &eb);
    }
    ds_scan_result res;
    e = ds_scan(d, &o->so, &res, &eb);
    if (e != DS_OK) {
        *input_failed = true;
        e = emit_error(w, r, path, e, &eb);
        ds_dump_close(d);
        return e;
    }
    char id[24];
    snprintf(id, sizeof(id), "%016" PRIx64, dump_id(d));
    if (o->fmt == DS_OUT_TABLE) {
        ds_sb_clear(text);
        table_text(text, path, d, &res, o);
        e = text->failed ? DS_ERR_NOMEM : ds_writer_text(w, text->p, text->len);
    } else {
        emit_dump(r, w, path, id, d, &res, o);
        e = ds_rec_end(r);
        for (size_t i = 0; e == DS_OK && i < res.nprocs; i++) {
            if (!keep_process(o, &res.procs[i]))
                continue;
            emit_process(r, w, path, id, &res.procs[i]);
            e = ds_rec_end(r);
        }
        for (size_t i = 0; e == DS_OK && i < res.nthreads; i++) {
            if (!keep_thread(o, &res, &res.threads[i]))
                continue;
            emit_thread(r, w, path, id, &res.threads[i]);
            e = ds_rec_end(r);
        }
    }
    ds_scan_result_free(&res);
    ds_dump_close(d);
    return e;
}

static void progress_line(int i, int total, const char *path)
{
    fprintf(stderr, "\r\033[K[%d/%d] %s", i, total, path);
    fflush(stderr);
}

int cmd_scan(int argc, char **argv)
{
    scan_cli o = {.fmt = DS_OUT_NDJSON, .progress = -1};
    ds_scan_opts_default(&o.so);
    int st = parse_scan_args(argc, argv, &o);
    if (st >= 0)
        return st;
    bool show_progress = o.progress == 1 || (o.progress == -1 && isatty(STDERR_FILENO));

    ds_errbuf eb = {{0}};
    ds_writer *w = NULL;
    ds_err e = ds_writer_open(&w, o.fmt, o.output, o.fmt == DS_OUT_CSV ? "process" : "dump", &eb);
    if (e != DS_OK) {
        fprintf(stderr, "dumpscan scan: %s\n", eb.msg[0] ? eb.msg : ds_strerror(e));
        return e == DS_ERR_ARG ? DS_EXIT_USAGE : DS_EXIT_OUTPUT;
    }
    ds_rec r;
    ds_strbuf text;
    bool input_failed = false, output_failed = false;
    ds_rec_init(&r);
    ds_sb_init(&text);
    int total = argc - optind;
    for (int i = optind; i < argc && !output_failed; i++) {
        if (show_progress)
            progress_line(i - optind + 1, total, argv[i]);
        e = scan_one(w, &r, &text, argv[i], &o, &input_failed);
        if (e == DS_ERR_IO) {
            output_failed = true;
        } else if (e != DS_OK) {
            fprintf(stderr, "dumpscan scan: %s: cannot write record: %s\n", argv[i],
                    ds_strerror(e));
            input_failed = true;
        }
    }
    if (show_progress)
        fputs("\r\033[K", stderr);
    ds_rec_free(&r);
    ds_sb_free(&text);
    e = ds_writer_close(w, &eb);
    if (e != DS_OK || output_failed) {
        fprintf(stderr, "dumpscan scan: %s\n", eb.msg[0] ? eb.msg : "output write failed");
        return DS_EXIT_OUTPUT;
    }
    return input_failed ? DS_EXIT_INPUT : DS_EXIT_OK;
}
