/* run.h - the frame every dump-reading command (info, scan, analyze) runs in.
 *
 * A command describes what it does to one dump (run_cmd: process it on a
 * dump slot, write its records under the output lock, add summary
 * fields); run_main() does everything else, the same way for all of
 * them:
 *   1. list the inputs (files, directories walked, "-" lists; bulk.h),
 *      keep a --shard;
 *   2. check every file the run may write against every input by
 *      identity (outguard.h) and refuse with exit 2 before anything is
 *      created or written;
 *   3. open the --state file and the writer (which re-check the opened
 *      descriptors), catch SIGINT/SIGTERM/SIGHUP (sig.h);
 *   4. run the dumps with `--jobs` slots over one worker pool (bulk.h):
 *      per dump the identity (dump_id, state key from the resolved path),
 *      the --state skip, the command's process(); an `error` record for a
 *      dump that failed; after each dump's records, flush and the state
 *      line;
 *   5. write the `summary` record (table: a line), flush, close, and
 *      return the exit status.
 *
 * Exit status: 0 every dump done (or skipped), 1 at least one failed,
 * 2 usage (also: an output is an input), 3 output or state not writable
 * (wins over 1), 128+N after signal N (130 SIGINT, 143 SIGTERM, 129
 * SIGHUP; wins over all). */
#ifndef DS_CLI_RUN_H
#define DS_CLI_RUN_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "../../io/pool.h"
#include "../../output/writer.h"
#include <stdatomic.h>

#include "../dserr.h"
#include "../dump.h"

/* Options every command shares (parsed by run_parse_opt). */
typedef struct run_opts {
    ds_outfmt fmt;
    bool fmt_set;              /* -f given (else -o *.sqlite picks sqlite) */
    const char *output;        /* -o, NULL = stdout */
    const char *state_path;    /* --state */
    const char *profile;       /* --profile KEY */
    unsigned threads;          /* -j: worker threads, 0 = CPUs we may use */
    unsigned jobs;             /* --jobs: dumps in flight, 0 = workers */
    bool sort;                 /* --sort */
    bool null_sep;             /* --null */
    bool no_timing;            /* --no-timing */
    int progress;              /* -1 auto (terminal), 0 off, 1 on */
    unsigned shard_k, shard_n; /* --shard K/N; 0/0 = all */
#define RUN_MAX_INCLUDE 32
    const char *include[RUN_MAX_INCLUDE]; /* --include GLOB (directory walks) */
    size_t ninclude;
} run_opts;

void run_opts_default(run_opts *o);

/* getopt_long codes of the shared options (short ones: f o j q). */
enum {
    RUN_O_JOBS = 0x1000,
    RUN_O_SORT,
    RUN_O_STATE,
    RUN_O_SHARD,
    RUN_O_NULL,
    RUN_O_PROFILE,
    RUN_O_PROGRESS,
    RUN_O_NOTIMING,
    RUN_O_INCLUDE,
};

/* The shared long options, for a command's getopt_long table. */
#define RUN_LONGOPTS                                              \
    {"format", required_argument, NULL, 'f'},                     \
    {"output", required_argument, NULL, 'o'},                     \
    {"threads", required_argument, NULL, 'j'},                    \
    {"jobs", required_argument, NULL, RUN_O_JOBS},                \
    {"sort", no_argument, NULL, RUN_O_SORT},                      \
    {"state", required_argument, NULL, RUN_O_STATE},              \
    {"shard", required_argument, NULL, RUN_O_SHARD},              \
    {"null", no_argument, NULL, RUN_O_NULL},                      \
    {"profile", required_argument, NULL, RUN_O_PROFILE},          \
    {"progress", no_argument, NULL, RUN_O_PROGRESS},              \
    {"no-timing", no_argument, NULL, RUN_O_NOTIMING},             \
    {"include", required_argument, NULL, RUN_O_INCLUDE},          \
    {"quiet", no_argument, NULL, 'q'}
#define RUN_SHORTOPTS ":f:o:j:q" /* leading colon: cli_bad_option prints */

/* Handle getopt result c with argument arg: 1 handled, 0 not a shared
 * option, -1 invalid value (a one-line message naming the option was
 * printed to stderr, prefixed "dumpscan CMD: "), 2 done: exit 0 now
 * (`--profile list` printed the profiles). */
int run_parse_opt(run_opts *o, const char *cmd, int c, const char *arg);

/* The option loop of every command: getopt_long over longopts (which
 * start with RUN_LONGOPTS and hold --help as 'h'), the shared options, a
 * bad option named with its nearest spelling, --help (usage to stdout),
 * and "no input file".  The command's own options go to own(ctx, c, arg)
 * (NULL: it has none), which returns RUN_OPT_TAKEN, RUN_OPT_UNKNOWN (not
 * its option: usage on stderr, exit 2), or an exit status to leave with
 * (after printing why).  Returns -1 to go on with argv + optind, else the
 * exit status. */
#define RUN_OPT_TAKEN (-1)
#define RUN_OPT_UNKNOWN (-2)
int run_parse_args(const char *cmd, int argc, char **argv, const struct option *longopts,
                   run_opts *o, void (*usage)(FILE *), int (*own)(void *ctx, int c, const char *arg),
                   void *ctx);

/* "dumpscan CMD: OPT: 'ARG' WANT" on stderr (an option value refused);
 * returns the usage exit status. */
int run_bad_value(const char *cmd, const char *opt, const char *arg, const char *want);

/* One input as a command sees it. */
typedef struct run_input {
    const char *path;          /* as listed */
    const char *dump_id;       /* 16 hex digits */
    size_t index;              /* position in the input list */
    ds_rec *rec;               /* process(): the dump slot's record scratch */
    ds_strbuf *text;           /* process(): the dump slot's text scratch */
    _Atomic uint64_t *progress; /* bytes of this dump read so far: a command
                                 * that streams a dump adds to it per chunk,
                                 * so progress moves inside a large dump */
    int fd;                    /* the dump, open since its dump_id was read,
                                * or -1: commands open it through this
                                * (run_dump_opts), so the dump read is the
                                * one identified; run.c closes it */
} run_input;

/* ds_dump_opts for opening in's dump: its open descriptor when it has
 * one, the given profile key. */
ds_dump_opts run_dump_opts(const run_input *in, const char *force_profile);

/* What process() leaves for one dump. */
typedef struct run_out {
    ds_err err;                /* DS_OK, DS_ERR_CANCELLED (a signal: nothing
                                  written), or the failure of the dump */
    char msg[256];             /* the failure's sentence */
    void *payload;             /* handed to write() / free_payload() */
    size_t held_bytes;         /* memory the payload holds */
    uint64_t bytes_scanned;
} run_out;

typedef struct run_cmd {
    const char *name;                  /* "scan": messages, "dumpscan scan: ..." */
    const char *primary;               /* record type of csv-to-one-file and table */
    const char *const *types;          /* every record type written, NULL-terminated */
    void *ctx;
    /* Once, after the writer and the pool exist and before any dump. */
    ds_err (*start)(void *ctx, ds_writer *w, ds_pool *pool, unsigned jobs,
                    const atomic_bool *cancel, ds_errbuf *eb);
    /* One dump, on dump slot `slot` (0..jobs-1), concurrently with others. */
    void (*process)(void *ctx, unsigned slot, const run_input *in, run_out *out);
    /* Under the output lock, in output order: write the payload's records
     * and count it for the summary.  DS_ERR_IO: the output failed. */
    ds_err (*write)(void *ctx, const run_input *in, void *payload);
    /* Free a payload (written or not).  NULL-safe payload. */
    void (*free_payload)(void *ctx, void *payload);
    /* After the last dump, before the summary: records that sum up the
     * run (analyze's buckets).  May be NULL.  DS_ERR_IO: output failed. */
    ds_err (*epilogue)(void *ctx);
    /* Summary: the command's fields, between the dump counts and
     * bytes_scanned; text for --format table.  Either may be NULL. */
    void (*summary_fields)(void *ctx, ds_rec *r);
    void (*summary_text)(void *ctx, ds_strbuf *sb);
    /* After the run (pool gone). */
    void (*finish)(void *ctx);
} run_cmd;

/* Environment override of a size limit (tests reach rare paths with small
 * inputs): the decimal value of variable `name`, else dflt. */
size_t run_env_limit(const char *name, size_t dflt);

/* Run cmd over args[0..nargs) (nargs >= 1); returns the exit status. */
int run_main(const run_cmd *cmd, const run_opts *o, char **args, size_t nargs);

#endif
