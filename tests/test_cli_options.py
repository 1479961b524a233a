#!/usr/bin/env python3
"""test_cli_options.py - golden outputs, the three formats against each
other, and every scan option that changes what is found (run by meson).

usage: test_cli_options.py PATH/TO/dumpscan PATH/TO/dumpgen [--update]

1. Golden outputs: one fixed generated dump (dumpgen is deterministic:
   same seed, same bytes) scanned with --no-timing --io pread in ndjson,
   csv (-o DIR/, every record type) and table, `analyze` and `info` on a
   crash-dump copy, compared byte for byte with tests/golden/.  Any change
   to any field of any record shows here as a diff; when the change is
   intended, rerun with --update (or DUMPSCAN_UPDATE_GOLDEN=1) and commit
   the new files with the change.
2. CSV and table against NDJSON: every CSV field of every record type is
   the NDJSON value in the CSV encoding of docs/output.md; every table row
   names the same process with the same PID, PPID, view flags and verdict.
3. Options, each against the truth or the default run:
   --io auto|uring|mmap|pread and --odirect give identical records;
   --min-score 0/100 bound the scores and nest the sets; --no-struct drops
   the structure view (and the processes only it finds); --struct-all
   finds at least as much; --no-xview leaves the pool/struct views only;
   --profile forces a layout (and a wrong or unknown key is refused or
   finds nothing); --progress writes progress to stderr, -q does not.
"""
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
failures = []
DUMPGEN = None


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) < 60:
            print("FAIL:", what, file=sys.stderr)


def run(args, cwd=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def records(text):
    return [json.loads(line) for line in text.splitlines() if line]


def by_type(recs, t):
    return [r for r in recs if r["type"] == t]


# ---- 1. golden outputs -------------------------------------------------------

def golden(name, data, update):
    path = os.path.join(GOLDEN, name)
    if update:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(data)
        print("updated", path)
        return
    if not os.path.exists(path):
        check(False, f"golden {name} missing: run with --update")
        return
    with open(path, encoding="utf-8", newline="") as f:
        want = f.read()
    if want == data:
        return
    a, b = want.splitlines(), data.splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else "<none>"
        y = b[i] if i < len(b) else "<none>"
        if x != y:
            check(False, f"golden {name} line {i + 1}:\n  want {x[:400]}\n  got  {y[:400]}")
            break
    check(False, f"golden {name} differs ({len(a)} lines wanted, {len(b)} got); "
                 "if intended: tests/test_cli_options.py BIN DUMPGEN --update")


def golden_outputs(binary, tmp, update):
    base = ["-q", "--no-timing", "--io", "pread"]
    rc, nd, err = run([binary, "scan", *base, "golden.raw"], cwd=tmp)
    check(rc == 0, f"golden scan ndjson exit {rc}: {err}")
    golden("scan.ndjson", nd, update)
    rc, compact, err = run([binary, "scan", *base, "-f", "table", "golden.raw"], cwd=tmp)
    check(rc == 0, f"golden scan table exit {rc}: {err}")
    golden("scan.table", compact, update)
    rc, tab, err = run([binary, "scan", *base, "-f", "table", "--wide", "golden.raw"], cwd=tmp)
    check(rc == 0, f"golden scan table --wide exit {rc}: {err}")
    golden("scan-wide.table", tab, update)
    rc, tab2, _ = run([binary, "scan", *base, "-f", "table", "--show-threads", "--pid", "500",
                       "golden.raw"], cwd=tmp)
    check(rc == 0, "golden scan --show-threads")
    golden("scan-threads.table", tab2, update)
    out = os.path.join(tmp, "csvout") + "/"
    rc, _, err = run([binary, "scan", *base, "-f", "csv", "-o", out, "golden.raw"], cwd=tmp)
    check(rc == 0, f"golden scan csv exit {rc}: {err}")
    csvs = {}
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name), encoding="utf-8", newline="") as f:
            csvs[name] = f.read()
        golden("scan-" + name, csvs[name], update)
    check(sorted(csvs) == ["driver.csv", "dump.csv", "process.csv", "summary.csv", "thread.csv",
                           "unloaded.csv"], f"csv files {sorted(csvs)}")
    rc, an, err = run([binary, "analyze", *base[:2], "golden.dmp"], cwd=tmp)
    check(rc == 0, f"golden analyze exit {rc}: {err}")
    golden("analyze.ndjson", an, update)
    rc, inf, err = run([binary, "info", *base[:2], "golden.dmp"], cwd=tmp)
    check(rc == 0, f"golden info exit {rc}: {err}")
    golden("info.ndjson", inf, update)
    rc, inft, err = run([binary, "info", *base[:2], "-f", "table", "golden.dmp"], cwd=tmp)
    golden("info.table", inft, update)
    return records(nd), csvs, tab, compact


# ---- 2. csv and table against ndjson ---------------------------------------

def csv_text(v):
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, list):
        return ";".join(csv_text(x).replace("\\", "\\\\").replace(";", "\\;") for x in v)
    if isinstance(v, float):
        return repr(v)
    return str(v)


def csv_against_ndjson(recs, csvs):
    for name, text in csvs.items():
        t = name[:-4]
        rows = list(csv.reader(io.StringIO(text)))
        want = by_type(recs, t)
        check(len(rows) == len(want) + 1, f"{name}: {len(rows) - 1} rows, ndjson has {len(want)}")
        if not rows or not want:
            continue
        header = rows[0]
        check(header == list(want[0].keys()), f"{name}: header {header} != ndjson keys")
        for row, r in zip(rows[1:], want):
            for key, cell in zip(header, row):
                if key not in r:
                    continue
                v = r[key]
                if isinstance(v, str) and v == "":
                    continue  # "" is quoted in CSV; csv.reader unquotes it
                check(cell == csv_text(v), f"{name} {key}: csv {cell!r} ndjson {v!r}")


def table_against_ndjson(recs, tab):
    procs = by_type(recs, "process")
    rows = {}
    for line in tab.splitlines():
        parts = line.split()
        if len(parts) >= 12 and (parts[0].startswith("0x") or parts[0] == "-") and \
                (parts[1].startswith("0x") or parts[1] == "-") and parts[2].isdigit():
            rows[(parts[1], int(parts[2]))] = parts
    check(len(rows) == len(procs), f"table: {len(rows)} process rows, ndjson {len(procs)}")
    views = ["pool", "struct", "list", "thread", "cid", "session", "handles"]
    for p in procs:
        row = rows.get((p["eprocess_pa"] or "-", p["pid"]))
        check(row is not None, f"table: no row for pid {p['pid']}")
        if row is None:
            continue
        check(row[0] == (p["eprocess_va"] or "-"), f"table pid {p['pid']}: va {row[0]}")
        check(int(row[3]) == p["ppid"], f"table pid {p['pid']}: ppid {row[3]}")
        flags = row[-8:-1]
        for v, f in zip(views, flags):
            check(f == ("True" if v in p["sources"] else "False"),
                  f"table pid {p['pid']}: {v} column {f}, sources {p['sources']}")
        verdict = "HIDDEN" if p["hidden"] else "terminated+unlinked" if p["terminated"] and \
            p["unlinked"] else "terminated" if p["terminated"] else "ok"
        check(row[-1] == verdict, f"table pid {p['pid']}: verdict {row[-1]}, want {verdict}")


def compact_against_ndjson(recs, text):
    """The default table: 80 columns, views as letters at a fixed display
    column whatever the name (non-ASCII names are padded by width)."""
    procs = {(p["eprocess_va"] or p["eprocess_pa"], p["pid"]): p for p in by_type(recs, "process")}
    letters = [("pool", "P"), ("struct", "S"), ("list", "L"), ("thread", "T"), ("cid", "C"),
               ("session", "E"), ("handles", "H")]
    rows = 0
    for line in text.splitlines():
        check(len(line) <= 80, f"compact table: line over 80 columns: {line!r}")
        parts = line.split()
        if len(parts) < 5 or not parts[1].isdigit() or not (parts[0].startswith("0x") or parts[0] == "-"):
            continue
        p = procs.get((parts[0], int(parts[1])))
        if p is None:
            continue  # a driver row
        rows += 1
        views = line[50:57]  # 18 + 1 + 6 + 1 + 6 + 1 + 16 + 1 columns before it
        want = "".join(c if v in p["sources"] else "." for v, c in letters)
        check(views == want, f"compact table pid {p['pid']} ({p['name']}): views {views!r}, want {want!r}")
    check(rows == len(procs), f"compact table: {rows} process rows, ndjson {len(procs)}")
    check(any(ord(c) > 127 for p in procs.values() for c in p["name"]),
          "the golden dump has no non-ASCII process name to align")


# ---- 3. options ------------------------------------------------------------

def scan_recs(binary, tmp, *extra, path="golden.raw", rc_want=0):
    rc, out, err = run([binary, "scan", "-q", "--no-timing", *extra, path], cwd=tmp)
    check(rc == rc_want, f"scan {extra}: exit {rc} {err.strip()[:200]}")
    return records(out) if rc == 0 else []


def without(recs, *keys):
    return [{k: v for k, v in r.items() if k not in keys} for r in recs]


def proc_keys(recs):
    return {(p["eprocess_pa"], p["pid"]) for p in by_type(recs, "process")}


def options(binary, tmp, truth):
    ref = scan_recs(binary, tmp, "--io", "pread")
    io_fields = ("io_backend", "io_fallback")
    for extra in (["--io", "auto"], ["--io", "uring"], ["--io", "mmap"],
                  ["--io", "uring", "--odirect"], ["--io", "pread", "--odirect"]):
        got = scan_recs(binary, tmp, *extra)
        check(without(got, *io_fields) == without(ref, *io_fields), f"{extra}: records differ from pread")
        if extra[1] != "auto":
            check(got and got[0]["io_backend"] == extra[1], f"{extra}: io_backend {got[0]['io_backend'] if got else None}")
    rc, _, err = run([binary, "scan", "-q", "--io", "floppy", "golden.raw"], cwd=tmp)
    check(rc == 2 and "--io" in err, f"--io floppy: exit {rc}, {err.strip()}")

    # scores: the default keeps >= 60; a bound keeps exactly the scores at or above it
    default = by_type(ref, "process")
    check(all(p["score"] >= 60 for p in default), "default: a score below 60")
    low = scan_recs(binary, tmp, "--min-score", "0")
    lows = sorted({p["score"] for p in by_type(low, "process")})
    check(lows and lows[0] < 60, f"--min-score 0: nothing below 60 ({lows})")
    check(proc_keys(ref) <= proc_keys(low), "--min-score 0 is not a superset of the default")
    if lows:
        at = scan_recs(binary, tmp, "--min-score", str(lows[0]))
        above = scan_recs(binary, tmp, "--min-score", str(lows[0] + 1))
        check(proc_keys(at) == proc_keys(low), f"--min-score {lows[0]} drops its own score")
        check(all(p["score"] > lows[0] for p in by_type(above, "process")) and
              len(by_type(above, "process")) < len(by_type(at, "process")),
              f"--min-score {lows[0] + 1} keeps score {lows[0]}")
    high = scan_recs(binary, tmp, "--min-score", "100")
    check(proc_keys(high) <= proc_keys(ref), "--min-score 100 keeps more than the default")
    check(all(p["score"] >= 100 for p in by_type(high, "process")), "--min-score 100: lower score")
    rc, _, err = run([binary, "scan", "-q", "--min-score", "101", "golden.raw"], cwd=tmp)
    check(rc == 2 and "--min-score" in err, f"--min-score 101: exit {rc} {err.strip()}")

    # structure scan off: no struct view; processes with a wiped tag are lost
    ns = scan_recs(binary, tmp, "--no-struct")
    check(not any("struct" in p["sources"] for p in by_type(ns, "process")), "--no-struct: struct source")
    check(ns[0]["struct_hits"] == 0, f"--no-struct: struct_hits {ns[0]['struct_hits']}")
    wiped = {t["eprocess_pa"] for t in truth if t["tag_wiped"]}
    check(wiped, "truth has no tag-wiped process")
    check(wiped <= {p["eprocess_pa"] for p in default}, "default misses a tag-wiped process")
    for p in by_type(ns, "process"):  # a wiped tag is found by a kernel view only
        if p["eprocess_pa"] in wiped:
            check("pool" not in p["sources"] and p["sources"], f"--no-struct: wiped {p['sources']}")
    bare = scan_recs(binary, tmp, "--no-struct", "--no-xview")
    check(not (wiped & {p["eprocess_pa"] for p in by_type(bare, "process")}),
          "--no-struct --no-xview: found a tag-wiped process")
    check(all(p["sources"] == ["pool"] for p in by_type(bare, "process")), "--no-struct --no-xview: sources")
    sa = scan_recs(binary, tmp, "--struct-all")
    check(proc_keys(ref) <= proc_keys(sa), "--struct-all finds less than the default")
    check(sa[0]["struct_hits"] >= ref[0]["struct_hits"], "--struct-all: fewer struct hits")

    # cross-view off: pool/struct views only, nothing judged against the list
    nx = scan_recs(binary, tmp, "--no-xview")
    for p in by_type(nx, "process"):
        check(set(p["sources"]) <= {"pool", "struct"}, f"--no-xview: sources {p['sources']}")
        check(not p["unlinked"] and not p["hidden"], f"--no-xview: pid {p['pid']} judged")
    check(nx[0]["list_status"] is None or nx[0]["list_status"] == "absent",
          f"--no-xview: list_status {nx[0]['list_status']}")
    check(ref[0]["hidden"] > 0 and nx[0]["hidden"] == 0, "--no-xview: hidden count")

    # profiles
    fp = scan_recs(binary, tmp, "--profile", "win10_2004_22h2_x64")
    check(without(fp, "profile_match", "notes", *io_fields) == without(ref, "profile_match", "notes", *io_fields),
          "--profile (the right key): records differ")
    wrong = scan_recs(binary, tmp, "--profile", "win7_sp1_x64")
    check(wrong and wrong[0]["profile"] == "win7_sp1_x64", "--profile win7: profile not used")
    check(len(by_type(wrong, "process")) < len(default) // 2, "--profile win7 on a 19041 dump still finds processes")
    rc, _, err = run([binary, "scan", "-q", "--profile", "win99", "golden.raw"], cwd=tmp)
    check(rc == 2 and "win99" in err, f"--profile win99: exit {rc} {err.strip()}")

    # progress: on stderr with --progress, silent with -q
    rc, out, err = run([binary, "scan", "--progress", "--no-timing", "golden.raw"], cwd=tmp)
    check(rc == 0 and "[1/1 dumps" in err, f"--progress: stderr {err[-200:]!r}")
    check(without(records(out), *io_fields) == without(ref, *io_fields), "--progress changes the records")
    rc, out, err = run([binary, "scan", "-q", "golden.raw"], cwd=tmp)
    check(err == "", f"-q: stderr {err[:200]!r}")
    # progress moves inside one large dump (bytes counted per chunk)
    run([DUMPGEN,
         "-q", "-o", "big.raw", "-s", "192", "-S", "4", "-n"], cwd=tmp)
    env_run = subprocess.run([binary, "scan", "--progress", "-j", "1", "--io", "pread", "big.raw"],
                             cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
                             env=dict(os.environ, DUMPSCAN_PROGRESS_MS="5"))
    lines = env_run.stderr.decode().splitlines()
    inside = [l for l in lines if l.startswith("[0/1 dumps") and not l.split("] ")[1].startswith("0.0 MB")]
    check(inside, f"no progress line inside the dump: {lines[:3]}")
    check(lines and lines[-1].startswith("[1/1 dumps"), f"last progress line: {lines[-1:]}")
    os.unlink(os.path.join(tmp, "big.raw"))


# ---- 4. conventions of the command line --------------------------------------

def conventions(binary, tmp):
    for cmd in ("info", "scan", "analyze"):
        rc1, h1, _ = run([binary, "help", cmd])
        rc2, h2, _ = run([binary, cmd, "--help"])
        check(rc1 == 0 and h1 == h2 and h1.startswith(f"usage: dumpscan {cmd}"), f"help {cmd}")
    rc, out, err = run([binary, "scan", "--fromat", "csv", "golden.raw"], cwd=tmp)
    check(rc == 2 and out == "" and err.splitlines() == [
        "dumpscan scan: unknown option '--fromat'; did you mean '--format'?",
        "Try 'dumpscan scan --help'."], f"unknown option: {err!r}")
    rc, _, err = run([binary, "analyze", "--bogus-thing", "x"])
    check(rc == 2 and len(err.splitlines()) == 2 and "did you mean" not in err, f"no near option: {err!r}")
    rc, _, err = run([binary, "sacn", "x"])
    check(rc == 2 and "did you mean 'scan'?" in err and len(err.splitlines()) == 2, f"mistyped command: {err!r}")
    rc, _, err = run([binary, "scan", "-f", "jsn", "x"])
    check(rc == 2 and err.strip() == "dumpscan scan: --format: 'jsn' is not one of ndjson (jsonl), csv, table, sqlite",
          f"invalid value: {err!r}")
    rc, _, err = run([binary, "info", "--state"])
    check(rc == 2 and "'--state' needs a value" in err, f"missing value: {err!r}")
    rc, out, _ = run([binary, "--profile", "list"])
    keys = [l.split()[0] for l in out.splitlines()]
    check(rc == 0 and "win10_2004_22h2_x64" in keys and "winxp_sp3_x86" in keys and len(keys) >= 20,
          f"--profile list: {keys}")
    rc, out2, _ = run([binary, "scan", "--profile", "list"])
    check(rc == 0 and out2 == out, "scan --profile list")
    rc, out, _ = run([binary, "--version"])
    check(rc == 0 and "commit" in out and "features:" in out and "io_uring" in out, f"--version: {out!r}")
    rc, a, _ = run([binary, "scan", "-q", "--no-timing", "--io", "pread", "-f", "jsonl", "golden.raw"], cwd=tmp)
    rc2, b, _ = run([binary, "scan", "-q", "--no-timing", "--io", "pread", "golden.raw"], cwd=tmp)
    check(rc == 0 and a == b, "--format jsonl is ndjson")
    # --include: a case folder with notes and hashes in it
    case = os.path.join(tmp, "case")
    os.makedirs(os.path.join(case, "sub"))
    shutil.copy(os.path.join(tmp, "golden.dmp"), os.path.join(case, "sub", "MEMORY.DMP"))
    for name in ("notes.txt", "hashes.md5"):
        with open(os.path.join(case, name), "w") as f:
            f.write("not a dump\n")
    rc, out, _ = run([binary, "info", "-q", "--no-timing", case])
    check(rc == 1 and sum(r["type"] == "error" for r in records(out)) == 2, "without --include: 2 errors")
    rc, out, _ = run([binary, "info", "-q", "--no-timing", "--include", "*.dmp", "--include", "*.DMP", case])
    recs = records(out)
    check(rc == 0 and [r["type"] for r in recs] == ["dump", "summary"] and
          recs[0]["dump"].endswith("MEMORY.DMP"), f"--include: {[r['type'] for r in recs]}")
    # a dump piped in by mistake is refused with one line
    try:
        with open(os.path.join(tmp, "golden.dmp"), "rb") as f:
            p = subprocess.run([binary, "scan", "-q", "-"], stdin=f, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
        err = p.stderr.decode("utf-8", "replace")
        check(p.returncode == 2 and p.stdout == b"" and len(err.splitlines()) == 1 and
              "not a list of paths" in err, f"binary list: {p.returncode} {err!r}")
    except subprocess.TimeoutExpired:
        check(False, "binary list: still running after 10 s (taken as a list of paths)")


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    global DUMPGEN
    binary, dumpgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    DUMPGEN = dumpgen
    update = "--update" in sys.argv[3:] or os.environ.get("DUMPSCAN_UPDATE_GOLDEN") == "1"
    tmp = tempfile.mkdtemp(prefix="ds_options_")
    try:
        for name, fmt in (("golden.raw", "raw"), ("golden.dmp", "kernel")):
            rc, _, err = run([dumpgen, "-q", "-o", name, "-f", fmt, "-s", "24", "-S", "11", "-n"], cwd=tmp)
            check(rc == 0, f"dumpgen {name}: {err}")
        truth = [json.loads(l) for l in open(os.path.join(tmp, "golden.raw.truth.ndjson"))]
        truth = by_type(truth, "process")
        recs, csvs, tab, compact = golden_outputs(binary, tmp, update)
        csv_against_ndjson(recs, csvs)
        table_against_ndjson(recs, tab)
        compact_against_ndjson(recs, compact)
        options(binary, tmp, truth)
        conventions(binary, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("golden outputs, formats and options: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
