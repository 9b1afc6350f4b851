#!/usr/bin/env python3
"""What the server's loads cost on a finished testbed, against the profile (docs/fidelity.md).

Usage: experiments/load_work.py OUT [--fresh-faults N] [--catalog C] [--per-model]

Reads OUT/runs/*.server.log ("loaded" lines: seconds, cpu_s, minor_faults; brulee serve writes
them) and OUT/catalog.json (the profile the simulator used; --catalog: another one). For each policy, over its runs:
loads, the share that faulted fresh pages (more than N minor faults, default 1000: a load into
memory an unload freed takes a few dozen), and medians of wall / profile warm load, CPU / wall
and CPU / profile warm load, for warm and fresh loads apart. A model's first load of a run is
left out (the simulator charges it the profile's first_load_s).
"""
import argparse
import collections
import glob
import json
import os
import re
import statistics

FIELD = re.compile(r'(\w+)=("[^"]*"|\S+)')


def loads_of(log_path):
    with open(log_path, encoding="utf-8") as log:
        for line in log:
            if " info loaded " not in line:
                continue
            fields = {k: v.strip('"') for k, v in FIELD.findall(line)}
            if "cpu_s" not in fields:
                continue
            yield (fields["model"], float(fields["seconds"]), float(fields["cpu_s"]),
                   int(fields["minor_faults"]))


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--fresh-faults", type=int, default=1000)
    parser.add_argument("--catalog", help="profile to compare with (default OUT/catalog.json)")
    parser.add_argument("--per-model", action="store_true",
                        help="also a table by model, over every policy: warm loads only")
    args = parser.parse_args()
    with open(args.catalog or os.path.join(args.out, "catalog.json"), encoding="utf-8") as f:
        warm = {m["name"]: m["load_latency_s"] for m in json.load(f)["models"]}
    by_policy = collections.defaultdict(list)
    by_model = collections.defaultdict(list)
    for path in sorted(glob.glob(os.path.join(args.out, "runs", "*.server.log"))):
        policy = os.path.basename(path).split(".")[0]
        seen = set()
        for model, wall, cpu, faults in loads_of(path):
            if model not in seen:
                seen.add(model)
                continue
            if model in warm and warm[model] > 0:
                by_policy[policy].append((wall / warm[model], cpu / max(wall, 1e-9),
                                          cpu / warm[model], faults > args.fresh_faults, faults))
                if faults <= args.fresh_faults:
                    by_model[model].append(wall)
    print("| policy | later loads | fresh share | wall/profile warm | fresh | cpu/wall warm | fresh "
          "| cpu/profile warm | fresh | median faults warm | fresh |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for policy, rows in by_policy.items():
        w = [r for r in rows if not r[3]]
        f = [r for r in rows if r[3]]
        print(f"| {policy} | {len(rows)} | {len(f) / len(rows):.2f} "
              f"| {median([r[0] for r in w]):.2f} | {median([r[0] for r in f]):.2f} "
              f"| {median([r[1] for r in w]):.2f} | {median([r[1] for r in f]):.2f} "
              f"| {median([r[2] for r in w]):.2f} | {median([r[2] for r in f]):.2f} "
              f"| {median([r[4] for r in w]):.0f} | {median([r[4] for r in f]):.0f} |")

    if args.per_model:
        print()
        print("| model | warm loads | profile warm s | server median s | ratio | p25 | p75 |")
        print("|---|---|---|---|---|---|---|")
        for model in sorted(by_model):
            walls = sorted(by_model[model])
            q = statistics.quantiles(walls, n=4) if len(walls) > 1 else [walls[0]] * 3
            print(f"| {model} | {len(walls)} | {warm[model]:.4f} | {median(walls):.4f} "
                  f"| {median(walls) / warm[model]:.2f} | {q[0] / warm[model]:.2f} "
                  f"| {q[2] / warm[model]:.2f} |")


if __name__ == "__main__":
    main()
