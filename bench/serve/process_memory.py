#!/usr/bin/env python3
"""The process limit against the server's real RSS (docs/server.md, "Process memory"; issue 18).

For each round, two servers over the same repository, one after the other (order alternating by
round): `--memory F%` alone ("off"; `--off-fraction G` makes it `--memory G%`) and `--memory F%
--process-memory +F%` ("on"; `--process-fraction P` makes it `+P%`). Each server:
  idle     RSS once it listens (the script's baseline; the server reports its own);
  hit      one small model loaded, N sequential JSON requests: median latency;
  mixed    C clients for S seconds, each request's model drawn Zipf(1) over every model; a
           client answered 503 waits the Retry-After second before its next request;
  burst    B requests sent at once (B threads behind a barrier) across every model: wall time,
           answered per second, errors, and the server's loads, CPU seconds and minor page
           faults during it, and its execution threads' busy share (the answers' exec_s over
           --exec-threads x the burst's wall time); /v2/cache polled on the server's admin port
           every 50 ms through it (means of resident models, executions, loads, queued requests,
           charges by kind, RSS against the limit, the reserve and the unattributed bytes; every
           sample in WORK/burst-state-{on,off}.jsonl, every round appended);
  unload   every model unloaded over the repository API, memory trimmed: RSS after.
A thread samples the server's RSS (/proc/PID/statm) every 2 ms throughout. Reports per run and
the medians over runs: peak RSS against the limit, peak RSS growth over idle against the budget
(F% of the footprint = the catalog's resting bytes), RSS after unloading against idle, hit p50,
burst throughput and status counts (with each error answer's message, numbers blanked, and
when errors were answered: first, median and last second after the burst's start), with
/proc/loadavg before and after each server.

Usage: bench/serve/process_memory.py --repo DIR --catalog FILE [--brulee build/release/brulee]
       [--runs 3] [--fraction 50] [--off-fraction G] [--process-fraction P] [--mixed-seconds 30] [--clients 8] [--burst 512]
       [--hit-model squeezenet1_1-onnx] [--hit-requests 200] [--extra "serve flags"]
       [--on-extra "flags for the on server only"]
       [--env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2] [--only on|off]
"""
import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_of(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu_and_faults(pid):
    """The process's CPU seconds (user + system) and minor page faults so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[7])


def loads_of(port):
    """Completed model loads so far (the sum of brulee_model_loads_total)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("brulee_model_loads_total{"))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class StateSampler(threading.Thread):
    """Polls /v2/cache on the admin port (answered at once, whatever the main port waits for)
    every 50 ms: how many models are resident, executing and loading, and the process budget's
    charges by kind; means over the samples."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop_flag, self.samples, self.models = port, False, [], []

    def run(self):
        while not self.stop_flag:
            try:
                cache = get_json(self.port, "/v2/cache")
            except OSError:
                return
            memory = cache["process_memory"]
            charged = memory["charged"]
            self.models.append({m["name"]: [m["state"], m["queue_depth"], m["executing"],
                                            m["pins"], m.get("held", 0), m.get("read_turns", 0)]
                                for m in cache["models"]})
            sample = {
                "resident": sum(1 for m in cache["models"] if m["resident"]),
                "executing": cache["executing"], "loading": cache["loading"],
                "queued": cache["queued"],
                "inflight_waiting": cache.get("inflight_waiting", 0),
                # Of the buffers' charge, what open connections hold (16 KiB each)
                "connection_mib": cache.get("connection_bytes", 0) / 2**20,
                **{f"{kind}_mib": charged[kind] / 2**20 for kind in charged},
                # What nobody charged and the room the budget keeps for it (capped: a crossing
                # of the limit is a moment when the first exceeds the second)
                "reserve_mib": memory["reserve_bytes"] / 2**20,
                "unattributed_mib": memory["unattributed_bytes"] / 2**20}
            if memory["limit_bytes"]:  # RSS as the server reads it, against its limit
                over = memory["rss_bytes"] - memory["limit_bytes"]
                sample["rss_minus_limit_mib"] = over / 2**20
            self.samples.append(sample)
            time.sleep(0.05)

    def means(self):
        if not self.samples:
            return {}
        return {key: round(statistics.mean(s[key] for s in self.samples), 2)
                for key in self.samples[0]}


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, False

    def run(self):
        while not self.stop_flag:
            try:
                self.peak = max(self.peak, rss_of(self.pid))
            except OSError:
                return
            time.sleep(0.002)


def body_for(repo, model):
    with open(os.path.join(repo, model, "config.json")) as f:
        config = json.load(f)
    inputs = []
    for spec in config["inputs"]:
        shape = [1 if d < 0 else d for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        inputs.append({"name": spec["name"], "shape": shape, "datatype": spec["dtype"],
                       "data": [0] * count})
    return json.dumps({"inputs": inputs}).encode()


def reason_of(status, data):
    """An error answer's message, its numbers and quoted names blanked (for counting)."""
    if status == 200:
        return ""
    try:
        text = json.loads(data).get("error", "")
    except ValueError:
        text = data[:80].decode(errors="replace")
    return " ".join("N" if any(c.isdigit() for c in w) else w for w in text.split())[:90]


def exec_s_of(status, data):
    """The server's execution seconds for an answered inference (its `exec_s` parameter)."""
    if status != 200:
        return 0.0
    try:
        return float(json.loads(data).get("parameters", {}).get("exec_s", 0.0))
    except (ValueError, AttributeError):
        return 0.0


def post(port, path, body=b"", timeout=120, exec_out=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    start = time.perf_counter()
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if exec_out is not None:
            exec_out.append(exec_s_of(response.status, data))
        return response.status, time.perf_counter() - start, reason_of(response.status, data)
    except OSError as e:
        return 0, time.perf_counter() - start, type(e).__name__
    finally:
        conn.close()


def get_json(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return json.loads(data)


def serve(args, on):
    memory = args.fraction if on else args.off_fraction
    flags = [args.brulee, "serve", "--repo", args.repo, "--catalog", args.catalog, "--memory",
             f"{memory}%", "--port", "0", "--grpc-port", "-1", "--admin-port", "0",
             "--log-format", "json"]
    if on:
        flags += ["--process-memory", f"+{args.process_fraction}%"]
    flags += args.extra.split()
    if on:
        flags += args.on_extra.split()
    log = open(os.path.join(args.work, f"serve-{'on' if on else 'off'}.log"), "a")
    env = dict(os.environ)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    proc = subprocess.Popen(flags, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        sys.exit(f"server did not start: {line!r}")
    admin = proc.stdout.readline()
    if "admin listening" not in admin:
        proc.kill()
        sys.exit(f"server did not open its admin port: {admin!r}")
    return proc, int(line.rsplit(":", 1)[1]), int(admin.rsplit(":", 1)[1])


def one_server(args, on, models, bodies):
    before = loadavg()
    proc, port, admin_port = serve(args, on)
    try:
        time.sleep(1.0)
        idle = rss_of(proc.pid)
        cache = get_json(port, "/v2/cache")
        limit = cache["process_memory"]["limit_bytes"]
        sampler = Sampler(proc.pid)
        sampler.start()
        # hit path
        hit = args.hit_model
        post(port, f"/v2/repository/models/{hit}/load")
        post(port, f"/v2/models/{hit}/infer", bodies[hit])
        latencies = []
        for _ in range(args.hit_requests):
            status, seconds, _ = post(port, f"/v2/models/{hit}/infer", bodies[hit])
            if status == 200:
                latencies.append(seconds)
        # mixed
        weights = [1.0 / (rank + 1) for rank in range(len(models))]
        statuses, reasons, burst_reasons = {}, {}, {}
        lock = threading.Lock()
        deadline = time.monotonic() + args.mixed_seconds

        def client(seed):
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                model = rng.choices(models, weights)[0]
                status, _, reason = post(port, f"/v2/models/{model}/infer", bodies[model])
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if reason:
                        key = f"{status} {reason}"
                        reasons[key] = reasons.get(key, 0) + 1
                if status == 503:
                    time.sleep(1.0)  # the server's Retry-After (always 1 s here)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        mixed_peak = sampler.peak
        # burst
        barrier = threading.Barrier(args.burst + 1)
        burst = {}
        error_times = []  # seconds after the burst's start at which errors were answered
        exec_seconds = []  # each answer's exec_s
        start = time.perf_counter()

        def one(i):
            model = models[i % len(models)]
            barrier.wait()
            status, _, reason = post(port, f"/v2/models/{model}/infer", bodies[model], timeout=300,
                                     exec_out=exec_seconds)
            with lock:
                if status != 200:
                    error_times.append(time.perf_counter() - start)
                burst[status] = burst.get(status, 0) + 1
                if reason:
                    key = f"{status} {reason}"
                    burst_reasons[key] = burst_reasons.get(key, 0) + 1

        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.burst)]
        for t in threads:
            t.start()
        loads0 = loads_of(port)
        cpu0, faults0 = cpu_and_faults(proc.pid)
        state = StateSampler(admin_port)
        state.start()
        barrier.wait()
        start = time.perf_counter()
        for t in threads:
            t.join()
        burst_s = time.perf_counter() - start
        state.stop_flag = True
        state.join()
        # Every sample, with each model's [state, queue depth, executing, pins], for a timeline.
        with open(os.path.join(args.work, f"burst-state-{'on' if on else 'off'}.jsonl"), "a") as f:
            for sample, per_model in zip(state.samples, state.models):
                f.write(json.dumps({**sample, "models": per_model}) + "\n")
        cpu1, faults1 = cpu_and_faults(proc.pid)
        burst_loads = loads_of(port) - loads0
        # unload everything
        for model in models:
            post(port, f"/v2/repository/models/{model}/unload")
        time.sleep(1.0)
        after = rss_of(proc.pid)
        sampler.stop_flag = True
        sampler.join()
        final = get_json(port, "/v2/cache")["process_memory"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {
        "config": "on" if on else "off", "idle": idle, "limit": limit,
        "server_baseline": final["baseline_bytes"], "peak": sampler.peak,
        "mixed_peak": mixed_peak, "after_unload": after,
        "hit_p50_ms": statistics.median(latencies) * 1e3 if latencies else float("nan"),
        "mixed_statuses": statuses, "burst_statuses": burst, "burst_s": burst_s,
        "mixed_reasons": reasons, "burst_reasons": burst_reasons,
        "burst_ok_per_s": burst.get(200, 0) / burst_s,
        "burst_loads": burst_loads, "burst_cpu_s": round(cpu1 - cpu0, 2),
        "burst_minor_faults": faults1 - faults0,
        # The execution threads' busy share over the burst (the server's default 2 threads).
        "burst_exec_busy": round(sum(exec_seconds) / (args.exec_threads * burst_s), 3),
        # Means over the burst of /v2/cache polled on the admin port every 50 ms.
        "burst_state": state.means(),
        "burst_error_s": [round(min(error_times), 2), round(statistics.median(error_times), 2),
                          round(max(error_times), 2)] if error_times else [],
        "loadavg_before": before, "loadavg_after": loadavg(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--brulee", default=os.path.join(os.path.dirname(__file__),
                                                         "../../build/release/brulee"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fraction", type=int, default=50)
    parser.add_argument("--off-fraction", type=float, default=None,
                        help="the off server's --memory percent (default: --fraction): how far "
                             "an operator must lower --memory to stay under the on server's limit")
    parser.add_argument("--process-fraction", type=float, default=None,
                        help="the on server's --process-memory +P%% (default: --fraction); far "
                             "above it, the limit never binds and only the accounting's own "
                             "cost is measured")
    parser.add_argument("--mixed-seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--burst", type=int, default=512)
    parser.add_argument("--exec-threads", type=int, default=2,
                        help="the servers' execution threads (for the burst's busy share)")
    parser.add_argument("--hit-model", default="squeezenet1_1-onnx")
    parser.add_argument("--hit-requests", type=int, default=200)
    parser.add_argument("--extra", default="", help="flags for both servers")
    parser.add_argument("--on-extra", default="",
                        help="flags for the on server only, after --extra (what the limit costs "
                        "with settings chosen for it)")
    parser.add_argument("--env", action="append", default=[],
                        help="KEY=VALUE for the server (e.g. LD_PRELOAD=...libjemalloc.so.2)")
    parser.add_argument("--work", default="/tmp")
    parser.add_argument("--only", choices=["on", "off"], default=None)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.off_fraction is None:
        args.off_fraction = args.fraction
    if args.process_fraction is None:
        args.process_fraction = args.fraction
    with open(args.catalog) as f:
        catalog = json.load(f)
    entries = catalog["models"] if isinstance(catalog, dict) else catalog
    models = sorted(d for d in os.listdir(args.repo)
                    if os.path.isfile(os.path.join(args.repo, d, "config.json")))
    # The footprint of the served models (the server's N% is of the same sum).
    footprint = sum(int(m["size_bytes"]) for m in entries if m["name"] in models)
    budget = footprint * args.fraction / 100
    bodies = {m: body_for(args.repo, m) for m in models}
    print(f"models {len(models)} footprint {footprint / 2**20:.1f} MiB budget "
          f"{budget / 2**20:.1f} MiB ({args.fraction}%)", flush=True)
    results = []
    for run in range(args.runs):
        order = [False, True] if run % 2 == 0 else [True, False]
        if args.only:
            order = [args.only == "on"]
        for on in order:
            r = one_server(args, on, models, bodies)
            r["run"] = run
            results.append(r)
            growth = r["peak"] - r["idle"]
            print(json.dumps({**r, "growth_over_budget": round(growth / budget, 3),
                              "after_over_idle": round(r["after_unload"] / r["idle"], 3)}),
                  flush=True)
    for config in ("off", "on"):
        rows = [r for r in results if r["config"] == config]
        if not rows:
            continue
        med = lambda key: statistics.median(r[key] for r in rows)
        growth = statistics.median((r["peak"] - r["idle"]) / budget for r in rows)
        print(f"{config}: runs {len(rows)} idle {med('idle') / 2**20:.1f} MiB, peak "
              f"{med('peak') / 2**20:.1f} MiB, limit {med('limit') / 2**20:.1f} MiB, peak growth / "
              f"budget {growth:.2f}, max {max((r['peak'] - r['idle']) / budget for r in rows):.2f}, "
              f"after unload / idle {statistics.median(r['after_unload'] / r['idle'] for r in rows):.3f}, "
              f"hit p50 {med('hit_p50_ms'):.2f} ms, burst {med('burst_ok_per_s'):.1f} ok/s "
              f"({med('burst_loads'):.0f} loads, {med('burst_cpu_s'):.1f} CPU s, "
              f"execution threads busy {med('burst_exec_busy'):.2f}, "
              f"{med('burst_minor_faults'):.0f} minor faults)",
              flush=True)
        if config == "on":
            # A median hides a round that crossed the limit: every round's peak against it.
            over = [(r["peak"] - r["limit"]) / 2**20 for r in rows]
            print(f"on: peak - limit per round (MiB): {', '.join(f'{o:+.1f}' for o in over)}; "
                  f"above the limit in {sum(o > 0 for o in over)} of {len(over)}", flush=True)


if __name__ == "__main__":
    main()
