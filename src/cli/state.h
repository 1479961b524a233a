/* state.h - the resumable state file of `dumpscan scan --state FILE`.
 *
 * The file remembers which dumps a run finished, so that a repeated or
 * interrupted run skips them.  It is a text file of append-only lines,
 * one per finished dump:
 *
 *     dsst1 <path_hash> <dump_id> <size> <mtime_ns> <check>\n
 *
 * path_hash, dump_id and check are 16 lower-case hex digits; size and
 * mtime_ns decimal.  path_hash is xxh3-64 of the dump's resolved path
 * (absolute, without "." / ".." / symlinks: outguard.h guard_resolve), so
 * `corpus/x`, `/abs/corpus/x` and `corpus//x` are one dump; dump_id the record field of that name (xxh3-64 of the first
 * 8 KiB and the size), mtime_ns the file's modification time; the four
 * together are the key, so a changed, replaced or renamed file is scanned
 * again, and identical copies at different paths are each scanned once.
 * check is xxh3-64 of the line's bytes before " <check>".
 *
 * Crash safety: a line is written with a single write(2) on an O_APPEND
 * descriptor, and only after the dump's records were written and flushed
 * to the output, so a run killed at any moment leaves a prefix of whole
 * lines plus at most one torn line.  Loading is tolerant: a line that does
 * not parse or whose check does not match (a torn or corrupt line) is
 * ignored and counted; a torn last line is first closed with a newline so
 * the next appended line stays whole.  fsync: bulk_state_sync() is called
 * by the scan at most once a second (after the output was fsync'ed) and
 * at the end of the run; see README "Bulk mode".
 *
 * Locking: the file is held with flock(LOCK_EX) while open; a second run
 * on the same state file is refused instead of racing the first.
 *
 * bulk_state_has() may be called from several threads at once; it only
 * reads the set loaded at open.  bulk_state_add() appends to the file (it
 * does not change that set) and must be called by one thread at a time. */
#ifndef DS_CLI_STATE_H
#define DS_CLI_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../io/fileid.h"
#include "../dserr.h"

typedef struct bulk_state bulk_state;

typedef struct bulk_state_key {
    uint64_t path_hash;
    uint64_t dump_id;
    uint64_t size;
    int64_t mtime_ns;
} bulk_state_key;

#define BULK_STATE_LINE_MAX 128 /* longest valid line, newline included */

/* Open (create if missing) and load path, take the lock.  DS_ERR_IO with
 * a sentence in eb when it cannot be opened, read or locked.  Refused
 * (DS_ERR_ARG) before anything is written to it: a file in `deny` (the
 * run's inputs, checked on the opened descriptor), anything but a
 * regular file, and a non-empty file with no valid state line that does
 * not begin like one (a dump or a document named by mistake). */
ds_err bulk_state_open(bulk_state **out, const char *path, const ds_fileid_set *deny,
                       ds_errbuf *eb);

/* Write any pending fsync and close.  NULL-safe.  DS_ERR_IO when a write
 * or the final fsync failed. */
ds_err bulk_state_close(bulk_state *s, ds_errbuf *eb);

/* True when the key was among the lines loaded at open. */
bool bulk_state_has(const bulk_state *s, const bulk_state_key *k);

/* Append the line of k (one write).  DS_ERR_IO when the write failed;
 * the failure is sticky. */
ds_err bulk_state_add(bulk_state *s, const bulk_state_key *k);

/* fsync the file.  DS_ERR_IO on failure (sticky). */
ds_err bulk_state_sync(bulk_state *s);

/* Lines loaded (valid) and ignored (torn or corrupt) at open. */
size_t bulk_state_loaded(const bulk_state *s);
size_t bulk_state_ignored(const bulk_state *s);

/* The line of k, newline included, into buf (BULK_STATE_LINE_MAX bytes);
 * returns its length.  Exposed for tests. */
size_t bulk_state_format(const bulk_state_key *k, char *buf);
/* Parse one line (without its newline); false when it is not a valid,
 * checksummed line.  Exposed for tests. */
bool bulk_state_parse(const char *line, size_t len, bulk_state_key *k);

#endif
