/* strbuf.c - growable bounded byte buffer; see strbuf.h. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ds_sb_init(ds_strbuf *sb)
{
    sb->p = NULL;
    sb->len = 0;
    sb->cap = 0;
    sb->failed = false;
}

void ds_sb_free(ds_strbuf *sb)
{
    free(sb->p);
    ds_sb_init(sb);
}

void ds_sb_clear(ds_strbuf *sb)
{
    sb->len = 0;
    sb->failed = false;
    if (sb->p)
        sb->p[0] = '\0';
}

/* Make room for `extra` more bytes plus the NUL; false when that would
 * pass DS_STRBUF_MAX or memory runs out (then the buffer is marked). */
static bool sb_reserve(ds_strbuf *sb, size_t extra)
{
    if (sb->failed)
        return false;
    if (extra > DS_STRBUF_MAX || sb->len + extra + 1 > DS_STRBUF_MAX) {
        sb->failed = true;
        return false;
    }
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap)
        return true;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < need)
        cap *= 2;
    if (cap > DS_STRBUF_MAX)
        cap = DS_STRBUF_MAX;
    char *p = realloc(sb->p, cap);
    if (!p) {
        sb->failed = true;
        return false;
    }
    sb->p = p;
    sb->cap = cap;
    return true;
}

void ds_sb_add_slow(ds_strbuf *sb, const void *data, size_t n)
{
    if (!sb_reserve(sb, n))
        return;
    if (n)
        memcpy(sb->p + sb->len, data, n);
    sb->len += n;
    sb->p[sb->len] = '\0';
}

void ds_sb_add(ds_strbuf *sb, const void *data, size_t n)
{
    if (sb->len + n + 1 <= sb->cap && !sb->failed) {
        memcpy(sb->p + sb->len, data, n);
        sb->len += n;
        sb->p[sb->len] = '\0';
        return;
    }
    ds_sb_add_slow(sb, data, n);
}

void ds_sb_adds(ds_strbuf *sb, const char *s)
{
    ds_sb_add(sb, s, strlen(s));
}

void ds_sb_printf(ds_strbuf *sb, const char *fmt, ...)
{
    char small[256];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        sb->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        ds_sb_add(sb, small, (size_t)n);
        return;
    }
    /* Longer than the stack buffer: format straight into the buffer. */
    if (!sb_reserve(sb, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

const char *ds_sb_str(const ds_strbuf *sb)
{
    return sb->p ? sb->p : "";
}
