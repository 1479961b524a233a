/* usage.c - one-line CLI errors with suggestions, the profile list and the
 * version text (see usage.h).  The suggestion is the Levenshtein-nearest
 * long option or command, offered only when it is a plausible typo. */
#include "usage.h"

#include <string.h>

#include "cli.h"
#include "ds_commit.h"
#include "ds_version.h"
#include "../profile.h"
#include "../../scan/tagscan.h"

/* Optimal-string-alignment distance: insertions, deletions, substitutions
 * and transpositions of neighbours ("sacn" -> "scan") cost 1 each. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 64;
    size_t d[65][65];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *cli_nearest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 3;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < bd && 2 * d < strlen(word)) {
            bd = d;
            best = cands[i];
        }
    }
    return best;
}

/* The option word the user typed: "--fromat" of "--fromat=x". */
static void typed_option(char **argv, char *buf, size_t cap)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    if (!arg)
        arg = "";
    size_t n = strcspn(arg, "=");
    if (n >= cap)
        n = cap - 1;
    memcpy(buf, arg, n);
    buf[n] = 0;
}

int cli_bad_option(const char *cmd, int c, char **argv, const struct option *longopts)
{
    char typed[80];
    typed_option(argv, typed, sizeof(typed));
    bool is_long = strncmp(typed, "--", 2) == 0;
    if (c == ':') {
        if (is_long)
            fprintf(stderr, "dumpscan %s: option '%s' needs a value\n", cmd, typed);
        else
            fprintf(stderr, "dumpscan %s: option '-%c' needs a value\n", cmd, optopt);
    } else if (is_long) {
        const char *names[64];
        size_t n = 0;
        for (const struct option *o = longopts; o->name && n < 64; o++)
            names[n++] = o->name;
        const char *near = cli_nearest(typed + 2, names, n);
        if (near)
            fprintf(stderr, "dumpscan %s: unknown option '%s'; did you mean '--%s'?\n", cmd,
                    typed, near);
        else
            fprintf(stderr, "dumpscan %s: unknown option '%s'\n", cmd, typed);
    } else {
        fprintf(stderr, "dumpscan %s: unknown option '-%c'\n", cmd, optopt ? optopt : '?');
    }
    fprintf(stderr, "Try 'dumpscan %s --help'.\n", cmd);
    return DS_EXIT_USAGE;
}

void cli_profile_list(FILE *f)
{
    for (unsigned i = 0; i < ds_profile_count; i++) {
        const ds_profile *p = &ds_profiles[i];
        char builds[32];
        if (p->build_min == p->build_max)
            snprintf(builds, sizeof(builds), "%u", p->build_min);
        else
            snprintf(builds, sizeof(builds), "%u-%u", p->build_min, p->build_max);
        fprintf(f, "%-24s %-12s %-4s %s\n", p->key, builds, p->is64 ? "x64" : "x86", p->os);
    }
}

void cli_version(FILE *f)
{
    fprintf(f, "dumpscan %s (commit %s)\n", DUMPSCAN_VERSION, DUMPSCAN_COMMIT);
    fprintf(f, "features: io_uring, mmap, pread, O_DIRECT, tag scan %s, capstone, %s\n",
            ds_tagscan_impl_name(), DUMPSCAN_HAVE_SQLITE ? "sqlite" : "no sqlite");
    fprintf(f, "profiles: %u built in (dumpscan --profile list)\n", ds_profile_count);
}
