/* fileid.c - file identities and sorted identity sets; see fileid.h. */
#include "fileid.h"

#include <stdlib.h>
#include <sys/stat.h>

bool ds_fileid_of_path(const char *path, ds_fileid *out)
{
    struct stat st;
    if (!path || stat(path, &st) != 0)
        return false;
    *out = (ds_fileid){(uint64_t)st.st_dev, (uint64_t)st.st_ino};
    return true;
}

bool ds_fileid_of_fd(int fd, ds_fileid *out)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return false;
    *out = (ds_fileid){(uint64_t)st.st_dev, (uint64_t)st.st_ino};
    return true;
}

ds_err ds_fileid_set_add(ds_fileid_set *s, ds_fileid id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        ds_fileid *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return DS_ERR_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = id;
    s->sorted = false;
    return DS_OK;
}

static int cmp_id(const void *a, const void *b)
{
    const ds_fileid *x = a, *y = b;
    if (x->dev != y->dev)
        return x->dev < y->dev ? -1 : 1;
    return x->ino < y->ino ? -1 : x->ino > y->ino;
}

void ds_fileid_set_seal(ds_fileid_set *s)
{
    if (s->n > 1) {
        qsort(s->v, s->n, sizeof(*s->v), cmp_id);
        size_t u = 1;
        for (size_t i = 1; i < s->n; i++)
            if (cmp_id(&s->v[i], &s->v[u - 1]) != 0)
                s->v[u++] = s->v[i];
        s->n = u;
    }
    s->sorted = true;
}

bool ds_fileid_set_has(const ds_fileid_set *s, ds_fileid id)
{
    if (!s || s->n == 0)
        return false;
    if (!s->sorted) { /* unsealed: a linear scan is still correct */
        for (size_t i = 0; i < s->n; i++)
            if (cmp_id(&s->v[i], &id) == 0)
                return true;
        return false;
    }
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_id(&s->v[mid], &id);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void ds_fileid_set_free(ds_fileid_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
    s->sorted = false;
}
