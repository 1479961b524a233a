/* stack.h - walk a kernel stack from a register context, without symbols.
 *
 * Frame 0 is the context itself (method "context").  Each further frame
 * is found by the best method the dump allows:
 *   unwind   x64: the module's .pdata / UNWIND_INFO read from the dump
 *            (unwind.h), including machine frames of trap and interrupt
 *            frames; a function without .pdata entry is a leaf;
 *   ebp      x86: the saved-EBP chain ([EBP] = caller's EBP, [EBP+4] = the
 *            return address);
 *   scan     a return address found on the stack: a value in an
 *            executable section of a loaded module whose preceding bytes
 *            decode (capstone) as a `call` ending exactly there;
 *   scan_unverified
 *            the same when the module's code bytes are not in the dump
 *            (triage minidumps hold stacks, rarely code): only the range
 *            check vouches for it, as BlueScreenView's "caused by" does.
 * The walk ends (`end` reason) at a zero or user-mode return address, the
 * top of the stack or when no candidate is left (end), at a stack or image
 * byte that is not in the dump (unreadable), when RSP fails to grow (loop)
 * or after DS_STACK_MAX_FRAMES frames (limit).  The stack scan looks at
 * most DS_STACK_SCAN_BYTES above RSP per frame. */
#ifndef DS_SCAN_STACK_H
#define DS_SCAN_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/modules.h"
#include "../src/pe.h"
#include "unwind.h"

#define DS_STACK_MAX_FRAMES 64u
#define DS_STACK_SCAN_BYTES 0x2000u

typedef enum ds_frame_method {
    DS_FRAME_CONTEXT = 0,
    DS_FRAME_UNWIND,
    DS_FRAME_EBP,
    DS_FRAME_SCAN,
    DS_FRAME_SCAN_UNVERIFIED,
} ds_frame_method;

typedef enum ds_stack_end {
    DS_STACK_END = 0,
    DS_STACK_UNREADABLE,
    DS_STACK_LOOP,
    DS_STACK_LIMIT,
} ds_stack_end;

typedef struct ds_frame {
    uint64_t sp, ip;
    const ds_module *module;   /* NULL when ip is in no module */
    uint8_t method;            /* ds_frame_method */
    bool trap;                 /* reached through a machine (trap) frame */
} ds_frame;

typedef struct ds_stack {
    ds_frame f[DS_STACK_MAX_FRAMES];
    unsigned n;
    uint8_t end;               /* ds_stack_end */
} ds_stack;

/* What the walker may read.  pe[i] caches module i's headers (filled on
 * first use; the caller zeroes the array, one entry per module). */
typedef struct ds_pe_cache {
    ds_pe_info info;
    int8_t state;              /* 0 not read, 1 read, -1 unreadable */
} ds_pe_cache;

typedef struct ds_stack_env {
    ds_mem_read_fn read;
    void *ctx;
    const ds_modlist *mods;
    ds_pe_cache *pe;           /* mods->n entries */
    bool is64;
    uint64_t stack_top;        /* highest stack address + 1, 0 when unknown */
    void *capstone;            /* an open capstone handle (csh) of the right
                                  mode, or NULL: the walk opens its own */
} ds_stack_env;

/* Walk from regs (x86: rip = EIP, gpr[4] = ESP, gpr[5] = EBP). */
void ds_stack_walk(const ds_stack_env *env, const ds_regs64 *regs, ds_stack *out);

/* The PE headers of module m (cached), or NULL when unreadable. */
const ds_pe_info *ds_stack_pe(const ds_stack_env *env, const ds_module *m);

/* True when the bytes before ret decode as a call ending at ret (1),
 * they do not (0), or they are not in the dump (-1). */
int ds_stack_is_return_address(const ds_stack_env *env, uint64_t ret, void *capstone);

const char *ds_frame_method_name(unsigned m);
const char *ds_stack_end_name(unsigned e);

#endif
