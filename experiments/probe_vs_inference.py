#!/usr/bin/python3
"""Does the speed probe see what slows the server's inferences? Side by side for a while.

Starts `brulee serve` (one execution thread, one intra-op thread, as the testbeds run it) on a
zoo, makes each named model resident, then for SECONDS: every second one inference of each model
(the server's own exec_s of the answer, a hit) while bench/runtime/speed_probe samples every
second beside it. Both are cut into windows of WINDOW seconds and compared per window: the
correlation of each model's median exec time with the probe's median chase and compute times
and with the load average, and how far each model's exec time is from its median over the whole
span, as it is and divided by the probe's ratio to its own median (what the testbed's
--machine-speed resimulation does). docs/fidelity.md, "The machine's speed, probed".

usage: probe_vs_inference.py --repo ZOO --models A,B,C [--brulee BINARY] [--probe BINARY]
                             [--seconds 900] [--window 15] [--out SAMPLES_PREFIX]
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import infer, json_body, start_server  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--models", required=True)
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--probe", default="build/release/bench/runtime/speed_probe")
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--window", type=float, default=15)
    parser.add_argument("--out", help="keep the samples in OUT.infer.jsonl and OUT.probe")
    args = parser.parse_args()
    models = args.models.split(",")
    prefix = args.out or f"/tmp/probe_vs_inference.{os.getpid()}"
    server, port = start_server(args.brulee, args.repo)
    probe = None
    try:
        bodies = {model: json_body(args.repo, model) for model in models}

        def infer_one(model):
            parameters = infer(port, model, bodies[model])
            return parameters["exec_s"] if parameters["hit"] else None

        for model in models:  # resident, and past the first inferences
            for _ in range(3):
                infer_one(model)
        probe = subprocess.Popen([args.probe, "--every", "1"], stdout=open(prefix + ".probe", "w"),
                                 stderr=subprocess.DEVNULL)
        with open(prefix + ".infer.jsonl", "w") as out:
            end = time.time() + args.seconds
            while time.time() < end:
                begin = time.time()
                row = {"t": begin, "load": float(open("/proc/loadavg").read().split()[0])}
                for model in models:
                    row[model] = infer_one(model)
                out.write(json.dumps(row) + "\n")
                out.flush()
                time.sleep(max(0.0, 1.0 - (time.time() - begin)))
    finally:
        if probe:
            probe.terminate()
            probe.wait()
        server.terminate()
        server.wait()
    report(prefix, models, args.window)


def report(prefix, models, window):
    rows = [json.loads(line) for line in open(prefix + ".infer.jsonl")]
    probes = [[float(x) for x in line.split()] for line in open(prefix + ".probe")
              if len(line.split()) == 3]
    start = rows[0]["t"]
    bins = {}
    for row in rows:
        b = bins.setdefault(int((row["t"] - start) // window), {"load": []})
        b["load"].append(row["load"])
        for model in models:
            if row[model] is not None:
                b.setdefault(model, []).append(row[model])
    for t, memory_ms, compute_ms in probes:
        if t >= start:
            b = bins.setdefault(int((t - start) // window), {"load": []})
            b.setdefault("memory_ms", []).append(memory_ms)
            b.setdefault("compute_ms", []).append(compute_ms)
    keys = models + ["memory_ms", "compute_ms", "load"]
    # Whole windows only, with every series in them.
    windows = [{k: statistics.median(b[k]) for k in keys} for _, b in sorted(bins.items())
               if all(b.get(k) for k in keys)][:-1]
    print(f"{len(rows)} rounds, {len(probes)} probe samples, {len(windows)} windows of {window:g} s")
    for k in keys:
        values = [w[k] for w in windows]
        low, high = min(values), max(values)
        spread = f"{high / low:.2f}" if low > 0 else "-"
        print(f"  {k:24s} window medians {low:.4g} .. {high:.4g} (max/min {spread})")
    probe_median = statistics.median(w["memory_ms"] for w in windows)
    for model in models:
        series = [w[model] for w in windows]
        corr = {k: statistics.correlation(series, [w[k] for w in windows])
                for k in ("memory_ms", "compute_ms", "load")}
        print(f"  {model}: correlation with the chase {corr['memory_ms']:+.2f}, compute "
              f"{corr['compute_ms']:+.2f}, load average {corr['load']:+.2f}")
        median = statistics.median(series)
        plain = [abs(x / median - 1) for x in series]
        probed = [abs(x / (median * w["memory_ms"] / probe_median) - 1)
                  for x, w in zip(series, windows)]
        for label, errors in (("as it is", plain), ("over the probe's ratio", probed)):
            errors = sorted(errors)
            print(f"    off its median, {label}: median {100 * statistics.median(errors):.1f}%, "
                  f"90th percentile {100 * errors[int(0.9 * (len(errors) - 1))]:.1f}%, "
                  f"max {100 * errors[-1]:.1f}%")
    # Log-log slope of exec on the chase: 1 = proportional.
    for model in models:
        xs = [math.log(w["memory_ms"] / probe_median) for w in windows]
        ys = [math.log(w[model] / statistics.median(v[model] for v in windows)) for w in windows]
        print(f"  {model}: exec ~ chase^{statistics.linear_regression(xs, ys).slope:.2f}")


if __name__ == "__main__":
    main()
