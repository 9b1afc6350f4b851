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
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import infer, json_body, start_server  # noqa: E402


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
    server, port = start_server(args.brulee, args.repo)
    try:
        bodies = {model: json_body(args.repo, model) for model in models}

        def infer_one(model):
            return infer(port, model, bodies[model])["exec_s"]

        for model in models:
            for _ in range(3):
                infer_one(model)
        alone = {m: [] for m in models}
        between = {m: [] for m in models}
        ratios = {m: [] for m in models}
        end = time.time() + args.seconds
        while time.time() < end:
            for model in models:
                infer_one(model)
                b2b = [infer_one(model) for _ in range(3)]
                cycled = []
                for _ in range(3):
                    for other in models:
                        took = infer_one(other)
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
