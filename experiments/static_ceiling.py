#!/usr/bin/python3
"""What any policy that does not see the future could save, on a trace of independent requests.

Usage: experiments/static_ceiling.py TRACE.csv CATALOG.json SWEEP.csv [--policy NAME] [--units K]

When requests are independent draws (the independent reference model: each model a Poisson
process of its own rate, as `brulee workload synth` makes them with Poisson arrivals), a policy
that knows every model's rate and may load and unload for free between requests does best by
holding, before every request, the set S of models that fits in memory and maximises the sum of
rate x load cost: a request then costs its load cost when its model is outside S, and each
request is drawn independently of what came before, so no other choice before it can expect to
cost less. Over a trace, with each model's count n_i as its rate, that policy's load cost is the sum over
models outside S of n_i x c_i ("first loads free": it loads S before the first request). A policy
that may load a model only once the model has been requested (the most it can know of a model
nobody has requested yet is what the catalog says) does best, by the same argument, holding
before each request the best set among the models requested so far ("first loads paid": each
model's first request is a load, and the set is chosen again at each model's first request).
Both are computed from the trace. A policy that learns the rates online, or pays for its loads
outside the requests' time, can only expect to do worse, so the ratio of such a cost to a
policy's is a ceiling, in expectation, on what prefetching or any other online rule could save on
top of that policy: the first with loads before a model's first request, the second without. It
holds for independent requests only: on/off and periodic arrivals carry information in their
timing, which a policy can use and this ceiling does not count.

The knapsack is solved by dynamic programming with every size rounded down to a multiple of
memory / K: the optimistic side (the set may overfill memory by a little), so each ceiling is at
most the exact one.

TRACE.csv is the trace as CSV (`brulee workload convert T.bin T.csv`), CATALOG.json its catalog,
SWEEP.csv the `--csv` of `brulee simulate --sweep` over that trace (`load_cost_s` and
`memory_bytes` per policy and memory size; pure cache mode, `--no-queueing`, for the cost the
ceiling is computed in).
"""
import argparse
import csv
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exact_optimum import read_catalog, read_trace  # noqa: E402


def best_set(items, values, sizes, memory, units):
    """The items of most total value whose sizes, rounded down to memory / units, fit."""
    unit = memory / units
    best = np.zeros(units + 1)
    taken = []  # per item considered: where it improved the best value
    for i in items:
        w = int(sizes[i] // unit)
        if values[i] <= 0.0 or w > units:
            continue
        if w == 0:
            best += values[i]
            taken.append((i, w, None))
            continue
        candidate = best[:-w] + values[i]
        better = candidate > best[w:]
        best[w:] = np.where(better, candidate, best[w:])
        taken.append((i, w, better))
    chosen = set()
    room = units
    for i, w, better in reversed(taken):
        if better is None:
            chosen.add(i)
        elif room >= w and better[room - w]:
            chosen.add(i)
            room -= w
    return chosen


def cost_first_loads_paid(trace, values, sizes, costs, memory, units):
    """Load cost of holding, before each request, the best set among models requested so far."""
    seen = [False] * len(costs)
    requested = []
    held = set()
    cost = 0.0
    for m in trace:
        if not seen[m]:  # its first request: a load, and the best set is chosen again
            seen[m] = True
            requested.append(m)
            cost += costs[m]
            held = best_set(requested, values, sizes, memory, units)
        elif m not in held:
            cost += costs[m]
    return cost


def saving(ceiling, cost):
    return f"{(ceiling / cost - 1) * 100:+.1f}%" if cost > 0 else "no load cost"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace")
    parser.add_argument("catalog")
    parser.add_argument("sweep")
    parser.add_argument("--policy", default="cremebrulee")
    parser.add_argument("--units", type=int, default=20000)
    args = parser.parse_args()
    if args.units < 1:
        parser.error("--units must be at least 1")
    names, sizes, costs = read_catalog(args.catalog)
    trace = read_trace(args.trace, names)
    counts = np.bincount(np.array(trace, dtype=np.int64), minlength=len(names))
    values = [float(n) * c for n, c in zip(counts, costs)]
    total = sum(values)
    rows = [r for r in csv.DictReader(open(args.sweep)) if r["policy"] == args.policy]
    if not rows:
        raise SystemExit(f"{args.sweep}: no rows of policy {args.policy!r}")
    for row in rows:
        if int(row["requests"]) != len(trace):
            raise SystemExit(f"{args.sweep}: {row['requests']} requests, but {args.trace} has "
                             f"{len(trace)}: not a sweep of this trace")
    print(f"| memory | {args.policy} load cost (s) | ceiling, first loads free (s) | saving | "
          f"ceiling, first loads paid (s) | saving |")
    print("|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: float(r["memory_fraction"])):
        memory = int(row["memory_bytes"])
        cost = float(row["load_cost_s"])
        held = best_set(range(len(names)), values, sizes, memory, args.units)
        free = total - sum(values[i] for i in held)
        paid = cost_first_loads_paid(trace, values, sizes, costs, memory, args.units)
        print(f"| {float(row['memory_fraction']) * 100:.0f}% | {cost:.1f} | {free:.1f} | "
              f"{saving(free, cost)} | {paid:.1f} | {saving(paid, cost)} |")


if __name__ == "__main__":
    main()
