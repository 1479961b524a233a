/* sqlschema.h - the SQLite tables of dumpscan's records, per command.
 *
 * Generated into sqlschema_gen.c by scripts/gen_sql.py from the JSON
 * Schema (docs/schema/records.schema.json), together with
 * docs/schema/records.sql; a meson test fails when either is stale. */
#ifndef DS_SQLSCHEMA_H
#define DS_SQLSCHEMA_H

typedef struct ds_sql_col {
    const char *name;
    char kind; /* 'I' integer, 'B' boolean (0/1), 'H' hex -> integer,
                * 'R' real, 'T' text, 'J' JSON text (arrays) */
} ds_sql_col;

typedef struct ds_sql_table {
    const char *command; /* "info", "scan", "analyze" */
    const char *type;    /* record type = table name */
    const ds_sql_col *cols;
    unsigned ncols;
} ds_sql_table;

extern const char ds_sql_schema_version[];
extern const ds_sql_table ds_sql_tables[];
extern const unsigned ds_sql_ntables;

/* CREATE TABLE / INDEX / VIEW statements of one command (NULL if unknown). */
const char *ds_sql_ddl(const char *command);

#endif
