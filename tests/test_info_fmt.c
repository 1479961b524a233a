/* test_info_fmt.c - what `dumpscan info` emits for one dump
 * (src/cli/info_fmt.c), fed hand-made ds_dump structures.
 *
 * The triage dump below carries the header values of the real
 * 011620-8250-01.dmp (from expected.ndjson), so the table text can be
 * compared with the WinDbg-style block the output contract shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cli.h"

static char *slurp(FILE *f)
{
    fflush(f);
    long end = ftell(f);
    char *s = malloc((size_t)end + 1);
    assert_non_null(s);
    rewind(f);
    assert_int_equal(fread(s, 1, (size_t)end, f), (size_t)end);
    s[end] = '\0';
    return s;
}

static ds_triage_driver drivers[2];
static ds_triage triage;
static ds_profile profile;

/* 011620-8250-01.dmp as the dump layer describes it. */
static void make_triage_dump(ds_dump *d)
{
    memset(d, 0, sizeof(*d));
    d->file.size = 176411;
    d->format = DS_FMT_CRASH64;
    d->format_name = "PAGEDU64";
    d->dump_type = 4;
    d->dump_type_name = "triage";
    d->arch = DS_ARCH_X64;
    d->major_version = 0xf;
    d->build = 17763;
    d->processors = 8;
    d->dtb = 0x1ad000;
    d->kernel_base = 0xfffff8044a203000ull;
    d->ps_active_process_head = 0xfffff8044a6105e0ull;
    d->ps_loaded_module_list = 0xfffff8044a61c710ull;
    d->kdbg_va = 0xfffff8044a6005e0ull;
    d->has_bugcheck = true;
    d->bugcheck_code = 0x1000007e;
    d->bugcheck_params[0] = 0xffffffffc0000005ull;
    d->bugcheck_params[1] = 0xfffff8044a24d2d4ull;
    d->bugcheck_params[2] = 0xffff998071d4ed88ull;
    d->bugcheck_params[3] = 0xffff998071d4e5d0ull;
    d->system_time = 132236107798801352LL;
    d->uptime_100ns = 41266745;
    d->product_type = 1;
    d->suite_mask = 0x110;
    memset(&profile, 0, sizeof(profile));
    profile.key = "test_profile_key";
    d->profile = &profile;
    d->profile_match = DS_PROFILE_EXACT;

    memset(&triage, 0, sizeof(triage));
    triage.has_process = true;
    triage.process_pid = 4;
    triage.process_ppid = 0;
    memcpy(triage.process_name, "System", 7);
    triage.has_thread = true;
    triage.thread_pid = 4;
    triage.thread_tid = 408;
    drivers[0] = (ds_triage_driver){.name = "ntoskrnl.exe", .base = 0xfffff8044a203000ull,
                                    .size = 0xa6e000};
    drivers[1] = (ds_triage_driver){.name = NULL, .base = 0xfffff8044ac72000ull, .size = 0x9d000};
    triage.drivers = drivers;
    triage.ndrivers = 2;
    d->triage = &triage;
}

static void test_triage_records_exact(void **state)
{
    (void)state;
    ds_dump d;
    make_triage_dump(&d);
    FILE *out = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    assert_int_equal(ds_info_records(w, &r, NULL, "a.dmp", "00112233aabbccdd", &d), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out);
    const char *want =
        "{\"type\":\"dump\",\"dump\":\"a.dmp\",\"dump_id\":\"00112233aabbccdd\",\"size\":176411,\"format\":\"PAGEDU64\","
        "\"dump_type\":4,\"dump_type_name\":\"triage\",\"build\":17763,\"arch\":\"x64\","
        "\"processors\":8,\"dtb\":\"0x1ad000\",\"kernel_base\":\"0xfffff8044a203000\","
        "\"ps_active_process_head\":\"0xfffff8044a6105e0\","
        "\"ps_loaded_module_list\":\"0xfffff8044a61c710\","
        "\"kd_debugger_data_block\":\"0xfffff8044a6005e0\",\"bugcheck_code\":\"0x1000007e\","
        "\"bugcheck_name\":\"SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M\","
        "\"bugcheck_params\":[\"0xffffffffc0000005\",\"0xfffff8044a24d2d4\","
        "\"0xffff998071d4ed88\",\"0xffff998071d4e5d0\"],"
        "\"system_time\":\"2020-01-16T01:12:59.880135Z\",\"uptime_s\":4.1266745,"
        "\"pages_present\":0,\"pages_expected\":0,\"pages_missing\":0,\"truncated\":false,"
        "\"product_type\":1,\"suite_mask\":\"0x110\",\"profile\":\"test_profile_key\","
        "\"profile_match\":\"exact\",\"nt_build_lab\":null,\"notes\":null}\n"
        "{\"type\":\"process\",\"dump\":\"a.dmp\",\"dump_id\":\"00112233aabbccdd\",\"pid\":4,\"ppid\":0,\"name\":\"System\","
        "\"source\":\"triage\"}\n"
        "{\"type\":\"thread\",\"dump\":\"a.dmp\",\"dump_id\":\"00112233aabbccdd\",\"pid\":4,\"tid\":408,\"source\":\"triage\"}\n"
        "{\"type\":\"driver\",\"dump\":\"a.dmp\",\"dump_id\":\"00112233aabbccdd\",\"index\":0,\"name\":\"ntoskrnl.exe\","
        "\"base\":\"0xfffff8044a203000\",\"size\":10936320}\n"
        "{\"type\":\"driver\",\"dump\":\"a.dmp\",\"dump_id\":\"00112233aabbccdd\",\"index\":1,\"name\":\"\","
        "\"base\":\"0xfffff8044ac72000\",\"size\":643072}\n";
    assert_string_equal(got, want);
    free(got);
    fclose(out);
}

/* A raw image where nothing was found: every unknown is null, and
 * hostile fixed-size strings without a NUL stay inside their arrays. */
static void test_raw_unknowns_are_null(void **state)
{
    (void)state;
    ds_dump d;
    memset(&d, 0, sizeof(d));
    d.file.size = 4096;
    d.format = DS_FMT_RAW;
    d.format_name = "raw";
    d.dump_type = 7; /* ignored for raw */
    d.uptime_100ns = -1;
    memset(d.nt_build_lab, 'A', sizeof(d.nt_build_lab)); /* no NUL */
    memset(d.notes, 0, sizeof(d.notes));
    memcpy(d.notes, "no dtb\xff", 7);
    FILE *out = tmpfile();
    ds_writer *w;
    assert_int_equal(ds_writer_open_stream(&w, DS_OUT_NDJSON, out, NULL, NULL, NULL), DS_OK);
    ds_rec r;
    ds_rec_init(&r);
    assert_int_equal(ds_info_records(w, &r, NULL, "r.bin", NULL, &d), DS_OK);
    ds_rec_free(&r);
    assert_int_equal(ds_writer_close(w, NULL), DS_OK);
    char *got = slurp(out);
    char lab[80];
    memset(lab, 'A', 64);
    lab[64] = '\0';
    char want[2048];
    snprintf(want, sizeof(want),
             "{\"type\":\"dump\",\"dump\":\"r.bin\",\"dump_id\":null,\"size\":4096,\"format\":\"raw\","
             "\"dump_type\":null,\"dump_type_name\":null,\"build\":null,\"arch\":null,"
             "\"processors\":null,\"dtb\":null,\"kernel_base\":null,"
             "\"ps_active_process_head\":null,\"ps_loaded_module_list\":null,"
             "\"kd_debugger_data_block\":null,\"bugcheck_code\":null,\"bugcheck_name\":null,"
             "\"bugcheck_params\":null,\"system_time\":null,\"uptime_s\":null,"
             "\"pages_present\":0,\"pages_expected\":0,\"pages_missing\":0,\"truncated\":false,"
             "\"product_type\":null,\"suite_mask\":null,\"profile\":null,\"profile_match\":null,"
             "\"nt_build_lab\":\"%s\",\"notes\":\"no dtb\\u00ff\"}\n",
             lab);
    assert_string_equal(got, want);
    free(got);
    fclose(out);
}

static void test_table_block(void **state)
{
    (void)state;
    ds_dump d;
    make_triage_dump(&d);
    ds_strbuf sb;
    ds_sb_init(&sb);
    ds_info_table(&sb, "011620-8250-01.dmp", &d);
    assert_string_equal(
        ds_sb_str(&sb),
        "Dump:     011620-8250-01.dmp (PAGEDU64 triage, 176411 bytes)\n"
        "Windows 10 Kernel Version 17763 MP (8 procs) Free x64\n"
        "Product: WinNt, suite: TerminalServer SingleUserTS\n"
        "Kernel base = 0xfffff804`4a203000 PsLoadedModuleList = 0xfffff804`4a61c710\n"
        "Debug session time: Thu Jan 16 01:12:59.880 2020 (UTC + 0:00)\n"
        "System Uptime: 0 days 0:00:04.126\n"
        "BugCheck 1000007E, {ffffffffc0000005, fffff8044a24d2d4, ffff998071d4ed88, "
        "ffff998071d4e5d0}\n"
        "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M\n"
        "Process: System (pid 4, ppid 0)\n"
        "Thread: tid 408 (pid 4)\n"
        "Drivers: 2\n"
        "DTB: 0x1ad000\n"
        "Profile: test_profile_key (exact)\n"
        "Pages: 0 present, 0 expected, 0 missing\n"
        "\n");

    /* a uniprocessor checked x86 dump with an unknown bug check */
    memset(&d, 0, sizeof(d));
    d.file.size = 8192;
    d.format = DS_FMT_CRASH32;
    d.format_name = "PAGEDUMP";
    d.dump_type = 1;
    d.dump_type_name = "full";
    d.arch = DS_ARCH_X86_PAE;
    d.major_version = 0xc;
    d.build = 2600;
    d.processors = 1;
    d.kernel_base = 0x804d7000;
    d.has_bugcheck = true;
    d.bugcheck_code = 0x71;
    d.uptime_100ns = -1;
    d.product_type = 3;
    d.suite_mask = 0x10000;
    d.truncated = true;
    d.pages_expected = 10;
    d.pages_present = 4;
    d.pages_missing = 6;
    memcpy(d.notes, "line1\nline2", 11);
    memcpy(d.nt_build_lab, "2600.xpsp_sp3_gdr.080814-1236", 29);
    ds_sb_clear(&sb);
    ds_info_table(&sb, "x\tp", &d);
    assert_string_equal(ds_sb_str(&sb),
                        "Dump:     x\\tp (PAGEDUMP full, 8192 bytes)\n"
                        "Windows XP Kernel Version 2600 UP (1 procs) Checked x86compatible\n"
                        "Built by: 2600.xpsp_sp3_gdr.080814-1236\n"
                        "Product: ServerNt, suite: 0x10000\n"
                        "Kernel base = 0x804d7000 PsLoadedModuleList = unknown\n"
                        "System Uptime: not available\n"
                        "BugCheck 71, {0, 0, 0, 0}\n"
                        "Pages: 4 present, 10 expected, 6 missing (truncated)\n"
                        "Notes: line1\\nline2\n"
                        "\n");
    ds_sb_free(&sb);
}

static void test_table_helpers(void **state)
{
    (void)state;
    assert_string_equal(ds_windows_name(22631), "Windows 11");
    assert_string_equal(ds_windows_name(22000), "Windows 11");
    assert_string_equal(ds_windows_name(21999), "Windows 10");
    assert_string_equal(ds_windows_name(10240), "Windows 10");
    assert_string_equal(ds_windows_name(9600), "Windows 8.1");
    assert_string_equal(ds_windows_name(9200), "Windows 8");
    assert_string_equal(ds_windows_name(7601), "Windows 7");
    assert_string_equal(ds_windows_name(2600), "Windows XP");
    assert_string_equal(ds_product_type_name(2), "LanManNt");
    assert_null(ds_product_type_name(0));
    assert_null(ds_product_type_name(4));
    ds_strbuf sb;
    ds_sb_init(&sb);
    ds_suite_mask_names(&sb, 0x310);
    assert_string_equal(ds_sb_str(&sb), "TerminalServer SingleUserTS Personal");
    ds_sb_clear(&sb);
    ds_suite_mask_names(&sb, 0x80000001);
    assert_string_equal(ds_sb_str(&sb), "SmallBusiness 0x80000000");
    ds_sb_clear(&sb);
    ds_windbg_addr(&sb, 0xfffff8005762a730ull, true);
    assert_string_equal(ds_sb_str(&sb), "0xfffff800`5762a730");
    ds_sb_clear(&sb);
    ds_windbg_addr(&sb, 0x1000, true);
    assert_string_equal(ds_sb_str(&sb), "0x00000000`00001000");
    ds_sb_clear(&sb);
    ds_windbg_addr(&sb, 0x80541f48, false);
    assert_string_equal(ds_sb_str(&sb), "0x80541f48");
    ds_sb_free(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_triage_records_exact),
        cmocka_unit_test(test_raw_unknowns_are_null),
        cmocka_unit_test(test_table_block),
        cmocka_unit_test(test_table_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
