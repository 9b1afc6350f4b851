#!/usr/bin/env python3
"""Where the cremebrulee -> oracle gap lies: load delay by kind of request.

Usage: experiments/gap_by_kind.py TRACE.csv OUTCOMES.csv [OUTCOMES.csv ...]

TRACE.csv is the trace as CSV (`brulee workload convert T.bin T.csv`); each OUTCOMES.csv is a
`brulee simulate ... --requests-out` file of one policy on that trace. A request is "first" (its
model's first request: no policy can avoid that load), "periodic" (its model's gaps all lie
within 2.5% of their mean, with 3 or more requests: a timer model of `synth --timers`), or
"other". Prints the total load delay (s) and misses of each kind, per outcomes file.
"""
import collections
import csv
import sys


def periodic_models(trace_path):
    times = collections.defaultdict(list)
    with open(trace_path, newline="") as f:
        for row in csv.DictReader(f):
            times[row["model"]].append(float(row["time_s"]))
    periodic = set()
    for model, t in times.items():
        if len(t) < 3:
            continue
        gaps = [b - a for a, b in zip(t, t[1:])]
        mean = sum(gaps) / len(gaps)
        if mean > 0 and max(abs(g - mean) for g in gaps) <= 0.025 * mean:
            periodic.add(model)
    return periodic


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    periodic = periodic_models(sys.argv[1])
    print(f"periodic models: {len(periodic)}")
    print("| outcomes | first: delay (s) / misses | periodic | other | total delay (s) |")
    print("|---|---|---|---|---|")
    for path in sys.argv[2:]:
        delay = collections.Counter()
        misses = collections.Counter()
        seen = set()
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                model = row["model"]
                kind = "periodic" if model in periodic else "other"
                if model not in seen:
                    seen.add(model)
                    kind = "first"
                delay[kind] += float(row["load_delay_s"])
                misses[kind] += row["hit"] == "0"
        cells = " | ".join(f"{delay[k]:.0f} / {misses[k]}" for k in ("first", "periodic", "other"))
        print(f"| {path} | {cells} | {sum(delay.values()):.0f} |")


if __name__ == "__main__":
    main()
