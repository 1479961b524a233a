#!/usr/bin/env bash
# bench_scale.sh - the thread sweep of `dumpscan scan`, each figure beside
# its baseline measured in the same run (issue #11).
#
# usage: bench/bench_scale.sh [BUILD_DIR] [SIZE_MIB] [THREADS...]
#   BUILD_DIR  meson build directory (default build)
#   SIZE_MIB   size of the noisy raw dump (default 4096)
#   THREADS    thread counts (default 1 2 4 8 16 ... up to the usable CPUs)
#   env SMALL=N  also sweep a directory of N distinct minidump copies
#                (default 2000; 0 skips), made from the *.dmp files in
#                $REAL (default ../shared/dumps/real)
#   env DROP_CACHES=1  cold runs (needs root): the page cache is dropped
#                before every run; the baseline is then parread --odirect
#
# One large dump: for each thread count T, the best of 3 of
#   parread -j T          (T threads pread()ing disjoint 4 MiB blocks)
#   dumpscan scan -j T    (default I/O choice; warm: mmap)
# and their ratio (scan / read; 1.00 = as fast as reading), the scan's
# tail after its stream (ms_validate + ms_xview of the dump record, as a
# share of the scan), and peak RSS.  Many small dumps: for each T, dumps/s
# of `dumpscan scan -j T` against `firstpages -j T` (open + read 64 KiB of
# each file), and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
size=${2:-4096}
shift $(( $# > 2 ? 2 : $# )) || true
threads=("$@")
cpus=$(nproc)
if [ ${#threads[@]} -eq 0 ]; then
    t=1
    while [ "$t" -lt "$cpus" ]; do threads+=("$t"); t=$((t * 2)); done
    threads+=("$cpus")
fi
dir=${BENCH_DIR:-/tmp/dumpscan-bench}
mkdir -p "$dir"
dump="$dir/noise-${size}m.raw"
[ -s "$dump" ] || "$build/bench/dumpgen" -o "$dump" --size-mib "$size" --noise --seed 1 --quiet
bytes=$(stat -c %s "$dump")
cold=${DROP_CACHES:-0}
drop() { if [ "$cold" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
best_of3() { # best (lowest) seconds of three runs of "$@" (prints seconds)
    local best=""
    for rep in 1 2 3; do
        drop
        local t0 t1 s
        t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
        best=$(awk -v a="$s" -v b="${best:-1e9}" 'BEGIN { print (a < b ? a : b) }')
    done
    echo "$best"
}
rss() { # peak RSS in MiB of one run of "$@"
    /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1 | awk '{ printf "%.0f", $1 / 1024 }'
}

[ "$cold" = 1 ] || cat "$dump" > /dev/null
echo "machine: $(nproc) usable CPUs ($(nproc --all) online), $(uname -r), cache: $([ "$cold" = 1 ] && echo cold || echo warm)"
echo "file: $dump ($bytes bytes)"
printf '%7s %9s %9s %7s %9s %8s %8s\n' threads read_s scan_s ratio scan_GB/s tail_% rss_MiB
for t in "${threads[@]}"; do
    if [ "$cold" = 1 ]; then
        r=$(best_of3 "$build/bench/parread" "$dump" -j "$t" --passes 1 --odirect)
        s=$(best_of3 "$build/dumpscan" scan -q -j "$t" --io uring --odirect "$dump")
    else
        r=$(best_of3 "$build/bench/parread" "$dump" -j "$t" --passes 1)
        s=$(best_of3 "$build/dumpscan" scan -q -j "$t" "$dump")
    fi
    # (awk, not python: the sweep also runs on machines with no python)
    tail_pct=$("$build/dumpscan" scan -q -j "$t" "$dump" | awk '
        function num(k,   m) {
            if (!match($0, "\"" k "\":[0-9.]+")) return 0
            m = substr($0, RSTART, RLENGTH); sub(/.*:/, "", m); return m + 0
        }
        NR == 1 { e = num("elapsed_ms"); p = 100 * (num("ms_validate") + num("ms_xview")) / (e ? e : 1) }
        END { printf "%.1f", p }')
    m=$(rss "$build/dumpscan" scan -q -j "$t" "$dump")
    printf '%7s %9s %9s %7.2f %9.2f %8s %8s\n' "$t" "$r" "$s" \
        "$(awk -v a="$s" -v b="$r" 'BEGIN { print a / b }')" \
        "$(awk -v n="$bytes" -v s="$s" 'BEGIN { print n / s / 1e9 }')" "$tail_pct" "$m"
done

small=${SMALL:-2000}
real=${REAL:-../shared/dumps/real}
if [ "$small" -gt 0 ] && ls "$real"/*.dmp > /dev/null 2>&1; then
    sdir="$dir/small-$small"
    if [ ! -d "$sdir" ] || [ "$(ls "$sdir" | wc -l)" -ne "$small" ]; then
        rm -rf "$sdir"; mkdir -p "$sdir"
        srcs=("$real"/*.dmp); i=0
        while [ "$i" -lt "$small" ]; do
            cp "${srcs[$((i % ${#srcs[@]}))]}" "$sdir/m$i.dmp"; i=$((i + 1))
        done
    fi
    cat "$sdir"/* > /dev/null
    echo
    echo "many small dumps: $small distinct minidump files (copies) in $sdir"
    printf '%7s %12s %12s %7s %8s\n' threads read_dumps/s scan_dumps/s ratio rss_MiB
    for t in "${threads[@]}"; do
        r=$(best_of3 sh -c "ls -d '$sdir'/* | '$build/bench/firstpages' -j $t --list -")
        s=$(best_of3 "$build/dumpscan" scan -q -j "$t" "$sdir")
        m=$(rss "$build/dumpscan" scan -q -j "$t" "$sdir")
        printf '%7s %12.0f %12.0f %7.2f %8s\n' "$t" "$(awk -v n="$small" -v s="$r" 'BEGIN { print n / s }')" \
            "$(awk -v n="$small" -v s="$s" 'BEGIN { print n / s }')" \
            "$(awk -v a="$r" -v b="$s" 'BEGIN { print a / b }')" "$m"
    done
fi
