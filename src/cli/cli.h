/* cli.h - pieces shared by the dumpscan command-line front end.
 *
 * main.c dispatches `dumpscan <command> ...` to a cmd_* function, which
 * parses its own options and returns the process exit status.  The exit
 * codes are part of the documented interface (README.md, docs/output.md). */
#ifndef DS_CLI_H
#define DS_CLI_H

#include "../../output/strbuf.h"
#include "../../output/writer.h"
#include "../dump.h"

/* "1 thread", "2 threads": the word for n, for the text output. */
static inline const char *cli_plural(uint64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

enum ds_exit {
    DS_EXIT_OK = 0,        /* every input was processed */
    DS_EXIT_INPUT = 1,     /* at least one input failed (an error record says why) */
    DS_EXIT_USAGE = 2,     /* bad command line, or an output that is an input */
    DS_EXIT_OUTPUT = 3,    /* the output could not be opened or written */
    /* 128 + N: stopped by signal N (run.h) */
};

/* `dumpscan info`: header facts of each dump. */
int cmd_info(int argc, char **argv);

/* `dumpscan scan`: processes and threads, with cross-view verdicts. */
int cmd_scan(int argc, char **argv);

/* `dumpscan analyze`: crash analysis and buckets. */
int cmd_analyze(int argc, char **argv);

/* Record and table builders for `info` (info_fmt.c); separate from
 * cmd_info.c so tests can feed them a hand-made ds_dump. */

/* The records of one opened dump: a `dump` record and, for triage dumps,
 * `process`, `thread` and `driver` records, each starting with the dump's
 * path as listed and its dump_id.  Into batch b, or written at once when
 * b is NULL.  Returns the first writer error. */
ds_err ds_info_records(ds_writer *w, ds_rec *r, ds_batch *b, const char *path, const char *id,
                       const ds_dump *d);

/* WinDbg-like text block for one dump (ends with a blank line). */
void ds_info_table(ds_strbuf *sb, const char *path, const ds_dump *d);

/* Helpers of the table text, exposed for tests. */
const char *ds_windows_name(uint32_t build);          /* "Windows 10", ... */
const char *ds_product_type_name(uint32_t product);   /* "WinNt", ... or NULL */
void ds_suite_mask_names(ds_strbuf *sb, uint32_t mask); /* "TerminalServer SingleUserTS" */
void ds_windbg_addr(ds_strbuf *sb, uint64_t va, bool is64); /* 0xfffff804`4a203000 */

#endif
