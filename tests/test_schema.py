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
        for build, fmt in (("win10_2004_22h2_x64", "raw"), ("win7_sp1_x86", "full32"),
                           ("win10_2004_22h2_x64", "full")):
            dump = os.path.join(tmp, "%s.%s" % (build, fmt))
            rc, _, err = run([dumpgen, "-o", dump, "--build", build, "--format", fmt,
                              "--size-mib", "32", "--seed", "5", "--quiet"])
            assert rc == 0, err
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
    missing = [variants[i]["title"] for i in range(len(variants)) if i not in seen]
    if not os.path.isdir(real):
        missing = [m for m in missing if not m.startswith("info:") and "triage" not in m]
    for m in missing:
        failures += 1
        print("never produced: %s" % m)
    print("%d passed, %d failed" % (len(lines) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
