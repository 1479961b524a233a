/* textwidth.c - display columns of UTF-8 text (see textwidth.h).  A small
 * table of wide and zero-width ranges instead of the C library's wcwidth,
 * which depends on the process locale. */
#include "textwidth.h"

#include <stdint.h>
#include <string.h>

/* Decode one UTF-8 character at s (n bytes left); returns its length and
 * the code point in *cp (the byte itself for an invalid sequence). */
static size_t next_cp(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3
                   : (s[0] >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n) {
        *cp = s[0];
        return 1;
    }
    uint32_t v = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (unsigned i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = s[0];
            return 1;
        }
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

static unsigned cp_width(uint32_t c)
{
    if ((c >= 0x300 && c <= 0x36f) || (c >= 0x200b && c <= 0x200f) || c == 0xfeff ||
        (c >= 0xfe00 && c <= 0xfe0f))
        return 0; /* combining marks, zero-width spaces, variation selectors */
    if ((c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf && c != 0x303f) ||
        (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) ||
        (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff60) ||
        (c >= 0xffe0 && c <= 0xffe6) || (c >= 0x1f300 && c <= 0x1f64f) ||
        (c >= 0x1f900 && c <= 0x1f9ff) || (c >= 0x20000 && c <= 0x3fffd))
        return 2;
    return 1;
}

size_t ds_text_width(const char *s)
{
    size_t w = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += next_cp((const unsigned char *)s + i, n - i, &cp);
        w += cp_width(cp);
    }
    return w;
}

void ds_sb_pad(ds_strbuf *sb, const char *s, size_t width)
{
    size_t w = 0, n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        size_t len = next_cp((const unsigned char *)s + i, n - i, &cp);
        unsigned cw = cp_width(cp);
        if (w + cw > width)
            break;
        ds_sb_add(sb, s + i, len);
        w += cw;
        i += len;
    }
    for (; w < width; w++)
        ds_sb_addc(sb, ' ');
}
