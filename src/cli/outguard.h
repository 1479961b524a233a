/* outguard.h - never write an input.
 *
 * Before a command opens anything for writing it lists every file it may
 * write (the -o file, or DIR/<type>.<ext> for each record type it can
 * produce in directory mode, the --state file, and standard output when
 * it is a regular file) and compares each with every input, however the
 * input was reached (argument, directory walk, "-" list):
 *   - an existing file: by device and inode (so `a/./b.dmp`, `/abs/a/b.dmp`,
 *     links and symlinks all match);
 *   - a file that does not exist yet: by resolved path against inputs that
 *     did not exist either (`-o new.ndjson new.ndjson`).
 * A match is a usage error (exit 2) before a byte is written or a folder
 * created.  The writer and the state file repeat the identity check on
 * the descriptor they open (output/writer.h, state.h), which closes the
 * race with a file created in between.
 *
 * Earlier output of dumpscan itself (NDJSON, CSV or table text, a state
 * file) at one of those paths is left out of directory walks, so a rerun
 * with -o inside the walked folder does not read its own last output;
 * any other file there (a dump) stays an input, and the run is refused. */
#ifndef DS_CLI_OUTGUARD_H
#define DS_CLI_OUTGUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "../../io/fileid.h"
#include "../../output/writer.h"
#include "bulk.h"

typedef struct guard_plan {
    char **paths;       /* files the run may write */
    size_t n;
    bool stdout_used;   /* records go to standard output */
} guard_plan;

/* Files written for -o `output` (NULL or "-": none) in format fmt by a
 * command producing record types `types` (NULL-terminated), plus the
 * state file (NULL: none).  DS_ERR_NOMEM. */
ds_err guard_plan_make(guard_plan *g, ds_outfmt fmt, const char *output,
                       const char *const *types, const char *state_path);
void guard_plan_free(guard_plan *g);

/* Add to `own` the identities of planned files that hold dumpscan's own
 * earlier output, to leave them out of directory walks. */
ds_err guard_own_outputs(const guard_plan *g, ds_fileid_set *own);

/* The identities of the inputs (those that existed when listed). */
ds_err guard_input_ids(const bulk_inputs *in, ds_fileid_set *ids);

/* 0 when no planned file (nor standard output, when it is a regular
 * file) is an input; else -1 with the offending path in msg. */
int guard_check(const guard_plan *g, const bulk_inputs *in, const ds_fileid_set *ids,
                char *msg, size_t cap);

/* path made absolute and free of ".", ".." and symlinks (realpath of the
 * file, or of its folder plus the last name when it does not exist); a
 * copy of path when neither resolves.  malloc'ed; NULL out of memory. */
char *guard_resolve(const char *path);

#endif
