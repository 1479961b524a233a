#!/usr/bin/env bash
# demo.sh - one command from a fresh checkout to dumpscan output.
#
# Installs missing packages (scripts/setup.sh), configures build/ if it is
# not configured yet, builds, then prints `dumpscan info --format table`
# for the inputs given as arguments or, by default, for the real
# minidumps in ../shared/dumps/real.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null

inputs=("$@")
if [ ${#inputs[@]} -eq 0 ]; then
    shopt -s nullglob
    inputs=(../shared/dumps/real/*.dmp)
fi
if [ ${#inputs[@]} -eq 0 ]; then
    echo "demo: built build/dumpscan; no input given and no ../shared/dumps/real/*.dmp" >&2
    echo "demo: try: build/dumpscan info --format table PATH..." >&2
    exit 0
fi
exec build/dumpscan info --format table "${inputs[@]}"
