/* syscalls.c - lookups in the generated system service tables. */
#include "syscalls.h"

#include <stddef.h>

const ds_syscall_table *ds_syscall_table_for(uint32_t build, bool is64)
{
    unsigned lo = 0, hi = ds_syscall_table_count;
    while (lo < hi) { /* sorted by (build, is64) */
        unsigned mid = lo + (hi - lo) / 2;
        const ds_syscall_table *t = &ds_syscall_tables[mid];
        if (t->build < build || (t->build == build && t->is64 < (uint8_t)is64))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < ds_syscall_table_count && ds_syscall_tables[lo].build == build &&
        ds_syscall_tables[lo].is64 == (uint8_t)is64)
        return &ds_syscall_tables[lo];
    return NULL;
}

const char *ds_syscall_name(uint32_t build, bool is64, uint32_t number)
{
    const ds_syscall_table *t = ds_syscall_table_for(build, is64);
    if (!t || number >= 0x1000 || number >= t->count)
        return NULL;
    return t->names[number];
}
