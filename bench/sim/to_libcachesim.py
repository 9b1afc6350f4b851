#!/usr/bin/python3
"""Writes a brulee binary trace as libCacheSim's oracleGeneral binary trace, for the side-by-side
measurement in bench/sim/vs_libcachesim.sh (docs/simulator.md). Not used by brulee itself.

Usage: to_libcachesim.py TRACE.bin CATALOG.json OUT.oracleGeneral.bin [--unit-cost CATALOG_OUT.json]

oracleGeneral records are 24 bytes: u32 time (s), u64 object id, u32 size (bytes), i64 next
access (-1: not given; LRU and GDSF do not read it). Object id = brulee model index + 1. With
--unit-cost, also writes the catalog with every load latency 1 s: libCacheSim's GDSF prices every
miss the same, so brulee's gdsf (priced by load latency) matches it only with uniform costs.
"""
import json
import struct
import sys

import numpy as np


def main():
    trace, catalog_path, out = sys.argv[1:4]
    catalog = json.load(open(catalog_path))
    size_of = {m["name"]: m["size_bytes"] for m in catalog["models"]}
    with open(trace, "rb") as f:
        header = f.read(48)
        if header[:8] != b"BRULTRC\0":
            sys.exit("not a brulee binary trace")
        flags, count, models, record_size, _first_id, names_bytes = struct.unpack_from(
            "<IQIIQQ", header, 12)
        table = f.read(names_bytes)
        names, at = [], 0
        for _ in range(models):
            (length,) = struct.unpack_from("<I", table, at)
            names.append(table[at + 4:at + 4 + length].decode())
            at += 4 + length
        if flags & 1:
            dtype = np.dtype([("id", "<u8"), ("time", "<f8"), ("model", "<u4")])
        else:
            dtype = np.dtype([("time", "<f8"), ("model", "<u4")])
        records = np.fromfile(f, dtype=dtype, count=count)
    sizes = np.array([size_of[n] for n in names], dtype=np.uint64)
    if sizes.max() >= 2**32:
        sys.exit("a model is too large for oracleGeneral's u32 size")
    out_records = np.zeros(count, dtype=np.dtype(
        [("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")]))
    out_records["time"] = records["time"].astype(np.uint32)
    out_records["id"] = records["model"].astype(np.uint64) + 1
    out_records["size"] = sizes[records["model"]].astype(np.uint32)
    out_records["next"] = -1
    out_records.tofile(out)
    if len(sys.argv) > 5 and sys.argv[4] == "--unit-cost":
        for m in catalog["models"]:
            m["load_latency_s"] = 1.0
        json.dump(catalog, open(sys.argv[5], "w"), indent=1)
    print(f"{count} requests, {len(names)} models, footprint "
          f"{sum(m['size_bytes'] for m in catalog['models'])} bytes")


if __name__ == "__main__":
    main()
