/* timefmt.h - Windows time values to text.
 *
 * A FILETIME counts 100 ns ticks since 1601-01-01 00:00:00 UTC.  It is
 * split into a civil date with integer arithmetic only (no gmtime, no
 * time_t range limits, no locale), so every value from 1 to INT64_MAX
 * formats the same way on every machine.  Fractions are truncated, never
 * rounded, so a printed time never lies in the future of the real one.
 *
 *   ds_time_iso     2020-01-16T01:12:59.880135Z      (records; microseconds)
 *   ds_time_windbg  Thu Jan 16 01:12:59.880 2020     (table; milliseconds)
 *   ds_uptime_windbg 0 days 0:00:04.126              (table; milliseconds)
 *
 * A FILETIME <= 0 means "unknown" in dump headers: the formatters return
 * false and write "" so callers emit null. */
#ifndef DS_TIMEFMT_H
#define DS_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DS_FILETIME_UNIX_EPOCH 116444736000000000LL /* 1970-01-01 as FILETIME */
#define DS_TIME_ISO_LEN 32   /* room for a 5-digit year + NUL */
#define DS_TIME_TEXT_LEN 48

typedef struct ds_civil {
    int64_t year;
    int month, day;          /* 1..12, 1..31 */
    int hour, minute, second;
    int ticks;               /* 100 ns units within the second, 0..9999999 */
    int weekday;             /* 0 = Sunday */
} ds_civil;

/* Split a FILETIME (> 0) into UTC calendar fields; false when ft <= 0. */
bool ds_filetime_civil(int64_t ft, ds_civil *out);

/* ISO-8601 UTC with microseconds into out[DS_TIME_ISO_LEN]. */
bool ds_time_iso(int64_t ft, char out[DS_TIME_ISO_LEN]);

/* WinDbg "Debug session time" style, e.g. "Thu Jan 16 01:12:59.880 2020". */
bool ds_time_windbg(int64_t ft, char *out, size_t cap);

/* WinDbg "System Uptime" style from 100 ns units: "D days H:MM:SS.mmm";
 * false (and "") when t100ns < 0. */
bool ds_uptime_windbg(int64_t t100ns, char *out, size_t cap);

#endif
