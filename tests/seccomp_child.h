/* seccomp_child.h - fake a kernel's answer to one system call, in a forked
 * child, for tests of paths a healthy machine never takes (io_uring
 * refused, O_DIRECT refused, a no-wait read that would have to wait).
 *
 * fail_when_flag_set() installs a filter that makes syscall nr fail with
 * err whenever argument argi has a bit of mask set (fail_when_equal():
 * equals value), and lets every other call through; run_child_test() runs a test body in a child (a filter
 * cannot be removed) and reads its exit code: 0 passed, 77 skipped (no
 * seccomp on this kernel or architecture: said with cmocka's skip), any
 * other code names the failed check.  Include after cmocka.h. */
#ifndef DS_TESTS_SECCOMP_CHILD_H
#define DS_TESTS_SECCOMP_CHILD_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define TEST_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef TEST_AUDIT_ARCH
static int install_filter(struct sock_filter *filt, unsigned short n)
{
    struct sock_fprog prog = {n, filt};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* Syscall nr fails with err when (low 32 bits of) argument argi passes
 * the jump test op (BPF_JSET: has a bit of k set; BPF_JEQ: equals k). */
static int fail_when_arg(unsigned nr, unsigned argi, unsigned op, unsigned k, int err)
{
    struct sock_filter filt[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TEST_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 (unsigned)(offsetof(struct seccomp_data, args) + 8 * argi)),
        BPF_JUMP((unsigned short)(BPF_JMP | op | BPF_K), k, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    return install_filter(filt, (unsigned short)(sizeof(filt) / sizeof(filt[0])));
}

/* Syscall nr fails with err when (low 32 bits of) argument argi & mask. */
__attribute__((unused)) static int fail_when_flag_set(unsigned nr, unsigned argi, unsigned mask,
                                                      int err)
{
    return fail_when_arg(nr, argi, BPF_JSET, mask, err);
}

/* Syscall nr fails with err when (low 32 bits of) argument argi == value. */
__attribute__((unused)) static int fail_when_equal(unsigned nr, unsigned argi, unsigned value,
                                                   int err)
{
    return fail_when_arg(nr, argi, BPF_JEQ, value, err);
}
#else
__attribute__((unused)) static int fail_when_equal(unsigned nr, unsigned argi, unsigned value,
                                                   int err)
{
    (void)nr, (void)argi, (void)value, (void)err;
    return -1;
}

__attribute__((unused)) static int fail_when_flag_set(unsigned nr, unsigned argi, unsigned mask,
                                                      int err)
{
    (void)nr, (void)argi, (void)mask, (void)err;
    return -1; /* no filter here: the child says 77 and the test is skipped */
}
#endif

/* Run fn in a forked child; skip when it says seccomp is unavailable (77). */
static void run_child_test(int (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

#endif
