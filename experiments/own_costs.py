#!/usr/bin/python3
"""A catalog's figures moved to what one testbed run's own server measured.

The testbed simulates each run with the profile taken before it; the profile's minute and the
run's differ on a shared machine (docs/fidelity.md, "Two testbeds, and the run's own costs").
Simulated again with the figures this module makes from the run itself, the error left is the
simulator's model of the server. The run's own figures are known only after it: a diagnostic,
not a prediction.

usage: own_costs.py CATALOG REPLAY_CSV SERVER_LOG > RUN_CATALOG
"""
import csv
import json
import re
import sys


def median(values):
    values = sorted(values)
    n = len(values)
    return (values[n // 2] + values[(n - 1) // 2]) / 2 if n else None


# A model's exec figures (alone, beside a load, first after a load, cold) and load figures, which move
# together with its speed.
EXEC_KEYS = ("exec_latency_s", "exec_latency_p50_s", "exec_latency_p95_s", "exec_beside_load_s",
             "first_exec_s", "exec_cold_s")
LOAD_KEYS = ("load_latency_s", "load_latency_p50_s", "load_latency_p95_s", "load_beside_exec_s")
UNLOAD_KEYS = ("unload_latency_s", "unload_latency_p50_s", "unload_latency_p95_s")

LOADED = re.compile(r" loaded model=(\S+) bytes=(\d+) seconds=([0-9.]+)")
EVICTED = re.compile(r" info evicted model=(\S+) bytes=\d+ seconds=([0-9.]+) "
                     r"detail=\"to make room for (\S+)\"")


def own_costs(catalog, replay_csv, server_log):
    """The catalog with each model's figures scaled to what one run's server measured.

    Exec: the median of the model's hits that ran with no load under way (a request whose
    execution overlapped no load's window in the run), over the catalog's exec_latency_s; every
    exec figure of the model (alone, beside a load, first after a load) is scaled by it. Loads:
    the mean of the model's later loads in the server's log (`loaded ... seconds=`) over the
    catalog's load_latency_s (a mean, as the catalog's is and as the simulator charges it),
    likewise for every load figure and for the fresh figure (first_load_s: a load into memory the
    process never held; the server's own first load of the run is not that figure, since the
    simulator charges it only the fresh share of its peak, and a load in the opening burst reuses
    what the load before it freed). Unloads: the
    mean of the server's unloads of the model as a load's only victim (`evicted ... seconds=`)
    over the catalog's unload_latency_s. A model with measured hits loses its exec_cold_s (the median already holds
    both kinds of hits). Sizes stay the catalog's: they are the policy's inputs, not costs (with the
    server's charged bytes, random eviction drew other victims than the server's, whose hit
    ratios matched the catalog's run). A model the run did not measure keeps the catalog's
    figures."""
    rows = [r for r in csv.DictReader(open(replay_csv))
            if r["hit"] != "" and r.get("status", "200") == "200"]
    windows = [(float(r["load_start_s"]), float(r["ready_s"])) for r in rows
               if r["hit"] == "0" and r["load_start_s"] != ""]
    alone = {}
    for r in rows:
        start, end = float(r["start_s"]), float(r["end_s"])
        if r["hit"] == "1" and not any(a < end and start < b for a, b in windows):
            alone.setdefault(r["model"], []).append(float(r["exec_s"]))
    # The server logs each victim of one load on a line of its own, one after another, each
    # with the seconds of the whole unload: a victim's own unload time is known when it went
    # alone.
    loads, unloads, group = {}, {}, []
    for line in list(open(server_log)) + [""]:  # the empty line closes the last group
        match = EVICTED.search(line)
        victim = (match.group(1), float(match.group(2)), match.group(3)) if match else None
        if victim and group and group[-1][1:] == victim[1:]:
            group.append(victim)
            continue
        if len(group) == 1:
            unloads.setdefault(group[0][0], []).append(group[0][1])
        group = [victim] if victim else []
        match = LOADED.search(line)
        if match:
            loads.setdefault(match.group(1), []).append(float(match.group(3)))
    models = catalog.get("models", catalog)
    for model in models:
        gone = unloads.get(model["name"])
        if gone and model.get("unload_latency_s"):
            scale = sum(gone) / len(gone) / model["unload_latency_s"]
            for key in UNLOAD_KEYS:
                if model.get(key):
                    model[key] *= scale
    for model in models:
        name = model["name"]
        execs = alone.get(name)
        if execs and model.get("exec_latency_s"):
            # The run's median already mixes hits after other models' (cold) with hits after
            # their own model's: a cold figure on top would count the difference twice.
            model.pop("exec_cold_s", None)
            scale = median(execs) / model["exec_latency_s"]
            for key in EXEC_KEYS:
                if model.get(key):
                    model[key] *= scale
        seen = loads.get(name)
        if seen:
            later = seen[1:]
            if later and model.get("load_latency_s"):
                scale = sum(later) / len(later) / model["load_latency_s"]
                for key in LOAD_KEYS + ("first_load_s",):
                    if model.get(key):
                        model[key] *= scale
            elif model.get("first_load_s") is None:
                model["first_load_s"] = seen[0]
    return catalog


def run_speed(catalog, own_catalog, replay_csv):
    """How fast one run's server was against the profile it was simulated with: the median,
    over the run's answered requests, of own / profile exec figure of the request's model, and
    over its misses, of own / profile load figure (own: own_costs() of the run). 1.0 = as
    profiled; 1.5 = the server's inferences took 1.5x the profile's on this run. None where
    nothing was measured."""
    profile = {m["name"]: m for m in catalog.get("models", catalog)}
    own = {m["name"]: m for m in own_catalog.get("models", own_catalog)}
    execs, loads = [], []
    for r in csv.DictReader(open(replay_csv)):
        if r["hit"] == "" or r.get("status", "200") != "200":
            continue
        p, o = profile.get(r["model"]), own.get(r["model"])
        if not p or not o:
            continue
        if p.get("exec_latency_s"):
            execs.append(o["exec_latency_s"] / p["exec_latency_s"])
        if r["hit"] == "0" and p.get("load_latency_s"):
            loads.append(o["load_latency_s"] / p["load_latency_s"])
    return median(execs), median(loads)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__.strip().splitlines()[-1])
    catalog, replay_csv, server_log = sys.argv[1:]
    json.dump(own_costs(json.load(open(catalog)), replay_csv, server_log), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
