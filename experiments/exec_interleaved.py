#!/usr/bin/python3
"""A server's inferences back to back against between other models' (docs/fidelity.md).

Starts `brulee serve` (one execution thread, one intra-op thread, as the testbeds run it) on a
zoo with every named model resident, then for SECONDS, round after round, for each model in
turn: one untimed inference and 3 timed back to back, then 3 cycles through all the models
(its 3 inferences there timed, each after one of every other model). The server's own exec_s of
each answer is the time. Prints per model the medians both ways and the median over rounds of
the ratio (between others' / back to back): what a profile that times inferences back to back
misses in a serving cache, where other models run between two requests of one.

usage: exec_interleaved.py --repo ZOO --models A,B,... [--brulee BINARY] [--seconds 240]
"""
import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import urllib.request


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--seconds", type=float, default=240)
    args = parser.parse_args()
    models = args.models.split(",")
    if len(models) < 2:
        sys.exit("exec_interleaved.py: name two models or more")
    server = subprocess.Popen([args.brulee, "serve", "--repo", args.repo, "--port", "0",
                               "--grpc-port", "-1", "--memory", "100%", "--exec-threads", "1",
                               "--intra-op-threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on 127.0.0.1:"):
            sys.exit(f"exec_interleaved.py: the server did not start: {line!r}")
        port = int(line.split(":")[-1])
        random.seed(1)
        bodies = {}
        for model in models:
            config = json.load(open(f"{args.repo}/{model}/config.json"))
            inputs = []
            for spec in config["inputs"]:
                shape = [1 if d < 0 else d for d in spec["shape"]]
                count = 1
                for d in shape:
                    count *= d
                inputs.append({"name": spec["name"], "datatype": spec["dtype"], "shape": shape,
                               "data": [round(random.random(), 3) for _ in range(count)]})
            bodies[model] = json.dumps({"inputs": inputs}).encode()

        def infer(model):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v2/models/{model}/infer", data=bodies[model],
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as answer:
                return json.load(answer)["parameters"]["exec_s"]

        for model in models:
            for _ in range(3):
                infer(model)
        alone = {m: [] for m in models}
        between = {m: [] for m in models}
        ratios = {m: [] for m in models}
        end = time.time() + args.seconds
        while time.time() < end:
            for model in models:
                infer(model)
                b2b = [infer(model) for _ in range(3)]
                cycled = []
                for _ in range(3):
                    for other in models:
                        took = infer(other)
                        if other == model:
                            cycled.append(took)
                alone[model] += b2b
                between[model] += cycled
                ratios[model].append(statistics.median(cycled) / statistics.median(b2b))
    finally:
        server.terminate()
        server.wait()
    for model in models:
        print(f"{model}: back to back {1e3 * statistics.median(alone[model]):.2f} ms, between "
              f"others' {1e3 * statistics.median(between[model]):.2f} ms; per round "
              f"{statistics.median(ratios[model]):.3f}x (min {min(ratios[model]):.3f}, max "
              f"{max(ratios[model]):.3f}, {len(ratios[model])} rounds)")


if __name__ == "__main__":
    main()
