#!/usr/bin/python3
"""Server inference times against the profile, split by what ran just before (docs/fidelity.md).

Reads a testbed's output (experiments/testbed.sh --out OUT): the catalog the profiler wrote and
the server's per-request files (OUT/runs/*.replay.csv). Takes the hits whose inference overlapped
no load (the server ran one inference at a time; a load overlaps when its [load start, ready)
meets the inference), orders them by start, and prints, per model, the median of exec / the
catalog's exec_latency_s when the inference before it on the server was the same model and when
it was another one; with the catalog's exec_cold_s / exec_latency_s beside them when the
profile has it. Then, per run, the models whose hits after another model ran 1.3x or more their
median over all runs (a server instance may hold one model slow between others' inferences).

usage: exec_switch.py OUT [CATALOG]
"""
import csv
import glob
import json
import os
import statistics
import sys


SLOW = 1.3


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    catalog = json.load(open(sys.argv[2] if len(sys.argv) > 2 else os.path.join(out, "catalog.json")))
    models = {m["name"]: m for m in (catalog["models"] if isinstance(catalog, dict) else catalog)}
    same, other = {}, {}
    files = sorted(glob.glob(os.path.join(out, "runs", "*.replay.csv")))
    per_run = {}  # run -> model -> exec ratios of its hits after another model
    for path in files:
        run = os.path.basename(path)[:-len(".replay.csv")]
        rows = [r for r in csv.DictReader(open(path)) if r["hit"] != "" and r["start_s"] != ""]
        loads = sorted({(float(r["load_start_s"]), float(r["ready_s"])) for r in rows
                        if r["hit"] == "0" and r["load_start_s"] != ""})
        previous = None
        for r in sorted(rows, key=lambda r: float(r["start_s"])):
            start, end = float(r["start_s"]), float(r["end_s"])
            overlapped = any(a < end and b > start for a, b in loads)
            model = r["model"]
            if previous is not None and r["hit"] == "1" and not overlapped and model in models:
                ratio = (end - start) / models[model]["exec_latency_s"]
                (same if previous == model else other).setdefault(model, []).append(ratio)
                if previous != model:
                    per_run.setdefault(run, {}).setdefault(model, []).append(ratio)
            previous = model

    def cell(values):
        return f"{statistics.median(values):.2f} ({len(values)})" if values else "-"

    print(f"{len(files)} runs of {out}; exec / profiled exec, hits with no load beside them\n")
    print("| model | after the same model | after another model | profile: after another |")
    print("|---|---|---|---|")
    for name in sorted(models):
        profiled = models[name].get("exec_cold_s", 0.0) / models[name]["exec_latency_s"]
        print(f"| {name} | {cell(same.get(name, []))} | {cell(other.get(name, []))} | "
              f"{profiled:.2f} |" if profiled else
              f"| {name} | {cell(same.get(name, []))} | {cell(other.get(name, []))} | - |")
    pooled_same = [v for values in same.values() for v in values]
    pooled_other = [v for values in other.values() for v in values]
    print(f"| all | {cell(pooled_same)} | {cell(pooled_other)} | |")
    # A server instance may hold one model that is slow between other models' inferences
    # (docs/fidelity.md, "Inferences between other models'"): per run, a model whose hits after
    # another model took SLOW times or more their median over all runs (at least 3 such hits).
    print(f"\nper run: models whose hits after another model ran {SLOW}x or more their median "
          f"over all runs (median over the run's hits, hits)")
    for run in sorted(per_run):
        slow = []
        for name, values in sorted(per_run[run].items()):
            overall = statistics.median(other[name])
            if len(values) >= 3 and statistics.median(values) >= SLOW * overall:
                slow.append(f"{name} {statistics.median(values) / overall:.2f}x ({len(values)})")
        print(f"  {run}: {', '.join(slow) if slow else '-'}")


if __name__ == "__main__":
    main()
