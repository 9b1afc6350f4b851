#!/usr/bin/python3
"""The simulator side of a finished testbed run again, against the server's measured runs.

The server's runs (OUT/runs/<policy>.r<k>.replay.csv) are kept; for each, `brulee simulate
--parallel-load` runs again on the same trace and memory with another catalog (say, one profiled
with a newer `brulee profile`) or another brulee build, and the errors on the shared definitions
are printed per run and per policy (mean over runs), as the testbed's table computes them. This
changes a model of the simulator without taking the machine for a new testbed; the testbed itself
is the check once the model is settled (docs/fidelity.md).

With --own-costs each run is simulated with the catalog's figures moved to what that run's own
server measured (own_costs below): the machine's speed during the run, not the profile's. What
error is left then is the simulator's model of the server, not the drift between the profile's
minute and the run's (docs/fidelity.md, "Two testbeds, and the run's own costs"). The run's own
figures are known only after it: a diagnostic, not a prediction.

With --others-costs each run is simulated with the mean, model by model, of the other runs' own
costs (all: every other run of the testbed; round: the other runs of its round; before: the runs
that ran before it by their replay files' times, the profile's for the first): what a profile measured in serving servers
around the run would give, without the run's own figures.

With --machine-speed each run is simulated with the catalog's exec and load figures scaled by
the machine's speed during the run against its speed during the profile, as a probe beside the
server measured it (machine_speed.py): known without the server's own figures.

Each run's simulated figure is the mean over --seeds (30) simulations, seeds 1..N, as the
testbed computes it since 2026-12-06: with --timing sampled (the default) every policy's, each
load and inference drawn log-normally with the profile's spread (timing_cv.py; --latency-cv
overrides it); with --timing profiled only the policies of --seeded-policies (random). --seeds 1
simulates each run once with its own seed and the profile's figures, as before.

Each run's policy ranks by the catalog its server was given (OUT/catalog.json, or
OUT/catalog.r<k>.json of PROFILE_EACH_ROUND; --catalog replaces it), and its loads, inferences
and unloads are timed by the same catalog, or (`simulate --costs-catalog`) by OUT/catalog.spread.json
where the testbed spread its profile over the rounds (PROFILE_SPREAD; --no-spread: the first
profile's), or by the catalog moved to the run's speed (--own-costs, --machine-speed).

usage: resimulate.py OUT [--catalog CATALOG] [--brulee BINARY] [--extra "SIMULATE FLAGS"]
                         [--no-spread]
                         [--own-costs | --others-costs all|round|before | --machine-speed]
                         [--seeds N] [--timing sampled|profiled]
                         [--latency-cv CV] [--seeded-policies LIST]
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_speed import machine_ratio, scaled  # noqa: E402
from own_costs import own_costs  # noqa: E402
from timing_cv import latency_cv  # noqa: E402
from testbed_report import measure, measure_mean, mean  # noqa: E402

KEYS = [("hit_ratio", "hit", None), ("load_delay_mean_s", "load delay", "rel"),
        ("exec_mean_s", "exec", "rel"), ("queue_delay_mean_s", "queue", "rel"),
        ("latency_mean_s", "latency", "rel")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--catalog", help="catalog for the simulator (default: the run's own, "
                        "OUT/catalog.r<k>.json of PROFILE_EACH_ROUND, or OUT/catalog.json)")
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--extra", default="", help="more flags for brulee simulate")
    parser.add_argument("--no-spread", action="store_true",
                        help="time the runs by the first profile even where the testbed spread its "
                        "profile (OUT/catalog.spread.json)")
    parser.add_argument("--own-costs", action="store_true",
                        help="simulate each run with its own server's measured costs")
    parser.add_argument("--others-costs", choices=["all", "round", "before"],
                        help="simulate each run with the mean of the other runs' own costs (all "
                        "other runs of the testbed, those of the run's round, or those whose "
                        "replay file was written before the run's)")
    parser.add_argument("--machine-speed", action="store_true",
                        help="simulate each run with the catalog scaled by the machine's speed "
                        "during it (speed_probe samples) over the profile's")
    parser.add_argument("--seeds", type=int, default=30,
                        help="simulations of each run, seeds 1..N, the mean over them its figure "
                        "(every policy's with --timing sampled, else the seeded policies'); 1: "
                        "the run's own seed")
    parser.add_argument("--timing", choices=["sampled", "profiled"], default="sampled",
                        help="sampled: every policy simulated over seeds with latencies drawn with "
                        "the profile's spread; profiled: the profile's figures, only seeded "
                        "policies over seeds")
    parser.add_argument("--latency-cv", type=float,
                        help="the draws' coefficient of variation (default: the catalog's, "
                        "timing_cv.py)")
    parser.add_argument("--seeded-policies", default="random",
                        help="comma-separated policies whose decisions draw from the seed")
    args = parser.parse_args()
    if args.seeds < 1:
        sys.exit("resimulate.py: --seeds must be at least 1")
    if sum(map(bool, (args.own_costs, args.others_costs, args.machine_speed))) > 1:
        sys.exit("resimulate.py: one of --own-costs, --others-costs and --machine-speed")
    runs = sorted(glob.glob(os.path.join(args.out, "runs", "*.replay.csv")))
    if not runs:
        sys.exit(f"resimulate.py: no runs in {args.out}/runs")
    by_policy = {}
    owned = {}
    if args.others_costs:
        base = args.catalog or os.path.join(args.out, "catalog.json")
        for replay in runs:
            tag = os.path.basename(replay)[:-len(".replay.csv")]
            owned[tag] = own_costs(json.load(open(base)), replay,
                                   os.path.join(args.out, "runs", tag + ".server.log"))
    with tempfile.TemporaryDirectory() as tmp:
        for replay in runs:
            tag = os.path.basename(replay)[:-len(".replay.csv")]
            policy, run = re.match(r"(.+)\.r(\d+)$", tag).groups()
            # The memory both sides had, exactly as the testbed's simulator run was given it.
            original = json.load(open(os.path.join(args.out, "runs", tag + ".sim.json")))
            memory = original["memory_bytes"]
            # As the testbed ran both sides (absent before the setting existed: isolated).
            first_loads = original.get("first_loads", "isolated")
            catalog = args.catalog or os.path.join(args.out, "catalog.json")
            if not args.catalog and os.path.exists(os.path.join(args.out, f"catalog.r{run}.json")):
                catalog = os.path.join(args.out, f"catalog.r{run}.json")
            # The policy ranks by `catalog`, as the run's server did; the simulated time follows
            # `run_catalog` (--costs-catalog): with PROFILE_SPREAD the mean over the spread
            # profiles, with --own-costs or --machine-speed the catalog moved to the run's speed.
            run_catalog = catalog
            spread = os.path.join(args.out, "catalog.spread.json")
            if not args.catalog and not args.no_spread and os.path.exists(spread):
                run_catalog = spread
            if args.own_costs:
                run_catalog = os.path.join(tmp, tag + ".catalog.json")
                with open(run_catalog, "w") as f:
                    json.dump(own_costs(json.load(open(catalog)), replay,
                                        os.path.join(args.out, "runs", tag + ".server.log")), f)
            elif args.others_costs:
                mine = os.path.getmtime(replay)
                others = [c for t, c in owned.items() if t != tag and (
                    args.others_costs == "all"
                    or (args.others_costs == "round" and t.rsplit(".r", 1)[1] == run)
                    or (args.others_costs == "before" and os.path.getmtime(
                        os.path.join(args.out, "runs", t + ".replay.csv")) < mine))]
                if not others:
                    others = [json.load(open(run_catalog))]
                run_catalog = os.path.join(tmp, tag + ".catalog.json")
                with open(run_catalog, "w") as f:
                    json.dump(pooled(json.load(open(catalog)), others), f)
            elif args.machine_speed:
                ratio = machine_ratio(args.out, tag)
                if ratio is None:
                    sys.exit(f"resimulate.py: no speed probe samples for {tag} or its profile")
                run_catalog = os.path.join(tmp, tag + ".catalog.json")
                with open(run_catalog, "w") as f:
                    json.dump(scaled(json.load(open(catalog)), ratio), f)
            seeds = [run]
            timing = []
            if args.seeds > 1 and (args.timing == "sampled"
                                   or policy in args.seeded_policies.split(",")):
                seeds = [str(s) for s in range(1, args.seeds + 1)]
                if args.timing == "sampled":
                    cv = args.latency_cv
                    if cv is None:
                        cv = latency_cv(json.load(open(catalog)))
                    timing = ["--latency", "sampled", "--latency-cv", f"{cv:.4f}"]
            paths = []
            for seed in seeds:
                paths.append(os.path.join(tmp, f"{tag}.s{seed}.sim.csv"))
                subprocess.run([args.brulee, "simulate", "--trace", os.path.join(args.out, "trace.csv"),
                                "--catalog", catalog, "--costs-catalog", run_catalog,
                                "--memory", str(memory), "--policy", policy,
                                "--parallel-load", "--first-loads", first_loads, "--seed", seed,
                                "--json", "--requests-out", paths[-1]]
                               + timing + args.extra.split(), check=True, stdout=subprocess.DEVNULL)
            measured = measure(replay)
            simulated = measure(paths[0]) if len(paths) == 1 else measure_mean(paths)
            by_policy.setdefault(policy, []).append((measured, simulated))
            print(f"{tag:24s}" + "".join(describe(key, label, kind, measured, simulated)
                                         for key, label, kind in KEYS))
    print("\nmean over runs (simulated vs measured)")
    worst = {}
    for policy, pairs in by_policy.items():
        measured = {key: mean([m[key] for m, _ in pairs]) for key, _, _ in KEYS}
        simulated = {key: mean([s[key] for _, s in pairs]) for key, _, _ in KEYS}
        print(f"{policy:24s}" + "".join(describe(key, label, kind, measured, simulated)
                                        for key, label, kind in KEYS))
        for key, _, kind in KEYS:
            error = error_of(kind, measured[key], simulated[key])
            worst[key] = max(worst.get(key, 0.0), abs(error))
    print("worst |error|: " + ", ".join(
        f"{label} {worst[key]:.3f}" if kind is None else f"{label} {100 * worst[key]:.1f}%"
        for key, label, kind in KEYS))


def pooled(catalog, others):
    """The catalog with every figure of every model the mean over the others' catalogs (a key
    kept where at least half of them have it)."""
    for model in catalog.get("models", catalog):
        seen = [m for o in others for m in o.get("models", o) if m["name"] == model["name"]]
        for key, value in list(model.items()):
            if not isinstance(value, float):  # names and byte counts are not costs
                continue
            values = [m[key] for m in seen if m.get(key) is not None]
            if len(values) * 2 >= len(seen) and values:
                model[key] = sum(values) / len(values)
            else:
                model.pop(key)
    return catalog


def error_of(kind, measured, simulated):
    if kind is None:
        return simulated - measured
    return (simulated - measured) / measured if measured else 0.0


def describe(key, label, kind, measured, simulated):
    error = error_of(kind, measured[key], simulated[key])
    if kind is None:
        return f"  {label} {measured[key]:.3f}/{simulated[key]:.3f} ({error:+.3f})"
    return f"  {label} {measured[key]:.3f}/{simulated[key]:.3f} ({100 * error:+.1f}%)"


if __name__ == "__main__":
    main()
