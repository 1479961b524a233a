/* main.c - entry point of the dumpscan command-line tool.
 *
 * `dumpscan <command> [options] ...`: the first argument picks a command,
 * which parses the rest itself (see cmd_*.c).  Only the CLI prints; the
 * library returns error codes.  Exit codes are listed in cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "usage.h"

static void main_usage(FILE *f)
{
    fputs("usage: dumpscan <command> [options] PATH...\n"
          "       dumpscan --help | --version\n"
          "\n"
          "Read Windows kernel memory dumps (crash dumps, triage minidumps, raw\n"
          "physical images, ELF cores) and report what is inside.\n"
          "\n"
          "commands:\n"
          "  info    header facts of each dump (format, build, bug check, kernel\n"
          "          addresses, triage process/thread/drivers)\n"
          "  scan    every process and thread object (pool-tag and structure scan)\n"
          "          checked against the kernel's lists: hidden/unlinked verdicts\n"
          "  analyze why the machine crashed: bug check, faulting module, stack,\n"
          "          the driver to blame, buckets grouping crashes by cause\n"
          "\n"
          "`dumpscan help <command>` (or `dumpscan <command> --help`) describes a\n"
          "command's options; `man dumpscan` has them all, with the output formats\n"
          "and exit codes.\n",
          f);
}

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"info", cmd_info},
    {"scan", cmd_scan},
    {"analyze", cmd_analyze},
};

static int run_command(const char *name, int argc, char **argv)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc, argv);
    return -1;
}

static int unknown_command(const char *cmd)
{
    const char *names[sizeof(commands) / sizeof(commands[0]) + 1];
    size_t n = 0;
    for (; n < sizeof(commands) / sizeof(commands[0]); n++)
        names[n] = commands[n].name;
    names[n++] = "help";
    const char *near = cli_nearest(cmd, names, n);
    if (near)
        fprintf(stderr, "dumpscan: unknown command '%s'; did you mean '%s'?\n", cmd, near);
    else
        fprintf(stderr, "dumpscan: unknown command '%s'\n", cmd);
    fputs("Try 'dumpscan --help'.\n", stderr);
    return DS_EXIT_USAGE;
}

/* `dumpscan help [CMD]`: CMD --help, or the overview. */
static int help(int argc, char **argv)
{
    if (argc < 3) {
        main_usage(stdout);
        return DS_EXIT_OK;
    }
    char help_opt[] = "--help";
    char *sub[] = {argv[2], help_opt, NULL};
    int rc = run_command(argv[2], 2, sub);
    return rc < 0 ? unknown_command(argv[2]) : rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_usage(stderr);
        return DS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        main_usage(stdout);
        return DS_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0)
        return help(argc, argv);
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        cli_version(stdout);
        return DS_EXIT_OK;
    }
    if (strcmp(cmd, "--profile") == 0 || strncmp(cmd, "--profile=", 10) == 0) {
        const char *v = cmd[9] == '=' ? cmd + 10 : argc > 2 ? argv[2] : "";
        if (strcmp(v, "list") == 0) {
            cli_profile_list(stdout);
            return DS_EXIT_OK;
        }
        fputs("dumpscan: --profile before a command only takes 'list'\n"
              "Try 'dumpscan --help'.\n", stderr);
        return DS_EXIT_USAGE;
    }
    int rc = run_command(cmd, argc - 1, argv + 1);
    return rc < 0 ? unknown_command(cmd) : rc;
}
