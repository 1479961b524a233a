/* sqlite.c - the SQLite sink of the record writer (see sqlite.h).
 *
 * The writer encodes every record as one NDJSON object; this file parses
 * that object back (a flat object whose values are strings, numbers,
 * true/false/null, or arrays kept as their JSON text) and binds each value
 * by the column kind the generated schema gives (sqlschema_gen.c), so a
 * process name that happens to read "0x10" stays text while an address
 * becomes an integer.  Prepared INSERTs are cached per record type. */
#include "sqlite.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ds_version.h"
#include "sqlschema.h"
#include "strbuf.h"

#define MAX_TYPES 16
#define MAX_COLS 96

typedef struct stmt_slot {
    char type[64];
    const ds_sql_table *table;
    sqlite3_stmt *st;
    unsigned nfields;
    const ds_sql_col *col[MAX_COLS]; /* per field of the record, in order */
} stmt_slot;

struct ds_sqlite {
    sqlite3 *db;
    const char *command;
    int64_t run_id;
    bool in_tx, failed;
    char msg[256];
    stmt_slot slots[MAX_TYPES];
    unsigned nslots;
    ds_strbuf text; /* scratch: one decoded string */
};

static ds_err fail(ds_sqlite *s, ds_err e, const char *what)
{
    if (!s->failed)
        snprintf(s->msg, sizeof(s->msg), "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : "");
    s->failed = true;
    return e;
}

static bool exec(ds_sqlite *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

/* ---- opening -------------------------------------------------------------- */

/* One text value of the meta table, or NULL. */
static char *meta_get(ds_sqlite *s, const char *key)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

static int count_tables(ds_sqlite *s)
{
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) ==
        SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* An existing database: same schema version and command, or refused. */
static ds_err check_existing(ds_sqlite *s, const char *path, ds_errbuf *eb)
{
    int n = count_tables(s);
    if (n < 0)
        return ds_fail(eb, DS_ERR_ARG, "%s is not an SQLite database: %s", path,
                       sqlite3_errmsg(s->db));
    if (n == 0)
        return DS_OK;
    char *ver = meta_get(s, "schema_version"), *cmd = meta_get(s, "command");
    ds_err e = DS_OK;
    if (!ver || !cmd)
        e = ds_fail(eb, DS_ERR_ARG, "%s is a database dumpscan did not write: not touched", path);
    else if (strcmp(ver, ds_sql_schema_version) != 0)
        e = ds_fail(eb, DS_ERR_ARG,
                    "%s has dumpscan schema version %s, this dumpscan writes %s: "
                    "write to a new file", path, ver, ds_sql_schema_version);
    else if (strcmp(cmd, s->command) != 0)
        e = ds_fail(eb, DS_ERR_ARG, "%s holds `%s` records; `%s` writes its own database", path,
                    cmd, s->command);
    free(ver);
    free(cmd);
    return e;
}

static ds_err create_schema(ds_sqlite *s, ds_errbuf *eb)
{
    const char *ddl = ds_sql_ddl(s->command);
    if (!ddl)
        return ds_fail(eb, DS_ERR_ARG, "no SQLite schema for `%s`", s->command);
    sqlite3_stmt *st = NULL;
    char started[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    bool ok = exec(s, "BEGIN IMMEDIATE") && exec(s, ddl);
    if (ok)
        ok = sqlite3_prepare_v2(s->db,
                                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?), "
                                "('command', ?); "
                                , -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, ds_sql_schema_version, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, s->command, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (ok)
        ok = sqlite3_prepare_v2(s->db, "INSERT INTO runs (command, version, started) "
                                       "VALUES (?, ?, ?)", -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, s->command, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, DUMPSCAN_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, started, -1, SQLITE_TRANSIENT);
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    sqlite3_finalize(st);
    s->run_id = sqlite3_last_insert_rowid(s->db);
    s->in_tx = ok;
    if (!ok) {
        ds_fail(eb, DS_ERR_IO, "cannot set up the database: %s", sqlite3_errmsg(s->db));
        exec(s, "ROLLBACK");
        return DS_ERR_IO;
    }
    return DS_OK;
}

ds_err ds_sqlite_open(ds_sqlite **out, const char *path, const char *command,
                      const ds_fileid_set *deny, ds_errbuf *eb)
{
    *out = NULL;
    struct stat st;
    if (stat(path, &st) == 0) {
        ds_fileid id = {(uint64_t)st.st_dev, (uint64_t)st.st_ino};
        if (ds_fileid_set_has(deny, id))
            return ds_fail(eb, DS_ERR_ARG, "output %s is also an input", path);
        if (!S_ISREG(st.st_mode))
            return ds_fail(eb, DS_ERR_ARG, "%s is not a regular file: SQLite output needs one",
                           path);
    }
    ds_sqlite *s = calloc(1, sizeof(*s));
    if (!s)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    s->command = command;
    ds_sb_init(&s->text);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        ds_fail(eb, DS_ERR_IO, "cannot open %s: %s", path, s->db ? sqlite3_errmsg(s->db) : "");
        ds_sqlite_close(s, NULL);
        return DS_ERR_IO;
    }
    sqlite3_busy_timeout(s->db, 5000);
    ds_err e = check_existing(s, path, eb);
    if (e == DS_OK && !(exec(s, "PRAGMA journal_mode=WAL") && exec(s, "PRAGMA synchronous=NORMAL")))
        e = ds_fail(eb, DS_ERR_IO, "cannot set up %s: %s", path, sqlite3_errmsg(s->db));
    if (e == DS_OK)
        e = create_schema(s, eb);
    if (e != DS_OK) {
        s->failed = false;
        ds_sqlite_close(s, NULL);
        return e;
    }
    *out = s;
    return DS_OK;
}

/* ---- one record ------------------------------------------------------------ */

static const ds_sql_table *table_of(const char *command, const char *type)
{
    for (unsigned i = 0; i < ds_sql_ntables; i++)
        if (strcmp(ds_sql_tables[i].command, command) == 0 &&
            strcmp(ds_sql_tables[i].type, type) == 0)
            return &ds_sql_tables[i];
    return NULL;
}

static const ds_sql_col *column_of(const ds_sql_table *t, const char *name, size_t n)
{
    for (unsigned i = 0; i < t->ncols; i++)
        if (strlen(t->cols[i].name) == n && memcmp(t->cols[i].name, name, n) == 0)
            return &t->cols[i];
    return NULL;
}

/* A tiny reader of the writer's own JSON: p walks the text. */
typedef struct jcur {
    const char *p, *end;
} jcur;

static void skip_ws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\r' || *c->p == '\t'))
        c->p++;
}

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static bool read_u4(jcur *c, uint32_t *v)
{
    if (c->end - c->p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(c->p[i]);
        if (h < 0)
            return false;
        *v = *v << 4 | (uint32_t)h;
    }
    c->p += 4;
    return true;
}

static void put_utf8(ds_strbuf *sb, uint32_t cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12);
        b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18);
        b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ds_sb_add(sb, b, n);
}

/* A JSON string at c->p (opening quote) decoded into sb. */
static bool read_string(jcur *c, ds_strbuf *sb)
{
    ds_sb_clear(sb);
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p != '\\') {
            const char *q = c->p;
            while (q < c->end && *q != '"' && *q != '\\')
                q++;
            ds_sb_add(sb, c->p, (size_t)(q - c->p));
            c->p = q;
            continue;
        }
        if (c->end - c->p < 2)
            return false;
        char e = c->p[1];
        c->p += 2;
        uint32_t cp;
        switch (e) {
        case 'n': ds_sb_addc(sb, '\n'); break;
        case 't': ds_sb_addc(sb, '\t'); break;
        case 'r': ds_sb_addc(sb, '\r'); break;
        case 'b': ds_sb_addc(sb, '\b'); break;
        case 'f': ds_sb_addc(sb, '\f'); break;
        case 'u':
            if (!read_u4(c, &cp))
                return false;
            if (cp >= 0xd800 && cp < 0xdc00 && c->end - c->p >= 6 && c->p[0] == '\\' &&
                c->p[1] == 'u') {
                uint32_t lo;
                c->p += 2;
                if (!read_u4(c, &lo))
                    return false;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            put_utf8(sb, cp);
            break;
        default: ds_sb_addc(sb, e); break;
        }
    }
    if (c->p >= c->end)
        return false;
    c->p++;
    return !sb->failed;
}

/* An array or object: its extent, strings respected. */
static bool skip_nested(jcur *c)
{
    int depth = 0;
    bool in_str = false;
    for (; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (in_str) {
            if (ch == '\\')
                c->p++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '[' || ch == '{') {
            depth++;
        } else if ((ch == ']' || ch == '}') && --depth == 0) {
            c->p++;
            return true;
        }
    }
    return false;
}

/* Bind the value at c->p to parameter i by column kind. */
static bool bind_value(ds_sqlite *s, sqlite3_stmt *st, int i, const ds_sql_col *col, jcur *c)
{
    skip_ws(c);
    if (c->p >= c->end)
        return false;
    char ch = *c->p;
    if (ch == 'n' && c->end - c->p >= 4 && memcmp(c->p, "null", 4) == 0) {
        c->p += 4;
        return sqlite3_bind_null(st, i) == SQLITE_OK;
    }
    if (ch == 't' && c->end - c->p >= 4 && memcmp(c->p, "true", 4) == 0) {
        c->p += 4;
        return sqlite3_bind_int(st, i, 1) == SQLITE_OK;
    }
    if (ch == 'f' && c->end - c->p >= 5 && memcmp(c->p, "false", 5) == 0) {
        c->p += 5;
        return sqlite3_bind_int(st, i, 0) == SQLITE_OK;
    }
    if (ch == '[' || ch == '{') {
        const char *start = c->p;
        if (!skip_nested(c))
            return false;
        return sqlite3_bind_text(st, i, start, (int)(c->p - start), SQLITE_TRANSIENT) ==
               SQLITE_OK;
    }
    if (ch == '"') {
        if (!read_string(c, &s->text))
            return false;
        const char *v = ds_sb_str(&s->text);
        if (col->kind == 'H' && v[0] == '0' && v[1] == 'x') {
            char *endp;
            errno = 0;
            uint64_t u = strtoull(v + 2, &endp, 16);
            if (!errno && *endp == 0)
                return sqlite3_bind_int64(st, i, (sqlite3_int64)u) == SQLITE_OK;
        }
        return sqlite3_bind_text(st, i, v, (int)s->text.len, SQLITE_TRANSIENT) == SQLITE_OK;
    }
    /* a number: integer columns take it whole, the rest as REAL */
    const char *start = c->p;
    while (c->p < c->end && strchr("+-0123456789.eE", *c->p))
        c->p++;
    char num[48];
    size_t n = (size_t)(c->p - start);
    if (n == 0 || n >= sizeof(num))
        return false;
    memcpy(num, start, n);
    num[n] = 0;
    if (col->kind == 'I' || col->kind == 'B' || col->kind == 'H') {
        char *endp;
        errno = 0;
        unsigned long long u = strtoull(num, &endp, 10);
        if (!errno && *endp == 0)
            return sqlite3_bind_int64(st, i, (sqlite3_int64)u) == SQLITE_OK;
    }
    return sqlite3_bind_double(st, i, strtod(num, NULL)) == SQLITE_OK;
}

/* The statement for this type and field order (names read from the JSON
 * object's keys on first sight). */
static stmt_slot *slot_for(ds_sqlite *s, const char *type, const char *json, size_t len)
{
    for (unsigned i = 0; i < s->nslots; i++)
        if (strcmp(s->slots[i].type, type) == 0)
            return &s->slots[i];
    const ds_sql_table *t = table_of(s->command, type);
    if (!t || s->nslots == MAX_TYPES) {
        snprintf(s->msg, sizeof(s->msg), "no table for `%s` records of `%s`", type, s->command);
        s->failed = true;
        return NULL;
    }
    stmt_slot *sl = &s->slots[s->nslots];
    memset(sl, 0, sizeof(*sl));
    snprintf(sl->type, sizeof(sl->type), "%s", type);
    sl->table = t;
    ds_strbuf sql, cols;
    ds_sb_init(&sql);
    ds_sb_init(&cols);
    jcur c = {json, json + len};
    skip_ws(&c);
    bool ok = c.p < c.end && *c.p++ == '{';
    ds_strbuf key;
    ds_sb_init(&key);
    while (ok) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == '}')
            break;
        ok = read_string(&c, &key);
        skip_ws(&c);
        ok = ok && c.p < c.end && *c.p++ == ':';
        if (!ok)
            break;
        if (strcmp(ds_sb_str(&key), "type") != 0) {
            const ds_sql_col *col = column_of(t, key.p, key.len);
            if (!col || sl->nfields == MAX_COLS) {
                snprintf(s->msg, sizeof(s->msg), "field `%s` of `%s` has no column",
                         ds_sb_str(&key), type);
                ok = false;
                break;
            }
            sl->col[sl->nfields++] = col;
            ds_sb_printf(&cols, ", \"%s\"", col->name); /* "index" is an SQL keyword */
        }
        /* skip the value */
        skip_ws(&c);
        if (c.p < c.end && (*c.p == '[' || *c.p == '{'))
            ok = skip_nested(&c);
        else if (c.p < c.end && *c.p == '"')
            ok = read_string(&c, &key);
        else
            while (c.p < c.end && *c.p != ',' && *c.p != '}')
                c.p++;
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',')
            c.p++;
    }
    ds_sb_free(&key);
    if (ok) {
        ds_sb_printf(&sql, "INSERT INTO \"%s\" (run_id%s) VALUES (?", type, ds_sb_str(&cols));
        for (unsigned i = 0; i < sl->nfields; i++)
            ds_sb_add(&sql, ",?", 2);
        ds_sb_addc(&sql, ')');
        ok = !sql.failed &&
             sqlite3_prepare_v2(s->db, ds_sb_str(&sql), -1, &sl->st, NULL) == SQLITE_OK;
        if (!ok && !s->msg[0])
            snprintf(s->msg, sizeof(s->msg), "cannot prepare the insert into %s: %s", type,
                     sqlite3_errmsg(s->db));
    }
    ds_sb_free(&sql);
    ds_sb_free(&cols);
    if (!ok) {
        s->failed = true;
        return NULL;
    }
    s->nslots++;
    return sl;
}

ds_err ds_sqlite_put(ds_sqlite *s, const char *type, const char *json, size_t len)
{
    if (s->failed)
        return DS_ERR_IO;
    stmt_slot *sl = slot_for(s, type, json, len);
    if (!sl)
        return DS_ERR_IO;
    sqlite3_stmt *st = sl->st;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, s->run_id);
    jcur c = {json, json + len};
    skip_ws(&c);
    bool ok = c.p < c.end && *c.p++ == '{';
    unsigned field = 0;
    while (ok) {
        skip_ws(&c);
        if (c.p < c.end && *c.p == '}')
            break;
        ok = read_string(&c, &s->text);
        bool is_type = ok && strcmp(ds_sb_str(&s->text), "type") == 0;
        skip_ws(&c);
        ok = ok && c.p < c.end && *c.p++ == ':';
        if (!ok)
            break;
        if (is_type) {
            skip_ws(&c);
            ok = read_string(&c, &s->text);
        } else {
            ok = field < sl->nfields &&
                 bind_value(s, st, (int)field + 2, sl->col[field], &c);
            field++;
        }
        skip_ws(&c);
        if (c.p < c.end && *c.p == ',')
            c.p++;
    }
    if (!ok || field != sl->nfields) {
        snprintf(s->msg, sizeof(s->msg), "a `%s` record does not match its table", type);
        s->failed = true;
        return DS_ERR_IO;
    }
    if (sqlite3_step(st) != SQLITE_DONE)
        return fail(s, DS_ERR_IO, "inserting a record");
    return DS_OK;
}

ds_err ds_sqlite_flush(ds_sqlite *s, bool sync)
{
    if (s->failed)
        return DS_ERR_IO;
    if (s->in_tx && !exec(s, "COMMIT"))
        return fail(s, DS_ERR_IO, "commit");
    s->in_tx = false;
    if (sync && sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_FULL, NULL, NULL) !=
                    SQLITE_OK)
        return fail(s, DS_ERR_IO, "checkpoint");
    if (!exec(s, "BEGIN"))
        return fail(s, DS_ERR_IO, "begin");
    s->in_tx = true;
    return DS_OK;
}

ds_err ds_sqlite_close(ds_sqlite *s, ds_errbuf *eb)
{
    if (!s)
        return DS_OK;
    for (unsigned i = 0; i < s->nslots; i++)
        sqlite3_finalize(s->slots[i].st);
    if (s->db && s->in_tx && !s->failed && !exec(s, "COMMIT"))
        fail(s, DS_ERR_IO, "commit");
    if (s->db && sqlite3_close(s->db) != SQLITE_OK && !s->failed) {
        snprintf(s->msg, sizeof(s->msg), "closing the database failed");
        s->failed = true;
    }
    ds_err e = s->failed ? ds_fail(eb, DS_ERR_IO, "SQLite output: %s", s->msg) : DS_OK;
    ds_sb_free(&s->text);
    free(s);
    return e;
}
