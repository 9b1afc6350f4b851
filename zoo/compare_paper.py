#!/usr/bin/python3
"""Markdown table: this machine's profile (brulee profile) beside the paper's m5.large numbers.

usage: zoo/compare_paper.py PROFILE_CATALOG.json ZOO_DIR PAPER_CSV

Rows are the profiled models; the paper's columns are filled where the zoo catalog names a paper
counterpart (zoo_catalog.json "paper_model"). load/exec = mean load latency / mean exec latency.
"""
import csv
import json
import os
import sys


def main():
    if len(sys.argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    profile_path, zoo_dir, paper_path = sys.argv[1:]
    with open(profile_path) as f:
        profile = json.load(f)["models"]
    with open(os.path.join(zoo_dir, "zoo_catalog.json")) as f:
        zoo = {m["name"]: m for m in json.load(f)["models"]}
    with open(paper_path) as f:
        paper = {row["name"]: row for row in csv.DictReader(f)}
    print("| model | MB loaded | load s (p95) | exec s (p95) | load/exec | paper model | paper MB | "
          "paper load s | paper exec s | paper load/exec |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in profile:
        entry = zoo.get(m["name"], {})
        ratio = m["load_latency_s"] / m["exec_latency_s"] if m["exec_latency_s"] else float("nan")
        row = [m["name"], f"{m['size_bytes'] / 1e6:.1f}",
               f"{m['load_latency_s']:.3f} ({m.get('load_latency_p95_s', 0):.3f})",
               f"{m['exec_latency_s']:.3f} ({m.get('exec_latency_p95_s', 0):.3f})", f"{ratio:.1f}"]
        p = paper.get(entry.get("paper_model", ""))
        if p:
            load, exe = float(p["avg_load_latency_s"]), float(p["avg_exec_latency_s"])
            row += [p["name"], p["weights_mb"], f"{load:.2f}", f"{exe:.3f}", f"{load / exe:.1f}"]
        else:
            row += ["-"] * 5
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
