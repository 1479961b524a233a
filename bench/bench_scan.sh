#!/usr/bin/env bash
# bench_scan.sh - throughput of `dumpscan scan` against a plain sequential
# read of the same file, measured in the same run.
#
# usage: bench/bench_scan.sh [BUILD_DIR] [SIZE_MIB] [THREADS...]
#   env BACKENDS: readers to try (default "uring uring+odirect mmap pread")
#   BUILD_DIR  meson build directory (default build)
#   SIZE_MIB   size of the generated noisy raw dump (default 4096)
#   THREADS    thread counts to try (default: 1 .. nproc, doubling)
#
# Makes (once) a noisy dump with dumpgen so no page can be skipped, warms
# the page cache, then for each I/O backend and thread count runs the
# scan three times and keeps the best wall time.  Prints one table row per
# run: backend, threads, seconds, GB/s, ratio to the plain read (scan time
# / read time; 1.00 = as fast as reading), peak RSS (MiB, from
# /usr/bin/time), processes and hidden found.  The baseline is
# bench/seqread (read() of 1 MiB blocks, best of 3 passes; cold: one pass
# after each cache drop, best of 3).
# Cold-cache figures need root: set DROP_CACHES=1 to drop the page cache
# before every run (echo 3 > /proc/sys/vm/drop_caches).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
size=${2:-4096}
shift $(( $# > 2 ? 2 : $# )) || true
threads=("$@")
if [ ${#threads[@]} -eq 0 ]; then
    n=$(nproc); t=1
    while [ "$t" -lt "$n" ]; do threads+=("$t"); t=$((t * 2)); done
    threads+=("$n")
fi
dir=${BENCH_DIR:-/tmp/dumpscan-bench}
mkdir -p "$dir"
dump="$dir/noise-${size}m.raw"
if [ ! -s "$dump" ]; then
    "$build/bench/dumpgen" -o "$dump" --size-mib "$size" --noise --seed 1 --quiet
fi
bytes=$(stat -c %s "$dump")

drop() { if [ "${DROP_CACHES:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }

cat "$dump" > /dev/null
if [ "${DROP_CACHES:-0}" = 1 ]; then
    # cold: one pass straight after dropping the cache (best of 3 drops)
    base=0
    for rep in 1 2 3; do
        drop
        g=$("$build/bench/seqread" "$dump" --no-warm --passes 1 | awk '/^best:/ {print $2}')
        base=$(awk -v a="$g" -v b="$base" 'BEGIN { print (a > b ? a : b) }')
    done
else
    base=$("$build/bench/seqread" "$dump" | awk '/^best:/ {print $2}')
fi
base_s=$(awk -v b="$bytes" -v g="$base" 'BEGIN { printf "%.3f", b / (g * 1e9) }')
echo "file: $dump ($bytes bytes), $(nproc) cores, cache: $([ "${DROP_CACHES:-0}" = 1 ] && echo cold || echo warm)"
echo "baseline plain read (bench/seqread): $base GB/s, $base_s s"
printf '%-13s %7s %8s %7s %7s %9s %6s %6s\n' backend threads seconds GB/s ratio rss_MiB procs hidden
for io in ${BACKENDS:-uring uring+odirect mmap pread}; do
    case $io in
    *+odirect) ioargs=(--io "${io%+odirect}" --odirect) ;;
    *) ioargs=(--io "$io") ;;
    esac
    for t in "${threads[@]}"; do
        best=""
        for rep in 1 2 3; do
            drop
            /usr/bin/time -f '%e %M' -o "$dir/time.txt" \
                "$build/dumpscan" scan -q "${ioargs[@]}" -j "$t" "$dump" > "$dir/out.ndjson"
            read -r secs rss < "$dir/time.txt"
            if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
                best=$secs; best_rss=$rss
            fi
        done
        procs=$(grep -c '"type":"process"' "$dir/out.ndjson" || true)
        hidden=$(grep -c '"hidden":true' "$dir/out.ndjson" || true)
        awk -v io="$io" -v t="$t" -v s="$best" -v b="$bytes" -v base="$base_s" -v rss="$best_rss" \
            -v p="$procs" -v h="$hidden" \
            'BEGIN { printf "%-13s %7d %8.3f %7.2f %7.2f %9.1f %6d %6d\n", io, t, s, b / (s * 1e9), s / base, rss / 1024, p, h }'
    done
done
