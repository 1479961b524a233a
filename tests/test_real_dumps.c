/* test_real_dumps.c - the real Windows triage minidumps against the values
 * an independent reader wrote to $DUMPSCAN_SHARED/dumps/real/expected.ndjson.
 *
 * For each line of expected.ndjson the dump is opened with ds_dump_open()
 * and every fact the line carries is compared: header fields, DumpType,
 * times, triage offsets, the crashing process and thread, and every driver
 * (name, base, size) in list order.  The NDJSON is read with a small
 * scanner (find "key": inside a region of the line, then read a number, a
 * "0x..." string or a JSON string with escapes) - enough for this file's
 * flat shape, no JSON library needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"

/* A [p, end) slice of the line. */
typedef struct span {
    const char *p, *end;
} span;

/* Value start after "key": inside s, or NULL. */
static const char *find_key(span s, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    size_t n = strlen(pat);
    for (const char *q = s.p; q + n <= s.end; q++) {
        if (memcmp(q, pat, n) == 0) {
            q += n;
            while (q < s.end && *q == ' ')
                q++;
            return q;
        }
    }
    return NULL;
}

static const char *need_key(span s, const char *key)
{
    const char *v = find_key(s, key);
    if (!v)
        fail_msg("expected.ndjson: key \"%s\" missing", key);
    return v;
}

/* Number: plain decimal, or a quoted "0x..." hex string. */
static uint64_t num_at(const char *v)
{
    if (*v == '"')
        return strtoull(v + 1, NULL, 16);
    return (uint64_t)strtoll(v, NULL, 10);
}

static uint64_t key_num(span s, const char *key)
{
    return num_at(need_key(s, key));
}

static size_t put_utf8(char *out, size_t pos, size_t cap, uint32_t cp)
{
    char t[4];
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1) {
        t[0] = (char)cp;
    } else if (n == 2) {
        t[0] = (char)(0xc0 | cp >> 6);
        t[1] = (char)(0x80 | (cp & 0x3f));
    } else if (n == 3) {
        t[0] = (char)(0xe0 | cp >> 12);
        t[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        t[2] = (char)(0x80 | (cp & 0x3f));
    } else {
        t[0] = (char)(0xf0 | cp >> 18);
        t[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        t[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        t[3] = (char)(0x80 | (cp & 0x3f));
    }
    if (pos + n >= cap)
        fail_msg("expected.ndjson: string too long");
    memcpy(out + pos, t, n);
    return pos + n;
}

/* JSON string at v (pointing at the opening quote) into out; returns the
 * position after the closing quote. */
static const char *str_at(const char *v, char *out, size_t cap)
{
    size_t pos = 0;
    assert_int_equal(*v, '"');
    for (v++; *v && *v != '"'; v++) {
        if (*v != '\\') {
            if (pos + 1 >= cap)
                fail_msg("expected.ndjson: string too long");
            out[pos++] = *v;
            continue;
        }
        v++;
        switch (*v) {
        case 'n': out[pos++] = '\n'; break;
        case 't': out[pos++] = '\t'; break;
        case 'u': {
            uint32_t cp = (uint32_t)strtoul((char[5]){ v[1], v[2], v[3], v[4], 0 }, NULL, 16);
            v += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && v[1] == '\\' && v[2] == 'u') {
                uint32_t lo = (uint32_t)strtoul((char[5]){ v[3], v[4], v[5], v[6], 0 }, NULL, 16);
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                v += 6;
            }
            pos = put_utf8(out, pos, cap, cp);
            break;
        }
        default: out[pos++] = *v; break; /* \" \\ \/ */
        }
    }
    assert_int_equal(*v, '"');
    out[pos] = '\0';
    return v + 1;
}

/* The {...} object that follows "key": inside s. */
static span object_span(span s, const char *key)
{
    const char *v = need_key(s, key);
    assert_int_equal(*v, '{');
    const char *e = memchr(v, '}', (size_t)(s.end - v));
    assert_non_null(e);
    return (span){ v, e };
}

/* "2020-01-16T01:12:59.880135Z" -> FILETIME (100 ns since 1601). */
static int64_t iso_to_filetime(const char *iso)
{
    int y, mo, d, h, mi, s;
    long us;
    if (sscanf(iso, "%d-%d-%dT%d:%d:%d.%6ldZ", &y, &mo, &d, &h, &mi, &s, &us) != 7)
        fail_msg("bad time '%s'", iso);
    /* days from 1970-01-01 (Howard Hinnant's days_from_civil) */
    int yy = mo <= 2 ? y - 1 : y;
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + s;
    return (secs + 11644473600ll) * 10000000ll + us * 10;
}

#define CHECK_U(field, got, want)                                                        \
    do {                                                                                 \
        uint64_t g_ = (uint64_t)(got), w_ = (uint64_t)(want);                            \
        if (g_ != w_)                                                                    \
            fail_msg("%s: %s = 0x%llx, expected 0x%llx", file, field,                    \
                     (unsigned long long)g_, (unsigned long long)w_);                    \
    } while (0)

#define CHECK_S(field, got, want)                                                        \
    do {                                                                                 \
        if (strcmp((got), (want)) != 0)                                                  \
            fail_msg("%s: %s = '%s', expected '%s'", file, field, (got), (want));        \
    } while (0)

static void check_drivers(const char *file, const ds_triage *t, span line)
{
    const char *v = need_key(line, "drivers");
    assert_int_equal(*v, '[');
    uint32_t i = 0;
    char name[1024];
    for (;;) {
        const char *o = strchr(v, '{');
        const char *close = strchr(v, ']');
        if (!o || (close && close < o))
            break;
        /* the name may itself hold '{' or '}': read it first, then the
         * object ends at the first '}' after it */
        const char *after = str_at(need_key((span){ o, line.end }, "name"), name, sizeof(name));
        const char *oe = strchr(after, '}');
        assert_non_null(oe);
        span obj = { after, oe };
        if (i >= t->ndrivers)
            fail_msg("%s: only %u drivers parsed, expected more", file, t->ndrivers);
        CHECK_S("driver name", t->drivers[i].name, name);
        CHECK_U("driver base", t->drivers[i].base, key_num(obj, "base"));
        CHECK_U("driver size", t->drivers[i].size, key_num(obj, "size"));
        i++;
        v = oe + 1;
    }
    CHECK_U("driver count", t->ndrivers, i);
    assert_true(i > 0);
}

static void check_one(const char *dir, const char *line_text)
{
    span line = { line_text, line_text + strlen(line_text) };
    char file[256], path[PATH_MAX + 300], buf[128];
    str_at(need_key(line, "file"), file, sizeof(file));
    snprintf(path, sizeof(path), "%s/%s", dir, file);

    ds_dump *d = NULL;
    ds_errbuf eb = { "" };
    ds_err e = ds_dump_open(&d, path, NULL, &eb);
    if (e != DS_OK)
        fail_msg("%s: open failed: %s (%s)", file, ds_err_name(e), eb.msg);

    const char *tri = strstr(line_text, "\"triage\":");
    span top = { line_text, tri ? tri : line.end };
    CHECK_U("size", d->file.size, key_num(top, "size"));
    str_at(need_key(top, "signature"), buf, sizeof(buf));
    CHECK_S("signature", d->format_name, buf);
    CHECK_U("major", d->major_version, key_num(top, "major"));
    CHECK_U("build", d->build, key_num(top, "build"));
    CHECK_U("dtb", d->dtb, key_num(top, "dtb"));
    CHECK_U("ps_loaded_module_list", d->ps_loaded_module_list,
            key_num(top, "ps_loaded_module_list"));
    CHECK_U("ps_active_process_head", d->ps_active_process_head,
            key_num(top, "ps_active_process_head"));
    CHECK_U("machine", d->machine, key_num(top, "machine"));
    CHECK_U("processors", d->processors, key_num(top, "processors"));
    assert_true(d->has_bugcheck);
    CHECK_U("bugcheck_code", d->bugcheck_code, key_num(top, "bugcheck_code"));
    const char *p = need_key(top, "bugcheck_params");
    for (int i = 0; i < 4; i++) {
        p = strchr(p, '"');
        assert_non_null(p);
        CHECK_U("bugcheck_param", d->bugcheck_params[i], num_at(p));
        p = strchr(p + 1, '"') + 1;
    }
    CHECK_U("kd_debugger_data_block", d->kdbg_va, key_num(top, "kd_debugger_data_block"));
    uint64_t dump_type = key_num(top, "dump_type");
    CHECK_U("dump_type", d->dump_type, dump_type);
    CHECK_S("dump_type_name", d->dump_type_name,
            ds_dump_type_name(DS_FMT_CRASH64, (uint32_t)dump_type));
    CHECK_U("required_dump_space", d->required_dump_space,
            key_num(top, "required_dump_space"));
    str_at(need_key(top, "system_time"), buf, sizeof(buf));
    CHECK_U("system_time (us)", d->system_time / 10, iso_to_filetime(buf) / 10);
    CHECK_U("system_uptime_100ns", d->uptime_100ns, key_num(top, "system_uptime_100ns"));
    /* complete files: RequiredDumpSpace above the size must not count */
    CHECK_U("truncated", d->truncated, 0);

    assert_non_null(d->triage);
    const ds_triage *t = d->triage;
    span tr = object_span(line, "triage");
    CHECK_U("ProcessOffset", t->process_offset, key_num(tr, "ProcessOffset"));
    CHECK_U("ThreadOffset", t->thread_offset, key_num(tr, "ThreadOffset"));
    CHECK_U("DriverCount", t->driver_count_declared, key_num(tr, "DriverCount"));
    CHECK_U("SizeOfCallStack", t->size_of_call_stack, key_num(tr, "SizeOfCallStack"));

    span pr = object_span(line, "process");
    assert_true(t->has_process);
    CHECK_U("process.offset", t->process_offset, key_num(pr, "offset"));
    CHECK_U("process.dispatcher_type", t->process_dispatcher_type,
            key_num(pr, "dispatcher_type"));
    CHECK_U("process.pid", t->process_pid, key_num(pr, "pid"));
    CHECK_U("process.ppid", t->process_ppid, key_num(pr, "ppid"));
    str_at(need_key(pr, "name"), buf, sizeof(buf));
    CHECK_S("process.name", t->process_name, buf);

    span th = object_span(line, "thread");
    assert_true(t->has_thread);
    CHECK_U("thread.offset", t->thread_offset, key_num(th, "offset"));
    CHECK_U("thread.dispatcher_type", t->thread_dispatcher_type,
            key_num(th, "dispatcher_type"));
    CHECK_U("thread.pid", t->thread_pid, key_num(th, "pid"));
    CHECK_U("thread.tid", t->thread_tid, key_num(th, "tid"));

    check_drivers(file, t, line);
    /* ntoskrnl is the first driver; the KDBG copy must agree with it */
    CHECK_U("kernel_base", d->kernel_base, t->drivers[0].base);
    ds_dump_close(d);
}

static void test_expected_ndjson(void **state)
{
    (void)state;
    const char *shared = getenv("DUMPSCAN_SHARED");
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (!shared || !*shared)
        fail_msg("DUMPSCAN_SHARED not set (main() checks this first)");
    snprintf(dir, sizeof(dir), "%s/dumps/real", shared);
    snprintf(path, sizeof(path), "%s/expected.ndjson", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s missing (main() checks this first)", path);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        if (line[0] != '{')
            continue;
        check_one(dir, line);
        n++;
    }
    free(line);
    fclose(f);
    assert_true(n >= 1);
}

/* Without ../shared the test cannot run: exit 77 (meson reports SKIP),
 * or fail when $CI is set, where the data must be there. */
int main(void)
{
    const char *shared = getenv("DUMPSCAN_SHARED"), *ci = getenv("CI");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/dumps/real/expected.ndjson", shared ? shared : "");
    if (!shared || !*shared || access(path, R_OK) != 0) {
        fprintf(stderr, "%s not readable: real dumps %s\n", path,
                ci && *ci ? "REQUIRED in CI" : "skipped");
        return ci && *ci ? 1 : 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expected_ndjson),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
