#!/usr/bin/env python3
"""Many open connections against one `brulee serve` (docs/server.md, "Measured").

Starts the server over a repository and records its threads and RSS idle. Then opens N
connections: a third send nothing, a third send a request header one byte a second, a third
send one keep-alive request (answered) and stay open. Meanwhile it measures new clients, each on
a fresh connection: a POST /infer of a resident model and a GET /v2/health/ready. Reports
threads and RSS idle and under load, and the new clients' latency percentiles against a
baseline taken before the connections opened. (Requests waiting on loads are measured by
serve_bench's burst.) Bounded: every connection is closed and the server stopped at the end.

Usage: bench/serve/connections.py --repo DIR [--connections 10000] [--model tiny_mlp-onnx]
       [--seconds 20] [--brulee build/release/src/cli/brulee]
"""
import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) * 1024


def timed_request(port, raw):
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(raw)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    elapsed = time.perf_counter() - start
    s.close()
    return elapsed, int(head.split(b" ")[1]) if head else -1


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repo", required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--model", default="tiny_mlp-onnx")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--brulee", default=os.path.join(os.path.dirname(__file__),
                                                         "../../build/release/src/cli/brulee"))
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    server = subprocess.Popen(
        [args.brulee, "serve", "--repo", args.repo, "--memory", "1GiB", "--port", "0", "--grpc-port", "0",
         "--preload", args.model, "--max-connections", str(args.connections + 100),
         "--idle-timeout", "600", "--header-timeout", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        port = int(line.strip().rsplit(":", 1)[1])
        meta = json.loads(subprocess.run(
            ["curl", "-sf", f"http://127.0.0.1:{port}/v2/models/{args.model}"],
            capture_output=True, text=True, check=True).stdout)
        spec = meta["inputs"][0]
        shape = [d if d > 0 else 1 for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        body = json.dumps({"inputs": [{"name": spec["name"], "shape": shape,
                                       "datatype": spec["datatype"], "data": [0] * count}]})
        infer = (f"POST /v2/models/{args.model}/infer HTTP/1.1\r\nHost: x\r\n"
                 f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode()
        ready = b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        time.sleep(0.5)
        threads_idle, rss_idle = proc_status(server.pid)
        baseline = [timed_request(port, infer)[0] for _ in range(50)]

        held, slow = [], []
        opened_at = time.perf_counter()
        for i in range(args.connections):
            s = socket.socket()
            s.setblocking(True)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            kind = i % 3
            if kind == 1:
                slow.append(s)
                s.send(b"G")
            elif kind == 2:
                s.send(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(s)
        open_s = time.perf_counter() - opened_at
        threads_max, rss_max = proc_status(server.pid)
        latencies, ready_latencies, errors = [], [], 0
        header = b"ET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"
        position = 0
        end = time.perf_counter() + args.seconds
        next_byte = time.perf_counter()
        while time.perf_counter() < end:
            if time.perf_counter() >= next_byte and position < len(header):
                for s in slow:
                    try:
                        s.send(header[position:position + 1])
                    except OSError:
                        pass
                position += 1
                next_byte += 1.0
            elapsed, status = timed_request(port, infer)
            latencies.append(elapsed)
            errors += status != 200
            elapsed, status = timed_request(port, ready)
            ready_latencies.append(elapsed)
            errors += status != 200
            threads, rss = proc_status(server.pid)
            threads_max, rss_max = max(threads_max, threads), max(rss_max, rss)
            time.sleep(0.01)
        alive = 0
        for s in held:
            try:
                s.send(b"")
                alive += 1
            except OSError:
                pass
            s.close()

        def pct(values, q):
            values = sorted(values)
            return values[min(len(values) - 1, int(q * len(values)))] * 1000

        with open("/proc/loadavg") as f:
            load = " ".join(f.read().split()[:3])
        print(json.dumps({
            "load_average": load,
            "connections": args.connections, "opened_in_s": round(open_s, 2), "still_open": alive,
            "threads_idle": threads_idle, "threads_max_under_load": threads_max,
            "rss_idle_mib": round(rss_idle / 2**20, 1),
            "rss_max_under_load_mib": round(rss_max / 2**20, 1),
            "new_client_infer_ms": {"n": len(latencies), "p50": round(pct(latencies, 0.5), 3),
                                    "p99": round(pct(latencies, 0.99), 3),
                                    "baseline_p50": round(pct(baseline, 0.5), 3)},
            "new_client_ready_ms": {"p50": round(pct(ready_latencies, 0.5), 3),
                                    "p99": round(pct(ready_latencies, 0.99), 3)},
            "errors": errors}, indent=1))
        return 0 if errors == 0 else 1
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    sys.exit(main())
