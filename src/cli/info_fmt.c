/* info_fmt.c - what `dumpscan info` prints for one dump.
 *
 * Records: one `dump` record with a fixed field list (docs/output.md),
 * unknown values as null, then for triage minidumps the crashing
 * `process`, its `thread` and one `driver` record per loaded driver the
 * triage block lists.  Table: a WinDbg-like text block built from the
 * same ds_dump facts.  Nothing here opens files or prints: the caller
 * passes a writer or a string buffer, so tests can feed a hand-made
 * ds_dump. */
#include <inttypes.h>
#include <string.h>

#include "../bugcheck.h"
#include "../timefmt.h"
#include "cli.h"
#include "recfmt.h"

/* ---- records ---------------------------------------------------------- */

static void hex_or_null(ds_rec *r, const char *name, uint64_t v)
{
    if (v)
        ds_rec_hex(r, name, v);
    else
        ds_rec_null(r, name);
}

static void u64_or_null(ds_rec *r, const char *name, uint64_t v)
{
    if (v)
        ds_rec_u64(r, name, v);
    else
        ds_rec_null(r, name);
}

/* A fixed-size char array that may lack its NUL: up to the first NUL or
 * the end; empty -> null. */
static void chars_or_null(ds_rec *r, const char *name, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n)
        ds_rec_bytes(r, name, s, n);
    else
        ds_rec_null(r, name);
}

static bool is_crash_format(const ds_dump *d)
{
    return d->format == DS_FMT_CRASH64 || d->format == DS_FMT_CRASH32;
}

static void rec_head(ds_rec *r, ds_writer *w, const char *type, const char *path, const char *id)
{
    ds_rec_begin(r, w, type);
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
}

static ds_err dump_record(ds_writer *w, ds_rec *r, ds_batch *b, const char *path, const char *id,
                          const ds_dump *d)
{
    rec_head(r, w, "dump", path, id);
    ds_rec_u64(r, "size", d->file.size);
    ds_rec_str(r, "format", d->format_name);
    if (is_crash_format(d)) {
        ds_rec_u64(r, "dump_type", d->dump_type);
        ds_rec_str(r, "dump_type_name", d->dump_type_name);
    } else {
        ds_rec_null(r, "dump_type");
        ds_rec_null(r, "dump_type_name");
    }
    u64_or_null(r, "build", d->build);
    if (d->arch != DS_ARCH_UNKNOWN)
        ds_rec_str(r, "arch", ds_arch_name(d->arch));
    else
        ds_rec_null(r, "arch");
    u64_or_null(r, "processors", d->processors);
    hex_or_null(r, "dtb", d->dtb);
    hex_or_null(r, "kernel_base", d->kernel_base);
    hex_or_null(r, "ps_active_process_head", d->ps_active_process_head);
    hex_or_null(r, "ps_loaded_module_list", d->ps_loaded_module_list);
    hex_or_null(r, "kd_debugger_data_block", d->kdbg_va);
    if (d->has_bugcheck) {
        ds_rec_hex(r, "bugcheck_code", d->bugcheck_code);
        ds_rec_str(r, "bugcheck_name", ds_bugcheck_name(d->bugcheck_code));
        ds_rec_hex_array(r, "bugcheck_params", d->bugcheck_params, 4);
    } else {
        ds_rec_null(r, "bugcheck_code");
        ds_rec_null(r, "bugcheck_name");
        ds_rec_null(r, "bugcheck_params");
    }
    ds_rec_time(r, "system_time", d->system_time);
    if (d->uptime_100ns >= 0)
        ds_rec_fixed(r, "uptime_s", d->uptime_100ns, 7);
    else
        ds_rec_null(r, "uptime_s");
    ds_rec_u64(r, "pages_present", d->pages_present);
    ds_rec_u64(r, "pages_expected", d->pages_expected);
    ds_rec_u64(r, "pages_missing", d->pages_missing);
    ds_rec_bool(r, "truncated", d->truncated);
    u64_or_null(r, "product_type", d->product_type);
    if (is_crash_format(d) || d->suite_mask)
        ds_rec_hex(r, "suite_mask", d->suite_mask);
    else
        ds_rec_null(r, "suite_mask");
    if (d->profile) {
        ds_rec_str(r, "profile", d->profile->key);
        ds_rec_str(r, "profile_match", ds_profile_match_name(d->profile_match));
    } else {
        ds_rec_null(r, "profile");
        ds_rec_null(r, "profile_match");
    }
    chars_or_null(r, "nt_build_lab", d->nt_build_lab, sizeof(d->nt_build_lab));
    chars_or_null(r, "notes", d->notes, sizeof(d->notes));
    return rec_done(r, b);
}

static ds_err triage_records(ds_writer *w, ds_rec *r, ds_batch *b, const char *path,
                             const char *id, const ds_triage *t)
{
    ds_err e;

    if (t->has_process) {
        rec_head(r, w, "process", path, id);
        ds_rec_u64(r, "pid", t->process_pid);
        ds_rec_u64(r, "ppid", t->process_ppid);
        ds_rec_bytes(r, "name", t->process_name, strnlen(t->process_name, sizeof(t->process_name)));
        ds_rec_str(r, "source", "triage");
        if ((e = rec_done(r, b)))
            return e;
    }
    if (t->has_thread) {
        rec_head(r, w, "thread", path, id);
        ds_rec_u64(r, "pid", t->thread_pid);
        ds_rec_u64(r, "tid", t->thread_tid);
        ds_rec_str(r, "source", "triage");
        if ((e = rec_done(r, b)))
            return e;
    }
    for (uint32_t i = 0; t->drivers && i < t->ndrivers; i++) {
        const ds_triage_driver *dr = &t->drivers[i];
        rec_head(r, w, "driver", path, id);
        ds_rec_u64(r, "index", i);
        ds_rec_str(r, "name", dr->name ? dr->name : "");
        ds_rec_hex(r, "base", dr->base);
        ds_rec_u64(r, "size", dr->size);
        if ((e = rec_done(r, b)))
            return e;
    }
    return DS_OK;
}

ds_err ds_info_records(ds_writer *w, ds_rec *r, ds_batch *b, const char *path, const char *id,
                       const ds_dump *d)
{
    ds_err e = dump_record(w, r, b, path, id, d);
    if (e == DS_OK && d->triage)
        e = triage_records(w, r, b, path, id, d->triage);
    return e;
}

/* ---- table ------------------------------------------------------------ */

const char *ds_windows_name(uint32_t build)
{
    if (build >= 22000)
        return "Windows 11";
    if (build >= 10240)
        return "Windows 10";
    if (build >= 9600)
        return "Windows 8.1";
    if (build >= 9200)
        return "Windows 8";
    if (build >= 7600)
        return "Windows 7";
    if (build >= 6000)
        return "Windows Vista";
    if (build >= 3790)
        return "Windows Server 2003";
    if (build >= 2600)
        return "Windows XP";
    if (build >= 2195)
        return "Windows 2000";
    return "Windows";
}

const char *ds_product_type_name(uint32_t product)
{
    switch (product) {
    case 1: return "WinNt";
    case 2: return "LanManNt";
    case 3: return "ServerNt";
    default: return NULL;
    }
}

void ds_suite_mask_names(ds_strbuf *sb, uint32_t mask)
{
    /* VER_SUITE_* bits, named as WinDbg prints them */
    static const char *const names[16] = {
        "SmallBusiness", "Enterprise", "BackOffice", "CommunicationServer",
        "TerminalServer", "SmallBusinessRestricted", "EmbeddedNT", "DataCenter",
        "SingleUserTS", "Personal", "Blade", "EmbeddedRestricted",
        "SecurityAppliance", "StorageServer", "ComputeServer", "WHServer",
    };
    bool first = true;
    for (unsigned bit = 0; bit < 32; bit++) {
        if (!(mask & (1u << bit)))
            continue;
        if (!first)
            ds_sb_addc(sb, ' ');
        first = false;
        if (bit < 16)
            ds_sb_adds(sb, names[bit]);
        else
            ds_sb_printf(sb, "0x%x", 1u << bit);
    }
}

void ds_windbg_addr(ds_strbuf *sb, uint64_t va, bool is64)
{
    if (is64)
        ds_sb_printf(sb, "0x%08" PRIx64 "`%08" PRIx64, va >> 32, va & 0xffffffffu);
    else
        ds_sb_printf(sb, "0x%08" PRIx64, va);
}

static const char *arch_text(ds_arch a)
{
    switch (a) {
    case DS_ARCH_X64: return "x64";
    case DS_ARCH_X86:
    case DS_ARCH_X86_PAE: return "x86compatible";
    case DS_ARCH_ARM64: return "ARM64";
    default: return NULL;
    }
}

static bool arch_is64(const ds_dump *d, uint64_t v)
{
    if (d->arch == DS_ARCH_X64 || d->arch == DS_ARCH_ARM64)
        return true;
    if (d->arch == DS_ARCH_UNKNOWN)
        return v > 0xffffffffu;
    return false;
}

static void table_dump_line(ds_strbuf *sb, const char *path, const ds_dump *d)
{
    ds_sb_adds(sb, "Dump:     ");
    ds_text_line(sb, path, strlen(path));
    ds_sb_printf(sb, " (%s", d->format_name ? d->format_name : "unknown");
    if (is_crash_format(d)) {
        if (d->dump_type_name)
            ds_sb_printf(sb, " %s", d->dump_type_name);
        else
            ds_sb_printf(sb, " DumpType %u", d->dump_type);
    }
    ds_sb_printf(sb, ", %" PRIu64 " bytes)\n", d->file.size);
}

static void table_version_line(ds_strbuf *sb, const ds_dump *d)
{
    if (!d->build)
        return;
    ds_sb_printf(sb, "%s Kernel Version %u", ds_windows_name(d->build), d->build);
    if (d->processors)
        ds_sb_printf(sb, " %s (%u procs)", d->processors == 1 ? "UP" : "MP", d->processors);
    if (d->major_version == 0xf)
        ds_sb_adds(sb, " Free");
    else if (d->major_version == 0xc)
        ds_sb_adds(sb, " Checked");
    const char *a = arch_text(d->arch);
    if (a)
        ds_sb_printf(sb, " %s", a);
    ds_sb_addc(sb, '\n');
}

static void table_built_by_line(ds_strbuf *sb, const ds_dump *d)
{
    size_t n = strnlen(d->nt_build_lab, sizeof(d->nt_build_lab));
    if (!n)
        return;
    ds_sb_adds(sb, "Built by: ");
    ds_text_line(sb, d->nt_build_lab, n);
    ds_sb_addc(sb, '\n');
}

static void table_product_line(ds_strbuf *sb, const ds_dump *d)
{
    if (!d->product_type)
        return;
    const char *p = ds_product_type_name(d->product_type);
    if (p)
        ds_sb_printf(sb, "Product: %s", p);
    else
        ds_sb_printf(sb, "Product: 0x%x", d->product_type);
    if (d->suite_mask) {
        ds_sb_adds(sb, ", suite: ");
        ds_suite_mask_names(sb, d->suite_mask);
    }
    ds_sb_addc(sb, '\n');
}

static void table_addr(ds_strbuf *sb, const ds_dump *d, uint64_t v)
{
    if (v)
        ds_windbg_addr(sb, v, arch_is64(d, v));
    else
        ds_sb_adds(sb, "unknown");
}

static void table_kernel_line(ds_strbuf *sb, const ds_dump *d)
{
    if (!d->kernel_base && !d->ps_loaded_module_list)
        return;
    ds_sb_adds(sb, "Kernel base = ");
    table_addr(sb, d, d->kernel_base);
    ds_sb_adds(sb, " PsLoadedModuleList = ");
    table_addr(sb, d, d->ps_loaded_module_list);
    ds_sb_addc(sb, '\n');
}

static void table_time_lines(ds_strbuf *sb, const ds_dump *d)
{
    char t[DS_TIME_TEXT_LEN];
    if (ds_time_windbg(d->system_time, t, sizeof(t)))
        ds_sb_printf(sb, "Debug session time: %s (UTC + 0:00)\n", t);
    if (ds_uptime_windbg(d->uptime_100ns, t, sizeof(t)))
        ds_sb_printf(sb, "System Uptime: %s\n", t);
    else
        ds_sb_adds(sb, "System Uptime: not available\n");
}

static void table_bugcheck_lines(ds_strbuf *sb, const ds_dump *d)
{
    if (!d->has_bugcheck)
        return;
    const uint64_t *p = d->bugcheck_params;
    ds_sb_printf(sb, "BugCheck %X, {%" PRIx64 ", %" PRIx64 ", %" PRIx64 ", %" PRIx64 "}\n",
                 d->bugcheck_code, p[0], p[1], p[2], p[3]);
    const char *name = ds_bugcheck_name(d->bugcheck_code);
    if (name)
        ds_sb_printf(sb, "%s\n", name);
}

/* Lines beyond what WinDbg shows: triage contents, profile, page counts. */
static void table_extra_lines(ds_strbuf *sb, const ds_dump *d)
{
    const ds_triage *t = d->triage;
    if (t && t->has_process) {
        ds_sb_adds(sb, "Process: ");
        ds_text_line(sb, t->process_name, strnlen(t->process_name, sizeof(t->process_name)));
        ds_sb_printf(sb, " (pid %" PRIu64 ", ppid %" PRIu64 ")\n", t->process_pid,
                     t->process_ppid);
    }
    if (t && t->has_thread)
        ds_sb_printf(sb, "Thread: tid %" PRIu64 " (pid %" PRIu64 ")\n", t->thread_tid,
                     t->thread_pid);
    if (t)
        ds_sb_printf(sb, "Drivers: %u\n", t->ndrivers);
    if (d->dtb)
        ds_sb_printf(sb, "DTB: 0x%" PRIx64 "\n", d->dtb);
    if (d->profile)
        ds_sb_printf(sb, "Profile: %s (%s)\n", d->profile->key,
                     ds_profile_match_name(d->profile_match));
    ds_sb_printf(sb, "Pages: %" PRIu64 " present, %" PRIu64 " expected, %" PRIu64 " missing%s\n",
                 d->pages_present, d->pages_expected, d->pages_missing,
                 d->truncated ? " (truncated)" : "");
    size_t nl = strnlen(d->notes, sizeof(d->notes));
    if (nl) {
        ds_sb_adds(sb, "Notes: ");
        ds_text_line(sb, d->notes, nl);
        ds_sb_addc(sb, '\n');
    }
}

void ds_info_table(ds_strbuf *sb, const char *path, const ds_dump *d)
{
    table_dump_line(sb, path, d);
    table_version_line(sb, d);
    table_built_by_line(sb, d);
    table_product_line(sb, d);
    table_kernel_line(sb, d);
    table_time_lines(sb, d);
    table_bugcheck_lines(sb, d);
    table_extra_lines(sb, d);
    ds_sb_addc(sb, '\n');
}
