#!/usr/bin/python3
"""Each testbed run's speed against its profile, beside the simulator's error on that run.

Usage: experiments/speed_vs_error.py OUT [OUT ...]

For every run of each testbed OUT (`experiments/testbed.sh`, which leaves runs/<tag>.replay.csv,
.sim.csv, .own.catalog.json and .own.sim.csv), prints how long its server's inferences and loads
took against the profile it was simulated with (own_costs.run_speed: 1.00 = as profiled), and the
error of the simulated mean latency with the profile and with the run's own costs; then the
errors grouped by how far the run's inferences or loads (the larger) were from the profile's. A run far from 1.00
ran on a machine the profile does not describe (docs/fidelity.md, "Each run's speed against its
profile").
"""
import csv
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed_report  # noqa: E402


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[2])
    runs = []
    print("| testbed | run | exec vs profile | load vs profile | latency err, profile | own costs |")
    print("|---|---|---|---|---|---|")
    for out in sys.argv[1:]:
        for r in csv.DictReader(open(os.path.join(out, "runs.csv"))):
            exec_speed, load_speed = testbed_report.speed_of(out, r["policy"], r["run"])
            tag = os.path.join(out, "runs", f"{r['policy']}.r{r['run']}")
            if exec_speed is None or not os.path.exists(tag + ".own.sim.csv"):
                continue
            real = testbed_report.measure(tag + ".replay.csv")["latency_mean_s"]
            sim = testbed_report.measure(tag + ".sim.csv")["latency_mean_s"]
            own = testbed_report.measure(tag + ".own.sim.csv")["latency_mean_s"]
            # How far from the profile: the larger of the two departures.
            off = max(abs(exec_speed - 1), abs(load_speed - 1) if load_speed is not None else 0)
            runs.append((exec_speed, sim / real - 1, own / real - 1, off))
            load = "-" if load_speed is None else f"{load_speed:.2f}"
            print(f"| {os.path.basename(out.rstrip('/'))} | {r['policy']}.r{r['run']} "
                  f"| {exec_speed:.2f} | {load} | {100 * (sim / real - 1):+.0f}% "
                  f"| {100 * (own / real - 1):+.0f}% |")
    if len(runs) < 2:
        return
    print(f"\n{len(runs)} runs; exec vs profile {min(r[0] for r in runs):.2f}-"
          f"{max(r[0] for r in runs):.2f}, median {statistics.median(r[0] for r in runs):.2f}")
    print("\n| exec or load vs profile off by (the larger) | runs | latency err with the profile: median, max "
          "| with own costs: median, max |")
    print("|---|---|---|---|")
    for low, high in ((0, 0.05), (0.05, 0.10), (0.10, 0.20), (0.20, math.inf)):
        group = [r for r in runs if low <= r[3] < high]
        if not group:
            continue
        errs = [abs(r[1]) for r in group]
        owns = [abs(r[2]) for r in group]
        label = f"{100 * low:.0f}-{100 * high:.0f}%" if high < math.inf else f">= {100 * low:.0f}%"
        print(f"| {label} | {len(group)} | {100 * statistics.median(errs):.0f}%, {100 * max(errs):.0f}% "
              f"| {100 * statistics.median(owns):.0f}%, {100 * max(owns):.0f}% |")
    try:
        r = statistics.correlation([r[0] for r in runs], [r[1] for r in runs])
        print(f"\ncorrelation of exec vs profile with the latency error: {r:.2f}")
    except statistics.StatisticsError:  # a constant column
        pass


if __name__ == "__main__":
    main()
