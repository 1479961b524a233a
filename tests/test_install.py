#!/usr/bin/env python3
"""test_install.py - `meson install` into a temporary prefix, and each
installed piece used the way a user would (run by meson test).

usage: test_install.py BUILD_DIR DUMPGEN

Checks: the binary, the man page (renders with man(1), and names every
option of every command's --help), the bash completion (sourced in bash:
commands, options, --format values and --profile keys complete), the docs
(output.md, the JSON Schema, README, LICENSE), and the library: a tiny C
program built with `pkg-config --cflags --libs dumpscan` against the
installed headers and libdumpscan.a opens a generated dump and scans it,
and must agree with the installed CLI.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

failures = []
BUILD = None

PROGRAM = r"""
#include <stdio.h>
#include <scan/scan.h>

int main(int argc, char **argv)
{
    ds_dump *d = NULL;
    ds_errbuf eb = {{0}};
    if (argc < 2 || ds_dump_open(&d, argv[1], NULL, &eb) != DS_OK) {
        fprintf(stderr, "open: %s\n", eb.msg);
        return 1;
    }
    ds_scan_result r;
    if (ds_scan(d, NULL, &r, &eb) != DS_OK) {
        fprintf(stderr, "scan: %s\n", eb.msg);
        return 1;
    }
    printf("%u %zu %zu\n", d->build, r.nprocs, r.nthreads);
    ds_scan_result_free(&r);
    ds_dump_close(d);
    return 0;
}
"""


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(args, **kw):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300, **kw)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def find(root, rel_suffix):
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if p.endswith(rel_suffix):
                return p
    return None


def man_page(dest, binary):
    page = find(dest, "/share/man/man1/dumpscan.1")
    check(page is not None, "man page dumpscan.1 installed")
    if not page or not shutil.which("man"):
        check(shutil.which("man") is not None, "man(1) present to render the page")
        return
    rc, text, err = run(["man", "-l", page], env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
    text = re.sub(r".\x08", "", text)  # overstrike bold
    check(rc == 0 and "EXIT STATUS" in text and "ENVIRONMENT" in text, f"man renders: {rc} {err[:200]}")
    for cmd in ("info", "scan", "analyze"):
        _, help_text, _ = run([binary, cmd, "--help"])
        for opt in sorted(set(re.findall(r"(--[a-z][a-z-]+)", help_text))):
            check(opt in text, f"man page lacks {cmd} option {opt}")
    for code in ("130", "143", "129"):
        check(code in text, f"man page lacks exit status {code}")


def completion(dest, binary):
    comp = find(dest, "/share/bash-completion/completions/dumpscan")
    check(comp is not None, "bash completion installed")
    if not comp:
        return

    def complete(line):
        words = line.split(" ")
        script = (f"source {comp}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
                  f"COMP_CWORD={len(words) - 1}; _dumpscan; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        rc, out, err = run(["bash", "-c", script], env=dict(os.environ, PATH=os.path.dirname(binary) + ":" + os.environ["PATH"]))
        check(rc == 0, f"completion of {line!r}: {err}")
        return out.split()

    check(complete("dumpscan sc") == ["scan"], f"complete 'dumpscan sc': {complete('dumpscan sc')}")
    check("--no-xview" in complete("dumpscan scan --no-x"), "complete scan --no-x")
    check(complete("dumpscan scan -f c") == ["csv"], "complete --format values")
    keys = complete("dumpscan scan --profile win10_2004")
    check(keys == ["win10_2004_22h2_x64"], f"complete --profile keys: {keys}")
    check("--no-drivers" in complete("dumpscan analyze --no-d"), "complete analyze options")


def library(dest, binary, dumpgen, tmp):
    pc = find(dest, "/pkgconfig/dumpscan.pc")
    lib = find(dest, "/libdumpscan.a")
    check(pc is not None and lib is not None, "dumpscan.pc and libdumpscan.a installed")
    for h in ("io/file.h", "src/dump.h", "scan/scan.h", "output/writer.h"):
        check(find(dest, "/include/dumpscan/" + h) is not None, f"header include/dumpscan/{h}")
    if not pc:
        return
    prefix = os.path.dirname(os.path.dirname(os.path.dirname(pc)))
    with open(pc, encoding="utf-8") as f:
        orig_prefix = re.search(r"^prefix=(.*)$", f.read(), re.M).group(1)
    prefix = dest + orig_prefix  # --destdir: the .pc still names the final prefix
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc))
    rc, flags, err = run(["pkg-config", f"--define-variable=prefix={prefix}", "--cflags", "--libs",
                          "dumpscan"], env=env)
    check(rc == 0, f"pkg-config dumpscan: {err}")
    src = os.path.join(tmp, "tiny.c")
    with open(src, "w") as f:
        f.write(PROGRAM)
    exe = os.path.join(tmp, "tiny")
    # a sanitized build's library needs the same runtime in the program
    rc, opts, _ = run(["meson", "introspect", BUILD, "--buildoptions"])
    san = next((o["value"] for o in json.loads(opts) if o["name"] == "b_sanitize"), "none") \
        if rc == 0 else "none"
    extra = [f"-fsanitize={san}"] if san and san != "none" else []
    rc, _, err = run(["cc", "-std=gnu11", *extra, "-o", exe, src, *flags.split()])
    check(rc == 0, f"tiny program builds against the installed library: {err[:2000]}")
    dump = os.path.join(tmp, "d.raw")
    run([dumpgen, "-q", "-o", dump, "-s", "16", "-S", "3"])
    rc, out, err = run([exe, dump])
    check(rc == 0, f"tiny program runs: {err}")
    rc2, cli, _ = run([binary, "scan", "-q", "--no-timing", dump])
    recs = [json.loads(l) for l in cli.splitlines()]
    d = recs[0]
    want = f"{d['build']} {d['processes']} {d['threads']}"
    check(out.strip() == want, f"library says {out.strip()!r}, the CLI {want!r}")


def main():
    global BUILD
    build, dumpgen = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    BUILD = build
    tmp = tempfile.mkdtemp(prefix="ds_install_")
    try:
        dest = os.path.join(tmp, "dest")
        rc, out, err = run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                            "--destdir", dest])
        check(rc == 0, f"meson install: {out[-500:]} {err[-500:]}")
        binary = find(dest, "/bin/dumpscan")
        check(binary is not None and os.access(binary, os.X_OK), "bin/dumpscan installed")
        if binary:
            rc, out, _ = run([binary, "--version"])
            check(rc == 0 and out.startswith("dumpscan "), f"installed --version: {out!r}")
            for doc in ("output.md", "records.schema.json", "README.md", "LICENSE"):
                check(find(dest, "/share/doc/dumpscan/" + doc) is not None, f"doc {doc} installed")
            man_page(dest, binary)
            completion(dest, binary)
            library(dest, binary, dumpgen, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("install: binary, man page, completion, docs, library: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
