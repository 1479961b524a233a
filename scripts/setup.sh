#!/usr/bin/env bash
# setup.sh - install what dumpscan needs to build and test, if missing.
#
# Checks for each tool / pkg-config module and installs only the Debian
# packages whose piece is absent (apt-get update runs only then).  Needs
# root or sudo when something must be installed; does nothing otherwise.
set -euo pipefail

missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing+=("$2"); }

need_cmd cc gcc
need_cmd pkg-config pkg-config
need_cmd meson meson
need_cmd ninja ninja-build
need_cmd python3 python3
# fuzzing (scripts/fuzz.sh): clang with its libFuzzer runtime
need_cmd clang clang
has_libfuzzer() {
    command -v clang >/dev/null 2>&1 &&
        printf 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
        clang -x c -fsanitize=fuzzer - -o /dev/null >/dev/null 2>&1
}
has_libfuzzer || missing+=(libclang-rt-dev)
# the schema test imports jsonschema with whichever python3 is first on PATH
# (or Debian's, see tests/test_schema.py)
has_jsonschema() {
    { command -v python3 >/dev/null 2>&1 && python3 -c 'import jsonschema' >/dev/null 2>&1; } ||
        { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1; }
}
has_jsonschema || missing+=(python3-jsonschema)
if command -v pkg-config >/dev/null 2>&1; then
    need_pc liburing liburing-dev
    need_pc libxxhash libxxhash-dev
    need_pc capstone libcapstone-dev
    need_pc cmocka libcmocka-dev
    need_pc sqlite3 libsqlite3-dev
else
    missing+=(liburing-dev libxxhash-dev libcapstone-dev libcmocka-dev libsqlite3-dev)
fi
# the SQLite output test reads databases back with Python's sqlite3 module
# (in Debian's python3) and checks the docs' import commands with sqlite3
need_cmd sqlite3 sqlite3
# the man page test renders docs/dumpscan.1
need_cmd man man-db

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "setup: installing ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: no apt-get; install these Debian package equivalents by hand: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" libc6-dev
