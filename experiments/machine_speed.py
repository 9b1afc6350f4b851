#!/usr/bin/python3
"""The machine's speed during each testbed run, against its speed while the profile ran.

experiments/testbed.sh samples bench/runtime/speed_probe (a timed chase through 32 MiB of
memory) every 2 s while the profile runs (OUT/profile.probe, or OUT/profile.r<k>.probe with
PROFILE_EACH_ROUND) and while each run goes (OUT/runs/<policy>.r<k>.probe). A run's machine
ratio is the median chase time during the run over the median during its profile: 1.0 = the
machine as profiled, 1.3 = memory 1.3x slower. Unlike the run's own costs (own_costs.py) it is
measured beside the server, not from it, so it says what the machine did, whatever the server
did with it (docs/fidelity.md, "The machine's speed, probed").

Printed per run: the machine ratio, and the run's speed against its profile as its server
measured it (own_costs.run_speed), to check that one tells the other.

usage: machine_speed.py OUT [OUT ...]
"""
import glob
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import own_costs  # noqa: E402

# The catalog's figures a machine ratio scales: every exec and load figure (as own_costs moves
# them), and the first load's.
SCALED_KEYS = own_costs.EXEC_KEYS + own_costs.LOAD_KEYS + ("first_load_s",)


def probe_median(path):
    """The median chase time (ms) of a probe file, or None if it has no sample."""
    try:
        samples = [float(line.split()[1]) for line in open(path) if len(line.split()) >= 3]
    except OSError:
        return None
    return statistics.median(samples) if samples else None


def machine_ratio(out, tag):
    """A run's median chase time over its profile's, or None without both probe files."""
    run = re.match(r".+\.r(\d+)$", tag).group(1)
    profile = os.path.join(out, f"profile.r{run}.probe")
    if not os.path.exists(profile):
        profile = os.path.join(out, "profile.probe")
    during, before = probe_median(os.path.join(out, "runs", tag + ".probe")), probe_median(profile)
    return during / before if during and before else None


def scaled(catalog, ratio):
    """The catalog with every exec and load figure multiplied by ratio."""
    for model in catalog.get("models", catalog):
        for key in SCALED_KEYS:
            if model.get(key):
                model[key] *= ratio
    return catalog


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    pairs = []
    print("run | machine ratio (probe) | exec vs profile (server) | load vs profile (server)")
    for out in sys.argv[1:]:
        for replay in sorted(glob.glob(os.path.join(out, "runs", "*.replay.csv"))):
            tag = os.path.basename(replay)[:-len(".replay.csv")]
            ratio = machine_ratio(out, tag)
            run = re.match(r".+\.r(\d+)$", tag).group(1)
            catalog = os.path.join(out, f"catalog.r{run}.json")
            if not os.path.exists(catalog):
                catalog = os.path.join(out, "catalog.json")
            own = os.path.join(out, "runs", tag + ".own.catalog.json")
            exec_speed = load_speed = None
            if os.path.exists(own):
                exec_speed, load_speed = own_costs.run_speed(json.load(open(catalog)),
                                                             json.load(open(own)), replay)
            show = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
            print(f"{os.path.basename(out)}/{tag} | {show(ratio)} | {show(exec_speed)} | "
                  f"{show(load_speed)}")
            if ratio and exec_speed:
                pairs.append((ratio, exec_speed))
    if len(pairs) > 2:
        print(f"correlation of the machine ratio with the server's exec speed over {len(pairs)} "
              f"runs: {statistics.correlation(*zip(*pairs)):+.2f}")


if __name__ == "__main__":
    main()
