/* profile.h - per-build kernel structure offsets ("profiles").
 *
 * The table itself (src/profiles_gen.c) is generated from
 * ../shared/reference/offsets.json by scripts/gen_profiles.py and
 * committed; this header is the only view of it the rest of the code has.
 * The scanner and the dump generator (bench/dumpgen) both read it, so
 * there is one table of facts.
 *
 * Selection: ds_profile_select() takes the build number and architecture.
 * An exact build (or kernel-branch) match wins; a build between two rows
 * of the same kernel family, or above the last row up to build 30000,
 * takes the nearest earlier row (DS_PROFILE_NEAREST); a build below every
 * row of its architecture, across a family boundary or beyond 30000 is
 * reported as DS_PROFILE_OUTSIDE and the caller decides (the CLI says so
 * in its records rather than guessing silently).  The full rule is in the
 * opening comment of profile.c.
 *
 * Every offset field is DS_OFF_NONE when offsets.json does not give it
 * for that build (server2022_x64 gives almost nothing: validate, or try
 * another row). */
#ifndef DS_PROFILE_H
#define DS_PROFILE_H

#include <stdbool.h>
#include <stdint.h>

#define DS_OFF_NONE 0xffffu /* field absent in this build */

typedef struct ds_profile {
    const char *key;          /* offsets.json build key, e.g. "win10_2004_22h2_x64" */
    const char *os;           /* human name, e.g. "Windows 10 2004/20H2/21H1/21H2/22H2" */
    uint32_t build_min;       /* first build number this row covers */
    uint32_t build_max;       /* last build number this row covers */
    uint8_t is64;             /* 1 x64, 0 x86 */
    uint8_t ptr_size;         /* 8 or 4 */
    uint8_t pool_align;       /* 16 or 8 */
    uint8_t pool_header_size; /* 16 or 8 */
    uint8_t typeindex_cookie; /* 1 when OBJECT_HEADER.TypeIndex is xor-encoded (Win10+) */
    uint8_t protected_tags;   /* 1 when pool tags carry the 0x80000000 bit (< Win8) */
    uint8_t object_top_down;  /* 1: Win8+ object at start of allocation; 0: at end */
    uint8_t xp_object_type;   /* 1: OBJECT_HEADER.Type is a pointer (XP/2003) */
    uint8_t thread_ctime_shift; /* ETHREAD.CreateTime stored << this (3 on XP) */
    uint8_t process_type_index; /* 0 when unknown */
    uint8_t thread_type_index;
    uint8_t process_dispatcher_size; /* DISPATCHER_HEADER.Size of a process; 0 = unchecked */
    uint8_t thread_dispatcher_size;  /* of a thread; 0 = unchecked */
    /* EPROCESS */
    uint16_t eprocess_size;
    uint16_t ep_dtb;               /* Pcb.DirectoryTableBase */
    uint16_t ep_user_dtb;          /* Pcb.UserDirectoryTableBase */
    uint16_t ep_pcb_thread_list;   /* Pcb.ThreadListHead (KTHREAD.ThreadListEntry) */
    uint16_t ep_pid;               /* UniqueProcessId */
    uint16_t ep_links;             /* ActiveProcessLinks */
    uint16_t ep_flags;
    uint16_t ep_create_time;
    uint16_t ep_exit_time;
    uint16_t ep_session_links;     /* SessionProcessLinks */
    uint16_t ep_token;
    uint16_t ep_object_table;
    uint16_t ep_peb;
    uint16_t ep_session;
    uint16_t ep_ppid;              /* InheritedFromUniqueProcessId */
    uint16_t ep_name;              /* ImageFileName[15] */
    uint16_t ep_thread_list;       /* ThreadListHead (ETHREAD.ThreadListEntry) */
    uint16_t ep_active_threads;
    uint16_t ep_vad_root;
    uint16_t ep_exit_status;
    uint16_t ep_section_base;      /* SectionBaseAddress */
    uint16_t ep_wow64;
    uint16_t ep_job;
    uint16_t ep_win32process;
    uint16_t ep_protection;
    uint16_t ep_se_audit;          /* SeAuditProcessCreationInfo (-> OBJECT_NAME_INFORMATION) */
    uint16_t mm_session_id;        /* _MM_SESSION_SPACE.SessionId */
    /* KTHREAD / ETHREAD */
    uint16_t kthread_size;
    uint16_t ethread_size;
    uint16_t kt_initial_stack;
    uint16_t kt_stack_limit;
    uint16_t kt_stack_base;
    uint16_t kt_kernel_stack;
    uint16_t kt_trap_frame;
    uint16_t kt_apc_process;       /* ApcState.Process */
    uint16_t kt_teb;
    uint16_t kt_state;
    uint16_t kt_win32thread;
    uint16_t kt_process;           /* KTHREAD.Process (absent on XP: use kt_apc_process) */
    uint16_t kt_wait_reason;
    uint16_t kt_thread_list;       /* KTHREAD.ThreadListEntry */
    uint16_t kt_previous_mode;
    uint16_t kt_syscall_number;    /* SystemCallNumber */
    uint16_t kt_wait_mode;         /* WaitMode (not in offsets.json: gen_profiles.py wait_fields) */
    uint16_t kt_alertable;         /* byte holding the Alertable flag */
    uint8_t kt_alertable_bit;      /* its bit */
    uint16_t et_create_time;
    uint16_t et_exit_time;
    uint16_t et_start_address;
    uint16_t et_cid_pid;           /* Cid.UniqueProcess */
    uint16_t et_cid_tid;           /* Cid.UniqueThread */
    uint16_t et_win32_start;
    uint16_t et_thread_list;       /* ETHREAD.ThreadListEntry */
    uint16_t et_threads_process;   /* XP only */
    uint16_t et_cross_flags;       /* CrossThreadFlags */
    uint16_t et_exit_status;
    /* OBJECT_HEADER */
    uint16_t oh_size;
    uint16_t oh_body;
    uint16_t oh_pointer_count;
    uint16_t oh_handle_count;
    uint16_t oh_type;              /* Type pointer (XP) */
    uint16_t oh_type_index;        /* TypeIndex byte (Win7+) */
    uint16_t oh_info_mask;
    uint16_t oh_flags;
    uint16_t oh_name_info_off;     /* XP NameInfoOffset byte */
    uint16_t oh_quota_info_off;    /* XP QuotaInfoOffset byte */
    uint16_t oh_handle_info_off;   /* XP HandleInfoOffset byte */
    /* optional header sizes, indexed by InfoMask bit number 0..7
     * (CREATOR, NAME, HANDLE, QUOTA, PROCESS, AUDIT, EXTENDED or 10586's
     * HANDLE_REVOCATION, PADDING); DS_OFF_NONE = bit not defined in this
     * build, so an InfoMask with that bit set is not a valid header */
    uint16_t oh_opt_size[8];
    /* KTRAP_FRAME */
    uint16_t tf_rip;               /* Rip / Eip */
    uint16_t tf_rsp;               /* Rsp / HardwareEsp */
    uint16_t tf_rbp;               /* Rbp / Ebp */
    uint16_t tf_rax;               /* Rax / Eax: the system service number on entry */
    /* LDR_DATA_TABLE_ENTRY */
    uint16_t ldr_dll_base;
    uint16_t ldr_entry_point;
    uint16_t ldr_size_of_image;
    uint16_t ldr_base_dll_name;
    uint16_t ldr_full_dll_name;
} ds_profile;

typedef enum ds_profile_match {
    DS_PROFILE_EXACT = 0,   /* build inside [build_min, build_max] of a row */
    DS_PROFILE_NEAREST,     /* between rows of one branch: nearest earlier row */
    DS_PROFILE_OUTSIDE,     /* not covered; returned row is a best guess or NULL */
    DS_PROFILE_DETECTED,    /* build unknown: the row whose offsets fit the System
                               process and its first thread (dump.c) */
    DS_PROFILE_FORCED,      /* named by the user (--profile) */
} ds_profile_match;

extern const ds_profile ds_profiles[];
extern const unsigned ds_profile_count;

/* Row by offsets.json key, or NULL. */
const ds_profile *ds_profile_by_key(const char *key);

/* Row for a build/arch.  *match says how it was chosen.  Returns NULL only
 * when no row of that architecture exists at all. */
const ds_profile *ds_profile_select(uint32_t build, bool is64, ds_profile_match *match);

/* Next row covering exactly the same build range as p (e.g.
 * win7_sp1_x64 -> win7_sp1_x64_23418plus), or NULL.  ds_profile_select
 * returns the first such row; a caller whose validation fails may try the
 * siblings in turn. */
const ds_profile *ds_profile_sibling(const ds_profile *p);

const char *ds_profile_match_name(ds_profile_match m);

/* Kernel branch of a build (e.g. 19042..19045 -> 19041, 18363 -> 18362,
 * 22631 -> 22621) as Microsoft's ntoskrnl file version names it. */
uint32_t ds_build_branch(uint32_t build);

#endif
