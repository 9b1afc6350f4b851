#!/usr/bin/env bash
# The paper's testbed claims as curves over memory (docs/fidelity.md "The paper's claims"):
# CremeBrulee's mean load delay / mean exec, and its load delay as a share of random eviction's,
# from `brulee simulate --parallel-load` (the testbed server's shape) on a long Zipf(1.0) trace
# over CATALOG, for random, lru, lfu, belady, cremebrulee-oracle and cremebrulee.
#
#   experiments/claims_curve.sh CATALOG RATE DURATION_S OUT_DIR [BRULEE]
#
# CATALOG: a profiled catalog (`brulee profile --out`, e.g. the testbed's DIR/catalog.json) or
# `paper`. RATE: requests/s (choose it so rate x mean exec stays well below 1).
# Writes OUT_DIR/curve.csv (the sweep) and OUT_DIR/curve.md (the table).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,12p' "$0"; exit 2; }
catalog=$1 rate=$2 duration=$3 out=$4
brulee=${5:-$(dirname "$0")/../build/release/brulee}
mkdir -p "$out"
"$brulee" workload synth --catalog "$catalog" --popularity zipf --zipf 1.0 --rate "$rate" \
  --duration "$duration" --seed 7 --out "$out/trace.bin" --catalog-out "$out/trace.catalog.json" > /dev/null
"$brulee" simulate --sweep --trace "$out/trace.bin" --catalog "$catalog" --parallel-load --bound none \
  --memory 30%,40%,50%,60%,70%,80%,90% \
  --policy random,lru,lfu,belady,cremebrulee-oracle,cremebrulee --csv "$out/curve.csv" > /dev/null
/usr/bin/python3 - "$out/curve.csv" "$catalog" "$rate" "$duration" > "$out/curve.md" <<'PY'
import csv, sys
path, catalog, rate, duration = sys.argv[1:]
rows = list(csv.DictReader(open(path)))
by = {}
for r in rows:
    by.setdefault(float(r["memory_fraction"]), {})[r["policy"]] = r
policies = list(next(iter(by.values())).keys())
print(f"Catalog `{catalog}`, Zipf(1.0) at {rate} requests/s for {duration} s, "
      "`simulate --parallel-load`. Each cell: mean load delay / mean exec (load delay as a share "
      "of random's at that memory).\n")
print("| memory | " + " | ".join(policies) + " | cremebrulee queue, s |")
print("|---" * (len(policies) + 2) + "|")
for m in sorted(by):
    random_load = float(by[m]["random"]["mean_load_delay_s"])
    cells = []
    for p in policies:
        r = by[m][p]
        share = 100 * float(r["mean_load_delay_s"]) / random_load if random_load > 0 else float("nan")
        cells.append(f"{100 * float(r['load_exec_ratio']):.0f}% ({share:.0f}%)")
    queue = float(by[m]["cremebrulee"]["mean_queue_delay_s"])
    print(f"| {100 * m:.0f}% | " + " | ".join(cells) + f" | {queue:.3f} |")
PY
cat "$out/curve.md"
