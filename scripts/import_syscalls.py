#!/usr/bin/env python3
"""import_syscalls.py - extract the nt system service numbers dumpscan needs
from a checkout of the public j00ru/windows-syscalls tables into
data/nt_syscalls.tsv (numbers are facts; the TSV is ours).

usage: import_syscalls.py J00RU_CHECKOUT [-o data/nt_syscalls.tsv]

Only the Windows builds that have a row in offsets.json are kept, keyed by
build number (one table per build: 19041 and 19045 differ).  Each output
line is `arch<TAB>build<TAB>number<TAB>name`, sorted.  Run it again when
the upstream tables gain a build, then scripts/gen_syscalls.py.
"""
import argparse
import json
import os
import subprocess
import sys

# (arch, j00ru system, j00ru version) -> Windows build number
VERSIONS = [
    ("x86", "Windows XP", "SP3", 2600),
    ("x86", "Windows 7", "SP0", 7600),
    ("x86", "Windows 7", "SP1", 7601),
    ("x64", "Windows 7", "SP0", 7600),
    ("x64", "Windows 7", "SP1", 7601),
    ("x64", "Windows 8", "8.0", 9200),
    ("x64", "Windows 8", "8.1", 9600),
    ("x64", "Windows 10", "1507", 10240),
    ("x64", "Windows 10", "1511", 10586),
    ("x64", "Windows 10", "1607", 14393),
    ("x64", "Windows 10", "1703", 15063),
    ("x64", "Windows 10", "1709", 16299),
    ("x64", "Windows 10", "1803", 17134),
    ("x64", "Windows 10", "1809", 17763),
    ("x64", "Windows 10", "1903", 18362),
    ("x64", "Windows 10", "1909", 18363),
    ("x64", "Windows 10", "2004", 19041),
    ("x64", "Windows 10", "20H2", 19042),
    ("x64", "Windows 10", "21H1", 19043),
    ("x64", "Windows 10", "21H2", 19044),
    ("x64", "Windows 10", "22H2", 19045),
    ("x64", "Windows 11 and Server", "Server 2022", 20348),
    ("x64", "Windows 11 and Server", "11 21H2", 22000),
    ("x64", "Windows 11 and Server", "11 22H2", 22621),
    ("x64", "Windows 11 and Server", "11 23H2", 22631),
    ("x64", "Windows 11 and Server", "11 24H2", 26100),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", help="a work tree (or a folder with x64/ and x86/json/)")
    ap.add_argument("--commit", default="", help="upstream commit, when not a git work tree")
    ap.add_argument("-o", "--output", default="data/nt_syscalls.tsv")
    a = ap.parse_args()
    tables = {}
    for arch in ("x64", "x86"):
        with open(os.path.join(a.checkout, arch, "json", "nt-per-system.json")) as f:
            tables[arch] = json.load(f)
    commit = a.commit
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", a.checkout, "rev-parse", "HEAD"],
                                    capture_output=True, text=True).stdout.strip()
        except OSError:
            commit = ""
    rows = []
    for arch, system, version, build in VERSIONS:
        t = tables[arch][system][version]
        for name, number in t.items():
            rows.append((arch, build, int(number), name))
    rows.sort()
    with open(a.output, "w") as f:
        f.write("# nt system service numbers per Windows build (arch, build, number, name).\n")
        f.write("# Source: github.com/j00ru/windows-syscalls %s (x64|x86/json/nt-per-system.json),\n"
                % (commit or "(commit unknown)"))
        f.write("# extracted by scripts/import_syscalls.py; compiled by scripts/gen_syscalls.py.\n")
        for r in rows:
            f.write("%s\t%d\t%d\t%s\n" % r)
    print("%d rows, %d builds" % (len(rows), len(VERSIONS)), file=sys.stderr)


if __name__ == "__main__":
    main()
