/* run.c - inputs, output guard, state, signals, scheduling and summary
 * shared by every dump-reading command; see run.h.
 *
 * A run_job wraps what one input became: the identity read here (dump_id
 * and the --state key), the outcome, and the command's run_out.  The
 * bulk scheduler (bulk.c) calls process_input() on dump slots and
 * write_job() under its output lock; write_job() writes the `error`
 * record of a failed dump itself and hands successful payloads to the
 * command. */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "bulk.h"
#include "cli.h"
#include "outguard.h"
#include "sig.h"
#include "usage.h"
#include "../../output/sqlite.h"
#include "state.h"

void run_opts_default(run_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->fmt = DS_OUT_NDJSON;
    o->progress = -1;
}

static int parse_uint_opt(const char *s, long lo, long hi, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int run_parse_args(const char *cmd, int argc, char **argv, const struct option *longopts,
                   run_opts *o, void (*usage)(FILE *), int (*own)(void *ctx, int c, const char *arg),
                   void *ctx)
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, RUN_SHORTOPTS "h", longopts, NULL)) != -1) {
        int shared = run_parse_opt(o, cmd, c, optarg);
        if (shared < 0)
            return DS_EXIT_USAGE;
        if (shared == 2)
            return DS_EXIT_OK;
        if (c == '?' || c == ':')
            return cli_bad_option(cmd, c, argv, longopts);
        if (shared > 0)
            continue;
        if (c == 'h') {
            usage(stdout);
            return DS_EXIT_OK;
        }
        int st = own ? own(ctx, c, optarg) : RUN_OPT_UNKNOWN;
        if (st == RUN_OPT_UNKNOWN) { /* getopt gave what no one handles */
            usage(stderr);
            return DS_EXIT_USAGE;
        }
        if (st != RUN_OPT_TAKEN)
            return st;
    }
    if (optind >= argc) {
        fprintf(stderr, "dumpscan %s: no input file\nTry 'dumpscan %s --help'.\n", cmd, cmd);
        return DS_EXIT_USAGE;
    }
    return -1;
}

int run_parse_opt(run_opts *o, const char *cmd, int c, const char *arg)
{
    const char *opt = NULL, *want = NULL;
    switch (c) {
    case 'f':
        if (ds_outfmt_parse(arg, &o->fmt)) {
            o->fmt_set = true;
            return 1;
        }
        opt = "--format";
        want = "is not one of ndjson (jsonl), csv, table, sqlite";
        break;
    case 'o':
        o->output = arg;
        if (!o->fmt_set && ds_sqlite_path(arg)) /* -o results.sqlite */
            o->fmt = DS_OUT_SQLITE;
        return 1;
    case 'j':
        if (parse_uint_opt(arg, 1, DS_POOL_MAX_THREADS, &o->threads) == 0)
            return 1;
        opt = "--threads";
        want = "is not a number from 1 to 1024";
        break;
    case RUN_O_JOBS:
        if (parse_uint_opt(arg, 1, DS_POOL_MAX_THREADS, &o->jobs) == 0)
            return 1;
        opt = "--jobs";
        want = "is not a number from 1 to 1024";
        break;
    case RUN_O_SORT:
        o->sort = true;
        return 1;
    case RUN_O_STATE:
        o->state_path = arg;
        return 1;
    case RUN_O_SHARD:
        if (bulk_shard_parse(arg, &o->shard_k, &o->shard_n))
            return 1;
        opt = "--shard";
        want = "is not K/N with 1 <= K <= N";
        break;
    case RUN_O_NULL:
        o->null_sep = true;
        return 1;
    case RUN_O_PROFILE:
        if (strcmp(arg, "list") == 0) {
            cli_profile_list(stdout);
            return 2;
        }
        if (ds_profile_by_key(arg)) {
            o->profile = arg;
            return 1;
        }
        opt = "--profile";
        want = "is not a profile key (dumpscan --profile list)";
        break;
    case RUN_O_PROGRESS:
        o->progress = 1;
        return 1;
    case RUN_O_NOTIMING:
        o->no_timing = true;
        return 1;
    case RUN_O_INCLUDE:
        if (o->ninclude < RUN_MAX_INCLUDE && *arg) {
            o->include[o->ninclude++] = arg;
            return 1;
        }
        opt = "--include";
        want = *arg ? "is one too many (at most 32 patterns)" : "is an empty pattern";
        break;
    case 'q':
        o->progress = 0;
        return 1;
    default:
        return 0;
    }
    run_bad_value(cmd, opt, arg, want);
    return -1;
}

int run_bad_value(const char *cmd, const char *opt, const char *arg, const char *want)
{
    fprintf(stderr, "dumpscan %s: %s: '%s' %s\n", cmd, opt, arg, want);
    return DS_EXIT_USAGE;
}

/* ---- one input ------------------------------------------------------------ */

typedef struct run_job {
    bulk_outcome outcome;
    bool has_id;
    char id[24];
    bulk_state_key key;
    run_out out;
} run_job;

typedef struct run_slot {
    ds_rec rec;
    ds_strbuf text;
} run_slot;

typedef struct run_ctx {
    const run_cmd *cmd;
    run_slot *slots;           /* one per dump slot */
    const run_opts *o;
    const bulk_inputs *in;
    ds_writer *w;
    bulk_state *state;
    ds_rec rec;                /* output stage: error and summary records */
    ds_strbuf text;
    uint64_t last_flush_ns, last_sync_ns;
    _Atomic uint64_t *live;    /* per dump slot: bytes of the dump in flight */
    bool stdout_tty;
    bool input_failed, output_failed, state_failed;
    uint64_t n_ok, n_failed, n_skipped, n_cancelled, bytes;
} run_ctx;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* dump_id (xxh3-64 of the first 8 KiB then the 8-byte size) and the
 * state key of path.  0 when read, 1 when path is not a regular file, -1
 * when it cannot be opened (the command's open then says why).
 * O_NONBLOCK: opening a FIFO must not hang the run. */
ds_dump_opts run_dump_opts(const run_input *in, const char *force_profile)
{
    return (ds_dump_opts){.force_profile = force_profile, .use_fd = in->fd >= 0, .fd = in->fd};
}

/* Open the dump, read its identity (dump_id, state key); 0 with the file
 * left open in *fd_out for the command, 1 when it is not a regular file,
 * -1 when it cannot be opened or read. */
static int read_identity(const char *path, run_job *j, bool want_path_key, int *fd_out)
{
    *fd_out = -1;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -1 : 1;
    }
    uint8_t head[8192 + sizeof(uint64_t)];
    uint64_t size = (uint64_t)st.st_size;
    size_t want = size < 8192 ? (size_t)size : 8192, got;
    ds_pread_full(fd, head, want, 0, &got);
    *fd_out = fd;
    /* XXH3 of the head (only when fully read) followed by the size: one
     * call over both, the same value the streaming form gave */
    size_t n = got == want ? want : 0;
    memcpy(head + n, &size, sizeof(size));
    uint64_t id = XXH3_64bits(head, n + sizeof(size));
    snprintf(j->id, sizeof(j->id), "%016" PRIx64, id);
    j->has_id = true;
    j->key.dump_id = id;
    j->key.size = size;
    j->key.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (want_path_key) { /* --state only: realpath costs a syscall per component */
        char *rp = guard_resolve(path);
        const char *kp = rp ? rp : path;
        j->key.path_hash = XXH3_64bits(kp, strlen(kp));
        free(rp);
    }
    return 0;
}

static void job_fail(run_job *j, ds_err e, const char *msg)
{
    j->outcome = BULK_FAILED;
    j->out.err = e;
    if (msg != j->out.msg)
        snprintf(j->out.msg, sizeof(j->out.msg), "%s", msg && msg[0] ? msg : ds_strerror(e));
    else if (!j->out.msg[0])
        snprintf(j->out.msg, sizeof(j->out.msg), "%s", ds_strerror(e));
}

static bulk_result process_input(void *ctx, unsigned slot, size_t index)
{
    run_ctx *rc = ctx;
    const bulk_input *in = &rc->in->v[index];
    bulk_result res = {0};
    run_job *j = calloc(1, sizeof(*j));
    if (!j) {
        res.outcome = BULK_FAILED;
        return res;
    }
    if (in->walk_errno) {
        char msg[200];
        snprintf(msg, sizeof(msg), "cannot read directory %s: %s", in->path,
                 strerror(in->walk_errno));
        job_fail(j, DS_ERR_IO, msg);
    } else {
        int fd = -1;
        int id = read_identity(in->path, j, rc->state != NULL, &fd);
        if (id == 1) {
            job_fail(j, DS_ERR_UNSUPPORTED, "not a regular file");
        } else if (id == 0 && rc->state && bulk_state_has(rc->state, &j->key)) {
            j->outcome = BULK_SKIPPED;
        } else {
            run_input ri = {.path = in->path, .dump_id = j->has_id ? j->id : NULL,
                            .index = index, .rec = &rc->slots[slot].rec,
                            .text = &rc->slots[slot].text,
                            .progress = rc->live ? &rc->live[slot] : NULL, .fd = fd};
            rc->cmd->process(rc->cmd->ctx, slot, &ri, &j->out);
            if (j->out.err == DS_ERR_CANCELLED)
                j->outcome = BULK_CANCELLED;
            else if (j->out.err != DS_OK)
                job_fail(j, j->out.err, j->out.msg);
            else
                j->outcome = BULK_OK;
        }
        if (fd >= 0)
            close(fd);
    }
    res.payload = j;
    res.outcome = j->outcome;
    res.bytes_scanned = j->out.bytes_scanned;
    res.held_bytes = sizeof(*j) + j->out.held_bytes;
    res.touches_terminal =
        rc->stdout_tty || (j->outcome == BULK_FAILED && rc->o->fmt != DS_OUT_NDJSON);
    return res;
}

/* The `error` record: the dump, its dump_id (null when the file could not
 * be read), the error word and sentence. */
static ds_err emit_error(run_ctx *rc, const char *path, const run_job *j)
{
    ds_rec *r = &rc->rec;
    ds_rec_begin(r, rc->w, "error");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", j->has_id ? j->id : NULL);
    ds_rec_str(r, "error", ds_err_name(j->out.err));
    ds_rec_str(r, "message", j->out.msg[0] ? j->out.msg : ds_strerror(j->out.err));
    return ds_rec_end(r);
}

/* After a dump's records are out: flush them, then record the dump in the
 * state; fsync both at most once a second.  Caller holds the output lock. */
static void after_write(run_ctx *rc, const run_job *j)
{
    uint64_t t = now_ns();
    if (!rc->state) {
        if (t - rc->last_flush_ns >= 100000000u) { /* stream output ~10 times a second */
            if (ds_writer_flush(rc->w, false) != DS_OK)
                rc->output_failed = true;
            rc->last_flush_ns = t;
        }
        return;
    }
    if (j->outcome != BULK_OK)
        return;
    if (ds_writer_flush(rc->w, false) != DS_OK) {
        rc->output_failed = true;
        return;
    }
    if (bulk_state_add(rc->state, &j->key) != DS_OK) {
        rc->state_failed = true;
        return;
    }
    if (t - rc->last_sync_ns >= 1000000000u) {
        if (ds_writer_flush(rc->w, true) != DS_OK)
            rc->output_failed = true;
        else if (bulk_state_sync(rc->state) != DS_OK)
            rc->state_failed = true;
        rc->last_sync_ns = t;
    }
}

static bool write_job(void *ctx, size_t index, void *payload)
{
    run_ctx *rc = ctx;
    const bulk_input *in = &rc->in->v[index];
    run_job *j = payload;
    if (!j) {
        fprintf(stderr, "dumpscan %s: %s: out of memory\n", rc->cmd->name, in->path);
        rc->input_failed = true;
        rc->n_failed++;
        return !rc->output_failed && !rc->state_failed;
    }
    ds_err e = DS_OK;
    if (!rc->output_failed && !rc->state_failed) {
        run_input ri = {.path = in->path, .dump_id = j->has_id ? j->id : NULL, .index = index,
                        .fd = -1};
        if (j->outcome == BULK_FAILED)
            e = emit_error(rc, in->path, j);
        else if (j->outcome == BULK_OK)
            e = rc->cmd->write(rc->cmd->ctx, &ri, j->out.payload);
        if (e == DS_ERR_IO) {
            rc->output_failed = true;
        } else if (e != DS_OK) {
            /* a record the writer refused: a bug here, not in the input */
            fprintf(stderr, "dumpscan %s: %s: cannot write record: %s\n", rc->cmd->name,
                    in->path, ds_strerror(e));
            rc->input_failed = true;
        } else if (j->outcome != BULK_CANCELLED) {
            after_write(rc, j);
        }
    }
    rc->n_ok += j->outcome == BULK_OK;
    rc->n_failed += j->outcome == BULK_FAILED;
    rc->n_skipped += j->outcome == BULK_SKIPPED;
    rc->n_cancelled += j->outcome == BULK_CANCELLED;
    rc->input_failed |= j->outcome == BULK_FAILED;
    if (j->outcome == BULK_OK)
        rc->bytes += j->out.bytes_scanned;
    rc->cmd->free_payload(rc->cmd->ctx, j->out.payload);
    free(j);
    return !rc->output_failed && !rc->state_failed;
}

/* ---- summary ---------------------------------------------------------------- */

static ds_err emit_summary(run_ctx *rc, size_t total, uint64_t wall_ns, bool interrupted)
{
    const run_opts *o = rc->o;
    const run_cmd *cmd = rc->cmd;
    uint64_t done = rc->n_ok + rc->n_failed + rc->n_skipped;
    if (o->fmt == DS_OUT_TABLE) {
        ds_strbuf *sb = &rc->text;
        ds_sb_clear(sb);
        ds_sb_printf(sb, "Summary: %zu %s (%" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64
                     " skipped", total, cli_plural(total, "dump", "dumps"), rc->n_ok,
                     rc->n_failed, rc->n_skipped);
        if (interrupted)
            ds_sb_printf(sb, ", %" PRIu64 " not done: interrupted", (uint64_t)total - done);
        ds_sb_printf(sb, ")");
        if (cmd->summary_text)
            cmd->summary_text(cmd->ctx, sb);
        ds_sb_printf(sb, "\n         %" PRIu64 " bytes scanned", rc->bytes); /* 80 columns */
        if (!o->no_timing && wall_ns)
            ds_sb_printf(sb, " in %.3f s (%.3f GB/s)", (double)wall_ns / 1e9,
                         (double)rc->bytes / (double)wall_ns);
        ds_sb_printf(sb, "\n");
        return sb->failed ? DS_ERR_NOMEM : ds_writer_text(rc->w, sb->p, sb->len);
    }
    ds_rec *r = &rc->rec;
    ds_rec_begin(r, rc->w, "summary");
    ds_rec_u64(r, "dumps_total", total);
    ds_rec_u64(r, "dumps_ok", rc->n_ok);
    ds_rec_u64(r, "dumps_failed", rc->n_failed);
    ds_rec_u64(r, "dumps_skipped", rc->n_skipped);
    if (cmd->summary_fields)
        cmd->summary_fields(cmd->ctx, r);
    ds_rec_u64(r, "bytes_scanned", rc->bytes);
    if (o->no_timing)
        ds_rec_null(r, "wall_ms");
    else
        ds_rec_fixed(r, "wall_ms", (int64_t)(wall_ns / 1000), 3);
    if (o->no_timing || wall_ns == 0)
        ds_rec_null(r, "gbps");
    else
        ds_rec_fixed(r, "gbps", (int64_t)(rc->bytes * 1000 / wall_ns), 3);
    ds_rec_bool(r, "interrupted", interrupted);
    return ds_rec_end(r);
}

/* ---- setting up ----------------------------------------------------------------- */

size_t run_env_limit(const char *name, size_t dflt)
{
    const char *s = getenv(name);
    char *end;
    if (!s || !*s)
        return dflt;
    unsigned long long v = strtoull(s, &end, 10);
    return *end ? dflt : (size_t)v;
}

static int pick_progress(const run_opts *o)
{
    bool tty = isatty(STDERR_FILENO);
    if (o->progress == 0 || (o->progress == -1 && !tty))
        return 0;
    return tty ? 1 : 2;
}

/* Steps 1 and 2 of run.h: inputs listed, outputs checked.  Returns -1 to
 * go on, else the exit status (the message was printed). */
static int collect_and_guard(const run_cmd *cmd, const run_opts *o, char **args, size_t nargs,
                             bulk_inputs *in, ds_fileid_set *ids)
{
    guard_plan plan;
    ds_fileid_set own = {0};
    ds_errbuf eb = {{0}};
    if (guard_plan_make(&plan, o->fmt, o->output, cmd->types, o->state_path) != DS_OK ||
        guard_own_outputs(&plan, &own) != DS_OK) {
        fprintf(stderr, "dumpscan %s: out of memory\n", cmd->name);
        guard_plan_free(&plan);
        ds_fileid_set_free(&own);
        return DS_EXIT_INPUT;
    }
    bulk_collect_opts co = {.list_in = stdin, .null_sep = o->null_sep, .exclude = &own,
                            .include = o->include, .ninclude = o->ninclude};
    ds_err e = bulk_collect(in, args, nargs, &co, &eb);
    ds_fileid_set_free(&own);
    if (e != DS_OK) {
        fprintf(stderr, "dumpscan %s: %s\n", cmd->name, eb.msg[0] ? eb.msg : ds_strerror(e));
        guard_plan_free(&plan);
        return e == DS_ERR_ARG ? DS_EXIT_USAGE : DS_EXIT_INPUT;
    }
    if (o->shard_n)
        bulk_inputs_shard(in, o->shard_k, o->shard_n);
    char msg[512];
    int st = -1;
    if (guard_input_ids(in, ids) != DS_OK) {
        fprintf(stderr, "dumpscan %s: out of memory\n", cmd->name);
        st = DS_EXIT_INPUT;
    } else if (guard_check(&plan, in, ids, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "dumpscan %s: %s\n", cmd->name, msg);
        st = DS_EXIT_USAGE;
    }
    guard_plan_free(&plan);
    return st;
}

/* Step 3: state and writer.  Returns -1 to go on, else the exit status. */
static int open_outputs(run_ctx *rc, const ds_fileid_set *ids)
{
    const run_opts *o = rc->o;
    ds_errbuf eb = {{0}};
    /* The state first: a run refused for a busy state file must not
     * truncate the output the other run is writing. */
    if (o->state_path) {
        ds_err e = bulk_state_open(&rc->state, o->state_path, ids, &eb);
        if (e != DS_OK) {
            fprintf(stderr, "dumpscan %s: %s\n", rc->cmd->name, eb.msg);
            return e == DS_ERR_ARG ? DS_EXIT_USAGE : DS_EXIT_OUTPUT;
        }
    }
    ds_err e = o->fmt == DS_OUT_SQLITE
                   ? ds_writer_open_sqlite(&rc->w, o->output, rc->cmd->name, rc->cmd->primary,
                                           ids, &eb)
                   : ds_writer_open(&rc->w, o->fmt, o->output, rc->cmd->primary, ids, &eb);
    if (e != DS_OK) {
        fprintf(stderr, "dumpscan %s: %s\n", rc->cmd->name, eb.msg[0] ? eb.msg : ds_strerror(e));
        bulk_state_close(rc->state, NULL);
        rc->state = NULL;
        return e == DS_ERR_ARG ? DS_EXIT_USAGE : DS_EXIT_OUTPUT;
    }
    return -1;
}

/* Stream chunk size when several dumps are in flight is the command's
 * business (it knows whether it streams); the runner only runs them. */
static void run_dumps(run_ctx *rc, const bulk_inputs *in)
{
    const run_opts *o = rc->o;
    ds_errbuf eb = {{0}};
    ds_pool *pool = NULL;
    ds_err e = ds_pool_create(&pool, o->threads, 0, &eb);
    unsigned workers = pool ? ds_pool_threads(pool) : 1;
    unsigned jobs = o->jobs ? o->jobs : workers;
    if (e == DS_OK && !(rc->slots = calloc(jobs, sizeof(*rc->slots))))
        e = ds_fail(&eb, DS_ERR_NOMEM, "out of memory");
    if (e == DS_OK && !(rc->live = calloc(jobs, sizeof(*rc->live))))
        e = ds_fail(&eb, DS_ERR_NOMEM, "out of memory");
    for (unsigned i = 0; rc->slots && i < jobs; i++) {
        ds_rec_init(&rc->slots[i].rec);
        ds_sb_init(&rc->slots[i].text);
    }
    if (e == DS_OK)
        e = rc->cmd->start(rc->cmd->ctx, rc->w, pool, jobs, cli_stop_flag(), &eb);
    if (e == DS_OK) {
        bulk_ops ops = {.ctx = rc, .process = process_input, .write = write_job};
        bulk_cfg cfg = {.in = in, .jobs = jobs, .sort = o->sort,
                        .hold_max = run_env_limit("DUMPSCAN_HOLD_LIMIT", BULK_DEFAULT_HOLD_MAX),
                        .progress = pick_progress(o), .stop = cli_stop_flag(),
                        .live = rc->live,
                        .progress_ms = (unsigned)run_env_limit("DUMPSCAN_PROGRESS_MS", 0)};
        e = bulk_run(&cfg, &ops, &eb);
    }
    if (e != DS_OK) {
        fprintf(stderr, "dumpscan %s: %s\n", rc->cmd->name, eb.msg[0] ? eb.msg : ds_strerror(e));
        rc->input_failed = true;
    }
    ds_pool_destroy(pool);
    for (unsigned i = 0; rc->slots && i < jobs; i++) {
        ds_rec_free(&rc->slots[i].rec);
        ds_sb_free(&rc->slots[i].text);
    }
    free(rc->slots);
    rc->slots = NULL;
    free(rc->live);
    rc->live = NULL;
}

/* Step 5.  Returns the exit status. */
static int finish_run(run_ctx *rc, size_t total, uint64_t t0)
{
    const run_opts *o = rc->o;
    const char *name = rc->cmd->name;
    int sig = cli_stop_signal();
    bool interrupted = sig != 0;
    if (!rc->output_failed && !rc->state_failed && rc->cmd->epilogue &&
        rc->cmd->epilogue(rc->cmd->ctx) == DS_ERR_IO)
        rc->output_failed = true;
    if (!rc->output_failed && !rc->state_failed &&
        emit_summary(rc, total, now_ns() - t0, interrupted) == DS_ERR_IO)
        rc->output_failed = true;
    /* Output durable first, then the state that names it. */
    if (rc->state && !rc->output_failed && ds_writer_flush(rc->w, true) != DS_OK)
        rc->output_failed = true;
    ds_errbuf eb = {{0}};
    ds_err e = ds_writer_close(rc->w, &eb);
    rc->w = NULL;
    int st = DS_EXIT_OK;
    if (e != DS_OK || rc->output_failed) {
        fprintf(stderr, "dumpscan %s: %s\n", name, eb.msg[0] ? eb.msg : "output write failed");
        st = DS_EXIT_OUTPUT;
    }
    ds_errbuf seb = {{0}};
    if (bulk_state_close(rc->state, &seb) != DS_OK || rc->state_failed) {
        if (st == DS_EXIT_OK)
            fprintf(stderr, "dumpscan %s: %s\n", name,
                    seb.msg[0] ? seb.msg : "state file write failed");
        st = DS_EXIT_OUTPUT;
    }
    rc->state = NULL;
    if (interrupted) {
        uint64_t done = rc->n_ok + rc->n_failed + rc->n_skipped;
        fprintf(stderr, "dumpscan %s: interrupted: %" PRIu64 " of %zu dumps done%s\n", name,
                done, total,
                o->state_path ? "; run again with the same --state to resume" : "");
        return 128 + sig;
    }
    if (st == DS_EXIT_OK && rc->input_failed)
        st = DS_EXIT_INPUT;
    return st;
}

int run_main(const run_cmd *cmd, const run_opts *o, char **args, size_t nargs)
{
    uint64_t t0 = now_ns();
    bulk_inputs in = {0};
    ds_fileid_set ids = {0};
    cli_signals_install();
    int st = collect_and_guard(cmd, o, args, nargs, &in, &ids);
    run_ctx rc = {.cmd = cmd, .o = o, .in = &in};
    if (st < 0)
        st = open_outputs(&rc, &ids);
    if (st >= 0) {
        bulk_inputs_free(&in);
        ds_fileid_set_free(&ids);
        if (cmd->finish)
            cmd->finish(cmd->ctx);
        return st;
    }
    rc.stdout_tty = (!o->output || strcmp(o->output, "-") == 0) && isatty(STDOUT_FILENO);
    ds_rec_init(&rc.rec);
    ds_sb_init(&rc.text);
    rc.last_sync_ns = rc.last_flush_ns = now_ns();

    run_dumps(&rc, &in);

    st = finish_run(&rc, in.n, t0);
    ds_rec_free(&rc.rec);
    ds_sb_free(&rc.text);
    if (cmd->finish)
        cmd->finish(cmd->ctx);
    bulk_inputs_free(&in);
    ds_fileid_set_free(&ids);
    return st;
}
