#!/usr/bin/python3
"""The catalog a testbed's simulator times its runs with when the profile's runs are spread over
the testbed (experiments/testbed.sh, PROFILE_SPREAD; docs/fidelity.md, "The profile spread over
the testbed").

The first profile (before the first round) is the catalog the servers are given: their policies
rank by it, and its sizes set the memory. Later profiles, of one run each, measure the same models
between the rounds. Per model, the load, exec and unload figures are the mean over every run of
every profile (a profile's catalog holds the mean over its runs, so each is weighted by its runs),
as one profile's figure is the mean over its runs; each figure of the first catalog in that family
(percentiles, beside-a-load, cold, first) is scaled by the same factor, so the ratios the first
profile measured stay (as experiments/own_costs.py scales a catalog). Sizes and memory figures stay
the first profile's. Written to stdout; the factors go to stderr, one line per model and their
medians.

usage: spread_profile.py FIRST_CATALOG:RUNS LATER_CATALOG:RUNS [LATER_CATALOG:RUNS ...]
"""
import copy
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from own_costs import EXEC_KEYS, LOAD_KEYS, UNLOAD_KEYS  # noqa: E402

# The families of figures own_costs.py moves together, each scaled by the ratio of its first key
# (the mean over runs); a first load with the loads, as own_costs.py scales it.
FAMILIES = (EXEC_KEYS, LOAD_KEYS + ("first_load_s",), UNLOAD_KEYS)


def parse(arg):
    path, _, runs = arg.rpartition(":")
    if not path or not runs.isdigit() or int(runs) < 1:
        sys.exit(f"spread_profile.py: '{arg}' is not CATALOG:RUNS with RUNS a positive integer")
    catalog = json.load(open(path))
    return catalog, {m["name"]: m for m in catalog.get("models", catalog)}, int(runs)


def spread(first, later):
    """first: (catalog, by_name, runs); later: a list of the same. Returns (catalog, factors),
    factors: {model: (exec, load, unload)}, 1.0 where a figure is missing."""
    catalog, by_name, runs = first
    merged = copy.deepcopy(catalog)
    factors = {}
    for model in merged.get("models", merged):
        name = model["name"]
        scales = []
        for family in FAMILIES:
            key = family[0]
            base = by_name[name].get(key)
            total, weight = (base * runs, runs) if base else (0.0, 0)
            for _, other, other_runs in later:
                value = other.get(name, {}).get(key)
                if value:
                    total += value * other_runs
                    weight += other_runs
            scale = total / weight / base if base and weight else 1.0
            for k in family:
                if model.get(k):
                    model[k] *= scale
            scales.append(scale)
        factors[name] = tuple(scales)
    return merged, factors


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    first = parse(sys.argv[1])
    later = [parse(a) for a in sys.argv[2:]]
    missing = [n for n in first[1] if any(n not in other for _, other, _ in later)]
    if missing:
        sys.exit(f"spread_profile.py: the later profiles lack {', '.join(sorted(missing))}")
    merged, factors = spread(first, later)
    for name in sorted(factors):
        e, l, u = factors[name]
        print(f"{name}: exec x{e:.3f} load x{l:.3f} unload x{u:.3f}", file=sys.stderr)
    print("median: exec x%.3f load x%.3f unload x%.3f" % tuple(
        statistics.median(f[i] for f in factors.values()) for i in range(3)), file=sys.stderr)
    json.dump(merged, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
