#!/usr/bin/env bash
# The paper's simulation result (Ogden et al., ACSOS 2021): CremeBrulee against the
# workload-only policies (lru = "recent", lfu = "popularity", random) on the paper's 26 models,
# at constrained memory, with an Azure-like synthetic workload (and a Zipf(1) one for contrast).
# Writes sweeps as CSV/JSON and HTML reports under OUT (default /tmp/brulee_paper_sim) and prints
# the tables that docs/results.md quotes.
#   experiments/simulate_paper.sh [BRULEE_BINARY] [OUT]      (env: REQUESTS, RATE)
set -euo pipefail
brulee=${1:-build/release/brulee}
out=${2:-/tmp/brulee_paper_sim}
requests=${REQUESTS:-2000000}
rate=${RATE:-0.25}
mkdir -p "$out"
# Poisson arrivals at a rate one worker can serve (mean exec ~0.3 s plus loads), seeded.
"$brulee" workload synth --catalog paper --popularity azure --requests "$requests" --rate "$rate" \
  --out "$out/azure.bin" --seed 1 > "$out/synth-azure.txt"
"$brulee" workload synth --catalog paper --popularity zipf --zipf 1.0 --requests "$requests" \
  --rate "$rate" --out "$out/zipf.bin" --seed 1 > "$out/synth-zipf.txt"
# The largest model (VGG16, 528 MB) is 14.6% of the 3.6 GB footprint: 15% is the least memory.
memory=15%,20%,25%,30%,35%,40%,50%,60%,80%
policies=lru,lfu,random,cremebrulee,cremebrulee-increase,gdsf,belady-size,cremebrulee-oracle
for workload in azure zipf; do
  for mode in queueing no-queueing; do
    flag=""
    [ "$mode" = no-queueing ] && flag=--no-queueing
    "$brulee" simulate --trace "$out/$workload.bin" --catalog paper --memory "$memory" \
      --policy "$policies" --sweep $flag --seed 1 --csv "$out/$workload-$mode.csv" \
      --json-out "$out/$workload-$mode.json" --report "$out/report-$workload-$mode" --timing \
      > "$out/$workload-$mode.txt"
  done
done
# CremeBrulee's mean load delay against each workload-only policy, per memory size.
/usr/bin/python3 - "$out" <<'PY'
import csv, sys
out = sys.argv[1]
for workload in ("azure", "zipf"):
    for mode in ("queueing", "no-queueing"):
        rows = list(csv.DictReader(open(f"{out}/{workload}-{mode}.csv")))
        by = {(r["policy"], r["memory_fraction"]): r for r in rows}
        fractions = sorted({r["memory_fraction"] for r in rows}, key=float)
        print(f"\n{workload}, {mode}: mean load delay per request (s); CremeBrulee's reduction")
        print("| memory | lru | lfu | random | cremebrulee | vs lru | vs lfu | vs random "
              "| cremebrulee cost / bound |")
        print("|---|---|---|---|---|---|---|---|---|")
        for f in fractions:
            cb = float(by[("cremebrulee", f)]["mean_load_delay_s"])
            cells = [float(by[(p, f)]["mean_load_delay_s"]) for p in ("lru", "lfu", "random")]
            red = [f"{100 * (1 - cb / v):+.1f}%" if v > 0 else "-" for v in cells]
            bound = float(by[("cremebrulee", f)]["cost_over_bound"])
            print(f"| {100 * float(f):.0f}% | " + " | ".join(f"{v:.4f}" for v in cells) +
                  f" | {cb:.4f} | " + " | ".join(red) + f" | {bound:.2f} |")
PY
