/* profile.c - choosing a row of the generated offset table.
 *
 * Selection rule of ds_profile_select(build, is64), in order:
 *   1. EXACT: the first row (table order) of that architecture whose
 *      [build_min, build_max] holds the build, or else holds its kernel
 *      branch (ds_build_branch: 22631 -> 22621, 19045 -> 19041...).  Rows
 *      sharing one range (win7_sp1_x64 / _23418plus, win10_1507_x64 /
 *      _17770, winxp_sp2 / sp3) resolve to the first listed, the base
 *      patch level; ds_profile_sibling() gives the others so a caller
 *      whose validation fails can try them.
 *   2. NEAREST: otherwise the row with the largest build_max below the
 *      branch, if that row is of the same kernel family as the build.
 *      Families: NT 5 (< 6000), NT 6.0/6.1 (6000..8999, Vista/7), NT
 *      6.2/6.3 (9000..9999, 8/8.1: top-down objects, new pool tags) and
 *      NT 10 (>= 10000, Windows 10/11/Server 2016+).  So 19500 -> the
 *      19041 row, 27000 -> the 26100 row, 9601 -> 9600.
 *   3. OUTSIDE: a build below every row of its architecture, one whose
 *      nearest earlier row is of another family (x86 9200 -> win7 row),
 *      or one above DS_PROFILE_BUILD_CEILING (30000: far beyond the last
 *      known kernel, more likely garbage than a new release).  The row
 *      returned is still the best guess: the nearest earlier row, or the
 *      lowest row of the architecture when none is earlier.
 * NULL is returned only when the table holds no row of that
 * architecture. */
#include "profile.h"

#include <string.h>

#define DS_PROFILE_BUILD_CEILING 30000u

const ds_profile *ds_profile_by_key(const char *key)
{
    if (!key)
        return NULL;
    for (unsigned i = 0; i < ds_profile_count; i++)
        if (strcmp(ds_profiles[i].key, key) == 0)
            return &ds_profiles[i];
    return NULL;
}

uint32_t ds_build_branch(uint32_t build)
{
    /* Marketing builds that run an older kernel branch (offsets-notes.md
     * section 2, "The ntoskrnl file version names the kernel branch"). */
    if (build == 18363)
        return 18362;
    if (build >= 19042 && build <= 19045)
        return 19041;
    if (build == 22631 || build == 22635)
        return 22621;
    /* 25H2 (26200) is an enablement package on the 24H2 kernel branch. */
    if (build == 26200)
        return 26100;
    return build;
}

/* Kernel family number (see the rule above); rows are only borrowed
 * within a family. */
static unsigned build_family(uint32_t build)
{
    if (build < 6000)
        return 5;
    if (build < 9000)
        return 6;
    if (build < 10000)
        return 7;
    return 10;
}

static bool row_holds(const ds_profile *p, uint32_t build)
{
    return build >= p->build_min && build <= p->build_max;
}

static const ds_profile *find_exact(uint32_t build, bool is64)
{
    for (unsigned i = 0; i < ds_profile_count; i++) {
        const ds_profile *p = &ds_profiles[i];
        if ((bool)p->is64 == is64 && row_holds(p, build))
            return p;
    }
    return NULL;
}

/* Row of that architecture with the largest build_max below build (the
 * first listed on ties); NULL when none. */
static const ds_profile *find_earlier(uint32_t build, bool is64)
{
    const ds_profile *best = NULL;
    for (unsigned i = 0; i < ds_profile_count; i++) {
        const ds_profile *p = &ds_profiles[i];
        if ((bool)p->is64 != is64 || p->build_max >= build)
            continue;
        if (!best || p->build_max > best->build_max)
            best = p;
    }
    return best;
}

static const ds_profile *find_lowest(bool is64)
{
    const ds_profile *best = NULL;
    for (unsigned i = 0; i < ds_profile_count; i++) {
        const ds_profile *p = &ds_profiles[i];
        if ((bool)p->is64 == is64 && (!best || p->build_min < best->build_min))
            best = p;
    }
    return best;
}

const ds_profile *ds_profile_select(uint32_t build, bool is64, ds_profile_match *match)
{
    ds_profile_match dummy;
    if (!match)
        match = &dummy;

    uint32_t branch = ds_build_branch(build);
    const ds_profile *p = find_exact(build, is64);
    if (!p)
        p = find_exact(branch, is64);
    if (p) {
        *match = DS_PROFILE_EXACT;
        return p;
    }

    p = find_earlier(branch, is64);
    if (p) {
        bool same_family = build_family(p->build_max) == build_family(branch);
        *match = same_family && build <= DS_PROFILE_BUILD_CEILING ? DS_PROFILE_NEAREST
                                                                   : DS_PROFILE_OUTSIDE;
        return p;
    }
    *match = DS_PROFILE_OUTSIDE;
    return find_lowest(is64);
}

const ds_profile *ds_profile_sibling(const ds_profile *p)
{
    if (!p || p < ds_profiles || p >= ds_profiles + ds_profile_count)
        return NULL;
    for (const ds_profile *q = p + 1; q < ds_profiles + ds_profile_count; q++)
        if (q->is64 == p->is64 && q->build_min == p->build_min &&
            q->build_max == p->build_max)
            return q;
    return NULL;
}

const char *ds_profile_match_name(ds_profile_match m)
{
    switch (m) {
    case DS_PROFILE_EXACT:
        return "exact";
    case DS_PROFILE_NEAREST:
        return "nearest";
    case DS_PROFILE_OUTSIDE:
        return "outside";
    case DS_PROFILE_DETECTED:
        return "detected";
    case DS_PROFILE_FORCED:
        return "forced";
    }
    return "unknown";
}
