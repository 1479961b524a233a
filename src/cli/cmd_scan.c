/* cmd_scan.c - `dumpscan scan [options] PATH...`: processes and threads.
 *
 * For each dump: open it (format by content), run the scan pipeline
 * (scan/scan.h: stream + tag/structure scan + validation + cross-view)
 * and emit a `dump` record with the scan statistics, then one `process`
 * record per process object and one `thread` record per thread object.
 * A triage minidump (no physical pages) gives its `dump` record with
 * status "triage" and the crashing process and thread from the triage
 * block (sources ["triage"]).  A dump that cannot be opened or scanned
 * gives an `error` record (type, path, dump_id, error, message) and the
 * run goes on.  Records of every type carry the dump's path and
 * `dump_id` (xxh3-64 of the first 8 KiB and the file size), so outputs of
 * different runs join.  --format table prints a psxview-style view.  The
 * run ends with a `summary` record (table: a text line).
 *
 * Bulk mode, the output guard, --state, signals and exit codes come from
 * run.h: this file says what scanning one dump means.  Each dump slot
 * scans with the shared pool and encodes the dump's records into a batch
 * (output/writer.h), which the output stage writes in one locked
 * section; a dump with too many records to buffer is written straight
 * from its scan result at its turn instead. */
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../io/pool.h"
#include "../../io/stream.h"
#include "../../scan/scan.h"
#include "../bugcheck.h"
#include "cli.h"
#include "usage.h"
#include "../../output/textwidth.h"
#include "../modules.h"
#include "drvfmt.h"
#include "objfmt.h"
#include "recfmt.h"
#include "run.h"

typedef enum only_filter { ONLY_ALL = 0, ONLY_HIDDEN, ONLY_UNLINKED } only_filter;

/* scan's own options; the shared ones are in run_opts. */
typedef struct scan_cli {
    run_opts ro;
    ds_scan_opts so;
    only_filter only;
    int64_t pid;               /* --pid, -1 none */
    const char *name_glob;     /* --name, NULL none */
    bool threads_view;         /* --show-threads (table) */
    bool wide;                 /* --wide (table): view columns and Offset(P) */
} scan_cli;


/* Results estimated above this many bytes of encoded records are written
 * straight from the scan result at their turn instead of being buffered.
 * DUMPSCAN_BATCH_LIMIT overrides it (tests reach the rare path with small
 * dumps; DUMPSCAN_HOLD_LIMIT, read by run.c, bounds what --sort holds). */
#define BATCH_LIMIT_DEFAULT ((size_t)32 << 20)
#define RECORD_BYTES_ESTIMATE 1024u

static const char *const scan_types[] = {"dump",   "process", "thread",  "driver",
                                          "unloaded", "error", "summary", NULL};

static void scan_usage(FILE *f)
{
    fputs("usage: dumpscan scan [options] PATH...\n"
          "\n"
          "Find every process, thread and driver in each dump: pool-tag and\n"
          "structure scan of all physical pages, checked against the kernel's\n"
          "own lists (active process list, thread lists, PspCidTable, sessions,\n"
          "loaded-module list) and the drivers it remembers unloading.\n"
          "PATH is a dump, a directory (every regular file below it, sorted by\n"
          "path), or '-' (a list of paths on standard input, one per line).\n"
          "\n"
          "  -f, --format FMT     ndjson (default; jsonl), csv, table (psxview-style)\n"
          "                       or sqlite (one database: -o results.sqlite, the\n"
          "                       default for -o *.sqlite, *.sqlite3, *.db)\n"
          "  -o, --output PATH    write to PATH; a directory (or PATH/) gets one file\n"
          "                       per record type (dump, process, thread, driver,\n"
          "                       unloaded, error, summary)\n"
          "      --only WHAT      hidden | unlinked: keep just those processes (and\n"
          "                       their threads); hidden also keeps hidden drivers\n"
          "      --pid N          keep just the process(es) with this PID and their\n"
          "                       threads (no driver records)\n"
          "      --name GLOB      the same by image name (ImageFileName or the base of\n"
          "                       image_path; shell wildcards, case-insensitive)\n"
          "      --show-threads   with --format table: each process's threads under it,\n"
          "                       `!process 0 2` style (wait, trap frame, system call)\n"
          "      --wide           with --format table: Offset(P) and a True/False column\n"
          "                       per view (the default fits 80 columns)\n"
          "      --io BACKEND     auto (default: mmap when the dump is in the page\n"
          "                       cache, else io_uring with O_DIRECT), uring, mmap\n"
          "                       or pread\n"
          "      --odirect        read with O_DIRECT (uring/pread): cold data that\n"
          "                       should not fill the page cache\n"
          "  -j, --threads N      worker threads shared by all dumps (default: the\n"
          "                       CPUs this process may use)\n"
          "      --jobs N         dumps in flight at once (default: the worker count)\n"
          "      --sort           write dumps in input order (default: as they finish)\n"
          "      --state FILE     remember finished dumps in FILE and skip them when\n"
          "                       run again (resume an interrupted run)\n"
          "      --shard K/N      scan only share K of N (1 <= K <= N) of the inputs,\n"
          "                       chosen by a hash of the path: for N machines\n"
          "      --null           the list read from '-' is NUL separated\n"
          "      --min-score N    report objects scoring at least N (0-100, default 60)\n"
          "      --no-struct      pool-tag scan only (skip the structure scan)\n"
          "      --struct-all     structure scan of every page, not only the pages\n"
          "                       the kernel maps\n"
          "      --no-xview       skip the cross-view (no list/cid/session views)\n"
          "      --no-drivers     skip the driver view (no driver/unloaded records)\n"
          "      --no-timing      timing fields null: byte-identical output per input\n"
          "      --profile KEY    use this offsets.json build key\n"
          "      --progress       progress on stderr even when it is not a terminal\n"
          "  -q, --quiet          no progress\n"
          "  -h, --help           show this help\n"
          "\n"
          "Exit status: 0 every dump scanned, 1 at least one failed (see its error\n"
          "record), 2 usage error (also: an output is one of the inputs), 3 output\n"
          "or state file could not be written, 130/143/129 stopped by SIGINT/SIGTERM/\n"
          "SIGHUP (records whole, summary written, resumable with --state).\n",
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

enum { O_ONLY = 256, O_IO, O_ODIRECT, O_MINSCORE, O_NOSTRUCT, O_NOXVIEW, O_STRUCTALL,
       O_NODRIVERS, O_PID, O_NAME, O_THREADS, O_WIDE };

/* scan's own options (run_parse_args does the shared ones). */
static int scan_option(void *ctx, int c, const char *arg)
{
    scan_cli *o = ctx;
    long v;
    ds_io_backend b;
    switch (c) {
    case O_ONLY:
        if (strcmp(arg, "hidden") == 0)
            o->only = ONLY_HIDDEN;
        else if (strcmp(arg, "unlinked") == 0)
            o->only = ONLY_UNLINKED;
        else
            return run_bad_value("scan", "--only", arg, "is not one of hidden, unlinked");
        break;
    case O_IO:
        if (ds_io_backend_parse(arg, &b) != DS_OK)
            return run_bad_value("scan", "--io", arg, "is not one of auto, uring, mmap, pread");
        o->so.io_backend = b;
        break;
    case O_ODIRECT:
        o->so.odirect = true;
        break;
    case O_MINSCORE:
        if (parse_int(arg, 0, 100, &v) != 0)
            return run_bad_value("scan", "--min-score", arg, "is not a number from 0 to 100");
        o->so.min_score = (int)v;
        break;
    case O_NOSTRUCT:
        o->so.no_struct_scan = true;
        break;
    case O_STRUCTALL:
        o->so.struct_all_pages = true;
        break;
    case O_NOXVIEW:
        o->so.no_xview = true;
        break;
    case O_NODRIVERS:
        o->so.no_drivers = true;
        break;
    case O_PID:
        if (parse_int(arg, 0, 0x7fffffff, &v) != 0)
            return run_bad_value("scan", "--pid", arg, "is not a process ID (0 to 2147483647)");
        o->pid = v;
        break;
    case O_NAME:
        o->name_glob = arg;
        break;
    case O_THREADS:
        o->threads_view = true;
        break;
    case O_WIDE:
        o->wide = true;
        break;
    default:
        return RUN_OPT_UNKNOWN;
    }
    return RUN_OPT_TAKEN;
}

static int parse_scan_args(int argc, char **argv, scan_cli *o)
{
    static const struct option longopts[] = {
        RUN_LONGOPTS,
        {"only", required_argument, NULL, O_ONLY},
        {"io", required_argument, NULL, O_IO},
        {"odirect", no_argument, NULL, O_ODIRECT},
        {"min-score", required_argument, NULL, O_MINSCORE},
        {"no-struct", no_argument, NULL, O_NOSTRUCT},
        {"struct-all", no_argument, NULL, O_STRUCTALL},
        {"no-xview", no_argument, NULL, O_NOXVIEW},
        {"no-drivers", no_argument, NULL, O_NODRIVERS},
        {"pid", required_argument, NULL, O_PID},
        {"name", required_argument, NULL, O_NAME},
        {"show-threads", no_argument, NULL, O_THREADS},
        {"wide", no_argument, NULL, O_WIDE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    return run_parse_args("scan", argc, argv, longopts, &o->ro, scan_usage, scan_option, o);
}

/* ---- one dump's facts, kept after the dump is closed --------------------- */

typedef struct dump_facts {
    uint64_t size;
    const char *format_name;     /* static strings of the dump layer */
    const char *dump_type_name;
    const char *profile_key;
    uint32_t build;
    ds_arch arch;
    bool has_bugcheck;
    uint32_t bugcheck_code;
    bool profile_forced;         /* --profile named it */
    ds_source kdbg_source;       /* DS_SRC_NONE when no valid KDBG */
    bool kdbg_encoded;
    char notes[256];
} dump_facts;

/* What one dump became; the payload the output stage writes. */
typedef struct dump_job {
    bool triage;                 /* status "triage": no scan result */
    char id[24];                 /* dump_id */
    dump_facts facts;
    triage_facts tri;
    ds_scan_result res;          /* kept until written when batch is NULL */
    ds_batch *batch;             /* encoded records, or NULL: write from res */
    uint64_t procs, hidden, threads, bytes;
} dump_job;

static void facts_of(dump_facts *f, const ds_dump *d)
{
    f->size = d->file.size;
    f->format_name = d->format_name;
    /* as `info` reports it: crash dumps only (null for raw images and ELF) */
    f->dump_type_name = (d->format == DS_FMT_CRASH64 || d->format == DS_FMT_CRASH32)
                            ? d->dump_type_name : NULL;
    f->profile_key = d->profile ? d->profile->key : NULL;
    f->build = d->build;
    f->arch = d->arch;
    f->has_bugcheck = d->has_bugcheck;
    f->bugcheck_code = d->bugcheck_code;
    f->profile_forced = d->profile && d->profile_match == DS_PROFILE_FORCED;
    f->kdbg_source = d->kdbg_valid ? d->kdbg_source : DS_SRC_NONE;
    f->kdbg_encoded = d->kdbg_valid && d->kdbg_encoded;
    snprintf(f->notes, sizeof(f->notes), "%s", d->notes);
}

static void triage_of(triage_facts *t, const ds_dump *d)
{
    const ds_triage *tr = d->triage;
    t->pc = tr->pcopy;
    t->tc = tr->tcopy;
    t->rip = t->rsp = DS_NO_VALUE;
    const ds_profile *p = d->profile;
    uint64_t rip, rsp;
    if (p && tr->has_thread && tr->tcopy.trap_frame && p->tf_rip != DS_OFF_NONE &&
        ds_kread_ptr(d, tr->tcopy.trap_frame + p->tf_rip, &rip) == DS_OK &&
        ds_kread_ptr(d, tr->tcopy.trap_frame + p->tf_rsp, &rsp) == DS_OK) {
        t->rip = rip; /* the trap frame's page is among the triage data blocks */
        t->rsp = rsp;
    }
    t->has_process = tr->has_process;
    t->pid = tr->process_pid;
    t->ppid = tr->process_ppid;
    memcpy(t->name, tr->process_name, sizeof(t->name));
    t->name[sizeof(t->name) - 1] = 0;
    t->has_thread = tr->has_thread;
    t->thread_pid = tr->thread_pid;
    t->tid = tr->thread_tid;
}

/* ---- records ------------------------------------------------------------ */

static size_t count_hidden(const ds_scan_result *res)
{
    size_t n = 0;
    for (size_t i = 0; i < res->nprocs; i++)
        n += res->procs[i].hidden;
    return n;
}

static void append_note(char *notes, size_t cap, const char *what)
{
    size_t n = strlen(notes);
    snprintf(notes + n, cap - n, "%s%s", n ? "; " : "", what);
}

static void rec_source(ds_rec *r, const char *name, ds_source src)
{
    ds_rec_str(r, name, src == DS_SRC_NONE ? NULL : ds_source_name(src));
}

/* Where the cross-view's anchors came from (null: not known, or a
 * triage dump, which has no scan). */
static void emit_anchors(ds_rec *r, const dump_facts *f, const ds_scan_stats *s)
{
    rec_source(r, "kdbg_source", f->kdbg_source);
    ds_rec_bool(r, "kdbg_encoded", f->kdbg_encoded);
    rec_opt_hex(r, "ps_active_process_head", s ? s->active_head : 0, 0);
    rec_source(r, "list_head_source", s ? s->active_head_src : DS_SRC_NONE);
    rec_opt_hex(r, "psp_cid_table", s ? s->cid_table_ptr : 0, 0);
    rec_source(r, "cid_table_source", s ? s->cid_table_src : DS_SRC_NONE);
    rec_opt_hex(r, "ps_loaded_module_list", s ? s->module_list : 0, 0);
    rec_source(r, "module_list_source", s ? s->module_list_src : DS_SRC_NONE);
}

/* The driver view's counts (null when it did not run: triage dumps,
 * --no-drivers). */
static void emit_driver_counts(ds_rec *r, const dump_job *j, const scan_cli *o)
{
    const ds_driver_set *ds = &j->res.drivers;
    if (j->triage || o->so.no_drivers) {
        ds_rec_null(r, "drivers");
        ds_rec_null(r, "hidden_drivers");
        ds_rec_null(r, "unloaded_drivers");
        ds_rec_null(r, "module_list_status");
        return;
    }
    ds_rec_u64(r, "drivers", ds->n);
    ds_rec_u64(r, "hidden_drivers", drv_count_hidden(ds));
    if (ds->unloaded_known)
        ds_rec_u64(r, "unloaded_drivers", ds->nunloaded);
    else
        ds_rec_null(r, "unloaded_drivers");
    ds_rec_str(r, "module_list_status", ds_modlist_status_name(ds->list_status));
}

/* The `dump` record.  A triage job has no scan: io and timing fields are
 * null, counters 0 except processes/threads from the triage block. */
static void emit_dump(ds_rec *r, ds_writer *w, const char *path, const dump_job *j,
                      const scan_cli *o)
{
    const ds_scan_stats *s = &j->res.stats;
    const dump_facts *f = &j->facts;
    bool no_times = o->ro.no_timing || j->triage;
    ds_rec_begin(r, w, "dump");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", j->id);
    ds_rec_u64(r, "size", f->size);
    ds_rec_str(r, "format", f->format_name);
    ds_rec_str(r, "dump_type_name", f->dump_type_name);
    if (f->build)
        ds_rec_u64(r, "build", f->build);
    else
        ds_rec_null(r, "build");
    ds_rec_str(r, "arch", ds_arch_name(f->arch));
    if (f->has_bugcheck) {
        ds_rec_hex(r, "bugcheck_code", f->bugcheck_code);
        ds_rec_str(r, "bugcheck_name", ds_bugcheck_name(f->bugcheck_code));
    } else {
        ds_rec_null(r, "bugcheck_code");
        ds_rec_null(r, "bugcheck_name");
    }
    ds_rec_str(r, "profile", f->profile_key);
    ds_rec_str(r, "status", j->triage ? "triage" : "ok");
    ds_rec_str(r, "io_backend", j->triage ? NULL : s->io_backend);
    ds_rec_str(r, "io_fallback", s->io_fallback[0] ? s->io_fallback : NULL);
    ds_rec_u64(r, "bytes_scanned", s->bytes_scanned);
    rec_ms(r, "elapsed_ms", s->ns_total, no_times);
    if (no_times || s->ns_total == 0)
        ds_rec_null(r, "gbps");
    else /* bytes per ns == GB/s; three decimals */
        ds_rec_fixed(r, "gbps", (int64_t)(s->bytes_scanned * 1000 / s->ns_total), 3);
    rec_ms(r, "ms_stream", s->ns_stream, no_times);
    rec_ms(r, "ms_p2v", s->ns_p2v, no_times);
    rec_ms(r, "ms_validate", s->ns_validate, no_times);
    rec_ms(r, "ms_xview", s->ns_xview, no_times);
    ds_rec_u64(r, "tag_hits", s->tag_hits);
    ds_rec_u64(r, "struct_hits", s->struct_hits);
    ds_rec_u64(r, "candidates", s->candidates);
    ds_rec_bool(r, "candidates_capped", s->candidates_capped);
    ds_rec_bool(r, "validated_in_stream", s->validated_in_stream);
    ds_rec_u64(r, "processes", j->procs);
    ds_rec_u64(r, "threads", j->threads);
    ds_rec_u64(r, "hidden", j->hidden);
    ds_rec_u64(r, "list_entries", s->list_entries);
    ds_rec_bool(r, "list_complete", s->list_complete);
    ds_rec_str(r, "list_status", j->triage || s->xview_skipped ? NULL
                                                               : ds_list_status_name(s->list_status));
    ds_rec_u64(r, "cid_entries", s->cid_entries);
    emit_anchors(r, f, j->triage ? NULL : s);
    emit_driver_counts(r, j, o);
    char notes[sizeof(f->notes) + 160];
    snprintf(notes, sizeof(notes), "%s", f->notes);
    if (s->xview_bounded)
        append_note(notes, sizeof(notes), "cross-view stopped at its work bound");
    if (s->xview_skipped && !j->triage)
        append_note(notes, sizeof(notes), "cross-view not run (--no-xview): nothing judged hidden");
    if (f->profile_forced && !j->triage && j->procs == 0)
        append_note(notes, sizeof(notes),
                    "the forced profile found no process object: is --profile right for this dump?");
    ds_rec_str(r, "notes", notes[0] ? notes : NULL);
}

/* --pid / --name select processes (and their threads); driver records
 * are about no process and are left out then. */
static bool process_selected(const scan_cli *o)
{
    return o->pid >= 0 || o->name_glob;
}

/* The image's base name from its full path, else the ImageFileName. */
static const char *long_name(const ds_proc *p, const ds_proc_detail *det)
{
    if (det && det->image_path) {
        const char *b = strrchr(det->image_path, '\\');
        return b ? b + 1 : det->image_path;
    }
    return p->name;
}

static bool keep_process(const scan_cli *o, const ds_proc *p, const ds_proc_detail *det)
{
    if ((o->only == ONLY_HIDDEN && !p->hidden) || (o->only == ONLY_UNLINKED && !p->unlinked))
        return false;
    if (o->pid >= 0 && p->pid != (uint64_t)o->pid)
        return false;
    if (o->name_glob && fnmatch(o->name_glob, p->name, FNM_CASEFOLD) != 0 &&
        fnmatch(o->name_glob, long_name(p, det), FNM_CASEFOLD) != 0)
        return false;
    return true;
}

static bool keep_proc_at(const scan_cli *o, const ds_scan_result *res, size_t i)
{
    return keep_process(o, &res->procs[i], res->details ? &res->details[i] : NULL);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The EPROCESS VAs of the kept processes, sorted (NULL with n 0 when
 * every thread is kept anyway). */
typedef struct kept_set {
    uint64_t *va;
    size_t n;
    bool all;
} kept_set;

static bool kept_init(kept_set *k, const scan_cli *o, const ds_scan_result *res)
{
    memset(k, 0, sizeof(*k));
    k->all = o->only == ONLY_ALL && !process_selected(o);
    if (k->all)
        return true;
    k->va = malloc((res->nprocs ? res->nprocs : 1) * sizeof(*k->va));
    if (!k->va)
        return false;
    for (size_t i = 0; i < res->nprocs; i++)
        if (keep_proc_at(o, res, i))
            k->va[k->n++] = res->procs[i].eprocess_va;
    qsort(k->va, k->n, sizeof(*k->va), cmp_u64);
    return true;
}

static bool keep_thread(const kept_set *k, const ds_thread *t)
{
    return k->all || (k->n && bsearch(&t->eprocess_va, k->va, k->n, sizeof(*k->va), cmp_u64));
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
        return "terminated+unlinked"; /* unlinked but not hidden: it has exited */
    if (p->terminated)
        return "terminated";
    return "ok";
}

static void table_head(ds_strbuf *sb, const char *path, const dump_facts *f)
{
    /* "PAGEDU64 full", but just "raw" where the kind repeats the format */
    const char *kind = f->dump_type_name && strcmp(f->dump_type_name, f->format_name) != 0
                           ? f->dump_type_name : NULL;
    ds_sb_printf(sb, "Dump: %s (%s%s%s, build %u, %s)\n", path, f->format_name, kind ? " " : "",
                 kind ? kind : "", f->build, ds_arch_name(f->arch));
}

/* The view columns: records.h bit, wide header, compact letter. */
static const struct {
    unsigned bit;
    const char *head;
    char letter;
} view_cols[] = {{0, "pool", 'P'},  {1, "struct", 'S'},  {2, "list", 'L'},   {3, "thread", 'T'},
                 {4, "cid", 'C'},   {5, "session", 'E'}, {7, "handles", 'H'}};
#define NVIEWS (sizeof(view_cols) / sizeof(view_cols[0]))

/* Width of a wide view column: its header, and never less than "False". */
static int view_width(size_t c)
{
    int w = (int)strlen(view_cols[c].head);
    return w < 5 ? 5 : w;
}

static void table_columns(ds_strbuf *sb, bool wide)
{
    if (!wide) {
        /* 80 columns: 18 + 7 + 7 + 16 + 7 + the verdict, spaces between */
        ds_sb_printf(sb, "%-18s %6s %6s %-16s %-7s  %s\n", "Offset(V)", "PID", "PPID", "Name",
                     "Views", "Verdict");
        return;
    }
    ds_sb_printf(sb, "%-18s %-18s %7s %7s %-16s", "Offset(V)", "Offset(P)", "PID", "PPID", "Name");
    for (size_t c = 0; c < NVIEWS; c++)
        ds_sb_printf(sb, " %-*s", view_width(c), view_cols[c].head);
    ds_sb_printf(sb, "  %s\n", "Verdict");
}

/* One row: addresses, ids, name, the views (one letter each, '.' when
 * absent, or True/False columns with --wide), the verdict. */
static void table_row(ds_strbuf *sb, bool wide, uint64_t va_v, uint64_t pa_v, uint64_t pid,
                      uint64_t ppid, const char *name_raw, uint32_t sources, const char *verdict)
{
    char va[24], pa[24];
    snprintf(va, sizeof(va), va_v == DS_NO_VALUE ? "-" : "0x%" PRIx64, va_v);
    snprintf(pa, sizeof(pa), pa_v == DS_NO_VALUE ? "-" : "0x%" PRIx64, pa_v);
    if (wide)
        ds_sb_printf(sb, "%-18s %-18s %7" PRIu64 " %7" PRIu64 " ", va, pa, pid, ppid);
    else
        ds_sb_printf(sb, "%-18s %6" PRIu64 " %6" PRIu64 " ", va_v == DS_NO_VALUE ? pa : va, pid,
                     ppid);
    ds_strbuf name;
    ds_sb_init(&name);
    ds_text_line(&name, name_raw, strlen(name_raw)); /* no control bytes on a terminal */
    ds_sb_pad(sb, name.p ? name.p : "", 16);
    ds_sb_free(&name);
    if (wide) {
        for (size_t c = 0; c < NVIEWS; c++)
            ds_sb_printf(sb, " %-*s", view_width(c),
                         (sources & (1u << view_cols[c].bit)) ? "True" : "False");
    } else {
        ds_sb_addc(sb, ' ');
        for (size_t c = 0; c < NVIEWS; c++)
            ds_sb_addc(sb, (sources & (1u << view_cols[c].bit)) ? view_cols[c].letter : '.');
    }
    ds_sb_printf(sb, "  %s\n", verdict);
}

static void table_text(ds_strbuf *sb, const char *path, const dump_job *j, const scan_cli *o)
{
    const ds_scan_result *res = &j->res;
    table_head(sb, path, &j->facts);
    if (j->triage) {
        ds_sb_printf(sb, "triage dump (no physical pages): crashing process and thread from "
                         "the triage block\n");
        table_columns(sb, o->wide);
        if (j->tri.has_process && o->only == ONLY_ALL)
            table_row(sb, o->wide, DS_NO_VALUE, DS_NO_VALUE, j->tri.pid, j->tri.ppid, j->tri.name,
                      0, "triage");
        ds_sb_printf(sb, "\n");
        return;
    }
    const ds_proc **rows = malloc((res->nprocs ? res->nprocs : 1) * sizeof(*rows));
    if (!rows) {
        sb->failed = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < res->nprocs; i++)
        if (keep_proc_at(o, res, i))
            rows[n++] = &res->procs[i];
    qsort(rows, n, sizeof(*rows), cmp_table_rows);
    ds_sb_printf(sb, "%zu %s (%zu hidden), %zu %s, %" PRIu64 " bytes scanned\n", res->nprocs,
                 cli_plural(res->nprocs, "process", "processes"), count_hidden(res), res->nthreads,
                 cli_plural(res->nthreads, "thread", "threads"), res->stats.bytes_scanned);
    if (!o->wide)
        ds_sb_printf(sb, "Views: P pool S struct L list T thread C cid E session H handles\n");
    table_columns(sb, o->wide);
    obj_ctx oc = {path, j->id, j->facts.build, j->facts.arch == DS_ARCH_X64};
    for (size_t i = 0; i < n; i++) {
        const ds_proc *p = rows[i];
        table_row(sb, o->wide, p->eprocess_va, p->eprocess_pa, p->pid, p->ppid, p->name,
                  p->sources, verdict_word(p));
        if (o->threads_view)
            for (size_t k = 0; k < res->nthreads; k++)
                if (res->threads[k].eprocess_va == p->eprocess_va)
                    obj_table_thread(sb, &oc, &res->threads[k]);
    }
    if (!o->so.no_drivers && o->only != ONLY_UNLINKED && !process_selected(o))
        drv_table(sb, &res->drivers, o->only == ONLY_HIDDEN);
    ds_sb_printf(sb, "\n");
    free(rows);
}

/* All records of one scanned (or triage) dump, into b or, with b NULL,
 * straight to the writer; table text goes through `text`. */
static ds_err emit_job(ds_writer *w, ds_rec *r, ds_strbuf *text, ds_batch *b, const char *path,
                       const dump_job *j, const scan_cli *o)
{
    ds_err e;
    if (o->ro.fmt == DS_OUT_TABLE) {
        ds_sb_clear(text);
        table_text(text, path, j, o);
        if (text->failed)
            return DS_ERR_NOMEM;
        return b ? ds_batch_text(b, w, text->p, text->len) : ds_writer_text(w, text->p, text->len);
    }
    obj_ctx oc = {path, j->id, j->facts.build, j->facts.arch == DS_ARCH_X64};
    emit_dump(r, w, path, j, o);
    e = rec_done(r, b);
    if (j->triage) {
        /* a triage process is neither hidden nor unlinked */
        bool keep = o->only == ONLY_ALL && (o->pid < 0 || (uint64_t)o->pid == j->tri.pid) &&
                    (!o->name_glob || fnmatch(o->name_glob, j->tri.name, FNM_CASEFOLD) == 0);
        if (e == DS_OK && keep && j->tri.has_process) {
            obj_emit_triage_process(r, w, &oc, &j->tri);
            e = rec_done(r, b);
        }
        if (e == DS_OK && keep && j->tri.has_thread) {
            obj_emit_triage_thread(r, w, &oc, &j->tri);
            e = rec_done(r, b);
        }
        return e;
    }
    const ds_scan_result *res = &j->res;
    kept_set kept;
    if (!kept_init(&kept, o, res))
        return DS_ERR_NOMEM;
    for (size_t i = 0; e == DS_OK && i < res->nprocs; i++) {
        if (!keep_proc_at(o, res, i))
            continue;
        obj_emit_process(r, w, &oc, &res->procs[i], res->details ? &res->details[i] : NULL);
        e = rec_done(r, b);
    }
    for (size_t i = 0; e == DS_OK && i < res->nthreads; i++) {
        if (!keep_thread(&kept, &res->threads[i]))
            continue;
        obj_emit_thread(r, w, &oc, &res->threads[i]);
        e = rec_done(r, b);
    }
    free(kept.va);
    if (process_selected(o))
        return e;
    for (size_t i = 0; e == DS_OK && i < res->drivers.n; i++) {
        if (o->only == ONLY_UNLINKED || (o->only == ONLY_HIDDEN && !res->drivers.v[i].hidden))
            continue;
        drv_emit(r, w, path, j->id, &res->drivers.v[i]);
        e = rec_done(r, b);
    }
    for (size_t i = 0; e == DS_OK && o->only == ONLY_ALL && i < res->drivers.nunloaded; i++) {
        drv_emit_unloaded(r, w, path, j->id, &res->drivers.unloaded[i]);
        e = rec_done(r, b);
    }
    return e;
}

/* ---- the run ----------------------------------------------------------------- */

typedef struct scan_run {
    const scan_cli *o;
    ds_writer *w;
    ds_scan_opts so;           /* the user's options + the shared pool */
    size_t batch_limit;
    /* output stage only (run.c's output lock) */
    ds_rec wrec;
    ds_strbuf wtext;
    uint64_t procs, hidden, threads;
} scan_run;

static ds_err scan_start(void *ctx, ds_writer *w, ds_pool *pool, unsigned jobs,
                         const atomic_bool *cancel, ds_errbuf *eb)
{
    scan_run *sr = ctx;
    sr->w = w;
    sr->so.pool = pool;
    sr->so.cancel = cancel;
    (void)eb;
    /* Several dumps in flight share the stream memory one dump may use,
     * so peak memory does not grow with --jobs either. */
    if (jobs > 1)
        sr->so.inflight_bytes = DS_STREAM_DEFAULT_INFLIGHT / jobs;
    return DS_OK;
}

static void scan_free_payload(void *ctx, void *payload)
{
    (void)ctx;
    dump_job *j = payload;
    if (!j)
        return;
    ds_batch_free(j->batch);
    ds_scan_result_free(&j->res);
    free(j);
}

static size_t job_bytes(const dump_job *j)
{
    if (j->batch)
        return sizeof(*j) + ds_batch_bytes(j->batch);
    return sizeof(*j) + j->res.nprocs * sizeof(ds_proc) + j->res.nthreads * sizeof(ds_thread);
}

/* Open and scan one dump into a dump_job (records encoded into j->batch,
 * or kept in j->res for a direct write). */
static void scan_process(void *ctx, unsigned slot, const run_input *in, run_out *out)
{
    (void)slot;
    scan_run *sr = ctx;
    ds_scan_opts so = sr->so; /* this dump's copy: its own progress counter */
    so.progress_bytes = in->progress;
    const scan_cli *o = sr->o;
    const char *path = in->path;
    ds_dump_opts dopts = run_dump_opts(in, o->ro.profile);
    ds_errbuf eb = {{0}};
    ds_dump *d = NULL;
    ds_err e = ds_dump_open(&d, path, &dopts, &eb);
    if (e != DS_OK) {
        out->err = e;
        snprintf(out->msg, sizeof(out->msg), "%s", eb.msg);
        return;
    }
    dump_job *j = calloc(1, sizeof(*j));
    if (!j) {
        ds_dump_close(d);
        out->err = DS_ERR_NOMEM;
        return;
    }
    snprintf(j->id, sizeof(j->id), "%s", in->dump_id ? in->dump_id : "");
    facts_of(&j->facts, d);
    if (d->triage && d->pm.kind == DS_PM_NONE) {
        j->triage = true;
        triage_of(&j->tri, d);
        j->procs = j->tri.has_process;
        j->threads = j->tri.has_thread;
    } else {
        e = ds_scan(d, &so, &j->res, &eb);
        if (e != DS_OK) {
            ds_dump_close(d);
            scan_free_payload(sr, j);
            out->err = e;
            snprintf(out->msg, sizeof(out->msg), "%s", eb.msg);
            return;
        }
        j->procs = j->res.nprocs;
        j->threads = j->res.nthreads;
        j->hidden = count_hidden(&j->res);
        j->bytes = j->res.stats.bytes_scanned;
    }
    ds_dump_close(d);
    out->payload = j;
    out->bytes_scanned = j->bytes;

    uint64_t est = (1 + j->procs + j->threads) * (uint64_t)RECORD_BYTES_ESTIMATE;
    if (est <= sr->batch_limit && (j->batch = ds_batch_new()) != NULL) {
        if (emit_job(sr->w, in->rec, in->text, j->batch, path, j, o) == DS_OK) {
            ds_scan_result_free(&j->res);
        } else {
            /* out of room in the batch: fall back to the direct write */
            ds_batch_free(j->batch);
            j->batch = NULL;
        }
    }
    out->held_bytes = job_bytes(j);
}

static ds_err scan_write(void *ctx, const run_input *in, void *payload)
{
    scan_run *sr = ctx;
    dump_job *j = payload;
    ds_err e = j->batch ? ds_writer_write_batch(sr->w, j->batch)
                        : emit_job(sr->w, &sr->wrec, &sr->wtext, NULL, in->path, j, sr->o);
    sr->procs += j->procs;
    sr->hidden += j->hidden;
    sr->threads += j->threads;
    return e;
}

static void scan_summary_fields(void *ctx, ds_rec *r)
{
    scan_run *sr = ctx;
    ds_rec_u64(r, "processes", sr->procs);
    ds_rec_u64(r, "hidden_processes", sr->hidden);
    ds_rec_u64(r, "threads", sr->threads);
}

static void scan_summary_text(void *ctx, ds_strbuf *sb)
{
    scan_run *sr = ctx;
    ds_sb_printf(sb, ", %" PRIu64 " %s (%" PRIu64 " hidden), %" PRIu64 " %s", sr->procs,
                 cli_plural(sr->procs, "process", "processes"), sr->hidden, sr->threads,
                 cli_plural(sr->threads, "thread", "threads"));
}

int cmd_scan(int argc, char **argv)
{
    scan_cli o = {.only = ONLY_ALL, .pid = -1};
    run_opts_default(&o.ro);
    ds_scan_opts_default(&o.so);
    int st = parse_scan_args(argc, argv, &o);
    if (st >= 0)
        return st;
    o.so.threads = o.ro.threads;
    scan_run sr = {.o = &o, .so = o.so,
                   .batch_limit = run_env_limit("DUMPSCAN_BATCH_LIMIT", BATCH_LIMIT_DEFAULT)};
    ds_rec_init(&sr.wrec);
    ds_sb_init(&sr.wtext);
    run_cmd cmd = {
        .name = "scan",
        .primary = o.ro.fmt == DS_OUT_CSV ? "process" : "dump",
        .types = scan_types,
        .ctx = &sr,
        .start = scan_start,
        .process = scan_process,
        .write = scan_write,
        .free_payload = scan_free_payload,
        .summary_fields = scan_summary_fields,
        .summary_text = scan_summary_text,
    };
    st = run_main(&cmd, &o.ro, argv + optind, (size_t)(argc - optind));
    ds_rec_free(&sr.wrec);
    ds_sb_free(&sr.wtext);
    return st;
}
