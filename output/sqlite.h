/* sqlite.h - the SQLite sink of the record writer (--format sqlite).
 *
 * One table per record type with typed columns (sqlschema.h: integers and
 * booleans INTEGER, hex addresses INTEGER, decimals REAL, times and text
 * TEXT, arrays TEXT holding their JSON), indexes on dump_id, pid, tid,
 * bucket_id, a `dumps` view, a `runs` table (one row per run: every
 * record row carries its run_id) and a `meta` table with the schema
 * version and the command.  Opening an existing database of the same
 * schema version and command appends a run; anything else is refused
 * and the file is left untouched.  Records arrive as the writer's NDJSON
 * lines and are inserted inside one transaction that ds_sqlite_flush
 * commits (the writer flushes after each dump or ~10 times a second). */
#ifndef DS_OUTPUT_SQLITE_H
#define DS_OUTPUT_SQLITE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "../io/fileid.h"
#include "../src/dserr.h"

typedef struct ds_sqlite ds_sqlite;

/* Open (create) path for the records of `command` ("info", "scan",
 * "analyze").  DS_ERR_ARG when path is one of deny (an input), is not a
 * database, or holds another schema version or command; DS_ERR_IO when
 * it cannot be opened or written; DS_ERR_UNSUPPORTED in a build without
 * SQLite. */
ds_err ds_sqlite_open(ds_sqlite **out, const char *path, const char *command,
                      const ds_fileid_set *deny, ds_errbuf *eb);

/* Insert one record: its type and its NDJSON text (one object). */
ds_err ds_sqlite_put(ds_sqlite *s, const char *type, const char *json, size_t len);

/* Commit what was inserted (sync: also checkpoint the WAL into the
 * database file, so it survives a power loss) and start a new
 * transaction. */
ds_err ds_sqlite_flush(ds_sqlite *s, bool sync);

/* Commit and close.  DS_ERR_IO with a sentence when anything failed. */
ds_err ds_sqlite_close(ds_sqlite *s, ds_errbuf *eb);

/* True when path names a database by its suffix (.sqlite, .sqlite3, .db). */
static inline bool ds_sqlite_path(const char *path)
{
    static const char *const ext[] = {".sqlite", ".sqlite3", ".db"};
    size_t n = path ? strlen(path) : 0;
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        size_t e = strlen(ext[i]);
        if (n > e && strcmp(path + n - e, ext[i]) == 0)
            return true;
    }
    return false;
}

#endif
