/* usage.h - the CLI's conventions for mistakes and self-description:
 * one-line errors with the nearest option or command suggested, `help CMD`,
 * `--profile list`, `--version` with the commit and compiled-in features. */
#ifndef DS_CLI_USAGE_H
#define DS_CLI_USAGE_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

/* The candidate closest to word by edit distance, or NULL when none is
 * close enough to be a plausible typo (distance <= 2, and less than half
 * the word). */
const char *cli_nearest(const char *word, const char *const *cands, size_t n);

/* After getopt_long returned '?' or ':' (optstring starting with ':'):
 * print "dumpscan CMD: unknown option '--x'; did you mean '--y'?" (or
 * "needs a value") and "Try 'dumpscan CMD --help'." on stderr; returns
 * the usage exit status. */
int cli_bad_option(const char *cmd, int c, char **argv, const struct option *longopts);

/* `dumpscan --profile list`: one line per built-in profile: key, builds,
 * architecture, Windows version. */
void cli_profile_list(FILE *f);

/* `dumpscan --version`: version, git commit, features. */
void cli_version(FILE *f);

#endif
