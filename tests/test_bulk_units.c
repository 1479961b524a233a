/* test_bulk_units.c - cmocka unit tests for the bulk-mode parsers and
 * walkers of src/cli: the resumable state file (state.c), input
 * collection from directories and lists, and sharding (bulk.c).  The
 * end-to-end behaviour (kill and resume, --sort, record streams) is in
 * test_bulk.py; these pin the pieces a hostile or damaged file reaches.
 *   - state lines: format/parse round trip; a flipped digit, a wrong
 *     checksum, a cut line, extra fields and overlong lines are refused;
 *   - state file: valid lines load, torn and garbage lines are counted and
 *     ignored, an append after a torn last line is a whole line, a second
 *     open of a locked file is refused;
 *   - collection: recursive and sorted, a symlink loop is walked once,
 *     FIFOs are skipped, "-" reads newline and NUL separated lists;
 *   - sharding: "K/N" parsing and a partition that covers every path once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/cli/bulk.h"
#include "src/cli/state.h"

static const bulk_state_key key1 = {0x0123456789abcdefull, 0xfedcba9876543210ull, 176411,
                                    1700000000123456789ll};
static const bulk_state_key key2 = {1, 2, 3, 4};

static bool same_key(const bulk_state_key *a, const bulk_state_key *b)
{
    return a->path_hash == b->path_hash && a->dump_id == b->dump_id && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

static void test_state_line_round_trip_and_rejects(void **state)
{
    (void)state;
    char line[BULK_STATE_LINE_MAX];
    size_t n = bulk_state_format(&key1, line);
    assert_true(n > 0 && n < BULK_STATE_LINE_MAX);
    assert_int_equal(line[n - 1], '\n');
    bulk_state_key k;
    assert_true(bulk_state_parse(line, n - 1, &k));
    assert_true(same_key(&k, &key1));

    char bad[BULK_STATE_LINE_MAX];
    /* every single-character change of the line must be refused */
    for (size_t i = 0; i + 1 < n; i++) {
        memcpy(bad, line, n);
        bad[i] = bad[i] == '1' ? '2' : '1';
        assert_false(bulk_state_parse(bad, n - 1, &k));
    }
    for (size_t cut = 0; cut + 1 < n; cut++)
        assert_false(bulk_state_parse(line, cut, &k));
    memcpy(bad, line, n - 1);
    memcpy(bad + n - 1, " 00", 3);
    assert_false(bulk_state_parse(bad, n + 2, &k));
    assert_false(bulk_state_parse("dsst1", 5, &k));
    assert_false(bulk_state_parse("", 0, &k));
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void test_state_file_tolerates_damage(void **state)
{
    (void)state;
    char dir[] = "/tmp/ds_state_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/st", dir);
    char l1[BULK_STATE_LINE_MAX], l2[BULK_STATE_LINE_MAX], text[1024];
    size_t n1 = bulk_state_format(&key1, l1), n2 = bulk_state_format(&key2, l2);
    /* a valid line, a garbage line, then the second line cut in half */
    size_t len = 0;
    memcpy(text + len, l1, n1);
    len += n1;
    memcpy(text + len, "not a state line\n", 17);
    len += 17;
    memcpy(text + len, l2, n2 / 2);
    len += n2 / 2;
    write_file(path, text, len);

    bulk_state *s = NULL;
    ds_errbuf eb = {{0}};
    assert_int_equal(bulk_state_open(&s, path, NULL, &eb), DS_OK);
    assert_int_equal(bulk_state_loaded(s), 1);
    assert_int_equal(bulk_state_ignored(s), 2);
    assert_true(bulk_state_has(s, &key1));
    assert_false(bulk_state_has(s, &key2));

    /* while it is open, a second run is refused */
    bulk_state *s2 = NULL;
    assert_int_equal(bulk_state_open(&s2, path, NULL, &eb), DS_ERR_IO);
    assert_null(s2);

    assert_int_equal(bulk_state_add(s, &key2), DS_OK);
    assert_int_equal(bulk_state_close(s, &eb), DS_OK);

    /* the append after the torn line is a whole line of its own */
    assert_int_equal(bulk_state_open(&s, path, NULL, &eb), DS_OK);
    assert_int_equal(bulk_state_loaded(s), 2);
    assert_true(bulk_state_has(s, &key1));
    assert_true(bulk_state_has(s, &key2));
    assert_int_equal(bulk_state_close(s, &eb), DS_OK);
    unlink(path);
    rmdir(dir);
}

/* ---- collection and sharding ------------------------------------------- */

static void touch(const char *dir, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    write_file(p, "x", 1);
}

static void test_collect_directory_and_lists(void **state)
{
    (void)state;
    char dir[] = "/tmp/ds_collect_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[128], p[256];
    snprintf(sub, sizeof(sub), "%s/sub", dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    touch(dir, "b.dmp");
    touch(dir, "a.dmp");
    touch(sub, "c.dmp");
    snprintf(p, sizeof(p), "%s/loop", sub); /* sub/loop -> .. : a cycle */
    assert_int_equal(symlink("..", p), 0);
    snprintf(p, sizeof(p), "%s/fifo", dir);
    assert_int_equal(mkfifo(p, 0644), 0);

    bulk_inputs in = {0};
    bulk_collect_opts o = {0};
    ds_errbuf eb = {{0}};
    char *args[] = {dir};
    assert_int_equal(bulk_collect(&in, args, 1, &o, &eb), DS_OK);
    assert_int_equal(in.n, 3);
    const char *want[] = {"a.dmp", "b.dmp", "sub/c.dmp"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, want[i]);
        assert_string_equal(in.v[i].path, p);
    }
    bulk_inputs_free(&in);

    /* "-": NUL separated list with a newline inside a name */
    static const char list[] = "one\0two\nlines\0three";
    FILE *f = fmemopen((void *)list, sizeof(list) - 1, "r");
    assert_non_null(f);
    char *dash[] = {"-"};
    bulk_collect_opts lo = {.list_in = f, .null_sep = true};
    memset(&in, 0, sizeof(in));
    assert_int_equal(bulk_collect(&in, dash, 1, &lo, &eb), DS_OK);
    fclose(f);
    assert_int_equal(in.n, 3);
    assert_string_equal(in.v[1].path, "two\nlines");
    bulk_inputs_free(&in);

    static const char nl[] = "x\n\ny\n";
    f = fmemopen((void *)nl, sizeof(nl) - 1, "r");
    lo.list_in = f;
    lo.null_sep = false;
    memset(&in, 0, sizeof(in));
    assert_int_equal(bulk_collect(&in, dash, 1, &lo, &eb), DS_OK);
    fclose(f);
    assert_int_equal(in.n, 2);
    assert_string_equal(in.v[1].path, "y");
    bulk_inputs_free(&in);

    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

static void test_shards_partition_inputs(void **state)
{
    (void)state;
    unsigned k, n;
    assert_true(bulk_shard_parse("2/3", &k, &n));
    assert_int_equal(k, 2);
    assert_int_equal(n, 3);
    assert_false(bulk_shard_parse("0/3", &k, &n));
    assert_false(bulk_shard_parse("4/3", &k, &n));
    assert_false(bulk_shard_parse("1/0", &k, &n));
    assert_false(bulk_shard_parse("1/", &k, &n));
    assert_false(bulk_shard_parse("a/b", &k, &n));
    assert_false(bulk_shard_parse("1/3x", &k, &n));
    unsigned counts[5] = {0};
    for (int i = 0; i < 2000; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/dumps/%05d.dmp", i);
        unsigned owners = 0;
        for (unsigned s = 1; s <= 5; s++)
            if (bulk_shard_keep(path, s, 5)) {
                owners++;
                counts[s - 1]++;
            }
        assert_int_equal(owners, 1);
    }
    for (unsigned s = 0; s < 5; s++) /* a hash split: roughly even */
        assert_in_range(counts[s], 300, 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_line_round_trip_and_rejects),
        cmocka_unit_test(test_state_file_tolerates_damage),
        cmocka_unit_test(test_collect_directory_and_lists),
        cmocka_unit_test(test_shards_partition_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
