/* dserr.h - error codes returned by every library function of dumpscan.
 *
 * The library never prints: a function returns a ds_err and, where the
 * caller passed one, fills a ds_errbuf with a human sentence naming the
 * reason ("DumpType 0x7 unsupported", "run 3 points past end of file").
 * The CLI turns these into `error` records. */
#ifndef DS_DSERR_H
#define DS_DSERR_H

#include <stddef.h>

typedef enum ds_err {
    DS_OK = 0,
    DS_ERR_IO = 1,          /* open/read/mmap failed (errno-level problem) */
    DS_ERR_NOMEM = 2,       /* allocation failed or a size limit was hit */
    DS_ERR_FORMAT = 3,      /* content is not a format we know */
    DS_ERR_TRUNCATED = 4,   /* the file ends before a structure does */
    DS_ERR_CORRUPT = 5,     /* a header field is out of range / inconsistent */
    DS_ERR_UNSUPPORTED = 6, /* known format, variant we do not handle */
    DS_ERR_NOT_PRESENT = 7, /* page/address not present in the dump */
    DS_ERR_RANGE = 8,       /* address outside the addressable range */
    DS_ERR_ARG = 9,         /* bad argument from the caller */
    DS_ERR_NOT_FOUND = 10,  /* a searched-for structure (DTB, KDBG...) absent */
    DS_ERR_ISDIR = 11,      /* path is a directory */
    DS_ERR_EMPTY = 12,      /* file has zero length */
    DS_ERR_LOOP = 13,       /* a list walk exceeded its bound or looped */
    DS_ERR_CANCELLED = 14,  /* the caller asked to stop (a signal) */
} ds_err;

/* Optional detail sink: library code writes one sentence here. */
typedef struct ds_errbuf {
    char msg[256];
} ds_errbuf;

/* Short stable identifier ("truncated", "corrupt", ...) used in records. */
const char *ds_err_name(ds_err e);
/* Generic English description of the code. */
const char *ds_strerror(ds_err e);
/* printf-style fill of eb (NULL-safe); returns e so callers can
 * `return ds_fail(eb, DS_ERR_CORRUPT, "...", ...);` */
ds_err ds_fail(ds_errbuf *eb, ds_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
