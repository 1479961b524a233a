#!/usr/bin/env bash
# demo.sh - one command from a fresh checkout to dumpscan output.
#
# Installs missing packages (scripts/setup.sh), configures build/ if it is
# not configured yet, builds, then runs the main job on the default input:
# a synthetic Windows 10 kernel crash dump made once by the generator
# (build/demo-sample.dmp: PAGEDU64 full dump, 256 MiB, fixed seed, with
# two DKOM-hidden processes planted; its truth is beside it in
# build/demo-sample.dmp.truth.ndjson).  It prints `dumpscan info` and the
# psxview-style `dumpscan scan` table for it, and `dumpscan info` for the
# real minidumps in ../shared/dumps/real when they are there.  With
# arguments, it scans those paths instead.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
ninja -C build >/dev/null

if [ $# -gt 0 ]; then
    build/dumpscan info --format table "$@" || true
    exec build/dumpscan scan --format table "$@"
fi

sample=build/demo-sample.dmp
if [ ! -s "$sample" ]; then
    build/bench/dumpgen -o "$sample" --format full --size-mib 256 --seed 1 --quiet
fi
build/dumpscan info --format table "$sample"
build/dumpscan scan --format table "$sample"
shopt -s nullglob
real=(../shared/dumps/real/*.dmp)
if [ ${#real[@]} -gt 0 ]; then
    echo "=== real triage minidumps (../shared/dumps/real)"
    build/dumpscan info --format table "${real[@]}"
fi
