#!/usr/bin/env python3
"""test_independent.py - dumpscan's records against an independent reading
of the same generated dumps (run by meson test).

usage: test_independent.py PATH/TO/dumpscan PATH/TO/dumpgen

dumpgen and dumpscan share one offset table (src/profiles_gen.c) and the
on-disk layouts, so a wrong offset in that table is written by one and
read back by the other without a disagreement.  This test reads every
generated dump with tests/dumpkit.py instead, which looks structure
offsets up by *field name* in ../shared/reference/offsets.json and parses
the dump formats on its own: it walks PsActiveProcessHead, each process's
ThreadListHead and PsLoadedModuleList, reads the objects' fields, and
compares them with the records `dumpscan scan` writes, for every build and
format dumpgen makes.  Only the list heads and the DTB come from dumpgen's
truth header (the walk's starting points; dumpscan's own anchors are
compared with them too).  Without ../shared the test is skipped (exit 77),
or fails when $CI is set.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dumpkit  # noqa: E402

X64 = ["raw", "full", "bitmap", "kernel", "rdmp", "elf"]
X86 = ["raw", "full32", "elf"]
BUILDS = {"win7_sp1_x64": X64, "win10_1809_x64": X64, "win10_2004_22h2_x64": X64,
          "win11_22h2_x64": X64, "win11_24h2_x64": X64, "winxp_sp3_x86": X86,
          "win7_sp1_x86": X86}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) <= 60:
            print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def hx(v):
    return "0x%x" % v


filetime_iso = dumpkit.filetime_iso


class Reader:
    """Field reads by name (offsets.json) through dumpkit's translation."""

    def __init__(self, img, key):
        self.img, self.off = img, dumpkit.offsets(key)
        self.ptr = img.ptr

    def field(self, va, struct, name, size=None):
        off = self.off[struct].get(name)
        if off is None:
            return None
        n = size or self.ptr
        b = self.img.read_va(va + off, n)
        return None if b is None else int.from_bytes(b, "little")

    def has(self, struct, name):
        return name in self.off.get(struct, {})


def processes(r, head):
    """EPROCESS VAs from PsActiveProcessHead, forward."""
    return dumpkit.walk_list(r.img, head, r.off["_EPROCESS"]["ActiveProcessLinks"])


def threads(r, eproc):
    return dumpkit.walk_list(r.img, eproc + r.off["_EPROCESS"]["ThreadListHead"],
                             r.off["_ETHREAD"]["ThreadListEntry"])


def one(binary, dumpgen, tmp, key, fmt, seed):
    path = os.path.join(tmp, "%s.%s" % (key, fmt))
    rc, _, err = run(dumpgen, "-q", "-o", path, "-b", key, "-f", fmt,
                     "-s", "24" if key.endswith("x86") else "16", "-S", str(seed))
    check(rc == 0, "dumpgen %s %s: %s" % (key, fmt, err))
    if rc:
        return
    with open(path + ".truth.ndjson") as f:
        hdr = json.loads(f.readline())
    rc, out, err = run(binary, "scan", "-q", "--no-timing", path)
    check(rc == 0, "scan %s %s: %s" % (key, fmt, err))
    recs = [json.loads(line) for line in out.splitlines()]
    dump = [x for x in recs if x["type"] == "dump"][0]
    procs = {x["eprocess_va"]: x for x in recs if x["type"] == "process"}
    thr = {x["ethread_va"]: x for x in recs if x["type"] == "thread"}
    drv = {x["ldr_va"]: x for x in recs if x["type"] == "driver"}
    tag = "%s %s" % (key, fmt)

    img = dumpkit.Image(path)
    if img.dtb is None:
        img.dtb = int(hdr["dtb"], 16)
        img.mode = "x64" if hdr["is64"] else ("pae" if hdr["pae"] else "x86")
    r = Reader(img, key)
    for k in ("ps_active_process_head", "ps_loaded_module_list", "psp_cid_table"):
        check(dump[k] == hdr[k], "%s: %s %s, truth %s" % (tag, k, dump[k], hdr[k]))
    head = int(hdr["ps_active_process_head"], 16)
    xp = r.has("_ETHREAD", "ThreadsProcess")  # XP keeps CreateTime shifted
    seen = 0
    for va in processes(r, head):
        p = procs.get(hx(va))
        if r.img.read_va(va, 8) is None:
            continue  # no kernel mapping: checked by the scan's own tests
        check(p is not None, "%s: process at %s (walk) not reported" % (tag, hx(va)))
        if not p:
            continue
        seen += 1
        name = r.img.read_va(va + r.off["_EPROCESS"]["ImageFileName"], 15).split(b"\0")[0]
        want = {
            "pid": r.field(va, "_EPROCESS", "UniqueProcessId"),
            "ppid": r.field(va, "_EPROCESS", "InheritedFromUniqueProcessId"),
            "name": name.decode("latin-1"),
            "dtb": hx(r.field(va, "_EPROCESS", "Pcb.DirectoryTableBase")),
            "peb": hx(r.field(va, "_EPROCESS", "Peb")),
            "object_table": hx(r.field(va, "_EPROCESS", "ObjectTable")),
            "create_time": filetime_iso(r.field(va, "_EPROCESS", "CreateTime", 8)),
            "active_threads": r.field(va, "_EPROCESS", "ActiveThreads", 4),
            "token": hx(r.field(va, "_EPROCESS", "Token") & ~(0xf if r.ptr == 8 else 0x7)),
        }
        for k, v in want.items():
            check(p[k] == v, "%s: process %s %s = %r, read %r" % (tag, want["name"], k, p[k], v))
        check("list" in p["sources"] and not p["unlinked"], "%s: %s listed" % (tag, want["name"]))
        for tva in threads(r, va):
            t = thr.get(hx(tva))
            check(t is not None, "%s: thread at %s not reported" % (tag, hx(tva)))
            if not t:
                continue
            ct = r.field(tva, "_ETHREAD", "CreateTime", 8)
            want_t = {
                "tid": r.field(tva, "_ETHREAD", "Cid.UniqueThread"),
                "pid": r.field(tva, "_ETHREAD", "Cid.UniqueProcess"),
                "start_address": hx(r.field(tva, "_ETHREAD", "StartAddress")),
                "win32_start_address": hx(r.field(tva, "_ETHREAD", "Win32StartAddress")),
                "teb": hx(r.field(tva, "_KTHREAD", "Teb")),
                "state": r.field(tva, "_KTHREAD", "State", 1),
                "wait_reason": r.field(tva, "_KTHREAD", "WaitReason", 1),
                "create_time": filetime_iso(ct >> 3 if xp else ct),
                "trap_frame": hx(r.field(tva, "_KTHREAD", "TrapFrame")),
                "stack_base": hx(r.field(tva, "_KTHREAD", "StackBase")),
                "stack_limit": hx(r.field(tva, "_KTHREAD", "StackLimit")),
                "kernel_stack": hx(r.field(tva, "_KTHREAD", "KernelStack")),
            }
            for k, v in want_t.items():
                check(t[k] == v, "%s: thread %s %s = %r, read %r" % (tag, want_t["tid"], k, t[k], v))
    check(seen >= 10, "%s: only %d listed processes compared" % (tag, seen))
    mods = dumpkit.walk_list(img, int(hdr["ps_loaded_module_list"], 16), 0)
    check(len(mods) >= 9, "%s: module walk %d" % (tag, len(mods)))
    for i, mva in enumerate(mods):
        d = drv.get(hx(mva))
        check(d is not None, "%s: module entry %s not reported" % (tag, hx(mva)))
        if d:
            ldr = "_LDR_DATA_TABLE_ENTRY"
            check(d["list_index"] == i and d["base"] == hx(r.field(mva, ldr, "DllBase")) and
                  d["size"] == r.field(mva, ldr, "SizeOfImage", 4),
                  "%s: module %d %s base/size/index" % (tag, i, d["name"]))
    img.close()
    for p in (path, path + ".truth.ndjson"):
        os.unlink(p)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(dumpkit.shared_dir(), "reference", "offsets.json")):
        if os.environ.get("CI"):
            print("CI: ../shared/reference/offsets.json missing", file=sys.stderr)
            return 1
        print("SKIP: no ../shared (offsets.json)")
        return 77
    binary, dumpgen = (os.path.abspath(a) for a in sys.argv[1:3])
    seed = 80
    with tempfile.TemporaryDirectory() as tmp:
        for key, fmts in BUILDS.items():
            for fmt in fmts:
                seed += 1
                one(binary, dumpgen, tmp, key, fmt, seed)
    if failures:
        print("%d failures" % len(failures), file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
