/* cmd_info.c - `dumpscan info [options] PATH...`: header facts of dumps.
 *
 * Each dump is opened with ds_dump_open (format detected by content) and
 * described by a `dump` record (plus triage records) or, with --format
 * table, a WinDbg-like text block; the record contents are built in
 * info_fmt.c.  Inputs, the output guard, --state, --shard, --sort,
 * signals, the `error` and `summary` records and the exit status come
 * from run.h, exactly as for `scan`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "usage.h"
#include "run.h"

static const char *const info_types[] = {"dump", "process", "thread", "driver", "error",
                                         "summary", NULL};

static void info_usage(FILE *f)
{
    fputs("usage: dumpscan info [options] PATH...\n"
          "\n"
          "Print the header facts of each Windows kernel dump or memory image:\n"
          "format, build, bug check, kernel addresses, uptime, page counts, profile;\n"
          "for triage minidumps also the crashing process, its thread and the\n"
          "loaded drivers.  PATH is a dump, a directory (every regular file below\n"
          "it, sorted by path), or '-' (a list of paths on standard input).\n"
          "\n"
          "  -f, --format FMT   ndjson (default; jsonl), csv, table (WinDbg-like text)\n"
          "                     or sqlite (-o results.sqlite; the default for -o\n"
          "                     *.sqlite, *.sqlite3, *.db)\n"
          "  -o, --output PATH  write to PATH instead of stdout; an existing directory\n"
          "                     or a path ending in '/' gets one file per record type\n"
          "  -j, --threads N    worker threads (default: the CPUs this process may use)\n"
          "      --jobs N       dumps in flight at once (default: the worker count)\n"
          "      --sort         write dumps in input order (the default for info)\n"
          "      --no-sort      write dumps as they finish\n"
          "      --state FILE   remember finished dumps in FILE and skip them when run\n"
          "                     again\n"
          "      --shard K/N    only share K of N of the inputs (by a hash of the path)\n"
          "      --null         the list read from '-' is NUL separated\n"
          "      --profile KEY  use this offsets.json build key instead of choosing by build\n"
          "      --no-timing    timing fields null\n"
          "      --progress     progress on stderr even when it is not a terminal\n"
          "  -q, --quiet        no progress\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 every dump opened, 1 at least one failed (see its error\n"
          "record), 2 usage error (also: an output is one of the inputs), 3 output\n"
          "could not be written, 130/143/129 stopped by SIGINT/SIGTERM/SIGHUP.\n",
          f);
}

enum { INFO_O_NOSORT = 256 };

static int info_option(void *ctx, int c, const char *arg)
{
    (void)arg;
    if (c != INFO_O_NOSORT)
        return RUN_OPT_UNKNOWN;
    ((run_opts *)ctx)->sort = false;
    return RUN_OPT_TAKEN;
}

/* Parse options; returns -1 to go on, else an exit status. */
static int parse_info_args(int argc, char **argv, run_opts *o)
{
    static const struct option longopts[] = {
        RUN_LONGOPTS,
        {"no-sort", no_argument, NULL, INFO_O_NOSORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    return run_parse_args("info", argc, argv, longopts, o, info_usage, info_option, o);
}

typedef struct info_run {
    const run_opts *o;
    ds_writer *w;
} info_run;

static ds_err info_start(void *ctx, ds_writer *w, ds_pool *pool, unsigned jobs,
                         const atomic_bool *cancel, ds_errbuf *eb)
{
    (void)pool;
    (void)jobs;
    (void)cancel;
    (void)eb;
    ((info_run *)ctx)->w = w;
    return DS_OK;
}

/* Open one dump and encode what info says about it into a batch. */
static void info_process(void *ctx, unsigned slot, const run_input *in, run_out *out)
{
    (void)slot;
    info_run *ir = ctx;
    ds_dump_opts dopts = run_dump_opts(in, ir->o->profile);
    ds_errbuf eb = {{0}};
    ds_dump *d = NULL;
    ds_err e = ds_dump_open(&d, in->path, &dopts, &eb);
    if (e != DS_OK) {
        out->err = e;
        snprintf(out->msg, sizeof(out->msg), "%s", eb.msg);
        return;
    }
    ds_batch *b = ds_batch_new();
    if (!b) {
        ds_dump_close(d);
        out->err = DS_ERR_NOMEM;
        return;
    }
    if (ir->o->fmt == DS_OUT_TABLE) {
        ds_sb_clear(in->text);
        ds_info_table(in->text, in->path, d);
        e = in->text->failed ? DS_ERR_NOMEM : ds_batch_text(b, ir->w, in->text->p, in->text->len);
    } else {
        e = ds_info_records(ir->w, in->rec, b, in->path, in->dump_id, d);
    }
    ds_dump_close(d);
    if (e != DS_OK) {
        ds_batch_free(b);
        out->err = e;
        snprintf(out->msg, sizeof(out->msg), "cannot encode the records: %s", ds_strerror(e));
        return;
    }
    out->payload = b;
    out->held_bytes = ds_batch_bytes(b);
}

static ds_err info_write(void *ctx, const run_input *in, void *payload)
{
    (void)in;
    info_run *ir = ctx;
    return ds_writer_write_batch(ir->w, payload);
}

static void info_free_payload(void *ctx, void *payload)
{
    (void)ctx;
    ds_batch_free(payload);
}

int cmd_info(int argc, char **argv)
{
    run_opts o;
    run_opts_default(&o);
    o.sort = true; /* headers are cheap: input order costs nothing */
    int st = parse_info_args(argc, argv, &o);
    if (st >= 0)
        return st;
    info_run ir = {.o = &o};
    run_cmd cmd = {
        .name = "info",
        .primary = "dump",
        .types = info_types,
        .ctx = &ir,
        .start = info_start,
        .process = info_process,
        .write = info_write,
        .free_payload = info_free_payload,
    };
    return run_main(&cmd, &o, argv + optind, (size_t)(argc - optind));
}
