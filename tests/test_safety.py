#!/usr/bin/env python3
"""test_safety.py - dumpscan never writes an input, stops cleanly on
signals, and does bounded work on hostile inputs (issue 9).

usage: test_safety.py DUMPSCAN DUMPGEN

1. Every spelling of "an output is an input" is refused with exit 2 before a
   byte is written or a folder created: -o DIR/b.dmp DIR, --state DIR/b.dmp,
   -o X with X in the '-' list, -o odir/ whose odir/dump.ndjson is an input,
   -o DIR/./b.dmp DIR/, a hard link, a symlink, a file that does not exist
   yet named as both, stdout appended to an input; for scan and info.  The
   input's bytes are compared before and after.
2. SIGINT, SIGTERM and SIGHUP in the middle of a bulk run: exit 128+N,
   every output line a whole JSON record, a last `summary` with
   interrupted: true whose counts match the records, and a resumed run with
   the same --state (the corpus named by another spelling of its path)
   finishes the rest so the two outputs cover every dump exactly once.
   A second SIGINT ends the run at once.
3. Hostile inputs finish in well under 10 s and 1 GiB each, with the
   expected verdict: a FIFO, 1 GiB page-table leaves claiming 1 TiB, ELF
   PT_LOADs sharing one file range, bitmap headers claiming 2^34 and 2^37
   pages in sparse files, a self-referencing 3-level PspCidTable, a header
   SystemTime of INT64_MAX, a dump with no page, an empty directory, and
   active-process-list damage (head linked to itself, one entry linked to
   itself): the list is reported damaged and only the DKOM-planted
   processes are hidden.
"""
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile  # noqa: E402

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return cond


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(binary, *args, stdin=None, stdout=subprocess.PIPE, timeout=60):
    """(rc, stdout bytes, stderr text, seconds, peak RSS KiB of the child)."""
    t0 = time.time()
    p = subprocess.Popen([binary, *args], stdin=subprocess.PIPE if stdin is not None else None,
                         stdout=stdout, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return -9, out or b"", err.decode("utf-8", "replace"), timeout, 0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return p.returncode, out or b"", err.decode("utf-8", "replace"), time.time() - t0, ru.ru_maxrss


def records(raw):
    return [json.loads(line) for line in raw.decode("utf-8").splitlines() if line]


def sanitized(binary):
    """ASan builds map terabytes of shadow: RSS says nothing there."""
    try:
        out = subprocess.run(["ldd", binary], stdout=subprocess.PIPE, text=True).stdout
    except OSError:
        return False
    return "libasan" in out or "libubsan" in out


# ---- 1. never write an input -------------------------------------------------

def check_outputs_never_inputs(binary, top, dumpgen):
    d = os.path.join(top, "in")
    os.makedirs(d)
    for name, seed in (("a.dmp", 1), ("b.dmp", 2)):
        subprocess.run([dumpgen, "-o", os.path.join(d, name), "-s", "16", "-S", str(seed), "-q"],
                       check=True)
        os.unlink(os.path.join(d, name) + ".truth.ndjson")
    b = os.path.join(d, "b.dmp")
    want = digest(b)
    odir = os.path.join(top, "odir")
    os.makedirs(odir)
    as_output = os.path.join(odir, "dump.ndjson")       # an input that -o odir/ would write
    shutil.copyfile(b, as_output)
    hard = os.path.join(top, "hardlink.dmp")
    os.link(b, hard)
    sym = os.path.join(top, "symlink.dmp")
    os.symlink(b, sym)
    fresh = os.path.join(top, "not-yet.ndjson")
    newdir = os.path.join(top, "created-late") + "/"
    cases = [
        ("-o DIR/b.dmp DIR", ["-o", b, d], None),
        ("--state DIR/b.dmp", ["--state", b, d], None),
        ("-o X, X in the - list", ["-o", b, "-"], (b + "\n").encode()),
        ("-o odir/ holding an input", ["-o", odir + "/", as_output], None),
        ("-o DIR/./b.dmp DIR/", ["-o", os.path.join(d, ".", "b.dmp"), d + "/"], None),
        ("-o a hard link of an input", ["-o", hard, d], None),
        ("-o a symlink to an input", ["-o", sym, d], None),
        ("-o and input the same new file", ["-o", fresh, fresh], None),
        ("-o DIR/ not created when refused", ["-o", newdir, "--state", b, d], None),
        ("--state and -o the same file", ["-o", fresh, "--state", fresh, d], None),
    ]
    for cmd in ("scan", "info"):
        for what, args, stdin in cases:
            rc, out, err, _, _ = run(binary, cmd, "-q", *args, stdin=stdin)
            check(rc == 2, f"{cmd} {what}: exit 2 (got {rc}, {err.strip()!r})")
            check(out == b"", f"{cmd} {what}: nothing written to stdout")
            check(digest(b) == want, f"{cmd} {what}: the input is unchanged")
            check(digest(as_output) == want, f"{cmd} {what}: odir/dump.ndjson unchanged")
            check(not os.path.exists(fresh), f"{cmd} {what}: no file created")
            check(not os.path.exists(newdir), f"{cmd} {what}: no folder created")
        # standard output appended to an input
        with open(b, "ab") as sink:
            rc, _, err, _, _ = run(binary, cmd, "-q", d, stdout=sink)
        check(rc == 2, f"{cmd} >> input: exit 2 (got {rc}, {err.strip()!r})")
        check(digest(b) == want, f"{cmd} >> input: the input is unchanged")
    # the refusals above must not refuse what is fine: an output beside the inputs
    ok_out = os.path.join(top, "ok.ndjson")
    rc, _, err, _, _ = run(binary, "scan", "-q", "-o", ok_out, d)
    check(rc == 0 and os.path.getsize(ok_out) > 0, f"a plain -o still works ({rc}, {err!r})")
    # a non-state file given as --state is refused, untouched
    notes = os.path.join(top, "notes.txt")
    with open(notes, "w") as f:
        f.write("case notes\n")
    rc, _, err, _, _ = run(binary, "scan", "-q", "--state", notes, "-o", ok_out, d)
    check(rc == 2 and "not a dumpscan state file" in err, f"--state on a text file: {rc} {err!r}")
    with open(notes) as f:
        check(f.read() == "case notes\n", "--state on a text file: file unchanged")


# ---- 2. signals -----------------------------------------------------------------

def make_corpus(dumpgen, d, n):
    os.makedirs(d)
    for i in range(n):
        p = os.path.join(d, f"s{i:02d}.dmp")
        subprocess.run([dumpgen, "-o", p, "-s", "64", "-S", str(200 + i), "--noise", "-q"],
                       check=True)
        os.unlink(p + ".truth.ndjson")
    return sorted(os.path.join(d, f) for f in os.listdir(d))


def state_lines(path):
    try:
        with open(path, "rb") as f:
            return [line for line in f.read().split(b"\n") if line]
    except FileNotFoundError:
        return []


def whole_records(path):
    with open(path, "rb") as f:
        data = f.read()
    check(data.endswith(b"\n"), f"{os.path.basename(path)} ends on a whole line")
    out = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            check(False, f"{os.path.basename(path)}: a torn line {line[:60]!r}")
    return out


def check_signals(binary, dumpgen, top):
    corpus = os.path.join(top, "corpus")
    paths = make_corpus(dumpgen, corpus, 10)
    spellings = [os.path.abspath(corpus), corpus + "//", os.path.join(corpus, ".", "")]
    for sig, spelled in zip((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), spellings):
        name = signal.Signals(sig).name
        state = os.path.join(top, f"{name}.state")
        out1 = os.path.join(top, f"{name}.1.ndjson")
        out2 = os.path.join(top, f"{name}.2.ndjson")
        p = subprocess.Popen([binary, "scan", "-q", "--no-timing", "-j", "1", "--jobs", "1",
                              "--sort", "--state", state, "-o", out1, corpus],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline and len(state_lines(state)) < 2 and p.poll() is None:
            time.sleep(0.001)
        p.send_signal(sig)
        _, err = p.communicate(timeout=60)
        check(p.returncode == 128 + sig, f"{name}: exit {128 + sig} (got {p.returncode})")
        recs = whole_records(out1)
        summ = recs[-1] if recs else {}
        check(summ.get("type") == "summary" and summ.get("interrupted") is True,
              f"{name}: last record is a summary with interrupted: true ({summ})")
        dumps1 = [r["dump"] for r in recs if r["type"] == "dump"]
        check(summ.get("dumps_ok") == len(dumps1) and summ.get("dumps_total") == len(paths),
              f"{name}: summary counts match the records ({summ}, {len(dumps1)} dumps)")
        check(len(state_lines(state)) == len(dumps1),
              f"{name}: the state names exactly the dumps written")
        check(b"run again with the same --state to resume" in err.encode() if isinstance(err, str)
              else b"run again with the same --state to resume" in err,
              f"{name}: stderr says how to resume ({err!r})")
        for path in set(dumps1):
            dr = [r for r in recs if r["type"] == "dump" and r["dump"] == path][0]
            n = sum(r["type"] == "process" and r["dump"] == path for r in recs)
            check(dr["processes"] == n, f"{name}: {path} written whole")
        rc, _, err2, _, _ = run(binary, "scan", "-q", "--no-timing", "--state", state, "-o", out2,
                                spelled)
        check(rc == 0, f"{name}: resumed run exits 0 ({rc}, {err2!r})")
        recs2 = whole_records(out2)
        s2 = recs2[-1] if recs2 else {}
        dumps2 = [os.path.realpath(r["dump"]) for r in recs2 if r["type"] == "dump"]
        check(s2.get("dumps_skipped") == len(dumps1),
              f"{name}: resume via {spelled!r} skipped the {len(dumps1)} done ({s2})")
        check(sorted([os.path.realpath(p) for p in dumps1] + dumps2) ==
              sorted(os.path.realpath(p) for p in paths),
              f"{name}: the two runs cover every dump exactly once")
    # a second signal ends the run at once: SIGTERM right behind SIGINT (two
    # SIGINTs sent together may merge into one).  Either may be delivered
    # first; the second leaves with 128 + its number and no summary, long
    # before the clean stop of the first could finish the dump in flight.
    p = subprocess.Popen([binary, "scan", "-q", "-j", "1", "--jobs", "1", corpus],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=5)
        check(p.returncode in (130, 143), f"second signal: exit 130 or 143 (got {p.returncode})")
        check(b'"type":"summary"' not in out, "second signal: a summary was written (no clean stop expected)")
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "second SIGINT: the run did not end at once")


# ---- 3. hostile inputs ---------------------------------------------------------------

def bounded(binary, what, args, limit_s=10.0, limit_kib=1 << 20, rss=True):
    rc, out, err, secs, kib = run(binary, *args, timeout=60)
    check(rc in (0, 1), f"{what}: exit 0/1 (got {rc}, {err[-300:]!r})")
    check(secs < limit_s, f"{what}: {secs:.1f} s (limit {limit_s} s)")
    if rss:
        check(kib < limit_kib, f"{what}: peak RSS {kib} KiB (limit {limit_kib} KiB)")
    return records(out) if rc in (0, 1) else []


def dump_rec(recs):
    ds = [r for r in recs if r["type"] in ("dump", "error")]
    return ds[0] if ds else {}


def check_hostile(binary, dumpgen, top):
    rss = not sanitized(binary)
    h = os.path.join(top, "hostile")
    os.makedirs(h)
    fifo = os.path.join(h, "fifo")
    os.mkfifo(fifo)
    for cmd in ("info", "scan"):
        r = dump_rec(bounded(binary, f"{cmd} FIFO", [cmd, "-q", fifo], limit_s=5, rss=rss))
        check(r.get("type") == "error" and r.get("error") == "unsupported",
              f"{cmd} FIFO: error record ({r})")

    gib = hostile.gib_leaves(os.path.join(h, "gib.dmp"))
    r = dump_rec(bounded(binary, "1 GiB leaves", ["scan", "-q", gib], rss=rss))
    check(r.get("type") == "dump" and r.get("status") == "ok", f"1 GiB leaves scanned ({r})")

    elf = hostile.elf_shared_range(os.path.join(h, "shared.core"))
    r = dump_rec(bounded(binary, "ELF shared range", ["scan", "-q", elf], rss=rss))
    check(r.get("error") == "corrupt" and "share file bytes" in r.get("message", ""),
          f"ELF PT_LOADs over one range refused ({r})")

    for pages, want in ((1 << 34, "dump"), (1 << 37, "error")):
        bm = hostile.bitmap_claim(os.path.join(h, f"bm{pages.bit_length() - 1}.dmp"), pages)
        for cmd in ("info", "scan"):
            r = dump_rec(bounded(binary, f"{cmd} bitmap 2^{pages.bit_length() - 1}",
                                 [cmd, "-q", bm], rss=rss))
            check(r.get("type") == want, f"bitmap of {pages} pages: {want} record ({r})")
        if want == "error":
            check("2^34" in r.get("message", ""), f"the bound is named: {r.get('message')!r}")

    r = dump_rec(bounded(binary, "no pages", ["scan", "-q", hostile.no_pages(
        os.path.join(h, "nopages.dmp"))], rss=rss))
    check(r.get("type") == "dump" and r.get("bytes_scanned") == 0, f"a dump with no page ({r})")

    empty = os.path.join(h, "emptydir")
    os.makedirs(empty)
    for cmd in ("info", "scan"):
        recs = bounded(binary, f"{cmd} empty dir", [cmd, "-q", empty], rss=rss)
        check([r["type"] for r in recs] == ["summary"] and recs[0]["dumps_total"] == 0,
              f"{cmd} of an empty directory: only a summary ({recs})")

    src = os.path.join(h, "base.dmp")
    subprocess.run([dumpgen, "-o", src, "-f", "full", "-s", "32", "-S", "5", "-q"], check=True)
    truth = hostile.truth_of(src)
    planted = {t["pid"] for t in truth if t.get("type") == "process" and
               t.get("category") in ("dkom_unlinked", "dkom_unlinked_tag_wiped")}
    base = bounded(binary, "base", ["scan", "-q", src], rss=rss)
    base_procs = {p["pid"]: p for p in base if p["type"] == "process"}
    check(dump_rec(base).get("list_status") == "ok", "healthy list: list_status ok")

    cid = hostile.cid_self_tables(src, os.path.join(h, "cid.dmp"))
    recs = bounded(binary, "self-referencing CID table", ["scan", "-q", cid], rss=rss)
    check({p["pid"] for p in recs if p["type"] == "process" and p["hidden"]} == planted,
          "self-referencing CID table: the planted hidden processes still found")

    st = hostile.system_time_max(src, os.path.join(h, "time.dmp"))
    recs = bounded(binary, "SystemTime INT64_MAX", ["scan", "-q", st], rss=rss)
    procs = [p for p in recs if p["type"] == "process"]
    check(len(procs) == len(base_procs) and not any("times" in p["failed_checks"] for p in procs),
          f"SystemTime INT64_MAX: no process fails the time check ({len(procs)})")

    for how in ("head", "self"):
        m = hostile.list_edit(src, os.path.join(h, f"list-{how}.dmp"), how)
        recs = bounded(binary, f"list {how}", ["scan", "-q", m], rss=rss)
        d = dump_rec(recs)
        want_status = {"head": "empty", "self": "broken"}[how]
        check(d.get("list_status") == want_status,
              f"list {how}: list_status {d.get('list_status')!r}, expected {want_status!r}")
        hidden = {p["pid"] for p in recs if p["type"] == "process" and p["hidden"]}
        check(hidden == planted, f"list {how}: hidden {sorted(hidden)}, planted {sorted(planted)}")
        for p in recs:
            if p["type"] == "process" and p["hidden"]:
                check("list_damaged" in p["reasons"], f"list {how}: {p['pid']} says list_damaged")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dumpgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    top = tempfile.mkdtemp(prefix="dumpscan-safety-")
    try:
        check_outputs_never_inputs(binary, top, dumpgen)
        check_signals(binary, dumpgen, top)
        check_hostile(binary, dumpgen, top)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all safety checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
