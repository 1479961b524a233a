#!/usr/bin/env python3
"""test_cli_info_gen.py - `dumpscan info` on generated dumps of every build
and format, against dumpgen's truth (run by meson test).

usage: test_cli_info_gen.py PATH/TO/dumpscan PATH/TO/dumpgen

For each build x format (and KDBG plain, encoded, wiped on a few), the
info record's kernel facts must be the truth's: dtb (the System
process's page directory, also for x86 raw images and ELF cores, where a
self-referencing page-directory search may first find another process's),
processors (XP included: its KUSER_SHARED_DATA has no count, KDBG's
KiProcessorBlock does), build, kernel_base, both list heads,
kd_debugger_data_block; profile_match is "exact", and "forced" with
--profile.  A wrong forced profile still opens the dump, and `scan` notes
that it found no process with it.
"""
import json
import os
import subprocess
import sys
import tempfile

failures = []

X64 = ["raw", "full", "bitmap", "kernel", "rdmp", "elf"]
X86 = ["raw", "full32", "elf"]
BUILDS = {
    "win7_sp1_x64": X64, "win10_1809_x64": X64, "win10_2004_22h2_x64": X64,
    "win11_22h2_x64": X64, "win11_24h2_x64": X64, "winxp_sp3_x86": X86, "win7_sp1_x86": X86,
}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    return p.returncode, p.stdout.decode(), p.stderr.decode("utf-8", "replace")


def truth_header(path):
    with open(path + ".truth.ndjson") as f:
        return json.loads(f.readline())


def info(binary, path, *extra):
    rc, out, err = run(binary, "info", *extra, path)
    check(rc == 0, f"info {path} {extra}: exit {rc} ({err.strip()})")
    recs = [json.loads(line) for line in out.splitlines()]
    return [r for r in recs if r["type"] == "dump"][0]


def compare(binary, path, key, fmt, kdbg):
    t = truth_header(path)
    d = info(binary, path)
    tag = f"{key} {fmt} kdbg {kdbg}"
    crash = fmt not in ("raw", "elf")
    wiped = kdbg == "wiped"
    want = {
        "dtb": t["dtb"], "processors": t["processors"], "build": t["build"],
        "kernel_base": t["kernel_base"],
        # crash dump headers name both heads; raw images need KDBG for them
        "ps_active_process_head": t["ps_active_process_head"] if crash or not wiped else None,
        "ps_loaded_module_list": t["ps_loaded_module_list"] if crash or not wiped else None,
        "profile": key, "profile_match": "exact",
    }
    if not wiped:
        want["kd_debugger_data_block"] = t["kdbg_va"]
    if wiped and fmt == "raw" and key.endswith("x86"):
        # no KDBG, no header, no low stub: nothing names the System process
        # or the kernel image before a scan; info says what it has
        for field in ("dtb", "processors", "kernel_base"):
            del want[field]
    if key == "winxp_sp3_x86":
        # SP2 and SP3 share build 2600 and every offset: the first row is taken
        want["profile"] = "winxp_sp2_x86"

    for field, value in want.items():
        check(d[field] == value, f"{tag}: {field} = {d[field]!r}, truth {value!r}")
    forced = info(binary, path, "--profile", key)
    check(forced["profile_match"] == "forced" and forced["profile"] == key,
          f"{tag}: --profile gives profile_match {forced['profile_match']!r}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, dumpgen = (os.path.abspath(a) for a in sys.argv[1:3])
    with tempfile.TemporaryDirectory() as tmp:
        seed = 40
        for key, fmts in BUILDS.items():
            for fmt in fmts:
                modes = ["auto"]
                if fmt in ("raw", "full", "full32"):
                    modes.append("wiped")
                if key.startswith(("win10", "win11")) and fmt in ("raw", "full"):
                    modes += ["plain", "encoded"]
                for kdbg in modes:
                    seed += 1
                    path = os.path.join(tmp, f"{key}.{fmt}.{kdbg}")
                    size = "16" if key.endswith("x64") else "24"
                    rc, _, err = run(dumpgen, "-q", "-o", path, "-b", key, "-f", fmt, "-s", size,
                                     "-S", str(seed), "-k", kdbg)
                    check(rc == 0, f"dumpgen {key} {fmt} {kdbg}: {err.strip()}")
                    if rc == 0:
                        compare(binary, path, key, fmt, kdbg)
                    for p in (path, path + ".truth.ndjson"):
                        if os.path.exists(p):
                            os.unlink(p)
        # a wrong forced profile opens (the scan says when it finds nothing)
        path = os.path.join(tmp, "wrong.raw")
        run(dumpgen, "-q", "-o", path, "-b", "win10_2004_22h2_x64", "-s", "16")
        d = info(binary, path, "--profile", "winxp_sp3_x86")
        check(d["profile"] == "winxp_sp3_x86" and d["profile_match"] == "forced",
              f"wrong forced profile: {d['profile']!r} {d['profile_match']!r}")
        # ... and scan says so when it then finds no process; the right one
        # finds processes and says nothing
        for prof, ok in (("winxp_sp3_x86", False), ("win10_2004_22h2_x64", True)):
            rc, out, err = run(binary, "scan", "-q", "--profile", prof, path)
            recs = [json.loads(line) for line in out.splitlines()]
            dump = [r for r in recs if r["type"] == "dump"][0]
            noted = "forced profile found no process" in (dump["notes"] or "")
            check(rc == 0 and (dump["processes"] > 0) == ok and noted != ok,
                  f"scan --profile {prof}: rc {rc} processes {dump['processes']} "
                  f"notes {dump['notes']!r}")
    if failures:
        print(f"{len(failures)} failures", file=sys.stderr)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
