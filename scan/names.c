/* names.c - stable output words for the bit sets of records.h.  These
 * strings are part of the output contract (docs/output.md): never rename. */
#include "records.h"

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
    "in_system_handles", "list_damaged",
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
