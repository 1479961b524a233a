/* triage.c - DumpType 4 (triage minidump) contents.
 *
 * Layout (dumpfmt.h ds_triage_dump64): TRIAGE_DUMP64 at file offset 0x2000
 * whose *Offset fields are absolute file offsets.  We read:
 *   ProcessOffset / ThreadOffset   copies of the crashing EPROCESS/ETHREAD,
 *                                  decoded with the build's profile;
 *   DriverListOffset/DriverCount   DUMP_DRIVER_ENTRY64[] (0x90 each): name
 *                                  via DriverNameOffset -> DUMP_STRING
 *                                  (u32 UTF-16 length + UTF-16LE chars),
 *                                  base/size from the embedded LDR entry;
 *   DataBlocksOffset/Count         {VA, file offset, size} copies of kernel
 *                                  memory that serve ds_kread();
 *   DebuggerDataOffset/Size        copy of KDDEBUGGER_DATA64.
 * Policy for hostile input: an offset past both end-of-file and the
 * block's own SizeOfDump, or a count above DS_MAX_TRIAGE_*, is an error
 * (the header contradicts itself).  An offset past end-of-file but inside
 * SizeOfDump means the file was cut short: the dump is marked truncated
 * and that structure treated as absent.  A structure that starts inside
 * the file but is cut off keeps what is readable, also marked truncated.
 * RequiredDumpSpace is not used: Windows often writes less than it planned.
 *
 * The public ds_triage lists data blocks in file order.  For lookups we
 * keep, next to it, a copy sorted by VA plus the running maximum of block
 * end addresses, so a lookup is a binary search and a short backward walk
 * that stops as soon as no earlier block can reach the address. */
#include "triage.h"

#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dumpfmt.h"
#include "le.h"

#define TRIAGE_HDR_OFF 0x2000u
#define MAX_NAME_UNITS 1024u   /* driver names longer than this are cut */

typedef struct triage_priv {
    ds_triage pub;
    /* The VA index is built on the first ds_triage_kread (most users of a
     * minidump never read kernel memory from it, and sorting thousands of
     * blocks was half the cost of opening one).  `lock` makes that first
     * build safe when readers share the dump across threads. */
    pthread_mutex_t lock;
    atomic_uint lookups;             /* reads served before the index */
    atomic_bool indexed;
    ds_err index_err;
    struct ds_triage_block *by_va;   /* blocks sorted by va */
    bool has_stack;                  /* pub.blocks[0] is the call-stack copy */
    uint64_t *end_max;               /* max(va + size) over by_va[0..i] */
} triage_priv;

static triage_priv *priv_of(const ds_triage *t)
{
    return (triage_priv *)((char *)t - offsetof(triage_priv, pub));
}

/* ------------------------------------------------------------ UTF-16 */

static size_t put_utf8(char *out, size_t cap, size_t pos, uint32_t cp)
{
    char tmp[4];
    size_t n;
    if (cp < 0x80) {
        tmp[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        tmp[0] = (char)(0xc0 | cp >> 6);
        tmp[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        tmp[0] = (char)(0xe0 | cp >> 12);
        tmp[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        tmp[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        tmp[0] = (char)(0xf0 | cp >> 18);
        tmp[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        tmp[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        tmp[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    if (pos + n >= cap)
        return 0; /* no room for the whole sequence plus the NUL */
    memcpy(out + pos, tmp, n);
    return n;
}

/* Four UTF-16LE units, all ASCII and none 0 (the common case of driver
 * names and paths: converted four at a time). */
static bool four_ascii(uint64_t v)
{
    bool ascii = (v & 0xff80ff80ff80ff80ull) == 0;
    bool has_nul = ((v - 0x0001000100010001ull) & ~v & 0x8000800080008000ull) != 0;
    return ascii && !has_nul;
}

size_t ds_utf16le_to_utf8(const uint8_t *in, size_t n, char *out, size_t cap)
{
    size_t pos = 0;
    if (!cap)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        while (i + 4 <= n && pos + 5 <= cap && four_ascii(v = ds_le64(in + 2 * i))) {
            out[pos] = (char)v;
            out[pos + 1] = (char)(v >> 16);
            out[pos + 2] = (char)(v >> 32);
            out[pos + 3] = (char)(v >> 48);
            pos += 4;
            i += 4;
        }
        if (i >= n)
            break;
        uint32_t u = (uint32_t)in[2 * i] | (uint32_t)in[2 * i + 1] << 8;
        if (u == 0)
            break;
        if (u < 0x80) { /* ASCII: the common case of driver names */
            if (pos + 1 >= cap)
                break;
            out[pos++] = (char)u;
            continue;
        }
        uint32_t cp = u;
        if (u >= 0xd800 && u <= 0xdbff && i + 1 < n) {
            uint32_t lo = (uint32_t)in[2 * i + 2] | (uint32_t)in[2 * i + 3] << 8;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                i++;
            } else {
                cp = 0xfffd;
            }
        } else if (u >= 0xd800 && u <= 0xdfff) {
            cp = 0xfffd; /* lone high at the end, or a lone low surrogate */
        }
        size_t w = put_utf8(out, cap, pos, cp);
        if (!w)
            break;
        pos += w;
    }
    out[pos] = '\0';
    return pos;
}

/* ------------------------------------------------------------ helpers */

static void mark_truncated(ds_dump *d, const char *what)
{
    if (!d->truncated || !strstr(d->notes, what))
        ds_dump_note(d, "triage %s cut off by end of file", what);
    d->truncated = true;
}

/* Offset fields we follow, by name, as pointers into a header copy. */
typedef struct offset_field {
    const char *name;
    uint32_t *off;
} offset_field;

static size_t offset_fields(ds_triage_dump64 *h, offset_field *f)
{
    size_t n = 0;
    f[n++] = (offset_field){ "ProcessOffset", &h->ProcessOffset };
    f[n++] = (offset_field){ "ThreadOffset", &h->ThreadOffset };
    f[n++] = (offset_field){ "CallStackOffset", &h->CallStackOffset };
    f[n++] = (offset_field){ "DriverListOffset", &h->DriverListOffset };
    f[n++] = (offset_field){ "StringPoolOffset", &h->StringPoolOffset };
    f[n++] = (offset_field){ "DebuggerDataOffset", &h->DebuggerDataOffset };
    f[n++] = (offset_field){ "DataBlocksOffset", &h->DataBlocksOffset };
    f[n++] = (offset_field){ "PrcbOffset", &h->PrcbOffset };
    return n;
}

/* An offset past end-of-file is corrupt when it also lies past the
 * triage block's own SizeOfDump (the header contradicts itself); inside
 * SizeOfDump it means the file was cut short, which check_and_clip_offsets
 * turns into "truncated, structure absent". */
static ds_err check_offsets(const ds_dump *d, ds_triage_dump64 *h, ds_errbuf *eb)
{
    offset_field f[8];
    size_t n = offset_fields(h, f);
    for (size_t i = 0; i < n; i++) {
        uint32_t off = *f[i].off;
        if (off && off >= d->file.size && off >= h->SizeOfDump)
            return ds_fail(eb, DS_ERR_CORRUPT,
                           "triage %s 0x%x lies past end of file (0x%llx) and SizeOfDump (0x%x)",
                           f[i].name, off, (unsigned long long)d->file.size, h->SizeOfDump);
    }
    if (h->DriverCount > DS_MAX_TRIAGE_DRIVERS)
        return ds_fail(eb, DS_ERR_CORRUPT, "triage DriverCount %u exceeds the limit of %u",
                       h->DriverCount, DS_MAX_TRIAGE_DRIVERS);
    if (h->DataBlocksCount > DS_MAX_TRIAGE_BLOCKS)
        return ds_fail(eb, DS_ERR_CORRUPT, "triage DataBlocksCount %u exceeds the limit of %u",
                       h->DataBlocksCount, DS_MAX_TRIAGE_BLOCKS);
    if (h->DriverCount && !h->DriverListOffset)
        return ds_fail(eb, DS_ERR_CORRUPT, "triage DriverCount %u with DriverListOffset 0",
                       h->DriverCount);
    if (h->DataBlocksCount && !h->DataBlocksOffset)
        return ds_fail(eb, DS_ERR_CORRUPT,
                       "triage DataBlocksCount %u with DataBlocksOffset 0", h->DataBlocksCount);
    return DS_OK;
}

/* Zero (= absent) every offset that starts past end-of-file, marking the
 * dump truncated, so later steps only see offsets inside the file. */
static void drop_offsets_past_eof(ds_dump *d, ds_triage_dump64 *h)
{
    offset_field f[8];
    size_t n = offset_fields(h, f);
    for (size_t i = 0; i < n; i++) {
        if (*f[i].off && *f[i].off >= d->file.size) {
            mark_truncated(d, f[i].name);
            *f[i].off = 0;
        }
    }
}

/* ------------------------------------------------------------ drivers */

/* Name of the DUMP_STRING at off; "" when unreadable.  Cut-off strings
 * mark the dump truncated. */
static char *read_driver_name(ds_dump *d, uint32_t off)
{
    uint32_t units = 0;
    if (!off || ds_file_read(&d->file, off, &units, 4) != DS_OK)
        return strdup("");
    if (units > MAX_NAME_UNITS)
        units = MAX_NAME_UNITS;
    uint64_t avail = (d->file.size - off - 4) / 2;
    if (units > avail) {
        mark_truncated(d, "driver name");
        units = (uint32_t)avail;
    }
    uint8_t raw[2 * MAX_NAME_UNITS];
    char utf8[3 * MAX_NAME_UNITS + 1];
    if (ds_file_read(&d->file, (uint64_t)off + 4, raw, (size_t)units * 2) != DS_OK)
        return strdup("");
    ds_utf16le_to_utf8(raw, units, utf8, sizeof(utf8));
    return strdup(utf8);
}

static ds_err load_drivers(ds_dump *d, const ds_triage_dump64 *h, ds_errbuf *eb)
{
    ds_triage *t = d->triage;
    t->driver_count_declared = h->DriverCount;
    if (!h->DriverCount || !h->DriverListOffset)
        return DS_OK;
    t->drivers = calloc(h->DriverCount, sizeof(*t->drivers));
    if (!t->drivers)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate %u triage drivers", h->DriverCount);
    for (uint32_t i = 0; i < h->DriverCount; i++) {
        ds_dump_driver_entry64 e;
        uint64_t off = (uint64_t)h->DriverListOffset + (uint64_t)i * sizeof(e);
        if (ds_file_read(&d->file, off, &e, sizeof(e)) != DS_OK) {
            mark_truncated(d, "driver list");
            break;
        }
        ds_triage_driver *drv = &t->drivers[t->ndrivers];
        drv->name = read_driver_name(d, e.DriverNameOffset);
        if (!drv->name)
            return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate a triage driver name");
        drv->base = e.LdrEntry.DllBase;
        drv->size = e.LdrEntry.SizeOfImage;
        t->ndrivers++;
    }
    return DS_OK;
}

/* -------------------------------------------------------- data blocks */

static int cmp_block_va(const void *a, const void *b)
{
    const struct ds_triage_block *x = a, *y = b;
    if (x->va != y->va)
        return x->va < y->va ? -1 : 1;
    return x->file_off < y->file_off ? -1 : x->file_off > y->file_off;
}

/* Keep a block when it is non-empty, its VA range does not wrap and it
 * starts inside the file; clip it to end-of-file. */
static bool accept_block(ds_dump *d, const ds_triage_data_block *in,
                         struct ds_triage_block *out)
{
    if (!in->Size || in->Address > UINT64_MAX - in->Size)
        return false;
    if (in->Offset >= d->file.size) {
        mark_truncated(d, "data block");
        return false;
    }
    uint64_t size = in->Size;
    if (size > d->file.size - in->Offset) {
        mark_truncated(d, "data block");
        size = d->file.size - in->Offset;
    }
    out->va = in->Address;
    out->file_off = in->Offset;
    out->size = (uint32_t)size;
    return true;
}

static ds_err index_blocks(triage_priv *p)
{
    uint32_t n = p->pub.nblocks;
    if (!n)
        return DS_OK;
    p->by_va = malloc(n * sizeof(*p->by_va));
    p->end_max = malloc(n * sizeof(*p->end_max));
    if (!p->by_va || !p->end_max)
        return DS_ERR_NOMEM;
    memcpy(p->by_va, p->pub.blocks, n * sizeof(*p->by_va));
    qsort(p->by_va, n, sizeof(*p->by_va), cmp_block_va);
    uint64_t m = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t end = p->by_va[i].va + p->by_va[i].size;
        m = end > m ? end : m;
        p->end_max[i] = m;
    }
    return DS_OK;
}

/* The data blocks, and the call-stack copy as one more block (the
 * crashing thread's stack from TopOfStack), so kernel reads of the stack
 * are served like any other copied memory. */
static ds_err load_blocks(ds_dump *d, const ds_triage_dump64 *h, ds_errbuf *eb)
{
    ds_triage *t = d->triage;
    uint32_t count = h->DataBlocksOffset ? h->DataBlocksCount : 0;
    bool stack = h->CallStackOffset && h->SizeOfCallStack && h->TopOfStack;
    if (!count && !stack)
        return DS_OK;
    t->blocks = calloc((size_t)count + 1, sizeof(*t->blocks));
    if (!t->blocks)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate %u triage data blocks", count + 1);
    if (stack) {
        ds_triage_data_block b = {.Address = h->TopOfStack, .Offset = h->CallStackOffset,
                                  .Size = h->SizeOfCallStack};
        if (accept_block(d, &b, &t->blocks[t->nblocks])) {
            t->nblocks++;
            priv_of(t)->has_stack = true;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        ds_triage_data_block b;
        uint64_t off = (uint64_t)h->DataBlocksOffset + (uint64_t)i * sizeof(b);
        if (ds_file_read(&d->file, off, &b, sizeof(b)) != DS_OK) {
            mark_truncated(d, "data block list");
            break;
        }
        if (accept_block(d, &b, &t->blocks[t->nblocks]))
            t->nblocks++;
    }
    (void)eb;
    return DS_OK;
}

static ds_err ensure_index(triage_priv *p)
{
    pthread_mutex_lock(&p->lock);
    if (!atomic_load(&p->indexed)) {
        p->index_err = index_blocks(p);
        atomic_store(&p->indexed, true);
    }
    ds_err e = p->index_err;
    pthread_mutex_unlock(&p->lock);
    return e;
}

/* Before the index exists: the containing block with the greatest
 * (va, file_off), the same block find_block() picks from the index. */
static const struct ds_triage_block *scan_blocks(const triage_priv *p, uint64_t va)
{
    const struct ds_triage_block *best = NULL;
    for (uint32_t i = 0; i < p->pub.nblocks; i++) {
        const struct ds_triage_block *b = &p->pub.blocks[i];
        if (va - b->va < b->size && va >= b->va && (!best || cmp_block_va(b, best) > 0))
            best = b;
    }
    return best;
}

/* Block containing va, or NULL. */
static const struct ds_triage_block *find_block(const triage_priv *p, uint64_t va)
{
    size_t lo = 0, hi = p->pub.nblocks;
    while (lo < hi) { /* first block with va > target */
        size_t mid = lo + (hi - lo) / 2;
        if (p->by_va[mid].va <= va)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t j = lo; j-- > 0;) {
        if (p->end_max[j] <= va)
            break; /* no block at or before j reaches va */
        if (va - p->by_va[j].va < p->by_va[j].size)
            return &p->by_va[j];
    }
    return NULL;
}

ds_err ds_triage_kread(const ds_triage *t, const ds_file *f, uint64_t va, void *buf,
                       size_t len)
{
    triage_priv *p = priv_of(t);
    uint8_t *out = buf;
    if (len && va > UINT64_MAX - (len - 1))
        return DS_ERR_RANGE;
    /* Stack walks read the call-stack copy over and over: a read inside it
     * is served from it without a lookup (a data block covering the same
     * stack holds the same bytes). */
    if (p->has_stack) {
        const struct ds_triage_block *sb = &t->blocks[0];
        if (va >= sb->va && va - sb->va <= sb->size && len <= sb->size - (va - sb->va))
            return ds_file_read(f, sb->file_off + (va - sb->va), buf, len);
    }
    /* The first few reads (NtBuildLab at open) scan the blocks; only a
     * caller that keeps reading pays for the sorted index. */
    bool use_index = atomic_load(&p->indexed) || atomic_fetch_add(&p->lookups, 1) >= 16;
    if (use_index) {
        ds_err ie = ensure_index(p);
        if (ie)
            return ie;
    }
    while (len) {
        const struct ds_triage_block *b = use_index ? find_block(p, va) : scan_blocks(p, va);
        if (!b)
            return DS_ERR_NOT_PRESENT;
        uint64_t in = va - b->va;
        size_t n = b->size - in < len ? (size_t)(b->size - in) : len;
        ds_err e = ds_file_read(f, b->file_off + in, out, n);
        if (e)
            return e;
        out += n;
        va += n;
        len -= n;
    }
    return DS_OK;
}

/* ---------------------------------------------------------------- KDBG */

/* NtBuildLab: read the whole buffer in one go when one data block holds
 * it, else byte by byte up to the first byte no block holds. */
static void read_build_lab(ds_dump *d, uint64_t va)
{
    char buf[sizeof(d->nt_build_lab)];
    size_t n = sizeof(buf) - 1, i = 0;
    if (ds_triage_kread(d->triage, &d->file, va, buf, n) != DS_OK) {
        for (; i < n; i++)
            if (ds_triage_kread(d->triage, &d->file, va + i, &buf[i], 1) != DS_OK)
                break;
        n = i;
    }
    for (i = 0; i < n && buf[i] != '\0'; i++)
        d->nt_build_lab[i] = buf[i];
    d->nt_build_lab[i] = '\0';
}

static uint64_t kdbg_u64(const uint8_t *raw, size_t have, size_t off)
{
    uint64_t v = 0;
    if (off + 8 <= have)
        memcpy(&v, raw + off, 8);
    return v;
}

static void load_kdbg_copy(ds_dump *d, const ds_triage_dump64 *h)
{
    uint8_t raw[0x400];
    if (!h->DebuggerDataOffset || h->DebuggerDataSize < sizeof(ds_kdbg_head))
        return;
    size_t want = h->DebuggerDataSize < sizeof(raw) ? h->DebuggerDataSize : sizeof(raw);
    uint64_t avail = d->file.size - h->DebuggerDataOffset;
    if (avail < h->DebuggerDataSize) {
        mark_truncated(d, "KDBG copy");
        if (avail < want)
            want = (size_t)avail;
    }
    if (want < sizeof(ds_kdbg_head) ||
        ds_file_read(&d->file, h->DebuggerDataOffset, raw, want) != DS_OK)
        return;
    ds_kdbg_head kh;
    memcpy(&kh, raw, sizeof(kh));
    if (kh.OwnerTag != DS_SIG_KDBG) {
        ds_dump_note(d, "triage KDBG copy lacks the KDBG tag");
        return;
    }
    d->kdbg_valid = true;
    if (!d->kdbg_source)
        d->kdbg_source = DS_SRC_TRIAGE;
    d->kernel_base = kh.KernBase;
    d->psp_cid_table = kh.PspCidTable;
    d->cid_table_source = kh.PspCidTable ? DS_SRC_TRIAGE : DS_SRC_NONE;
    if (!d->ps_loaded_module_list && !d->ps_active_process_head) {
        d->ps_loaded_module_list = kh.PsLoadedModuleList;
        d->ps_active_process_head = kh.PsActiveProcessHead;
        d->list_head_source = DS_SRC_KDBG;
    }
    if (!d->pfn_database)
        d->pfn_database = kdbg_u64(raw, want, DS_KDBG_MM_PFN_DATABASE);
    uint64_t lab = kdbg_u64(raw, want, DS_KDBG_NT_BUILD_LAB);
    if (lab)
        read_build_lab(d, lab);
}

/* -------------------------------------------------------- the block */

static void load_objects_raw(ds_dump *d, const ds_triage_dump64 *h)
{
    ds_triage *t = d->triage;
    uint8_t type;
    t->size_of_call_stack = h->SizeOfCallStack;
    if (h->CallStackOffset &&
        !ds_file_has(&d->file, h->CallStackOffset, h->SizeOfCallStack))
        mark_truncated(d, "call stack");
    t->call_stack_offset = h->CallStackOffset;
    t->top_of_stack = h->TopOfStack;
    t->context_offset = h->ContextOffset;
    t->exception_offset = h->ExceptionOffset;
    t->prcb_offset = h->PrcbOffset;
    if (h->ProcessOffset && ds_file_read(&d->file, h->ProcessOffset, &type, 1) == DS_OK) {
        t->has_process = true;
        t->process_offset = h->ProcessOffset;
        t->process_dispatcher_type = type;
    }
    if (h->ThreadOffset && ds_file_read(&d->file, h->ThreadOffset, &type, 1) == DS_OK) {
        t->has_thread = true;
        t->thread_offset = h->ThreadOffset;
        t->thread_dispatcher_type = type;
    }
}

ds_err ds_triage_load(ds_dump *d, ds_errbuf *eb)
{
    ds_triage_dump64 h;
    if (ds_file_read(&d->file, TRIAGE_HDR_OFF, &h, sizeof(h)) != DS_OK)
        return ds_fail(eb, DS_ERR_TRUNCATED,
                       "triage block (0x%zx bytes at 0x%x) cut off: file is 0x%llx bytes",
                       sizeof(h), TRIAGE_HDR_OFF, (unsigned long long)d->file.size);
    ds_err e = check_offsets(d, &h, eb);
    if (e)
        return e;
    triage_priv *p = calloc(1, sizeof(*p));
    if (p)
        pthread_mutex_init(&p->lock, NULL);
    if (!p)
        return ds_fail(eb, DS_ERR_NOMEM, "cannot allocate triage state");
    d->triage = &p->pub;
    if (h.SizeOfDump > d->file.size)
        mark_truncated(d, "block (SizeOfDump)");
    drop_offsets_past_eof(d, &h);
    load_objects_raw(d, &h);
    e = load_drivers(d, &h, eb);
    if (!e)
        e = load_blocks(d, &h, eb);
    if (e)
        return e;
    load_kdbg_copy(d, &h);
    if (!d->kernel_base && d->triage->ndrivers)
        d->kernel_base = d->triage->drivers[0].base; /* ntoskrnl loads first */
    return DS_OK;
}

/* ------------------------------------------------ process and thread */

/* Pointer-sized field at base+off of a copied object, or 0. */
static uint64_t copy_field(const ds_dump *d, uint32_t base, uint16_t off, unsigned size)
{
    uint64_t v = 0;
    if (off == DS_OFF_NONE)
        return 0;
    if (ds_file_read(&d->file, (uint64_t)base + off, &v, size) != DS_OK)
        return 0;
    return v;
}

static uint8_t copy_u8(const ds_dump *d, uint32_t base, uint16_t off, int *ok)
{
    uint8_t v = 0;
    *ok = off != DS_OFF_NONE && ds_file_read(&d->file, (uint64_t)base + off, &v, 1) == DS_OK;
    return v;
}

/* What `!process 0 2` would print of the copied EPROCESS. */
static void read_process_copy(const ds_dump *d, const ds_triage *t, ds_copy_process *c)
{
    const ds_profile *p = d->profile;
    unsigned ps = p->ptr_size;
    uint32_t b = t->process_offset;
    int ok;
    c->create_time = (int64_t)copy_field(d, b, p->ep_create_time, 8);
    c->exit_time = (int64_t)copy_field(d, b, p->ep_exit_time, 8);
    c->dtb = copy_field(d, b, p->ep_dtb, ps);
    c->peb = copy_field(d, b, p->ep_peb, ps);
    c->object_table = copy_field(d, b, p->ep_object_table, ps);
    c->token = copy_field(d, b, p->ep_token, ps) & ~(uint64_t)(p->is64 ? 0xf : 0x7);
    c->active_threads = (uint32_t)copy_field(d, b, p->ep_active_threads, 4);
    c->exit_status = (uint32_t)copy_field(d, b, p->ep_exit_status, 4);
    uint8_t prot = copy_u8(d, b, p->ep_protection, &ok);
    c->protection = ok ? prot : -1;
    c->wow64 = p->is64 && p->ep_wow64 != DS_OFF_NONE ? copy_field(d, b, p->ep_wow64, 8) != 0 : -1;
}

/* The copied ETHREAD, read as scan/validate.c reads a live one. */
static void read_thread_copy(const ds_dump *d, const ds_triage *t, ds_copy_thread *c)
{
    const ds_profile *p = d->profile;
    unsigned ps = p->ptr_size;
    uint32_t b = t->thread_offset;
    int ok;
    c->create_time = (int64_t)(copy_field(d, b, p->et_create_time, 8) >> p->thread_ctime_shift);
    c->exit_time = (int64_t)copy_field(d, b, p->et_exit_time, 8);
    uint16_t own = p->kt_process != DS_OFF_NONE ? p->kt_process : p->kt_apc_process;
    c->eprocess_va = copy_field(d, b, own, ps);
    c->start_address = copy_field(d, b, p->et_start_address, ps);
    c->win32_start_address = copy_field(d, b, p->et_win32_start, ps);
    c->teb = copy_field(d, b, p->kt_teb, ps);
    c->trap_frame = copy_field(d, b, p->kt_trap_frame, ps);
    c->win32_thread = copy_field(d, b, p->kt_win32thread, ps);
    c->stack_base = copy_field(d, b, p->kt_stack_base, ps);
    c->stack_limit = copy_field(d, b, p->kt_stack_limit, ps);
    c->kernel_stack = copy_field(d, b, p->kt_kernel_stack, ps);
    c->state = copy_u8(d, b, p->kt_state, &ok);
    c->wait_reason = copy_u8(d, b, p->kt_wait_reason, &ok);
    c->wait_mode = c->alertable = c->previous_mode = -1;
    uint8_t pm = copy_u8(d, b, p->kt_previous_mode, &ok);
    if (ok && pm <= 1)
        c->previous_mode = (int8_t)pm;
    if (c->state != 5) /* the wait fields are stale unless waiting */
        return;
    uint8_t wm = copy_u8(d, b, p->kt_wait_mode, &ok);
    if (ok && wm <= 1)
        c->wait_mode = (int8_t)wm;
    uint8_t al = copy_u8(d, b, p->kt_alertable, &ok);
    if (ok)
        c->alertable = (al >> p->kt_alertable_bit) & 1;
    if (c->previous_mode == 1 && p->kt_syscall_number != DS_OFF_NONE) {
        c->syscall_number = (uint32_t)copy_field(d, b, p->kt_syscall_number, 4);
        c->has_syscall = true;
    }
}

void ds_triage_read_objects(ds_dump *d)
{
    ds_triage *t = d->triage;
    const ds_profile *p = d->profile;
    if (!t || (!t->has_process && !t->has_thread))
        return;
    if (!p) {
        ds_dump_note(d, "triage: no profile for build %u, process/thread copies not decoded",
                     d->build);
        return;
    }
    unsigned ps = p->ptr_size ? p->ptr_size : 8;
    if (t->has_process) {
        t->process_pid = copy_field(d, t->process_offset, p->ep_pid, ps);
        t->process_ppid = copy_field(d, t->process_offset, p->ep_ppid, ps);
        memset(t->process_name, 0, sizeof(t->process_name));
        if (p->ep_name != DS_OFF_NONE) {
            uint64_t off = (uint64_t)t->process_offset + p->ep_name;
            uint64_t n = ds_file_has(&d->file, off, 0) ? d->file.size - off : 0;
            n = n < 15 ? n : 15;
            ds_file_read(&d->file, off, t->process_name, (size_t)n);
        }
        read_process_copy(d, t, &t->pcopy);
    }
    if (t->has_thread) {
        t->thread_pid = copy_field(d, t->thread_offset, p->et_cid_pid, ps);
        t->thread_tid = copy_field(d, t->thread_offset, p->et_cid_tid, ps);
        read_thread_copy(d, t, &t->tcopy);
    }
}

void ds_triage_free(ds_triage *t)
{
    if (!t)
        return;
    triage_priv *p = priv_of(t);
    for (uint32_t i = 0; i < t->ndrivers; i++)
        free(t->drivers[i].name);
    free(t->drivers);
    free(t->blocks);
    free(p->by_va);
    free(p->end_max);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
