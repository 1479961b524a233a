/* drvfmt.c - scan's driver records and table; see drvfmt.h and
 * docs/output.md for every field. */
#include "drvfmt.h"
#include "../../output/textwidth.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recfmt.h"

static void str_or_null(ds_rec *r, const char *name, const char *s)
{
    ds_rec_str(r, name, s[0] ? s : NULL);
}

void drv_emit(ds_rec *r, ds_writer *w, const char *path, const char *id, const ds_driver *d)
{
    ds_rec_begin(r, w, "driver");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    str_or_null(r, "name", d->name);
    str_or_null(r, "path", d->path);
    str_or_null(r, "object_name", d->object_name);
    ds_rec_hex(r, "base", d->base);
    ds_rec_u64(r, "size", d->size);
    rec_opt_hex(r, "entry_point", d->entry, 0);
    rec_opt_hex(r, "ldr_va", d->ldr_va, DS_NO_VALUE);
    rec_opt_hex(r, "ldr_pa", d->ldr_pa, DS_NO_VALUE);
    rec_opt_hex(r, "driver_object_va", d->object_va, DS_NO_VALUE);
    rec_opt_hex(r, "driver_object_pa", d->object_pa, DS_NO_VALUE);
    if (d->list_index < 0)
        ds_rec_null(r, "list_index");
    else
        ds_rec_u64(r, "list_index", (uint64_t)d->list_index);
    rec_bits(r, "sources", d->sources, DS_DRV_VIEW_COUNT, ds_drv_view_name);
    ds_rec_bool(r, "hidden", d->hidden);
    ds_rec_bool(r, "stale", d->stale);
    rec_bits(r, "reasons", d->reasons, DS_DRV_REASON_COUNT, ds_drv_reason_name);
}

void drv_emit_unloaded(ds_rec *r, ds_writer *w, const char *path, const char *id,
                       const ds_unloaded *u)
{
    ds_rec_begin(r, w, "unloaded");
    ds_rec_str(r, "dump", path);
    ds_rec_str(r, "dump_id", id);
    ds_rec_u64(r, "index", u->index);
    ds_rec_str(r, "name", u->name);
    ds_rec_hex(r, "start", u->start);
    ds_rec_hex(r, "end", u->end);
    ds_rec_u64(r, "size", u->end - u->start);
    ds_rec_time(r, "unload_time", u->unload_time);
}

size_t drv_count_hidden(const ds_driver_set *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->v[i].hidden;
    return n;
}

static int drv_rank(const ds_driver *d)
{
    return d->hidden ? 0 : d->stale ? 2 : 1;
}

static int cmp_rows(const void *a, const void *b)
{
    const ds_driver *x = *(const ds_driver *const *)a, *y = *(const ds_driver *const *)b;
    if (drv_rank(x) != drv_rank(y))
        return drv_rank(x) - drv_rank(y);
    return x->base < y->base ? -1 : x->base > y->base;
}

static const char *drv_verdict(const ds_driver *d)
{
    return d->hidden ? "HIDDEN" : d->stale ? "stale" : "ok";
}

void drv_table(ds_strbuf *sb, const ds_driver_set *s, bool only_hidden)
{
    const ds_driver **rows = malloc((s->n ? s->n : 1) * sizeof(*rows));
    if (!rows) {
        sb->failed = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!only_hidden || s->v[i].hidden)
            rows[n++] = &s->v[i];
    qsort(rows, n, sizeof(*rows), cmp_rows);
    ds_sb_printf(sb, "%zu %s (%zu hidden), %zu unloaded\n", s->n, s->n == 1 ? "driver" : "drivers",
                 drv_count_hidden(s), s->nunloaded);
    ds_sb_printf(sb, "%-18s %10s %-20s list  pool  drvobj  %s\n", "Base", "Size", "Name",
                 "Verdict");
    for (size_t i = 0; i < n; i++) {
        const ds_driver *d = rows[i];
        const char *raw = d->name[0] ? d->name : d->object_name[0] ? d->object_name : "-";
        ds_strbuf name;
        ds_sb_init(&name);
        ds_text_line(&name, raw, strlen(raw)); /* no control bytes on a terminal */
        ds_sb_printf(sb, "0x%016" PRIx64 " %10" PRIu64 " ", d->base, d->size);
        ds_sb_pad(sb, name.p ? name.p : "", 20);
        ds_sb_printf(sb, " %-5s %-5s %-7s %s\n", (d->sources & DS_DRV_LIST) ? "True" : "False",
                     (d->sources & DS_DRV_POOL) ? "True" : "False",
                     (d->sources & DS_DRV_OBJECT) ? "True" : "False", drv_verdict(d));
        ds_sb_free(&name);
    }
    free(rows);
    if (s->nunloaded && !only_hidden) {
        ds_sb_printf(sb, "Unloaded: ");
        for (size_t i = 0; i < s->nunloaded; i++) {
            if (i)
                ds_sb_printf(sb, ", ");
            /* names come from the dump: no control bytes on a terminal */
            ds_text_line(sb, s->unloaded[i].name, strlen(s->unloaded[i].name));
        }
        ds_sb_printf(sb, "\n");
    }
}
