"""Binary codes: recall@10 and queries/s at several oversampling values.

    python -m bench.bench_binary [--dataset ../shared/datasets/pypi-minilm] [--out FILE]

Builds one embedded collection (default settings), warms it with one pass of
all queries (so LMDB pages are mapped: these are warm-cache figures), then for
each oversampling value times the queries one at a time and as one batch.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time

import numpy as np

from bench import datasets

import vecstore


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", help="folder with base.f16.npy, queries.f16.npy, gt_ip_top100.i32.npy")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--oversampling", default="1,2,4,8,12,16,24,32")
    ap.add_argument("--out", help="also write the markdown table here")
    args = ap.parse_args()
    data = datasets.load(args.dataset, n=args.n, nq=args.nq)
    tmp = tempfile.mkdtemp(prefix="vecstore-bench-")
    lines = []
    try:
        with vecstore.open(tmp) as db:
            col = db.create_collection("bench", dim=data.xb.shape[1], metric="cosine", quantization="binary")
            t0 = time.perf_counter()
            for lo in range(0, len(data.xb), 10_000):
                col.upsert(np.arange(lo, min(lo + 10_000, len(data.xb))), data.xb[lo : lo + 10_000])
            build = time.perf_counter() - t0
            info = col.info()
            for q in data.xq:  # warm-up pass: compile kernels, map LMDB pages
                col.search(q, k=10)
            lines.append(f"dataset: {data.name} ({len(data.xb)} x {data.xb.shape[1]}), {len(data.xq)} queries; machine: {datasets.machine()}")
            lines.append(f"build (upsert in batches of 10k, durable) {build:.1f} s; RAM {info.ram_bytes / info.count:.1f} B/vector "
                         f"(codes {info.extra['code_bytes']} B + id map 8 B + liveness 1 B, plus growth slack); disk {info.disk_bytes / info.count:.0f} B/vector")
            lines.append("")
            lines.append("| oversampling | candidates (k=10) | recall@10 | single-query q/s | p50 ms | p99 ms | batched q/s |")
            lines.append("|---:|---:|---:|---:|---:|---:|---:|")
            for os_ in [float(v) for v in args.oversampling.split(",")]:
                lat = []
                ids = []
                for q in data.xq:
                    t = time.perf_counter()
                    ids.append(col.search(q, k=10, oversampling=os_).ids[0])
                    lat.append(time.perf_counter() - t)
                lat = np.array(lat)
                t = time.perf_counter()
                batched = col.search(data.xq, k=10, oversampling=os_)
                t_batch = time.perf_counter() - t
                recall = datasets.recall_at_10(np.array(ids), data.gt)
                assert np.array_equal(batched.ids, np.array(ids))
                lines.append(f"| {os_:g} | {int(np.ceil(10 * os_))} | {recall:.4f} | {1 / lat.mean():,.0f} | "
                             f"{np.percentile(lat, 50) * 1e3:.2f} | {np.percentile(lat, 99) * 1e3:.2f} | {len(data.xq) / t_batch:,.0f} |")
                print(lines[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
