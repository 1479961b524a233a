#!/usr/bin/env bash
# test.sh - build from nothing and run every test, twice.
#
# build-test: the default (debugoptimized) build; build-san: the same with
# AddressSanitizer + UndefinedBehaviorSanitizer; the mutation check
# (scripts/mutate.py: each mutant in tests/mutations.txt must be killed);
# build-fuzz: the libFuzzer targets, each run for DUMPSCAN_FUZZ_SECONDS
# (default 60).  All three
# directories are recreated each run.  Prints a summary; exits non-zero if any stage of
# either build failed.
set -uo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }

jobs=$(nproc 2>/dev/null || echo 2)
summary=()
failed=0

# stage NAME COMMAND...: run a step, remember PASS/FAIL.
stage() {
    local name=$1
    shift
    echo "=== $name: $*"
    if "$@"; then
        summary+=("PASS  $name")
        return 0
    fi
    summary+=("FAIL  $name")
    failed=1
    return 1
}

build_and_test() {
    local dir=$1
    shift
    rm -rf "$dir"
    stage "$dir: configure" meson setup "$dir" "$@" &&
        stage "$dir: build" ninja -C "$dir" -j "$jobs" &&
        stage "$dir: tests" meson test -C "$dir" --print-errorlogs --num-processes "$jobs"
}

build_and_test build-test
build_and_test build-san -Db_sanitize=address,undefined -Db_lundef=false

# Mutation check: every bug in tests/mutations.txt, applied alone to a
# copy of the tree, must be caught by the suite (scripts/mutate.py).
stage "mutation: every mutant killed" python3 scripts/mutate.py --jobs "$jobs"

# libFuzzer targets (clang, ASan + UBSan) for a bounded time each, on a
# copy of their seed corpus plus every reproducer; a finding fails the run.
rm -rf build-fuzz
stage "fuzz: ${DUMPSCAN_FUZZ_SECONDS:-60} s per target" ./scripts/fuzz.sh

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "RESULT: FAILED"
    exit 1
fi
echo "RESULT: all passed"
