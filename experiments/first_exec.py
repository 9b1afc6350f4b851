#!/usr/bin/python3
"""A testbed's first inferences after a load against the profile's, model by model.

For each model: the servers' mean first inference after a load (the first of the misses that
waited for one load; the others ran on a copy already warm) over the profile's `first_exec_s`,
and their hits' mean exec over the profile's `exec_latency_s`. The hits include those after
idle time, which the simulator charges apart, so their quotient is not a bias of the first
figure by itself (docs/fidelity.md, "The first inference after a load, measured again").

usage: first_exec.py OUT
"""
import csv
import glob
import json
import statistics
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    out = sys.argv[1]
    catalog = {m["name"]: m for m in json.load(open(out + "/catalog.json"))["models"]}
    first, hits = {}, {}
    for replay in sorted(glob.glob(out + "/runs/*.replay.csv")):
        rows = [r for r in csv.DictReader(open(replay))
                if r["hit"] != "" and r.get("status", "200") == "200"]
        rows.sort(key=lambda r: float(r["start_s"]))
        load_of = {}  # a model's latest load's start: the requests that waited for it are misses
        for r in rows:
            kind = hits
            if r["hit"] == "0":
                start = float(r["load_start_s"])
                # Only the first of the misses that waited for one load runs on the new copy
                # first; the others (same load, a start within the column's rounding) are later
                # inferences and count with the hits.
                if abs(load_of.get(r["model"], -1.0) - start) > 0.002:
                    kind = first
                load_of[r["model"]] = start
            kind.setdefault(r["model"], []).append(float(r["exec_s"]))
    firsts, quotients = [], []
    for name in sorted(catalog):
        model = catalog[name]
        if name not in first or name not in hits or not model.get("first_exec_s"):
            continue
        f = statistics.mean(first[name]) / model["first_exec_s"]
        h = statistics.mean(hits[name]) / model["exec_latency_s"]
        firsts.append(f)
        quotients.append(f / h)
        print(f"{name:28s} first {1000 * statistics.mean(first[name]):7.1f} ms / profile "
              f"{1000 * model['first_exec_s']:7.1f} = {f:.2f}   hits {h:.2f}   first/hits {f / h:.2f}")
    if quotients:
        print(f"median first: {statistics.median(firsts):.2f}   "
              f"median first/hits: {statistics.median(quotients):.2f}")


if __name__ == "__main__":
    main()
