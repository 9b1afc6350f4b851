#!/usr/bin/python3
"""How often would a perfect simulator meet issue 15's bounds on this machine?

The bounds compare the simulator's prediction with a testbed's mean over three runs of each
policy (hit ratio within 0.02, mean load delay and mean latency within 10%). A mean over three
runs is itself a draw: this script measures how wide that draw is, and what it leaves a
predictor that knew every expectation exactly. For the testbeds OUT (`experiments/testbed.sh`;
give those of one zoo together):

1. Per policy, the standard error of the testbed's mean (sample standard deviation over its runs
   / sqrt(runs)), as a share of the mean for load delay and latency, absolute for the hit
   ratio: each testbed's figure, and the root mean square over the testbeds (a steadier estimate
   than one testbed's three runs give).
2. The probability that a predictor equal to the expectation meets each bound, and all 21 of a
   testbed at once, drawing each policy's three errors together (normal, with the pooled
   standard errors of 1 and the correlation of the three metrics within a policy's runs, pooled
   over every run) and the policies independently. This leaves out any level the whole testbed
   shares (the machine's speed over its half hour), which only lowers the chance further.
3. The same question answered without a model: each testbed against the mean of the other
   testbeds given (their long-run average standing in for the expectation), the bounds met.

usage: noise_floor.py OUT [OUT ...]
"""
import json
import math
import os
import random
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testbed_report  # noqa: E402

METRICS = testbed_report.BOUNDS
DRAWS = 100000


def runs_of(out):
    """policy -> the measured metrics of each of its runs."""
    found = {}
    folder = os.path.join(out, "runs")
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".replay.csv"):
            continue
        policy = name.split(".r")[0]
        found.setdefault(policy, []).append(testbed_report.measure(os.path.join(folder, name)))
    return found


error = testbed_report.bound_error
met = testbed_report.within


def cholesky(a):
    n = len(a)
    low = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            s = a[i][j] - sum(low[i][k] * low[j][k] for k in range(j))
            low[i][j] = math.sqrt(max(s, 1e-12)) if i == j else s / low[j][j]
    return low


def main():
    outs = sys.argv[1:]
    if not outs:
        sys.exit(__doc__.strip().splitlines()[-1])
    folders = {os.path.basename(os.path.normpath(out)): out for out in outs}
    for out in outs:
        if not os.path.isdir(os.path.join(out, "runs")):
            sys.exit(f"noise_floor.py: {out} has no runs/ folder (not a testbed's output)")
    testbeds = {name: runs_of(out) for name, out in folders.items()}
    policies = sorted(set.intersection(*(set(t) for t in testbeds.values())))
    if not policies:
        sys.exit("noise_floor.py: no policy has runs in every testbed given")
    short = [f"{name} {p}" for name, runs in testbeds.items() for p in policies if len(runs[p]) < 2]
    if short:
        sys.exit("noise_floor.py: a standard error needs two runs a policy at least; "
                 "one only: " + ", ".join(short))

    # 1. Standard errors of the testbeds' means.
    print("## Standard error of a testbed's mean over its runs, per policy")
    print("(hit ratio absolute; load delay and latency as a share of the mean; "
          "each testbed, then the root mean square over them)\n")
    pooled = {}
    for policy in policies:
        pooled[policy] = {}
        for metric, kind, _ in METRICS:
            figures = []
            for runs in testbeds.values():
                values = [r[metric] for r in runs[policy]]
                se = statistics.stdev(values) / math.sqrt(len(values))
                figures.append(se if kind == "abs" else se / statistics.mean(values))
            pooled[policy][metric] = math.sqrt(statistics.mean([f * f for f in figures]))
            shown = " ".join(f"{f:.3f}" if kind == "abs" else f"{100 * f:.1f}%" for f in figures)
            rms = pooled[policy][metric]
            print(f"  {policy:20s} {metric:18s} {shown}  rms "
                  + (f"{rms:.3f}" if kind == "abs" else f"{100 * rms:.1f}%"))

    # Each run's deviation from its policy's mean in its testbed, in the units of the bounds,
    # split into the round's effect (the mean deviation of the round's runs: a slow stretch of
    # the machine slows every policy's run of that round alike) and the rest.
    rounds = min(len(runs[p]) for runs in testbeds.values() for p in policies)
    deviations, shared_var, own_var = [], [0.0] * 3, {p: [0.0] * 3 for p in policies}
    for runs in testbeds.values():
        dev = {}
        for policy in policies:
            means = [statistics.mean(r[m] for r in runs[policy][:rounds]) for m, _, _ in METRICS]
            dev[policy] = [[error(r[m], means[i], kind) for i, (m, kind, _) in enumerate(METRICS)]
                           for r in runs[policy][:rounds]]
            deviations.extend(dev[policy])
        effect = [[statistics.mean(dev[p][k][i] for p in policies) for i in range(3)]
                  for k in range(rounds)]
        scale = len(policies) / (len(policies) - 1)
        for policy in policies:
            for i in range(3):
                rest = sum((dev[policy][k][i] - effect[k][i]) ** 2 for k in range(rounds))
                own_var[policy][i] += rest / (rounds - 1) * scale / len(testbeds)
        for i in range(3):
            shared_var[i] += sum(effect[k][i] ** 2 for k in range(rounds)) / (rounds - 1) / len(testbeds)
    for i in range(3):  # a round's effect also holds 1/P of the policies' own noise
        shared_var[i] = max(0.0, shared_var[i] - statistics.mean(own_var[p][i] for p in policies)
                            / len(policies))
    sd = [math.sqrt(statistics.mean([d[i] ** 2 for d in deviations])) for i in range(3)]
    corr = [[statistics.mean([d[i] * d[j] for d in deviations]) / (sd[i] * sd[j])
             for j in range(3)] for i in range(3)]
    print("\ncorrelation within a policy's runs (hit, load delay, latency), "
          f"{len(deviations)} runs:")
    for row in corr:
        print("  " + " ".join(f"{c:+.2f}" for c in row))
    print("a run's standard deviation shared by its round (hit, load delay, latency): "
          + " ".join(f"{math.sqrt(v):.3f}" for v in shared_var))

    # 2. A predictor equal to the expectation, by simulation of the draws: each policy's mean
    # error drawn whole (its pooled standard error), the policies independent; then with the
    # rounds' shared part drawn once for all policies and the rest for each.
    rng = random.Random(1)
    low = cholesky(corr)

    def draw():
        z = [rng.gauss(0.0, 1.0) for _ in range(3)]
        return [sum(low[i][k] * z[k] for k in range(i + 1)) for i in range(3)]

    total = 3 * len(policies)
    for shared in (False, True):
        per_check = {(p, m): 0 for p in policies for m, _, _ in METRICS}
        counts = [0] * (total + 1)
        for _ in range(DRAWS):
            common = draw()
            n = 0
            for policy in policies:
                x = draw()
                for i, (metric, _, bound) in enumerate(METRICS):
                    if shared:
                        e = (common[i] * math.sqrt(shared_var[i])
                             + x[i] * math.sqrt(own_var[policy][i])) / math.sqrt(rounds)
                    else:
                        e = x[i] * pooled[policy][metric]
                    if abs(e) <= bound:
                        per_check[(policy, metric)] += 1
                        n += 1
            counts[n] += 1
        title = ("the rounds' effect shared by the policies" if shared else
                 "the policies independent")
        print(f"\n## A predictor equal to the expectation, {title} ({DRAWS} draws)\n")
        for policy in policies:
            print(f"  {policy:20s} " + "  ".join(
                f"{m}: {100 * per_check[(policy, m)] / DRAWS:.0f}%" for m, _, _ in METRICS))
        expected = sum(k * c for k, c in enumerate(counts)) / DRAWS
        print(f"\n  every one of the {total} bounds met: {100 * counts[total] / DRAWS:.1f}% of "
              f"testbeds; bounds met on average {expected:.1f}; at least {total - 1}: "
              f"{100 * (counts[total] + counts[total - 1]) / DRAWS:.1f}%")

    # What more runs a policy would buy: the standard errors shrink as 1 / sqrt(runs).
    print("\n## Runs a policy, and the share of testbeds in which a predictor equal to the "
          "expectation meets every bound (the policies independent)\n")
    for runs_each in (3, 6, 9, 12, 15, 20):
        shrink = math.sqrt(rounds / runs_each)
        every = 0
        for _ in range(DRAWS // 5):
            every += all(abs(x[i] * pooled[p][m] * shrink) <= bound
                         for p in policies for x in [draw()]
                         for i, (m, _, bound) in enumerate(METRICS))
        print(f"  {runs_each:2d} runs: {100 * every / (DRAWS // 5):.1f}% "
              f"({runs_each * len(policies)} runs a testbed)")

    # 3. Each testbed against the mean of the others.
    print("\n## Each testbed against the mean of the other testbeds, bounds met "
          "(and the simulator's, as the testbed reported it)\n")
    for name, runs in testbeds.items():
        others = [t for other, t in testbeds.items() if other != name]
        n = sim_n = 0
        worst = [0.0, 0.0, 0.0]
        for policy in policies:
            for i, (metric, kind, bound) in enumerate(METRICS):
                truth = statistics.mean(r[metric] for r in runs[policy])
                guess = statistics.mean(statistics.mean(r[metric] for r in t[policy]) for t in others)
                n += met(guess, truth, kind, bound)
                worst[i] = max(worst[i], abs(error(guess, truth, kind)))
        summary = os.path.join(folders[name], "summary.json")
        if os.path.exists(summary):
            entries = json.load(open(summary))["policies"]
            sim_n = sum(met(entries[p]["sim"][m], entries[p][m], kind, bound)
                        for p in policies for m, kind, bound in METRICS)
        print(f"  {name:8s} others' mean: {n}/{total} (worst {worst[0]:.3f} / "
              f"{100 * worst[1]:.1f}% / {100 * worst[2]:.1f}%)   simulator: {sim_n}/{total}")


if __name__ == "__main__":
    main()
