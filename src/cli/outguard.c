/* outguard.c - outputs and state files checked against the inputs before
 * anything is written; see outguard.h. */
#define _GNU_SOURCE
#include "outguard.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static ds_err plan_add(guard_plan *g, char *p)
{
    if (!p)
        return DS_ERR_NOMEM;
    char **v = realloc(g->paths, (g->n + 1) * sizeof(*v));
    if (!v) {
        free(p);
        return DS_ERR_NOMEM;
    }
    g->paths = v;
    g->paths[g->n++] = p;
    return DS_OK;
}

ds_err guard_plan_make(guard_plan *g, ds_outfmt fmt, const char *output,
                       const char *const *types, const char *state_path)
{
    memset(g, 0, sizeof(*g));
    ds_err e = DS_OK;
    g->stdout_used = !output || strcmp(output, "-") == 0;
    if (!g->stdout_used) {
        if (ds_writer_is_dir_target(output)) {
            for (size_t i = 0; e == DS_OK && types && types[i]; i++) {
                ds_strbuf sb;
                ds_sb_init(&sb);
                ds_writer_dir_file(&sb, output, types[i], fmt);
                e = plan_add(g, sb.failed ? NULL : strdup(ds_sb_str(&sb)));
                ds_sb_free(&sb);
            }
        } else {
            e = plan_add(g, strdup(output));
        }
    }
    if (e == DS_OK && state_path)
        e = plan_add(g, strdup(state_path));
    if (e != DS_OK)
        guard_plan_free(g);
    return e;
}

void guard_plan_free(guard_plan *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->paths[i]);
    free(g->paths);
    memset(g, 0, sizeof(*g));
}

/* Does the regular file at path begin as dumpscan's own output does? */
static bool looks_like_own_output(const char *path)
{
    static const char *const heads[] = {"{\"type\":\"", "type,", "dsst1 ", "Dump: ",
                                        "Summary: "};
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return false;
    struct stat st;
    char buf[16] = {0};
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        n = pread(fd, buf, sizeof(buf), 0);
    else
        n = -1;
    close(fd);
    if (n < 0)
        return false;
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
        if ((size_t)n >= strlen(heads[i]) && memcmp(buf, heads[i], strlen(heads[i])) == 0)
            return true;
    return false;
}

ds_err guard_own_outputs(const guard_plan *g, ds_fileid_set *own)
{
    for (size_t i = 0; i < g->n; i++) {
        ds_fileid id;
        if (ds_fileid_of_path(g->paths[i], &id) && looks_like_own_output(g->paths[i]) &&
            ds_fileid_set_add(own, id) != DS_OK)
            return DS_ERR_NOMEM;
    }
    ds_fileid_set_seal(own);
    return DS_OK;
}

ds_err guard_input_ids(const bulk_inputs *in, ds_fileid_set *ids)
{
    for (size_t i = 0; i < in->n; i++)
        if (in->v[i].has_id && ds_fileid_set_add(ids, in->v[i].id) != DS_OK)
            return DS_ERR_NOMEM;
    ds_fileid_set_seal(ids);
    return DS_OK;
}

char *guard_resolve(const char *path)
{
    char *r = realpath(path, NULL);
    if (r)
        return r;
    char *a = strdup(path), *b = strdup(path);
    char *out = NULL;
    if (a && b) {
        char *dir = realpath(dirname(a), NULL);
        const char *base = basename(b);
        if (dir && asprintf(&out, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base) < 0)
            out = NULL;
        free(dir);
    }
    free(a);
    free(b);
    return out ? out : strdup(path);
}

/* A planned file that does not exist yet against inputs that did not
 * exist either, by resolved path. */
static bool same_missing_path(const char *planned, const bulk_inputs *in)
{
    char *rp = NULL;
    bool hit = false;
    for (size_t i = 0; i < in->n && !hit; i++) {
        if (in->v[i].has_id || in->v[i].walk_errno)
            continue;
        if (!rp && !(rp = guard_resolve(planned)))
            return false;
        char *ri = guard_resolve(in->v[i].path);
        hit = ri && strcmp(ri, rp) == 0;
        free(ri);
    }
    free(rp);
    return hit;
}

int guard_check(const guard_plan *g, const bulk_inputs *in, const ds_fileid_set *ids,
                char *msg, size_t cap)
{
    for (size_t i = 0; i < g->n; i++) {
        ds_fileid id;
        bool exists = ds_fileid_of_path(g->paths[i], &id);
        if ((exists && ds_fileid_set_has(ids, id)) ||
            (!exists && same_missing_path(g->paths[i], in))) {
            snprintf(msg, cap, "%s is both an input and an output: nothing written",
                     g->paths[i]);
            return -1;
        }
        /* two roles (output, state) on one file */
        for (size_t j = 0; j < i; j++) {
            ds_fileid jd;
            bool same = exists && ds_fileid_of_path(g->paths[j], &jd)
                            ? jd.dev == id.dev && jd.ino == id.ino
                            : strcmp(g->paths[i], g->paths[j]) == 0;
            if (same) {
                snprintf(msg, cap, "%s is named twice as an output (-o and --state?)",
                         g->paths[i]);
                return -1;
            }
        }
    }
    struct stat st;
    if (g->stdout_used && fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) &&
        ds_fileid_set_has(ids, (ds_fileid){(uint64_t)st.st_dev, (uint64_t)st.st_ino})) {
        snprintf(msg, cap, "standard output is one of the inputs: nothing written");
        return -1;
    }
    return 0;
}
