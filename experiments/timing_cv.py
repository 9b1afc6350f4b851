#!/usr/bin/python3
"""The spread of a profiled catalog's latencies, as one coefficient of variation.

For each model with both figures, the log-normal whose median and 95th percentile are the
profile's (`*_latency_p50_s`, `*_latency_p95_s`) has sigma = ln(p95 / p50) / 1.645 and a
coefficient of variation sqrt(exp(sigma^2) - 1); the figure printed is the median of those over
the catalog's models, executions and loads alike. `brulee simulate --latency sampled
--latency-cv CV` then draws each load and inference with that spread, the spread a server's runs
have from one request to the next (docs/fidelity.md, "Timing-sensitive decisions: the
simulator's prediction is a mean over timings").

usage: timing_cv.py CATALOG.json
"""
import json
import math
import statistics
import sys


def latency_cv(catalog):
    models = catalog["models"] if isinstance(catalog, dict) else catalog
    cvs = []
    for model in models:
        for kind in ("exec", "load"):
            p50 = model.get(f"{kind}_latency_p50_s", 0.0) or 0.0
            p95 = model.get(f"{kind}_latency_p95_s", 0.0) or 0.0
            if p50 > 0.0 and p95 >= p50:
                sigma = math.log(p95 / p50) / 1.645
                cvs.append(math.sqrt(math.expm1(sigma * sigma)))
    return statistics.median(cvs) if cvs else 0.0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1])
    print(f"{latency_cv(json.load(open(sys.argv[1]))):.4f}")
