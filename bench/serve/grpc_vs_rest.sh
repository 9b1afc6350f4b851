#!/usr/bin/env bash
# gRPC against REST on the same brulee server, and against a minimal gRPC server answering a
# fixed reply (the floor of a gRPC round trip here); then a large input (3x224x224 FP32) over
# gRPC raw contents, the REST binary extension and REST JSON, with the server's CPU time per
# request (docs/server.md, "Measured"). Each round runs every configuration once, in turn, so
# all see the same machine; the summary is the median over rounds, with the load average.
# Usage: bench/serve/grpc_vs_rest.sh --repo DIR [--model tiny_mlp-onnx] [--big-repo DIR]
#        [--big-model resnet18-onnx] [--seconds 5] [--rounds 3] [--build build/release]
set -euo pipefail
repo="" model="tiny_mlp-onnx" big_repo="" big_model="resnet18-onnx" seconds=5 rounds=3
build="$(dirname "$0")/../../build/release"
while (($#)); do
  case "$1" in
    --repo) repo="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --big-repo) big_repo="$2"; shift 2 ;;
    --big-model) big_model="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$repo" ] || { echo "--repo DIR is required" >&2; exit 2; }
brulee="$build/brulee"
bench="$build/bench/serve/grpc_bench"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts brulee over $1 with $2 preloaded; sets rest_port, grpc_port, server_pid.
start_brulee() {
  "$brulee" serve --repo "$1" --memory 2GiB --port 0 --grpc-port 0 --preload "$2" \
    --log-format json > "$work/serve.out" 2> "$work/serve.log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 300); do grep -q "^grpc listening" "$work/serve.out" 2> /dev/null && break; sleep 0.1; done
  rest_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/serve.out")
  grpc_port=$(sed -n 's/^grpc listening on .*:\([0-9]*\)$/\1/p' "$work/serve.out")
}
# Server CPU seconds (user + system) of a process.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }
load() { cut -d' ' -f1 /proc/loadavg; }

start_brulee "$repo" "$model"
"$bench" floor --reply-bytes 40 > "$work/floor.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$work/floor.out" 2> /dev/null && break; sleep 0.1; done
floor_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/floor.out")

echo "# hit path: $model resident; $seconds s per run; $rounds rounds"
: > "$work/hit.jsonl"
for round in $(seq "$rounds"); do
  for clients in 1 8; do
    for target in grpc rest floor; do
      case $target in
        grpc) args=(--target "127.0.0.1:$grpc_port" --protocol grpc --encoding raw) ;;
        rest) args=(--target "127.0.0.1:$rest_port" --protocol rest --encoding json) ;;
        floor) args=(--target "127.0.0.1:$floor_port" --protocol grpc --encoding raw) ;;
      esac
      before=$(cpu_s "$server_pid")
      line=$("$bench" client "${args[@]}" --model "$model" --clients "$clients" --seconds "$seconds")
      after=$(cpu_s "$server_pid")
      echo "{\"round\":$round,\"target\":\"$target\",\"load\":$(load),\"brulee_cpu_s\":$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }'),\"r\":$line}" | tee -a "$work/hit.jsonl"
    done
  done
done

if [ -n "$big_repo" ]; then
  kill "$server_pid"; wait "$server_pid" 2> /dev/null || true
  start_brulee "$big_repo" "$big_model"
  echo "# large input: $big_model (3x224x224 FP32), 1 client"
  : > "$work/big.jsonl"
  for round in $(seq "$rounds"); do
    for encoding in grpc-raw rest-binary rest-json; do
      case $encoding in
        grpc-raw) args=(--target "127.0.0.1:$grpc_port" --protocol grpc --encoding raw) ;;
        rest-binary) args=(--target "127.0.0.1:$rest_port" --protocol rest --encoding binary) ;;
        rest-json) args=(--target "127.0.0.1:$rest_port" --protocol rest --encoding json) ;;
      esac
      before=$(cpu_s "$server_pid")
      line=$("$bench" client "${args[@]}" --model "$big_model" --clients 1 --seconds "$seconds")
      after=$(cpu_s "$server_pid")
      echo "{\"round\":$round,\"target\":\"$encoding\",\"load\":$(load),\"brulee_cpu_s\":$(awk -v a="$after" -v b="$before" 'BEGIN { print a - b }'),\"r\":$line}" | tee -a "$work/big.jsonl"
    done
  done
fi

/usr/bin/python3 - "$work" << 'PY'
import json, os, statistics, sys
work = sys.argv[1]
def table(name, key):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        return
    rows = [json.loads(l) for l in open(path)]
    groups = {}
    for r in rows:
        groups.setdefault((r["r"]["clients"], r["target"]), []).append(r)
    print(f"\n{name}: medians over rounds")
    print("clients target        p50_us   p99_us      rps  server_cpu_us/req  load")
    for (clients, target), rs in sorted(groups.items()):
        med = lambda f: statistics.median(f(r) for r in rs)
        cpu = med(lambda r: 1e6 * r["brulee_cpu_s"] / max(1, r["r"]["requests"]))
        if target == "floor":
            cpu = float("nan")  # the floor is another process
        loads = ",".join(f'{r["load"]:.2f}' for r in rs)
        print(f'{clients:7d} {target:12s} {med(lambda r: r["r"]["p50_us"]):8.1f} '
              f'{med(lambda r: r["r"]["p99_us"]):8.1f} {med(lambda r: r["r"]["rps"]):8.1f} '
              f'{cpu:18.1f}  {loads}')
table("hit.jsonl", "hit")
table("big.jsonl", "big")
PY
