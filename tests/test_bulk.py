#!/usr/bin/env python3
"""test_bulk.py - end-to-end test of `dumpscan scan` bulk mode (run by meson test).

usage: test_bulk.py PATH/TO/dumpscan PATH/TO/dumpgen

Builds a corpus in a temporary directory: small dumps made with dumpgen
(their truth files kept apart), a header-truncated dump, an empty file, a
file that is not a dump, a copy of a real triage minidump (when
$DUMPSCAN_SHARED/dumps/real is there), odd file names, nested directories
with a symlink loop, a dangling symlink and a FIFO.  Then checks:
  - the records of each input (dump/process/thread/error/summary), their
    field lists, exit status 1, every other input still reported;
  - --sort: records in input order, byte-identical between -j 1 and
    --jobs 4 (and with the direct-write path forced), each dump's records
    contiguous without --sort;
  - inputs from stdin (newline and --null lists) and directory recursion;
  - --shard 1/3, 2/3, 3/3 cover every input exactly once;
  - --state: a run killed with SIGKILL after its first finished dump is
    resumed: only unfinished dumps are scanned again and the two outputs
    together cover every dump exactly once; torn/corrupt state lines are
    ignored; a locked state file is refused;
  - usage errors (2), output failure (3), table and csv summaries.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

failures = []

ERROR_FIELDS = ["type", "dump", "dump_id", "error", "message"]
SUMMARY_FIELDS = ["type", "dumps_total", "dumps_ok", "dumps_failed", "dumps_skipped",
                  "processes", "hidden_processes", "threads", "bytes_scanned", "wall_ms",
                  "gbps", "interrupted"]


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def run(binary, *args, stdin=None, env=None, timeout=120):
    """Scans run with one worker unless the arguments say otherwise: the
    dump slots (--jobs) still share it, and the output must not depend on
    the worker count (checked once with two workers)."""
    if args and args[0] == "scan" and "-j" not in args:
        args = ("scan", "-j", "1") + args[1:]
    p = subprocess.run([binary, *args], input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def records(raw):
    return [json.loads(line) for line in raw.decode("utf-8").split("\n") if line]


def summary_of(recs):
    """The closing summary record, or {} when the run did not write one."""
    return recs[-1] if recs and recs[-1]["type"] == "summary" else {}


def rec_path(r):
    """The input a record belongs to (every record but summary names it)."""
    return r.get("dump")


def make_corpus(dumpgen, top):
    """Returns (corpus dir, {path: kind}, {path: truth records}) where kind is
    ok / triage / error code."""
    corpus = os.path.join(top, "corpus")
    gen = os.path.join(top, "gen")
    os.makedirs(os.path.join(corpus, "a", "b"))
    os.makedirs(gen)
    kinds, truth = {}, {}
    for name, fmt, seed, sub in (("g1.dmp", "full", 11, "a"), ("g2.dmp", "bitmap", 12, "a/b")):
        out = os.path.join(gen, name)
        subprocess.run([dumpgen, "-o", out, "-f", fmt, "-s", "16", "-S", str(seed), "-q"],
                       check=True)
        dst = os.path.join(corpus, sub, name)
        shutil.copyfile(out, dst)
        kinds[dst] = "ok"
        with open(out + ".truth.ndjson") as f:
            truth[dst] = [json.loads(line) for line in f]
    with open(os.path.join(gen, "g1.dmp"), "rb") as f:
        head = f.read(3000)
    p = os.path.join(corpus, "cut.dmp")
    with open(p, "wb") as f:
        f.write(head)                       # the 8 KiB header is cut short
    kinds[p] = "truncated"
    p = os.path.join(corpus, "empty.dmp")
    open(p, "wb").close()
    kinds[p] = "empty"
    p = os.path.join(corpus, "a", "notes.txt")
    with open(p, "w") as f:
        f.write("not a dump at all\n" * 10)
    kinds[p] = "unknown_format"
    p = os.path.join(corpus, "a", "b", "odd name\nwith newline.bin")
    with open(p, "w") as f:
        f.write("x")
    kinds[p] = "unknown_format"
    real = os.path.join(os.environ.get("DUMPSCAN_SHARED", ""), "dumps", "real")
    real_dump = os.path.join(real, "040124-5218-01.dmp")
    if not os.path.exists(real_dump):
        if os.environ.get("CI"):
            raise SystemExit("CI: %s is required" % real_dump)
        print("SKIP: no real triage dump, the corpus has none", file=sys.stderr)
    else:
        p = os.path.join(corpus, "real copy.dmp")
        shutil.copyfile(real_dump, p)
        kinds[p] = "triage"
    # things a directory walk must skip or survive
    os.symlink("..", os.path.join(corpus, "a", "b", "loop"))     # symlink loop
    os.symlink("missing-target", os.path.join(corpus, "dangling"))
    os.mkfifo(os.path.join(corpus, "a", "fifo"))
    return corpus, kinds, truth


def check_full_run(binary, corpus, kinds, truth):
    rc, out, err = run(binary, "scan", "--no-timing", "--sort", "-j", "1", "-q", corpus)
    check(rc == 1, f"scan of a corpus with bad inputs exits 1 (got {rc}, {err!r})")
    recs = records(out)
    check(recs and recs[-1]["type"] == "summary", "last record is the summary")
    order = []
    for r in recs[:-1]:
        p = rec_path(r)
        if not order or order[-1] != p:
            order.append(p)
    check(order == sorted(kinds), f"--sort: inputs in sorted path order: {order}")
    by = {}
    for r in recs[:-1]:
        by.setdefault(rec_path(r), []).append(r)
    check(set(by) == set(kinds), f"every input reported: {sorted(set(kinds) ^ set(by))}")

    fields = {}
    for r in recs:
        fields.setdefault(r["type"], list(r.keys()))
        check(list(r.keys()) == fields[r["type"]],
              f"{r['type']} records share one field list: {list(r.keys())}")
    check(fields.get("error") == ERROR_FIELDS, f"error fields {fields.get('error')}")
    check(fields.get("summary") == SUMMARY_FIELDS, f"summary fields {fields.get('summary')}")

    for path, kind in kinds.items():
        rs = by.get(path, [])
        if kind in ("ok", "triage"):
            dumps = [r for r in rs if r["type"] == "dump"]
            if not check(len(dumps) == 1, f"{path}: one dump record"):
                continue
            d = dumps[0]
            check(re.fullmatch(r"[0-9a-f]{16}", d["dump_id"]) is not None, f"{path}: dump_id")
            check(all(r["dump_id"] == d["dump_id"] for r in rs), f"{path}: dump_id on all")
            procs = [r for r in rs if r["type"] == "process"]
            threads = [r for r in rs if r["type"] == "thread"]
            check(d["processes"] == len(procs), f"{path}: processes count {d['processes']}")
            check(d["threads"] == len(threads), f"{path}: threads count {d['threads']}")
            check(d["size"] == os.path.getsize(path), f"{path}: size")
        if kind == "ok":
            check(d["status"] == "ok" and d["bytes_scanned"] > 0, f"{path}: scanned {d}")
            want = {t["pid"] for t in truth[path]
                    if t.get("type") == "process" and t.get("category") == "normal"}
            got = {p["pid"] for p in procs}
            check(want and want <= got, f"{path}: truth processes found ({want - got})")
        elif kind == "triage":
            check(d["status"] == "triage" and d["bytes_scanned"] == 0, f"triage dump {d}")
            check(d["io_backend"] is None and d["elapsed_ms"] is None, "triage: no io/timing")
            check(len(procs) == 1 and procs[0]["pid"] == 7680 and procs[0]["ppid"] == 3460
                  and procs[0]["name"] == "UIEngine.exe" and procs[0]["sources"] == ["triage"],
                  f"triage process {procs}")
            check(len(threads) == 1 and threads[0]["tid"] == 15620 and
                  threads[0]["pid"] == 7680 and threads[0]["sources"] == ["triage"],
                  f"triage thread {threads}")
        else:
            check(len(rs) == 1 and rs[0]["type"] == "error" and rs[0]["error"] == kind,
                  f"{path}: error record {kind}: {rs}")
            if rs:
                check(re.fullmatch(r"[0-9a-f]{16}", rs[0]["dump_id"] or "") is not None,
                      f"{path}: error record has the dump_id of a readable file")
    s = summary_of(recs)
    good = sum(k in ("ok", "triage") for k in kinds.values())
    check(s.get("dumps_total") == len(kinds) and s.get("dumps_ok") == good and
          s.get("dumps_failed") == len(kinds) - good and s.get("dumps_skipped") == 0,
          f"summary counts {s}")
    nproc = sum(r["type"] == "process" for r in recs)
    nthr = sum(r["type"] == "thread" for r in recs)
    check(s.get("processes") == nproc and s.get("threads") == nthr, f"summary totals {s}")
    check(s and s.get("wall_ms") is None and s.get("gbps") is None,
          "--no-timing: summary timings null")
    return out


def check_order_and_paths(binary, corpus, kinds, sorted_out):
    rc, out4, _ = run(binary, "scan", "--no-timing", "--sort", "--jobs", "4", "-q", corpus)
    check(rc == 1 and out4 == sorted_out, "--sort output identical for --jobs 1 and --jobs 4")
    rc, out2w, err = run(binary, "scan", "-j", "2", "--jobs", "3", "--no-timing", "--sort", "-q",
                         corpus)
    check(rc == 1 and out2w == sorted_out,
          f"--sort output identical with 2 workers and 3 slots ({err[:300]!r})")
    env = dict(os.environ, DUMPSCAN_BATCH_LIMIT="0")  # every dump written from its result
    rc, outd, _ = run(binary, "scan", "--no-timing", "--sort", "--jobs", "3", "-q", corpus,
                      env=env)
    check(outd == sorted_out, "--sort output identical on the direct-write path")
    env = dict(os.environ, DUMPSCAN_HOLD_LIMIT="0")  # a slot ahead of its turn always waits
    rc, outh, _ = run(binary, "scan", "--no-timing", "--sort", "--jobs", "4", "-q", corpus,
                      env=env)
    check(outh == sorted_out, "--sort output identical when nothing may be held back")
    rc, outu, _ = run(binary, "scan", "--no-timing", "--jobs", "4", "-q", corpus)
    check(sorted(outu.split(b"\n")) == sorted(sorted_out.split(b"\n")),
          "unsorted output holds the same lines")
    seen, last = set(), None
    for r in records(outu)[:-1]:
        p = rec_path(r)
        if p != last:
            check(p not in seen, f"records of {p!r} are contiguous without --sort")
            seen.add(p)
            last = p
    # inputs from stdin: newline list (no odd names) and NUL list (all)
    plain = sorted(p for p in kinds if "\n" not in p)
    rc, outn, _ = run(binary, "scan", "--no-timing", "--sort", "-q", "-",
                      stdin=("\n".join(plain) + "\n").encode())
    want = [json.dumps(r) for r in records(sorted_out) if rec_path(r) in plain]
    got = [json.dumps(r) for r in records(outn) if r["type"] != "summary"]
    check(got == want, "stdin newline list gives the records of those inputs")
    check(summary_of(records(outn)).get("dumps_total") == len(plain), "stdin list: dumps_total")
    rc, outz, _ = run(binary, "scan", "--no-timing", "--sort", "--null", "-q", "-",
                      stdin=b"\0".join(p.encode() for p in sorted(kinds)) + b"\0")
    check(outz == sorted_out, "stdin --null list equals the directory run")


def check_shards(binary, corpus, kinds):
    seen = []
    total = 0
    for k in (1, 2, 3):
        rc, out, _ = run(binary, "scan", "--no-timing", "--shard", f"{k}/3", "-q", corpus)
        recs = records(out)
        total += summary_of(recs).get("dumps_total", 0)
        seen += sorted({rec_path(r) for r in recs[:-1]})
    check(sorted(seen) == sorted(kinds), "--shard 1/3..3/3 cover every input exactly once")
    check(total == len(kinds), f"shard dumps_total add up ({total})")


def state_lines(path):
    try:
        with open(path, "rb") as f:
            return [l for l in f.read().split(b"\n") if l]
    except FileNotFoundError:
        return []


def check_state_resume(binary, dumpgen, top):
    d = os.path.join(top, "resume")
    os.makedirs(d)
    n = 8
    for i in range(n):
        out = os.path.join(top, f"r{i}.dmp")
        subprocess.run([dumpgen, "-o", out, "-s", "16", "-S", str(100 + i), "-q"], check=True)
        os.rename(out, os.path.join(d, f"r{i}.dmp"))
    paths = sorted(os.path.join(d, f) for f in os.listdir(d))
    state = os.path.join(top, "scan.state")
    out1, out2 = os.path.join(top, "out1.ndjson"), os.path.join(top, "out2.ndjson")
    p = subprocess.Popen([binary, "scan", "--no-timing", "-j", "1", "--jobs", "1", "-q",
                          "--state", state, "-o", out1, d],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not state_lines(state) and p.poll() is None:
        time.sleep(0.001)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done1 = state_lines(state)
    check(len(done1) >= 1, "the first run recorded a finished dump before it was killed")
    with open(out1, "rb") as f:
        lines1 = f.read().split(b"\n")
    recs1 = []
    for line in lines1:
        try:
            recs1.append(json.loads(line))
        except ValueError:
            pass                           # a torn last line of the killed run
    rc, _, err = run(binary, "scan", "--no-timing", "-q", "--state", state, "-o", out2, d)
    check(rc == 0, f"resumed run exits 0 ({rc}, {err!r})")
    with open(out2, "rb") as f:
        recs2 = records(f.read())
    s = summary_of(recs2)
    dumps1 = [r["dump"] for r in recs1 if r["type"] == "dump"]
    dumps2 = [r["dump"] for r in recs2 if r["type"] == "dump"]
    check(s.get("dumps_skipped") == len(done1) and s.get("dumps_total") == n,
          f"resume skipped the {len(done1)} recorded dumps: {s}")
    check(len(dumps2) == n - len(done1), "resume scanned only the unfinished dumps")
    check(sorted(dumps1 + dumps2) == paths,
          f"the two runs cover every dump exactly once: {sorted(dumps1 + dumps2)}")
    # every record of a dump in the first output is complete
    for path in dumps1:
        dr = [r for r in recs1 if r["type"] == "dump" and r["dump"] == path][0]
        nproc = sum(r["type"] == "process" and r["dump"] == path for r in recs1)
        check(dr["processes"] == nproc, f"{path}: its records were all written before the "
                                        "state line")

    # a third run skips everything; a torn or corrupt line is tolerated
    with open(state, "ab") as f:
        f.write(b"dsst1 0123 torn")        # no newline: a torn last line
    lines = state_lines(state)
    bad = lines[0].decode()
    lines[0] = (bad[:-1] + ("0" if bad[-1] != "0" else "1")).encode()  # wrong check digit
    with open(state, "wb") as f:
        f.write(b"\n".join(lines))         # still torn at the end
    rc, out3, _ = run(binary, "scan", "--no-timing", "-q", "--state", state, d)
    s3 = summary_of(records(out3))
    check(rc == 0 and s3.get("dumps_skipped") == n - 1 and s3.get("dumps_ok") == 1,
          f"corrupt line ignored (its dump scanned again), torn line ignored: {s3}")
    rc, out4, _ = run(binary, "scan", "--no-timing", "-q", "--state", state, d)
    check(summary_of(records(out4)).get("dumps_skipped") == n, "the line appended after a torn line is whole")
    # a state file held by another run is refused, and the output is not touched
    with open(state, "rb+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        rc, _, err = run(binary, "scan", "-q", "--state", state, "-o", out2, d)
    check(rc == 3 and "in use" in err, f"locked state file refused with 3 ({rc}, {err!r})")
    check(os.path.getsize(out2) > 0, "refused run left the output alone")
    # two byte-identical copies with the same mtime are two dumps: the state
    # keys each by its resolved path too, so doing one does not skip the other
    twins = os.path.join(top, "twins")
    os.makedirs(twins)
    src = os.path.join(d, sorted(os.listdir(d))[0])
    for name in ("a.dmp", "b.dmp"):
        shutil.copy2(src, os.path.join(twins, name))
        os.utime(os.path.join(twins, name), ns=(1_700_000_000_000_000_000,) * 2)
    tstate = os.path.join(top, "twins.state")
    run(binary, "scan", "--no-timing", "-q", "--state", tstate, os.path.join(twins, "a.dmp"))
    rc, out5, _ = run(binary, "scan", "--no-timing", "-q", "--state", tstate,
                      os.path.join(twins, "b.dmp"))
    s5 = summary_of(records(out5))
    check(rc == 0 and s5.get("dumps_skipped") == 0 and s5.get("dumps_ok") == 1,
          f"an identical copy under another path is not taken as done: {s5}")


def check_misc(binary, corpus, kinds, top):
    for bad in (["--shard", "0/3"], ["--shard", "4/3"], ["--shard", "x"], ["--jobs", "0"]):
        rc, _, _ = run(binary, "scan", *bad, corpus)
        check(rc == 2, f"usage error for {bad} (got {rc})")
    if os.path.exists("/dev/full"):
        rc, _, _ = run(binary, "scan", "-q", "-o", "/dev/full", corpus)
        check(rc == 3, f"output failure exits 3 (got {rc})")
    rc, out, _ = run(binary, "scan", "-q", "--no-timing", "-f", "table", corpus)
    tail = out.decode().rstrip("\n").split("\n")
    last = tail[-2] if len(tail) > 1 else ""  # the summary's first line
    check(tail[-1].lstrip().endswith("bytes scanned"), f"table summary bytes line: {tail[-1]!r}")
    good = sum(k in ("ok", "triage") for k in kinds.values())
    check(last.startswith(f"Summary: {len(kinds)} dumps ({good} ok, {len(kinds) - good} failed"),
          f"table summary line: {last!r}")
    outdir = os.path.join(top, "csvout") + "/"
    rc, _, _ = run(binary, "scan", "-q", "-f", "csv", "-o", outdir, corpus)
    with open(os.path.join(outdir, "summary.csv")) as f:
        rows = f.read().splitlines()
    check(len(rows) == 2 and rows[0] == ",".join(SUMMARY_FIELDS) and
          rows[1].startswith(f"summary,{len(kinds)},"), f"summary.csv {rows}")
    # the run's own output inside the walked directory is not an input
    own = os.path.join(corpus, "own.ndjson")
    for _ in range(2):
        rc, _, _ = run(binary, "scan", "-q", "--no-timing", "-o", own, corpus)
    with open(own) as f:
        recs = [json.loads(l) for l in f]
    check(all(rec_path(r) != own for r in recs if r["type"] != "summary"),
          "the output file is left out of the walk")
    os.unlink(own)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dumpgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    top = tempfile.mkdtemp(prefix="dumpscan-bulk-")
    try:
        corpus, kinds, truth = make_corpus(dumpgen, top)
        sorted_out = check_full_run(binary, corpus, kinds, truth)
        check_order_and_paths(binary, corpus, kinds, sorted_out)
        check_shards(binary, corpus, kinds)
        check_state_resume(binary, dumpgen, top)
        check_misc(binary, corpus, kinds, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all bulk-mode checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
