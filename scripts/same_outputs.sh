#!/usr/bin/env bash
# A refactor's check: runs the same workload, trace and simulator commands with two brulee
# binaries (say, main's and a branch's) and compares every output file byte for byte. Prints one
# line per output (md5, same or DIFFERENT) and exits 1 if any differs.
#   scripts/same_outputs.sh OLD_BRULEE NEW_BRULEE [WORKDIR]
# Covers: synthetic traces (Zipf, Azure-like, with timers), CSV <-> binary conversion, trace
# stats, simulator sweeps of every policy in queueing, pure-cache and parallel-load modes, two
# workers, sampled latencies, the flow and interval bounds, prefetching, per-request files, and
# single pure cache runs of a streamed trace.
# Timing lines (wall clock) are left out of the comparison; everything else must match.
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,9p' "$0"; exit 2; }
old=$(realpath "$1")
new=$(realpath "$2")
work=${3:-$(mktemp -d /tmp/brulee_same.XXXXXX)}
mkdir -p "$work/old" "$work/new"

run_all() {
  local bin=$1 out=$2
  (
    cd "$out"
    "$bin" workload synth --catalog paper --popularity zipf --zipf 1.0 --rate 200 --duration 300 \
      --seed 3 --out zipf.csv --catalog-out zipf.catalog.json > synth_zipf.txt
    "$bin" workload synth --catalog paper --popularity azure --rate 100 --duration 600 \
      --timers 0.3 --seed 5 --out azure.csv --catalog-out azure.catalog.json > synth_azure.txt
    "$bin" workload convert zipf.csv zipf.bin > /dev/null
    "$bin" workload convert zipf.bin zipf_back.csv > /dev/null
    "$bin" workload stats azure.csv --catalog azure.catalog.json --json > stats_azure.json
    for trace in zipf.bin azure.csv; do
      local base=${trace%.*}
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --sweep --policy all \
        --memory 15%,30%,60% --json --bound interval --threads 1 > "sweep_q_$base.json"
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --sweep --policy all \
        --memory 20%,50% --no-queueing --json --bound flow --threads 1 > "sweep_nq_$base.json"
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --sweep --policy online \
        --memory 30% --parallel-load --json --no-bound --threads 1 > "sweep_pl_$base.json"
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --sweep \
        --policy lru,cremebrulee --memory 25% --workers 2 --json --no-bound --threads 1 \
        > "sweep_w2_$base.json"
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --policy cremebrulee \
        --memory 40% --latency sampled --seed 9 --parallel-load --no-bound --json \
        --requests-out "requests_$base.csv" > "single_$base.json"
      "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --policy predictive \
        --memory 40% --prefetch --no-bound --json --requests-out "prefetch_$base.csv" \
        > "prefetch_$base.json"
      # One pure cache run a policy, streamed (a binary trace) and tallied on the reader's
      # thread when there are two cores.
      for policy in lru gdsf cremebrulee; do
        "$bin" simulate --trace "$trace" --catalog "$base.catalog.json" --policy $policy \
          --memory 20% --no-queueing --latency sampled --seed 4 --no-bound --json \
          > "pure_${policy}_$base.json"
      done
    done
  )
}

run_all "$old" "$work/old"
run_all "$new" "$work/new"
status=0
# The text summaries print their wall time ("took 0.03 s"): that line is left out.
digest() { grep -a -v -E '^[[:space:]]*took[[:space:]]' "$1" | md5sum | cut -c1-32; }
for file in $(cd "$work/old" && ls); do
  a=$(digest "$work/old/$file")
  b=$( [ -f "$work/new/$file" ] && digest "$work/new/$file" || echo missing)
  if [ "$a" = "$b" ]; then
    echo "$a same      $file"
  else
    echo "$a DIFFERENT $file (new $b)"
    status=1
  fi
done
echo "outputs in $work"
exit $status
