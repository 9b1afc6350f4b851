#!/usr/bin/python3
"""A testbed's opening against the rest of its runs (docs/fidelity.md, "First loads beside
inferences").

Per run of OUT/runs/*.replay.csv: the server's mean latency over the requests that arrived in the
first SECONDS of the run (before any eviction every policy does the same work there) and over the
rest, and the simulator's over the same requests (the run's .sim.csv). Prints the spread of the
opening's means over the runs, the simulator's, and the share of the variance of a run's mean
latency that the opening carries.

usage: opening.py OUT [SECONDS]   (default 12)
"""
import csv
import glob
import os
import statistics
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.strip().splitlines()[-1])
    out = sys.argv[1]
    cut = float(sys.argv[2]) if len(sys.argv) == 3 else 12.0
    opening, rest, whole, simulated = [], [], [], []
    first_share = None
    for replay in sorted(glob.glob(os.path.join(out, "runs", "*.replay.csv"))):
        rows = [r for r in csv.DictReader(open(replay)) if r["status"] == "200"]
        if not rows:
            continue
        t0 = min(float(r["arrival_s"]) for r in rows)
        early = [r for r in rows if float(r["arrival_s"]) - t0 < cut]
        late = [r for r in rows if float(r["arrival_s"]) - t0 >= cut]
        if not early or not late:
            continue
        sim = {r["index"]: r for r in csv.DictReader(open(replay.replace(".replay.csv", ".sim.csv")))}
        opening.append(statistics.mean(float(r["latency_s"]) for r in early))
        rest.append(statistics.mean(float(r["latency_s"]) for r in late))
        whole.append(statistics.mean(float(r["latency_s"]) for r in rows))
        simulated.append(statistics.mean(float(sim[r["index"]]["latency_s"]) for r in early
                                         if r["index"] in sim))
        first_share = len(early) / len(rows)
    if len(opening) < 2:
        sys.exit(f"opening.py: fewer than two runs in {out}/runs")
    cv = statistics.stdev(opening) / statistics.mean(opening)
    share = statistics.variance([o * first_share for o in opening]) / statistics.variance(whole)
    print(f"{out}: {len(opening)} runs; the first {cut:g} s hold {100 * first_share:.0f}% of "
          f"the requests")
    print(f"  opening: server {1000 * statistics.mean(opening):.0f} ms a run "
          f"({1000 * min(opening):.0f}-{1000 * max(opening):.0f}, cv {cv:.2f}); simulator "
          f"{1000 * min(simulated):.0f}-{1000 * max(simulated):.0f} ms "
          f"(server over simulator {100 * (statistics.mean(opening) / statistics.mean(simulated) - 1):+.0f}%)")
    print(f"  the rest: server {1000 * statistics.mean(rest):.0f} ms a run "
          f"(cv {statistics.stdev(rest) / statistics.mean(rest):.2f}, policies differ there)")
    print(f"  the opening's share of the variance of a run's mean latency: {100 * share:.0f}%")


if __name__ == "__main__":
    main()
