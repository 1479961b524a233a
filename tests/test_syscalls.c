/* test_syscalls.c - system service names: numbers every Windows kernel
 * engineer knows by heart (from WinDbg sessions, not from the data file)
 * for each family, lookups past the table, builds without one, and the
 * win32k range. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "src/syscalls.h"

static void expect(uint32_t build, bool is64, uint32_t n, const char *name)
{
    const char *got = ds_syscall_name(build, is64, n);
    if (!got || strcmp(got, name) != 0)
        print_error("build %u %s service 0x%x: %s, expected %s\n", build, is64 ? "x64" : "x86", n,
                    got ? got : "(null)", name);
    assert_non_null(got);
    assert_string_equal(got, name);
}

static void test_known_numbers(void **state)
{
    (void)state;
    /* x64 Windows 10 and 11: the first services have kept their numbers */
    static const uint32_t x64_builds[] = {10240, 14393, 17763, 19041, 19045, 22000, 22621, 26100};
    for (size_t i = 0; i < sizeof(x64_builds) / sizeof(x64_builds[0]); i++) {
        expect(x64_builds[i], true, 0x4, "NtWaitForSingleObject");
        expect(x64_builds[i], true, 0x6, "NtReadFile");
        expect(x64_builds[i], true, 0x7, "NtDeviceIoControlFile");
        expect(x64_builds[i], true, 0x8, "NtWriteFile");
        expect(x64_builds[i], true, 0xf, "NtClose");
        expect(x64_builds[i], true, 0x18, "NtAllocateVirtualMemory");
    }
    /* each release before added one service ahead of NtClose */
    expect(9600, true, 0xe, "NtClose");
    expect(9200, true, 0xd, "NtClose");
    expect(7601, true, 0x3, "NtReadFile");
    expect(7601, true, 0x4, "NtDeviceIoControlFile");
    expect(7601, true, 0xc, "NtClose");
    expect(7601, true, 0x15, "NtAllocateVirtualMemory");
    /* 32-bit: alphabetical tables */
    expect(2600, false, 0x0, "NtAcceptConnectPort");
    expect(2600, false, 0x19, "NtClose");
    expect(2600, false, 0x42, "NtDeviceIoControlFile");
    expect(7601, false, 0x32, "NtClose");
}

static void test_out_of_range(void **state)
{
    (void)state;
    const ds_syscall_table *t = ds_syscall_table_for(19041, true);
    assert_non_null(t);
    assert_true(t->count > 400 && t->count < 0x1000);
    assert_null(ds_syscall_name(19041, true, t->count));
    assert_null(ds_syscall_name(19041, true, 0x1000)); /* win32k services */
    assert_null(ds_syscall_name(19041, true, 0x1007));
    assert_null(ds_syscall_name(19041, true, UINT32_MAX));
    /* no table: no names, never a neighbour's */
    assert_null(ds_syscall_table_for(19040, true));
    assert_null(ds_syscall_name(19040, true, 7));
    assert_null(ds_syscall_name(19041, false, 7)); /* no x86 table for 19041 */
    assert_null(ds_syscall_name(0, true, 0));
    /* the index is sorted and every table is usable */
    for (unsigned i = 0; i < ds_syscall_table_count; i++) {
        const ds_syscall_table *x = &ds_syscall_tables[i];
        assert_ptr_equal(ds_syscall_table_for(x->build, x->is64), x);
        assert_non_null(x->names[0]);
        if (i)
            assert_true(ds_syscall_tables[i - 1].build < x->build ||
                        (ds_syscall_tables[i - 1].build == x->build &&
                         ds_syscall_tables[i - 1].is64 < x->is64));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_numbers),
        cmocka_unit_test(test_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
