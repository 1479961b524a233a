/* dserr.c - names and descriptions of ds_err codes, and ds_fail(), the
 * one helper through which library code reports a reason. */
#include "dserr.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const err_names[] = {
    [DS_OK] = "ok",
    [DS_ERR_IO] = "io",
    [DS_ERR_NOMEM] = "nomem",
    [DS_ERR_FORMAT] = "unknown_format",
    [DS_ERR_TRUNCATED] = "truncated",
    [DS_ERR_CORRUPT] = "corrupt",
    [DS_ERR_UNSUPPORTED] = "unsupported",
    [DS_ERR_NOT_PRESENT] = "not_present",
    [DS_ERR_RANGE] = "range",
    [DS_ERR_ARG] = "bad_argument",
    [DS_ERR_NOT_FOUND] = "not_found",
    [DS_ERR_ISDIR] = "is_directory",
    [DS_ERR_EMPTY] = "empty",
    [DS_ERR_LOOP] = "loop",
    [DS_ERR_CANCELLED] = "cancelled",
};

static const char *const err_text[] = {
    [DS_OK] = "success",
    [DS_ERR_IO] = "input/output error",
    [DS_ERR_NOMEM] = "out of memory or size limit exceeded",
    [DS_ERR_FORMAT] = "not a recognised Windows dump or memory image",
    [DS_ERR_TRUNCATED] = "file is truncated",
    [DS_ERR_CORRUPT] = "corrupt or inconsistent structure",
    [DS_ERR_UNSUPPORTED] = "unsupported dump variant",
    [DS_ERR_NOT_PRESENT] = "page not present in dump",
    [DS_ERR_RANGE] = "address out of range",
    [DS_ERR_ARG] = "invalid argument",
    [DS_ERR_NOT_FOUND] = "structure not found",
    [DS_ERR_ISDIR] = "is a directory",
    [DS_ERR_EMPTY] = "file is empty",
    [DS_ERR_LOOP] = "list walk exceeded its bound",
    [DS_ERR_CANCELLED] = "stopped on request",
};

#define NCODES (sizeof(err_names) / sizeof(err_names[0]))

const char *ds_err_name(ds_err e)
{
    if ((unsigned)e >= NCODES || !err_names[e])
        return "error";
    return err_names[e];
}

const char *ds_strerror(ds_err e)
{
    if ((unsigned)e >= NCODES || !err_text[e])
        return "unknown error";
    return err_text[e];
}

ds_err ds_fail(ds_errbuf *eb, ds_err e, const char *fmt, ...)
{
    if (eb) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
        va_end(ap);
    }
    return e;
}
