#!/usr/bin/python3
"""The hypervisor's steal during each testbed run, against the run's speed, and what leaving the
stolen runs out of a testbed's means would do to the simulator's error.

For each testbed OUT (`experiments/testbed.sh`, which records each run's steal share in
OUT/runs.csv): first, over every run of the testbeds that have OUT/catalog.spread.json, the
correlation of the steal share with log(the run's load speed / its testbed's median run), the
load speed being the geometric mean of its server's later loads over the spread catalog's
figures (profile_level.py); and the median speed of the runs by steal class. Second, per
testbed, the count of issue 15's 21 bounds met (hit ratio within 0.02, mean load delay and
mean latency within 10%) over all runs and over the runs whose steal was under 2%, 1% and 0.5%
(the simulated figure of a run as the testbed takes it, testbed_report.simulated). See
docs/fidelity.md, "The profile's minutes".

usage: steal_vs_speed.py OUT [OUT ...]
"""
import csv
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_level  # noqa: E402
import testbed_report  # noqa: E402

LIMITS = (None, 0.02, 0.01, 0.005)
CLASSES = ((0.0, 0.005), (0.005, 0.02), (0.02, 0.04), (0.04, 1.01))


def runs_of(out):
    return list(csv.DictReader(open(os.path.join(out, "runs.csv"))))


def speeds(out):
    """(steal share, load speed / the testbed's median run) of each run."""
    spread = profile_level.catalog(os.path.join(out, "catalog.spread.json"))
    found = [(float(row["steal_share"]),
              profile_level.run_load_speed(out, f"{row['policy']}.r{row['run']}", spread))
             for row in runs_of(out)]
    middle = statistics.median(speed for _, speed in found)
    return [(steal, speed / middle) for steal, speed in found]


def measured_runs(out):
    """{policy: [(steal share, the server's metrics, the simulator's)]} of one testbed."""
    per_policy = {}
    for row in runs_of(out):
        tag = f"{row['policy']}.r{row['run']}"
        per_policy.setdefault(row["policy"], []).append(
            (float(row["steal_share"]),
             testbed_report.measure(os.path.join(out, "runs", f"{tag}.replay.csv")),
             testbed_report.simulated(out, tag, "sim")))
    return per_policy


def bounds_met(per_policy, limit):
    """(bounds met, bounds counted, runs left out) over the runs with steal under limit."""
    met = counted = dropped = 0
    for runs in per_policy.values():
        kept = [r for r in runs if limit is None or r[0] < limit]
        dropped += len(runs) - len(kept)
        if not kept:
            continue
        for key, kind, bound in testbed_report.BOUNDS:
            served = statistics.mean(r[1][key] for r in kept)
            simulated = statistics.mean(r[2][key] for r in kept)
            met += testbed_report.within(simulated, served, kind, bound)
            counted += 1
    return met, counted, dropped


def main():
    outs = sys.argv[1:]
    if not outs:
        sys.exit(__doc__.strip().splitlines()[-1])
    pairs = [p for out in outs if os.path.exists(os.path.join(out, "catalog.spread.json"))
             for p in speeds(out)]
    if len(pairs) >= 3:
        steal = [s for s, _ in pairs]
        slow = [math.log(v) for _, v in pairs]
        print(f"{len(pairs)} runs: correlation of steal with log(load speed / testbed median) "
              f"{profile_level.correlation(steal, slow):+.2f}")
        for low, high in CLASSES:
            chosen = [v for s, v in pairs if low <= s < high]
            if chosen:
                print(f"  steal {100 * low:g}-{100 * min(high, 1.0):g}%: {len(chosen)} runs, median "
                      f"{statistics.median(chosen):.3f}x (range {min(chosen):.2f}-{max(chosen):.2f})")
    print()
    print("| testbed | all runs | steal < 2% | < 1% | < 0.5% |")
    print("|---|---|---|---|---|")
    for out in outs:
        per_policy = measured_runs(out)  # read once: the limits only choose among the runs
        cells = []
        for limit in LIMITS:
            met, counted, dropped = bounds_met(per_policy, limit)
            cells.append(f"{met}/{counted}" + (f" ({dropped} out)" if dropped else ""))
        print(f"| {os.path.basename(out.rstrip('/'))} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
