#!/usr/bin/env python3
"""test_sqlite.py - `--format sqlite` / `-o FILE.sqlite` (run by meson test).

usage: test_sqlite.py PATH/TO/dumpscan PATH/TO/dumpgen SOURCE_ROOT

Every row of every table is compared, field by field, with the NDJSON
record of the same run (typed: hex -> the 64-bit value as a signed
integer, booleans 0/1, arrays as JSON text, null as NULL); a second run
appends (run_id 2) and a range query on driver addresses finds the right
module; a database of another command, another schema version, a file
that is not a database, and an output that is an input are refused and
left byte for byte as they were.  docs/schema/records.sql matches what
the writer creates, and the documented CSV import into sqlite3 works.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        if len(failures) < 40:
            print("FAIL:", what, file=sys.stderr)


def run(args, cwd=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, timeout=300)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def sql_value(v, decl):
    """The value the writer should have stored for NDJSON value v."""
    if v is None:
        return None
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (list, dict)):
        return v  # compared after json.loads of the stored text
    if isinstance(v, str) and decl == "INTEGER" and v.startswith("0x"):
        return signed64(int(v, 16))
    return v


def compare_run(db, recs, run_id, tag):
    con = sqlite3.connect(db)
    by_type = {}
    for r in recs:
        by_type.setdefault(r["type"], []).append(r)
    for t, rows in by_type.items():
        cols = [c[1] for c in con.execute(f'PRAGMA table_info("{t}")')]
        decl = {c[1]: c[2] for c in con.execute(f'PRAGMA table_info("{t}")')}
        check(cols and cols[0] == "run_id", f"{tag} {t}: run_id first ({cols[:3]})")
        got = con.execute(f'SELECT * FROM "{t}" WHERE run_id = ? ORDER BY rowid', (run_id,)).fetchall()
        check(len(got) == len(rows), f"{tag} {t}: {len(got)} rows, ndjson {len(rows)}")
        for rec, row in zip(rows, got):
            stored = dict(zip(cols, row))
            for k, v in rec.items():
                if k == "type":
                    continue
                check(k in stored, f"{tag} {t}: no column {k}")
                want, have = sql_value(v, decl.get(k)), stored.get(k)
                if isinstance(want, (list, dict)):
                    have = json.loads(have) if isinstance(have, str) else have
                if isinstance(want, float) or isinstance(have, float):
                    ok = have is not None and abs(float(have) - float(want)) < 1e-9 * max(1, abs(float(want)))
                else:
                    ok = have == want
                check(ok, f"{tag} {t}.{k}: stored {have!r}, ndjson {v!r}")
    con.close()


def main():
    binary, dumpgen, root = (os.path.abspath(a) for a in sys.argv[1:4])
    tmp = tempfile.mkdtemp(prefix="ds_sqlite_")
    try:
        for name, fmt in (("d.raw", "raw"), ("k.dmp", "kernel")):
            run([dumpgen, "-q", "-o", os.path.join(tmp, name), "-f", fmt, "-s", "24", "-S", "11", "-n"])
        # scan: one run, then a second appended
        db = os.path.join(tmp, "r.sqlite")
        base = ["-q", "--no-timing", "--io", "pread"]
        rc, nd, _ = run([binary, "scan", *base, "d.raw", "missing.raw"], cwd=tmp)
        recs = [json.loads(l) for l in nd.splitlines()]
        rc1, out, err = run([binary, "scan", *base, "-o", "r.sqlite", "d.raw", "missing.raw"], cwd=tmp)
        check(rc1 == 1 and out == "", f"scan -o r.sqlite: exit {rc1} (one input missing) {err}")
        compare_run(db, recs, 1, "scan run 1")
        rc2, _, err = run([binary, "scan", *base, "-f", "sqlite", "-o", "r.sqlite", "d.raw"], cwd=tmp)
        check(rc2 == 0, f"second run appends: exit {rc2} {err}")
        con = sqlite3.connect(db)
        runs = con.execute("SELECT run_id, command FROM runs ORDER BY run_id").fetchall()
        check(runs == [(1, "scan"), (2, "scan")], f"runs: {runs}")
        n1 = con.execute("SELECT count(*) FROM process WHERE run_id = 1").fetchone()[0]
        n2 = con.execute("SELECT count(*) FROM process WHERE run_id = 2").fetchone()[0]
        check(n1 == n2 == sum(r["type"] == "process" for r in recs), f"process rows per run {n1} {n2}")
        dumps = con.execute("SELECT run_id, dump, status, error FROM dumps ORDER BY run_id, dump").fetchall()
        check(dumps == [(1, "d.raw", "ok", None), (1, "missing.raw", "error", "io"),
                        (2, "d.raw", "ok", None)], f"dumps view: {dumps}")
        idx = {r[1] for r in con.execute("SELECT * FROM sqlite_master WHERE type = 'index'")}
        for want in ("process_dump_id", "process_pid", "thread_tid", "thread_pid", "driver_dump_id"):
            check(want in idx, f"index {want}")
        # a range query on addresses: which driver holds base + 0x10?
        drv = [r for r in recs if r["type"] == "driver" and r["base"]][3]
        x = signed64(int(drv["base"], 16) + 0x10)
        hit = con.execute("SELECT name FROM driver WHERE run_id = 1 AND base <= ? AND ? < base + size",
                          (x, x)).fetchall()
        check(hit == [(drv["name"],)], f"range query: {hit}, want {drv['name']}")
        hidden = con.execute("SELECT name FROM process WHERE run_id = 1 AND hidden ORDER BY pid").fetchall()
        want = sorted((r["pid"], r["name"]) for r in recs if r["type"] == "process" and r["hidden"])
        check(hidden == [(n,) for _, n in want], f"hidden query: {hidden}")
        con.close()

        # SIGKILL mid-run with --state: every dump the state calls done has its
        # rows committed (one transaction per dump, committed before the state line)
        corpus = os.path.join(tmp, "corpus")
        os.makedirs(corpus)
        run([dumpgen, "-q", "-o", os.path.join(tmp, "big.raw"), "-s", "96", "-S", "5", "-n"])
        for i in range(12):
            shutil.copy(os.path.join(tmp, "big.raw"), os.path.join(corpus, f"c{i:02d}.raw"))
        state = os.path.join(tmp, "k.state")
        p = subprocess.Popen([binary, "scan", "-q", "-j", "1", "--jobs", "1", "--state", state,
                              "-o", "k.sqlite", "corpus"], cwd=tmp,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import time
        deadline = time.time() + 60
        def state_count():
            try:
                with open(state, "rb") as f:
                    return sum(1 for l in f if l.endswith(b"\n"))
            except OSError:
                return 0
        while time.time() < deadline and state_count() < 3 and p.poll() is None:
            time.sleep(0.002)
        p.kill()
        p.wait()
        done = state_count()
        check(done >= 3, f"SIGKILL test: {done} dumps done before the kill")
        con = sqlite3.connect(os.path.join(tmp, "k.sqlite"))
        try:
            rows = con.execute("SELECT count(DISTINCT dump) FROM dump").fetchone()[0]
        except sqlite3.Error as e:
            rows = f"error {e}"
        con.close()
        check(isinstance(rows, int) and rows >= done,
              f"after SIGKILL: the state has {done} dumps done, the database {rows}")

        # refusals leave the file as it was
        before = digest(db)
        rc, _, err = run([binary, "analyze", "-q", "-o", "r.sqlite", "k.dmp"], cwd=tmp)
        check(rc in (2, 3) and "scan" in err and digest(db) == before, f"analyze into a scan db: {rc} {err}")
        con = sqlite3.connect(db)
        con.execute("UPDATE meta SET value = 'deadbeef' WHERE key = 'schema_version'")
        con.commit()
        con.close()
        before = digest(db)
        rc, _, err = run([binary, "scan", "-q", "-o", "r.sqlite", "d.raw"], cwd=tmp)
        check(rc in (2, 3) and "schema version" in err and digest(db) == before,
              f"other schema version refused: {rc} {err}")
        notes = os.path.join(tmp, "notes.db")
        with open(notes, "w") as f:
            f.write("my notes, not a database\n" * 100)
        before = digest(notes)
        rc, _, err = run([binary, "scan", "-q", "-o", "notes.db", "d.raw"], cwd=tmp)
        check(rc in (2, 3) and digest(notes) == before, f"not a database refused: {rc} {err}")
        other = os.path.join(tmp, "other.sqlite")
        con = sqlite3.connect(other)
        con.execute("CREATE TABLE t (x)")
        con.commit()
        con.close()
        before = digest(other)
        rc, _, err = run([binary, "scan", "-q", "-o", "other.sqlite", "d.raw"], cwd=tmp)
        check(rc in (2, 3) and "did not write" in err and digest(other) == before,
              f"foreign database refused: {rc} {err}")
        shutil.copy(os.path.join(tmp, "d.raw"), os.path.join(tmp, "in.db"))
        before = digest(os.path.join(tmp, "in.db"))
        rc, _, err = run([binary, "scan", "-q", "-o", "in.db", "in.db"], cwd=tmp)
        check(rc == 2 and digest(os.path.join(tmp, "in.db")) == before, f"output is an input: {rc} {err}")
        rc, _, err = run([binary, "scan", "-q", "-f", "sqlite", "d.raw"], cwd=tmp)
        check(rc == 2 and "-o FILE" in err, f"sqlite to stdout refused: {rc} {err}")

        # analyze and info get their own tables
        for cmd, dump in (("analyze", "k.dmp"), ("info", "k.dmp")):
            rc, nd, _ = run([binary, cmd, "-q", "--no-timing", dump], cwd=tmp)
            rc2, _, err = run([binary, cmd, "-q", "--no-timing", "-o", f"{cmd}.db", dump], cwd=tmp)
            check(rc == rc2 == 0, f"{cmd} -o {cmd}.db: {rc2} {err}")
            compare_run(os.path.join(tmp, f"{cmd}.db"), [json.loads(l) for l in nd.splitlines()], 1, cmd)

        # records.sql is what the writer creates, and the CSV import it documents works
        sql = open(os.path.join(root, "docs", "schema", "records.sql"), encoding="utf-8").read()
        section = sql[sql.index("-- begin scan\n"):sql.index("\n-- end scan\n")]
        ref = os.path.join(tmp, "ref.sqlite")
        con = sqlite3.connect(ref)
        con.executescript(section)
        mine = sqlite3.connect(db)
        for t in ("dump", "process", "thread", "driver", "unloaded", "error", "summary"):
            a = [r[1:3] for r in con.execute(f'PRAGMA table_info("{t}")')]
            b = [r[1:3] for r in mine.execute(f'PRAGMA table_info("{t}")')]
            check(a == b and a, f"records.sql {t} matches the writer's table")
        mine.close()
        con.close()
        if shutil.which("sqlite3"):
            run([binary, "scan", "-q", "--no-timing", "-f", "csv", "-o", "csvout/", "d.raw"], cwd=tmp)
            script = (section + "\n.import --csv csvout/process.csv process_csv\n"
                      "ALTER TABLE process_csv DROP COLUMN type;\n"
                      "INSERT INTO process SELECT 0, * FROM process_csv;\nDROP TABLE process_csv;\n"
                      "SELECT count(*) FROM process;\n")
            p = subprocess.run(["sqlite3", os.path.join(tmp, "csv.db")], input=script.encode(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp, timeout=60)
            n = sum(r["type"] == "process" for r in recs)
            check(p.returncode == 0 and p.stdout.decode().strip() == str(n),
                  f"documented CSV import: {p.stdout!r} {p.stderr!r}")
        else:
            check(not os.environ.get("CI"), "sqlite3 CLI missing (scripts/setup.sh installs it)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("sqlite output: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
