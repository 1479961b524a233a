#!/usr/bin/env python3
"""mutate.py - mutation check: does the suite catch realistic one-line bugs?

usage: scripts/mutate.py [--only ID[,ID...]] [--keep DIR] [--jobs N] [--list]

Reads tests/mutations.txt.  Copies the working tree (tracked and
untracked-not-ignored files) to a scratch directory with ../shared linked
beside it, configures one build there, then for each mutation:
  1. replaces its original text (which must occur exactly once: a stale
     mutation is an error, so the list keeps up with the code);
  2. rebuilds only the targets its listed tests need (ninja is incremental:
     one object, the library, a few executables);
  3. runs the listed tests; if all pass, rebuilds everything and runs the
     whole suite;
  4. restores the file.
A mutant is killed when a test fails (or times out).  Prints one line per
mutant and the survivors; exits 1 on any survivor or stale mutation,
0 when every mutant is killed.  Run by scripts/test.sh (stage `mutation`).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PER_MUTANT_S = 300


def parse(path):
    muts, cur = [], None
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.startswith("#") or (not line.strip() and cur is None):
                continue
            if line.startswith("@ "):
                cur = {"id": line[2:].strip(), "old": [], "new": [], "tests": []}
                muts.append(cur)
            elif cur is None:
                continue
            elif line.startswith("file:"):
                cur["file"] = line[5:].strip()
            elif line.startswith("why:"):
                cur["why"] = line[4:].strip()
            elif line.startswith("tests:"):
                cur["tests"] = line[6:].split()
            elif line.startswith("- ") or line == "-":  # "-" alone: an empty line
                cur["old"].append(line[2:])
            elif line.startswith("+ ") or line == "+":
                cur["new"].append(line[2:])
            elif line.strip():
                raise SystemExit(f"mutations.txt: cannot read line: {line!r}")
    ids = [m["id"] for m in muts]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise SystemExit(f"mutations.txt: duplicate ids {sorted(dup)}")
    for m in muts:
        if not m.get("file") or not m["old"] or not m["tests"] or not m.get("why"):
            raise SystemExit(f"mutations.txt: {m['id']}: needs file, why, tests and '- ' lines")
    return muts


def sh(args, cwd, timeout=None, quiet=True):
    p = subprocess.run(args, cwd=cwd, timeout=timeout, stdout=subprocess.PIPE if quiet else None,
                       stderr=subprocess.STDOUT if quiet else None)
    return p.returncode, (p.stdout or b"").decode("utf-8", "replace")


def copy_tree(dst):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           stdout=subprocess.PIPE, check=True).stdout.split(b"\0")
    for rel in files:
        if not rel:
            continue
        rel = rel.decode()
        src = os.path.join(ROOT, rel)
        if not os.path.isfile(src) or os.path.islink(src):
            continue
        out = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out)


def test_targets(build):
    """meson test name -> ninja targets (paths relative to the build dir)."""
    tests = json.loads(sh(["meson", "introspect", build, "--tests"], cwd=build)[1])
    targets = json.loads(sh(["meson", "introspect", build, "--targets"], cwd=build)[1])
    by_id = {t["id"]: os.path.relpath(t["filename"][0], build) for t in targets}
    return {t["name"]: [by_id[d] for d in t["depends"] if d in by_id] for t in tests}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated mutation ids")
    ap.add_argument("--keep", help="scratch directory to use and keep (reused when it exists)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--list", action="store_true", help="list the mutations and exit")
    a = ap.parse_args()
    muts = parse(os.path.join(ROOT, "tests", "mutations.txt"))
    if a.list:
        for m in muts:
            print(f"{m['id']:32} {m['file']:28} {m['why']}")
        print(f"{len(muts)} mutations")
        return 0
    if a.only:
        want = set(a.only.split(","))
        muts = [m for m in muts if m["id"] in want]
        if len(muts) != len(want):
            raise SystemExit(f"unknown ids: {sorted(want - {m['id'] for m in muts})}")

    scratch = a.keep or tempfile.mkdtemp(prefix="dumpscan-mutate-")
    tree, build = os.path.join(scratch, "tree"), os.path.join(scratch, "tree", "build-mut")
    t0 = time.time()
    if not os.path.isdir(build):
        copy_tree(tree)
        shared = os.path.realpath(os.path.join(ROOT, "..", "shared"))
        link = os.path.join(scratch, "shared")
        if os.path.isdir(shared) and not os.path.exists(link):
            os.symlink(shared, link)
        rc, out = sh(["meson", "setup", build, "--buildtype=debugoptimized"], cwd=tree)
        if rc:
            print(out)
            raise SystemExit("mutate: configure failed")
    rc, out = sh(["ninja", "-C", build, "-j", str(a.jobs)], cwd=tree)
    if rc:
        print(out[-3000:])
        raise SystemExit("mutate: the unmutated tree does not build")
    # the unmutated tree must pass, or a "killed" would mean nothing
    rc, out = sh(["meson", "test", "-C", build, "--no-rebuild", "--num-processes", str(a.jobs)],
                 cwd=tree, timeout=PER_MUTANT_S * 2)
    if rc:
        print(out[-3000:])
        raise SystemExit("mutate: the unmutated tree fails its tests")
    targets = test_targets(build)
    print(f"mutate: {len(muts)} mutations; tree {tree} built and passing in {time.time() - t0:.0f} s",
          flush=True)

    survivors, stale, killed = [], [], 0
    for m in muts:
        path = os.path.join(tree, m["file"])
        with open(path, encoding="utf-8") as f:
            orig = f.read()
        old, new = "\n".join(m["old"]) + "\n", "\n".join(m["new"]) + ("\n" if m["new"] else "")
        if orig.count(old) != 1:
            stale.append(m["id"])
            print(f"STALE    {m['id']}: its text occurs {orig.count(old)} times in {m['file']}")
            continue
        unknown = [t for t in m["tests"] if t not in targets]
        if unknown:
            stale.append(m["id"])
            print(f"STALE    {m['id']}: no such tests {unknown}")
            continue
        t1 = time.time()
        verdict, by = "SURVIVED", ""
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(orig.replace(old, new))
            need = sorted({x for t in m["tests"] for x in targets[t]})
            rc, out = sh(["ninja", "-C", build, "-j", str(a.jobs), *need], cwd=tree,
                         timeout=PER_MUTANT_S)
            if rc:
                verdict, by = "killed", "build"
            else:
                for t in m["tests"]:
                    rc, out = sh(["meson", "test", "-C", build, "--no-rebuild", "-q", t], cwd=tree,
                                 timeout=PER_MUTANT_S)
                    if rc:
                        verdict, by = "killed", t
                        break
                if verdict == "SURVIVED":  # not by its listed tests: the whole fast suite
                    rc, out = sh(["ninja", "-C", build, "-j", str(a.jobs)], cwd=tree,
                                 timeout=PER_MUTANT_S)
                    if rc == 0:
                        rc, out = sh(["meson", "test", "-C", build, "--no-rebuild",
                                      "--num-processes", str(a.jobs)], cwd=tree,
                                     timeout=PER_MUTANT_S * 2)
                    if rc:
                        verdict, by = "killed", "suite (not by its listed tests)"
        except subprocess.TimeoutExpired:
            verdict, by = "killed", "timeout"
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(orig)
        if verdict == "killed":
            killed += 1
        else:
            survivors.append(m)
        print(f"{verdict:8} {m['id']:32} {by:24} {time.time() - t1:5.1f} s  ({m['why']})", flush=True)

    total = len(muts)
    print(f"mutate: {killed} of {total} killed, {len(survivors)} survived, {len(stale)} stale "
          f"in {time.time() - t0:.0f} s")
    for m in survivors:
        print(f"  SURVIVOR {m['id']}: {m['file']}: {m['why']}")
    if not a.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if survivors or stale else 0


if __name__ == "__main__":
    sys.exit(main())
