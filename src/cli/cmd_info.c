/* cmd_info.c - `dumpscan info [options] PATH...`: header facts of dumps.
 *
 * Each PATH is opened with ds_dump_open (format detected by content).  A
 * dump that opens gives a `dump` record (plus triage records) or, with
 * --format table, a WinDbg-like text block; one that does not gives an
 * `error` record and the run goes on with the next PATH.  Exit status:
 * 0 all opened, 1 some failed, 2 usage, 3 output write failure (wins over
 * 1).  The record contents are built in info_fmt.c. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void info_usage(FILE *f)
{
    fputs("usage: dumpscan info [--format ndjson|csv|table] [-o FILE|DIR/] [--profile KEY] PATH...\n"
          "\n"
          "Print the header facts of each Windows kernel dump or memory image.\n"
          "\n"
          "  -f, --format FMT   ndjson (default), csv or table\n"
          "  -o, --output PATH  write to PATH instead of stdout; an existing directory\n"
          "                     or a path ending in '/' gets one file per record type\n"
          "      --profile KEY  use this offsets.json build key instead of choosing by build\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 every dump opened, 1 at least one failed (see its error\n"
          "record), 2 usage error, 3 output could not be written.\n",
          f);
}

/* True when a and b name the same existing file: writing the output
 * must never truncate an input. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino && !S_ISDIR(sa.st_mode);
}

typedef struct info_opts {
    ds_outfmt fmt;
    const char *output;
    const char *profile;
} info_opts;

/* Parse options; returns -1 to go on, else an exit status. */
static int parse_info_args(int argc, char **argv, info_opts *o)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    optind = 1;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (!ds_outfmt_parse(optarg, &o->fmt)) {
                fprintf(stderr, "dumpscan info: unknown format '%s' (ndjson, csv, table)\n", optarg);
                return DS_EXIT_USAGE;
            }
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'p':
            o->profile = optarg;
            break;
        case 'h':
            info_usage(stdout);
            return DS_EXIT_OK;
        default:
            info_usage(stderr);
            return DS_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fputs("dumpscan info: no input file\n", stderr);
        info_usage(stderr);
        return DS_EXIT_USAGE;
    }
    if (o->profile && !ds_profile_by_key(o->profile)) {
        fprintf(stderr, "dumpscan info: unknown profile '%s'\n", o->profile);
        return DS_EXIT_USAGE;
    }
    for (int i = optind; o->output && i < argc; i++) {
        if (same_file(o->output, argv[i])) {
            fprintf(stderr, "dumpscan info: output %s is also an input\n", o->output);
            return DS_EXIT_USAGE;
        }
    }
    return -1;
}

/* Open one dump and emit what info says about it.  *input_failed is set
 * when the dump could not be opened; the return value is a writer error. */
static ds_err info_one(ds_writer *w, ds_rec *r, ds_strbuf *text, const char *path,
                       const info_opts *o, bool *input_failed)
{
    ds_dump_opts dopts = {.file_flags = 0, .force_profile = o->profile};
    ds_errbuf eb = {{0}};
    ds_dump *d = NULL;
    ds_err e = ds_dump_open(&d, path, &dopts, &eb);

    if (e != DS_OK) {
        *input_failed = true;
        return ds_info_error(w, r, path, e, &eb);
    }
    if (o->fmt == DS_OUT_TABLE) {
        ds_sb_clear(text);
        ds_info_table(text, path, d);
        e = text->failed ? DS_ERR_NOMEM : ds_writer_text(w, text->p, text->len);
    } else {
        e = ds_info_records(w, r, path, d);
    }
    ds_dump_close(d);
    return e;
}

int cmd_info(int argc, char **argv)
{
    info_opts o = {.fmt = DS_OUT_NDJSON, .output = NULL, .profile = NULL};
    int st = parse_info_args(argc, argv, &o);
    if (st >= 0)
        return st;

    ds_errbuf eb = {{0}};
    ds_writer *w = NULL;
    ds_err e = ds_writer_open(&w, o.fmt, o.output, "dump", &eb);
    if (e != DS_OK) {
        fprintf(stderr, "dumpscan info: %s\n", eb.msg[0] ? eb.msg : ds_strerror(e));
        return e == DS_ERR_ARG ? DS_EXIT_USAGE : DS_EXIT_OUTPUT;
    }

    ds_rec r;
    ds_strbuf text;
    bool input_failed = false, output_failed = false;
    ds_rec_init(&r);
    ds_sb_init(&text);
    for (int i = optind; i < argc && !output_failed; i++) {
        e = info_one(w, &r, &text, argv[i], &o, &input_failed);
        if (e == DS_ERR_IO) {
            output_failed = true;
        } else if (e != DS_OK) {
            /* a record the writer refused: a bug here, not in the input */
            fprintf(stderr, "dumpscan info: %s: cannot write record: %s\n", argv[i],
                    ds_strerror(e));
            input_failed = true;
        }
    }
    ds_rec_free(&r);
    ds_sb_free(&text);

    e = ds_writer_close(w, &eb);
    if (e != DS_OK || output_failed) {
        fprintf(stderr, "dumpscan info: %s\n", eb.msg[0] ? eb.msg : "output write failed");
        return DS_EXIT_OUTPUT;
    }
    return input_failed ? DS_EXIT_INPUT : DS_EXIT_OK;
}
