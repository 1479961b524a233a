/* main.c - the dumpgen command line.
 *
 *   dumpgen -o FILE [--build KEY] [--format F] [--size-mib N] [--seed N]
 *           [--noise] [--kdbg MODE] [--kdcopy ORDER] [--quiet]
 *
 * Writes FILE and FILE.truth.ndjson (see gen.h and gen_truth.c).  Exit
 * status: 0 ok, 1 generation failed, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: dumpgen -o FILE [--build KEY] [--format FMT] [--size-mib N] [--seed N]\n"
            "               [--noise] [--kdbg MODE] [--kdcopy ORDER] [--quiet]\n"
            "\n"
            "Write a synthetic Windows kernel memory dump FILE and its ground truth\n"
            "FILE.truth.ndjson (processes, threads, decoys planted in it).\n"
            "\n"
            "  -o, --output FILE   dump file to write\n"
            "  -b, --build KEY     Windows build (default %s):\n"
            "                      ",
            GEN_DEFAULT_BUILD);
    for (unsigned i = 0; gen_build_keys[i]; i++)
        fprintf(f, "%s%s", i ? ", " : "", gen_build_keys[i]);
    fprintf(f,
            "\n"
            "  -f, --format FMT    raw | full | bitmap | kernel | rdmp | elf (x64 builds)\n"
            "                      raw | full32 | elf (x86 builds); default raw\n"
            "  -s, --size-mib N    physical memory size, %u..%u MiB (x86: %u..%u); default 64\n"
            "  -S, --seed N        PRNG seed (default 1); same seed, same bytes\n"
            "  -n, --noise         fill unused memory with pseudo-random bytes\n"
            "                      (default: zero, written as sparse holes)\n"
            "  -k, --kdbg MODE     KDDEBUGGER_DATA64 in memory: auto (encoded in x64\n"
            "                      Win8+ raw/elf images, else plain), plain, encoded\n"
            "                      (x64 Win8+), wiped (zeroed)\n"
            "  -K, --kdcopy ORDER  instruction order of nt!KdCopyDataBlock (x64):\n"
            "                      auto (by seed), classic, reordered\n"
            "  -q, --quiet         no summary line\n"
            "  -h, --help          this text\n"
            "\n"
            "exit status: 0 ok, 1 failure, 2 usage error\n",
            GEN_MIN_MIB, GEN_MAX_MIB, GEN_MIN_MIB_X86, GEN_MAX_MIB_X86);
}

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return false;
    *v = x;
    return true;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"build", required_argument, NULL, 'b'},
        {"format", required_argument, NULL, 'f'}, {"size-mib", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},   {"noise", no_argument, NULL, 'n'},
        {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"kdbg", required_argument, NULL, 'k'},   {"kdcopy", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    gen_opts o = {.format = GEN_FMT_RAW, .size_mib = 64, .seed = 1};
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:b:f:s:S:nqhk:K:", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.out_path = optarg; break;
        case 'b': o.build_key = optarg; break;
        case 'f':
            if (!gen_format_parse(optarg, &o.format)) {
                fprintf(stderr, "dumpgen: unknown format '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!parse_u64(optarg, &o.size_mib)) {
                fprintf(stderr, "dumpgen: bad --size-mib '%s'\n", optarg);
                return 2;
            }
            break;
        case 'S':
            if (!parse_u64(optarg, &o.seed)) {
                fprintf(stderr, "dumpgen: bad --seed '%s'\n", optarg);
                return 2;
            }
            break;
        case 'n': o.noise = true; break;
        case 'k':
            if (!gen_kdbg_parse(optarg, &o.kdbg)) {
                fprintf(stderr, "dumpgen: unknown --kdbg '%s'\n", optarg);
                return 2;
            }
            break;
        case 'K':
            if (!gen_kdcopy_parse(optarg, &o.kdcopy)) {
                fprintf(stderr, "dumpgen: unknown --kdcopy '%s'\n", optarg);
                return 2;
            }
            break;
        case 'q': quiet = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc || !o.out_path) {
        fprintf(stderr, "dumpgen: %s\n", optind != argc ? "unexpected argument" : "-o FILE is required");
        usage(stderr);
        return 2;
    }
    ds_errbuf eb = {{0}};
    gen_summary sum = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ds_err e = gen_run(&o, &sum, &eb);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (e) {
        fprintf(stderr, "dumpgen: %s\n", eb.msg[0] ? eb.msg : ds_strerror(e));
        return e == DS_ERR_ARG ? 2 : 1;
    }
    if (!quiet) {
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("dumpgen: wrote %s (%" PRIu64 " bytes, %s, %s): %u processes, %u threads, "
               "%u decoys, %.2f s\n",
               o.out_path, sum.file_bytes, o.build_key ? o.build_key : GEN_DEFAULT_BUILD,
               gen_format_name(o.format), sum.processes, sum.threads, sum.decoys, s);
    }
    return 0;
}
