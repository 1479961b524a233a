#!/usr/bin/env python3
"""test_cli_info.py - end-to-end test of `dumpscan info` (run by meson test).

usage: test_cli_info.py PATH/TO/dumpscan

Runs the built binary on the real minidumps in $DUMPSCAN_SHARED/dumps/real
and compares every header field, the triage process/thread and the whole
driver list with expected.ndjson (values read by an independent reader).
Then feeds it bad inputs made here (empty file, directory, random bytes,
a truncated copy of a real dump, a missing path, corrupted copies) and
checks error records, exit codes, and that good dumps among bad ones are
still reported.  Exits 77 (meson: skipped) when the real dumps are absent.
"""
import csv
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from decimal import Decimal

DUMP_FIELDS = [
    "type", "dump", "dump_id", "size", "format", "dump_type", "dump_type_name", "build", "arch",
    "processors", "dtb", "kernel_base", "ps_active_process_head", "ps_loaded_module_list",
    "kd_debugger_data_block", "bugcheck_code", "bugcheck_name", "bugcheck_params",
    "system_time", "uptime_s", "pages_present", "pages_expected", "pages_missing",
    "truncated", "product_type", "suite_mask", "profile", "profile_match", "nt_build_lab",
    "notes",
]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(binary, *args, timeout=120):
    p = subprocess.run([binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def parse_ndjson(text):
    """Every line must be one JSON object; numbers kept exact."""
    recs = []
    for line in text.splitlines():
        recs.append(json.loads(line, parse_float=Decimal))
    return recs


def load_expected(real):
    exp = {}
    with open(os.path.join(real, "expected.ndjson")) as f:
        for line in f:
            e = json.loads(line)
            exp[e["file"]] = e
    return exp


def check_real_dumps(binary, real, exp):
    paths = [os.path.join(real, name) for name in sorted(exp)]
    rc, out, err = run(binary, "info", *paths)
    check(rc == 0, f"info on real dumps exits 0 (got {rc}, stderr {err!r})")
    recs = parse_ndjson(out)
    dumps = [r for r in recs if r["type"] == "dump"]
    check(len(dumps) == len(paths), f"one dump record per real dump ({len(dumps)})")
    for r in dumps:
        check(list(r.keys()) == DUMP_FIELDS, f"dump record field order: {list(r.keys())}")
        name = os.path.basename(r["dump"])
        e = exp[name]
        pairs = [
            ("size", e["size"]), ("format", e["signature"]), ("dump_type", e["dump_type"]),
            ("build", e["build"]), ("dtb", e["dtb"]), ("processors", e["processors"]),
            ("ps_loaded_module_list", e["ps_loaded_module_list"]),
            ("ps_active_process_head", e["ps_active_process_head"]),
            ("kd_debugger_data_block", e["kd_debugger_data_block"]),
            ("bugcheck_code", e["bugcheck_code"]), ("bugcheck_params", e["bugcheck_params"]),
            ("system_time", e["system_time"]), ("arch", "x64"),
            ("uptime_s", Decimal(e["system_uptime_100ns"]) / Decimal(10 ** 7)),
        ]
        for field, want in pairs:
            check(r[field] == want, f"{name}: {field} = {r[field]!r}, expected {want!r}")
        check(r["bugcheck_name"] is not None, f"{name}: bug check code has a name")
        procs = [p for p in recs if p["type"] == "process" and p["dump"] == r["dump"]]
        check(len(procs) == 1, f"{name}: one triage process record")
        for p in procs:
            got = (p["pid"], p["ppid"], p["name"], p["source"])
            want = (e["process"]["pid"], e["process"]["ppid"], e["process"]["name"], "triage")
            check(got == want, f"{name}: process {got} expected {want}")
        threads = [t for t in recs if t["type"] == "thread" and t["dump"] == r["dump"]]
        check(len(threads) == 1, f"{name}: one triage thread record")
        for t in threads:
            got = (t["pid"], t["tid"])
            want = (e["thread"]["pid"], e["thread"]["tid"])
            check(got == want, f"{name}: thread {got} expected {want}")
        drivers = [d for d in recs if d["type"] == "driver" and d["dump"] == r["dump"]]
        check(len(drivers) == len(e["drivers"]),
              f"{name}: {len(drivers)} driver records, expected {len(e['drivers'])}")
        for i, (d, w) in enumerate(zip(drivers, e["drivers"])):
            got = (d["index"], d["name"], d["base"], d["size"])
            want = (i, w["name"], w["base"], int(w["size"], 16))
            check(got == want, f"{name}: driver {i} {got} expected {want}")
    return out


def check_bad_inputs(binary, real, exp, tmp):
    good = os.path.join(real, sorted(exp)[0])
    empty = os.path.join(tmp, "empty.dmp")
    open(empty, "wb").close()
    adir = os.path.join(tmp, "a-directory")
    os.mkdir(adir)
    inner = os.path.join(adir, "inner.bin")      # a directory is walked: its files are inputs
    with open(inner, "wb") as f:
        f.write(b"\x00" * 100)
    rnd = os.path.join(tmp, "random.bin")
    with open(rnd, "wb") as f:
        f.write(random.Random(1234).randbytes(65536))
    trunc = os.path.join(tmp, "truncated.dmp")
    with open(good, "rb") as src, open(trunc, "wb") as dst:
        dst.write(src.read(0x1800))
    missing = os.path.join(tmp, "does-not-exist.dmp")

    args = [empty, adir, rnd, good, trunc, missing]
    inputs = [empty, inner, rnd, good, trunc, missing]
    rc, out, err = run(binary, "info", *args)
    check(rc == 1, f"bad inputs: exit 1 (got {rc})")
    recs = parse_ndjson(out)
    top = [r for r in recs if r["type"] in ("dump", "error")]
    check([r["dump"] for r in top] == inputs, "one dump/error record per input, in order")
    want_err = {empty: "empty", inner: "unknown_format", rnd: "unknown_format",
                trunc: "truncated", missing: "io"}
    for r in top:
        if r["dump"] == good:
            check(r["type"] == "dump", "the good dump among bad ones gives a dump record")
            check(r["build"] == exp[os.path.basename(good)]["build"], "good dump still parsed")
            continue
        check(r["type"] == "error", f"{r['dump']}: error record")
        check(list(r.keys()) == ["type", "dump", "dump_id", "error", "message"],
              f"error record fields {list(r.keys())}")
        check(r.get("error") == want_err[r["dump"]],
              f"{os.path.basename(r['dump'])}: error {r.get('error')!r}, "
              f"expected {want_err[r['dump']]!r}")
        check(bool(r.get("message")), f"{r['dump']}: error message present")
        # dump_id: 16 hex digits when the file could be read, else null
        readable = r["dump"] in (empty, inner, rnd, trunc)
        check((r["dump_id"] is not None) == readable,
              f"{r['dump']}: dump_id {r['dump_id']!r} (readable: {readable})")
    summ = [r for r in recs if r["type"] == "summary"]
    check(len(summ) == 1 and recs[-1]["type"] == "summary", "one summary record, last")
    if summ:
        s = summ[0]
        check((s["dumps_total"], s["dumps_ok"], s["dumps_failed"], s["dumps_skipped"],
               s["interrupted"]) == (len(inputs), 1, len(inputs) - 1, 0, False),
              f"summary counts {s}")

    # Only bad inputs: still exit 1; nothing but error records.
    rc, out, _ = run(binary, "info", empty, rnd)
    check(rc == 1, f"only bad inputs: exit 1 (got {rc})")
    check([r["type"] for r in parse_ndjson(out)] == ["error", "error", "summary"],
          "only error records, then the summary")

    # Corrupted copies of a real dump: never a crash, hang or signal.
    data = bytearray(open(good, "rb").read())
    rng = random.Random(99)
    mutants = []
    for i in range(24):
        m = bytearray(data)
        for _ in range(rng.randint(1, 64)):
            # mostly the header and triage block, sometimes anywhere
            limit = 0x3000 if rng.random() < 0.8 else len(m)
            m[rng.randrange(limit)] = rng.randrange(256)
        if i % 6 == 0:
            m = m[: rng.randrange(0x2000, len(m))]
        p = os.path.join(tmp, f"mutant{i}.dmp")
        with open(p, "wb") as f:
            f.write(m)
        mutants.append(p)
    rc, out, err = run(binary, "info", *mutants, timeout=300)
    check(rc in (0, 1), f"corrupted dumps: exit 0 or 1 (got {rc}; stderr {err[-500:]!r})")
    recs = parse_ndjson(out)
    top = [r for r in recs if r["type"] in ("dump", "error")]
    check(len(top) == len(mutants), f"corrupted dumps: one record each ({len(top)})")


def check_csv(binary, real, exp, tmp, ndjson_out):
    paths = [os.path.join(real, name) for name in sorted(exp)]
    empty = os.path.join(tmp, "empty2.dmp")
    open(empty, "wb").close()
    rc, out, err = run(binary, "info", "--format", "csv", paths[0], empty)
    check(rc == 1, f"csv with a bad input: exit 1 (got {rc})")
    rows = list(csv.reader(io.StringIO(out)))
    check(rows and rows[0] == DUMP_FIELDS, f"csv header {rows[:1]}")
    check(len(rows) == 2, f"csv on stdout holds only dump rows ({len(rows) - 1})")
    check(f"dumpscan: error: {empty}" in err, f"csv: error goes to stderr ({err!r})")
    dumps = [r for r in parse_ndjson(ndjson_out) if r["type"] == "dump"]
    if dumps and len(rows) == 2:
        first = dumps[0]
        row = dict(zip(rows[0], rows[1]))
        for k, v in first.items():
            if v is None:
                want = ""
            elif isinstance(v, bool):
                want = "true" if v else "false"
            elif isinstance(v, list):
                want = ";".join(v)
            else:
                want = str(v)
            check(row[k] == want, f"csv {k} = {row[k]!r}, ndjson says {want!r}")

    outdir = os.path.join(tmp, "csvdir") + "/"
    rc, out, err = run(binary, "info", "--format", "csv", "-o", outdir, *paths, empty)
    check(rc == 1, f"csv directory: exit 1 (got {rc})")
    check(out == "", "csv directory: nothing on stdout")
    counts = {}
    for t in ("dump", "process", "thread", "driver", "error"):
        p = os.path.join(outdir, t + ".csv")
        check(os.path.exists(p), f"csv directory has {t}.csv")
        if os.path.exists(p):
            with open(p, newline="") as f:
                rows = list(csv.reader(f))
            check(rows[0][0] == "type", f"{t}.csv header starts with type")
            counts[t] = len(rows) - 1
    check(counts.get("dump") == len(paths), f"dump.csv rows {counts.get('dump')}")
    check(counts.get("error") == 1, f"error.csv rows {counts.get('error')}")
    ndrivers = sum(len(e["drivers"]) for e in exp.values())
    check(counts.get("driver") == ndrivers, f"driver.csv rows {counts.get('driver')} != {ndrivers}")


def check_table(binary, real, exp):
    name = "011620-8250-01.dmp"
    if name not in exp:
        return
    path = os.path.join(real, name)
    rc, out, err = run(binary, "info", "--format", "table", path)
    check(rc == 0, f"table exit 0 (got {rc})")
    want = [
        f"Dump:     {path} (PAGEDU64 triage, 176411 bytes)",
        "Windows 10 Kernel Version 17763 MP (8 procs) Free x64",
        "Product: WinNt, suite: TerminalServer SingleUserTS",
        "Kernel base = 0xfffff804`4a203000 PsLoadedModuleList = 0xfffff804`4a61c710",
        "Debug session time: Thu Jan 16 01:12:59.880 2020 (UTC + 0:00)",
        "System Uptime: 0 days 0:00:04.126",
        "BugCheck 1000007E, {ffffffffc0000005, fffff8044a24d2d4, ffff998071d4ed88, "
        "ffff998071d4e5d0}",
        "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
        "Process: System (pid 4, ppid 0)",
        "Thread: tid 408 (pid 4)",
        "Drivers: 108",
    ]
    got = out.splitlines()[: len(want)]
    check(got == want, f"table block:\n{chr(10).join(got)}")


def check_usage(binary, real, exp, tmp):
    good = os.path.join(real, sorted(exp)[0])
    for args, want in [
        ([], 2), (["info"], 2), (["info", "--format", "xml", good], 2),
        (["frobnicate"], 2), (["info", "--profile", "no_such_profile", good], 2),
        (["info", "--format", "table", "-o", tmp, good], 2),
        (["--version"], 0), (["--help"], 0), (["info", "--help"], 0),
    ]:
        rc, out, err = run(binary, *args)
        check(rc == want, f"dumpscan {' '.join(args)}: exit {rc}, expected {want}")
    rc, out, _ = run(binary, "--version")
    check(out.startswith("dumpscan "), f"--version prints the version ({out!r})")
    if os.path.exists("/dev/full"):
        rc, _, err = run(binary, "info", "-o", "/dev/full", good)
        check(rc == 3, f"write to /dev/full: exit 3 (got {rc})")
    rc, _, _ = run(binary, "info", "-o", os.path.join(tmp, "no", "such", "dir", "x"), good)
    check(rc == 3, f"unopenable output: exit 3 (got {rc})")
    copy = os.path.join(tmp, "copy.dmp")
    shutil.copyfile(good, copy)
    rc, _, _ = run(binary, "info", "-o", copy, copy)
    check(rc == 2, f"output == input: exit 2 (got {rc})")
    check(os.path.getsize(copy) == os.path.getsize(good), "output == input: input untouched")
    outfile = os.path.join(tmp, "out.ndjson")
    rc, out, _ = run(binary, "info", "-o", outfile, good)
    check(rc == 0 and out == "", "-o FILE: exit 0, nothing on stdout")
    with open(outfile) as f:
        check(parse_ndjson(f.read())[0]["type"] == "dump", "-o FILE holds the records")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    shared = os.environ.get("DUMPSCAN_SHARED", os.path.join("..", "shared"))
    real = os.path.join(shared, "dumps", "real")
    if not os.path.exists(os.path.join(real, "expected.ndjson")):
        if os.environ.get("CI"):
            print(f"CI: the real dumps are required and {real} has none")
            return 1
        print(f"skipped: no real dumps in {real}")
        return 77
    exp = load_expected(real)
    tmp = tempfile.mkdtemp(prefix="dumpscan-e2e-")
    try:
        out = check_real_dumps(binary, real, exp)
        check_bad_inputs(binary, real, exp, tmp)
        check_csv(binary, real, exp, tmp, out)
        check_table(binary, real, exp)
        check_usage(binary, real, exp, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
