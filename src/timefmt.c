/* timefmt.c - FILETIME and uptime formatting; see timefmt.h.
 *
 * Date conversion uses the days-to-civil algorithm for the proleptic
 * Gregorian calendar (eras of 400 years = 146097 days), which is exact
 * for any day count and needs no tables. */
#include "timefmt.h"

#include <stdio.h>

#define TICKS_PER_SECOND 10000000LL
#define SECONDS_PER_DAY 86400LL
#define DAYS_1601_TO_1970 134774LL

/* Days since 1970-01-01 -> year/month/day (proleptic Gregorian). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;                                /* shift epoch to 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;             /* day of era, 0..146096 */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;           /* March-based month 0..11 */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

bool ds_filetime_civil(int64_t ft, ds_civil *out)
{
    if (ft <= 0)
        return false;
    int64_t secs = ft / TICKS_PER_SECOND;
    int64_t days1601 = secs / SECONDS_PER_DAY;
    int64_t sod = secs % SECONDS_PER_DAY;
    int64_t days1970 = days1601 - DAYS_1601_TO_1970;

    civil_from_days(days1970, &out->year, &out->month, &out->day);
    out->hour = (int)(sod / 3600);
    out->minute = (int)(sod / 60 % 60);
    out->second = (int)(sod % 60);
    out->ticks = (int)(ft % TICKS_PER_SECOND);
    /* 1601-01-01 was a Monday. */
    out->weekday = (int)((days1601 + 1) % 7);
    return true;
}

bool ds_time_iso(int64_t ft, char out[DS_TIME_ISO_LEN])
{
    ds_civil c;
    out[0] = '\0';
    if (!ds_filetime_civil(ft, &c))
        return false;
    snprintf(out, DS_TIME_ISO_LEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%06dZ",
             (long long)c.year, c.month, c.day, c.hour, c.minute, c.second,
             c.ticks / 10);
    return true;
}

bool ds_time_windbg(int64_t ft, char *out, size_t cap)
{
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    ds_civil c;
    if (cap)
        out[0] = '\0';
    if (!ds_filetime_civil(ft, &c))
        return false;
    snprintf(out, cap, "%s %s %2d %02d:%02d:%02d.%03d %lld", wd[c.weekday],
             mon[c.month - 1], c.day, c.hour, c.minute, c.second, c.ticks / 10000,
             (long long)c.year);
    return true;
}

bool ds_uptime_windbg(int64_t t100ns, char *out, size_t cap)
{
    if (cap)
        out[0] = '\0';
    if (t100ns < 0)
        return false;
    int64_t secs = t100ns / TICKS_PER_SECOND;
    int ms = (int)(t100ns % TICKS_PER_SECOND / 10000);
    snprintf(out, cap, "%lld days %lld:%02lld:%02lld.%03d", (long long)(secs / SECONDS_PER_DAY),
             (long long)(secs % SECONDS_PER_DAY / 3600), (long long)(secs / 60 % 60),
             (long long)(secs % 60), ms);
    return true;
}
