/* records.h - what the scanner reports: one ds_proc per process object
 * and one ds_thread per thread object, whatever view found them.
 *
 * `sources` is a bit set of the views that saw the object (pool tag scan,
 * dispatcher-structure scan, the active process list, a thread's owner
 * pointer, PspCidTable, a session list).  `failed` is a bit set of the
 * validation checks the object failed; `score` is 100 minus the weights
 * of the failed checks (see validate.c).  Verdicts (unlinked, terminated,
 * hidden) and reasons are filled by the cross-view pass (xview.c). */
#ifndef DS_SCAN_RECORDS_H
#define DS_SCAN_RECORDS_H

#include <stdbool.h>
#include <stdint.h>

enum ds_view {
    DS_VIEW_POOL = 1u << 0,    /* pool-tag scan ("pool") */
    DS_VIEW_STRUCT = 1u << 1,  /* dispatcher-header structure scan ("struct") */
    DS_VIEW_LIST = 1u << 2,    /* ActiveProcessLinks walk ("list") */
    DS_VIEW_THREAD = 1u << 3,  /* owner of a scanned thread ("thread") */
    DS_VIEW_CID = 1u << 4,     /* PspCidTable ("cid") */
    DS_VIEW_SESSION = 1u << 5, /* SessionProcessLinks ("session") */
    DS_VIEW_THREADLIST = 1u << 6, /* a process's thread list (threads only) ("threadlist") */
    DS_VIEW_HANDLES = 1u << 7, /* System process handle table ("handles") */
};
#define DS_VIEW_COUNT 8
const char *ds_view_name(unsigned bit_index);

/* Validation checks; a set bit in `failed` means the check failed. */
enum ds_check {
    DS_CHK_POOL_HEADER = 1u << 0,   /* block size / pool type plausible */
    DS_CHK_OBJECT_TYPE = 1u << 1,   /* OBJECT_HEADER type decodes to Process/Thread */
    DS_CHK_DISPATCHER = 1u << 2,    /* DISPATCHER_HEADER type (and size) */
    DS_CHK_ID = 1u << 3,            /* PID/TID multiple of 4, in range */
    DS_CHK_DTB = 1u << 4,           /* DTB page-aligned and present */
    DS_CHK_NAME = 1u << 5,          /* ImageFileName printable, NUL-terminated */
    DS_CHK_TIMES = 1u << 6,         /* create <= dump time, exit >= create */
    DS_CHK_LINKS = 1u << 7,         /* list pointers canonical kernel VAs */
    DS_CHK_LINKS_BACK = 1u << 8,    /* neighbours point back */
    DS_CHK_THREAD_OWNER = 1u << 9,  /* KTHREAD.Process is a process object */
    DS_CHK_UNREADABLE = 1u << 10,   /* part of the body could not be read */
    DS_CHK_WAITLIST = 1u << 11,     /* DISPATCHER WaitListHead canonical */
    DS_CHK_TYPE_UNVERIFIED = 1u << 12, /* OBJECT_HEADER type could not be
                                        * decoded (Windows 10+ cookie needs a
                                        * kernel VA none gave); weight 0 */
};
#define DS_CHECK_COUNT 13
const char *ds_check_name(unsigned bit_index);

/* Reasons given with verdicts. */
enum ds_reason {
    DS_RSN_NOT_IN_ACTIVE_LIST = 1u << 0,
    DS_RSN_IN_CID_TABLE = 1u << 1,
    DS_RSN_LIVE_THREADS = 1u << 2,
    DS_RSN_TAG_WIPED = 1u << 3,
    DS_RSN_EXIT_TIME_SET = 1u << 4,
    DS_RSN_POOL_FREED = 1u << 5,
    DS_RSN_NO_ACTIVE_THREADS = 1u << 6,
    DS_RSN_IN_SESSION_LIST = 1u << 7,
    DS_RSN_SPECIAL_PROCESS = 1u << 8, /* System/Idle/Registry/MemCompression rule */
    DS_RSN_KERNEL_UNMAPPED = 1u << 9,
    DS_RSN_SYSTEM_HANDLE = 1u << 10, /* the System process holds a handle to it */
    DS_RSN_LIST_DAMAGED = 1u << 11, /* judged against a damaged active list (list_status) */
    DS_RSN_LIST_UNREADABLE = 1u << 12, /* off the walked list, but its own links are
                                        * intact and lead into unreadable memory:
                                        * membership cannot be judged (truncated or
                                        * partial dump), so not `unlinked` */
};
#define DS_REASON_COUNT 13
const char *ds_reason_name(unsigned bit_index);

/* Health of the active process list (dump record `list_status`). */
enum ds_list_status {
    DS_LIST_OK = 0,     /* both walks came back to the head */
    DS_LIST_BROKEN,     /* a walk did not: smeared, looping or unreadable links */
    DS_LIST_EMPTY,      /* the head links to itself while processes live */
    DS_LIST_SHORT,      /* far fewer entries than the other views see alive */
    DS_LIST_ABSENT,     /* no list head known */
};
const char *ds_list_status_name(unsigned s);

/* KTHREAD.State and KTHREAD.WaitReason as named in the DDK (NULL when
 * the value is not one of the build's). */
const char *ds_thread_state_name(unsigned state);
const char *ds_wait_reason_name(unsigned build, unsigned reason);

#define DS_NO_VALUE UINT64_MAX

/* Where a thread's system service number came from. */
enum ds_syscall_source {
    DS_SYSCALL_NONE = 0,   /* a kernel thread, or nothing readable */
    DS_SYSCALL_KTHREAD,    /* KTHREAD.SystemCallNumber of a thread from user mode */
    DS_SYSCALL_TRAP_FRAME, /* the system-call trap frame's Rax/Eax (XP has no field) */
};

/* ds_proc/ds_thread.type_byte when the body could not be read. */
#define DS_TYPE_BYTE_UNREAD 0xffffu

typedef struct ds_proc {
    uint64_t eprocess_va;      /* DS_NO_VALUE if unknown */
    uint64_t eprocess_pa;      /* DS_NO_VALUE if never located physically */
    uint64_t pool_pa;          /* POOL_HEADER, DS_NO_VALUE if none */
    uint64_t pid, ppid;
    char name[16];             /* raw ImageFileName bytes, NUL-terminated */
    uint32_t session_id;       /* UINT32_MAX unknown */
    int64_t create_time, exit_time; /* FILETIME, 0 = none */
    uint64_t dtb, peb, object_table;
    uint32_t active_threads;
    uint32_t flags;            /* EPROCESS.Flags */
    uint32_t exit_status;
    uint64_t token;            /* EPROCESS.Token object (EX_FAST_REF count bits cleared) */
    int16_t protection;        /* PS_PROTECTION byte, -1 when the build has none */
    int8_t wow64;              /* 1 a 32-bit process on x64, 0 not, -1 unknown (x86) */
    uint64_t image_path_va;    /* SeAuditProcessCreationInfo.ImageFileName, 0 none */
    uint64_t links_flink, links_blink;
    int score;
    uint32_t failed;           /* ds_check bits */
    uint32_t sources;          /* ds_view bits */
    bool tag_wiped;            /* found without a valid pool tag */
    bool pool_free;            /* pool header says the chunk is free */
    /* cross-view */
    bool unlinked, terminated, hidden;
    uint32_t reasons;          /* ds_reason bits */
    uint32_t thread_count;     /* threads found that name this process */
    uint16_t type_byte;        /* body byte 0 (Header.Type) as validation read
                                  it, DS_TYPE_BYTE_UNREAD if not read */
} ds_proc;

typedef struct ds_thread {
    uint64_t ethread_va, ethread_pa, pool_pa;
    uint64_t pid, tid;
    uint64_t eprocess_va;      /* KTHREAD.Process */
    uint64_t start_address, win32_start_address, teb;
    int64_t create_time, exit_time;
    uint32_t state, wait_reason;
    uint64_t win32_thread, stack_base, stack_limit, kernel_stack;
    int8_t wait_mode;          /* 0 KernelMode, 1 UserMode, -1 unknown */
    int8_t alertable;          /* 0/1, -1 unknown for this build */
    int8_t previous_mode;      /* 0 kernel, 1 user, -1 unknown */
    uint8_t syscall_source;    /* DS_SYSCALL_* */
    uint32_t syscall_number;   /* valid when syscall_source != DS_SYSCALL_NONE */
    uint64_t trap_frame;
    uint64_t rip, rsp;         /* from the trap frame; DS_NO_VALUE unknown */
    uint32_t cross_flags;
    uint16_t type_byte;        /* as in ds_proc */
    uint64_t list_flink;       /* ThreadListEntry.Flink as validation read it
                                  (DS_NO_VALUE: not read); the cross-view
                                  walks the thread lists through it */
    int score;
    uint32_t failed;
    uint32_t sources;
    bool tag_wiped, pool_free;
} ds_thread;

#endif
