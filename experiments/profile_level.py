#!/usr/bin/python3
"""How fast the servers of each testbed loaded, against how fast its profiles did.

For each testbed OUT (`experiments/testbed.sh`), the level of a set of loads is the geometric
mean over the zoo's models of their mean later load (a server's loads after its first of each
model, from `loaded ... seconds=` in OUT/runs/*.server.log; a profile's `load_latency_s`),
divided by the same figure of the first testbed named, model by model. Printed per testbed: the
servers' level over all runs, and the level of each profile (the first, then one after each
round). Then, per profile taken between two rounds (and the first, before the first two runs),
its loads over the spread catalog's beside the two runs around it (each run's geometric mean of
later load / spread figure), and the correlation of the two over all testbeds: how well a profile
taken at a run's minutes tells that run's speed (docs/fidelity.md, "The profile's minutes").
Testbeds must share one zoo's model names; only those with OUT/catalog.spread.json take part in
the second part.

usage: profile_level.py OUT [OUT ...]
"""
import glob
import json
import math
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from own_costs import LOADED  # noqa: E402

RUN = re.compile(r"run (\d+)/\d+, (\S+): serve \+ replay")


def catalog(path):
    doc = json.load(open(path))
    return {m["name"]: m for m in doc.get("models", doc)}


def later_loads(server_log):
    """Each model's loads after its first in one server's log."""
    loads, seen = {}, set()
    for line in open(server_log):
        match = LOADED.search(line)
        if not match:
            continue
        name = match.group(1)
        if name in seen:
            loads.setdefault(name, []).append(float(match.group(3)))
        seen.add(name)
    return loads


def geomean(values):
    return math.exp(statistics.mean(math.log(v) for v in values))


def run_load_speed(out, tag, spread):
    """One run's load speed: the geometric mean over its server's later loads of load / the
    spread catalog's figure for the model."""
    log = os.path.join(out, "runs", f"{tag}.server.log")
    return geomean(v / spread[n]["load_latency_s"]
                   for n, values in later_loads(log).items() for v in values if n in spread)


def profiles(out):
    """(label, catalog) of the first profile and of one after each round, in order."""
    found = [("first", catalog(os.path.join(out, "catalog.json")))]
    for path in sorted(glob.glob(os.path.join(out, "catalog.after*.json"))):
        found.append((os.path.basename(path)[len("catalog."):-len(".json")], catalog(path)))
    return found


def run_order(out):
    """The runs' tags (policy.r<k>) in the order the testbed ran them, from OUT.log (a run
    repeated as busy, RETRY_BUSY, counts where it last ran: its files are that run's)."""
    log = out.rstrip("/") + ".log"
    if not os.path.exists(log):
        return []
    tags = [f"{m.group(2)}.r{m.group(1)}" for m in map(RUN.search, open(log)) if m]
    return [tag for i, tag in enumerate(tags) if tag not in tags[i + 1:]]


def correlation(xs, ys):
    mx, my = statistics.mean(xs), statistics.mean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return sxy / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


def main():
    outs = sys.argv[1:]
    if not outs:
        sys.exit(__doc__.strip().splitlines()[-1])
    reference = None
    print("| testbed | servers' level (runs) | profiles' levels |")
    print("|---|---|---|")
    for out in outs:
        pooled = {}
        logs = sorted(glob.glob(os.path.join(out, "runs", "*.server.log")))
        for log in logs:
            for name, values in later_loads(log).items():
                pooled.setdefault(name, []).extend(values)
        means = {name: statistics.mean(values) for name, values in pooled.items()}
        if reference is None:
            reference = means
        names = sorted(set(means) & set(reference))
        level = geomean(means[n] / reference[n] for n in names)
        cells = ", ".join(f"{label} {geomean(c[n]['load_latency_s'] / reference[n] for n in names):.3f}"
                          for label, c in profiles(out))
        print(f"| {os.path.basename(out.rstrip('/'))} | {level:.3f} ({len(logs)}) | {cells} |")

    xs, ys = [], []
    print()
    print("| testbed | profile | its loads / spread | runs around it, loads / spread |")
    print("|---|---|---|---|")
    for out in outs:
        spread_path = os.path.join(out, "catalog.spread.json")
        tags = run_order(out)
        if not os.path.exists(spread_path) or not tags:
            continue
        spread = catalog(spread_path)
        per_round = len(tags) // 3 if len(tags) >= 3 else len(tags)
        for index, (label, c) in enumerate(profiles(out)):
            # The first profile ran before runs 0 and 1; the one after round k between the last
            # run of round k and the first of round k+1 (none after the last round).
            around = (0, 1) if index == 0 else (index * per_round - 1, index * per_round)
            if around[1] >= len(tags):
                continue
            names = [n for n in spread if n in c]
            mine = geomean(c[n]["load_latency_s"] / spread[n]["load_latency_s"] for n in names)
            speeds = [run_load_speed(out, tags[i], spread) for i in around]
            xs.append(math.log(mine))
            ys.append(math.log(geomean(speeds)))
            print(f"| {os.path.basename(out.rstrip('/'))} | {label} | {mine:.3f} | "
                  f"{speeds[0]:.3f}, {speeds[1]:.3f} |")
    if len(xs) >= 3:
        print(f"\ncorrelation of log(profile / spread) with log(runs around it / spread): "
              f"{correlation(xs, ys):+.2f} over {len(xs)} profiles")


if __name__ == "__main__":
    main()
