#!/usr/bin/python3
"""The exact offline optimum of demand loading on a small trace, as an integer program solved by
CBC (Debian's coinor-cbc), beside the flow bound, its schedule and the policies of one sweep.

Usage: experiments/exact_optimum.py TRACE.csv CATALOG.json SWEEP.csv [--seconds S] [--keep DIR]

TRACE.csv is the trace as CSV (`brulee workload convert T.bin T.csv`), CATALOG.json the catalog
the sweep used, SWEEP.csv the `--csv` of `brulee simulate --sweep --no-queueing --bound flow`
over that trace. For each memory size of the sweep, the program below is solved and checked:

  one 0/1 variable per reuse interval (a model's request i and its next request j > i + 1):
  kept (the model stays resident over the requests between, and j is a hit) or not (j loads);
  at every request k the kept intervals spanning k, plus the model requested at k, fit in the
  memory; minimise the load cost of the requests not kept (plus every model's first load).

This is the same problem the flow bound relaxes (docs/simulator.md, "The flow bound"), written
here independently of it from the trace. Reuses with nothing in between are hits; models of no
load cost are left out (their loads cost nothing). The solver's answer is checked request by
request in exact integers before it is reported. Prints, per memory size: the flow bound, the
schedule built from its solution, the optimum (or CBC's best bound and best schedule if it stops
on time), and each policy's load cost over the optimum.
"""
import argparse
import csv
import json
import math
import os
import re
import subprocess
import sys
import tempfile


def read_catalog(path):
    """The catalog's model names, sizes (bytes) and load costs (s), in its order."""
    models = json.load(open(path))["models"]
    return ([m["name"] for m in models], [int(m["size_bytes"]) for m in models],
            [float(m["load_latency_s"]) for m in models])


def read_trace(path, names):
    index = {name: m for m, name in enumerate(names)}
    trace = []
    with open(path) as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            model = row.get("model")
            if model not in index:
                raise SystemExit(f"{path}:{line}: " + ("no model column" if model is None else
                                                       f"model {model!r} is not in the catalog"))
            trace.append(index[model])
    return trace


def intervals_of(trace, sizes, costs):
    """Reuse intervals that need a decision: (first, second, model)."""
    last = {}
    out = []
    for j, m in enumerate(trace):
        i = last.get(m)
        last[m] = j
        if i is None or i + 1 == j or sizes[m] == 0 or costs[m] == 0:
            continue
        out.append((i, j, m))
    return out


def write_program(path, trace, sizes, costs, intervals, memory):
    """CPLEX LP format: maximise the cost saved by kept intervals."""
    n = len(trace)
    starts = [[] for _ in range(n + 1)]  # intervals entering at request k (spanning from k)
    ends = [[] for _ in range(n + 1)]  # ... leaving before request k
    for v, (i, j, m) in enumerate(intervals):
        starts[i + 1].append(v)
        ends[j].append(v)
    rows = []  # (spanning intervals, capacity), one per run of requests with the same spanning set
    spanning = set()
    largest = None
    for k in range(n):
        changed = bool(starts[k] or ends[k])
        if changed and largest is not None and spanning:
            rows.append((sorted(spanning), memory - largest))
        if changed:
            largest = None
        for v in ends[k]:
            spanning.discard(v)
        for v in starts[k]:
            spanning.add(v)
        size = sizes[trace[k]]
        largest = size if largest is None else max(largest, size)
    if largest is not None and spanning:
        rows.append((sorted(spanning), memory - largest))
    # Sizes and room in units of their greatest common divisor: exact, and small numbers keep
    # CBC's tolerances meaningful (bytes gave "possible tolerance issue" warnings).
    unit = 0
    for m in set(trace):
        unit = math.gcd(unit, sizes[m])
    for _, capacity in rows:
        unit = math.gcd(unit, capacity)
    unit = unit or 1
    with open(path, "w") as f:
        f.write("Maximize\n obj:")
        for v, (_, _, m) in enumerate(intervals):
            f.write(f" + {costs[m]!r} x{v}")
            if v % 8 == 7:
                f.write("\n")
        f.write("\nSubject To\n")
        for r, (members, capacity) in enumerate(rows):
            if capacity < 0:
                raise SystemExit(f"a model is larger than {memory} bytes")
            terms = " ".join(f"+ {sizes[intervals[v][2]] // unit} x{v}" for v in members)
            f.write(f" c{r}: {terms} <= {capacity // unit}\n")
        f.write("Binaries\n")
        for v in range(len(intervals)):
            f.write(f" x{v}\n")
        f.write("End\n")
    return len(rows)


def checked_cost(trace, sizes, costs, intervals, kept, memory):
    """The schedule's load cost, after checking in integers that it fits at every request."""
    n = len(trace)
    hit = [False] * n
    held = [0] * (n + 1)  # difference array of kept bytes
    for v, (i, j, m) in enumerate(intervals):
        if kept[v]:
            hit[j] = True
            held[i + 1] += sizes[m]
            held[j] -= sizes[m]
    last = {}
    cost = 0.0
    running = 0
    for k, m in enumerate(trace):
        running += held[k]
        if running + sizes[m] > memory:
            raise SystemExit(f"the solver's schedule overfills request {k}: "
                             f"{running + sizes[m]} > {memory}")
        i = last.get(m)
        last[m] = k
        free = i is not None and (i + 1 == k or sizes[m] == 0 or costs[m] == 0)
        if not (hit[k] or free):
            cost += costs[m]
    return cost


def solve(lp, seconds):
    solution = lp[:-len(".lp")] + ".solution.txt"
    run = subprocess.run(["cbc", lp, "sec", str(seconds), "ratioGap", "0", "allowableGap", "0",
                          "solve", "solution", solution], capture_output=True, text=True)
    out = run.stdout
    status = "optimal" if re.search(r"Result - Optimal solution found", out) else "stopped"
    kept = {}
    with open(solution) as f:
        first = f.readline()
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1].startswith("x"):
                kept[int(parts[1][1:])] = float(parts[2]) > 0.5
    best_bound = None
    # Stopped on time, CBC prints the most a maximisation could still reach as "Upper bound".
    match = re.search(r"Upper bound:\s+(-?[0-9.e+]+)", out)
    if match:
        best_bound = float(match.group(1))
    with open(lp[:-len(".lp")] + ".cbc.log", "w") as f:
        f.write(out)
    seconds_used = re.search(r"Total time \(CPU seconds\):\s+([0-9.]+)", out)
    return status, kept, best_bound, first.strip(), float(seconds_used.group(1)) if seconds_used else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("catalog")
    parser.add_argument("sweep")
    parser.add_argument("--seconds", type=int, default=600, help="CBC's limit per memory size")
    parser.add_argument("--keep", help="keep the programs and solutions in this directory")
    args = parser.parse_args()
    names, sizes, costs = read_catalog(args.catalog)
    trace = read_trace(args.trace, names)
    intervals = intervals_of(trace, sizes, costs)
    first = sum(costs[m] for m in set(trace))
    reuse = sum(costs[m] for (_, _, m) in intervals)
    rows = list(csv.DictReader(open(args.sweep)))
    by_memory = {}
    for row in rows:
        by_memory.setdefault(int(row["memory_bytes"]), []).append(row)
    print(f"{len(trace)} requests, {len(set(trace))} models, {len(intervals)} intervals to decide")
    policies = list(dict.fromkeys(row["policy"] for row in rows))
    scratch = tempfile.TemporaryDirectory(prefix="exact_optimum.")  # removed at exit
    table = []
    for memory in sorted(by_memory):
        group = by_memory[memory]
        workdir = args.keep or scratch.name
        os.makedirs(workdir, exist_ok=True)
        lp = os.path.join(workdir, f"m{memory}.lp")
        constraints = write_program(lp, trace, sizes, costs, intervals, memory)
        status, kept_map, best_saving, headline, cpu = solve(lp, args.seconds)
        kept = [kept_map.get(v, False) for v in range(len(intervals))]
        cost = checked_cost(trace, sizes, costs, intervals, kept, memory)
        lower = first + reuse - best_saving if (best_saving is not None and status != "optimal") else cost
        bound = float(group[0]["bound_load_cost_s"]) if group[0]["bound_load_cost_s"] else None
        schedule = (float(group[0]["schedule_load_cost_s"])
                    if group[0].get("schedule_load_cost_s") else None)
        print(f"\nmemory {memory} ({float(group[0]['memory_fraction']) * 100:.0f}%): "
              f"{constraints} constraints, CBC {status} in {cpu} CPU s ({headline})")
        print(f"  flow bound {bound}, its schedule {schedule}, "
              f"optimum {'=' if status == 'optimal' else 'in'} "
              f"{cost if status == 'optimal' else f'[{lower}, {cost}]'}")
        if bound:
            print(f"  optimum / flow bound: {cost / bound:.4f}"
                  + ("" if status == "optimal" else f" (at least {lower / bound:.4f})"))
        for row in group:
            load_cost = float(row["load_cost_s"])
            print(f"  {row['policy']:<22} load cost {load_cost:.4f}  / optimum {load_cost / cost:.4f}"
                  f"  / flow bound {load_cost / bound:.4f}" if bound else "")
        ratios = {row["policy"]: float(row["load_cost_s"]) / cost for row in group}
        table.append((float(group[0]["memory_fraction"]), bound, schedule, cost, lower, status,
                      ratios))
    # One line per memory size: the optimum over the bound, and everything over the optimum. A
    # solve stopped on time gives a range for the optimum ([CBC's bound, its best schedule]); the
    # ratios are then over the best schedule, marked *, and so at most the true ones.
    print("\n| memory | flow bound (s) | optimum (s) | optimum / bound | schedule / optimum | "
          + " | ".join(policies) + " |")
    print("|---" * (5 + len(policies)) + "|")
    for fraction, bound, schedule, cost, lower, status, ratios in table:
        exact = status == "optimal"
        mark = "" if exact else "*"
        cells = [f"{100 * fraction:.0f}%", f"{bound:.1f}" if bound else "-",
                 f"{cost:.1f}" if exact else f"{lower:.1f}-{cost:.1f}",
                 "-" if not bound else (f"{cost / bound:.2f}" if exact
                                        else f"{lower / bound:.2f}-{cost / bound:.2f}"),
                 f"{schedule / cost:.2f}{mark}" if schedule else "-"]
        cells += [f"{ratios[p]:.2f}{mark}" if p in ratios else "-" for p in policies]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
