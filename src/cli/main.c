/* main.c - entry point of the dumpscan command-line tool.
 *
 * `dumpscan <command> [options] ...`: the first argument picks a command,
 * which parses the rest itself (see cmd_*.c).  Only the CLI prints; the
 * library returns error codes.  Exit codes are listed in cli.h. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ds_version.h"

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
          "`dumpscan <command> --help` describes a command's options.\n",
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_usage(stderr);
        return DS_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        main_usage(stdout);
        return DS_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("dumpscan %s\n", DUMPSCAN_VERSION);
        return DS_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "dumpscan: unknown command '%s'\n", cmd);
    main_usage(stderr);
    return DS_EXIT_USAGE;
}
