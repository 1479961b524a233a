/* writer.h - the record writer every dumpscan command prints through.
 *
 * A command describes each result as a flat record: a type ("dump",
 * "process", "error", ...) and an ordered list of named fields.  The
 * writer turns records into one of three formats:
 *
 *   ndjson  one JSON object per line, fields in the order they were added,
 *           "type" always first.  Default.
 *   csv     RFC 4180 quoting, LF line ends, a header row of field names.
 *           A CSV file holds one record type, so:
 *             - output to a directory (-o DIR/): every type goes to
 *               DIR/<type>.csv, created (truncated) when its first record
 *               arrives;
 *             - output to one file or stdout: only the command's primary
 *               type is written; `error` records go to stderr as text
 *               lines; other types are left out (use a directory).
 *   table   free text made by the command itself (ds_writer_text); the
 *           writer routes `error` records to stderr as text lines and
 *           leaves other records out.
 *
 * Value encodings (see docs/output.md for the whole contract):
 *   strings/bytes  valid UTF-8 passes through; a byte that is not part of
 *                  a valid UTF-8 sequence is read as Latin-1, i.e. becomes
 *                  U+0080..U+00FF (JSON "\u00XX").  JSON escapes '"', '\'
 *                  and every control character below 0x20.  CSV writes a
 *                  NUL as U+FFFD (other characters as they are, quoted when
 *                  needed) and always quotes an empty string, so an empty
 *                  unquoted CSV field means null.
 *   hex            "0x" + lower-case hex digits, no padding.
 *   time           FILETIME -> "2024-03-31T12:12:36.724441Z"; null when <= 0.
 *   fixed          an exact decimal number (value / 10^decimals), trailing
 *                  zeros dropped: (41266745, 7) -> 4.1266745.
 *   arrays         JSON arrays; in CSV one field joined with ';' (a ';' or
 *                  '\' inside a string element is escaped with '\').
 *   null           JSON null; CSV empty field.
 *
 * Every record of one type must carry the same field names in the same
 * order (emit null rather than leaving a field out); ds_rec_end rejects a
 * record whose list differs from the first of its type with DS_ERR_ARG.
 *
 * Threads: a ds_rec belongs to one thread; ds_rec_end and ds_writer_text
 * take the writer's mutex and write the whole line or block with one
 * call, so output from several threads never interleaves.  A failed
 * write is sticky: every later call and ds_writer_close report DS_ERR_IO.
 *
 * Typical use:
 *     ds_rec r; ds_rec_init(&r);
 *     ds_rec_begin(&r, w, "dump");
 *     ds_rec_str(&r, "path", path);
 *     ds_rec_hex(&r, "dtb", dtb);
 *     err = ds_rec_end(&r);          // writes; r can be begun again
 *     ...
 *     ds_rec_free(&r);
 */
#ifndef DS_OUTPUT_WRITER_H
#define DS_OUTPUT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../io/fileid.h"
#include "../src/dserr.h"
#include "strbuf.h"

typedef enum ds_outfmt {
    DS_OUT_NDJSON = 0,
    DS_OUT_CSV,
    DS_OUT_TABLE,
    DS_OUT_SQLITE,  /* one database file: sqlite.h */
} ds_outfmt;

/* "ndjson" (also "jsonl", "json") / "csv" / "table" / "sqlite" -> *out;
 * false for anything else. */
bool ds_outfmt_parse(const char *s, ds_outfmt *out);
const char *ds_outfmt_name(ds_outfmt f);

typedef struct ds_writer ds_writer;

#define DS_WRITER_MAX_TYPES 32   /* distinct record types per writer */
#define DS_REC_NAME_MAX 63       /* longest type or field name */

/* Open a writer.  path NULL or "-" means stdout.  An existing directory,
 * or a path ending in '/' (created if missing, one level), selects
 * directory output: ndjson and csv then write DIR/<type>.ndjson or
 * DIR/<type>.csv; table output cannot go to a directory (DS_ERR_ARG).
 * Otherwise path is created or truncated.  primary_type is the command's
 * main record type (required for csv and table).
 *
 * Inputs are never written: every file is opened without O_TRUNC, and
 * when the opened file (device and inode) is in `deny` (the run's inputs;
 * NULL for none) it is closed untouched: ds_writer_open then fails with
 * DS_ERR_ARG, and a per-type file of directory mode counts as a write
 * failure (DS_ERR_IO, sticky).  Only then is a regular file truncated.
 * `deny` must outlive the writer. */
ds_err ds_writer_open(ds_writer **out, ds_outfmt fmt, const char *path,
                      const char *primary_type, const ds_fileid_set *deny, ds_errbuf *eb);

/* --format sqlite: one database file at path (never stdout or a
 * directory) holding the records of `command` ("info", "scan",
 * "analyze"); see sqlite.h for the tables and when an existing file is
 * appended to or refused. */
ds_err ds_writer_open_sqlite(ds_writer **out, const char *path, const char *command,
                             const char *primary_type, const ds_fileid_set *deny, ds_errbuf *eb);

/* True when path selects directory output (an existing directory, or a
 * path ending in '/'); nothing is created. */
bool ds_writer_is_dir_target(const char *path);
/* The file directory output writes records of `type` to: DIR/<type>.ndjson
 * or DIR/<type>.csv (appended to sb). */
void ds_writer_dir_file(ds_strbuf *sb, const char *dir, const char *type, ds_outfmt fmt);

/* Same, on streams the caller owns (tests, embedding): records go to
 * main_out, side text lines to side_out (NULL: dropped).  Neither stream
 * is closed by ds_writer_close, only flushed. */
ds_err ds_writer_open_stream(ds_writer **out, ds_outfmt fmt, FILE *main_out, FILE *side_out,
                             const char *primary_type, ds_errbuf *eb);

/* Flush and close everything, free w.  DS_ERR_IO (with a sentence in eb)
 * when any write since opening failed. */
ds_err ds_writer_close(ds_writer *w, ds_errbuf *eb);

ds_outfmt ds_writer_format(const ds_writer *w);
/* True once a write has failed. */
bool ds_writer_failed(const ds_writer *w);

/* Write a block of free text to the main output atomically (table
 * format only; DS_ERR_ARG otherwise). */
ds_err ds_writer_text(ds_writer *w, const char *text, size_t len);

/* A record under construction.  Treat the members as private. */
typedef enum ds_rec_route {
    DS_ROUTE_MAIN = 0,  /* the main output (or DIR/<type>.*) */
    DS_ROUTE_SIDE,      /* a text line on stderr */
    DS_ROUTE_DROP,      /* not representable in this format: left out */
} ds_rec_route;

typedef struct ds_rec {
    ds_writer *w;
    char type[DS_REC_NAME_MAX + 1];
    ds_rec_route route;
    ds_outfmt fmt;
    unsigned nfields;
    bool bad;            /* an invalid name was used: ds_rec_end refuses */
    ds_strbuf line;      /* the encoded record */
    ds_strbuf names;     /* field names, comma-separated */
    ds_strbuf tmp;       /* scratch for one CSV value */
} ds_rec;

void ds_rec_init(ds_rec *r);
void ds_rec_free(ds_rec *r);

/* Start a record of `type` ([A-Za-z0-9_], at most DS_REC_NAME_MAX
 * characters); adds the "type" field.  Field names follow the same rule. */
void ds_rec_begin(ds_rec *r, ds_writer *w, const char *type);

void ds_rec_str(ds_rec *r, const char *name, const char *s);            /* NULL -> null */
void ds_rec_bytes(ds_rec *r, const char *name, const void *p, size_t n); /* NULL -> null */
void ds_rec_u64(ds_rec *r, const char *name, uint64_t v);
void ds_rec_i64(ds_rec *r, const char *name, int64_t v);
void ds_rec_hex(ds_rec *r, const char *name, uint64_t v);
void ds_rec_bool(ds_rec *r, const char *name, bool v);
void ds_rec_null(ds_rec *r, const char *name);
void ds_rec_time(ds_rec *r, const char *name, int64_t filetime);
void ds_rec_fixed(ds_rec *r, const char *name, int64_t value, unsigned decimals);
void ds_rec_hex_array(ds_rec *r, const char *name, const uint64_t *v, size_t n);
void ds_rec_str_array(ds_rec *r, const char *name, const char *const *v, size_t n);

/* An array of flat objects, all with the same members: NDJSON writes
 * [{"m1":v,...},...]; CSV and side lines write one cell with the objects
 * joined by ';' and each object's values joined by ' ' (null as '-').
 * objs holds nobj * nmembers values, object by object. */
typedef enum ds_member_kind {
    DS_MEMBER_NULL = 0,
    DS_MEMBER_U64,
    DS_MEMBER_HEX,
    DS_MEMBER_STR,      /* s; NULL -> null */
} ds_member_kind;

typedef struct ds_member {
    const char *name;
    ds_member_kind kind;
    uint64_t u;
    const char *s;
} ds_member;

void ds_rec_obj_array(ds_rec *r, const char *name, const ds_member *objs, size_t nmembers,
                      size_t nobj);

/* Write the record (or route/drop it, see above).  DS_OK, DS_ERR_IO (a
 * write failed, now or earlier), DS_ERR_NOMEM (record too large), or
 * DS_ERR_ARG (invalid name, field list differs from the type's first
 * record, too many types).  r keeps its buffers for the next record. */
ds_err ds_rec_end(ds_rec *r);

/* Encoding helpers, exposed for tests and for table text. */
void ds_json_string(ds_strbuf *sb, const void *p, size_t n);  /* with quotes */
void ds_csv_field(ds_strbuf *sb, const void *p, size_t n);    /* quoted if needed */
void ds_fixed_decimal(ds_strbuf *sb, int64_t value, unsigned decimals);
/* Text safe for one line of a terminal: UTF-8 sanitised as above, control
 * characters as \n, \t, \u00XX (the form side lines use). */
void ds_text_line(ds_strbuf *sb, const void *p, size_t n);

/* ---- batches and flushing (bulk mode) ----------------------------------
 * A batch holds finished records (and table text) encoded but not yet
 * written, so a thread can build all records of one dump without the
 * writer lock and write them later in one locked section: records of
 * different dumps never interleave, and a caller may hold batches back to
 * write them in input order.  Routing (main, side line, dropped) is
 * decided when the record is finished, exactly as for ds_rec_end; the
 * field-list check happens when the batch is written.  A batch belongs
 * to one thread at a time. */
typedef struct ds_batch ds_batch;

#define DS_BATCH_MAX ((size_t)1 << 30) /* bytes one batch may hold */

ds_batch *ds_batch_new(void);          /* NULL when out of memory */
void ds_batch_free(ds_batch *b);       /* NULL-safe */
void ds_batch_clear(ds_batch *b);      /* empty it, keep the allocation */
size_t ds_batch_bytes(const ds_batch *b);  /* memory it holds */
size_t ds_batch_count(const ds_batch *b);  /* entries in it */

/* Finish r as ds_rec_end does, but append it to b instead of writing.
 * DS_ERR_ARG (invalid name), DS_ERR_NOMEM (record or batch too large). */
ds_err ds_rec_end_batch(ds_rec *r, ds_batch *b);

/* Append a block of table text (table format only, else DS_ERR_ARG). */
ds_err ds_batch_text(ds_batch *b, const ds_writer *w, const char *text, size_t len);

/* Write every entry of b, in order, under one hold of the writer lock.
 * Errors as ds_rec_end (the first one stops the batch).  b is unchanged. */
ds_err ds_writer_write_batch(ds_writer *w, const ds_batch *b);

/* fflush every output stream; with sync also fsync them (streams that
 * cannot be synced, such as pipes and terminals, are skipped).  A failure
 * is sticky like any write failure: DS_ERR_IO. */
ds_err ds_writer_flush(ds_writer *w, bool sync);

#endif
