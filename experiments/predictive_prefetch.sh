#!/usr/bin/env bash
# Issue 16, parts 2 and 3: `predictive` and `--prefetch` against cremebrulee and
# cremebrulee-oracle, queueing mode, one worker, memory 15-60%.
#   experiments/predictive_prefetch.sh [BRULEE] [OUT]   (REQUESTS=1000000 RATE=0.25 SEED=1 by default)
# Workloads (brulee workload synth, docs/workloads.md): the paper catalog with Azure-calibrated
# popularity (Poisson arrivals, and on/off arrivals), the same over 2,000 models, both again with
# Azure's timer share (--timers 0.16: periodic models), and Zipf(1.0).
#   WORKLOADS="az26t az2kt" experiments/predictive_prefetch.sh ...   runs a subset
#   EXTRA=--parallel-load experiments/predictive_prefetch.sh ...   the server's shape (a loading
#   lane beside the execution lane: only a demand miss cancels a prefetch), for every run
# Prints one table per workload: mean load delay per request (s) and the comparisons.
set -euo pipefail
BRULEE=${1:-build/release/brulee}
OUT=${2:-/tmp/brulee_pred}
REQUESTS=${REQUESTS:-1000000}
RATE=${RATE:-0.25}
SEED=${SEED:-1}
EXTRA=${EXTRA:-}
MEMORY=15%,20%,30%,40%,60%
mkdir -p "$OUT"
. "$(dirname "$0")/issue16_workloads.sh"
issue16_workloads "$BRULEE" "$OUT" "$SEED" "$REQUESTS" "$RATE"
WORKLOADS=${WORKLOADS:-"az26 az26onoff az2k az26t az2kt zipf"}
for w in $WORKLOADS; do
  "$BRULEE" simulate --trace "$OUT/$w.bin" --catalog "$OUT/$w.catalog.json" --memory "$MEMORY" \
    --policy cremebrulee,cremebrulee-oracle,predictive --sweep --no-bound $EXTRA --csv "$OUT/$w.csv" > /dev/null
  "$BRULEE" simulate --trace "$OUT/$w.bin" --catalog "$OUT/$w.catalog.json" --memory "$MEMORY" \
    --policy cremebrulee,predictive --sweep --no-bound --prefetch $EXTRA --csv "$OUT/$w.prefetch.csv" > /dev/null
done
EXTRA="$EXTRA" python3 - "$OUT" $WORKLOADS <<'PY'
import csv, os, sys
out = sys.argv[1]
mode = "queueing, one worker" + (f", {os.environ['EXTRA']}" if os.environ.get("EXTRA") else "")
for w in sys.argv[2:]:
    d, p = {}, {}
    for x in csv.DictReader(open(f"{out}/{w}.csv")):
        d[(x["policy"], x["memory_fraction"])] = float(x["mean_load_delay_s"])
    for x in csv.DictReader(open(f"{out}/{w}.prefetch.csv")):
        p[(x["policy"], x["memory_fraction"])] = x
    print(f"\n#### {w}: mean load delay per request (s), {mode}\n")
    print("| memory | cremebrulee | oracle | predictive | predictive vs cb | gap closed | cb + prefetch | vs cb | predictive + prefetch | vs cb | prefetches made / used / cancelled | wasted prefetch load (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for m in sorted({k[1] for k in d}, key=float):
        cb, o, pr = d[("cremebrulee", m)], d[("cremebrulee-oracle", m)], d[("predictive", m)]
        gap = cb - o
        closed = f"{(cb - pr) / gap * 100:.0f}%" if gap > 0 else "no gap"
        cbp, prp = p[("cremebrulee", m)], p[("predictive", m)]
        cbv, prv = float(cbp["mean_load_delay_s"]), float(prp["mean_load_delay_s"])
        print(f"| {float(m)*100:.0f}% | {cb:.5f} | {o:.5f} | {pr:.5f} | {(pr/cb-1)*100:+.1f}% | {closed} | "
              f"{cbv:.5f} | {(cbv/cb-1)*100:+.1f}% | {prv:.5f} | {(prv/cb-1)*100:+.1f}% | "
              f"{prp['prefetches']} / {prp['prefetches_used']} / {prp['prefetches_cancelled']} | {float(prp['prefetch_wasted_s']):.0f} |")
PY
