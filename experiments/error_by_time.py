#!/usr/bin/env python3
"""Where in a run the simulator's error lies: a finished testbed split at a time.

Usage: experiments/error_by_time.py OUT [--split SECONDS]

For each policy of a testbed (`experiments/testbed.sh --out OUT`), the requests the server
answered (OUT/runs/POLICY.rN.replay.csv) are joined with the simulator's
(OUT/runs/POLICY.rN.sim.csv) on the request index and split by the request's time in the trace:
before SECONDS (default 10: the cold start, while every model is loaded for the first time) and
after. Prints, per policy and part, the requests, mean latency, queue delay and load delay on
both sides (server / simulator, ms) and the simulator's error, means over the runs present
(docs/fidelity.md, "The first loads' isolation").
"""
import argparse
import collections
import csv
import glob
import os
import re


def read(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def error(sim, server):
    return f"{100 * (sim - server) / server:+.0f}%" if server else "-"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--split", type=float, default=10.0)
    args = parser.parse_args()
    keys = ("latency_s", "queue_delay_s", "load_delay_s")
    # (policy, part) -> per run, per key, the mean on each side; and the request counts
    runs = collections.defaultdict(list)
    for replay_path in sorted(glob.glob(os.path.join(args.out, "runs", "*.replay.csv"))):
        match = re.match(r"(.+)\.r(\d+)\.replay\.csv$", os.path.basename(replay_path))
        if not match:
            continue
        sim_path = replay_path[: -len(".replay.csv")] + ".sim.csv"
        if not os.path.exists(sim_path):
            continue
        served = {int(r["index"]): r for r in read(replay_path) if r["status"] == "200"}
        simulated = {int(r["index"]): r for r in read(sim_path)}
        if not simulated:
            continue
        t0 = min(float(r["arrival_s"]) for r in simulated.values())
        parts = {"before": [], "after": []}
        for index in sorted(served.keys() & simulated.keys()):
            time_s = float(simulated[index]["arrival_s"]) - t0
            parts["before" if time_s < args.split else "after"].append(index)
        for part, indices in parts.items():
            if not indices:
                continue
            figures = {k: (mean([float(served[i][k]) for i in indices]),
                           mean([float(simulated[i][k]) for i in indices])) for k in keys}
            runs[(match.group(1), part)].append((len(indices), figures))
    print(f"split at {args.split:g} s of the trace; server / simulator, ms; means over runs")
    print("| policy | part | runs | requests | latency | err | queue | load delay | err |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (policy, part), entries in sorted(runs.items(), key=lambda e: (e[0][0], e[0][1] != "before")):
        n = mean([e[0] for e in entries])
        avg = {k: (mean([e[1][k][0] for e in entries]), mean([e[1][k][1] for e in entries]))
               for k in keys}
        lat, queue, load = avg["latency_s"], avg["queue_delay_s"], avg["load_delay_s"]
        print(f"| {policy} | {part} | {len(entries)} | {n:.0f} | {1e3 * lat[0]:.1f} / "
              f"{1e3 * lat[1]:.1f} | {error(lat[1], lat[0])} | {1e3 * queue[0]:.1f} / "
              f"{1e3 * queue[1]:.1f} | {1e3 * load[0]:.1f} / {1e3 * load[1]:.1f} | "
              f"{error(load[1], load[0])} |")


if __name__ == "__main__":
    main()
