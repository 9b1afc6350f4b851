#!/usr/bin/env bash
# Issue 16, part 2: how much of the gap between cremebrulee and cremebrulee-oracle knowing each
# model's rate could close, against what predictive closes (docs/results.md, "What knowing the
# rates would close").
#   experiments/rate_oracle.sh OUT   (SEEDS="1 2 3" REQUESTS=1000000 RATE=0.25 EXTRA= by default)
# Builds brulee with experiments/rate_oracle.patch (an experiment, not for main: cremebrulee
# ranking by each model's request count in the whole trace, BRULEE_TRUE_COUNTS, or by Robbins'
# empirical-Bayes estimate of its count, BRULEE_EB) from this checkout's HEAD into OUT/src, makes
# the workloads of experiments/predictive_prefetch.sh, and simulates in queueing mode, one worker.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:?usage: experiments/rate_oracle.sh OUT}
SEEDS=${SEEDS:-"1 2 3"}
REQUESTS=${REQUESTS:-1000000}
RATE=${RATE:-0.25}
EXTRA=${EXTRA:-}
MEMORY=15%,20%,30%,40%,60%
WORKLOADS="az26 az26onoff az2k az26t az2kt zipf"
. "$ROOT/experiments/issue16_workloads.sh"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
B="$OUT/src/build/release/brulee"
if [ ! -x "$B" ]; then
  rm -rf "$OUT/src" && mkdir -p "$OUT/src"
  git -C "$ROOT" archive HEAD | tar -x -C "$OUT/src"
  (cd "$OUT/src" && git apply "$ROOT/experiments/rate_oracle.patch" &&
    cmake --preset release > /dev/null && cmake --build --preset release --target brulee > /dev/null)
fi
for s in $SEEDS; do
  d="$OUT/s$s"
  mkdir -p "$d"
  issue16_workloads "$B" "$d" "$s" "$REQUESTS" "$RATE"
  for w in $WORKLOADS; do
    "$B" workload convert "$d/$w.bin" "$d/$w.trace.csv" > /dev/null
    python3 - "$d/$w.trace.csv" "$d/$w.counts" <<'PY'
import collections, csv, sys
counts = collections.Counter(row["model"] for row in csv.DictReader(open(sys.argv[1])))
open(sys.argv[2], "w").write("".join(f"{name} {n}\n" for name, n in sorted(counts.items())))
PY
    rm "$d/$w.trace.csv"
    run() {  # csv, policies
      "$B" simulate --trace "$d/$w.bin" --catalog "$d/$w.catalog.json" --memory "$MEMORY" \
        --policy "$2" --sweep --no-bound $EXTRA --csv "$1" > /dev/null
    }
    run "$d/$w.csv" cremebrulee,cremebrulee-oracle,predictive
    BRULEE_TRUE_COUNTS="$d/$w.counts" run "$d/$w.rates.csv" cremebrulee
    BRULEE_EB=1 run "$d/$w.eb.csv" cremebrulee
  done
done
python3 - "$OUT" $SEEDS <<'PY'
import csv, sys
out, seeds = sys.argv[1], sys.argv[2:]
def delay(path, policy):
    return {round(float(x["memory_fraction"]), 2): float(x["mean_load_delay_s"])
            for x in csv.DictReader(open(path)) if x["policy"] == policy}
for w in "az26 az26onoff az2k az26t az2kt zipf".split():
    print(f"\n#### {w}: mean load delay per request against cremebrulee (share of the gap to "
          "cremebrulee-oracle closed)\n")
    print("| seed | memory | cremebrulee (s) | cremebrulee-oracle | predictive | "
          "cremebrulee, true rates | cremebrulee, empirical Bayes |")
    print("|---|---|---|---|---|---|---|")
    for s in seeds:
        base = f"{out}/s{s}/{w}"
        cb, o, p = (delay(f"{base}.csv", x) for x in
                    ("cremebrulee", "cremebrulee-oracle", "predictive"))
        r, e = delay(f"{base}.rates.csv", "cremebrulee"), delay(f"{base}.eb.csv", "cremebrulee")
        for m in sorted(cb):
            gap = cb[m] - o[m]
            def cell(v):
                rel = f"{(v / cb[m] - 1) * 100:+.1f}%"
                return f"{rel} ({(cb[m] - v) / gap * 100:.0f}%)" if gap > 0 else rel
            print(f"| {s} | {m * 100:.0f}% | {cb[m]:.5f} | {(o[m] / cb[m] - 1) * 100:+.1f}% | "
                  f"{cell(p[m])} | {cell(r[m])} | {cell(e[m])} |")
PY
