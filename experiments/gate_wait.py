#!/usr/bin/python3
"""A finished testbed's server side re-derived with the first loads' wait at the gate as queueing.

Until 4257e46 the server stamped a load's start before its loader waited for running work to
leave the activity gate (a model's first load is isolated), so that wait was load delay on the
timelines of the requests waiting on the load, where the simulator counts it as queueing
(docs/fidelity.md, "The gate's wait before a first load"). This copies OUT to NEW (links, but
the replay files), with each model's first load's window in every run started later by the wait:
from the server's log, the time between its `loading` line (after the unload) and its `loaded`
line, less the load's own `seconds=`. The delays are derived again as derive_delays does. Then
`experiments/resimulate.py NEW [--own-costs]` compares the simulator against it.

usage: gate_wait.py OUT NEW
"""
import csv
import datetime
import os
import re
import sys

LOADING = re.compile(r"^(\S+) info loading model=(\S+)")
LOADED = re.compile(r"^(\S+) info loaded model=(\S+) .*?seconds=([0-9.]+)")


def stamp(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


def first_load_waits(server_log):
    """Per model, the seconds its first load waited at the gate (the log's stamps are to the
    millisecond; negative differences are taken as none)."""
    started, waits = {}, {}
    for line in open(server_log):
        match = LOADING.search(line)
        if match:
            started.setdefault(match.group(2), stamp(match.group(1)))
            continue
        match = LOADED.search(line)
        if match and match.group(2) in started and match.group(2) not in waits:
            elapsed = stamp(match.group(1)) - started[match.group(2)]
            waits[match.group(2)] = max(0.0, elapsed - float(match.group(3)))
    return waits


def shifted(rows, waits):
    """The rows with each model's first load's window moved past its wait. Requests that shared
    that load are the misses whose ready point is the model's earliest (the replay places each on
    its own clock, within a few ms of the others)."""
    answered = [r for r in rows if r["hit"] == "0" and r["load_start_s"]
                and r.get("status", "200") == "200"]
    first_ready = {}
    for r in answered:
        first_ready[r["model"]] = min(first_ready.get(r["model"], float("inf")), float(r["ready_s"]))
    for r in answered:
        if float(r["ready_s"]) - first_ready[r["model"]] > 0.05:
            continue
        arrival, ready, start = float(r["arrival_s"]), float(r["ready_s"]), float(r["start_s"])
        load_start = min(float(r["load_start_s"]) + waits.get(r["model"], 0.0), ready)
        load = max(0.0, min(start, ready) - max(arrival, load_start))
        r["load_start_s"] = f"{load_start:.9f}"
        r["load_delay_s"] = f"{load:.9f}"
        r["queue_delay_s"] = f"{start - arrival - load:.9f}"
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    out, new = sys.argv[1:]
    os.makedirs(os.path.join(new, "runs"), exist_ok=True)
    for name in os.listdir(out):
        if name != "runs" and not os.path.exists(os.path.join(new, name)):
            os.symlink(os.path.abspath(os.path.join(out, name)), os.path.join(new, name))
    waits_all = []
    for name in sorted(os.listdir(os.path.join(out, "runs"))):
        source, target = os.path.join(out, "runs", name), os.path.join(new, "runs", name)
        if not name.endswith(".replay.csv"):
            if not os.path.exists(target):
                os.symlink(os.path.abspath(source), target)
            continue
        waits = first_load_waits(source[:-len(".replay.csv")] + ".server.log")
        waits_all += waits.values()
        rows = list(csv.DictReader(open(source)))
        with open(target, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(shifted(rows, waits))
    waits_all.sort()
    if waits_all:
        print(f"first loads: {len(waits_all)}, waited at the gate {sum(waits_all) / len(waits_all):.4f} s "
              f"on average (median {waits_all[len(waits_all) // 2]:.4f}, max {waits_all[-1]:.4f})")


if __name__ == "__main__":
    main()
