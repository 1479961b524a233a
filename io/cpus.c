/* cpus.c - CPUs this process may use: affinity mask and cgroup quota
 * (see cpus.h).  Reads a few small files under /sys/fs/cgroup; anything
 * missing or unreadable means "no limit from there". */
#define _GNU_SOURCE
#include "cpus.h"

#include <stdatomic.h>

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CPUS 1024

unsigned ds_cpu_max_parse(const char *text)
{
    char quota[32];
    unsigned long long period;
    if (!text || sscanf(text, "%31s %llu", quota, &period) != 2 || period == 0)
        return 0;
    if (strcmp(quota, "max") == 0)
        return 0;
    char *end;
    unsigned long long q = strtoull(quota, &end, 10);
    if (*end || q == 0)
        return 0;
    unsigned long long n = (q + period - 1) / period;
    return n > MAX_CPUS ? MAX_CPUS : (unsigned)n;
}

static bool read_small(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    return n > 0;
}

static unsigned min_limit(unsigned a, unsigned b)
{
    return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* cgroup v2: cpu.max of the process's cgroup and each parent. */
static unsigned v2_limit(const char *root, const char *rel)
{
    char path[4096], buf[128];
    unsigned lim = 0;
    char cur[2048];
    snprintf(cur, sizeof(cur), "%s", rel);
    for (int depth = 0; depth < 64; depth++) {
        snprintf(path, sizeof(path), "%s%s/cpu.max", root, strcmp(cur, "/") == 0 ? "" : cur);
        if (read_small(path, buf, sizeof(buf)))
            lim = min_limit(lim, ds_cpu_max_parse(buf));
        char *slash = strrchr(cur, '/');
        if (!slash || strcmp(cur, "/") == 0)
            break;
        if (slash == cur)
            cur[1] = 0; /* up to "/" */
        else
            *slash = 0;
    }
    return lim;
}

/* cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller. */
static unsigned v1_limit(const char *root, const char *rel)
{
    char path[4096], q[64], p[64];
    snprintf(path, sizeof(path), "%s/cpu%s/cpu.cfs_quota_us", root, rel);
    if (!read_small(path, q, sizeof(q)))
        snprintf(path, sizeof(path), "%s/cpu,cpuacct%s/cpu.cfs_quota_us", root, rel);
    if (!read_small(path, q, sizeof(q)))
        return 0;
    char *slash = strrchr(path, '/');
    snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path), "cpu.cfs_period_us");
    if (!read_small(path, p, sizeof(p)))
        return 0;
    long long quota = atoll(q), period = atoll(p);
    if (quota <= 0 || period <= 0)
        return 0;
    long long n = (quota + period - 1) / period;
    return n > MAX_CPUS ? MAX_CPUS : (unsigned)n;
}

unsigned ds_usable_cpus_from(unsigned affinity, const char *root, const char *proc_cgroup)
{
    unsigned lim = 0;
    const char *line = proc_cgroup;
    while (line && *line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        char buf[2048];
        if (len < sizeof(buf)) {
            memcpy(buf, line, len);
            buf[len] = 0;
            /* "0::/path" (v2) or "N:cpu,cpuacct:/path" (v1) */
            char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c1 && c2) {
                *c2 = 0;
                const char *ctrl = c1 + 1, *rel = c2 + 1;
                if (*ctrl == 0)
                    lim = min_limit(lim, v2_limit(root, rel));
                else if (strstr(ctrl, "cpu") && (strcmp(ctrl, "cpu") == 0 ||
                                                 strncmp(ctrl, "cpu,", 4) == 0 ||
                                                 strstr(ctrl, ",cpu,") || strstr(ctrl, ",cpu")))
                    lim = min_limit(lim, v1_limit(root, rel));
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    unsigned n = min_limit(affinity, lim);
    return n ? n : 1;
}

unsigned ds_usable_cpus(void)
{
    unsigned affinity = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        affinity = (unsigned)CPU_COUNT(&set);
    if (affinity == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        affinity = n > 0 ? (unsigned)n : 1;
    }
    char cg[4096];
    if (!read_small("/proc/self/cgroup", cg, sizeof(cg)))
        cg[0] = 0;
    return ds_usable_cpus_from(affinity, "/sys/fs/cgroup", cg);
}

unsigned ds_usable_cpus_once(void)
{
    static _Atomic unsigned cached;
    unsigned n = atomic_load_explicit(&cached, memory_order_relaxed);
    if (n == 0) {
        n = ds_usable_cpus();
        atomic_store_explicit(&cached, n, memory_order_relaxed);
    }
    return n;
}
