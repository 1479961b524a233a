/* test_output.c - the record writer (output/writer.c).
 *
 * JSON strings are checked with a small strict JSON-string decoder
 * written here (RFC 8259 grammar, UTF-8 validated), so "valid JSON" is
 * tested by parsing, not by comparing against output this code made.
 * Records go through real streams (tmpfile) and are compared to exact
 * expected text; directory output uses a mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>
#include <cmocka.h>

#include "writer.h"

/* ---- a strict decoder for one JSON string ----------------------------- */

/* Decode one UTF-8 sequence (strict); returns its length or 0. */
static size_t utf8_decode(const uint8_t *p, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    size_t len;
    uint32_t min;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2;
        *cp = p[0] & 0x1f;
        min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3;
        *cp = p[0] & 0x0f;
        min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4;
        *cp = p[0] & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (p[i] & 0x3f);
    }
    if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
        return 0;
    return len;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse a JSON string literal at s[0..n) exactly (quotes included, no
 * trailing bytes).  Fills cps with the code points; returns their count,
 * or -1 when the text is not a valid JSON string. */
static long json_decode_string(const char *s, size_t n, uint32_t *cps, size_t cap)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t i = 1, count = 0;

    if (n < 2 || p[0] != '"' || p[n - 1] != '"')
        return -1;
    while (i < n - 1) {
        uint32_t cp;
        if (p[i] == '\\') {
            if (i + 1 >= n - 1)
                return -1;
            char e = (char)p[i + 1];
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                if (i + 6 > n - 1)
                    return -1;
                cp = 0;
                for (int k = 0; k < 4; k++) {
                    int h = hexval((char)p[i + 2 + k]);
                    if (h < 0)
                        return -1;
                    cp = cp * 16 + (uint32_t)h;
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    return -1; /* the writer never needs surrogate pairs */
                i += 6;
                goto store;
            }
            default: return -1;
            }
            i += 2;
        } else if (p[i] < 0x20 || p[i] == '"') {
            return -1; /* raw control character or unescaped quote */
        } else {
            size_t len = utf8_decode(p + i, n - 1 - i, &cp);
            if (!len)
                return -1;
            i += len;
        }
    store:
        if (count == cap)
            return -1;
        cps[count++] = cp;
    }
    return (long)count;
}

/* ---- JSON string encoding --------------------------------------------- */

/* Every single byte, between two ASCII letters, decodes back to the
 * byte's Latin-1 code point (bytes >= 0x80 alone are never valid UTF-8). */
static void test_json_every_byte(void **state)
{
    (void)state;
    for (int b = 0; b < 256; b++) {
        uint8_t in[3] = {'a', (uint8_t)b, 'z'};
        ds_strbuf sb;
        ds_sb_init(&sb);
        ds_json_string(&sb, in, sizeof(in));
        assert_false(sb.failed);
        uint32_t cps[8];
        long n = json_decode_string(sb.p, sb.len, cps, 8);
        if (n != 3)
            fail_msg("byte 0x%02x -> %s is not a valid 3-character JSON string", b, sb.p);
        assert_int_equal(cps[0], 'a');
        assert_int_equal(cps[1], (uint32_t)b);
        assert_int_equal(cps[2], 'z');
        ds_sb_free(&sb);
    }
}

/* All 256 bytes in one string, plus control characters use the short
 * escapes JSON defines. */
static void test_json_all_bytes_one_string(void **state)
{
    (void)state;
    uint8_t in[256];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    ds_strbuf sb;
    ds_sb_init(&sb);
    ds_json_string(&sb, in, sizeof(in));
    uint32_t cps[300];
    long n = json_decode_string(sb.p, sb.len, cps, 300);
    assert_int_equal(n, 256);
    for (int i = 0; i < 256; i++)
        assert_int_equal(cps[i], (uint32_t)i);
    assert_non_null(strstr(sb.p, "\\n"));
    assert_non_null(strstr(sb.p, "\\t"));
    assert_non_null(strstr(sb.p, "\\u0000"));
    assert_non_null(strstr(sb.p, "\\u001f"));
    assert_non_null(strstr(sb.p, "\\\"")); /* quote */
    assert_non_null(strstr(sb.p, "\\\\")); /* backslash */
    ds_sb_free(&sb);
}

static void expect_json(const char *in, size_t n, const char *want)
{
    ds_strbuf sb;
    ds_sb_init(&sb);
    ds_json_string(&sb, in, n);
    assert_string_equal(sb.p, want);
    uint32_t cps[64];
    assert_true(json_decode_string(sb.p, sb.len, cps, 64) >= 0);
    ds_sb_free(&sb);
}

/* Valid UTF-8 passes through unchanged; each invalid form is escaped
 * byte by byte. */
static void test_json_utf8_rules(void **state)
{
    (void)state;
    expect_json("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"");                  /* U+00E9 */
    expect_json("\xe2\x82\xac", 3, "\"\xe2\x82\xac\"");                /* U+20AC */
    expect_json("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"");        /* U+1F600 */
    expect_json("\xc0\x80", 2, "\"\\u00c0\\u0080\"");                  /* overlong NUL */
    expect_json("\xe0\x80\xaf", 3, "\"\\u00e0\\u0080\\u00af\"");       /* overlong '/' */
    expect_json("\xed\xa0\x80", 3, "\"\\u00ed\\u00a0\\u0080\"");       /* surrogate */
    expect_json("\xf4\x90\x80\x80", 4, "\"\\u00f4\\u0090\\u0080\\u0080\""); /* > U+10FFFF */
    expect_json("\xe2\x82", 2, "\"\\u00e2\\u0082\"");                  /* cut short */
    expect_json("\xe2\x82" "A", 3, "\"\\u00e2\\u0082A\"");             /* cut by ASCII */
    expect_json("Sys\xfftem", 7, "\"Sys\\u00fftem\"");
    expect_json("\x7f", 1, "\"\x7f\"");                                 /* DEL is legal */
}

/* ---- helpers for whole records ---------------------------------------- */

/* mkdtemp under $TMPDIR (or /tmp) into buf. */
static void make_tmpdir(char *buf, size_t cap)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/dumpscan-test-XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(buf));
}

/* Everything written to f so far, as a NUL-terminated heap string. */
static char *slurp(FILE *f)
{
    fflush(f);
    long end = ftell(f);
    assert_true(end >= 0);
    char *s = malloc((size_t)end + 1);
    assert_non_null(s);
    rewind(f);
    size_t got = fread(s, 1, (size_t)end, f);
    assert_int_equal(got, (size_t)end);
    s[end] = '\0';
    return s;
}

static char *slurp_path(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    char *s = slurp(f);
    fclose(f);
    return s;
}

/* One record using every field kind, in a fixed order. */
static ds_err write_sample(ds_writer *w, ds_rec *r, const char *str)
{
    static const uint64_t hx[2] = {0x1, 0xABCDEF};
    static const char *const sa[2] = {"x", "y;z\\"};
    ds_rec_begin(r, w, "sample");
    ds_rec_str(r, "s", str);
    ds_rec_null(r, "n");
    ds_rec_hex(r, "h", 0xFFFFF8044A203000ull);
    ds_rec_u64(r, "u", UINT64_MAX);
    ds_rec_i64(r, "i", -5);
    ds_rec_bool(r, "b", true);
    ds_rec_fixed(r, "f", 41266745, 7);
    ds_rec_time(r, "tm", 132236107798801352LL);
    ds_rec_time(r, "tz", 0);
    ds_rec_hex_array(r, "ha", hx, 2);
    ds_rec_str_array(r, "sa", sa, 2);
    ds_rec_str(r, "sn", NULL);
    return ds_rec_end(r);
}

static void test_ndjson_record_exact(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    ds_writer *w;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, &eb), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    assert_int_equal(write_sample(w, &r, "a\"b\\c\n"), DS_OK);
    assert_int_equal(write_sample(w, &r, ""), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, &eb), DS_OK);
    char *got = slurp(out);
    const char *tail = ",\"n\":null,\"h\":\"0xfffff8044a203000\",\"u\":18446744073709551615,"
                       "\"i\":-5,\"b\":true,\"f\":4.1266745,"
                       "\"tm\":\"2020-01-16T01:12:59.880135Z\",\"tz\":null,"
                       "\"ha\":[\"0x1\",\"0xabcdef\"],\"sa\":[\"x\",\"y;z\\\\\"],\"sn\":null}\n";
    char want[1024];
    snprintf(want, sizeof(want), "{\"type\":\"sample\",\"s\":\"a\\\"b\\\\c\\n\"%s"
             "{\"type\":\"sample\",\"s\":\"\"%s", tail, tail);
    assert_string_equal(got, want);
    free(got);
    fclose(out);
}

static void test_csv_quoting_and_header(void **state)
{
    (void)state;
    FILE *out = tmpfile(), *side = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_CSV, out, side, "sample", NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    assert_int_equal(write_sample(w, &r, "a,b \"q\"\nline2"), DS_OK);
    assert_int_equal(write_sample(w, &r, ""), DS_OK);
    assert_int_equal(write_sample(w, &r, "plain"), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out);
    const char *tail = ",,0xfffff8044a203000,18446744073709551615,-5,true,4.1266745,"
                       "2020-01-16T01:12:59.880135Z,,0x1;0xabcdef,x;y\\;z\\\\,\n";
    char want[1024];
    snprintf(want, sizeof(want),
             "type,s,n,h,u,i,b,f,tm,tz,ha,sa,sn\n"
             "sample,\"a,b \"\"q\"\"\nline2\"%s"
             "sample,\"\"%s"
             "sample,plain%s", tail, tail, tail);
    assert_string_equal(got, want);
    free(got);
    char *s = slurp(side);
    assert_string_equal(s, "");
    free(s);
    fclose(out);
    fclose(side);
}

/* CSV on one stream: the primary type is written, `error` goes to the
 * side stream as a text line, other types are left out. */
static void test_csv_single_stream_routing(void **state)
{
    (void)state;
    FILE *out = tmpfile(), *side = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_CSV, out, side, "dump", NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    ds_rec_begin(&r, w, "error");
    ds_rec_str(&r, "path", "x\ny.dmp");
    ds_rec_null(&r, "nothing");
    ds_rec_str(&r, "error", "empty");
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_begin(&r, w, "driver");
    ds_rec_str(&r, "name", "a.sys");
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_begin(&r, w, "dump");
    ds_rec_u64(&r, "size", 7);
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out), *s = slurp(side);
    assert_string_equal(got, "type,size\ndump,7\n");
    assert_string_equal(s, "dumpscan: error: x\\ny.dmp: empty\n");
    free(got);
    free(s);
    fclose(out);
    fclose(side);
}

/* A later record of a type with another field list is refused and not
 * written; the writer keeps working. */
static void test_field_list_fixed_per_type(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a", 1);
    ds_rec_u64(&r, "b", 2);
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "b", 2);
    ds_rec_u64(&r, "a", 1);
    assert_int_equal(ds_rec_end(&r), DS_ERR_ARG);
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a", 3);
    assert_int_equal(ds_rec_end(&r), DS_ERR_ARG);
    ds_rec_begin(&r, w, "bad name");
    assert_int_equal(ds_rec_end(&r), DS_ERR_ARG);
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a,", 3);
    assert_int_equal(ds_rec_end(&r), DS_ERR_ARG);
    assert_int_equal(ds_rec_end(&r), DS_ERR_ARG); /* end without begin */
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a", 5);
    ds_rec_u64(&r, "b", 6);
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out);
    assert_string_equal(got, "{\"type\":\"t\",\"a\":1,\"b\":2}\n{\"type\":\"t\",\"a\":5,\"b\":6}\n");
    free(got);
    fclose(out);
}

static void test_csv_directory_output(void **state)
{
    (void)state;
    char dir[256];
    make_tmpdir(dir, sizeof(dir));
    ds_writer *w;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_writer_open(&w, DS_OUT_CSV, dir, "dump", NULL, &eb), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    for (int i = 0; i < 2; i++) {
        ds_rec_begin(&r, w, "dump");
        ds_rec_u64(&r, "n", (uint64_t)i);
        assert_int_equal(ds_rec_end(&r), DS_OK);
        ds_rec_begin(&r, w, "driver");
        ds_rec_str(&r, "name", i ? "b,c" : "a");
        ds_rec_hex(&r, "base", 0x10u + (uint64_t)i);
        assert_int_equal(ds_rec_end(&r), DS_OK);
    }
    ds_rec_begin(&r, w, "error");
    ds_rec_str(&r, "path", "p");
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, &eb), DS_OK);

    char p[320];
    const char *names[3] = {"dump", "driver", "error"};
    const char *want[3] = {"type,n\ndump,0\ndump,1\n",
                           "type,name,base\ndriver,a,0x10\ndriver,\"b,c\",0x11\n",
                           "type,path\nerror,p\n"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s.csv", dir, names[i]);
        char *got = slurp_path(p);
        assert_string_equal(got, want[i]);
        free(got);
        unlink(p);
    }
    rmdir(dir);
}

/* ndjson to a path ending in '/' creates the directory. */
static void test_ndjson_directory_created(void **state)
{
    (void)state;
    char base[256];
    make_tmpdir(base, sizeof(base));
    char dir[300], p[320];
    snprintf(dir, sizeof(dir), "%s/out/", base);
    ds_writer *w;
    assert_int_equal(ds_writer_open(&w, DS_OUT_NDJSON, dir, "dump", NULL, NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    ds_rec_begin(&r, w, "dump");
    ds_rec_bool(&r, "ok", false);
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    snprintf(p, sizeof(p), "%sdump.ndjson", dir);
    char *got = slurp_path(p);
    assert_string_equal(got, "{\"type\":\"dump\",\"ok\":false}\n");
    free(got);
    unlink(p);
    rmdir(dir);
    rmdir(base);
}

static void test_table_text_and_errors(void **state)
{
    (void)state;
    FILE *out = tmpfile(), *side = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_TABLE, out, side, "dump", NULL), DS_OK);
    assert_int_equal(ds_writer_text(w, "Dump: x\n", 8), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    ds_rec_begin(&r, w, "dump");
    ds_rec_u64(&r, "n", 1);
    assert_int_equal(ds_rec_end(&r), DS_OK); /* left out in table mode */
    ds_rec_begin(&r, w, "error");
    ds_rec_str(&r, "path", "p");
    ds_rec_str(&r, "message", "bad\tthing");
    assert_int_equal(ds_rec_end(&r), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out), *s = slurp(side);
    assert_string_equal(got, "Dump: x\n");
    assert_string_equal(s, "dumpscan: error: p: bad\\tthing\n");
    free(got);
    free(s);
    fclose(out);
    fclose(side);

    /* table output cannot go to a directory; ndjson has no text blocks */
    char dir[256];
    make_tmpdir(dir, sizeof(dir));
    assert_int_equal(ds_writer_open(&w, DS_OUT_TABLE, dir, "dump", NULL, NULL), DS_ERR_ARG);
    rmdir(dir);
    out = tmpfile();
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, NULL), DS_OK);
    assert_int_equal(ds_writer_text(w, "x", 1), DS_ERR_ARG);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    fclose(out);
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_CSV, stdout, NULL, NULL, NULL), DS_ERR_ARG);
}

/* A full device: the failure is reported (at the latest on close) and
 * stays reported. */
static void test_write_failure_is_sticky(void **state)
{
    (void)state;
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    setvbuf(full, NULL, _IONBF, 0);
    ds_writer *w;
    ds_errbuf eb = {{0}};
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, full, NULL, NULL, NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a", 1);
    assert_int_equal(ds_rec_end(&r), DS_ERR_IO);
    assert_true(ds_writer_failed(w));
    ds_rec_begin(&r, w, "t");
    ds_rec_u64(&r, "a", 2);
    assert_int_equal(ds_rec_end(&r), DS_ERR_IO);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, &eb), DS_ERR_IO);
    assert_non_null(strstr(eb.msg, "failed"));
    fclose(full);

    assert_int_equal(ds_writer_open(&w, DS_OUT_NDJSON, "/nonexistent-dir/x.ndjson", "dump", NULL, &eb),
                     DS_ERR_IO);
    assert_null(w);
}

static void test_fixed_decimal(void **state)
{
    (void)state;
    struct { int64_t v; unsigned d; const char *want; } cases[] = {
        {41266745, 7, "4.1266745"},
        {25873845877, 7, "2587.3845877"},
        {0, 7, "0"},
        {10000000, 7, "1"},
        {10000001, 7, "1.0000001"},
        {12340000, 7, "1.234"},
        {-5, 1, "-0.5"},
        {-15, 1, "-1.5"},
        {42, 0, "42"},
        {INT64_MIN, 0, "-9223372036854775808"},
        {INT64_MAX, 18, "9.223372036854775807"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ds_strbuf sb;
        ds_sb_init(&sb);
        ds_fixed_decimal(&sb, cases[i].v, cases[i].d);
        assert_string_equal(sb.p, cases[i].want);
        ds_sb_free(&sb);
    }
}

/* Many threads writing at once: every line is whole and valid. */
#define NTHREADS 4
#define NRECS 400

static void *writer_thread(void *arg)
{
    void **a = arg;
    ds_writer *w = a[0];
    int id = (int)(intptr_t)a[1];
    char name[128];
    ds_rec r;
    ds_rec_init(&r);
    for (int i = 0; i < NRECS; i++) {
        snprintf(name, sizeof(name), "thread-%d-record-%d-%s", id, i,
                 "padding-padding-padding-padding-padding-padding-padding");
        ds_rec_begin(&r, w, "t");
        ds_rec_u64(&r, "id", (uint64_t)id);
        ds_rec_u64(&r, "i", (uint64_t)i);
        ds_rec_str(&r, "name", name);
        if (ds_rec_end(&r) != DS_OK)
            break;
    }
    ds_rec_free(&r);
    return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, NULL), DS_OK);
    pthread_t th[NTHREADS];
    void *args[NTHREADS][2];
    for (int t = 0; t < NTHREADS; t++) {
        args[t][0] = w;
        args[t][1] = (void *)(intptr_t)t;
        assert_int_equal(pthread_create(&th[t], NULL, writer_thread, args[t]), 0);
    }
    for (int t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *all = slurp(out);
    int seen[NTHREADS] = {0};
    int lines = 0;
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        int id, i;
        char want[256];
        assert_int_equal(sscanf(line, "{\"type\":\"t\",\"id\":%d,\"i\":%d,", &id, &i), 2);
        assert_true(id >= 0 && id < NTHREADS);
        snprintf(want, sizeof(want),
                 "{\"type\":\"t\",\"id\":%d,\"i\":%d,\"name\":\"thread-%d-record-%d-%s\"}", id,
                 i, id, i, "padding-padding-padding-padding-padding-padding-padding");
        assert_string_equal(line, want);
        assert_int_equal(i, seen[id]); /* each thread's records in its own order */
        seen[id]++;
        lines++;
    }
    assert_int_equal(lines, NTHREADS * NRECS);
    free(all);
    fclose(out);
}

static void test_outfmt_parse(void **state)
{
    (void)state;
    ds_outfmt f;
    assert_true(ds_outfmt_parse("csv", &f));
    assert_int_equal(f, DS_OUT_CSV);
    assert_true(ds_outfmt_parse("table", &f));
    assert_int_equal(f, DS_OUT_TABLE);
    assert_true(ds_outfmt_parse("ndjson", &f));
    assert_int_equal(f, DS_OUT_NDJSON);
    assert_false(ds_outfmt_parse("xml", &f));
    assert_false(ds_outfmt_parse("", &f));
    assert_false(ds_outfmt_parse(NULL, &f));
    assert_string_equal(ds_outfmt_name(DS_OUT_CSV), "csv");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_every_byte),
        cmocka_unit_test(test_json_all_bytes_one_string),
        cmocka_unit_test(test_json_utf8_rules),
        cmocka_unit_test(test_ndjson_record_exact),
        cmocka_unit_test(test_csv_quoting_and_header),
        cmocka_unit_test(test_csv_single_stream_routing),
        cmocka_unit_test(test_field_list_fixed_per_type),
        cmocka_unit_test(test_csv_directory_output),
        cmocka_unit_test(test_ndjson_directory_created),
        cmocka_unit_test(test_table_text_and_errors),
        cmocka_unit_test(test_write_failure_is_sticky),
        cmocka_unit_test(test_fixed_decimal),
        cmocka_unit_test(test_threads_do_not_interleave),
        cmocka_unit_test(test_outfmt_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
