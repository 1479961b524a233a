/* objfmt.h - scan's `process` and `thread` records, from the scan result
 * or from a triage minidump's copies (docs/output.md lists every field). */
#ifndef DS_CLI_OBJFMT_H
#define DS_CLI_OBJFMT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../output/strbuf.h"
#include "../../output/writer.h"
#include "../../scan/scan.h"

/* Where the records go and what names depend on (system-call tables and
 * wait-reason names are per build). */
typedef struct obj_ctx {
    const char *path, *id;
    uint32_t build;
    bool is64;
} obj_ctx;

/* The crashing process and thread of a triage minidump. */
typedef struct triage_facts {
    bool has_process, has_thread;
    uint64_t pid, ppid;
    char name[16];
    uint64_t thread_pid, tid;
    ds_copy_process pc;        /* the copies' other fields (src/triage.c) */
    ds_copy_thread tc;
    uint64_t rip, rsp;         /* from the trap frame, DS_NO_VALUE unknown */
} triage_facts;

void obj_emit_process(ds_rec *r, ds_writer *w, const obj_ctx *c, const ds_proc *p,
                      const ds_proc_detail *det);
void obj_emit_thread(ds_rec *r, ds_writer *w, const obj_ctx *c, const ds_thread *t);
void obj_emit_triage_process(ds_rec *r, ds_writer *w, const obj_ctx *c, const triage_facts *t);
void obj_emit_triage_thread(ds_rec *r, ds_writer *w, const obj_ctx *c, const triage_facts *t);

/* A thread as `!process 0 2` shows it, for the table's --show-threads view:
 *     Thread 0x... Cid 04d8.04dc Teb 0x... Win32Thread 0x... WAIT: (UserRequest) UserMode Alertable
 *         TrapFrame 0x... Start 0x... Rip 0x...
 *         System Call Number: 7 ===> nt!NtDeviceIoControlFile */
void obj_table_thread(ds_strbuf *sb, const obj_ctx *c, const ds_thread *t);

#endif
