#!/usr/bin/python3
"""A server's loads with and without light traffic, in one server, periods interleaved
(docs/fidelity.md, "The profile's loads against a server's, at the same minutes").

One `brulee serve` (one loader, one execution and one intra-op thread, room for every model)
holds a small model resident; the other models are loaded over the repository API in a serving
cache's order (a random model not resident; random resident ones unloaded first beyond half of
them), 12 loads a period. Each round runs three periods in random order:
  none   nothing else is sent;
  meta   a client asks for the resident model's metadata every PERIOD seconds;
  infer  a client sends the resident model one inference every PERIOD seconds (binary input
         of zeros); loads that overlap one (its execution window, the answer's exec_s before
         the answer arrived) are left out.
The times are the server's (`loaded ... seconds=`) over the catalog's load_latency_s. Prints per
round the ratio of the period's median to the none period's, and their medians over rounds.

usage: load_beside_traffic.py --repo ZOO --catalog CATALOG [--brulee build/release/brulee]
                              [--resident squeezenet1_1-pt] [--rounds 10] [--period 1.0]
                              [--log /tmp/load_beside_traffic.log]
"""
import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_vs_served import LOADED, repository, served_load, start, stop  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--resident", default="squeezenet1_1-pt")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--log", default="/tmp/load_beside_traffic.log")
    args = parser.parse_args()
    profile = {m["name"]: m["load_latency_s"] for m in json.load(open(args.catalog))["models"]}
    models = sorted(d for d in os.listdir(args.repo) if d != args.resident
                    and os.path.exists(os.path.join(args.repo, d, "config.json")))
    server, port = start(args.brulee, [
        "--repo", args.repo, "--policy", "lru", "--memory", "100%", "--exec-threads", "1",
        "--loader-threads", "1", "--intra-op-threads", "1"], args.log)
    url = f"http://127.0.0.1:{port}"

    def post(model, action):
        repository(port, model, action)

    spec = json.load(open(os.path.join(args.repo, args.resident, "config.json")))["inputs"][0]
    shape = [1 if d < 0 else d for d in spec["shape"]]
    count = 1
    for d in shape:
        count *= d
    header = json.dumps({"inputs": [{"name": spec["name"], "datatype": spec["dtype"],
                                     "shape": shape,
                                     "parameters": {"binary_data_size": count * 4}}]}).encode()
    body = header + bytes(count * 4)  # FP32 zeros
    executions, lock, mode, done = [], threading.Lock(), {"now": "none"}, threading.Event()

    def client():
        while not done.is_set():
            began = time.monotonic()
            if mode["now"] == "infer":
                request = urllib.request.Request(
                    f"{url}/v2/models/{args.resident}/infer", data=body,
                    headers={"Inference-Header-Content-Length": str(len(header)),
                             "Content-Type": "application/octet-stream"})
                answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
                end = time.monotonic()
                with lock:
                    executions.append((end - answer["parameters"]["exec_s"] - 0.003, end))
            elif mode["now"] == "meta":
                urllib.request.urlopen(f"{url}/v2/models/{args.resident}", timeout=60).read()
            time.sleep(max(0.0, args.period - (time.monotonic() - began)))

    issued = []  # (mode, model, overlapped, round) of each timed load, in order
    try:
        post(args.resident, "load")
        for model in models:  # every model's first load out of the way
            post(model, "load")
            post(model, "unload")
        first = len(models) + 1
        thread = threading.Thread(target=client)
        thread.start()
        rng = random.Random(5)
        resident = []
        try:
            for r in range(args.rounds):
                for period in rng.sample(["none", "meta", "infer"], 3):
                    mode["now"] = period
                    time.sleep(0.5)
                    for _ in range(12):
                        model, began, end = served_load(port, models, resident, rng)
                        with lock:
                            overlapped = any(a < end and began < b for a, b in executions)
                        issued.append((period, model, overlapped, r))
                    mode["now"] = "none"
                print(f"round {r + 1}/{args.rounds}, load average "
                      f"{open('/proc/loadavg').read().split()[0]}", file=sys.stderr, flush=True)
        finally:
            done.set()
            thread.join()
    finally:
        stop(server)
    logged = [(m.group(1), float(m.group(2))) for m in map(LOADED.search, open(args.log)) if m]
    logged = logged[first:]
    if len(logged) != len(issued):
        sys.exit(f"load_beside_traffic.py: {len(logged)} loads logged for {len(issued)} asked")
    rounds = {}
    for (period, model, overlapped, r), (name, seconds) in zip(issued, logged):
        if name != model:
            sys.exit(f"load_beside_traffic.py: the log's load of {name} where {model} was asked")
        if not overlapped:
            rounds.setdefault(r, {}).setdefault(period, []).append(seconds / profile[model])
    ratios = {"meta": [], "infer": []}
    for r in sorted(rounds):
        base = statistics.median(rounds[r]["none"])
        for period in ratios:
            if rounds[r].get(period):
                ratios[period].append(statistics.median(rounds[r][period]) / base)
    for period, values in ratios.items():
        print(f"{period}/none per round: {' '.join(f'{v:.3f}' for v in values)}; median "
              f"{statistics.median(values):.3f}, above 1 in {sum(v > 1 for v in values)} of "
              f"{len(values)}")
    left = sum(1 for p, _, o, _ in issued if p == "infer" and o)
    print(f"infer loads left out (an inference beside them): {left} of "
          f"{sum(1 for p, *_ in issued if p == 'infer')}")


if __name__ == "__main__":
    main()
