#!/usr/bin/env bash
# demo.sh - one command from a fresh checkout to dumpscan output.
#
# Installs missing packages (scripts/setup.sh), configures build/ if it is
# not configured yet, builds, then prints `dumpscan info --format table`
# for the inputs given as arguments or, by default, for the real
# minidumps in ../shared/dumps/real (without them: a synthetic dump made by
# the generator, build/bench/dumpgen).
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
# No real dumps beside the checkout: make a synthetic one with the
# dump generator (a 64 MiB full crash dump, fixed seed) once.
if [ ${#inputs[@]} -eq 0 ] && [ -x build/bench/dumpgen ]; then
    sample=build/demo-sample.dmp
    if [ ! -s "$sample" ]; then
        build/bench/dumpgen -o "$sample" --format full --size-mib 64 --seed 1 --quiet
    fi
    inputs=("$sample")
fi
if [ ${#inputs[@]} -eq 0 ]; then
    echo "demo: built build/dumpscan; no input given and no ../shared/dumps/real/*.dmp" >&2
    echo "demo: try: build/dumpscan info --format table PATH..." >&2
    exit 0
fi
exec build/dumpscan info --format table "${inputs[@]}"
