#!/usr/bin/env bash
# fuzz.sh - build the libFuzzer targets with clang (ASan + UBSan) and run
# each for a bounded time on a copy of its seed corpus.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Default 60 s per target (DUMPSCAN_FUZZ_SECONDS overrides), every target
# of tests/fuzz.  Prints executions/s and coverage per target and exits
# non-zero when a target crashed, leaked, timed out on one input or ran
# out of memory; the input that did it is kept in build-fuzz/findings/ and
# is to be fixed and moved to tests/fuzz/regress/<target>/ under a name
# that says what it broke.
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-${DUMPSCAN_FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(open scan vtop physmap state unwind)

if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang is not installed (scripts/setup.sh installs it)" >&2
    exit 1
fi
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false -Dbuildtype=debugoptimized >/dev/null || exit 1
fi
ninja -C build-fuzz $(printf 'tests/fuzz_%s ' "${targets[@]}") >/dev/null || exit 1

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/findings
failed=0
printf '%-8s %10s %12s %8s %8s %s\n' target seconds execs execs/s cov result
for t in "${targets[@]}"; do
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/$t/." "$work/"
    [ -d "tests/fuzz/regress/$t" ] && cp -r "tests/fuzz/regress/$t/." "$work/"
    log=build-fuzz/findings/$t.log
    "build-fuzz/tests/fuzz_$t" "$work" -dict=tests/fuzz/formats.dict \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=262144 \
        -artifact_prefix="build-fuzz/findings/$t-" -print_final_stats=1 >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (see $log)"
        failed=1
    fi
    printf '%-8s %10s %12s %8s %8s %s\n' "$t" "$secs" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$result"
    rm -rf "$work"
done
exit $failed
