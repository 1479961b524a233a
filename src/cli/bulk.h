/* bulk.h - many dumps in one run: input enumeration, sharding, and the
 * scheduler that keeps several dumps in flight and orders their output.
 *
 * Inputs (bulk_collect): each command-line argument is
 *   - a directory: every regular file below it, recursively, sorted by
 *     path (byte order); symbolic links are followed, but a directory
 *     already visited (same device and inode: a symlink loop or a second
 *     link to it) is skipped; other file kinds are skipped;
 *   - "-": a list of paths read from a stream (stdin), newline or NUL
 *     separated, each taken like a command-line argument;
 *   - anything else: one input as given (a missing file is an input too:
 *     it gets an error record).
 * Files listed in `exclude` (the run's own earlier output and state
 * files) are left out of directory walks.  Every input that exists when
 * listed carries its identity (device, inode) for the output guard.  A directory that cannot be read becomes
 * an input with walk_errno set, so it gets an error record in its place.
 *
 * Sharding (bulk_shard_*): input i is kept by shard K of N when
 * xxh3-64(path string) mod N == K-1, so N machines given the same list
 * (same path strings) split it without talking to each other.
 *
 * Scheduling (bulk_run): `jobs` driver threads (dump slots) each take the
 * next input from a shared cursor and call ops->process on it (open, scan
 * with the shared worker pool, format).  These threads are not pool
 * workers, so ds_scan may wait on its pool group from them.  Each result
 * is handed to the output stage, which calls ops->write under one output
 * lock: at once, or with `sort` in input order.  Sorted results that
 * finish early are held back; when the bytes held would pass hold_max,
 * the slot that is ahead blocks until its turn (or until room frees), so
 * memory stays bounded whatever the input count.  At most `jobs` inputs
 * are open at any time.
 *
 * Progress: with progress on, a thread prints "done/total dumps, bytes,
 * GB/s, ETA" to stderr at most 5 times a second (terminal: one line
 * rewritten in place) or once a second (not a terminal: one line each). */
#ifndef DS_CLI_BULK_H
#define DS_CLI_BULK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "../../io/fileid.h"
#include "../dserr.h"

/* ---- inputs --------------------------------------------------------------- */

typedef struct bulk_input {
    char *path;
    uint64_t size;     /* st_size seen when listed; 0 when unknown */
    int walk_errno;    /* non-zero: a directory below an argument that could
                          not be read (the input is that directory) */
    bool has_id;       /* id is known (the path existed when listed) */
    ds_fileid id;      /* device and inode seen when listed */
} bulk_input;

typedef struct bulk_inputs {
    bulk_input *v;
    size_t n, cap;
} bulk_inputs;

typedef struct bulk_collect_opts {
    FILE *list_in;              /* where "-" reads its list (stdin) */
    bool null_sep;              /* the list is NUL separated, not newline */
    const ds_fileid_set *exclude; /* left out of directory walks (NULL: none) */
    const char *const *include;   /* directory walks keep only file names that
                                   * match one of these globs (none: all) */
    size_t ninclude;
} bulk_collect_opts;

#define BULK_MAX_INPUTS ((size_t)1 << 30)

/* Append the inputs named by args[0..nargs) to *out (zero it first).
 * DS_ERR_NOMEM, DS_ERR_IO when the list stream cannot be read, or
 * DS_ERR_ARG when the list is binary (a dump piped in by mistake: an entry
 * with control bytes, or longer than PATH_MAX). */
ds_err bulk_collect(bulk_inputs *out, char *const *args, size_t nargs,
                    const bulk_collect_opts *o, ds_errbuf *eb);
void bulk_inputs_free(bulk_inputs *in);

/* "K/N" with 1 <= K <= N <= 1000000; false when malformed. */
bool bulk_shard_parse(const char *s, unsigned *k, unsigned *n);
/* True when path belongs to shard k of n. */
bool bulk_shard_keep(const char *path, unsigned k, unsigned n);
/* Keep only shard k of n, in order. */
void bulk_inputs_shard(bulk_inputs *in, unsigned k, unsigned n);

/* ---- scheduling ------------------------------------------------------------- */

typedef enum bulk_outcome {
    BULK_OK = 0,
    BULK_FAILED,
    BULK_SKIPPED,
    BULK_CANCELLED,       /* stopped by a signal: nothing written for it */
} bulk_outcome;

/* What ops->process made of one input. */
typedef struct bulk_result {
    void *payload;        /* handed to ops->write */
    size_t held_bytes;    /* memory the payload holds while held back */
    bulk_outcome outcome;
    uint64_t bytes_scanned;
    bool touches_terminal; /* writing it prints on the progress terminal */
} bulk_result;

typedef struct bulk_ops {
    void *ctx;
    /* Runs on driver thread `slot` (0..jobs-1) for input `index`. */
    bulk_result (*process)(void *ctx, unsigned slot, size_t index);
    /* Runs under the output lock, one call at a time, in input order when
     * sorted; must free the payload.  Returns false to stop the run (the
     * output failed): no further inputs are started, and the payloads
     * still to come are passed to write as usual (to be freed). */
    bool (*write)(void *ctx, size_t index, void *payload);
} bulk_ops;

typedef struct bulk_cfg {
    const bulk_inputs *in;
    unsigned jobs;        /* driver threads, >= 1 */
    bool sort;            /* write in input order */
    size_t hold_max;      /* bytes of sorted results held back, at most */
    int progress;         /* 0 off, 1 terminal line, 2 plain lines */
    const atomic_bool *stop; /* when set, no further input is started (NULL: never) */
    unsigned progress_ms;    /* progress line period; 0: 200 ms on a terminal, 1 s else */
    _Atomic uint64_t *live;  /* jobs counters: bytes read of the dump each slot
                              * has in flight (NULL: none); the progress line
                              * counts them, deliver resets a slot's */
} bulk_cfg;

#define BULK_DEFAULT_HOLD_MAX ((size_t)256 << 20)

/* Process every input as above; returns once all were started inputs
 * were written (all inputs, unless cfg->stop was raised).
 * DS_ERR_NOMEM / DS_ERR_IO when a thread cannot be started (nothing was
 * processed then beyond what the returned counts say). */
ds_err bulk_run(const bulk_cfg *cfg, const bulk_ops *ops, ds_errbuf *eb);

#endif
