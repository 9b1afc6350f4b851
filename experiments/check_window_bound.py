#!/usr/bin/python3
"""Checks experiments/window_bound.py against an exhaustive search on tiny random traces.

Usage: experiments/check_window_bound.py [--cases N] [--seed S]

For each case (2-6 models of random sizes and load costs, 6-16 requests, a memory that holds the
largest model): the exact optimum of demand loading by dynamic programming over every resident
set (after each request, any subset of what is resident that fits with the requested model), and
the window bound for every window length from 1 request to the whole trace. Fails unless every
window bound is at most the optimum and the one-window bound equals it. Needs CBC.
"""
import argparse
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from window_bound import window_bound  # noqa: E402


def exhaustive_optimum(trace, sizes, costs, memory):
    n_models = len(sizes)
    def size_of(mask):
        return sum(sizes[m] for m in range(n_models) if mask >> m & 1)
    best = {0: 0.0}  # resident set -> least cost so far
    for m in trace:
        following = {}
        for mask, cost in best.items():
            paid = cost if mask >> m & 1 else cost + costs[m]
            # Keep any subset of the resident set that fits beside m (evicting is free).
            sub = mask
            while True:
                kept = sub | (1 << m)
                if size_of(kept) <= memory and paid < following.get(kept, float("inf")):
                    following[kept] = paid
                if sub == 0:
                    break
                sub = (sub - 1) & mask
        best = following
    return min(best.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    checked = 0
    with tempfile.TemporaryDirectory(prefix="check_window_bound.") as workdir:
        for case in range(args.cases):
            n_models = rng.randint(2, 6)
            sizes = [rng.randint(1, 9) for _ in range(n_models)]
            costs = [float(rng.randint(1, 20)) for _ in range(n_models)]
            memory = rng.randint(max(sizes), sum(sizes))
            trace = [rng.randrange(n_models) for _ in range(rng.randint(6, 16))]
            optimum = exhaustive_optimum(trace, sizes, costs, memory)
            for window in range(1, len(trace) + 1):
                bound, _, stopped, _ = window_bound(trace, sizes, costs, memory, window, 60, 1,
                                                    workdir)
                if stopped:
                    raise SystemExit(f"case {case}: CBC stopped on a tiny program")
                if bound > optimum + 1e-6:
                    raise SystemExit(f"case {case}: window {window} bound {bound} above the "
                                     f"optimum {optimum} (trace {trace}, sizes {sizes}, costs "
                                     f"{costs}, memory {memory})")
                if window == len(trace) and abs(bound - optimum) > 1e-6:
                    raise SystemExit(f"case {case}: one window gives {bound}, the optimum is "
                                     f"{optimum} (trace {trace}, sizes {sizes}, costs {costs}, "
                                     f"memory {memory})")
                checked += 1
    print(f"{args.cases} cases, {checked} window bounds: every one at most the exhaustive optimum, "
          "and equal to it with one window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
