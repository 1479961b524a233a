#!/usr/bin/env bash
# bench_bulk.sh - bulk-mode throughput of `dumpscan scan` (many dumps in
# one run) against the least any tool must do to look at the same files.
#
# usage: bench/bench_bulk.sh [BUILD_DIR]          (default build)
#   env: BENCH_DIR (default $TMPDIR or /tmp, + /dumpscan-bench-bulk),
#        N_REAL (10000), N_GEN (300), N_BIG (3), BIG_MIB (1024),
#        REPS (3: best of), DROP_CACHES=1 (root: cold page cache per run)
#
# Corpora, made once under BENCH_DIR (disk: ~0.5 GB + N_BIG * BIG_MIB MiB):
#   real/  N_REAL hard links to copies of the 4 real triage minidumps of
#          ../shared/dumps/real (0.2-10 MB each; links cost no space)
#   gen/   N_GEN 16 MiB dumps from dumpgen without --noise: sparse files,
#          formats raw/full/bitmap in turn (truth files kept in truth/)
#   big/   N_BIG noisy BIG_MIB MiB raw dumps (every page must be read)
# Runs (page cache warm unless DROP_CACHES=1; best of REPS wall times):
#   1. real/: dumps per second of `dumpscan scan` (default: one slot per
#      worker; and --jobs 1 -j 1, --sort, a --state re-run that skips all)
#      against bench/firstpages (open + read the first 64 KiB + close of
#      each file, 1 and nproc threads) and `dumpscan info` (open + parse
#      only, one thread).
#   2. big/ + gen/ ("mixed": a few large noisy dumps and many small ones):
#      GB/s of the scan (file bytes / wall time; the scan reads every page
#      of these files) against plain reads of every byte of the same files
#      (firstpages --all with nproc threads, and cat > /dev/null).
#   3. big/ and gen/ alone, each against firstpages --all on the same files.
# Prints one line per run; ratio = scan rate / baseline rate (1.00 = as
# fast as the baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}/dumpscan-bench-bulk}
n_real=${N_REAL:-10000}
n_gen=${N_GEN:-300}
n_big=${N_BIG:-3}
big_mib=${BIG_MIB:-1024}
reps=${REPS:-3}
ds="$build/dumpscan"
fp="$build/bench/firstpages"
gen="$build/bench/dumpgen"
real_src=../shared/dumps/real
cores=$(nproc)

# ---- corpora ---------------------------------------------------------------
mkdir -p "$dir/src" "$dir/real" "$dir/gen" "$dir/big" "$dir/truth"
if [ "$(find "$dir/real" -type f | wc -l)" -ne "$n_real" ]; then
    rm -rf "$dir/real" && mkdir -p "$dir/real"
    cp "$real_src"/*.dmp "$dir/src/"
    srcs=("$dir"/src/*.dmp)
    for ((i = 0; i < n_real; i++)); do
        s=${srcs[$((i % ${#srcs[@]}))]}
        ln "$s" "$dir/real/$(printf '%05d' "$i")-$(basename "$s")"
    done
fi
if [ "$(find "$dir/gen" -type f | wc -l)" -ne "$n_gen" ]; then
    rm -rf "$dir/gen" && mkdir -p "$dir/gen"
    fmts=(raw full bitmap)
    for ((i = 0; i < n_gen; i++)); do
        f="$dir/gen/g$(printf '%04d' "$i").dmp"
        "$gen" -o "$f" --size-mib 16 --seed $((i + 1)) --format "${fmts[$((i % 3))]}" --quiet
        mv "$f.truth.ndjson" "$dir/truth/"
    done
fi
for ((i = 0; i < n_big; i++)); do
    f="$dir/big/noise$i.raw"
    if [ ! -s "$f" ] || [ "$(stat -c %s "$f")" -ne $((big_mib << 20)) ]; then
        "$gen" -o "$f" --size-mib "$big_mib" --noise --seed $((i + 1000)) --quiet
        mv "$f.truth.ndjson" "$dir/truth/"
    fi
done
find "$dir/real" -type f | sort > "$dir/real.list"
find "$dir/big" "$dir/gen" -type f | sort > "$dir/mixed.list"

drop() { if [ "${DROP_CACHES:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
now() { date +%s%N; }

# best (smallest) wall seconds of REPS runs of "$@"; stdout of the last run
# goes to $dir/out
best_secs() {
    local best="" t0 t1 s
    for ((rep = 0; rep < reps; rep++)); do
        drop
        t0=$(now)
        "$@" > "$dir/out"
        t1=$(now)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
    done
    echo "$best"
}

rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

"$fp" --all -j "$cores" --list "$dir/mixed.list" > /dev/null   # warm the page cache
"$fp" --all -j "$cores" --list "$dir/mixed.list" > /dev/null

echo "dumpscan bulk bench: $cores cores, cache $([ "${DROP_CACHES:-0}" = 1 ] && echo cold || echo warm), best of $reps"
echo
echo "== 1. $n_real real triage minidumps (real/) =="
fp1=$(best_secs "$fp" -j 1 --list "$dir/real.list")
fpn=$(best_secs "$fp" -j "$cores" --list "$dir/real.list")
base=$(rate "$n_real" "$fpn")
printf '%-44s %8s s %9s dumps/s\n' "baseline firstpages -j 1 (64 KiB each)" "$fp1" "$(rate "$n_real" "$fp1")"
printf '%-44s %8s s %9s dumps/s\n' "baseline firstpages -j $cores (64 KiB each)" "$fpn" "$base"
xargs -a "$dir/real.list" -d '\n' "$ds" info > /dev/null   # check it runs
info_s=$(best_secs xargs -a "$dir/real.list" -d '\n' "$ds" info)
printf '%-44s %8s s %9s dumps/s\n' "dumpscan info (open + parse, 1 thread)" "$info_s" "$(rate "$n_real" "$info_s")"
run_scan() { # label, scan options...
    local label=$1
    shift
    local s
    s=$(best_secs "$ds" scan -q "$@" -o "$dir/scan.ndjson" "$dir/real")
    local r
    r=$(rate "$n_real" "$s")
    printf '%-44s %8s s %9s dumps/s  ratio %s\n' "$label" "$s" "$r" "$(ratio "$r" "$base")"
}
run_scan "dumpscan scan --jobs 1 -j 1"  --jobs 1 -j 1
run_scan "dumpscan scan (default: $cores slots, $cores workers)"
run_scan "dumpscan scan --sort"  --sort
rm -f "$dir/real.state"
"$ds" scan -q --state "$dir/real.state" -o "$dir/scan.ndjson" "$dir/real"
run_scan "dumpscan scan --state (all skipped)"  --state "$dir/real.state"
tail -n 1 "$dir/scan.ndjson"

echo
nmix=$(wc -l < "$dir/mixed.list")
mix_bytes=$(xargs -a "$dir/mixed.list" -d '\n' stat -c %s | awk '{ s += $1 } END { printf "%.0f", s }')
echo "== 2. mixed: $n_big x $big_mib MiB noisy + $n_gen x 16 MiB sparse ($nmix files, $mix_bytes bytes) =="
rd=$(best_secs "$fp" --all -j "$cores" --list "$dir/mixed.list")
rd_gbps=$(awk -v b="$mix_bytes" -v s="$rd" 'BEGIN { printf "%.3f", b / s / 1e9 }')
printf '%-44s %8s s %7s GB/s\n' "baseline firstpages --all -j $cores" "$rd" "$rd_gbps"
cat_all() { xargs -a "$dir/mixed.list" -d '\n' cat > /dev/null; }
cat_s=$(best_secs cat_all)
printf '%-44s %8s s %7s GB/s\n' "baseline cat > /dev/null" "$cat_s" \
    "$(awk -v b="$mix_bytes" -v s="$cat_s" 'BEGIN { printf "%.3f", b / s / 1e9 }')"
for opts in "" "--sort"; do
    # shellcheck disable=SC2086
    s=$(best_secs "$ds" scan -q $opts -o "$dir/mixed.ndjson" "$dir/big" "$dir/gen")
    scanned=$(tail -n 1 "$dir/mixed.ndjson" | sed 's/.*"bytes_scanned":\([0-9]*\).*/\1/')
    g=$(awk -v b="$mix_bytes" -v s="$s" 'BEGIN { printf "%.3f", b / s / 1e9 }')
    printf '%-44s %8s s %7s GB/s  ratio %s  (%s dumps/s, %s bytes scanned)\n' \
        "dumpscan scan ${opts:-(default)}" "$s" "$g" "$(ratio "$g" "$rd_gbps")" \
        "$(rate "$nmix" "$s")" "$scanned"
done
tail -n 1 "$dir/mixed.ndjson"

echo
echo "== 3. the two halves of the mixed corpus alone =="
for sub in big gen; do
    find "$dir/$sub" -type f | sort > "$dir/$sub.list"
    b=$(xargs -a "$dir/$sub.list" -d '\n' stat -c %s | awk '{ s += $1 } END { printf "%.0f", s }')
    n=$(wc -l < "$dir/$sub.list")
    r=$(best_secs "$fp" --all -j "$cores" --list "$dir/$sub.list")
    rg=$(awk -v b="$b" -v s="$r" 'BEGIN { printf "%.3f", b / s / 1e9 }')
    s=$(best_secs "$ds" scan -q -o "$dir/sub.ndjson" "$dir/$sub")
    g=$(awk -v b="$b" -v s="$s" 'BEGIN { printf "%.3f", b / s / 1e9 }')
    printf '%-5s %4s files: firstpages --all %7s GB/s; scan %8s s %7s GB/s  ratio %s  (%s dumps/s)\n' \
        "$sub/" "$n" "$rg" "$s" "$g" "$(ratio "$g" "$rg")" "$(rate "$n" "$s")"
done
