/* writer.c - NDJSON / CSV / table record writer; see writer.h.
 *
 * A record is encoded while it is built: each ds_rec_* call appends the
 * field to r->line in the record's final form (JSON member, CSV cell or
 * side-line text) and its name to r->names.  ds_rec_end then takes the
 * writer mutex, checks the field list against the first record of the
 * type (writing the CSV header if this is that first record), opens the
 * per-type file in directory mode, and writes the line with one fwrite.
 *
 * Text sanitising is shared by all formats: the input bytes are walked
 * as UTF-8; a valid sequence is copied, any other byte is taken as
 * Latin-1 and re-encoded as the 2-byte UTF-8 of U+0080..U+00FF (JSON
 * writes it as \u00XX).  Only ASCII characters need format-specific
 * treatment (escapes for JSON and side lines, NUL for CSV). */
#include "writer.h"
#include "sqlite.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/fileid.h"
#include "../src/timefmt.h"

typedef struct type_slot {
    char name[DS_REC_NAME_MAX + 1];
    char *fields;        /* comma-separated field names of its first record */
    FILE *file;          /* directory mode: DIR/<type>.<ext> */
} type_slot;

struct ds_writer {
    ds_outfmt fmt;
    pthread_mutex_t lock;
    FILE *main_out;      /* NULL in directory mode */
    FILE *side_out;      /* stderr text lines, or NULL */
    bool own_main;       /* main_out was opened by us */
    char *dir;           /* directory mode when non-NULL */
    char primary[DS_REC_NAME_MAX + 1];
    type_slot types[DS_WRITER_MAX_TYPES];
    unsigned ntypes;
    bool io_failed;
    char io_msg[200];    /* first write failure, for ds_writer_close */
    const ds_fileid_set *deny; /* files never written: the run's inputs */
    ds_sqlite *sql;      /* --format sqlite: records go here (sqlite.h) */
};

/* ---- formats ---------------------------------------------------------- */

bool ds_outfmt_parse(const char *s, ds_outfmt *out)
{
    if (!s)
        return false;
    if (strcmp(s, "ndjson") == 0 || strcmp(s, "jsonl") == 0 || strcmp(s, "json") == 0)
        *out = DS_OUT_NDJSON;
    else if (strcmp(s, "csv") == 0)
        *out = DS_OUT_CSV;
    else if (strcmp(s, "table") == 0)
        *out = DS_OUT_TABLE;
    else if (strcmp(s, "sqlite") == 0)
        *out = DS_OUT_SQLITE;
    else
        return false;
    return true;
}

const char *ds_outfmt_name(ds_outfmt f)
{
    switch (f) {
    case DS_OUT_NDJSON: return "ndjson";
    case DS_OUT_CSV: return "csv";
    case DS_OUT_SQLITE: return "sqlite";
    case DS_OUT_TABLE: return "table";
    }
    return "?";
}

/* ---- text sanitising -------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when the bytes
 * there do not start one (bad lead, bad continuation, overlong form,
 * surrogate, above U+10FFFF, or cut off by the end). */
static size_t utf8_valid_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */

    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        len = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        if (b == 0xe0)
            lo = 0xa0;      /* no overlongs */
        else if (b == 0xed)
            hi = 0x9f;      /* no UTF-16 surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;      /* nothing above U+10FFFF */
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return len;
}

typedef enum text_mode { TEXT_JSON, TEXT_CSV, TEXT_SIDE } text_mode;

static void put_u00xx(ds_strbuf *sb, uint8_t c)
{
    ds_sb_printf(sb, "\\u%04x", (unsigned)c);
}

/* One ASCII character in the given mode. */
static void put_ascii(ds_strbuf *sb, uint8_t c, text_mode mode)
{
    if (mode == TEXT_CSV) {
        if (c == 0)
            ds_sb_add(sb, "\xef\xbf\xbd", 3); /* U+FFFD: CSV cannot hold NUL */
        else
            ds_sb_addc(sb, (char)c);
        return;
    }
    switch (c) {
    case '"': ds_sb_add(sb, mode == TEXT_JSON ? "\\\"" : "\"", mode == TEXT_JSON ? 2 : 1); return;
    case '\\': ds_sb_add(sb, mode == TEXT_JSON ? "\\\\" : "\\", mode == TEXT_JSON ? 2 : 1); return;
    case '\n': ds_sb_add(sb, "\\n", 2); return;
    case '\r': ds_sb_add(sb, "\\r", 2); return;
    case '\t': ds_sb_add(sb, "\\t", 2); return;
    case '\b': ds_sb_add(sb, "\\b", 2); return;
    case '\f': ds_sb_add(sb, "\\f", 2); return;
    default: break;
    }
    if (c < 0x20 || (mode == TEXT_SIDE && c == 0x7f))
        put_u00xx(sb, c);
    else
        ds_sb_addc(sb, (char)c);
}

/* Bytes that every mode copies as they are: printable ASCII but the JSON
 * specials (so runs of them go in one copy). */
static inline bool plain_byte(uint8_t c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Append bytes p[0..n) as text in the given mode (no quotes). */
static void put_text(ds_strbuf *sb, const uint8_t *p, size_t n, text_mode mode)
{
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && plain_byte(p[run]))
            run++;
        if (run > i) {
            ds_sb_add(sb, p + i, run - i);
            i = run;
            continue;
        }
        size_t len = utf8_valid_len(p + i, n - i);
        if (len == 1) {
            put_ascii(sb, p[i], mode);
        } else if (len > 1) {
            ds_sb_add(sb, p + i, len);
        } else if (mode == TEXT_JSON) {
            put_u00xx(sb, p[i]);          /* Latin-1 byte -> U+00XX */
            len = 1;
        } else {
            char u[2] = {(char)(0xc0 | (p[i] >> 6)), (char)(0x80 | (p[i] & 0x3f))};
            ds_sb_add(sb, u, 2);
            len = 1;
        }
        i += len;
    }
}

void ds_json_string(ds_strbuf *sb, const void *p, size_t n)
{
    ds_sb_addc(sb, '"');
    put_text(sb, p, n, TEXT_JSON);
    ds_sb_addc(sb, '"');
}

void ds_text_line(ds_strbuf *sb, const void *p, size_t n)
{
    put_text(sb, p, n, TEXT_SIDE);
}

/* Append an already-sanitised cell, quoting it when RFC 4180 needs it or
 * when it is empty (so that "" differs from null). */
static void put_csv_cell(ds_strbuf *sb, const char *s, size_t n)
{
    bool quote = n == 0;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        ds_sb_add(sb, s, n);
        return;
    }
    ds_sb_addc(sb, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            ds_sb_addc(sb, '"');
        ds_sb_addc(sb, s[i]);
    }
    ds_sb_addc(sb, '"');
}

void ds_csv_field(ds_strbuf *sb, const void *p, size_t n)
{
    ds_strbuf t;
    ds_sb_init(&t);
    put_text(&t, p, n, TEXT_CSV);
    if (t.failed)
        sb->failed = true;
    else
        put_csv_cell(sb, ds_sb_str(&t), t.len);
    ds_sb_free(&t);
}

void ds_fixed_decimal(ds_strbuf *sb, int64_t value, unsigned decimals)
{
    if (decimals > 18)
        decimals = 18;
    uint64_t scale = 1;
    for (unsigned i = 0; i < decimals; i++)
        scale *= 10;
    /* Work on the magnitude as unsigned so INT64_MIN is safe. */
    uint64_t mag = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    uint64_t ip = mag / scale, fp = mag % scale;

    ds_sb_printf(sb, "%s%" PRIu64, value < 0 ? "-" : "", ip);
    if (fp == 0)
        return;
    char digits[24];
    snprintf(digits, sizeof(digits), "%0*" PRIu64, (int)decimals, fp);
    size_t len = strlen(digits);
    while (len > 0 && digits[len - 1] == '0')
        len--;
    ds_sb_addc(sb, '.');
    ds_sb_add(sb, digits, len);
}

/* ---- opening and closing ---------------------------------------------- */

static bool valid_name(const char *s)
{
    size_t n = 0;
    if (!s || !*s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_';
        if (!ok || n >= DS_REC_NAME_MAX)
            return false;
    }
    return true;
}

static ds_writer *writer_new(ds_outfmt fmt, const char *primary)
{
    ds_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->fmt = fmt;
    pthread_mutex_init(&w->lock, NULL);
    if (primary)
        snprintf(w->primary, sizeof(w->primary), "%s", primary);
    return w;
}

static ds_err check_primary(ds_outfmt fmt, const char *primary, ds_errbuf *eb)
{
    if (primary && !valid_name(primary))
        return ds_fail(eb, DS_ERR_ARG, "invalid record type name");
    if (fmt != DS_OUT_NDJSON && !primary)
        return ds_fail(eb, DS_ERR_ARG, "%s output needs a primary record type",
                       ds_outfmt_name(fmt));
    return DS_OK;
}

ds_err ds_writer_open_stream(ds_writer **out, ds_outfmt fmt, FILE *main_out, FILE *side_out,
                             const char *primary_type, ds_errbuf *eb)
{
    *out = NULL;
    ds_err e = check_primary(fmt, primary_type, eb);
    if (e)
        return e;
    if (!main_out)
        return ds_fail(eb, DS_ERR_ARG, "no output stream");
    ds_writer *w = writer_new(fmt, primary_type);
    if (!w)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    w->main_out = main_out;
    w->side_out = side_out;
    *out = w;
    return DS_OK;
}

bool ds_writer_is_dir_target(const char *path)
{
    struct stat st;
    size_t n = path ? strlen(path) : 0;
    if (!path || strcmp(path, "-") == 0)
        return false;
    if (stat(path, &st) == 0)
        return S_ISDIR(st.st_mode);
    return n > 0 && path[n - 1] == '/';
}

void ds_writer_dir_file(ds_strbuf *sb, const char *dir, const char *type, ds_outfmt fmt)
{
    size_t dl = strlen(dir);
    ds_sb_printf(sb, "%s%s%s.%s", dir, (dl && dir[dl - 1] == '/') ? "" : "/", type,
                 fmt == DS_OUT_CSV ? "csv" : "ndjson");
}

/* Open path for writing without truncating it first; refuse (EEXIST is
 * reported as "is an input") when the opened file is one of deny, then
 * truncate regular files.  Pipes, terminals and devices are written as
 * they are.  Returns the stream or NULL with errno set. */
static FILE *open_output(const char *path, const ds_fileid_set *deny, bool *is_input)
{
    *is_input = false;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
    if (fd < 0)
        return NULL;
    struct stat st;
    ds_fileid id;
    if (fstat(fd, &st) != 0 || !ds_fileid_of_fd(fd, &id)) {
        int er = errno;
        close(fd);
        errno = er;
        return NULL;
    }
    if (ds_fileid_set_has(deny, id)) {
        close(fd);
        *is_input = true;
        errno = EEXIST;
        return NULL;
    }
    if (S_ISREG(st.st_mode) && ftruncate(fd, 0) != 0) {
        int er = errno;
        close(fd);
        errno = er;
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        int er = errno;
        close(fd);
        errno = er;
    }
    return f;
}

ds_err ds_writer_open_sqlite(ds_writer **out, const char *path, const char *command,
                             const char *primary_type, const ds_fileid_set *deny, ds_errbuf *eb)
{
    *out = NULL;
    if (!path || strcmp(path, "-") == 0)
        return ds_fail(eb, DS_ERR_ARG, "SQLite output needs -o FILE (results.sqlite)");
    if (ds_writer_is_dir_target(path))
        return ds_fail(eb, DS_ERR_ARG, "SQLite output goes to a file (results.sqlite), not a "
                       "directory");
    ds_err e = check_primary(DS_OUT_SQLITE, primary_type, eb);
    if (e)
        return e;
    ds_writer *w = writer_new(DS_OUT_SQLITE, primary_type);
    if (!w)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    w->side_out = stderr;
    w->deny = deny;
    e = ds_sqlite_open(&w->sql, path, command, deny, eb);
    if (e != DS_OK) {
        ds_writer_close(w, NULL);
        return e;
    }
    *out = w;
    return DS_OK;
}

ds_err ds_writer_open(ds_writer **out, ds_outfmt fmt, const char *path,
                      const char *primary_type, const ds_fileid_set *deny, ds_errbuf *eb)
{
    *out = NULL;
    if (fmt == DS_OUT_SQLITE)
        return ds_fail(eb, DS_ERR_ARG, "SQLite output is opened by ds_writer_open_sqlite");
    if (!path || strcmp(path, "-") == 0)
        return ds_writer_open_stream(out, fmt, stdout, stderr, primary_type, eb);
    ds_err e = check_primary(fmt, primary_type, eb);
    if (e)
        return e;
    bool is_dir = ds_writer_is_dir_target(path);
    if (is_dir && fmt == DS_OUT_TABLE)
        return ds_fail(eb, DS_ERR_ARG, "table output goes to a file or stdout, not a directory");
    if (is_dir && mkdir(path, 0777) != 0 && errno != EEXIST)
        return ds_fail(eb, DS_ERR_IO, "cannot create output directory %s: %s", path,
                       strerror(errno));

    ds_writer *w = writer_new(fmt, primary_type);
    if (!w)
        return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
    w->side_out = stderr;
    w->deny = deny;
    if (is_dir) {
        w->dir = strdup(path);
        if (!w->dir) {
            ds_writer_close(w, NULL);
            return ds_fail(eb, DS_ERR_NOMEM, "out of memory");
        }
    } else {
        bool is_input;
        w->main_out = open_output(path, deny, &is_input);
        if (!w->main_out) {
            int er = errno;
            ds_writer_close(w, NULL);
            if (is_input)
                return ds_fail(eb, DS_ERR_ARG, "output %s is also an input", path);
            return ds_fail(eb, DS_ERR_IO, "cannot open %s: %s", path, strerror(er));
        }
        w->own_main = true;
    }
    *out = w;
    return DS_OK;
}

/* Remember the first write failure; later ones keep the first message. */
static void note_io_failure(ds_writer *w, const char *what, int er)
{
    if (!w->io_failed)
        snprintf(w->io_msg, sizeof(w->io_msg), "writing %s failed: %s", what,
                 er ? strerror(er) : "stream error");
    w->io_failed = true;
}

/* Close the SQLite sink (committing what it holds), recording its failure
 * as the writer's first one: after a failed insert or commit, and at the
 * end. */
static void close_sql(ds_writer *w)
{
    ds_errbuf seb = {{0}};
    if (ds_sqlite_close(w->sql, &seb) != DS_OK && !w->io_failed) {
        snprintf(w->io_msg, sizeof(w->io_msg), "%s", seb.msg);
        w->io_failed = true;
    }
    w->sql = NULL;
}

/* Flush (and close when we own it) one stream, recording failures. */
static void finish_stream(ds_writer *w, FILE *f, bool own, const char *what)
{
    if (!f)
        return;
    errno = 0;
    if (fflush(f) != 0 || ferror(f))
        note_io_failure(w, what, errno);
    if (own && fclose(f) != 0)
        note_io_failure(w, what, errno);
}

ds_err ds_writer_close(ds_writer *w, ds_errbuf *eb)
{
    if (!w)
        return DS_OK;
    finish_stream(w, w->main_out, w->own_main, "output");
    if (w->sql)
        close_sql(w);
    for (unsigned i = 0; i < w->ntypes; i++) {
        finish_stream(w, w->types[i].file, true, w->types[i].name);
        free(w->types[i].fields);
    }
    if (w->side_out)
        fflush(w->side_out);
    ds_err e = w->io_failed ? ds_fail(eb, DS_ERR_IO, "%s", w->io_msg) : DS_OK;
    pthread_mutex_destroy(&w->lock);
    free(w->dir);
    free(w);
    return e;
}

ds_outfmt ds_writer_format(const ds_writer *w)
{
    return w->fmt;
}

bool ds_writer_failed(const ds_writer *w)
{
    return w->io_failed;
}

/* fwrite all of it or record the failure; caller holds the lock. */
static void write_locked(ds_writer *w, FILE *f, const char *p, size_t n, const char *what)
{
    if (w->io_failed || n == 0)
        return;
    errno = 0;
    if (fwrite(p, 1, n, f) != n || ferror(f))
        note_io_failure(w, what, errno);
}

ds_err ds_writer_text(ds_writer *w, const char *text, size_t len)
{
    if (w->fmt != DS_OUT_TABLE || !w->main_out)
        return DS_ERR_ARG;
    pthread_mutex_lock(&w->lock);
    write_locked(w, w->main_out, text, len, "output");
    ds_err e = w->io_failed ? DS_ERR_IO : DS_OK;
    pthread_mutex_unlock(&w->lock);
    return e;
}

/* ---- building records ------------------------------------------------- */

void ds_rec_init(ds_rec *r)
{
    memset(r, 0, sizeof(*r));
    ds_sb_init(&r->line);
    ds_sb_init(&r->names);
    ds_sb_init(&r->tmp);
}

void ds_rec_free(ds_rec *r)
{
    ds_sb_free(&r->line);
    ds_sb_free(&r->names);
    ds_sb_free(&r->tmp);
}

static ds_rec_route route_of(const ds_writer *w, const char *type)
{
    bool is_error = strcmp(type, "error") == 0;
    switch (w->fmt) {
    case DS_OUT_NDJSON:
    case DS_OUT_SQLITE:
        return DS_ROUTE_MAIN;
    case DS_OUT_CSV:
        if (w->dir || strcmp(type, w->primary) == 0)
            return DS_ROUTE_MAIN;
        return is_error ? DS_ROUTE_SIDE : DS_ROUTE_DROP;
    case DS_OUT_TABLE:
        return is_error ? DS_ROUTE_SIDE : DS_ROUTE_DROP;
    }
    return DS_ROUTE_DROP;
}

/* Start a field: separator, name bookkeeping.  False when the field is
 * not to be encoded (dropped record or bad name). */
static bool field_begin(ds_rec *r, const char *name)
{
    if (!valid_name(name)) {
        r->bad = true;
        return false;
    }
    size_t nlen = strlen(name);
    if (r->nfields++)
        ds_sb_addc(&r->names, ',');
    ds_sb_add(&r->names, name, nlen);
    switch (r->route) {
    case DS_ROUTE_DROP:
        return false;
    case DS_ROUTE_SIDE:
        return true;    /* separator depends on the value; see side_value */
    case DS_ROUTE_MAIN:
        break;
    }
    if (r->fmt == DS_OUT_NDJSON) {
        /* names are [A-Za-z0-9_] (valid_name): nothing to escape */
        ds_sb_addc(&r->line, r->nfields > 1 ? ',' : '{');
        ds_sb_addc(&r->line, '"');
        ds_sb_add(&r->line, name, nlen);
        ds_sb_add(&r->line, "\":", 2);
    } else if (r->nfields > 1) {
        ds_sb_addc(&r->line, ',');
    }
    return true;
}

/* Side lines show values only: "dumpscan: error: <v1>: <v2>..." with
 * nulls skipped. */
static void side_sep(ds_rec *r)
{
    ds_sb_add(&r->line, ": ", 2);
}

void ds_rec_begin(ds_rec *r, ds_writer *w, const char *type)
{
    ds_sb_clear(&r->line);
    ds_sb_clear(&r->names);
    ds_sb_clear(&r->tmp);
    r->w = w;
    r->fmt = w->fmt == DS_OUT_SQLITE ? DS_OUT_NDJSON : w->fmt; /* sqlite.c reads NDJSON */
    r->nfields = 0;
    r->bad = !valid_name(type);
    snprintf(r->type, sizeof(r->type), "%s", r->bad ? "invalid" : type);
    r->route = route_of(w, r->type);
    if (r->route == DS_ROUTE_SIDE) {
        ds_sb_printf(&r->line, "dumpscan: %s", r->type);
        ds_sb_adds(&r->names, "type");
        r->nfields = 1;
        return;
    }
    if (field_begin(r, "type")) {
        if (r->fmt == DS_OUT_NDJSON)
            ds_json_string(&r->line, r->type, strlen(r->type));
        else
            put_csv_cell(&r->line, r->type, strlen(r->type));
    }
}

/* Append a scalar already in plain text (numbers, hex, booleans). */
static void put_plain(ds_rec *r, const char *name, const char *text)
{
    if (!field_begin(r, name))
        return;
    if (r->route == DS_ROUTE_SIDE)
        side_sep(r);
    ds_sb_adds(&r->line, text);
}

void ds_rec_null(ds_rec *r, const char *name)
{
    if (!field_begin(r, name))
        return;
    if (r->route == DS_ROUTE_MAIN && r->fmt == DS_OUT_NDJSON)
        ds_sb_add(&r->line, "null", 4);
    /* CSV: empty cell; side line: skipped */
}

void ds_rec_bytes(ds_rec *r, const char *name, const void *p, size_t n)
{
    if (!p) {
        ds_rec_null(r, name);
        return;
    }
    if (!field_begin(r, name))
        return;
    if (r->route == DS_ROUTE_SIDE) {
        side_sep(r);
        put_text(&r->line, p, n, TEXT_SIDE);
    } else if (r->fmt == DS_OUT_NDJSON) {
        ds_json_string(&r->line, p, n);
    } else {
        ds_csv_field(&r->line, p, n);
    }
}

void ds_rec_str(ds_rec *r, const char *name, const char *s)
{
    ds_rec_bytes(r, name, s, s ? strlen(s) : 0);
}

/* Digits of v into the end of b[24] (NUL-terminated); returns the start. */
static char *fmt_u64(char *b, uint64_t v)
{
    char *p = b + 23;
    *p = 0;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

/* "0x" + lower-case hex digits of v into b[24]; returns the start. */
static char *fmt_hex(char *b, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char *p = b + 23;
    *p = 0;
    do {
        *--p = digits[v & 15];
        v >>= 4;
    } while (v);
    *--p = 'x';
    *--p = '0';
    return p;
}

void ds_rec_u64(ds_rec *r, const char *name, uint64_t v)
{
    char b[24];
    put_plain(r, name, fmt_u64(b, v));
}

void ds_rec_i64(ds_rec *r, const char *name, int64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    put_plain(r, name, b);
}

/* Hex scalars are JSON strings ("0x1ad000"), bare in CSV and side lines. */
void ds_rec_hex(ds_rec *r, const char *name, uint64_t v)
{
    char b[24];
    char *h = fmt_hex(b, v);
    if (r->route == DS_ROUTE_MAIN && r->fmt == DS_OUT_NDJSON) {
        if (field_begin(r, name)) {
            ds_sb_addc(&r->line, '"');
            ds_sb_add(&r->line, h, (size_t)(b + 23 - h));
            ds_sb_addc(&r->line, '"');
        }
        return;
    }
    put_plain(r, name, h);
}

void ds_rec_bool(ds_rec *r, const char *name, bool v)
{
    put_plain(r, name, v ? "true" : "false");
}

void ds_rec_time(ds_rec *r, const char *name, int64_t filetime)
{
    char iso[DS_TIME_ISO_LEN];
    if (!ds_time_iso(filetime, iso)) {
        ds_rec_null(r, name);
        return;
    }
    ds_rec_str(r, name, iso);
}

void ds_rec_fixed(ds_rec *r, const char *name, int64_t value, unsigned decimals)
{
    if (!field_begin(r, name))
        return;
    if (r->route == DS_ROUTE_SIDE)
        side_sep(r);
    ds_fixed_decimal(&r->line, value, decimals);
}

/* Arrays: JSON array in NDJSON; one ';'-joined cell elsewhere.  The
 * element writer appends one element's text to sb. */
typedef void (*elem_fn)(ds_strbuf *sb, const void *arr, size_t i, text_mode mode);

static void hex_elem(ds_strbuf *sb, const void *arr, size_t i, text_mode mode)
{
    const uint64_t *v = arr;
    char b[24];
    char *h = fmt_hex(b, v[i]);
    if (mode == TEXT_JSON)
        ds_sb_addc(sb, '"');
    ds_sb_add(sb, h, (size_t)(b + 23 - h));
    if (mode == TEXT_JSON)
        ds_sb_addc(sb, '"');
}

static void str_elem(ds_strbuf *sb, const void *arr, size_t i, text_mode mode)
{
    const char *s = ((const char *const *)arr)[i];
    if (!s)
        s = "";
    if (mode == TEXT_JSON) {
        ds_json_string(sb, s, strlen(s));
        return;
    }
    /* joined cell: escape the joiner and the escape character */
    for (; *s; s++) {
        if (*s == ';' || *s == '\\')
            ds_sb_addc(sb, '\\');
        ds_sb_addc(sb, *s);
    }
}

static void put_array(ds_rec *r, const char *name, const void *arr, size_t n, elem_fn fn)
{
    if (!field_begin(r, name))
        return;
    if (r->route == DS_ROUTE_MAIN && r->fmt == DS_OUT_NDJSON) {
        ds_sb_addc(&r->line, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                ds_sb_addc(&r->line, ',');
            fn(&r->line, arr, i, TEXT_JSON);
        }
        ds_sb_addc(&r->line, ']');
        return;
    }
    ds_strbuf *t = &r->tmp;
    ds_sb_clear(t);
    for (size_t i = 0; i < n; i++) {
        if (i)
            ds_sb_addc(t, ';');
        fn(t, arr, i, TEXT_CSV);
    }
    if (t->failed) {
        r->line.failed = true;
        return;
    }
    if (r->route == DS_ROUTE_SIDE) {
        side_sep(r);
        put_text(&r->line, (const uint8_t *)ds_sb_str(t), t->len, TEXT_SIDE);
    } else {
        ds_csv_field(&r->line, ds_sb_str(t), t->len);
    }
}

void ds_rec_hex_array(ds_rec *r, const char *name, const uint64_t *v, size_t n)
{
    if (!v && n) {
        ds_rec_null(r, name);
        return;
    }
    put_array(r, name, v, n, hex_elem);
}

void ds_rec_str_array(ds_rec *r, const char *name, const char *const *v, size_t n)
{
    if (!v && n) {
        ds_rec_null(r, name);
        return;
    }
    put_array(r, name, v, n, str_elem);
}

static void member_value(ds_strbuf *sb, const ds_member *m, text_mode mode)
{
    switch (m->kind) {
    case DS_MEMBER_U64:
        ds_sb_printf(sb, "%" PRIu64, m->u);
        return;
    case DS_MEMBER_HEX:
        ds_sb_printf(sb, mode == TEXT_JSON ? "\"0x%" PRIx64 "\"" : "0x%" PRIx64, m->u);
        return;
    case DS_MEMBER_STR:
        if (m->s) {
            if (mode == TEXT_JSON) {
                ds_json_string(sb, m->s, strlen(m->s));
            } else {
                for (const char *c = m->s; *c; c++) { /* keep the joiners unambiguous */
                    if (*c == ';' || *c == ' ' || *c == '\\')
                        ds_sb_addc(sb, '\\');
                    ds_sb_addc(sb, *c);
                }
            }
            return;
        }
        break;
    case DS_MEMBER_NULL:
        break;
    }
    ds_sb_adds(sb, mode == TEXT_JSON ? "null" : "-");
}

void ds_rec_obj_array(ds_rec *r, const char *name, const ds_member *objs, size_t nmembers,
                      size_t nobj)
{
    if (!field_begin(r, name))
        return;
    bool json = r->route == DS_ROUTE_MAIN && r->fmt == DS_OUT_NDJSON;
    ds_strbuf *t = json ? &r->line : &r->tmp;
    if (!json)
        ds_sb_clear(t);
    if (json)
        ds_sb_addc(t, '[');
    for (size_t o = 0; o < nobj; o++) {
        if (o)
            ds_sb_addc(t, json ? ',' : ';');
        if (json)
            ds_sb_addc(t, '{');
        for (size_t k = 0; k < nmembers; k++) {
            const ds_member *m = &objs[o * nmembers + k];
            if (k)
                ds_sb_addc(t, json ? ',' : ' ');
            if (json) {
                ds_json_string(t, m->name, strlen(m->name));
                ds_sb_addc(t, ':');
            }
            member_value(t, m, json ? TEXT_JSON : TEXT_CSV);
        }
        if (json)
            ds_sb_addc(t, '}');
    }
    if (json) {
        ds_sb_addc(t, ']');
        return;
    }
    if (t->failed) {
        r->line.failed = true;
        return;
    }
    if (r->route == DS_ROUTE_SIDE) {
        side_sep(r);
        put_text(&r->line, (const uint8_t *)ds_sb_str(t), t->len, TEXT_SIDE);
    } else {
        ds_csv_field(&r->line, ds_sb_str(t), t->len);
    }
}

/* ---- writing ---------------------------------------------------------- */

/* Find or register the slot for a record type (names: its field list);
 * caller holds the lock.  On first sight in CSV, the header row is
 * written before the record. */
static ds_err type_slot_for(ds_writer *w, const char *type, const char *names, type_slot **out,
                            bool *first)
{
    *first = false;
    for (unsigned i = 0; i < w->ntypes; i++) {
        if (strcmp(w->types[i].name, type) == 0) {
            *out = &w->types[i];
            return strcmp(w->types[i].fields, names) == 0 ? DS_OK : DS_ERR_ARG;
        }
    }
    if (w->ntypes == DS_WRITER_MAX_TYPES)
        return DS_ERR_ARG;
    type_slot *t = &w->types[w->ntypes];
    t->fields = strdup(names);
    if (!t->fields)
        return DS_ERR_NOMEM;
    snprintf(t->name, sizeof(t->name), "%s", type);
    t->file = NULL;
    w->ntypes++;
    *out = t;
    *first = true;
    return DS_OK;
}

/* Directory mode: DIR/<type>.<ext>, opened on the type's first record
 * (never when it is one of the run's inputs). */
static FILE *type_file(ds_writer *w, type_slot *t)
{
    if (t->file)
        return t->file;
    ds_strbuf p;
    ds_sb_init(&p);
    ds_writer_dir_file(&p, w->dir, t->name, w->fmt);
    bool is_input = false;
    if (!p.failed)
        t->file = open_output(ds_sb_str(&p), w->deny, &is_input);
    if (!t->file) {
        if (is_input && !w->io_failed) {
            snprintf(w->io_msg, sizeof(w->io_msg), "output %s is also an input: not written",
                     ds_sb_str(&p));
            w->io_failed = true;
        }
        note_io_failure(w, p.failed ? "output directory" : ds_sb_str(&p), errno);
    }
    ds_sb_free(&p);
    return t->file;
}

/* Write one encoded main-route record (type, comma-separated field
 * names, line); caller holds the lock.  Shared by ds_rec_end and
 * ds_writer_write_batch. */
static ds_err write_main_parts(ds_writer *w, const char *type, const char *names,
                               const char *line, size_t len)
{
    type_slot *t;
    bool first;
    ds_err e = type_slot_for(w, type, names, &t, &first);
    if (e)
        return e;
    if (w->sql) {
        if (!w->io_failed && ds_sqlite_put(w->sql, type, line, len) != DS_OK)
            close_sql(w); /* keeps what was committed; says why */
        return w->io_failed ? DS_ERR_IO : DS_OK;
    }
    FILE *f = w->dir ? type_file(w, t) : w->main_out;
    if (!f)
        return DS_ERR_IO;
    const char *what = w->dir ? t->name : "output";
    if (first && w->fmt == DS_OUT_CSV) {
        write_locked(w, f, t->fields, strlen(t->fields), what);
        write_locked(w, f, "\n", 1, what);
    }
    write_locked(w, f, line, len, what);
    return w->io_failed ? DS_ERR_IO : DS_OK;
}

static ds_err write_main(ds_writer *w, ds_rec *r)
{
    return write_main_parts(w, r->type, ds_sb_str(&r->names), r->line.p, r->line.len);
}

/* Close r's line ('}' and newline) and detach it from its writer; *wp
 * gets the writer.  DS_OK means "write it"; DS_ERR_ARG / DS_ERR_NOMEM as
 * for ds_rec_end; a dropped record returns DS_OK with *drop set. */
static ds_err rec_close(ds_rec *r, ds_writer **wp, bool *drop)
{
    ds_writer *w = r->w;
    r->w = NULL; /* a second ds_rec_end without ds_rec_begin is refused */
    *wp = w;
    *drop = false;
    if (!w || r->bad)
        return DS_ERR_ARG;
    if (r->route == DS_ROUTE_DROP) {
        *drop = true;
        return DS_OK;
    }
    if (r->route == DS_ROUTE_MAIN && r->fmt == DS_OUT_NDJSON)
        ds_sb_addc(&r->line, '}');
    ds_sb_addc(&r->line, '\n');
    if (r->line.failed || r->names.failed)
        return DS_ERR_NOMEM;
    return DS_OK;
}

ds_err ds_rec_end(ds_rec *r)
{
    ds_writer *w;
    bool drop;
    ds_err e = rec_close(r, &w, &drop);
    if (e != DS_OK)
        return e;
    if (drop)
        return w->io_failed ? DS_ERR_IO : DS_OK;

    pthread_mutex_lock(&w->lock);
    if (w->io_failed)
        e = DS_ERR_IO;
    else if (r->route == DS_ROUTE_MAIN)
        e = write_main(w, r);
    else if (w->side_out)
        fwrite(r->line.p, 1, r->line.len, w->side_out); /* stderr: best effort */
    pthread_mutex_unlock(&w->lock);
    return e;
}

/* ---- batches ---------------------------------------------------------- */

/* A batch is one byte arena of entries laid end to end: an entry_head,
 * then the type name, the field-name list and the encoded line, each
 * NUL-terminated so the writer can use them in place. */
typedef struct entry_head {
    uint32_t kind;       /* ENTRY_REC or ENTRY_TEXT */
    uint32_t route;      /* ds_rec_route of a record */
    size_t type_len, names_len, line_len;
} entry_head;

enum { ENTRY_REC = 1, ENTRY_TEXT = 2 };

struct ds_batch {
    char *p;
    size_t len, cap;
    size_t count;
};

ds_batch *ds_batch_new(void)
{
    return calloc(1, sizeof(ds_batch));
}

void ds_batch_free(ds_batch *b)
{
    if (!b)
        return;
    free(b->p);
    free(b);
}

void ds_batch_clear(ds_batch *b)
{
    b->len = 0;
    b->count = 0;
}

size_t ds_batch_bytes(const ds_batch *b)
{
    return b->cap;
}

size_t ds_batch_count(const ds_batch *b)
{
    return b->count;
}

/* Room for n more bytes, growing by doubling up to DS_BATCH_MAX. */
static bool batch_reserve(ds_batch *b, size_t n)
{
    if (n > DS_BATCH_MAX || b->len > DS_BATCH_MAX - n)
        return false;
    if (b->len + n <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
        cap = cap > DS_BATCH_MAX / 2 ? DS_BATCH_MAX : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Append one entry; entry_head is copied unaligned (memcpy) on both ends. */
static ds_err batch_put(ds_batch *b, uint32_t kind, uint32_t route, const char *type,
                        const char *names, const char *line, size_t line_len)
{
    entry_head h = {.kind = kind, .route = route, .type_len = strlen(type),
                    .names_len = strlen(names), .line_len = line_len};
    size_t need = sizeof(h) + h.type_len + 1 + h.names_len + 1;
    if (line_len > DS_BATCH_MAX || need > DS_BATCH_MAX - line_len - 1 ||
        !batch_reserve(b, need + line_len + 1))
        return DS_ERR_NOMEM;
    char *q = b->p + b->len;
    memcpy(q, &h, sizeof(h));
    q += sizeof(h);
    memcpy(q, type, h.type_len + 1);
    q += h.type_len + 1;
    memcpy(q, names, h.names_len + 1);
    q += h.names_len + 1;
    memcpy(q, line, line_len);
    q[line_len] = 0;
    b->len += need + line_len + 1;
    b->count++;
    return DS_OK;
}

ds_err ds_rec_end_batch(ds_rec *r, ds_batch *b)
{
    ds_writer *w;
    bool drop;
    ds_err e = rec_close(r, &w, &drop);
    if (e != DS_OK || drop)
        return e;
    return batch_put(b, ENTRY_REC, (uint32_t)r->route, r->type, ds_sb_str(&r->names),
                     ds_sb_str(&r->line), r->line.len);
}

ds_err ds_batch_text(ds_batch *b, const ds_writer *w, const char *text, size_t len)
{
    if (w->fmt != DS_OUT_TABLE || !w->main_out)
        return DS_ERR_ARG;
    return batch_put(b, ENTRY_TEXT, DS_ROUTE_MAIN, "", "", text, len);
}

ds_err ds_writer_write_batch(ds_writer *w, const ds_batch *b)
{
    ds_err e = DS_OK;
    size_t off = 0;
    pthread_mutex_lock(&w->lock);
    while (e == DS_OK && off < b->len) {
        entry_head h;
        memcpy(&h, b->p + off, sizeof(h));
        const char *type = b->p + off + sizeof(h);
        const char *names = type + h.type_len + 1;
        const char *line = names + h.names_len + 1;
        off += sizeof(h) + h.type_len + 1 + h.names_len + 1 + h.line_len + 1;
        if (w->io_failed)
            e = DS_ERR_IO;
        else if (h.kind == ENTRY_TEXT)
            write_locked(w, w->main_out, line, h.line_len, "output");
        else if (h.route == DS_ROUTE_MAIN)
            e = write_main_parts(w, type, names, line, h.line_len);
        else if (w->side_out)
            fwrite(line, 1, h.line_len, w->side_out); /* stderr: best effort */
    }
    if (e == DS_OK && w->io_failed)
        e = DS_ERR_IO;
    pthread_mutex_unlock(&w->lock);
    return e;
}

/* fflush (and fsync) one stream; pipes, terminals and other files that
 * cannot be synced (EINVAL, EROFS, ENOTSUP) are not failures. */
static void flush_stream(ds_writer *w, FILE *f, bool sync, const char *what)
{
    if (!f)
        return;
    errno = 0;
    if (fflush(f) != 0 || ferror(f)) {
        note_io_failure(w, what, errno);
        return;
    }
    if (sync && fsync(fileno(f)) != 0 && errno != EINVAL && errno != EROFS &&
        errno != ENOTSUP)
        note_io_failure(w, what, errno);
}

ds_err ds_writer_flush(ds_writer *w, bool sync)
{
    pthread_mutex_lock(&w->lock);
    flush_stream(w, w->main_out, sync, "output");
    if (w->sql && !w->io_failed && ds_sqlite_flush(w->sql, sync) != DS_OK)
        close_sql(w);
    for (unsigned i = 0; i < w->ntypes; i++)
        flush_stream(w, w->types[i].file, sync, w->types[i].name);
    ds_err e = w->io_failed ? DS_ERR_IO : DS_OK;
    pthread_mutex_unlock(&w->lock);
    return e;
}
