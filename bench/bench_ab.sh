#!/usr/bin/env bash
# bench_ab.sh - two dumpscan binaries on one dump, runs interleaved, each
# round beside a plain parallel read of the same file (issue #11).
#
# usage: bench/bench_ab.sh OLD_BINARY NEW_BINARY DUMP [ROUNDS] [THREADS]
#   ROUNDS   rounds of (old, new, read), default 6; THREADS default 2
#   env DROP_CACHES=1  cold runs (needs root): the page cache is dropped
#            before every run and the read is parread --odirect
#   env PARREAD=path   the parread binary (default build/bench/parread)
#   env SCAN_ARGS="..." more scan options for both (e.g. "--io mmap")
#
# A disk whose speed drifts (a VM's shared storage) moves every figure
# of a round together, so compare within rounds: each line has wall
# seconds and ms_stream / ms_xview of the dump record for old and new, and
# the read's seconds; the summary gives the median and best of each and
# the median of new / old and of new / read.
set -euo pipefail
old=$1 new=$2 dump=$3 rounds=${4:-6} t=${5:-2}
parread=${PARREAD:-build/bench/parread}
cold=${DROP_CACHES:-0}
drop() { if [ "$cold" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
run_scan() { # prints "wall ms_stream ms_xview"
    drop
    local t0 t1
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086 # SCAN_ARGS is a list of words
    "$1" scan -q -j "$t" ${SCAN_ARGS:-} "$dump" > "$out"
    t1=$(date +%s.%N)
    python3 - "$t0" "$t1" "$out" <<'EOF'
import json, sys
d = json.loads(open(sys.argv[3]).readline())
print("%.4f %.1f %.1f" % (float(sys.argv[2]) - float(sys.argv[1]), d["ms_stream"] or 0,
                          d["ms_xview"] or 0))
EOF
}
run_read() {
    drop
    local flag=""
    [ "$cold" = 1 ] && flag=--odirect
    "$parread" "$dump" -j "$t" --passes 1 $flag | awk '/^best:/ { print $3 }'
}
[ "$cold" = 1 ] || cat "$dump" > /dev/null
echo "dump: $dump, $t threads, cache: $([ "$cold" = 1 ] && echo cold || echo warm)"
printf '%5s %8s %9s %8s %8s %9s %8s %8s\n' round old_s stream_ms xview_ms new_s stream_ms \
    xview_ms read_s
rows=()
for r in $(seq 1 "$rounds"); do
    a=$(run_scan "$old") b=$(run_scan "$new") c=$(run_read)
    row="$r $a $b $c"
    rows+=("$row")
    printf '%5s %8s %9s %8s %8s %9s %8s %8s\n' $row
done
printf '%s\n' "${rows[@]}" | python3 -c '
import statistics as st, sys
rows = [list(map(float, l.split()[1:])) for l in sys.stdin if l.strip()]
col = lambda i: [r[i] for r in rows]
med = lambda v: st.median(v)
for name, i in (("old", 0), ("new", 3)):
    print("%s: wall median %.3f best %.3f s, stream median %.0f ms, xview median %.0f ms"
          % (name, med(col(i)), min(col(i)), med(col(i + 1)), med(col(i + 2))))
print("read: median %.3f best %.3f s" % (med(col(6)), min(col(6))))
print("median per round: new/old %.2f, new/read %.2f, old/read %.2f"
      % (med([r[3] / r[0] for r in rows]), med([r[3] / r[6] for r in rows]),
         med([r[0] / r[6] for r in rows])))
'
