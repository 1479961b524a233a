/* fileid.h - the identity of a file (device and inode), and sets of them.
 *
 * Paths lie: `a/b.dmp`, `a/./b.dmp`, `/abs/a/b.dmp`, a symlink and a hard
 * link all name one file.  The CLI keeps the identity of every input it
 * will read in a ds_fileid_set, and every file it opens for writing
 * (outputs, per-type output files, the state file) is checked against
 * that set on the opened descriptor itself, before a byte is written, so
 * that no spelling of a path can make dumpscan write into an input.
 *
 * A set is a sorted array searched by bisection; building it is O(n log n)
 * once per run, lookups are O(log n) and thread-safe (read-only). */
#ifndef DS_IO_FILEID_H
#define DS_IO_FILEID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../src/dserr.h"

typedef struct ds_fileid {
    uint64_t dev;
    uint64_t ino;
} ds_fileid;

typedef struct ds_fileid_set {
    ds_fileid *v;
    size_t n, cap;
    bool sorted;
} ds_fileid_set;

/* Identity of the file at path (stat follows symlinks); false when it
 * does not exist or cannot be stat'ed. */
bool ds_fileid_of_path(const char *path, ds_fileid *out);
/* Identity of an open descriptor. */
bool ds_fileid_of_fd(int fd, ds_fileid *out);

/* Add an identity (DS_ERR_NOMEM when the set cannot grow). */
ds_err ds_fileid_set_add(ds_fileid_set *s, ds_fileid id);
/* Sort and de-duplicate; call after the last add, before lookups. */
void ds_fileid_set_seal(ds_fileid_set *s);
/* True when id is in the (sealed) set.  NULL-safe. */
bool ds_fileid_set_has(const ds_fileid_set *s, ds_fileid id);
void ds_fileid_set_free(ds_fileid_set *s);

#endif
