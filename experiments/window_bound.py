#!/usr/bin/python3
"""A lower bound on the offline optimum of demand loading for traces too long for one exact
solve: the trace cut into windows, each window's exact optimum with a free initial cache.

Usage: experiments/window_bound.py TRACE.csv CATALOG.json SWEEP.csv [--window N] [--seconds S]
                                   [--jobs J] [--memory BYTES ...]

TRACE.csv, CATALOG.json and SWEEP.csv as for experiments/exact_optimum.py (the sweep may have
been run with --no-bound; a flow bound in it is printed beside). The trace is cut into windows
of N requests. Window w's program is experiments/exact_optimum.py's (one 0/1 variable per reuse
interval inside the window) plus, for each model requested before the window and again in it,
one more variable: the model was resident when the window began and stays until its first
request there (which is then a hit), occupying its size over the requests before. Any initial
cache that fits is allowed and costs nothing. A model first requested in the window (never
before) is a load in any schedule.

Why it is a lower bound: take an optimal schedule of the whole trace. Within window w it starts
from some resident set that fits, keeps intervals that fit at every request, and pays for the
window's other requests; that is a feasible answer to window w's program, so it pays at least
the program's optimum there. The windows partition the requests, so the sum of the windows'
optima is at most the whole optimum. Where CBC stops on time, its proven bound on the window
is used instead of the optimum (still a lower bound). The free initial cache is what the bound
gives away: at most a cache's worth of first requests per window.

Prints, per memory size: the window bound, the flow bound from the sweep (if any), and each
policy's load cost over the larger of the two.
"""
import argparse
import concurrent.futures
import csv
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exact_optimum import intervals_of, read_catalog, read_trace, solve, write_program  # noqa: E402


def window_program(trace, a, b, seen_before, sizes, costs):
    """(sub-trace, intervals with the initial-cache ones, cost no schedule avoids, cost any
    schedule might avoid) for window [a, b)."""
    sub = trace[a:b]
    intervals = intervals_of(sub, sizes, costs)
    compulsory = 0.0
    first_seen = {}
    for k, m in enumerate(sub):
        if m not in first_seen:
            first_seen[m] = k
    for m, k in first_seen.items():
        if sizes[m] == 0 or costs[m] == 0:
            continue
        if m not in seen_before:
            compulsory += costs[m]  # its first request ever: a load in every schedule
        elif k > 0:
            intervals.append((-1, k, m))  # resident from the window's start until request k
        # k == 0 with an earlier request: the initial cache holds it, free (the request itself
        # occupies its size, as every requested model does).
    avoidable = sum(costs[m] for (_, _, m) in intervals)
    return sub, intervals, compulsory, avoidable


def window_bound(trace, sizes, costs, memory, window, seconds, jobs, workdir):
    tasks = []
    seen = set()
    for a in range(0, len(trace), window):
        b = min(len(trace), a + window)
        tasks.append((a, b, frozenset(seen)))
        seen.update(trace[a:b])

    def one(task):
        a, b, seen_before = task
        sub, intervals, compulsory, avoidable = window_program(trace, a, b, seen_before, sizes,
                                                               costs)
        if not intervals:
            return a, compulsory, "empty", 0.0
        lp = os.path.join(workdir, f"m{memory}.w{a}.lp")
        write_program(lp, sub, sizes, costs, intervals, memory)
        status, _, best_saving, headline, cpu = solve(lp, seconds)
        if status == "optimal":
            match = re.search(r"objective value\s+(-?[0-9.e+]+)", headline)
            if not match:
                raise SystemExit(f"no objective in CBC's answer for window {a}: {headline}")
            saving = float(match.group(1))
        elif best_saving is not None:
            saving = best_saving  # the most the window could still save: a bound
        else:
            saving = avoidable  # nothing proven: the bound keeps only the compulsory loads
        for path in (lp, lp[:-3] + ".solution.txt", lp[:-3] + ".cbc.log"):
            if os.path.exists(path):
                os.remove(path)
        return a, compulsory + avoidable - saving, status, cpu or 0.0

    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, tasks))
    total = sum(r[1] for r in results)
    stopped = sum(1 for r in results if r[2] == "stopped")
    cpu = sum(r[3] for r in results)
    return total, len(results), stopped, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("catalog")
    parser.add_argument("sweep")
    parser.add_argument("--window", type=int, default=20000, help="requests per window")
    parser.add_argument("--seconds", type=int, default=120, help="CBC's limit per window")
    parser.add_argument("--jobs", type=int, default=2, help="windows solved at once")
    parser.add_argument("--memory", type=int, action="append",
                        help="only these memory sizes of the sweep (bytes)")
    args = parser.parse_args()
    if args.window < 1:
        raise SystemExit("--window must be at least 1")
    names, sizes, costs = read_catalog(args.catalog)
    trace = read_trace(args.trace, names)
    rows = list(csv.DictReader(open(args.sweep)))
    by_memory = {}
    for row in rows:
        by_memory.setdefault(int(row["memory_bytes"]), []).append(row)
    policies = list(dict.fromkeys(row["policy"] for row in rows))
    print(f"{len(trace)} requests, windows of {args.window}")
    table = []
    with tempfile.TemporaryDirectory(prefix="window_bound.") as workdir:
        for memory in sorted(by_memory):
            if args.memory and memory not in args.memory:
                continue
            group = by_memory[memory]
            bound, windows, stopped, cpu = window_bound(trace, sizes, costs, memory, args.window,
                                                        args.seconds, args.jobs, workdir)
            flow = group[0].get("bound_load_cost_s")
            flow = float(flow) if flow and group[0].get("bound") == "flow" else None
            fraction = float(group[0]["memory_fraction"])
            print(f"memory {memory} ({fraction * 100:.0f}%): window bound {bound:.1f} "
                  f"({windows} windows, {stopped} stopped on time, {cpu:.0f} CPU s)"
                  + (f", flow bound {flow:.1f}" if flow else ""), flush=True)
            table.append((fraction, bound, flow, stopped,
                          {row["policy"]: float(row["load_cost_s"]) for row in group}))
    # Over the lower bound: the larger of the window bound and the flow bound (when the sweep
    # has one); * marks a window bound with a window CBC did not finish (its bound was used).
    print("\n| memory | window bound (s) | flow bound (s) | "
          + " | ".join(f"{p} / lower bound" for p in policies) + " |")
    print("|---" * (3 + len(policies)) + "|")
    for fraction, bound, flow, stopped, costs_of in table:
        lower = max(bound, flow or 0.0)
        cells = [f"{fraction * 100:.0f}%", f"{bound:.1f}" + ("*" if stopped else ""),
                 f"{flow:.1f}" if flow else "-"]
        cells += [f"{costs_of[p] / lower:.2f}" if p in costs_of else "-" for p in policies]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
