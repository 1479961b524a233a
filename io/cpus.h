/* cpus.h - how many CPUs this process may really use.
 *
 * Not every online CPU: Slurm, taskset and containers give a process an
 * affinity mask, and cgroups (Docker --cpus, Kubernetes limits, Slurm's
 * cgroup plugin) a CPU quota.  The default worker count is the smaller
 * of the two: the CPUs in sched_getaffinity's mask, and the quota
 * rounded up (cgroup v2 cpu.max of this process's cgroup and every
 * parent; cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us). */
#ifndef DS_IO_CPUS_H
#define DS_IO_CPUS_H

/* CPUs this process may use, at least 1. */
unsigned ds_usable_cpus(void);
/* The same, worked out on the first call and remembered (for per-dump
 * decisions in bulk runs, where the syscalls would add up). */
unsigned ds_usable_cpus_once(void);

/* The same from explicit sources (tests): the affinity count (0:
 * unknown), the cgroup filesystem root (e.g. "/sys/fs/cgroup") and the
 * text of /proc/self/cgroup. */
unsigned ds_usable_cpus_from(unsigned affinity, const char *cgroup_root, const char *proc_cgroup);

/* CPUs a cgroup v2 cpu.max text grants: "200000 100000" -> 2, "150000
 * 100000" -> 2 (rounded up), "max 100000" -> 0 (no limit); 0 when the
 * text is not understood. */
unsigned ds_cpu_max_parse(const char *text);

#endif
