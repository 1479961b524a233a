/* gen_truth.c - FILE.truth.ndjson: what the generator planted.
 *
 * One JSON object per line.  Addresses are "0x"-prefixed lower-case hex
 * strings, times ISO-8601 UTC with microseconds (generated times are whole
 * microseconds, so the strings are exact), PIDs/TIDs integers, names JSON
 * strings with bytes outside printable ASCII written as \u00XX (Latin-1).
 *
 * Line 1, type "dump_truth": build_key, build, format, size_mib, seed,
 *   noise, is64, pae, dtb, kernel_base, ps_active_process_head,
 *   ps_loaded_module_list, psp_cid_table (address of the PspCidTable
 *   global, as KDDEBUGGER_DATA64.PspCidTable), cid_handle_table (the
 *   HANDLE_TABLE it points to), cid_table_levels, ob_header_cookie (byte,
 *   or null before Win10), kdbg_va, kdbg_encoded, ki_wait_never,
 *   ki_wait_always, kdp_data_block_encoded_va, kd_copy_data_block_va (or
 *   null on x86), low_stub_pa (or null), mm_pfn_database, system_time,
 *   boot_time, processors, session_id_readable (false on 24H2, whose
 *   _PSP_SESSION_SPACE layout is unknown), file_bytes, process_count,
 *   thread_count, decoy_count.
 * type "process": pid, ppid, name, eprocess_va, eprocess_pa (body start;
 *   a straddling body continues on another frame, follow the VA),
 *   object_header_va, pool_header_va, create_time, exit_time (or null),
 *   linked (on ActiveProcessLinks), category, session_id (or null),
 *   thread_count (live threads = ActiveThreads), tag_wiped, straddles,
 *   in_cid_table, dtb, peb.
 * type "thread": tid, pid, ethread_va, ethread_pa, object_header_va,
 *   pool_header_va, alive, create_time,
 *   exit_time, straddles, in_cid_table, start_address,
 *   win32_start_address, teb, trap_frame (or null), trap_ip, trap_sp.
 * type "decoy": pa (where a POOL_HEADER would start), reason.  Decoys in
 *   user-mode pages are absent from `kernel` and `rdmp` dumps.
 * type "module": index, name, path, base, size: PsLoadedModuleList in order.
 * type "driver" (gen_drivers.c): name, path, object_name (DRIVER_OBJECT
 *   name or null), base, size, entry_point, ldr_va, driver_object_va,
 *   list_index (null: not listed), category: listed | hidden (unlinked,
 *   image mapped) | stale (freed loader entry, image gone).
 * type "unloaded": index, name, start, end, unload_time (MmUnloadedDrivers).
 * type "crash" (x64 crash formats, gen_crash.c): the fields of dumpscan
 *   analyze's crash record that the planted crash determines, the stack
 *   frame by frame. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gen_int.h"

void gen_filetime_iso(int64_t ft, char *buf, size_t cap)
{
    int64_t us = ft / 10 - 11644473600ll * 1000000ll;
    time_t secs = (time_t)(us / 1000000);
    long frac = (long)(us % 1000000);
    if (frac < 0) {
        frac += 1000000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

static void put_hex(FILE *f, const char *key, uint64_t v)
{
    fprintf(f, ",\"%s\":\"0x%llx\"", key, (unsigned long long)v);
}

static void put_hex_or_null(FILE *f, const char *key, uint64_t v)
{
    if (v)
        put_hex(f, key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void put_time(FILE *f, const char *key, int64_t ft)
{
    char b[40];
    if (!ft) {
        fprintf(f, ",\"%s\":null", key);
        return;
    }
    gen_filetime_iso(ft, b, sizeof(b));
    fprintf(f, ",\"%s\":\"%s\"", key, b);
}

static void put_bool(FILE *f, const char *key, bool v)
{
    fprintf(f, ",\"%s\":%s", key, v ? "true" : "false");
}

static void put_name(FILE *f, const uint8_t *name)
{
    fputs(",\"name\":\"", f);
    for (size_t i = 0; i < 16 && name[i]; i++) {
        uint8_t c = name[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

const char *gen_cat_name(gen_cat c)
{
    switch (c) {
    case GEN_CAT_NORMAL: return "normal";
    case GEN_CAT_DKOM_UNLINKED: return "dkom_unlinked";
    case GEN_CAT_DKOM_TAG_WIPED: return "dkom_unlinked_tag_wiped";
    case GEN_CAT_TERMINATED_LINKED: return "terminated_linked";
    case GEN_CAT_TERMINATED_FREED: return "terminated_freed";
    case GEN_CAT_UNMAPPED: return "unmapped";
    }
    return "unknown";
}

static void write_header(gen_ctx *g, FILE *f, uint64_t file_bytes)
{
    size_t nthreads = g->nthreads;
    fprintf(f, "{\"type\":\"dump_truth\",\"build_key\":\"%s\",\"build\":%u,\"format\":\"%s\","
               "\"size_mib\":%llu,\"seed\":%llu",
            g->p->key, g->build, gen_format_name(g->o.format), (unsigned long long)g->o.size_mib,
            (unsigned long long)g->o.seed);
    put_bool(f, "noise", g->o.noise);
    put_bool(f, "is64", g->is64);
    put_bool(f, "pae", g->pae);
    put_hex(f, "dtb", g->kroot_pa);
    put_hex(f, "kernel_base", g->kbase);
    put_hex(f, "ps_active_process_head", g->g_active_head);
    put_hex(f, "ps_loaded_module_list", g->g_module_head);
    put_hex(f, "psp_cid_table", g->g_cid_table);
    put_hex(f, "cid_handle_table", g->cid_table_va);
    fprintf(f, ",\"cid_table_levels\":%llu", (unsigned long long)g->cid_levels);
    if (g->p->typeindex_cookie)
        fprintf(f, ",\"ob_header_cookie\":%u", g->cookie);
    else
        fputs(",\"ob_header_cookie\":null", f);
    put_hex(f, "kdbg_va", g->g_kdbg);
    put_bool(f, "kdbg_encoded", g->kdbg_encoded);
    put_bool(f, "kdbg_wiped", g->kdbg_wiped);
    if (g->is64) {
        fprintf(f, ",\"kd_copy_data_block_variant\":\"%s\"", gen_kdcopy_name(g->kdcopy));
        fprintf(f, ",\"kd_copy_data_block_decoys\":%u", g->kdcopy_decoys);
    } else {
        fputs(",\"kd_copy_data_block_variant\":null,\"kd_copy_data_block_decoys\":0", f);
    }
    put_hex(f, "ki_wait_never", g->ki_wait_never);
    put_hex(f, "ki_wait_always", g->ki_wait_always);
    put_hex(f, "kdp_data_block_encoded_va", g->g_kdp_encoded);
    put_hex_or_null(f, "kd_copy_data_block_va", g->kdcopy_va);
    put_hex_or_null(f, "mm_unloaded_drivers", g->g_unloaded_drivers);
    put_hex_or_null(f, "low_stub_pa", g->low_stub_pfn * GEN_PAGE);
    put_hex(f, "mm_pfn_database", g->pfn_db_va);
    put_time(f, "system_time", g->system_time);
    put_time(f, "boot_time", g->boot_time);
    fprintf(f, ",\"processors\":%u", g->ncpu);
    put_bool(f, "session_id_readable", g->p->mm_session_id != DS_OFF_NONE);
    /* kernel-only formats leave out user pages (PEB process parameters) */
    put_bool(f, "user_pages", g->o.format != GEN_FMT_KERNEL && g->o.format != GEN_FMT_RDMP);
    fprintf(f, ",\"file_bytes\":%llu,\"process_count\":%zu,\"thread_count\":%zu,\"decoy_count\":%zu}\n",
            (unsigned long long)file_bytes, g->nprocs, nthreads, g->ndecoys);
}

static void put_path(FILE *f, const char *key, const char *s);

static void put_str_or_null(FILE *f, const char *key, const char *s)
{
    if (s && *s)
        put_path(f, key, s);
    else
        fprintf(f, ",\"%s\":null", key);
}

/* gen_depth.c's fields, as scan must report them. */
static void write_process_depth(gen_ctx *g, FILE *f, const gen_proc *p)
{
    if (p->handle_count >= 0)
        fprintf(f, ",\"handle_count\":%lld", (long long)p->handle_count);
    else
        fputs(",\"handle_count\":null", f);
    put_str_or_null(f, "image_path", p->image_path);
    put_str_or_null(f, "command_line", p->command_line);
    put_str_or_null(f, "current_directory", p->current_directory);
    put_hex(f, "token", p->token);
    if (g->p->ep_protection != DS_OFF_NONE)
        fprintf(f, ",\"protection\":%u", p->protection);
    else
        fputs(",\"protection\":null", f);
    if (p->wow64 >= 0)
        put_bool(f, "wow64", p->wow64);
    else
        fputs(",\"wow64\":null", f);
    if (p->exit_time)
        fputs(",\"exit_status\":\"0x0\"", f);
    else
        fputs(",\"exit_status\":null", f);
}

static void write_thread_depth(gen_ctx *g, FILE *f, const gen_thread *t)
{
    fprintf(f, ",\"state\":%u,\"wait_reason\":%u", t->state, t->wait_reason);
    if (t->wait_mode >= 0)
        fprintf(f, ",\"wait_mode\":\"%s\"", t->wait_mode ? "UserMode" : "KernelMode");
    else
        fputs(",\"wait_mode\":null", f);
    if (t->alertable >= 0)
        put_bool(f, "alertable", t->alertable);
    else
        fputs(",\"alertable\":null", f);
    put_hex_or_null(f, "win32_thread", t->win32_thread);
    put_hex(f, "stack_base", t->stack_base);
    put_hex(f, "stack_limit", t->stack_limit);
    put_hex(f, "kernel_stack", t->kernel_stack);
    if (t->syscall) {
        fprintf(f, ",\"syscall_number\":%u,\"syscall_name\":\"%s\",\"syscall_source\":\"%s\"",
                t->syscall_number, t->syscall,
                g->p->kt_syscall_number != DS_OFF_NONE ? "kthread" : "trap_frame");
    } else {
        fputs(",\"syscall_number\":null,\"syscall_name\":null,\"syscall_source\":null", f);
    }
}

static void write_process(gen_ctx *g, FILE *f, const gen_proc *p)
{
    fprintf(f, "{\"type\":\"process\",\"pid\":%u,\"ppid\":%u", p->pid, p->ppid);
    put_name(f, p->name);
    put_hex(f, "eprocess_va", p->va);
    put_hex(f, "eprocess_pa", p->pa);
    put_hex(f, "object_header_va", p->hdr_va);
    put_hex(f, "pool_header_va", p->pool_va);
    put_time(f, "create_time", p->create_time);
    put_time(f, "exit_time", p->exit_time);
    put_bool(f, "linked", p->linked);
    fprintf(f, ",\"category\":\"%s\"", gen_cat_name(p->cat));
    if (p->session >= 0)
        fprintf(f, ",\"session_id\":%d", p->session);
    else
        fputs(",\"session_id\":null", f);
    fprintf(f, ",\"thread_count\":%u", p->live_threads);
    put_bool(f, "tag_wiped", p->tag_wiped);
    put_bool(f, "straddles", p->straddles);
    put_bool(f, "in_cid_table", p->in_cid);
    put_hex(f, "dtb", p->dtb);
    put_hex(f, "peb", p->peb);
    write_process_depth(g, f, p);
    fputs("}\n", f);
}

static void write_thread(gen_ctx *g, FILE *f, const gen_thread *t)
{
    fprintf(f, "{\"type\":\"thread\",\"tid\":%u,\"pid\":%u", t->tid, g->procs[t->proc].pid);
    put_hex(f, "ethread_va", t->va);
    put_hex(f, "ethread_pa", t->pa);
    put_hex(f, "object_header_va", t->hdr_va);
    put_hex(f, "pool_header_va", t->pool_va);
    put_bool(f, "alive", t->alive);
    put_time(f, "create_time", t->create_time);
    put_time(f, "exit_time", t->exit_time);
    put_bool(f, "straddles", t->straddles);
    put_bool(f, "in_cid_table", t->in_cid);
    put_hex(f, "start_address", t->start);
    put_hex(f, "win32_start_address", t->win32_start);
    put_hex(f, "teb", t->teb);
    put_hex_or_null(f, "trap_frame", t->trap_va);
    put_hex(f, "trap_ip", t->trap_ip);
    put_hex(f, "trap_sp", t->trap_sp);
    write_thread_depth(g, f, t);
    fputs("}\n", f);
}

static void write_module(FILE *f, const gen_module *m, unsigned index)
{
    fprintf(f, "{\"type\":\"module\",\"index\":%u,\"name\":\"%s\",\"path\":\"", index, m->name);
    for (const char *c = m->path; *c; c++)
        fprintf(f, *c == '\\' ? "\\\\" : "%c", *c);
    fputc('"', f);
    put_hex(f, "base", m->base);
    fprintf(f, ",\"size\":%llu}\n", (unsigned long long)m->size);
}

static void put_path(FILE *f, const char *key, const char *s)
{
    fprintf(f, ",\"%s\":", key);
    if (!*s) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c >= 0x80) { /* the generator's strings are Latin-1, widened as such */
            fputc(0xc0 | (*c >> 6), f);
            fputc(0x80 | (*c & 0x3f), f);
            continue;
        }
        if (*c == '\\' || *c == '"')
            fputc('\\', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

/* Every driver the dump holds (gen_drivers.c) with what scan must say. */
static void write_driver(FILE *f, const gen_driver *d)
{
    fprintf(f, "{\"type\":\"driver\",\"name\":\"%s\"", d->name);
    put_path(f, "path", d->path);
    put_path(f, "object_name", d->object_name);
    put_hex(f, "base", d->base);
    fprintf(f, ",\"size\":%llu", (unsigned long long)d->size);
    put_hex_or_null(f, "entry_point", d->entry);
    put_hex_or_null(f, "ldr_va", d->ldr_va);
    put_hex_or_null(f, "driver_object_va", d->object_va);
    if (d->list_index < 0)
        fputs(",\"list_index\":null", f);
    else
        fprintf(f, ",\"list_index\":%d", d->list_index);
    fprintf(f, ",\"category\":\"%s\"}\n", d->category);
}

static void write_unloaded(FILE *f, const gen_unloaded *u)
{
    fprintf(f, "{\"type\":\"unloaded\",\"index\":%u,\"name\":\"%s\"", u->index, u->name);
    put_hex(f, "start", u->start);
    put_hex(f, "end", u->end);
    put_time(f, "unload_time", u->time);
    fputs("}\n", f);
}

static void put_location(FILE *f, const char *key, const char *mod, uint64_t off)
{
    fprintf(f, ",\"%s\":\"%s+0x%llx\"", key, mod, (unsigned long long)off);
}

/* The planted crash (gen_crash.c), as `dumpscan analyze` must report it. */
static void write_crash(gen_ctx *g, FILE *f)
{
    const gen_crash *c = &g->crash;
    const gen_thread *t = &g->threads[c->thread];
    fprintf(f, "{\"type\":\"crash\"");
    put_hex(f, "bugcheck_code", c->code);
    fputs(",\"bugcheck_params\":[", f);
    for (int i = 0; i < 4; i++)
        fprintf(f, "%s\"0x%llx\"", i ? "," : "", (unsigned long long)c->params[i]);
    fputc(']', f);
    fprintf(f, ",\"process\":\"System\",\"pid\":4,\"tid\":%u,\"processor\":%u", t->tid, c->cpu);
    put_hex(f, "faulting_ip", c->fault_ip);
    fputs(",\"faulting_module\":\"netdrv.sys\"", f);
    put_hex(f, "faulting_offset", c->fault_ip - c->drv_base);
    put_location(f, "faulting_location", "netdrv.sys", c->fault_ip - c->drv_base);
    fprintf(f, ",\"instruction\":\"%s\",\"stack\":[", c->instruction);
    for (unsigned i = 0; i < c->nframes; i++) {
        const gen_frame *fr = &c->frames[i];
        fprintf(f, "%s{\"frame\":%u,\"sp\":\"0x%llx\",\"ip\":\"0x%llx\",\"module\":\"%s\","
                   "\"offset\":\"0x%llx\",\"method\":\"%s\"}",
                i ? "," : "", i, (unsigned long long)fr->sp, (unsigned long long)fr->ip, fr->module,
                (unsigned long long)fr->offset, fr->method);
    }
    fputs("],\"stack_end\":\"end\",\"caused_by\":\"netdrv.sys\"", f);
    put_location(f, "caused_by_location", "netdrv.sys", c->fault_ip - c->drv_base);
    fprintf(f, ",\"bucket\":\"0xD1_netdrv.sys+0x%llx\",\"bucket_module\":\"0xD1_netdrv.sys\"}\n",
            (unsigned long long)(c->fault_ip - c->drv_base));
}

ds_err gen_write_truth(gen_ctx *g, const char *path, uint64_t file_bytes)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return ds_fail(g->eb, DS_ERR_IO, "cannot create %s", path);
    write_header(g, f, file_bytes);
    for (size_t i = 0; i < g->nprocs; i++)
        write_process(g, f, &g->procs[i]);
    for (size_t i = 0; i < g->nthreads; i++)
        write_thread(g, f, &g->threads[i]);
    for (unsigned i = 0; i < g->nmods; i++)
        write_module(f, &g->mods[i], i);
    for (unsigned i = 0; i < g->ndrivers; i++)
        write_driver(f, &g->drivers[i]);
    for (unsigned i = 0; i < g->nunloaded; i++)
        write_unloaded(f, &g->unloaded[i]);
    if (g->crash.planted)
        write_crash(g, f);
    for (size_t i = 0; i < g->ndecoys; i++) {
        fprintf(f, "{\"type\":\"decoy\"");
        put_hex(f, "pa", g->decoys[i].pa);
        fprintf(f, ",\"reason\":\"%s\"}\n", g->decoys[i].reason);
    }
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0 || bad)
        return ds_fail(g->eb, DS_ERR_IO, "write failed on %s", path);
    return DS_OK;
}
