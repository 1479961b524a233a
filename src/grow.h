/* grow.h - the one doubling-array helper: make room for element n of a
 * realloc'd array (*v, *cap elements of elem bytes).  Capacity starts at
 * 64 and doubles; false, with the array untouched, when memory is short
 * or the size would overflow. */
#ifndef DS_SRC_GROW_H
#define DS_SRC_GROW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static inline bool ds_reserve(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 64;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return false;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return false;
    *v = nv;
    *cap = ncap;
    return true;
}

#endif
