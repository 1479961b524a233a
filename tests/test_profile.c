/* test_profile.c - the generated offset table and row selection.
 *
 * Expected offsets are transcribed from the per-build tables of
 * ../shared/reference/offsets-notes.md (section 10), not read from the
 * JSON the table was generated from, so a mapping mistake in
 * gen_profiles.py shows up here.  Selection cases follow the rule in the
 * opening comment of src/profile.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "profile.h"

static const char *const all_keys[] = {
    "winxp_sp2_x86", "winxp_sp3_x86", "win7_sp0_x86", "win7_sp0_x64",
    "win7_sp1_x86", "win7_sp1_x64", "win7_sp1_x64_23418plus", "win8_x64",
    "win81_x64", "win10_1507_x64", "win10_1507_x64_17770", "win10_1511_x64",
    "win10_1607_x64", "win10_1703_x64", "win10_1709_x64", "win10_1803_x64",
    "win10_1809_x64", "win10_1903_1909_x64", "win10_2004_22h2_x64", "server2022_x64",
    "win11_21h2_x64", "win11_22h2_x64", "win11_23h2_x64", "win11_24h2_x64",
};

static const ds_profile *key(const char *k)
{
    const ds_profile *p = ds_profile_by_key(k);
    assert_non_null(p);
    return p;
}

static void test_every_key_present(void **state)
{
    (void)state;
    size_t n = sizeof(all_keys) / sizeof(all_keys[0]);
    assert_int_equal(ds_profile_count, n);
    for (size_t i = 0; i < n; i++) {
        const ds_profile *p = key(all_keys[i]);
        assert_string_equal(p->key, all_keys[i]);
        assert_true(p->build_min <= p->build_max);
        assert_int_equal(p->ptr_size, p->is64 ? 8 : 4);
        assert_int_equal(p->pool_align, p->is64 ? 16 : 8);
        assert_non_null(p->os);
    }
    assert_null(ds_profile_by_key("win12_x64"));
    assert_null(ds_profile_by_key(NULL));
}

static void expect_select(uint32_t build, bool is64, const char *want, ds_profile_match mwant)
{
    ds_profile_match m = (ds_profile_match)99;
    const ds_profile *p = ds_profile_select(build, is64, &m);
    assert_non_null(p);
    assert_string_equal(p->key, want);
    assert_int_equal(m, mwant);
}

static void test_select_exact(void **state)
{
    (void)state;
    for (uint32_t b = 19041; b <= 19045; b++)
        expect_select(b, true, "win10_2004_22h2_x64", DS_PROFILE_EXACT);
    expect_select(17763, true, "win10_1809_x64", DS_PROFILE_EXACT);
    expect_select(18363, true, "win10_1903_1909_x64", DS_PROFILE_EXACT);
    expect_select(22621, true, "win11_22h2_x64", DS_PROFILE_EXACT);
    expect_select(22631, true, "win11_23h2_x64", DS_PROFILE_EXACT);
    expect_select(26100, true, "win11_24h2_x64", DS_PROFILE_EXACT);
    expect_select(20348, true, "server2022_x64", DS_PROFILE_EXACT);
    expect_select(7601, true, "win7_sp1_x64", DS_PROFILE_EXACT);
    expect_select(7601, false, "win7_sp1_x86", DS_PROFILE_EXACT);
    expect_select(2600, false, "winxp_sp2_x86", DS_PROFILE_EXACT);
    expect_select(10240, true, "win10_1507_x64", DS_PROFILE_EXACT);
    /* branch aliases without a row of their own */
    expect_select(26200, true, "win11_24h2_x64", DS_PROFILE_EXACT);
    expect_select(22635, true, "win11_22h2_x64", DS_PROFILE_EXACT);
}

static void test_select_nearest_and_outside(void **state)
{
    (void)state;
    expect_select(19500, true, "win10_2004_22h2_x64", DS_PROFILE_NEAREST);
    expect_select(9601, true, "win81_x64", DS_PROFILE_NEAREST);
    expect_select(27000, true, "win11_24h2_x64", DS_PROFILE_NEAREST);
    expect_select(30001, true, "win11_24h2_x64", DS_PROFILE_OUTSIDE);
    /* below every row of the architecture: best guess is the lowest row */
    expect_select(1000, true, "win7_sp0_x64", DS_PROFILE_OUTSIDE);
    expect_select(1000, false, "winxp_sp2_x86", DS_PROFILE_OUTSIDE);
    expect_select(6000, true, "win7_sp0_x64", DS_PROFILE_OUTSIDE);
    /* across a family boundary (x86 has no Windows 8/10 rows) */
    expect_select(9200, false, "win7_sp1_x86", DS_PROFILE_OUTSIDE);
    expect_select(19041, false, "win7_sp1_x86", DS_PROFILE_OUTSIDE);
    /* inside a family: 2003 x86 borrows XP, 7602 x86 borrows 7601 */
    expect_select(3790, false, "winxp_sp2_x86", DS_PROFILE_NEAREST);
    expect_select(7602, false, "win7_sp1_x86", DS_PROFILE_NEAREST);
    /* NULL match pointer is allowed */
    assert_non_null(ds_profile_select(19041, true, NULL));
    assert_string_equal(ds_profile_match_name(DS_PROFILE_NEAREST), "nearest");
    assert_string_equal(ds_profile_match_name(DS_PROFILE_OUTSIDE), "outside");
    assert_string_equal(ds_profile_match_name(DS_PROFILE_EXACT), "exact");
}

static void test_siblings(void **state)
{
    (void)state;
    const ds_profile *p = ds_profile_select(7601, true, NULL);
    const ds_profile *s = ds_profile_sibling(p);
    assert_non_null(s);
    assert_string_equal(s->key, "win7_sp1_x64_23418plus");
    assert_null(ds_profile_sibling(s));
    /* the patched row differs where the notes say: ETHREAD fields +8 */
    assert_int_equal(p->et_create_time, 0x360);
    assert_int_equal(s->et_create_time, 0x368);
    assert_int_equal(p->ep_pid, s->ep_pid);

    s = ds_profile_sibling(key("win10_1507_x64"));
    assert_non_null(s);
    assert_string_equal(s->key, "win10_1507_x64_17770");
    s = ds_profile_sibling(key("winxp_sp2_x86"));
    assert_non_null(s);
    assert_string_equal(s->key, "winxp_sp3_x86");
    /* x86 and x64 Win7 SP1 share a build but are not siblings */
    assert_null(ds_profile_sibling(key("win7_sp1_x86")));
    assert_null(ds_profile_sibling(key("win10_2004_22h2_x64")));
    assert_null(ds_profile_sibling(NULL));
}

static void test_branch(void **state)
{
    (void)state;
    assert_int_equal(ds_build_branch(18363), 18362);
    assert_int_equal(ds_build_branch(19042), 19041);
    assert_int_equal(ds_build_branch(19045), 19041);
    assert_int_equal(ds_build_branch(22631), 22621);
    assert_int_equal(ds_build_branch(19041), 19041);
    assert_int_equal(ds_build_branch(17763), 17763);
    assert_int_equal(ds_build_branch(19046), 19046);
}

static void test_offsets_spot_checks(void **state)
{
    (void)state;
    const ds_profile *p = key("win10_2004_22h2_x64");
    assert_int_equal(p->build_min, 19041);
    assert_int_equal(p->build_max, 19045);
    assert_int_equal(p->ep_pid, 0x440);
    assert_int_equal(p->ep_links, 0x448);
    assert_int_equal(p->ep_name, 0x5a8);
    assert_int_equal(p->et_cid_pid, 0x478);
    assert_int_equal(p->et_cid_tid, 0x480);
    assert_int_equal(p->ep_user_dtb, 0x388);
    assert_int_equal(p->oh_body, 0x30);
    assert_int_equal(p->oh_type_index, 0x18);
    assert_int_equal(p->oh_info_mask, 0x1a);
    assert_int_equal(p->tf_rip, 0x168);
    assert_int_equal(p->tf_rsp, 0x180);
    assert_int_equal(p->oh_type, DS_OFF_NONE);

    p = key("win11_24h2_x64");
    assert_int_equal(p->ep_pid, 0x1d0);
    assert_int_equal(p->ep_links, 0x1d8);
    assert_int_equal(p->ep_name, 0x338);
    assert_int_equal(p->ep_thread_list, 0x370);
    assert_int_equal(p->ep_peb, 0x2e0);
    assert_int_equal(p->ep_vad_root, 0x558);
    assert_int_equal(p->et_cid_pid, 0x508);
    assert_int_equal(p->et_thread_list, 0x578);
    assert_int_equal(p->ep_user_dtb, 0x158);

    assert_int_equal(key("win11_22h2_x64")->et_cid_pid, 0x4c8);
    assert_int_equal(key("win10_1511_x64")->ep_pid, 0x2e8);
    assert_int_equal(key("win10_1511_x64")->ep_links, 0x2f0);
    assert_int_equal(key("win10_1809_x64")->ep_token, 0x358);
    assert_int_equal(key("win7_sp1_x64")->ep_pid, 0x180);
    assert_int_equal(key("win7_sp1_x64")->ep_links, 0x188);

    p = key("winxp_sp3_x86");
    assert_int_equal(p->ep_pid, 0x84);
    assert_int_equal(p->ep_links, 0x88);
    assert_int_equal(p->ep_peb, 0x1b0);
    assert_int_equal(p->et_cid_pid, 0x1ec);
    assert_int_equal(p->oh_type, 0x8);
    assert_int_equal(p->oh_body, 0x18);
    assert_int_equal(p->oh_name_info_off, 0xc);
    assert_int_equal(p->tf_rip, 0x68); /* Eip */
    assert_int_equal(p->tf_rsp, 0x74); /* HardwareEsp */
    assert_int_equal(p->oh_type_index, DS_OFF_NONE);

    /* partial row: only kphdyn fields */
    p = key("server2022_x64");
    assert_int_equal(p->ep_object_table, 0x570);
    assert_int_equal(p->ep_pid, DS_OFF_NONE);
}

static void test_flags(void **state)
{
    (void)state;
    const ds_profile *xp = key("winxp_sp2_x86");
    assert_int_equal(xp->xp_object_type, 1);
    assert_int_equal(xp->thread_ctime_shift, 3);
    assert_int_equal(xp->protected_tags, 1);
    assert_int_equal(xp->object_top_down, 0);
    assert_int_equal(xp->pool_header_size, 8);
    assert_int_equal(xp->process_dispatcher_size, 0x1b);

    const ds_profile *w7 = key("win7_sp1_x64");
    assert_int_equal(w7->xp_object_type, 0);
    assert_int_equal(w7->thread_ctime_shift, 0);
    assert_int_equal(w7->typeindex_cookie, 0);
    assert_int_equal(w7->protected_tags, 1);
    assert_int_equal(w7->process_type_index, 7);
    assert_int_equal(w7->thread_type_index, 8);
    assert_int_equal(w7->process_dispatcher_size, 0x58);
    assert_int_equal(w7->pool_header_size, 16);
    assert_int_equal(key("win7_sp1_x86")->process_dispatcher_size, 0x26);

    const ds_profile *w8 = key("win8_x64");
    assert_int_equal(w8->protected_tags, 0);
    assert_int_equal(w8->object_top_down, 1);
    assert_int_equal(w8->typeindex_cookie, 0);
    assert_int_equal(w8->process_dispatcher_size, 0xb2);

    assert_int_equal(key("win10_1507_x64")->typeindex_cookie, 1);
    assert_int_equal(key("win10_1507_x64")->process_dispatcher_size, 0xb6);
    assert_int_equal(key("win10_1903_1909_x64")->process_dispatcher_size, 0xb8);
    const ds_profile *w10 = key("win10_2004_22h2_x64");
    assert_int_equal(w10->process_dispatcher_size, 0);
    assert_int_equal(w10->process_type_index, 7);
    const ds_profile *w11 = key("win11_21h2_x64");
    assert_int_equal(w11->typeindex_cookie, 1);
    assert_int_equal(w11->process_type_index, 0);
    assert_int_equal(w11->thread_type_index, 0);
}

static void test_optional_header_sizes(void **state)
{
    (void)state;
    static const uint16_t w10[8] = {0x20, 0x20, 0x10, 0x20, 0x10, 0x10, 0x10, 0x4};
    const ds_profile *p = key("win10_2004_22h2_x64");
    for (int i = 0; i < 8; i++)
        assert_int_equal(p->oh_opt_size[i], w10[i]);
    /* 10586: bit 0x40 is HANDLE_REVOCATION_INFO, 0x20 bytes */
    assert_int_equal(key("win10_1511_x64")->oh_opt_size[6], 0x20);
    /* Win8: no bit 0x40 header; AUDIT (0x20) exists */
    assert_int_equal(key("win8_x64")->oh_opt_size[6], DS_OFF_NONE);
    assert_int_equal(key("win8_x64")->oh_opt_size[5], 0x10);
    /* Win7: no AUDIT; x86 sizes halve */
    assert_int_equal(key("win7_sp1_x64")->oh_opt_size[5], DS_OFF_NONE);
    assert_int_equal(key("win7_sp1_x86")->oh_opt_size[3], 0x10);
    assert_int_equal(key("win7_sp1_x86")->oh_opt_size[2], 0x8);
}

/* Relative invariants the notes (section 4) state for x64 1709..26100. */
static void test_table_invariants(void **state)
{
    (void)state;
    unsigned checked = 0;
    for (unsigned i = 0; i < ds_profile_count; i++) {
        const ds_profile *p = &ds_profiles[i];
        if (!p->is64 || p->build_min < 16299 || p->ep_pid == DS_OFF_NONE)
            continue;
        assert_int_equal(p->ep_links, p->ep_pid + 8);
        assert_int_equal(p->et_cid_pid, p->kthread_size + 0x48);
        assert_int_equal(p->et_thread_list, p->et_cid_pid + 0x70);
        checked++;
    }
    assert_true(checked >= 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_key_present),
        cmocka_unit_test(test_select_exact),
        cmocka_unit_test(test_select_nearest_and_outside),
        cmocka_unit_test(test_siblings),
        cmocka_unit_test(test_branch),
        cmocka_unit_test(test_offsets_spot_checks),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_optional_header_sizes),
        cmocka_unit_test(test_table_invariants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
