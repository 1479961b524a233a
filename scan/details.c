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

ds_err ds_details_fill(const ds_vctx *vc, ds_scan_result *r)
{
    r->details = calloc(r->nprocs ? r->nprocs : 1, sizeof(*r->details));
    if (!r->details)
        return DS_ERR_NOMEM;
    unsigned pages = DS_DETAIL_MAX_TABLE_PAGES;
    for (size_t i = 0; i < r->nprocs; i++) {
        const ds_proc *o = &r->procs[i];
        ds_proc_detail *det = &r->details[i];
        det->handle_count = -1;
        if (!vc->p)
            continue;
        if (o->object_table)
            det->handle_count =
                ds_ht_count(vc->d, vc->p, o->object_table, &pages, &det->handles_bounded);
        read_image_path(vc, o, det);
        read_user_strings(vc, o, det);
    }
    return DS_OK;
}

void ds_details_free(ds_proc_detail *d, size_t n)
{
    if (!d)
        return;
    for (size_t i = 0; i < n; i++) {
        free(d[i].image_path);
        free(d[i].command_line);
        free(d[i].current_directory);
    }
    free(d);
}
