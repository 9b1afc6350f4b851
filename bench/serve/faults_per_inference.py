#!/usr/bin/env python3
"""Page faults and CPU per inference, model by model, one request at a time (docs/results.md,
"Inference workspace kept, charged"; issue 18).

Starts one server the way bench/serve/process_memory.py does (`--memory F%`, and with `--on`
`--process-memory +F%`), then for every model of the repository, twice over in name order: three
warm-up requests (the first loads it), then N JSON requests, reading the server's minor page
faults and CPU seconds (/proc/PID/stat) around them. Prints per model: faults and CPU ms per
request, the median of the answers' exec_s, wall ms per request, and the server's RSS after.

Usage: bench/serve/faults_per_inference.py --repo DIR --catalog FILE [--brulee build/release/brulee]
       [--on | --off] [--fraction 50] [--requests 20] [--extra "serve flags"]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import process_memory as pm  # noqa: E402 (the server start and the request helpers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--on", dest="on", action="store_true", default=True)
    parser.add_argument("--off", dest="on", action="store_false")
    parser.add_argument("--fraction", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--extra", default="--malloc-arenas 2")
    parser.add_argument("--work", default="/tmp")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    # What process_memory.serve reads.
    args.off_fraction = args.process_fraction = args.fraction
    args.on_extra, args.env = "", []
    models = sorted(m for m in os.listdir(args.repo) if os.path.isdir(os.path.join(args.repo, m)))
    bodies = {m: pm.body_for(args.repo, m) for m in models}
    proc, port, _ = pm.serve(args, args.on)
    try:
        time.sleep(1.0)
        print(f"{'on' if args.on else 'off'}, load average {pm.loadavg()}")
        for model in models + models:
            path = f"/v2/models/{model}/infer"
            for _ in range(3):
                pm.post(port, path, bodies[model])
            cpu0, faults0 = pm.cpu_and_faults(proc.pid)
            start = time.perf_counter()
            exec_s = []
            for _ in range(args.requests):
                status, _, reason = pm.post(port, path, bodies[model], exec_out=exec_s)
                if status != 200:
                    sys.exit(f"{model}: {status} {reason}")
            wall = time.perf_counter() - start
            cpu1, faults1 = pm.cpu_and_faults(proc.pid)
            n = args.requests
            print(f"{model:28s} faults/request {(faults1 - faults0) / n:7.0f}"
                  f"  cpu ms/request {1000 * (cpu1 - cpu0) / n:6.1f}"
                  f"  exec ms (median) {1000 * statistics.median(exec_s):6.1f}"
                  f"  wall ms/request {1000 * wall / n:6.1f}"
                  f"  rss {pm.rss_of(proc.pid) >> 20} MiB", flush=True)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
