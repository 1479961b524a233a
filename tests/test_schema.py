#!/usr/bin/env python3
"""test_schema.py - every NDJSON record dumpscan writes matches
docs/schema/records.schema.json.

Runs `dumpscan info` on the real minidumps and on a bad input (error
record), and `dumpscan scan` on dumps made by dumpgen (x64 raw and an x86
PAGEDUMP), then validates each line against the schema and checks that
every record variant the schema lists was seen at least once, so a field
added to the code but not to the schema (or the reverse) fails here.

usage: test_schema.py DUMPSCAN DUMPGEN SCHEMA"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import jsonschema
except ImportError:
    # The python3 first on PATH may not be Debian's, which is where
    # scripts/setup.sh installs python3-jsonschema: retry with that one.
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("test_schema: python3-jsonschema is not installed (scripts/setup.sh installs it)")
    sys.exit(1)


# Fields the inputs above cannot give a value to, and why.
ALWAYS_EMPTY = {
    "scan: dump": ("io_fallback",),  # only when the asked-for reader is unavailable
    "scan: thread": ("failed_checks",),  # every generated thread passes every check
    # a crashing process and thread are alive and waiting in nothing; the
    # triage dump holds no handle table, image path or user pages
    "scan: dump (triage)": ("notes",),
    "scan: process (triage)": ("exit_time", "reasons", "failed_checks", "handle_count",
                               "image_path", "command_line", "current_directory",
                               "exit_status"),
    "scan: thread (triage)": ("exit_time", "failed_checks", "wait_reason_name", "wait_mode",
                              "alertable", "syscall_number", "syscall_name", "syscall_source"),
}


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return p.returncode, p.stdout.decode("utf-8"), p.stderr.decode("utf-8", "replace")


def main():
    dumpscan, dumpgen, schema_path = sys.argv[1:4]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    variants = schema["oneOf"]
    seen = set()
    valued = set()   # (variant, field) seen with a value (not null / empty)
    lines = []
    shared = os.environ.get("DUMPSCAN_SHARED", "")
    real = os.path.join(shared, "dumps", "real")
    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.bin")
        with open(bad, "wb") as f:
            f.write(b"not a dump" * 1000)
        inputs = [bad]
        if os.path.isdir(real):
            inputs += sorted(os.path.join(real, n) for n in os.listdir(real) if n.endswith(".dmp"))
        rc, out, err = run([dumpscan, "info"] + inputs)
        assert rc == 1, (rc, err)
        lines += out.splitlines()
        rc, out, err = run([dumpscan, "scan", "-q", "--no-timing"] + inputs)
        assert rc == 1, (rc, err)
        lines += out.splitlines()
        rc, out, err = run([dumpscan, "analyze", "-q"] + inputs)
        assert rc == 1, (rc, err)
        lines += out.splitlines()
        for build, fmt, kdbg in (("win10_2004_22h2_x64", "raw", "auto"),
                                 ("win7_sp1_x86", "full32", "auto"),
                                 ("win10_2004_22h2_x64", "full", "auto"),
                                 ("win11_24h2_x64", "raw", "wiped")):
            dump = os.path.join(tmp, "%s.%s.%s" % (build, fmt, kdbg))
            rc, _, err = run([dumpgen, "-o", dump, "--build", build, "--format", fmt,
                              "--size-mib", "32", "--seed", "5", "--kdbg", kdbg, "--quiet"])
            assert rc == 0, err
            rc, out, err = run([dumpscan, "info", dump])
            assert rc == 0, (rc, err)
            lines += out.splitlines()
            rc, out, err = run([dumpscan, "scan", "-q", dump, bad])
            assert rc == 1, (rc, err)
            lines += out.splitlines()
            rc, out, err = run([dumpscan, "analyze", "-q", dump])
            assert rc == 0, (rc, err)
            lines += out.splitlines()
    failures = 0
    for line in lines:
        rec = json.loads(line)
        errors = list(validator.iter_errors(rec))
        if errors:
            failures += 1
            print("INVALID %s: %s" % (line[:160], errors[0].message))
            continue
        for i, v in enumerate(variants):
            if not list(jsonschema.Draft202012Validator(v).iter_errors(rec)):
                seen.add(i)
                for k, val in rec.items():
                    if val is not None and val != []:
                        valued.add((i, k))
    missing = [variants[i]["title"] for i in range(len(variants)) if i not in seen]
    if not os.path.isdir(real):
        if os.environ.get("CI"):
            failures += 1
            print("CI: the real dumps (%s) are required" % real)
        else:
            print("SKIP: real dumps absent, their record variants not checked")
        missing = [m for m in missing if not m.startswith("info:") and "triage" not in m]
    for m in missing:
        failures += 1
        print("never produced: %s" % m)
    # Every field of every variant produced must carry a value somewhere:
    # a field the code always writes as null is a field that does not work.
    for i in sorted(seen):
        v = variants[i]
        for k, sch in v.get("properties", {}).items():
            if (i, k) in valued or sch.get("type") == "null" or k in ALWAYS_EMPTY.get(v["title"], ()):
                continue
            failures += 1
            print("never a value: %s.%s" % (v["title"], k))
    print("%d passed, %d failed" % (len(lines) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
