/* strbuf.h - a growable, bounded byte buffer for building output text.
 *
 * Records and table blocks are assembled in a ds_strbuf and written in
 * one call, so a line never reaches the output half-built.  The buffer
 * grows by doubling up to DS_STRBUF_MAX; past that (or when malloc
 * fails) it stops growing, sets `failed` and drops further appends, so a
 * caller checks once at the end instead of after every append.  The text
 * is always NUL-terminated when p is non-NULL. */
#ifndef DS_OUTPUT_STRBUF_H
#define DS_OUTPUT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#define DS_STRBUF_MAX (64u << 20) /* 64 MiB: no single record is larger */

typedef struct ds_strbuf {
    char *p;       /* NULL until the first append */
    size_t len;    /* bytes used, excluding the terminating NUL */
    size_t cap;    /* bytes allocated */
    bool failed;   /* an append was dropped (out of memory or over the cap) */
} ds_strbuf;

void ds_sb_init(ds_strbuf *sb);
void ds_sb_free(ds_strbuf *sb);
/* Forget the contents but keep the allocation for reuse. */
void ds_sb_clear(ds_strbuf *sb);
void ds_sb_add(ds_strbuf *sb, const void *data, size_t n);
void ds_sb_add_slow(ds_strbuf *sb, const void *data, size_t n);

/* One byte; inline: records are built a character at a time. */
static inline void ds_sb_addc(ds_strbuf *sb, char c)
{
    if (sb->len + 2 <= sb->cap && !sb->failed) {
        sb->p[sb->len++] = c;
        sb->p[sb->len] = '\0';
        return;
    }
    ds_sb_add_slow(sb, &c, 1);
}
void ds_sb_adds(ds_strbuf *sb, const char *s);
void ds_sb_printf(ds_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text so far ("" when nothing was appended). */
const char *ds_sb_str(const ds_strbuf *sb);

#endif
