#!/usr/bin/env bash
# bench_analyze.sh - speed of `dumpscan analyze` against what it must at
# least do: open each dump and read its headers (`dumpscan info`, and
# bench/firstpages reading the first 64 KiB of each file).
#
# usage: bench/bench_analyze.sh [BUILD_DIR]        (default build)
#   env: BENCH_DIR (default $TMPDIR or /tmp, + /dumpscan-bench-analyze),
#        N_REAL (10000), BIG_MIB (4096), REPS (3: best of)
#
# Corpora, made once under BENCH_DIR:
#   real/   N_REAL copies (not links) of the real triage minidumps
#   big.dmp a BIG_MIB MiB PAGEDU64 full dump from dumpgen with its planted
#           crash (sparse file: the page data it skips costs nothing here)
# Runs (page cache warm; best of REPS wall times):
#   1. real/: dumps per second of analyze, info and firstpages, with the
#      default thread count and with -j 1;
#   2. big.dmp: wall time of analyze and of info on the one file; the
#      difference is what crash analysis adds (it reads only the header,
#      the stack pages and module headers).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/dumpscan-bench-analyze}
n_real=${N_REAL:-10000}
big_mib=${BIG_MIB:-4096}
reps=${REPS:-3}
ds="$build/dumpscan"
fp="$build/bench/firstpages"
gen="$build/bench/dumpgen"

mkdir -p "$dir/real"
if [ "$(find "$dir/real" -type f | wc -l)" -ne "$n_real" ]; then
    rm -rf "$dir/real" && mkdir -p "$dir/real"
    srcs=(../shared/dumps/real/*.dmp)
    for ((i = 0; i < n_real; i++)); do
        s=${srcs[$((i % ${#srcs[@]}))]}
        cp "$s" "$dir/real/$(printf '%05d' "$i")-$(basename "$s")"
    done
fi
if [ ! -s "$dir/big.dmp" ]; then
    "$gen" -o "$dir/big.dmp" -f full --size-mib "$big_mib" --seed 7 --quiet
fi

now() { date +%s%N; }
best_secs() {
    local best="" t0 t1 s
    for ((r = 0; r < reps; r++)); do
        t0=$(now)
        "$@" > /dev/null
        t1=$(now)
        s=$(echo "scale=4; ($t1 - $t0) / 1000000000" | bc)
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
    done
    echo "$best"
}
rate() { echo "scale=0; $1 / $2" | bc; }

cat "$dir/real/"* > /dev/null   # warm
echo "machine: $(nproc) cores, $(uname -r)"
echo "== $n_real real minidumps (copies), page cache warm, best of $reps"
printf '%-34s %9s %12s\n' run seconds dumps/s
for j in "" "-j 1"; do
    a=$(best_secs "$ds" analyze -q $j -o /dev/null "$dir/real")
    n=$(best_secs "$ds" analyze -q --no-drivers $j -o /dev/null "$dir/real")
    i=$(best_secs "$ds" info -q $j -o /dev/null "$dir/real")
    printf '%-34s %9s %12s\n' "analyze ${j:-(all cores)}" "$a" "$(rate "$n_real" "$a")"
    printf '%-34s %9s %12s\n' "analyze --no-drivers ${j:-(all cores)}" "$n" "$(rate "$n_real" "$n")"
    printf '%-34s %9s %12s\n' "info ${j:-(all cores)}" "$i" "$(rate "$n_real" "$i")"
done
find "$dir/real" -type f | sort > "$dir/real.list"
f=$(best_secs "$fp" -j "$(nproc)" --list "$dir/real.list")
printf '%-34s %9s %12s\n' "firstpages (open+64 KiB, $(nproc) thr)" "$f" "$(rate "$n_real" "$f")"

echo "== one $big_mib MiB full dump with a planted crash"
a=$(best_secs "$ds" analyze -q -o /dev/null "$dir/big.dmp")
i=$(best_secs "$ds" info -q -o /dev/null "$dir/big.dmp")
printf 'analyze %s s, info %s s, added by the crash analysis: %s ms\n' "$a" "$i" \
    "$(echo "scale=1; ($a - $i) * 1000" | bc)"
