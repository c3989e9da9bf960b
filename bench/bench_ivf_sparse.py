"""IVF (over several kinds), sparse codes and float16 storage: recall@10 and queries/s.

    python -m bench.bench_ivf_sparse [--dataset ../shared/datasets/pypi-minilm]
        [--only NAME,NAME] [--single 200] [--out FILE.md] [--json FILE.json]

Without --dataset it runs on seeded synthetic data (--n, default 100k; e.g.
--n 1000000 --only binary,ivf1024-binary,ivf4096-binary for the 1M case). Each setting is
one embedded collection built by upserts of 10k (durable commits, automatic
training at the thresholds); then one warm-up pass over all queries (compiles
kernels, maps LMDB pages: warm-cache figures), then for every sweep point
(nprobe or oversampling) the batched call over all queries gives recall@10
and batched q/s, and the first --single queries timed one per call give
single-query q/s (their ids must equal the batched ones).
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from bench import datasets

import vecstore
from vecstore import BinaryQuantization, IVFConfig, SparseQuantization


@dataclass
class Setting:
    name: str
    family: str  # one line per family in the plot
    create: dict
    sweep: str  # search argument swept: "nprobe", "oversampling" or "" (defaults only)
    values: list = field(default_factory=list)


SETTINGS = [
    Setting("binary", "binary (flat)", dict(quantization="binary"), "oversampling", [4, 8, 16]),
    Setting("binary-f16", "binary (flat), float16 on disk", dict(quantization="binary", vector_dtype="float16"), "oversampling", [4, 8, 16]),
    Setting("ivf256-binary", "IVF256 + binary", dict(quantization="binary", ivf=IVFConfig(nlist=256)), "nprobe", [4, 8, 16, 32, 64]),
    Setting("ivf1024-binary", "IVF1024 + binary", dict(quantization="binary", ivf=IVFConfig(nlist=1024)), "nprobe", [8, 16, 32, 64, 128]),
    Setting("ivf4096-binary", "IVF4096 + binary", dict(quantization="binary", ivf=IVFConfig(nlist=4096)), "nprobe", [16, 32, 64, 128, 256]),
    Setting("ivf1024-none", "IVF1024 + none (float32 in RAM)", dict(quantization="none", ivf=IVFConfig(nlist=1024)), "nprobe", [4, 8, 16, 32, 64]),
    Setting("sparse", "sparse D8192 a64 q256", dict(quantization="sparse"), "oversampling", [10, 20, 40, 80]),
    Setting("sparse-small", "sparse D4096 a32 q128", dict(quantization=SparseQuantization(expansion_dim=4096, active=32)), "oversampling", [10, 20, 40, 80]),
    Setting("ivf256-sparse", "IVF256 + sparse D8192 a64", dict(quantization="sparse", ivf=IVFConfig(nlist=256)), "nprobe", [8, 16, 32, 64]),
]


def ram_breakdown(col) -> dict:
    """Bytes per live vector of each part of the RAM segment."""
    seg, n = col._seg, col._seg.count
    parts = {
        "codes": seg.codes.nbytes,
        "ids+alive": seg.ids.nbytes + seg.alive.nbytes,
        "ivf lists": seg.list_of.nbytes + (seg.lists.nbytes() if seg.lists is not None else 0),
        "postings": seg.postings.nbytes() if seg.postings is not None else 0,
        "fixed (centroids, projection)": (seg.ivf.centroids.nbytes if seg.ivf is not None else 0)
        + (seg.codec.aux_nbytes() if hasattr(seg.codec, "aux_nbytes") else 0),
    }
    return {k: v / n for k, v in parts.items() if v}


def run_setting(s: Setting, data, n_single: int, workdir: str) -> list[dict]:
    path = tempfile.mkdtemp(prefix=f"{s.name}-", dir=workdir)
    rows = []
    try:
        with vecstore.open(path, sync=True) as db:
            col = db.create_collection("bench", dim=data.xb.shape[1], metric="cosine", **s.create)
            t0 = time.perf_counter()
            for lo in range(0, len(data.xb), 10_000):
                col.upsert(np.arange(lo, min(lo + 10_000, len(data.xb))), data.xb[lo : lo + 10_000])
            build = time.perf_counter() - t0
            info = col.info()
            col.search(data.xq, k=10)  # warm-up: kernels compiled, LMDB pages mapped
            for q in data.xq[:n_single]:
                col.search(q, k=10)
            ram = info.ram_bytes / info.count
            print(f"## {s.name}: build {build:.1f} s, RAM {ram:.1f} B/vector {ram_breakdown(col)}, "
                  f"disk {info.disk_bytes / info.count:.0f} B/vector, extra {info.extra}", flush=True)
            for value in s.values or [None]:
                kw = {s.sweep: value} if value is not None else {}
                t = time.perf_counter()
                batched = col.search(data.xq, k=10, **kw)
                t_batch = time.perf_counter() - t
                single = []
                t = time.perf_counter()
                for q in data.xq[:n_single]:
                    single.append(col.search(q, k=10, **kw).ids[0])
                t_single = time.perf_counter() - t
                assert np.array_equal(np.array(single), batched.ids[:n_single]), "single and batched results differ"
                coarse = col.search(data.xq, k=10, rescore=False, **kw)
                row = dict(
                    setting=s.name, family=s.family, sweep=s.sweep, value=value,
                    recall=datasets.recall_at_10(batched.ids, data.gt),
                    recall_codes=datasets.recall_at_10(coarse.ids, data.gt),
                    qps_single=n_single / t_single, qps_batch=len(data.xq) / t_batch,
                    ram_bytes_per_vector=ram, code_bytes=info.extra["code_bytes"],
                    disk_bytes_per_vector=info.disk_bytes / info.count, build_s=build,
                )
                rows.append(row)
                print(f"| {s.name} | {s.sweep or '-'}={value} | {row['recall']:.4f} | {row['recall_codes']:.4f} | "
                      f"{row['qps_single']:,.0f} | {row['qps_batch']:,.0f} | {ram:.0f} | {row['disk_bytes_per_vector']:.0f} | {build:.1f} |",
                      flush=True)
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", help="folder with base.f16.npy, queries.f16.npy, gt_ip_top100.i32.npy")
    ap.add_argument("--n", type=int, default=100_000, help="synthetic base size (without --dataset)")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--single", type=int, default=200, help="queries timed one per call")
    ap.add_argument("--only", help="comma-separated setting names: " + ",".join(s.name for s in SETTINGS))
    ap.add_argument("--workdir", default=None, help="where the temporary databases go")
    ap.add_argument("--out", help="also write the markdown table here")
    ap.add_argument("--json", help="also write the rows as JSON here (input of plot_recall_qps.py)")
    args = ap.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    unknown = (wanted or set()) - {s.name for s in SETTINGS}
    if unknown:
        ap.error(f"unknown settings {sorted(unknown)}")
    data = datasets.load(args.dataset, n=args.n, nq=args.nq)
    header = [
        f"dataset: {data.name} ({len(data.xb)} x {data.xb.shape[1]}), {len(data.xq)} queries, k=10; machine: {datasets.machine()}",
        "",
        "| setting | sweep | recall@10 | recall@10 codes only (rescore=False) | single-query q/s | batched q/s | RAM B/vector | disk B/vector | build s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(header), flush=True)
    rows = []
    for s in SETTINGS:
        if wanted is None or s.name in wanted:
            rows += run_setting(s, data, args.single, args.workdir)
    lines = header + [
        f"| {r['setting']} | {r['sweep'] or '-'}={r['value']} | {r['recall']:.4f} | {r['recall_codes']:.4f} | {r['qps_single']:,.0f} | "
        f"{r['qps_batch']:,.0f} | {r['ram_bytes_per_vector']:.0f} | {r['disk_bytes_per_vector']:.0f} | {r['build_s']:.1f} |"
        for r in rows
    ]
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"dataset": data.name, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
