/* syscalls.h - nt system service names by number, per Windows build.
 *
 * The tables (syscalls_gen.c) are generated from data/nt_syscalls.tsv,
 * which scripts/import_syscalls.py extracts from the public
 * j00ru/windows-syscalls tables; a drift test keeps the C in step with the
 * data.  A build without its own table gives no names (numbers move
 * between builds: a neighbour's table would lie). */
#ifndef DS_SYSCALLS_H
#define DS_SYSCALLS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ds_syscall_table {
    uint32_t build;
    uint8_t is64;
    const char *const *names;    /* indexed by service number */
    uint32_t count;
} ds_syscall_table;

extern const ds_syscall_table ds_syscall_tables[];
extern const unsigned ds_syscall_table_count;

/* The table of this build and architecture, or NULL. */
const ds_syscall_table *ds_syscall_table_for(uint32_t build, bool is64);

/* Name of service `number` (its low 12 bits: the nt table; higher bits
 * select win32k), or NULL when the build has no table or the number is
 * not an nt service. */
const char *ds_syscall_name(uint32_t build, bool is64, uint32_t number);

#endif
