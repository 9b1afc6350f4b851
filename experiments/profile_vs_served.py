#!/usr/bin/python3
"""A model's load timed by the profiler, by a server loading and unloading on request, and by a
server replaying a trace, minutes apart and alternating (docs/fidelity.md, "The profile's loads
against a server's, at the same minutes").

Each set, one after the other:
  profile  `brulee profile --runs 1 --loads 3 --no-interference --threads 1` (as the testbed's
           profile after a round), its catalog's load_latency_s the reference;
  loop     a server (one loader, one execution and one intra-op thread, room for every model)
           told to load and unload over its repository API, nothing else sent: every model's
           first load first (not timed), then per model in random order three reloads each
           after its own unload ("own", as the profiler times them), then 3 loads a model in a
           serving cache's order ("served": a random model not resident, random resident ones
           unloaded first beyond half the models);
  replay   a server with the testbed's flags (--catalog, --memory, lru, one thread each) and
           `brulee replay` of the trace, concurrency 64; its later loads (not a model's first
           of the run), "alone" where no inference overlapped them, "beside" where one did.
Times are the server's own (`loaded ... seconds=` in its log). Prints per set the median over
models of (mean load / the set's profile), each way, and the load average at each step.

usage: profile_vs_served.py --repo ZOO --trace TRACE.csv --catalog CATALOG --memory BYTES
                            [--brulee build/release/brulee] [--sets 3] [--execs 8] [--crowd 5]
                            [--binary-data] [--work DIR]
"""
import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
import urllib.request

LOADED = re.compile(r" loaded model=(\S+) bytes=\d+ seconds=([0-9.]+)")


def load_average():
    return open("/proc/loadavg").read().split()[0]


def start(brulee, flags, log_path):
    """(process, port) of `brulee serve FLAGS` on a free loopback port, its log in log_path."""
    log = open(log_path, "w")
    server = subprocess.Popen([brulee, "serve", "--port", "0", "--grpc-port", "0"] + flags,
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        found = re.search(r"listening on 127\.0\.0\.1:(\d+)", open(log_path).read())
        if found:
            return server, int(found.group(1))
        if server.poll() is not None:
            break
        time.sleep(0.1)
    server.kill()
    sys.exit(f"profile_vs_served.py: the server did not start (log: {log_path})")


def stop(server):
    server.terminate()
    server.wait()


def loads_in(log_path):
    """[(model, seconds)] of every load the server logged, in order."""
    return [(m.group(1), float(m.group(2))) for m in map(LOADED.search, open(log_path)) if m]


def repository(port, model, action):
    """POST /v2/repository/models/MODEL/ACTION (load or unload); returns once the server answers."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v2/repository/models/{model}/{action}", data=b"", method="POST")
    urllib.request.urlopen(request, timeout=120).read()


def served_load(port, models, resident, rng):
    """Loads a random model of `models` not in `resident` as a serving cache turns over: random
    resident ones unloaded first beyond half the models. Keeps `resident`; returns the model and
    the load request's start and end (time.monotonic())."""
    model = rng.choice([m for m in models if m not in resident])
    while len(resident) >= len(models) // 2:
        victim = rng.choice(resident)
        repository(port, victim, "unload")
        resident.remove(victim)
    began = time.monotonic()
    repository(port, model, "load")
    ended = time.monotonic()
    resident.append(model)
    return model, began, ended


def loop(args, models, log_path, rng):
    """The own and served loads of one load-and-unload loop: {way: {model: [seconds]}}."""
    server, port = start(args.brulee, ["--repo", args.repo, "--memory", "100%", "--policy", "lru",
                                       "--exec-threads", "1", "--loader-threads", "1",
                                       "--intra-op-threads", "1"], log_path)

    def post(model, action):
        repository(port, model, action)

    found = {"own": {}, "served": {}}
    try:
        for model in models:
            post(model, "load")
            post(model, "unload")
        order = models[:]
        rng.shuffle(order)
        before = len(loads_in(log_path))
        for model in order:
            post(model, "load")
            for _ in range(3):
                post(model, "unload")
                post(model, "load")
            post(model, "unload")
        for i, (model, seconds) in enumerate(loads_in(log_path)[before:]):
            if i % 4:  # the first of each four is the load after another model's
                found["own"].setdefault(model, []).append(seconds)
        before = len(loads_in(log_path))
        resident = []
        for _ in range(3 * len(models)):
            served_load(port, models, resident, rng)
        for model, seconds in loads_in(log_path)[before:]:
            found["served"].setdefault(model, []).append(seconds)
    finally:
        stop(server)
    return found


def replay(args, log_path, csv_path):
    """The later loads of one replayed run: {"alone"|"beside": {model: [seconds]}}."""
    server, port = start(args.brulee, [
        "--repo", args.repo, "--memory", str(args.memory), "--policy", "lru", "--seed", "1",
        "--catalog", args.catalog, "--exec-threads", "1", "--loader-threads", "1",
        "--intra-op-threads", "1", "--first-loads", "concurrent"], log_path)
    try:
        subprocess.run([args.brulee, "replay", "--url", f"http://127.0.0.1:{port}", "--trace",
                        args.trace, "--concurrency", "64", "--quiet", "--out", csv_path]
                       + (["--binary-data"] if args.binary_data else []),
                       check=True, stdout=subprocess.DEVNULL)
    finally:
        stop(server)
    rows = [r for r in csv.DictReader(open(csv_path))
            if r["hit"] != "" and r.get("status", "200") == "200"]
    runs = [(float(r["start_s"]), float(r["end_s"])) for r in rows]
    # Each load's end, model by model in order: the ready time its requests share.
    ends = {}
    for model, ready in sorted({(r["model"], float(r["ready_s"])) for r in rows
                                if r["hit"] == "0" and r["load_start_s"]}, key=lambda x: x[1]):
        ends.setdefault(model, []).append(ready)
    found = {"alone": {}, "beside": {}}
    count = {}
    for model, seconds in loads_in(log_path):
        i = count.get(model, 0)
        count[model] = i + 1
        if i == 0 or i >= len(ends.get(model, [])):
            continue  # the run's first load of the model, or one no request waited for
        end = ends[model][i]
        overlap = sum(max(0.0, min(b, end) - max(a, end - seconds)) for a, b in runs)
        found["alone" if overlap < 0.02 * seconds else "beside"].setdefault(model, []).append(seconds)
    return found


def ratio(found, profile):
    """The median over models of the mean load over the profile's figure (None if none)."""
    ratios = [statistics.mean(v) / profile[m] for m, v in found.items() if v and m in profile]
    return statistics.median(ratios) if ratios else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--trace", required=True)
    parser.add_argument("--catalog", required=True, help="the replaying server's --catalog")
    parser.add_argument("--memory", required=True, help="the replaying server's --memory")
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--sets", type=int, default=3)
    parser.add_argument("--execs", type=int, default=8)
    parser.add_argument("--crowd", type=int, default=5)
    parser.add_argument("--binary-data", action="store_true")
    parser.add_argument("--work", default="/tmp/profile_vs_served")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    models = sorted(d for d in os.listdir(args.repo)
                    if os.path.exists(os.path.join(args.repo, d, "config.json")))
    rng = random.Random(1)
    ways = ("own", "served", "replay", "alone", "beside")
    table = {way: [] for way in ways}
    print("| set | load average (profile, loop, replay) | " + " | ".join(ways) + " |")
    print("|---|---|" + "---|" * len(ways))
    for k in range(1, args.sets + 1):
        averages = [load_average()]
        catalog = os.path.join(args.work, f"profile.{k}.json")
        subprocess.run([args.brulee, "profile", "--repo", args.repo, "--runs", "1", "--execs",
                        str(args.execs), "--loads", "3", "--crowd", str(args.crowd), "--threads",
                        "1", "--no-interference", "--seed", str(k), "--out", catalog, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        profile = {m["name"]: m["load_latency_s"] for m in json.load(open(catalog))["models"]}
        averages.append(load_average())
        looped = loop(args, models, os.path.join(args.work, f"loop.{k}.log"), rng)
        averages.append(load_average())
        replayed = replay(args, os.path.join(args.work, f"replay.{k}.log"),
                          os.path.join(args.work, f"replay.{k}.csv"))
        both = {m: replayed["alone"].get(m, []) + replayed["beside"].get(m, [])
                for m in set(replayed["alone"]) | set(replayed["beside"])}
        row = {"own": ratio(looped["own"], profile), "served": ratio(looped["served"], profile),
               "replay": ratio(both, profile), "alone": ratio(replayed["alone"], profile),
               "beside": ratio(replayed["beside"], profile)}
        for way in ways:
            if row[way] is not None:
                table[way].append(row[way])
        print(f"| {k} | {', '.join(averages)} | "
              + " | ".join("-" if row[w] is None else f"{row[w]:.3f}" for w in ways) + " |",
              flush=True)
    print("| median | | " + " | ".join(f"{statistics.median(table[w]):.3f}" if table[w] else "-"
                                      for w in ways) + " |")


if __name__ == "__main__":
    main()
