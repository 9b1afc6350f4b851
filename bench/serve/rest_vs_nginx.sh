#!/usr/bin/env bash
# The REST hit path against the machine's floor: brulee serving a resident tiny model and nginx
# answering a fixed reply of the same size, both on loopback, driven by wrk with 1 and 8
# connections, alternating server by server in each round (docs/server.md, "Measured").
# Needs wrk and nginx (Debian: wrk, nginx-light; `scripts/bootstrap.sh --bench` installs them).
# Extra serve flags: BRULEE_SERVE_FLAGS="--inline-exec-max-ms 1" bench/serve/rest_vs_nginx.sh ...
# Usage: bench/serve/rest_vs_nginx.sh --repo DIR [--model tiny_mlp-onnx] [--seconds 10]
#        [--rounds 3] [--brulee build/release/src/cli/brulee]
set -euo pipefail
repo="" model="tiny_mlp-onnx" seconds=10 rounds=3
brulee="$(dirname "$0")/../../build/release/src/cli/brulee"
while (($#)); do
  case "$1" in
    --repo) repo="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --brulee) brulee="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$repo" ] || { echo "--repo DIR is required" >&2; exit 2; }
for tool in wrk nginx curl python3; do
  command -v "$tool" > /dev/null || { echo "$tool is not installed" >&2; exit 2; }
done
work=$(mktemp -d)
server_pid="" nginx_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2> /dev/null && wait "$server_pid" 2> /dev/null
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$brulee" serve --repo "$repo" --memory 1GiB --port 0 --grpc-port 0 --preload "$model" --log-format json \
  ${BRULEE_SERVE_FLAGS:-} \
  > "$work/serve.out" 2> "$work/serve.log" &
server_pid=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2> /dev/null && break; sleep 0.1; done
brulee_port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/serve.out")
base="http://127.0.0.1:$brulee_port"

# A request of zeros shaped like the model's first input.
curl -sf "$base/v2/models/$model" > "$work/meta.json"
python3 - "$work/meta.json" > "$work/body.json" << 'EOF'
import json, sys
meta = json.load(open(sys.argv[1]))
spec = meta["inputs"][0]
shape = [d if d > 0 else 1 for d in spec["shape"]]
count = 1
for d in shape:
    count *= d
print(json.dumps({"inputs": [{"name": spec["name"], "shape": shape,
                              "datatype": spec["datatype"], "data": [0] * count}]}))
EOF
curl -sf -X POST --data-binary "@$work/body.json" "$base/v2/models/$model/infer" > "$work/reply.json"
reply_bytes=$(stat -c %s "$work/reply.json")

# nginx: the same number of reply bytes, as a fixed answer to any POST.
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 - "$work" "$nginx_port" "$reply_bytes" << 'EOF'
import sys
work, port, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
reply = '{"x":"' + "a" * max(0, size - 8) + '"}'
open(f"{work}/nginx.conf", "w").write(f"""
worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx.err;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {work}; proxy_temp_path {work}; fastcgi_temp_path {work};
  uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{reply}'; }}
  }}
}}
""")
EOF
nginx -c "$work/nginx.conf" -p "$work" &
nginx_pid=$!
sleep 0.5

cat > "$work/post.lua" << EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$work/body.json", "r")
wrk.body = f:read("*a")
f:close()
EOF

# wrk prints "50%  123.00us"; normalise to microseconds.
p50_us() {
  awk '/^ *50%/ { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
                 if (u == "ms") v *= 1000; else if (u == "s") v *= 1000000; print v }'
}
rps() { awk '/^Requests\/sec/ { print $2 }'; }

echo "# $(date -u +%FT%TZ) load average: $(cut -d' ' -f1-3 /proc/loadavg); reply $reply_bytes bytes"
# The server's own account of execution (statistics extension): mean exec per request in a run.
exec_ns() {
  curl -sf "$base/v2/models/$model/stats" |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["model_stats"][0]["inference_stats"]["compute_infer"]; print(s["count"], s["ns"])'
}

# brulee: the inference route, and /v2/health/live (the network layer alone, no JSON, no model).
echo "round,server,connections,p50_us,requests_per_s,exec_mean_us" > "$work/results.csv"
for round in $(seq "$rounds"); do
  for connections in 1 8; do
    threads=$((connections < 2 ? 1 : 2))
    for server in brulee brulee-live nginx; do
      exec_us=""
      case "$server" in
        brulee)
          read -r count0 ns0 <<< "$(exec_ns)"
          out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$work/post.lua" "$base/v2/models/$model/infer")
          read -r count1 ns1 <<< "$(exec_ns)"
          exec_us=$(python3 -c "print(round(($ns1 - $ns0) / max(1, $count1 - $count0) / 1000, 1))") ;;
        brulee-live) out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency "$base/v2/health/live") ;;
        nginx) out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$work/post.lua" "http://127.0.0.1:$nginx_port/") ;;
      esac
      echo "$round,$server,$connections,$(p50_us <<< "$out"),$(rps <<< "$out"),$exec_us"
    done
  done
done | tee -a "$work/results.csv"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/results.csv" << 'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {}
for r in rows:
    by.setdefault((r["server"], r["connections"]), []).append(r)
med = lambda rows, key: statistics.median(float(r[key]) for r in rows)
for c in ("1", "8"):
    b, l, n = by[("brulee", c)], by[("brulee-live", c)], by[("nginx", c)]
    bp, lp, np_ = med(b, "p50_us"), med(l, "p50_us"), med(n, "p50_us")
    br, lr, nr = med(b, "requests_per_s"), med(l, "requests_per_s"), med(n, "requests_per_s")
    ex = med(b, "exec_mean_us")
    print(f"{c} connection(s): p50 infer {bp:.1f} us (server exec mean {ex:.1f} us), "
          f"health/live {lp:.1f} us, nginx {np_:.1f} us; ratios infer {bp/np_:.2f}x, "
          f"live {lp/np_:.2f}x; throughput infer {br:.0f}/s ({br/nr:.2f} of nginx), "
          f"live {lr:.0f}/s ({lr/nr:.2f}), nginx {nr:.0f}/s")
EOF
