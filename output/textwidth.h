/* textwidth.h - terminal columns of UTF-8 text, for the table format.
 *
 * printf's %-16s pads by bytes, so a name with é or 中 shifts its row.
 * These count display columns instead: one per code point, two for East
 * Asian wide and fullwidth characters and emoji, none for combining marks
 * and continuation bytes.  Invalid bytes count one column each (the
 * writer has already escaped what is not valid UTF-8). */
#ifndef DS_TEXTWIDTH_H
#define DS_TEXTWIDTH_H

#include <stddef.h>

#include "strbuf.h"

/* Display columns of s (NUL-terminated UTF-8). */
size_t ds_text_width(const char *s);

/* Append s cut to at most width columns (never inside a character), then
 * spaces up to width when left-aligned. */
void ds_sb_pad(ds_strbuf *sb, const char *s, size_t width);

#endif
