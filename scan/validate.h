/* validate.h - decide whether bytes in memory are a live (or dead)
 * EPROCESS / ETHREAD, and read their fields.
 *
 * An object is addressed by an "object view": the physical address of its
 * first byte and, when known, its kernel virtual address.  With a VA every
 * read is translated page by page (objects straddle page boundaries onto
 * unrelated physical pages); without one, only the bytes inside the first
 * physical page are readable and the rest counts as unreadable.
 *
 * Scoring: each check (records.h DS_CHK_*) has a weight (validate.c
 * check_weight[]); score = 100 - sum of weights of failed checks, clamped
 * to 0..100.  The dispatcher-header check is mandatory: an object failing
 * it scores at most 40, below any sane threshold.  The default threshold
 * is DS_SCAN_DEFAULT_MIN_SCORE (60), tunable with --min-score. */
#ifndef DS_SCAN_VALIDATE_H
#define DS_SCAN_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../src/dump.h"
#include "records.h"

/* Facts learnt once per dump and shared (read-only) by every validation. */
typedef struct ds_vctx {
    const ds_dump *d;
    const ds_profile *p;
    unsigned ptr;              /* pointer size 4 / 8 */
    bool cookie_mode;          /* TypeIndex xor header-VA byte (Win10+) */
    bool have_proc_key, have_thread_key;
    uint8_t proc_key, thread_key; /* stored ^ addr-byte of a Process/Thread */
    uint64_t xp_proc_type, xp_thread_type; /* XP OBJECT_HEADER.Type values */
    uint64_t system_eprocess;  /* VA of System from the list head, or 0 */
    int64_t now;               /* dump SystemTime (FILETIME) or 0 unknown */
    uint64_t max_pfn;          /* highest pfn the dump covers */
    /* Anchors of the kernel's own views (VAs, 0 unknown) and where each
     * came from (ds_source): the dump's (header, KDBG, triage), else what
     * anchors.c recovers from the scan. */
    uint64_t active_head;      /* nt!PsActiveProcessHead */
    uint64_t cid_table_ptr;    /* nt!PspCidTable (the variable) */
    uint64_t module_list;      /* nt!PsLoadedModuleList */
    ds_source active_head_src, cid_table_src, module_list_src;
} ds_vctx;

void ds_vctx_init(ds_vctx *vc, const ds_dump *d);

/* Learn the Process and Thread type keys (and system_eprocess) from the
 * System process at system_va and its first thread.  False when its
 * header cannot be read. */
bool ds_vctx_learn_keys(ds_vctx *vc, uint64_t system_va);

/* Read len bytes of an object: via VA when va != DS_NO_VALUE, else from
 * its first physical page only.  Returns the number of leading bytes that
 * could be read (the rest of buf is zeroed). */
size_t ds_obj_read(const ds_vctx *vc, uint64_t pa, uint64_t va, uint64_t off, void *buf,
                   size_t len);

/* Given a pool header (physical address, kernel VA or DS_NO_VALUE), find
 * the object body it holds.  Returns true and the body's offset from the
 * pool header when an OBJECT_HEADER consistent with the pool block is
 * found; fills *free_chunk from PoolType and *type_ok from the decoded
 * TypeIndex (false also when it cannot be decoded). */
typedef struct ds_pool_obj {
    uint64_t body_off;         /* body - pool header, in virtual bytes */
    bool pool_ok;              /* block size covers the object, pool type sane */
    bool free_chunk;           /* PoolType == 0 */
    int type_ok;               /* 1 match, 0 mismatch, -1 undecidable */
} ds_pool_obj;
bool ds_pool_locate(const ds_vctx *vc, uint64_t pool_pa, uint64_t pool_va, bool is_proc,
                    ds_pool_obj *out);

/* The pool header at pool_pa: block size in bytes and whether the chunk
 * is free (PoolType 0).  False when unreadable. */
bool ds_pool_chunk(const ds_vctx *vc, uint64_t pool_pa, uint32_t *bytes, bool *free_chunk);

/* Object-header type check for a body (used by structure hits).
 * 1 match, 0 mismatch, -1 undecidable (no VA in cookie mode, no key). */
int ds_object_type_check(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, bool is_proc);

/* Validate and read a process body.  Fills every field of *out that the
 * body provides, sets failed/score.  Returns the score. */
int ds_validate_process(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, ds_proc *out);
int ds_validate_thread(const ds_vctx *vc, uint64_t body_pa, uint64_t body_va, ds_thread *out);

/* Score from a failed-check set (exposed for tests and documentation). */
int ds_score_from_failed(uint32_t failed);

/* Pointer and address helpers shared with xview.c. */
bool ds_vctx_kptr(const ds_vctx *vc, uint64_t v);   /* canonical kernel VA */
uint64_t ds_vctx_rdptr(const ds_vctx *vc, const uint8_t *buf, uint16_t off);

#endif
