"""A `brulee serve` on loopback for an experiment, and inference bodies for its models.

Used by exec_interleaved.py and probe_vs_inference.py: one execution thread and one intra-op
thread, as the testbeds run the server, every model of the repository allowed resident.
"""
import json
import random
import subprocess
import sys
import urllib.request


def start_server(brulee, repo):
    """(process, port) of a server on a free loopback port; exits if it does not start."""
    server = subprocess.Popen([brulee, "serve", "--repo", repo, "--port", "0", "--grpc-port", "-1",
                               "--memory", "100%", "--exec-threads", "1", "--intra-op-threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    if not line.startswith("listening on 127.0.0.1:"):
        server.terminate()
        server.wait()
        sys.exit(f"{sys.argv[0]}: the server did not start: {line!r}")
    return server, int(line.split(":")[-1])


def json_body(repo, model, seed=1):
    """A KServe v2 JSON inference body for the model's declared inputs, values in [0, 1)."""
    rng = random.Random(seed)
    config = json.load(open(f"{repo}/{model}/config.json"))
    inputs = []
    for spec in config["inputs"]:
        shape = [1 if d < 0 else d for d in spec["shape"]]
        count = 1
        for d in shape:
            count *= d
        inputs.append({"name": spec["name"], "datatype": spec["dtype"], "shape": shape,
                       "data": [round(rng.random(), 3) for _ in range(count)]})
    return json.dumps({"inputs": inputs}).encode()


def infer(port, model, body):
    """The answer's parameters (exec_s, hit, ...) of one inference."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v2/models/{model}/infer",
                                     data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)["parameters"]
