#!/usr/bin/env python3
"""Inferences beside loads on a finished testbed, server and simulator, against the profile.

Usage: experiments/exec_overlap.py OUT

For each side (the server's OUT/runs/*.replay.csv, the simulator's OUT/runs/*.sim.csv) and each
model: the median inference with no load running at any moment of it ("alone"), the median of
those that overlapped loads for more than half their time ("beside"), their ratio, and the
profile's exec_beside_load_s / exec_latency_s from OUT/catalog.json, which the simulator applies
(docs/fidelity.md, "Interference in the server"). Loads are the windows load_start_s..ready_s of
the misses that started one, from the same file.
"""
import argparse
import collections
import csv
import glob
import json
import os
import statistics


def load_windows(rows):
    windows = set()
    for row in rows:
        if row["hit"] == "0" and row["load_start_s"] not in ("", "nan"):
            windows.add((float(row["load_start_s"]), float(row["ready_s"])))
    return sorted(windows)


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    args = parser.parse_args()
    with open(os.path.join(args.out, "catalog.json"), encoding="utf-8") as f:
        catalog = {m["name"]: m for m in json.load(f)["models"]}
    for side, label in (("replay", "server"), ("sim", "simulator")):
        alone, beside = collections.defaultdict(list), collections.defaultdict(list)
        for path in glob.glob(os.path.join(args.out, "runs", f"*.{side}.csv")):
            with open(path, encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            windows = load_windows(rows)
            for row in rows:
                if row.get("status", "200") != "200":
                    continue
                start, end = float(row["start_s"]), float(row["end_s"])
                overlap = sum(max(0.0, min(end, b) - max(start, a)) for a, b in windows)
                share = overlap / max(end - start, 1e-9)
                if share > 0.5:
                    beside[row["model"]].append(end - start)
                elif share == 0.0:
                    alone[row["model"]].append(end - start)
        print(f"{label}:")
        print("| model | profile exec s | alone s (n) | beside s (n) | beside / alone "
              "| profile beside / alone |")
        print("|---|---|---|---|---|---|")
        for name in sorted(catalog):
            model = catalog[name]
            exec_s = model["exec_latency_s"]
            factor = model.get("exec_beside_load_s", 0.0) / exec_s if exec_s > 0 else float("nan")
            a, b = median(alone[name]), median(beside[name])
            print(f"| {name} | {exec_s:.4f} | {a:.4f} ({len(alone[name])}) "
                  f"| {b:.4f} ({len(beside[name])}) | {b / a:.2f} | {factor:.2f} |")
        print()


if __name__ == "__main__":
    main()
