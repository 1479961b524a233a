/* test_timefmt.c - FILETIME / uptime formatting (src/timefmt.c) and the
 * bug check name table (src/bugcheck.c).
 *
 * Known vectors come from the real dumps (SystemTime 132236107798801352 of
 * 011620-8250-01.dmp and the system_uptime_100ns values of all four);
 * the calendar conversion is also checked against glibc's gmtime_r on a
 * spread of values, an implementation that shares no code with ours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "bugcheck.h"
#include "timefmt.h"

static void test_iso_known_vectors(void **state)
{
    (void)state;
    char b[DS_TIME_ISO_LEN];
    assert_true(ds_time_iso(132236107798801352LL, b));
    assert_string_equal(b, "2020-01-16T01:12:59.880135Z");
    assert_true(ds_time_iso(1, b));
    assert_string_equal(b, "1601-01-01T00:00:00.000000Z");
    assert_true(ds_time_iso(DS_FILETIME_UNIX_EPOCH, b));
    assert_string_equal(b, "1970-01-01T00:00:00.000000Z");
    assert_true(ds_time_iso(DS_FILETIME_UNIX_EPOCH - 1, b));
    assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
    /* 2000-02-29 12:00:00.0000019 (leap day, sub-microsecond truncated) */
    assert_true(ds_time_iso(DS_FILETIME_UNIX_EPOCH + 951825600LL * 10000000 + 19, b));
    assert_string_equal(b, "2000-02-29T12:00:00.000001Z");
    /* the largest FILETIME */
    assert_true(ds_time_iso(INT64_MAX, b));
    assert_string_equal(b, "30828-09-14T02:48:05.477580Z");
}

static void test_unknown_times_are_null(void **state)
{
    (void)state;
    char b[DS_TIME_ISO_LEN] = "junk";
    char t[DS_TIME_TEXT_LEN] = "junk";
    assert_false(ds_time_iso(0, b));
    assert_string_equal(b, "");
    assert_false(ds_time_iso(-1, b));
    assert_false(ds_time_iso(INT64_MIN, b));
    assert_false(ds_time_windbg(0, t, sizeof(t)));
    assert_string_equal(t, "");
    assert_false(ds_uptime_windbg(-1, t, sizeof(t)));
    assert_string_equal(t, "");
}

/* Compare the calendar split with gmtime_r for many FILETIMEs from 1601
 * to 2400 (glibc handles negative time_t). */
static void test_civil_matches_gmtime(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    const int64_t span = (int64_t)(2400 - 1601) * 36525 / 100 * 86400 * 10000000LL;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int64_t ft = 1 + (int64_t)(x % (uint64_t)span);
        ds_civil c;
        assert_true(ds_filetime_civil(ft, &c));
        int64_t rel = ft - DS_FILETIME_UNIX_EPOCH;
        /* floor division: times before 1970 round toward the past */
        time_t secs = (time_t)(rel >= 0 ? rel / 10000000 : -((-rel + 9999999) / 10000000));
        struct tm tm;
        assert_non_null(gmtime_r(&secs, &tm));
        assert_int_equal(c.year, tm.tm_year + 1900);
        assert_int_equal(c.month, tm.tm_mon + 1);
        assert_int_equal(c.day, tm.tm_mday);
        assert_int_equal(c.hour, tm.tm_hour);
        assert_int_equal(c.minute, tm.tm_min);
        assert_int_equal(c.second, tm.tm_sec);
        assert_int_equal(c.weekday, tm.tm_wday);
        assert_int_equal(c.ticks, (int)(ft % 10000000));
    }
}

static void test_windbg_time(void **state)
{
    (void)state;
    char t[DS_TIME_TEXT_LEN];
    assert_true(ds_time_windbg(132236107798801352LL, t, sizeof(t)));
    assert_string_equal(t, "Thu Jan 16 01:12:59.880 2020");
    /* 2024-04-01 10:58:54.505245 (040124-5218-01.dmp): single-digit day */
    assert_true(ds_time_windbg(DS_FILETIME_UNIX_EPOCH + 1711969134LL * 10000000 + 5052450, t,
                               sizeof(t)));
    assert_string_equal(t, "Mon Apr  1 10:58:54.505 2024");
}

static void test_uptime(void **state)
{
    (void)state;
    struct { int64_t t; const char *want; } v[] = {
        {41266745, "0 days 0:00:04.126"},           /* 011620-8250-01.dmp */
        {25873845877, "0 days 0:43:07.384"},        /* 033124-5078-01.dmp */
        {417661652862, "0 days 11:36:06.165"},      /* 040124-5218-01.dmp */
        {238299448395, "0 days 6:37:09.944"},       /* 040124-5515-01.dmp */
        {0, "0 days 0:00:00.000"},
        {864000000000, "1 days 0:00:00.000"},
        {864000000000 * 3 + 36000000000 * 5 + 9999, "3 days 5:00:00.000"},
        {864000000000 - 1, "0 days 23:59:59.999"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char t[DS_TIME_TEXT_LEN];
        assert_true(ds_uptime_windbg(v[i].t, t, sizeof(t)));
        assert_string_equal(t, v[i].want);
    }
}

static void test_bugcheck_known_names(void **state)
{
    (void)state;
    struct { uint32_t c; const char *n; } v[] = {
        {0x0A, "IRQL_NOT_LESS_OR_EQUAL"},
        {0x1A, "MEMORY_MANAGEMENT"},
        {0x3B, "SYSTEM_SERVICE_EXCEPTION"},
        {0x50, "PAGE_FAULT_IN_NONPAGED_AREA"},
        {0x7E, "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED"},
        {0x1000007E, "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M"},
        {0xD1, "DRIVER_IRQL_NOT_LESS_OR_EQUAL"},
        {0x133, "DPC_WATCHDOG_VIOLATION"},
        {0x1C7, "STORE_DATA_STRUCTURE_CORRUPTION"},
        {0xEF, "CRITICAL_PROCESS_DIED"},
        {0x139, "KERNEL_SECURITY_CHECK_FAILURE"},
        {0x9F, "DRIVER_POWER_STATE_FAILURE"},
        {0x124, "WHEA_UNCORRECTABLE_ERROR"},
        {0xE2, "MANUALLY_INITIATED_CRASH"},
        {0xDEADDEAD, "MANUALLY_INITIATED_CRASH1"},
        {0x161, "LIVE_SYSTEM_DUMP"},
        {0x01, "APC_INDEX_MISMATCH"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *n = ds_bugcheck_name(v[i].c);
        assert_non_null(n);
        assert_string_equal(n, v[i].n);
    }
    assert_null(ds_bugcheck_name(0));
    assert_null(ds_bugcheck_name(0x71));        /* gap in the numbering */
    assert_null(ds_bugcheck_name(0x10000133));  /* no _M variant defined */
    assert_null(ds_bugcheck_name(0xffffffff));
    assert_true(ds_bugcheck_count() >= 150);
}

/* Table invariants: strictly sorted (binary search depends on it), every
 * row found by its own code, names upper-case identifiers, and each _M
 * row is its base code | 0x10000000 with the base name + "_M". */
static void test_bugcheck_table_invariants(void **state)
{
    (void)state;
    uint32_t prev = 0, code;
    const char *name;
    size_t n = ds_bugcheck_count();
    for (size_t i = 0; i < n; i++) {
        assert_true(ds_bugcheck_row(i, &code, &name));
        if (i)
            assert_true(code > prev);
        prev = code;
        assert_ptr_equal(ds_bugcheck_name(code), name);
        for (const char *p = name; *p; p++)
            assert_true((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_');
        size_t len = strlen(name);
        if (len > 2 && strcmp(name + len - 2, "_M") == 0) {
            assert_int_equal(code & 0xf0000000u, 0x10000000u);
            const char *base = ds_bugcheck_name(code & 0x0fffffffu);
            assert_non_null(base);
            assert_int_equal(strlen(base), len - 2);
            assert_memory_equal(base, name, len - 2);
        }
    }
    assert_false(ds_bugcheck_row(n, &code, &name));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso_known_vectors),
        cmocka_unit_test(test_unknown_times_are_null),
        cmocka_unit_test(test_civil_matches_gmtime),
        cmocka_unit_test(test_windbg_time),
        cmocka_unit_test(test_uptime),
        cmocka_unit_test(test_bugcheck_known_names),
        cmocka_unit_test(test_bugcheck_table_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
