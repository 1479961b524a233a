/* sqlite_none.c - the SQLite sink in a build without libsqlite3: every
 * open says so (see sqlite.h). */
#include "sqlite.h"

#include <string.h>

ds_err ds_sqlite_open(ds_sqlite **out, const char *path, const char *command,
                      const ds_fileid_set *deny, ds_errbuf *eb)
{
    (void)path, (void)command, (void)deny;
    *out = NULL;
    return ds_fail(eb, DS_ERR_UNSUPPORTED, "this dumpscan was built without SQLite "
                   "(install libsqlite3-dev and rebuild)");
}

ds_err ds_sqlite_put(ds_sqlite *s, const char *type, const char *json, size_t len)
{
    (void)s, (void)type, (void)json, (void)len;
    return DS_ERR_UNSUPPORTED;
}

ds_err ds_sqlite_flush(ds_sqlite *s, bool sync)
{
    (void)s, (void)sync;
    return DS_ERR_UNSUPPORTED;
}

ds_err ds_sqlite_close(ds_sqlite *s, ds_errbuf *eb)
{
    (void)s, (void)eb;
    return DS_OK;
}
