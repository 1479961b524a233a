#!/usr/bin/env python3
"""test_analyze.py - end-to-end test of `dumpscan analyze` (issue 10).

usage: test_analyze.py DUMPSCAN DUMPGEN

1. Generated crashes: dumpgen plants a DRIVER_IRQL_NOT_LESS_OR_EQUAL crash
   in every x64 build x crash format (full, bitmap, kernel, rdmp); every
   field of the crash record is compared with the truth file, the stack
   frame by frame (sp, ip, module, offset, method), and every driver
   record with the truth's PsLoadedModuleList; one bucket gathers them all.
   Raw and ELF images have no bug check: a crash record with nulls.
2. The real triage minidumps: values derived here, independently of
   dumpscan, from the raw file bytes and expected.ndjson (see derive()):
   bug check, process, thread, processor, the faulting location the bug
   check's own parameters name (or, for bug checks without such a
   parameter, the return address at the bug-check context's stack
   pointer), and for the exception bug check 0x1000007E the caller found
   from the exception CONTEXT named by parameter 4.
3. Damaged inputs: a context record pointing outside the dump, a zeroed or
   noisy stack copy, a looping module list, self-chained unwind info,
   truncation: a crash record with notes, bounded time, never a crash.
4. CSV to a directory and the table view.
"""
import csv
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dumpkit  # noqa: E402

failures = []
X64_BUILDS = ["win7_sp1_x64", "win10_1809_x64", "win10_2004_22h2_x64", "win11_22h2_x64",
              "win11_24h2_x64"]
CRASH_FORMATS = ["full", "bitmap", "kernel", "rdmp"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def run(binary, *args, timeout=120):
    t0 = time.time()
    p = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), time.time() - t0


def records(raw):
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line]


def base_name(path):
    return path.replace("/", "\\").split("\\")[-1]


# ---- 1. generated crashes -------------------------------------------------------

CRASH_FIELDS = ["process", "pid", "tid", "processor", "faulting_ip", "faulting_module",
                "faulting_offset", "faulting_location", "instruction", "stack_end", "caused_by",
                "caused_by_location", "bucket", "bucket_module"]


def check_generated(binary, dumpgen, top):
    dumps, truths = [], {}
    for i, build in enumerate(X64_BUILDS):
        for fmt in CRASH_FORMATS:
            p = os.path.join(top, f"{build}.{fmt}.dmp")
            subprocess.run([dumpgen, "-o", p, "-b", build, "-f", fmt, "-s", "16", "-S",
                            str(20 + i), "-q"], check=True)
            dumps.append(p)
            with open(p + ".truth.ndjson") as f:
                truths[p] = [json.loads(line) for line in f]
    rc, out, err, _ = run(binary, "analyze", "-q", "--sort", *dumps)
    check(rc == 0, f"generated crashes: exit 0 ({rc}, {err!r})")
    recs = records(out)
    crashes = {r["dump"]: r for r in recs if r["type"] == "crash"}
    check(set(crashes) == set(dumps), "one crash record per generated dump")
    for p in dumps:
        r, t = crashes.get(p), [x for x in truths[p] if x["type"] == "crash"]
        if not check(r is not None and len(t) == 1, f"{p}: crash record and truth"):
            continue
        t = t[0]
        name = os.path.basename(p)
        check(r["bugcheck_code"] == t["bugcheck_code"] == "0xd1", f"{name}: bug check code")
        check(r["bugcheck_name"] == "DRIVER_IRQL_NOT_LESS_OR_EQUAL", f"{name}: bug check name")
        check(r["bugcheck_params"] == t["bugcheck_params"], f"{name}: params")
        check(r["params_meaning"] and r["params_meaning"][3].startswith("address of the instruction"),
              f"{name}: params_meaning {r['params_meaning']}")
        check(r["context_source"] == "header", f"{name}: context_source {r['context_source']}")
        check(r["exception_code"] is None, f"{name}: no exception code for 0xD1")
        for k in CRASH_FIELDS:
            check(r[k] == t[k], f"{name}: {k} = {r[k]!r}, truth {t[k]!r}")
        got = [(f["frame"], f["sp"], f["ip"], f["module"], f["offset"], f["method"])
               for f in r["stack"]]
        want = [(f["frame"], f["sp"], f["ip"], f["module"], f["offset"], f["method"])
                for f in t["stack"]]
        check(got == want, f"{name}: stack\n  got  {got}\n  want {want}")
        check(r["bucket_id"] is not None and len(r["bucket_id"]) == 16, f"{name}: bucket_id")
        head = [x for x in truths[p] if x["type"] == "dump_truth"][0]
        check(r["system_time"] == head["system_time"], f"{name}: system_time")
        drivers = [d for d in recs if d["type"] == "driver" and d["dump"] == p]
        mods = [x for x in truths[p] if x["type"] == "module"]
        got = [(d["index"], d["name"], d["path"], d["base"], d["size"], d["source"]) for d in drivers]
        want = [(m["index"], m["name"], m["path"], m["base"], m["size"], "module_list") for m in mods]
        check(got == want, f"{name}: driver records\n  got  {got}\n  want {want}")
    buckets = [r for r in recs if r["type"] == "bucket"]
    check(len(buckets) == 1 and buckets[0]["count"] == len(dumps) and
          buckets[0]["bucket"].startswith("0xD1_netdrv.sys+0x") and
          buckets[0]["caused_by"] == "netdrv.sys" and len(buckets[0]["examples"]) == 3,
          f"one bucket holds every planted crash: {buckets}")
    summ = recs[-1]
    check(summ["type"] == "summary" and summ["crashes"] == len(dumps) and summ["buckets"] == 1,
          f"summary {summ}")
    # images without a header: no bug check
    for fmt in ("raw", "elf"):
        p = os.path.join(top, f"noheader.{fmt}")
        subprocess.run([dumpgen, "-o", p, "-f", fmt, "-s", "16", "-S", "3", "-q"], check=True)
        rc, out, err, _ = run(binary, "analyze", "-q", p)
        r = [x for x in records(out) if x["type"] == "crash"]
        check(rc == 0 and len(r) == 1 and r[0]["bugcheck_code"] is None and
              r[0]["bucket"] is None and r[0]["stack"] == [] and "no bug check" in (r[0]["notes"] or ""),
              f"{fmt}: crash record without a bug check ({rc}, {r})")
        drivers = [x for x in records(out) if x["type"] == "driver"]
        check(len(drivers) >= 9, f"{fmt}: the module list is still read ({len(drivers)})")
    return dumps


# ---- 2. real minidumps --------------------------------------------------------------

def derive(path, exp):
    """What analyze must say of a real triage dump, from the raw bytes and the
    independent reader's expected.ndjson: offsets of DUMP_HEADER64
    (offsets-notes.md 7.1: BugCheckParameter1..4 at 0x40, ContextRecord at
    0x348 with Rsp at +0x98) and TRIAGE_DUMP64 at 0x2000 (PrcbOffset +0x1c,
    CallStackOffset +0x28, SizeOfCallStack +0x2c, TopOfStack +0x48)."""
    with open(path, "rb") as f:
        d = f.read()
    tri = 0x2000
    prcb, = struct.unpack_from("<I", d, tri + 0x1c)
    cs_off, cs_size = struct.unpack_from("<II", d, tri + 0x28)
    tos, = struct.unpack_from("<Q", d, tri + 0x48)
    params = [int(x, 16) for x in exp["bugcheck_params"]]
    drivers = [(base_name(x["name"]), int(x["base"], 16), int(x["size"], 16)) for x in exp["drivers"]]

    def where(va):
        for name, base, size in drivers:
            if base <= va < base + size:
                return f"{name}+0x{va - base:x}"
        return None

    def stack_q(va):
        if tos <= va and va + 8 <= tos + cs_size:
            return struct.unpack_from("<Q", d, cs_off + va - tos)[0]
        return None

    code = int(exp["bugcheck_code"], 16)
    # the parameter naming the faulting instruction (Microsoft's reference):
    # 0x1E and 0x7E parameter 2, 0x50 parameter 3
    ip_param = {0x1e: 2, 0x7e: 2, 0x50: 3}.get(code & ~0x10000000)
    if ip_param:
        fault = where(params[ip_param - 1])
    else:
        # no such parameter: the header CONTEXT is KeBugCheckEx's at entry,
        # so its caller's return address is the qword at RSP
        rsp, = struct.unpack_from("<Q", d, 0x348 + 0x98)
        fault = where(stack_q(rsp))
    caller = None
    if code & ~0x10000000 == 0x7e:
        # parameter 4 is the exception CONTEXT, inside the stack copy; the
        # faulting function's caller is the first code address at its RSP
        ctx_rsp = stack_q(params[3] + 0x98)
        caller = next((where(stack_q(ctx_rsp + 8 * i)) for i in range(64)
                       if stack_q(ctx_rsp + 8 * i) and where(stack_q(ctx_rsp + 8 * i))), None)
    return {"fault": fault, "caller": caller, "processor": d[prcb + 4], "drivers": drivers}


# Literal values, derived once by hand as derive() does and kept here as a
# second, independent statement of the truth: each faulting location is
# the named parameter minus the base of the driver that contains it.
REAL_FAULTS = {
    "011620-8250-01.dmp": "ntoskrnl.exe+0x4a2d4",  # 0x1000007E P2 fffff8044a24d2d4 - nt fffff8044a203000
    "102622-17265-01.dmp": "ntoskrnl.exe+0x217980",  # 0x1E P2 fffff80146417980 - nt base
    "102622-15671-01.dmp": "Ntfs.sys+0xfb873",  # 0x50 P3 fffff804206cb873 - Ntfs.sys base
    "033124-5078-01.dmp": "ntoskrnl.exe+0x437d96",  # 0x133: [header Rsp] in the stack copy
}
REAL_CALLER_0x7E = "winhvr.sys+0x16755"  # [exception CONTEXT.Rsp] of 011620-8250-01.dmp


def check_real(binary, real, top):
    with open(os.path.join(real, "expected.ndjson")) as f:
        exps = {json.loads(line)["file"]: json.loads(line) for line in f}
    paths = [os.path.join(real, n) for n in sorted(exps)]
    rc, out, err, secs = run(binary, "analyze", "-q", "--sort", *paths)
    check(rc == 0, f"real dumps: exit 0 ({rc}, {err!r})")
    recs = records(out)
    crashes = {os.path.basename(r["dump"]): r for r in recs if r["type"] == "crash"}
    check(len(crashes) == len(exps), "one crash record per real dump")
    for name, e in exps.items():
        r = crashes.get(name)
        if not check(r is not None, f"{name}: crash record"):
            continue
        want = derive(os.path.join(real, name), e)
        check(r["bugcheck_code"] == e["bugcheck_code"], f"{name}: code {r['bugcheck_code']}")
        check(r["bugcheck_params"] == e["bugcheck_params"], f"{name}: params")
        check(r["bugcheck_name"] is not None and r["params_meaning"] is not None,
              f"{name}: name and meanings")
        check((r["process"], r["pid"]) == (e["process"]["name"], e["process"]["pid"]),
              f"{name}: process {r['process']} {r['pid']}")
        check(r["tid"] == e["thread"]["tid"], f"{name}: tid {r['tid']}")
        check(r["processor"] == want["processor"], f"{name}: processor {r['processor']}")
        check(r["faulting_location"] == want["fault"],
              f"{name}: faulting_location {r['faulting_location']!r}, derived {want['fault']!r}")
        if name in REAL_FAULTS:
            check(want["fault"] == REAL_FAULTS[name],
                  f"{name}: derivation {want['fault']} agrees with the literal {REAL_FAULTS[name]}")
        check(r["faulting_module"] == (want["fault"] or "+").split("+")[0],
              f"{name}: faulting_module")
        check(r["stack"] and r["stack"][0]["method"] == "context", f"{name}: frame 0 is the context")
        check(r["stack_end"] in ("end", "unreadable", "limit"), f"{name}: stack_end")
        if want["caller"]:
            check(want["caller"] == REAL_CALLER_0x7E, f"{name}: derived caller {want['caller']}")
            check(r["context_source"] == "context_record", f"{name}: exception context used")
            check(r["caused_by_location"] == want["caller"],
                  f"{name}: caused_by_location {r['caused_by_location']}, derived {want['caller']}")
            check(r["exception_code"] == "0xc0000005", f"{name}: exception_code")
            check(r["bucket"] == "0x7E_winhvr.sys+0x16755", f"{name}: bucket {r['bucket']}")
        drivers = [d for d in recs if d["type"] == "driver" and os.path.basename(d["dump"]) == name]
        got = [(d["name"], int(d["base"], 16), d["size"]) for d in drivers]
        check(got == want["drivers"], f"{name}: driver records (base names, bases, sizes)")
        check(all(d["path"] == x["name"] for d, x in zip(drivers, e["drivers"])) and
              all(d["source"] == "triage" for d in drivers), f"{name}: driver paths as stored")
    buckets = [r for r in recs if r["type"] == "bucket"]
    check(sum(b["count"] for b in buckets) == len(exps), "buckets count every crash once")
    return paths


# ---- 3. damaged inputs -------------------------------------------------------------

def bounded(binary, what, path, secs=10):
    rc, out, err, took = run(binary, "analyze", "-q", path, timeout=60)
    check(rc in (0, 1), f"{what}: exit 0/1 ({rc}, {err[-300:]!r})")
    check(took < secs, f"{what}: {took:.1f} s")
    recs = records(out) if rc in (0, 1) else []
    return next((r for r in recs if r["type"] in ("crash", "error")), {})


def check_damaged(binary, real, gen_dumps, top):
    src = os.path.join(real, "011620-8250-01.dmp")
    with open(src, "rb") as f:
        data = bytearray(f.read())
    # parameter 4 (the context record) pointing at memory not in the dump
    bad = bytearray(data)
    struct.pack_into("<Q", bad, 0x40 + 24, 0xffff800012340000)
    p = os.path.join(top, "ctx-outside.dmp")
    open(p, "wb").write(bad)
    r = bounded(binary, "context outside", p)
    check(r.get("context_source") == "header" and "context record" in (r.get("notes") or ""),
          f"context outside the dump: header context and a note ({r.get('notes')})")
    check(r.get("faulting_location") == "ntoskrnl.exe+0x4a2d4", "context outside: P2 still names the IP")
    # the call stack copy zeroed, then filled with noise
    cs_off, cs_size = struct.unpack_from("<II", data, 0x2000 + 0x28)
    for what, fill in (("zeroed", lambda n: bytes(n)),
                       ("noise", lambda n: random.Random(5).randbytes(n))):
        bad = bytearray(data)
        bad[cs_off:cs_off + cs_size] = fill(cs_size)
        p = os.path.join(top, f"stack-{what}.dmp")
        open(p, "wb").write(bad)
        r = bounded(binary, f"stack {what}", p)
        check(r.get("type") == "crash" and len(r.get("stack", [])) <= 64, f"stack {what}: {r.get('stack_end')}")
    # truncations at every interesting boundary
    for cut in (0x1000, 0x2000, 0x2080, cs_off + 16, len(data) // 2):
        p = os.path.join(top, f"cut-{cut:x}.dmp")
        open(p, "wb").write(data[:cut])
        bounded(binary, f"cut at 0x{cut:x}", p)
    # random mutations of header and triage block
    rng = random.Random(77)
    for i in range(12):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 40)):
            bad[rng.randrange(0x3000 if rng.random() < 0.7 else len(bad))] = rng.randrange(256)
        p = os.path.join(top, f"mut{i}.dmp")
        open(p, "wb").write(bad)
        bounded(binary, f"mutant {i}", p)
    # a generated full dump whose module list loops and whose netdrv unwind
    # info chains to itself
    g = next(x for x in gen_dumps if x.endswith("win10_2004_22h2_x64.full.dmp"))
    m = os.path.join(top, "loops.dmp")
    shutil.copyfile(g, m)
    with open(g + ".truth.ndjson") as f:
        truth = [json.loads(line) for line in f]
    head = truth[0]
    img = dumpkit.Image(m, writable=True)
    mods = [x for x in truth if x["type"] == "module"]
    # the last entry's Flink -> entry 3: a loop that never comes back to the head
    ents = dumpkit.walk_list(img, int(head["ps_loaded_module_list"], 16), 0)
    img.write_ptr(ents[-1], ents[3])
    netdrv = int(next(x for x in mods if x["name"] == "netdrv.sys")["base"], 16)
    for xdata in (0x2400, 0x2420):   # DriverDispatch and DoRead UNWIND_INFO: chain to self
        info = img.read_va(netdrv + xdata, 4)
        flags_ver = info[0] | (0x4 << 3)
        img.write_va(netdrv + xdata, bytes([flags_ver, info[1], 0, info[3]]))
        img.write_va(netdrv + xdata + 4, struct.pack("<III", 0x1000, 0x1200, xdata))
    img.close()
    r = bounded(binary, "module list loop + self-chained unwind", m)
    check("module list loop" in (r.get("notes") or ""), f"loop named in notes: {r.get('notes')}")
    check((r.get("faulting_location") or "").startswith("netdrv.sys+"),
          f"faulting location still from parameter 4: {r.get('faulting_location')}")


# ---- 4. formats ------------------------------------------------------------------------

def check_formats(binary, paths, top):
    outdir = os.path.join(top, "csv") + "/"
    rc, out, err, _ = run(binary, "analyze", "-q", "-f", "csv", "-o", outdir, *paths)
    check(rc == 0 and out == b"", f"csv to a directory: exit 0 ({rc}, {err!r})")
    for t in ("crash", "driver", "bucket", "summary"):
        p = os.path.join(outdir, t + ".csv")
        if check(os.path.exists(p), f"{t}.csv written"):
            with open(p, newline="") as f:
                rows = list(csv.reader(f))
            check(rows[0][0] == "type" and len(rows) > 1, f"{t}.csv has a header and rows")
            if t == "crash":
                stack = rows[1][rows[0].index("stack")]
                check(stack.split(";")[0].split(" ")[0] == "0" and "context" in stack,
                      f"crash.csv stack cell: {stack[:80]!r}")
    rc, out, err, _ = run(binary, "analyze", "-q", "--no-drivers", *paths)
    kinds = {r["type"] for r in records(out)}
    check(rc == 0 and "driver" not in kinds and "crash" in kinds, f"--no-drivers: {kinds}")
    rc, out, err, _ = run(binary, "analyze", "-q", "-f", "table", *paths)
    text = out.decode()
    check(rc == 0 and text.count("FAILURE_BUCKET_ID:") == len(paths) and "STACK_TEXT:" in text
          and "Count  Bucket" in text and text.rstrip().splitlines()[-2].startswith("Summary:"),
          "table: a block per dump, the bucket table, the summary")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dumpgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    real = os.path.join(os.environ.get("DUMPSCAN_SHARED", ""), "dumps", "real")
    have_real = os.path.exists(os.path.join(real, "expected.ndjson"))
    if not have_real and os.environ.get("CI"):
        print("FAIL: ../shared/dumps/real is missing in CI", file=sys.stderr)
        return 1
    top = tempfile.mkdtemp(prefix="dumpscan-analyze-")
    try:
        gen = check_generated(binary, dumpgen, top)
        if have_real:
            paths = check_real(binary, real, top)
            check_damaged(binary, real, gen, top)
            check_formats(binary, paths, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    if not have_real:
        if os.environ.get("CI"):
            print("CI: the real dumps are required", file=sys.stderr)
            return 1
        print("real dumps absent: generated crashes checked only (skip)")
        return 77
    print("all analyze checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
