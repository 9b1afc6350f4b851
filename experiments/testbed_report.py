#!/usr/bin/python3
"""Tables and figures of the testbed experiment (experiments/testbed.sh).

Reads OUT/<policy>.replay.json, OUT/<policy>.requests.csv and OUT/<policy>.sim.json; writes
OUT/results.md (the table docs/results.md quotes) and SVG figures made with gnuplot.
usage: testbed_report.py OUT POLICIES MEMORY_BYTES TOTAL_BYTES
"""
import csv
import json
import os
import subprocess
import sys


def main():
    out, policies, memory, total = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
    rows = []
    for policy in policies:
        replay = json.load(open(f"{out}/{policy}.replay.json"))
        sim = json.load(open(f"{out}/{policy}.sim.json"))
        requests = list(csv.DictReader(open(f"{out}/{policy}.requests.csv")))
        ok = [r for r in requests if r["status"] == "200"]
        load = sum(max(0.0, float(r["load_s"])) for r in ok) / max(1, len(ok))
        execs = sum(max(0.0, float(r["exec_s"])) for r in ok) / max(1, len(ok))
        hits = sum(1 for r in ok if r["hit"] == "1")
        rows.append({
            "policy": policy,
            "requests": len(requests),
            "errors": len(requests) - len(ok),
            "hit_ratio": hits / max(1, len(ok)),
            "load": load,
            "exec": execs,
            "ratio": load / execs if execs > 0 else float("nan"),
            "p50": replay["latency_p50_s"],
            "p99": replay["latency_p99_s"],
            "sim_hit_ratio": sim["hit_ratio"],
            "sim_load": sim["mean_load_delay_s"],
            "sim_exec": sim["mean_exec_s"],
            "sim_ratio": sim["load_exec_ratio"],
            "latencies": sorted(float(r["latency_s"]) for r in ok),
        })
    random_load = next((r["load"] for r in rows if r["policy"] == "random"), None)
    lines = [
        f"Memory {memory / 2**20:.0f} MiB = {100 * memory / total:.0f}% of the zoo's "
        f"{total / 2**20:.0f} MiB of measured loaded bytes; {rows[0]['requests']} requests.",
        "",
        "| policy | hit ratio | mean load delay / request | mean exec | load / exec | p50 latency "
        "| p99 latency | penalty vs random | errors | sim hit ratio | sim load delay | sim load / exec "
        "| sim error (load delay) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        penalty = f"{100 * r['load'] / random_load:.0f}%" if random_load else "-"
        error = (f"{100 * (r['sim_load'] - r['load']) / r['load']:+.0f}%" if r["load"] > 0 else "-")
        lines.append(
            f"| {r['policy']} | {r['hit_ratio']:.3f} | {1e3 * r['load']:.1f} ms | {1e3 * r['exec']:.1f} ms "
            f"| {100 * r['ratio']:.0f}% | {1e3 * r['p50']:.0f} ms | {1e3 * r['p99']:.0f} ms | {penalty} "
            f"| {r['errors']} | {r['sim_hit_ratio']:.3f} | {1e3 * r['sim_load']:.1f} ms "
            f"| {100 * r['sim_ratio']:.0f}% | {error} |")
    open(f"{out}/results.md", "w").write("\n".join(lines) + "\n")
    print("\n".join(lines))

    # Figures: load / exec per policy (testbed and simulator), and the latency CDFs.
    with open(f"{out}/ratio.dat", "w") as f:
        for i, r in enumerate(rows):
            f.write(f"{i} {r['policy']} {100 * r['ratio']:.2f} {100 * r['sim_ratio']:.2f}\n")
    for r in rows:
        with open(f"{out}/{r['policy']}.cdf.dat", "w") as f:
            n = len(r["latencies"])
            for i, latency in enumerate(r["latencies"]):
                f.write(f"{1e3 * latency:.3f} {(i + 1) / n:.5f}\n")
    cdf_plots = ", ".join(f"'{out}/{r['policy']}.cdf.dat' using 1:2 with lines lw 2 title '{r['policy']}'"
                          for r in rows)
    script = f"""
set terminal svg size 800,420 dynamic font 'sans,12'
set output '{out}/testbed_load_exec.svg'
set title 'Mean load delay per request / mean exec latency (memory = 50% of the zoo)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set ylabel 'load / exec (%)'
set yrange [0:*]
set xtics rotate by -30
set grid ytics
plot '{out}/ratio.dat' using 3:xtic(2) title 'testbed', '' using 4 title 'simulator'
set output '{out}/testbed_latency_cdf.svg'
set title 'Request latency CDF on the testbed'
set style data lines
unset xtics
set xtics
set logscale x
set xlabel 'latency (ms)'
set ylabel 'fraction of requests'
set yrange [0:1]
set key bottom right
plot {cdf_plots}
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


if __name__ == "__main__":
    main()
