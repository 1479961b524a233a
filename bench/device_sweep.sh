#!/usr/bin/env bash
# device_sweep.sh - issue #11's thread sweep on a machine with many cores,
# as one prepared run: built here, carried there, one command.
#
# Here (static binaries need no libraries there; three small real
# minidumps go along for the many-dumps sweep):
#   meson setup build-static --buildtype=release -Dstatic=true -Dtests=false
#   ninja -C build-static dumpscan bench/dumpgen bench/parread bench/firstpages \
#       bench/bench_stream
#   bench/device_sweep.sh --stage        # copies them to tmp/real (ignored)
# There, from the repository root (carry build-static/dumpscan,
# build-static/bench/{dumpgen,parread,firstpages,bench_stream} and tmp/real):
#   bench/device_sweep.sh [SIZE_MIB] > "$OUT/sweep.txt" 2>&1
#
# What it runs: the machine's description, then bench_scale.sh with the
# static build on a SIZE_MIB (default 4096) noisy dump made there by
# dumpgen, warm, at 1 2 4 8 16 ... threads up to the usable CPUs, and
# $SMALL (default 10000) distinct minidump copies; as root also the cold
# large-dump sweep (page cache dropped before every run, O_DIRECT
# baseline); then the mmap stream alone (bench_stream) at every usable
# CPU with 256 KiB to 4 MiB chunks: the per-chunk cost and page-table
# lock sharing of the automatic shape's 1 MiB chunks at 16 threads
# (bench/RESULTS.md, fourth pass).  Files go to $WORK (default /tmp/dumpscan-sweep), removed at
# the end unless KEEP=1.  Each phase prints its start time, so a run cut
# short by a time limit still says how far it got.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-static}
if [ "${1:-}" = "--stage" ]; then
    mkdir -p tmp/real
    for f in 011620-8250-01.dmp 102622-12000-01.dmp 102622-15671-01.dmp; do
        cp ../shared/dumps/real/$f tmp/real/
    done
    ls -la tmp/real
    exit 0
fi
size=${1:-4096}
work=${WORK:-/tmp/dumpscan-sweep}
mkdir -p "$work"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

stamp machine
echo "cpus: $(nproc) usable, $(nproc --all) online; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "memory: $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); kernel $(uname -r)"
echo "work dir: $work on $(df -PT "$work" | awk 'NR == 2 { print $2, $1 }')"
echo "binaries: $(file -b "$build/dumpscan" | cut -d, -f1-2); $("$build/dumpscan" --version | head -1)"
echo "root: $([ "$(id -u)" = 0 ] && echo yes || echo no)"

stamp "warm sweep, one ${size} MiB dump and ${SMALL:-10000} small dumps"
BENCH_DIR=$work SMALL=${SMALL:-10000} REAL=${REAL:-tmp/real} \
    bench/bench_scale.sh "$build" "$size"

if [ "$(id -u)" = 0 ] && [ -w /proc/sys/vm/drop_caches ]; then
    stamp "cold sweep, the same dump"
    BENCH_DIR=$work SMALL=0 DROP_CACHES=1 bench/bench_scale.sh "$build" "$size"
fi
if [ -x "$build/bench/bench_stream" ] && [ -f "$work/noise-${size}m.raw" ]; then
    stamp "mmap stream alone, $(nproc) threads, chunk sizes"
    for chunk in 256k 1 2 4; do
        echo "chunk $chunk:"
        "$build/bench/bench_stream" "$work/noise-${size}m.raw" --threads "$(nproc)" \
            --backends mmap --chunk "$chunk" --passes 3 | tail -3
    done
fi
stamp done
