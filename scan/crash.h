/* crash.h - an offline `!analyze -v`: why a dump's machine crashed.
 *
 * ds_crash_analyze() reads only what it needs (the header, the triage
 * block, a context or trap frame, the crashing stack, module headers):
 *   1. the bug check code and parameters, their meanings and rule
 *      (bugcheck_info.h);
 *   2. the modules (modules.h: triage list or PsLoadedModuleList);
 *   3. the start context: the CONTEXT record or KTRAP_FRAME a parameter
 *      names (exception bug checks), else the context the dump header
 *      holds (the bug-checking processor's, captured in KeBugCheckEx);
 *   4. the crashing processor, thread and process: the triage block's
 *      copies, or, in full and kernel dumps, the processor whose current
 *      thread's kernel stack holds the context's stack pointer
 *      (KDBG.KiProcessorBlock and OffsetPrcbCurrentThread);
 *   5. the faulting IP: the parameter the rule names, else the exception
 *      record's address, else the start context's IP when a parameter gave
 *      the context, else the first return address above the bug-check
 *      routine's frame (the code that called KeBugCheckEx);
 *      its module, offset, and the instruction there (capstone) when its
 *      bytes are in the dump;
 *   6. the stack (stack.h) from the start context;
 *   7. caused_by and the bucket (bucket.h).
 * Anything that cannot be read is left unknown with a note; the work is
 * bounded by the stack walker's limits and the module list's bound. */
#ifndef DS_SCAN_CRASH_H
#define DS_SCAN_CRASH_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/bugcheck_info.h"
#include "../src/dump.h"
#include "../src/modules.h"
#include "stack.h"

typedef enum ds_ctx_source {
    DS_CTXSRC_NONE = 0,
    DS_CTXSRC_HEADER,     /* the dump header's (or triage block's) CONTEXT */
    DS_CTXSRC_CXR,        /* a CONTEXT record named by a parameter */
    DS_CTXSRC_TRAP,       /* a KTRAP_FRAME named by a parameter */
} ds_ctx_source;

typedef struct ds_crash {
    bool has_bugcheck;
    uint32_t code;
    uint64_t params[4];
    const char *name;               /* official name or NULL */
    const ds_bugcheck_info *info;   /* meanings and rule, or NULL */
    int64_t system_time;
    /* the crashing context */
    bool has_process, has_thread;
    char process[16];               /* ImageFileName */
    uint64_t pid, tid;
    int processor;                  /* -1 unknown */
    ds_ctx_source context_source;
    /* where */
    uint64_t faulting_ip;           /* DS_CRASH_NONE when unknown */
    const ds_module *faulting_module;
    char instruction[192];          /* "" when the bytes are not in the dump */
    bool has_exception_code;
    uint32_t exception_code;
    ds_stack stack;
    /* blame */
    const ds_module *caused_by;
    uint64_t caused_by_ip;          /* DS_CRASH_NONE when caused_by is NULL */
    char bucket[192], bucket_module[192];
    uint64_t bucket_id;
    char notes[256];
    /* owned */
    ds_modlist mods;
    ds_pe_cache *pe;
} ds_crash;

#define DS_CRASH_NONE UINT64_MAX

/* Analyse d into out (free with ds_crash_free).  DS_ERR_NOMEM only: a
 * dump without a bug check (raw images, ELF cores) gives has_bugcheck
 * false and what could still be found. */
ds_err ds_crash_analyze(const ds_dump *d, ds_crash *out);
void ds_crash_free(ds_crash *c);

const char *ds_ctx_source_name(ds_ctx_source s);

#endif
