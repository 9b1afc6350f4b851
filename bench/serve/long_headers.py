#!/usr/bin/env python3
"""Unfinished long headers against a server under a process limit (docs/results.md,
"Connections charged what they hold"; issue 18).

Starts `brulee serve --memory F% --process-memory +F%` over a repository, opens N connections
that each send the start of a request and B bytes of one header line, never its end, and then
reads /v2/cache on the admin port: connections, what they are charged (connection_bytes and the
whole in-flight charge) and the process's RSS against its limit. Then it times a health check on
the main port, closes every connection, and checks that the charges are back to 0. Bounded: the
connections close and the server stops at the end (its --header-timeout drops them anyway).

Usage: bench/serve/long_headers.py --repo DIR --catalog FILE [--brulee build/release/brulee]
       [--connections 700] [--header-bytes 12000] [--fraction 50]
"""
import argparse
import json
import resource
import socket
import subprocess
import time
import urllib.request


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True)
    parser.add_argument("--catalog", required=True)
    parser.add_argument("--brulee", default="build/release/brulee")
    parser.add_argument("--connections", type=int, default=700)
    parser.add_argument("--header-bytes", type=int, default=12000)
    parser.add_argument("--fraction", type=float, default=50)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 256)), hard))
    server = subprocess.Popen(
        [args.brulee, "serve", "--repo", args.repo, "--catalog", args.catalog, "--memory",
         f"{args.fraction}%", "--process-memory", f"+{args.fraction}%", "--port", "0",
         "--grpc-port", "-1", "--admin-port", "0", "--header-timeout", "30", "--log-format",
         "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(server.stdout.readline().rstrip().rstrip("/").rsplit(":", 1)[1])
        admin = int(server.stdout.readline().rstrip().rstrip("/").rsplit(":", 1)[1])

        def cache():
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/v2/cache", timeout=10) as r:
                return json.load(r)

        def health():
            start = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=30) as r:
                return r.status, time.perf_counter() - start

        start = (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Pad: " +
                 b"a" * args.header_bytes)
        connections = []
        for _ in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.settimeout(0.5)
            try:
                s.sendall(start)
            except OSError:
                pass  # not taken on yet: it waits in the listen queue
            connections.append(s)
        time.sleep(2)
        c = cache()
        memory = c["process_memory"]
        with open(f"/proc/{server.pid}/status") as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
        status, seconds = health()
        print(json.dumps({
            "connections_sent": args.connections, "connections": c["connections"],
            "connection_bytes": c["connection_bytes"], "inflight_bytes": c["inflight_bytes"],
            "rss_minus_limit_mib": round((rss - memory["limit_bytes"]) / 2**20, 1),
            "health_status": status, "health_s": round(seconds, 3)}))
        for s in connections:
            s.close()
        time.sleep(1)
        status, seconds = health()
        c = cache()
        print(json.dumps({"after_close_connections": c["connections"],
                          "after_close_inflight_bytes": c["inflight_bytes"],
                          "health_status": status, "health_s": round(seconds, 3)}))
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
