/* names.c - stable output words for the bit sets of records.h.  These
 * strings are part of the output contract (docs/output.md): never rename. */
#include "records.h"

#include <stddef.h>

static const char *const view_names[DS_VIEW_COUNT] = {
    "pool", "struct", "list", "thread", "cid", "session", "threadlist", "handles",
};

static const char *const check_names[DS_CHECK_COUNT] = {
    "pool_header", "object_type", "dispatcher", "id", "dtb", "name",
    "times", "links", "links_back", "thread_owner", "unreadable", "waitlist",
    "type_unverified",
};

static const char *const reason_names[DS_REASON_COUNT] = {
    "not_in_active_list", "in_cid_table", "live_threads", "tag_wiped", "exit_time_set",
    "pool_freed", "no_active_threads", "in_session_list", "special_process", "kernel_unmapped",
    "in_system_handles", "list_damaged", "list_unreadable",
};

const char *ds_view_name(unsigned i)
{
    return i < DS_VIEW_COUNT ? view_names[i] : "?";
}

const char *ds_check_name(unsigned i)
{
    return i < DS_CHECK_COUNT ? check_names[i] : "?";
}

static const char *const list_status_names[] = {
    "ok", "broken", "empty", "short", "absent",
};

const char *ds_list_status_name(unsigned s)
{
    return s < sizeof(list_status_names) / sizeof(list_status_names[0]) ? list_status_names[s]
                                                                         : "?";
}

const char *ds_reason_name(unsigned i)
{
    return i < DS_REASON_COUNT ? reason_names[i] : "?";
}

/* KTHREAD_STATE (ntddk/ntosp.h; stable since NT 4 with additions). */
const char *ds_thread_state_name(unsigned s)
{
    static const char *const n[] = {
        "Initialized", "Ready",      "Running",       "Standby",
        "Terminated",  "Waiting",    "Transition",    "DeferredReady",
        "GateWaitObsolete", "WaitingForProcessInSwap",
    };
    return s < sizeof(n) / sizeof(n[0]) ? n[s] : NULL;
}

/* KWAIT_REASON.  0..20 are the same in every build; XP then has five
 * spares and WrKernel (26); Vista added 21..36, Windows 8 37..38,
 * Windows 10 the rest (public headers: WRK ke.h, Windows SDK wdm.h). */
const char *ds_wait_reason_name(unsigned build, unsigned r)
{
    static const char *const n[] = {
        "Executive", "FreePage", "PageIn", "PoolAllocation", "DelayExecution",
        "Suspended", "UserRequest", "WrExecutive", "WrFreePage", "WrPageIn",
        "WrPoolAllocation", "WrDelayExecution", "WrSuspended", "WrUserRequest",
        "WrEventPair", "WrQueue", "WrLpcReceive", "WrLpcReply", "WrVirtualMemory",
        "WrPageOut", "WrRendezvous", "WrKeyedEvent", "WrTerminated", "WrProcessInSwap",
        "WrCpuRateControl", "WrCalloutStack", "WrKernel", "WrResource", "WrPushLock",
        "WrMutex", "WrQuantumEnd", "WrDispatchInt", "WrPreempted", "WrYieldExecution",
        "WrFastMutex", "WrGuardedMutex", "WrRundown", "WrAlertByThreadId",
        "WrDeferredPreempt", "WrPhysicalFault", "WrIoRing", "WrMdlCache", "WrRcu",
    };
    unsigned count = build >= 10240 ? 43 : build >= 9200 ? 39 : build >= 6000 ? 37 : 27;
    if (r >= count)
        return NULL;
    if (build < 6000 && r >= 21 && r <= 25)
        return "Spare";
    return n[r];
}
