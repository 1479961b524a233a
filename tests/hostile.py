"""hostile.py - small inputs that once cost dumpscan minutes, gigabytes or an
input file (issue 9), made from scratch or from generated dumps.

Each maker writes one file (sparse where the claim is large) and returns
its path.  Layouts are written from ../shared/reference/offsets-notes.md
section 7, independently of dumpscan's dumpfmt.h.
"""
import json
import os
import shutil
import struct

import dumpkit

PAGE = 0x1000


def du64_header(dump_type, dtb, build=19041, runs=(), system_time=0x01DA0000_00000000):
    """A 0x2000-byte DUMP_HEADER64 ("PAGE" fill like Windows writes)."""
    h = bytearray(b"PAGE" * (0x2000 // 4))
    h[0:8] = b"PAGEDU64"
    struct.pack_into("<II", h, 0x8, 0xF, build)
    struct.pack_into("<Q", h, 0x10, dtb)
    struct.pack_into("<I", h, 0x30, 0x8664)
    struct.pack_into("<I", h, 0x34, 1)
    struct.pack_into("<I", h, 0x88, len(runs))
    struct.pack_into("<Q", h, 0x90, sum(c for _, c in runs))
    for i, (base, count) in enumerate(runs):
        struct.pack_into("<QQ", h, 0x98 + 16 * i, base, count)
    struct.pack_into("<I", h, 0xF98, dump_type)
    struct.pack_into("<Q", h, 0xFA0, 0)              # RequiredDumpSpace unknown
    struct.pack_into("<q", h, 0xFA8, system_time)
    return h


def gib_leaves(path, tables=256):
    """A full dump whose one run claims 1 TiB of RAM (the file holds 1 MiB)
    and whose kernel page tables are `tables` PDPT pages of 512 1 GiB
    leaves each, every PML4 kernel entry naming one of them: 131,072 leaves
    that each claim 262,144 pages."""
    npages = 2 + tables
    body = bytearray(npages * PAGE)
    pml4 = 1
    for i in range(512):
        pdpt = 2 + (i % tables)
        struct.pack_into("<Q", body, pml4 * PAGE + 8 * i, (pdpt * PAGE) | 0x3)
    for t in range(tables):
        for i in range(512):
            leaf = ((t * 512 + i) % (1 << 10)) << 30       # 1 GiB-aligned PAs
            struct.pack_into("<Q", body, (2 + t) * PAGE + 8 * i, leaf | 0x83)
    with open(path, "wb") as f:
        f.write(du64_header(1, pml4 * PAGE, runs=[(0, 1 << 28)]))
        f.write(body)
        f.truncate(0x2000 + (1 << 20))
    return path


def elf_shared_range(path, nloads=4096, size=16 << 20):
    """An ELF64 core whose PT_LOADs all name the same file bytes."""
    phoff = 64
    data_off = (phoff + 56 * nloads + PAGE - 1) // PAGE * PAGE
    with open(path, "wb") as f:
        eh = bytearray(64)
        eh[0:4] = b"\x7fELF"
        eh[4], eh[5], eh[6] = 2, 1, 1
        struct.pack_into("<HHIQQQIHHHHHH", eh, 16, 4, 62, 1, 0, phoff, 0, 0, 64, 56,
                         nloads, 64, 0, 0)
        f.write(eh)
        for i in range(nloads):
            f.write(struct.pack("<IIQQQQQQ", 1, 4, data_off, 0, i * size, size, size, PAGE))
        f.truncate(data_off + size)
    return path


def bitmap_claim(path, pages):
    """A bitmap dump (DumpType 5, FDMP) claiming `pages` pages: a sparse file
    of (pages / 8) bytes of bitmap, 12 KiB on disk."""
    first = (0x2038 + (pages + 7) // 8 + PAGE - 1) // PAGE * PAGE
    bm = bytearray(0x38)
    bm[0:8] = b"FDMPDUMP"
    struct.pack_into("<QQQ", bm, 0x20, first, 1, pages)
    with open(path, "wb") as f:
        f.write(du64_header(5, 0x1000))
        f.write(bm)
        f.write(b"\x01")
        f.truncate(first + PAGE)
    return path


def no_pages(path):
    """A full dump with no run at all."""
    with open(path, "wb") as f:
        f.write(du64_header(1, 0x1000))
    return path


def truth_of(dump):
    with open(dump + ".truth.ndjson") as f:
        return [json.loads(line) for line in f]


def open_image(dump):
    head = truth_of(dump)[0]
    img = dumpkit.Image(dump, writable=True)
    if img.dtb is None:          # raw image: the truth names the kernel DTB
        img.dtb = int(head["dtb"], 16)
        img.mode = "x64" if head["is64"] else ("pae" if head["pae"] else "x86")
    return img, head


def mutate_copy(src, dst):
    shutil.copyfile(src, dst)
    shutil.copyfile(src + ".truth.ndjson", dst + ".truth.ndjson")
    return open_image(dst)


def cid_self_tables(src, dst):
    """The PspCidTable made three levels deep, every entry of its top page
    naming the top page itself (512^3 reads if walked naively)."""
    img, head = mutate_copy(src, dst)
    table = int(head["cid_handle_table"], 16)
    code_off = 8 if head["build"] >= 9200 else 0
    code = img.read_ptr(table + code_off)
    top = code & ~0xFFF
    for i in range(PAGE // img.ptr):
        img.write_ptr(top + i * img.ptr, top)
    img.write_ptr(table + code_off, top | 2)
    img.close()
    return dst


def list_edit(src, dst, how, k=5):
    """ActiveProcessLinks damage: 'head' (the head linked to itself),
    'self' (entry k linked to itself both ways, neighbours untouched)."""
    img, head = mutate_copy(src, dst)
    off = dumpkit.offsets(head["build_key"])["_EPROCESS"]["ActiveProcessLinks"]
    lh = int(head["ps_active_process_head"], 16)
    entries = dumpkit.walk_list(img, lh, off)
    if how == "head":
        img.write_ptr(lh, lh)
        img.write_ptr(lh + img.ptr, lh)
    elif how == "self":
        e = entries[k] + off
        img.write_ptr(e, e)
        img.write_ptr(e + img.ptr, e)
    img.close()
    return dst


def system_time_max(src, dst):
    """A crash dump whose header SystemTime is INT64_MAX."""
    shutil.copyfile(src, dst)
    shutil.copyfile(src + ".truth.ndjson", dst + ".truth.ndjson")
    with open(dst, "r+b") as f:
        f.seek(0xFA8)
        f.write(struct.pack("<q", (1 << 63) - 1))
    return dst
