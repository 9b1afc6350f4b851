#!/usr/bin/env bash
# The paper's testbed experiment, end to end on this machine (docs/results.md, "Testbed"):
# make a zoo of real models, profile it, generate an Azure-like trace over them, then for each
# policy start `brulee serve` with memory = 50% of the zoo's measured loaded bytes, replay the
# trace against it, stop it, and run the simulator on the same trace and profiles.
#
#   experiments/testbed.sh [--quick] [--out DIR] [--brulee BINARY] [--policies LIST]
#
# --quick: 6 small models, a 60 s trace (about 5 minutes in all). Default: 12 models and a
# 150 s trace per policy (about 25 minutes). Env: POPULARITY (azure|zipf), RATE (requests/s),
# DURATION (s), MEMORY_FRACTION (0.5), SEED.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
out=out/testbed
brulee=build/release/brulee
policies="random,lru,lfu,loadtime,belady,cremebrulee-oracle,cremebrulee"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --brulee) brulee=$2; shift ;;
    --policies) policies=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "testbed.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$brulee" ] || { echo "testbed.sh: $brulee not found: run scripts/bootstrap.sh first" >&2; exit 2; }

if [ "$quick" = 1 ]; then
  models=squeezenet1_1,shufflenet_v2_x1_0,mobilenet_v2,mnasnet1_0,resnet18,efficientnet_b0
  duration=${DURATION:-60}; runs=1
else
  models=squeezenet1_1,shufflenet_v2_x1_0,mobilenet_v2,mobilenet_v3_large,mnasnet1_0,regnet_y_400mf,resnet18,efficientnet_b0,googlenet,resnet50,densenet121,inception_v3
  duration=${DURATION:-150}; runs=2
fi
rate=${RATE:-2}
popularity=${POPULARITY:-zipf}
fraction=${MEMORY_FRACTION:-0.5}
seed=${SEED:-7}
mkdir -p "$out"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

log "zoo: $models"
"$brulee" zoo --out "$out/zoo" --models "$models" --format onnx > "$out/zoo.log"
log "profile ($runs runs)"
"$brulee" profile --repo "$out/zoo" --runs "$runs" --out "$out/catalog.json" --quiet > "$out/profile.log"
log "trace: $popularity popularity, ${rate} req/s for ${duration} s"
"$brulee" workload synth --catalog "$out/catalog.json" --popularity "$popularity" --zipf 1.0 \
  --rate "$rate" --duration "$duration" --out "$out/trace.csv" --catalog-out "$out/trace.catalog.json" \
  --seed "$seed" > "$out/trace.txt"
total=$(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c=c.get("models",c); print(sum(m["size_bytes"] for m in c))' "$out/catalog.json")
memory=$(/usr/bin/python3 -c "print(int($total * $fraction))")
log "zoo loaded bytes $total, memory $memory ($fraction)"

for policy in ${policies//,/ }; do
  log "policy $policy: serve + replay"
  "$brulee" serve --repo "$out/zoo" --port 0 --memory "$memory" --policy "$policy" \
    --catalog "$out/catalog.json" --exec-threads 1 --loader-threads 1 --intra-op-threads 0 \
    > "$out/$policy.server.log" 2>&1 &
  server=$!
  port=""
  for _ in $(seq 1 300); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$out/$policy.server.log" | head -n 1)
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    echo "testbed.sh: the server for $policy did not start:" >&2
    tail -n 5 "$out/$policy.server.log" >&2
    kill "$server" 2>/dev/null || true
    exit 1
  fi
  "$brulee" replay --url "http://127.0.0.1:$port" --trace "$out/trace.csv" --concurrency 64 \
    --json --quiet --out "$out/$policy.requests.csv" > "$out/$policy.replay.json" || true
  kill -TERM "$server"
  wait "$server" || true
  "$brulee" simulate --trace "$out/trace.csv" --catalog "$out/catalog.json" --memory "$memory" \
    --policy "$policy" --parallel-load --seed 1 --json > "$out/$policy.sim.json"
done

log "tables and figures"
/usr/bin/python3 experiments/testbed_report.py "$out" "${policies}" "$memory" "$total"
log "done: $out/results.md"
