/* details.c - handle counts, image paths, command lines; see details.h.
 *
 * User memory is read through the process's own page tables (its
 * DirectoryTableBase, which maps user space as well as the shared kernel
 * half).  RTL_USER_PROCESS_PARAMETERS layout (winternl.h and the public
 * ntdll headers; normalized, so its string buffers hold absolute
 * addresses once the process runs):
 *                       x64    x86
 *   PEB.ProcessParameters     0x20   0x10
 *   CurrentDirectory.DosPath  0x38   0x24
 *   ImagePathName             0x60   0x38
 *   CommandLine               0x70   0x40 */
#include "details.h"

#include <stdlib.h>
#include <string.h>

#include "../io/file.h"
#include "../src/modules.h"
#include "../src/triage.h"
#include "handletable.h"
#include "scan.h"
#include "validate.h"

typedef struct user_layout {
    unsigned params, cur_dir, command_line;
} user_layout;

static const user_layout LAYOUT64 = {0x20, 0x38, 0x70};
static const user_layout LAYOUT32 = {0x10, 0x24, 0x40};

static char *dup_or_null(const char *s)
{
    return s[0] ? strdup(s) : NULL;
}

/* A UNICODE_STRING at va in the address space vas, as a new UTF-8 string
 * (NULL when absent, unreadable or empty). */
static char *read_ustr(const ds_vas *vas, uint64_t va, unsigned ptr)
{
    uint8_t us[16];
    if (ds_vread(vas, va, us, ptr == 8 ? 16 : 8) != DS_OK)
        return NULL;
    uint16_t len;
    memcpy(&len, us, 2);
    uint64_t buf = 0;
    memcpy(&buf, us + (ptr == 8 ? 8 : 4), ptr);
    len &= (uint16_t)~1u;
    if (!len || !buf)
        return NULL;
    size_t units = len / 2 < DS_DETAIL_MAX_STRING ? len / 2 : DS_DETAIL_MAX_STRING;
    uint8_t *raw = malloc(units * 2);
    char *out = malloc(units * 3 + 1);
    char *res = NULL;
    if (raw && out && ds_vread(vas, buf, raw, units * 2) == DS_OK) {
        ds_utf16le_to_utf8(raw, units, out, units * 3 + 1);
        res = dup_or_null(out);
    }
    free(raw);
    free(out);
    return res;
}

/* The process's own address space (user half + shared kernel half). */
static bool process_vas(const ds_vctx *vc, const ds_proc *o, ds_vas *vas)
{
    if (!o->dtb || vc->d->kvas.mode == DS_PAGING_NONE)
        return false;
    *vas = vc->d->kvas;
    vas->dtb = o->dtb & (vas->mode == DS_PAGING_PAE ? ~0x1full : ~0xfffull);
    return vas->dtb != 0;
}

static void read_user_strings(const ds_vctx *vc, const ds_proc *o, ds_proc_detail *det)
{
    ds_vas vas;
    unsigned ptr = vc->ptr;
    const user_layout *l = ptr == 8 ? &LAYOUT64 : &LAYOUT32;
    uint64_t params = 0;
    if (!o->peb || ds_is_kernel_ptr(ptr, o->peb) || !process_vas(vc, o, &vas) ||
        ds_vread(&vas, o->peb + l->params, &params, ptr) != DS_OK || !params ||
        ds_is_kernel_ptr(ptr, params))
        return;
    det->command_line = read_ustr(&vas, params + l->command_line, ptr);
    det->current_directory = read_ustr(&vas, params + l->cur_dir, ptr);
}

/* SeAuditProcessCreationInfo.ImageFileName -> OBJECT_NAME_INFORMATION,
 * whose first member is the UNICODE_STRING. */
static void read_image_path(const ds_vctx *vc, const ds_proc *o, ds_proc_detail *det)
{
    if (!ds_vctx_kptr(vc, o->image_path_va))
        return;
    char *buf = malloc(DS_DETAIL_MAX_STRING * 3 + 1);
    if (!buf)
        return;
    ds_kread_ustr(vc->d, o->image_path_va, vc->ptr, buf, DS_DETAIL_MAX_STRING * 3 + 1);
    det->image_path = dup_or_null(buf);
    free(buf);
}

/* One process's details; its handle-table walk takes from *pages. */
static void fill_one(const ds_vctx *vc, const ds_proc *o, ds_proc_detail *det, unsigned *pages)
{
    det->handle_count = -1;
    if (o->object_table)
        det->handle_count = ds_ht_count(vc->d, vc->p, o->object_table, pages, &det->handles_bounded);
    read_image_path(vc, o, det);
    read_user_strings(vc, o, det);
}

static void free_one(ds_proc_detail *det)
{
    free(det->image_path);
    free(det->command_line);
    free(det->current_directory);
}

/* Cold dump: the details' reads are chains (handle table levels; page
 * tables, PEB, parameters, strings), one cold page at a time.  Rounds of
 * the same reads without waiting (file.h no-wait mode) ask for the next
 * page of every process at once, then wait for the last asked; what they
 * compute is thrown away, the real pass below finds the pages read.
 * Each round's walks share one handle-table budget like the real pass. */
static void prefetch_details(const ds_vctx *vc, const ds_scan_result *r)
{
    bool *done = calloc(r->nprocs ? r->nprocs : 1, sizeof(*done));
    for (unsigned round = 0; done && round < DS_DETAIL_PREFETCH_ROUNDS; round++) {
        unsigned pages = DS_DETAIL_MAX_TABLE_PAGES;
        size_t missed = 0;
        for (size_t i = 0; i < r->nprocs; i++) {
            if (done[i])
                continue;
            ds_proc_detail scratch = {0};
            ds_file_nowait_begin();
            fill_one(vc, &r->procs[i], &scratch, &pages);
            done[i] = ds_file_nowait_end() == 0;
            missed += !done[i];
            free_one(&scratch);
        }
        if (!missed)
            break;
        ds_file_nowait_settle(&vc->d->file);
    }
    free(done);
}

ds_err ds_details_fill(const ds_vctx *vc, ds_scan_result *r, bool cold)
{
    r->details = calloc(r->nprocs ? r->nprocs : 1, sizeof(*r->details));
    if (!r->details)
        return DS_ERR_NOMEM;
    if (!vc->p) {
        for (size_t i = 0; i < r->nprocs; i++)
            r->details[i].handle_count = -1;
        return DS_OK;
    }
    if (cold)
        prefetch_details(vc, r);
    unsigned pages = DS_DETAIL_MAX_TABLE_PAGES;
    for (size_t i = 0; i < r->nprocs; i++)
        fill_one(vc, &r->procs[i], &r->details[i], &pages);
    return DS_OK;
}

void ds_details_free(ds_proc_detail *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++)
        free_one(&d[i]);
    free(d);
}
