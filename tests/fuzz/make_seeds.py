#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora of the fuzz targets (fuzz.h).

usage: make_seeds.py DUMPGEN OUTDIR

Seeds are small on purpose (libFuzzer mutates them thousands of times a
second): generated dumps are stored in the sparse "DSFZ" format, keeping
only their non-zero byte runs; hand-made hostile inputs (tests/hostile.py)
and cut headers of each format are added.  The committed corpus in
tests/fuzz/corpus/ was made by this script; rerun it after a format change.
"""
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import hostile  # noqa: E402

BUILDS = [("win10_2004_22h2_x64", "full"), ("win10_2004_22h2_x64", "bitmap"),
          ("win7_sp1_x64", "kernel"), ("win11_24h2_x64", "elf"), ("win10_1809_x64", "rdmp"),
          ("winxp_sp3_x86", "full32"), ("win7_sp1_x86", "full32"),
          ("win10_2004_22h2_x64", "raw")]


def sparse(data, gap=32):
    """DSFZ encoding of data: one chunk per run of bytes with no `gap` zeros."""
    out = bytearray(b"DSFZ" + struct.pack("<Q", len(data)))
    i, n = 0, len(data)
    while i < n:
        if data[i] == 0:
            j = data.find(b"\0" * 1, i)
            # skip zeros quickly
            k = i
            while k < n and data[k] == 0:
                k += 1
            i = k
            continue
        start = i
        zeros = 0
        while i < n and i - start < 0xFFFF:
            if data[i] == 0:
                zeros += 1
                if zeros >= gap:
                    break
            else:
                zeros = 0
            i += 1
        end = i - zeros if zeros >= gap else i
        out += struct.pack("<QH", start, end - start) + data[start:end]
    return bytes(out)


def unwind_seeds(outdir):
    """An image with a PE header, .pdata and UNWIND_INFO for two functions
    (push rbx; sub rsp,20h / push rbp; sub rsp,30h; lea rbp,[rsp+20h]), a
    call site before each return address, and the stack those prologs
    leave; plus a machine-frame function."""
    img = bytearray(0x3000)
    img[0:2] = b"MZ"
    struct.pack_into("<I", img, 0x3c, 0x80)
    struct.pack_into("<IHHIIIHH", img, 0x80, 0x4550, 0x8664, 1, 0, 0, 0, 0xf0, 0x22)
    opt = 0x98
    struct.pack_into("<H", img, opt, 0x20b)
    struct.pack_into("<I", img, opt + 0x38, 0x3000)
    struct.pack_into("<I", img, opt + 0x6c, 16)
    struct.pack_into("<II", img, opt + 0x70 + 3 * 8, 0x2000, 36)
    sec = opt + 0xf0
    img[sec:sec + 5] = b".text"
    struct.pack_into("<IIIIIIHHI", img, sec + 8, 0x1000, 0x1000, 0x1000, 0x1000, 0, 0, 0, 0, 0x60000020)
    funcs = [(0x1000, 0x1040, 0x2100, [0x0205 | (3 << 8) << 4, 0x0100 | 0x03 << 12], 5, 0),
             (0x1100, 0x1140, 0x2120, [0x0b03, 0x0625, 0x0270, 0x0150], 11, 0x25),
             (0x1200, 0x1240, 0x2140, [0x001a], 0, 0)]
    for i, (b, e, x, codes, prolog, frame) in enumerate(funcs):
        struct.pack_into("<III", img, 0x2000 + 12 * i, b, e, x)
        img[x:x + 4] = bytes([1, prolog, len(codes), frame])
        for k, c in enumerate(codes):
            struct.pack_into("<H", img, x + 4 + 2 * k, c)
    img[0x1100 + 11] = 0xe8                       # call DoRead, returns to 0x1110
    img[0x1200 + 0x20] = 0xe8
    stk = bytearray(0x400)
    IMG = 0xfffff80100000000
    struct.pack_into("<QQQQ", stk, 0x20, 0xb0b0, IMG + 0x1110, 0, 0)
    struct.pack_into("<Q", stk, 0x80, IMG + 0x1225)
    head = struct.pack("<QQQ", IMG + 0x1010, 0xffffa00000000000, 0xffffa00000000070)
    with open(os.path.join(outdir, "unwind", "two_frames"), "wb") as f:
        f.write(head + struct.pack("<H", len(img) & ~1) + bytes(img) + bytes(stk))
    head = struct.pack("<QQQ", IMG + 0x1210, 0xffffa00000000100, 0)
    with open(os.path.join(outdir, "unwind", "machine_frame"), "wb") as f:
        f.write(head + struct.pack("<H", (len(img) & ~1) | 0x100) + bytes(img) + bytes(stk))


def main():
    dumpgen, outdir = sys.argv[1], sys.argv[2]
    for target in ("open", "scan", "vtop", "physmap", "state", "unwind"):
        os.makedirs(os.path.join(outdir, target), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for build, fmt in BUILDS:
            p = os.path.join(tmp, f"{build}_{fmt}.dmp")
            size = "6" if "x64" in build else "12"
            subprocess.run([dumpgen, "-o", p, "-b", build, "-f", fmt, "-s", size, "-S", "9", "-q"],
                           check=True)
            with open(p, "rb") as f:
                data = f.read()
            enc = sparse(data)
            for target in ("open", "scan"):
                with open(os.path.join(outdir, target, f"gen_{build}_{fmt}"), "wb") as f:
                    f.write(enc)
            with open(os.path.join(outdir, "open", f"head_{build}_{fmt}"), "wb") as f:
                f.write(data[:0x2100])
        for name, maker in (("gib_leaves", lambda p: hostile.gib_leaves(p, tables=4)),
                            ("elf_shared", lambda p: hostile.elf_shared_range(p, 64, 1 << 16)),
                            ("no_pages", hostile.no_pages)):
            p = os.path.join(tmp, name)
            maker(p)
            with open(p, "rb") as f:
                data = f.read()
            for target in ("open", "scan"):
                with open(os.path.join(outdir, target, name), "wb") as f:
                    f.write(sparse(data))
    # vtop: a 4-level x64 table mapping one 2 MiB page and one 4 KiB page
    mem = bytearray(0x5000)
    struct.pack_into("<Q", mem, 0x1000 + 8 * 511, 0x2003)           # PML4[511] -> PDPT
    struct.pack_into("<Q", mem, 0x1000 + 8 * 0x1ed, 0x1003)         # self-map slot
    struct.pack_into("<Q", mem, 0x2000 + 8 * 510, 0x3003)           # PDPT -> PD
    struct.pack_into("<Q", mem, 0x3000 + 8 * 0, 0x200083)           # 2 MiB leaf
    struct.pack_into("<Q", mem, 0x3000 + 8 * 1, 0x4003)             # PD -> PT
    struct.pack_into("<Q", mem, 0x4000 + 8 * 0, 0x1003)             # 4 KiB leaf
    struct.pack_into("<Q", mem, 0x4000 + 8 * 1, 0x1800)             # transition PTE
    struct.pack_into("<Q", mem, 0, 0xFFFFFFFF80000000)
    with open(os.path.join(outdir, "vtop", "x64_small"), "wb") as f:
        f.write(bytes([0]) + struct.pack("<Q", 0x1000) + mem)
    with open(os.path.join(outdir, "vtop", "pae_small"), "wb") as f:
        f.write(bytes([1]) + struct.pack("<Q", 0x1020) + mem)
    with open(os.path.join(outdir, "vtop", "x86_small"), "wb") as f:
        f.write(bytes([2]) + struct.pack("<Q", 0x1000) + mem)
    runs = b"".join(struct.pack("<QQQ", pfn, n, off) for pfn, n, off in
                    ((1, 158, 0x2000), (256, 3840, 0x2000 + 158 * 4096), (0x10000, 16, 0x1000)))
    with open(os.path.join(outdir, "physmap", "runs"), "wb") as f:
        f.write(bytes([0]) + struct.pack("<Q", 0x1000000) + runs)
    with open(os.path.join(outdir, "physmap", "bitmap"), "wb") as f:
        f.write(bytes([1]) + struct.pack("<Q", 0x100000) + bytes([0xff, 0x0f, 0, 0x80] * 64))
    unwind_seeds(outdir)
    with open(os.path.join(outdir, "state", "lines"), "wb") as f:
        f.write(b"dsst1 0123456789abcdef 0123456789abcdef 176411 1711887156724441000 "
                b"0000000000000000\ndsst1 torn\n\n")


if __name__ == "__main__":
    main()
