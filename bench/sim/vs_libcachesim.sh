#!/usr/bin/env bash
# brulee simulate (pure cache mode) against libCacheSim's cachesim on the same trace, side by
# side: alternating runs, wall time of the whole command (reading and preparation included),
# miss ratios printed by each. libCacheSim is not part of brulee: build it elsewhere for the
# measurement (docs/simulator.md, "Against libCacheSim").
# Usage: bench/sim/vs_libcachesim.sh BRULEE CACHESIM DIR [ROUNDS=5] [POLICIES="lru gdsf"]
#   DIR holds s20m.bin (brulee workload synth --models 10000 --requests 20M --seed 3), and gets
#   the converted trace and the unit-cost catalog (bench/sim/to_libcachesim.py).
set -euo pipefail
brulee=$1 cachesim=$2 dir=$3 rounds=${4:-5} policies=${5:-"lru gdsf"}
here=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
[ -f s20m.catalog.json ] || { echo "need s20m.bin and s20m.catalog.json in $dir" >&2; exit 2; }
if [ ! -f s20m.oracleGeneral.bin ]; then
  "$here/to_libcachesim.py" s20m.bin s20m.catalog.json s20m.oracleGeneral.bin \
    --unit-cost s20m.unit.catalog.json
fi
# 10% of the footprint, in bytes (both tools take the same number).
memory=$(/usr/bin/python3 -c "import json; print(sum(m['size_bytes'] for m in json.load(open('s20m.catalog.json'))['models']) // 10)")
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT
wall() { /usr/bin/time -f %e -o "$timing" "$@" >/dev/null 2>&1; cat "$timing"; }
for policy in $policies; do
  b_ratio=$("$brulee" simulate --trace s20m.bin --catalog s20m.unit.catalog.json --memory "$memory" \
    --policy "$policy" --no-queueing --bound none | awk '/^cache hit ratio/ {printf "%.6f", 1 - $NF}')
  c_ratio=$("$cachesim" s20m.oracleGeneral.bin oracleGeneral "$policy" "$memory" 2>&1 |
    grep -o 'miss ratio [0-9.]*, throughput' | awk '{print $3}' | tr -d ,)
  echo "$policy: miss ratio brulee $b_ratio, cachesim $c_ratio"
  for ((r = 1; r <= rounds; r++)); do
    load=$(cut -d' ' -f1 /proc/loadavg)
    b=$(wall "$brulee" simulate --trace s20m.bin --catalog s20m.unit.catalog.json \
      --memory "$memory" --policy "$policy" --no-queueing --bound none)
    c=$(wall "$cachesim" s20m.oracleGeneral.bin oracleGeneral "$policy" "$memory")
    echo "$policy round $r (load $load): brulee $b s, cachesim $c s, ratio $(/usr/bin/python3 -c "print(round($c / $b, 2))")"
  done
done
