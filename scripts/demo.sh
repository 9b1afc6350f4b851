#!/usr/bin/env bash
# brulee's main job in one minute: build the tiny zoo, serve it with a memory budget smaller
# than the zoo, send a burst of requests across the models, and show what was loaded, what
# was evicted and how long the requests took.
#   scripts/demo.sh [BUILD_DIR]        (default build/release; needs the brulee binary built)
# Environment: MEMORY (default 1536KiB: about half of what the five ONNX tiny models measure
#              once loaded), POLICY (cremebrulee),
#              REQUESTS (200), CONCURRENCY (16), ZOO (BUILD_DIR/demo_zoo)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
brulee=$build/brulee
zoo=${ZOO:-$build/demo_zoo}
memory=${MEMORY:-1536KiB}
policy=${POLICY:-cremebrulee}
requests=${REQUESTS:-200}
concurrency=${CONCURRENCY:-16}
python=/usr/bin/python3
[[ -x $brulee ]] || { echo "demo: $brulee not found; build first (cmake --preset release && cmake --build build/release)" >&2; exit 2; }

if [[ ! -d $zoo ]]; then
  echo "== building the tiny zoo (ONNX) in $zoo"
  "$brulee" zoo --tiny --format onnx --out "$zoo" | tail -1
fi

log=$(mktemp /tmp/brulee_demo.XXXXXX.log)
out=$(mktemp /tmp/brulee_demo.XXXXXX.out)
"$brulee" serve --repo "$zoo" --port 0 --grpc-port 0 --memory "$memory" --policy "$policy" >"$out" 2>"$log" &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -f "$out"; }
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
address=$(sed -n 's/^listening on //p' "$out")
[[ -n $address ]] || { echo "demo: the server did not start:" >&2; cat "$log" >&2; exit 1; }
echo "== brulee serve on $address: $(grep -m 1 -o 'models=.*' "$log")"

echo "== burst: $requests requests across every model, $concurrency at a time"
"$python" - "$zoo" "$address" "$requests" "$concurrency" <<'PY'
import concurrent.futures, json, os, random, sys, time, urllib.request, urllib.error
zoo, address, requests, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bodies = {}
for name in sorted(os.listdir(zoo)):
    config = os.path.join(zoo, name, "config.json")
    if not os.path.isfile(config):
        continue
    inputs = []
    for spec in json.load(open(config))["inputs"]:
        shape = [max(1, d) for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        inputs.append({"name": spec["name"], "shape": shape, "datatype": spec["dtype"],
                       "data": [round(random.random(), 3) for _ in range(count)]})
    bodies[name] = json.dumps({"inputs": inputs}).encode()
names = sorted(bodies)
random.seed(1)
# Zipf-like popularity: a few hot models, a long tail.
weights = [1.0 / (rank + 1) for rank in range(len(names))]
stream = random.choices(names, weights=weights, k=requests)
def send(name):
    request = urllib.request.Request(f"http://{address}/v2/models/{name}/infer", data=bodies[name],
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            answer = json.load(response)
            status = response.status
    except urllib.error.HTTPError as error:
        answer, status = {}, error.code
    return name, status, time.perf_counter() - start, answer.get("parameters", {})
start = time.perf_counter()
with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
    results = list(pool.map(send, stream))
wall = time.perf_counter() - start
def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))] * 1e3 if values else 0.0
ok = [r for r in results if r[1] == 200]
hits = [r for r in ok if r[3].get("hit")]
misses = [r for r in ok if not r[3].get("hit")]
print(f"   {len(ok)}/{len(results)} answered 200 in {wall:.2f} s; {len(hits)} hits, {len(misses)} misses")
print(f"   {'':8} {'count':>6} {'p50 ms':>9} {'p99 ms':>9}")
for label, group in (("all", ok), ("hits", hits), ("misses", misses)):
    lat = [r[2] for r in group]
    print(f"   {label:8} {len(lat):6d} {pct(lat, 0.5):9.2f} {pct(lat, 0.99):9.2f}")
print(f"   {'model':22} {'requests':>8} {'p50 ms':>9}")
for name in names:
    lat = [r[2] for r in ok if r[0] == name]
    print(f"   {name:22} {len(lat):8d} {pct(lat, 0.5):9.2f}")
PY

echo "== what the server loaded and evicted (its log)"
grep -E " (loaded|evicted|load failed) " "$log" | sed -E 's/^[^ ]+ //' | awk 'NR <= 40'  # reads it all: no SIGPIPE under pipefail
echo "   ... $(grep -c ' loaded ' "$log") loads, $(grep -c ' evicted ' "$log") evictions"
echo "== cache now (GET /v2/cache)"
"$python" - "$address" <<'PY'
import json, sys, urllib.request
cache = json.load(urllib.request.urlopen(f"http://{sys.argv[1]}/v2/cache"))
print(f"   policy {cache['policy']}, {cache['used_bytes']} of {cache['capacity_bytes']} bytes in use")
for m in cache["models"]:
    print(f"   {m['name']:22} {m['state']:8} {m['resident_bytes']:>9} B  loads {m['loads']:3d}"
          f"  evictions {m['evictions']:3d}  hits {m['hits']:4d}  misses {m['misses']:3d}")
PY
kill -TERM "$server"
wait "$server" || true
echo "== server stopped on SIGTERM: $(tail -2 "$log" | sed -E 's/^[^ ]+ //' | tr '\n' ' ')"
rm -f "$log"
