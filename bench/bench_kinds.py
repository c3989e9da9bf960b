"""Every quantization kind, a few settings each, through the embedded API.

    python -m bench.bench_kinds --dataset ../shared/datasets/pypi-minilm \
        --out bench/out/kinds.md --plot bench/kinds_pypi_minilm.png
    python -m bench.bench_kinds            # seeded synthetic data, quick

Per setting (one collection) and oversampling value (one row): recall@10
against the exact top 10, queries/s one query per call and in batches,
RAM bytes per vector (`info().ram_bytes / count`: codes + 9 bytes of id map
and liveness, plus the segment's growth slack), code bytes, the time to
upsert everything in batches of 10,000 (automatic training included) and
the training time: the batch that triggered training (learning plus
re-encoding the vectors already stored) less the median batch.
Kinds registered in `vecstore.config.QUANTIZATION_KINDS` without settings
below run with their defaults. Writes a markdown table to stdout (and
--out) and, with --plot, a PNG of recall@10 against single-query queries/s.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np


import vecstore
from vecstore.config import QUANTIZATION_KINDS, QuantizationConfig, quantization_from_dict

K = 10
BATCH = 100  # queries per call in the batched measurement

# label -> (quantization config as a dict, oversampling values to measure)
SETTINGS: dict[str, tuple[dict, tuple[float, ...]]] = {
    "exact": ({"kind": "none"}, (1,)),
    "binary": ({"kind": "binary"}, (4, 8, 16, 32)),
    "residual b2 adc": ({"kind": "residual_binary", "bits": 2, "mode": "adc"}, (2, 4, 5, 8)),
    "residual b2 sdc": ({"kind": "residual_binary", "bits": 2, "mode": "sdc"}, (2, 4, 8)),
    "residual b3 adc": ({"kind": "residual_binary", "bits": 3, "mode": "adc"}, (2, 4)),
    "residual b3 sdc": ({"kind": "residual_binary", "bits": 3, "mode": "sdc"}, (2, 4)),
    "pq48x8 adc": ({"kind": "pq", "m": 48, "nbits": 8, "mode": "adc"}, (4, 8, 16)),
    "pq48x8 sdc": ({"kind": "pq", "m": 48, "nbits": 8, "mode": "sdc"}, (4, 8, 16)),
    "pq96x4 adc": ({"kind": "pq", "m": 96, "nbits": 4, "mode": "adc"}, (4, 8, 16)),
    "pq96x4 sdc": ({"kind": "pq", "m": 96, "nbits": 4, "mode": "sdc"}, (4, 8, 16)),
    "pq96x8 adc": ({"kind": "pq", "m": 96, "nbits": 8, "mode": "adc"}, (2, 4, 8)),
    "scalar": ({"kind": "scalar"}, (1, 2, 4)),
    "sparse D8192 a64": ({"kind": "sparse"}, (10, 20, 40, 80)),
}


@dataclass
class Data:
    xb: np.ndarray
    xq: np.ndarray
    truth: np.ndarray  # (nq, >= K) row numbers of xb
    name: str


def load_dataset(path: str, nq: int | None) -> Data:
    xb = np.load(os.path.join(path, "base.f16.npy")).astype(np.float32)
    xq = np.load(os.path.join(path, "queries.f16.npy")).astype(np.float32)
    truth = np.load(os.path.join(path, "gt_ip_top100.i32.npy"))
    if nq:
        xq, truth = xq[:nq], truth[:nq]
    return Data(xb, xq, truth[:, :K], os.path.basename(os.path.normpath(path)))


def synthetic(n: int, dim: int, nq: int) -> Data:
    import faiss

    from vecstore.demo import synthetic_embeddings

    x = synthetic_embeddings(n + nq, dim, seed=0)
    xb, xq = x[:n], x[n:]
    index = faiss.IndexFlatIP(dim)
    index.add(xb)
    _, truth = index.search(xq, K)
    return Data(xb, xq, truth, f"synthetic {n}x{dim}")


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K]) & set(t[:K])) / K for f, t in zip(found, truth)]))


def settings_for_all_kinds(only: list[str] | None) -> dict[str, tuple[dict, tuple[float, ...]]]:
    out = dict(SETTINGS)
    covered = {cfg["kind"] for cfg, _ in SETTINGS.values()}
    for kind in QUANTIZATION_KINDS:
        if kind not in covered:  # a kind added later: measure its defaults
            default_os = QUANTIZATION_KINDS[kind]().oversampling
            out[f"{kind} (defaults)"] = ({"kind": kind}, tuple(sorted({default_os, 2 * default_os})))
    if only:
        out = {label: v for label, v in out.items() if any(o in label for o in only)}
    return out


def measure(db, label: str, config: QuantizationConfig, oversamplings, data: Data, n_single: int, repeat: int) -> list[dict]:
    n, dim = data.xb.shape
    name = "".join(c if c.isalnum() else "_" for c in label)[:60]
    col = db.create_collection(name, dim=dim, metric="cosine", quantization=config)
    batch_times, trained_at = [], None
    for lo in range(0, n, 10_000):
        t0 = time.perf_counter()
        col.upsert(np.arange(lo, min(lo + 10_000, n)), data.xb[lo : lo + 10_000])
        batch_times.append(time.perf_counter() - t0)
        if trained_at is None and col.info().trained:
            trained_at = len(batch_times) - 1
    build_s = sum(batch_times)
    others = [t for i, t in enumerate(batch_times) if i != trained_at]
    # the batch that trained the codec (and re-encoded what was there), less a typical batch
    train_s = batch_times[trained_at] - float(np.median(others)) if trained_at is not None and others else 0.0
    if not col.info().trained:  # fewer vectors than train_size: train explicitly
        t0 = time.perf_counter()
        col.optimize()
        train_s = time.perf_counter() - t0
    info = col.info()
    rows = []
    for os_ in oversamplings:
        kw = {} if config.kind == "none" else {"oversampling": float(os_)}
        col.search(data.xq[:8], k=K, **kw)  # warm the kernels and the page cache path
        batch_s = single_s = float("inf")
        singles = data.xq[:n_single]
        for _ in range(repeat):  # best of `repeat`: the least disturbed run on a busy machine
            t0 = time.perf_counter()
            found = np.vstack([col.search(data.xq[lo : lo + BATCH], k=K, **kw).ids for lo in range(0, len(data.xq), BATCH)])
            batch_s = min(batch_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            for q in singles:
                col.search(q, k=K, **kw)
            single_s = min(single_s, time.perf_counter() - t0)
        rows.append({
            "setting": label,
            "oversampling": os_,
            "candidates": K if config.kind == "none" else int(np.ceil(K * os_)),
            "recall": recall_at_k(found, data.truth),
            "qps_single": len(singles) / single_s,
            "qps_batch": len(data.xq) / batch_s,
            "ram_per_vector": info.ram_bytes / info.count,
            "code_bytes": info.extra.get("code_bytes", 0),
            "build_s": build_s,
            "train_s": max(train_s, 0.0),
        })
        print(f"  {label:18s} os {os_:>4}: recall@10 {rows[-1]['recall']:.4f}  "
              f"{rows[-1]['qps_single']:,.0f} q/s single  {rows[-1]['qps_batch']:,.0f} q/s batched", file=sys.stderr, flush=True)
    db.drop_collection(name)
    return rows


def markdown(rows: list[dict], data: Data, n_single: int, repeat: int) -> str:
    head = (
        f"Data: {data.name}, {len(data.xb):,} x {data.xb.shape[1]}, {len(data.xq):,} queries "
        f"(single-query timing on the first {n_single}), k = {K}, metric cosine, batches of {BATCH}; "
        f"q/s is the best of {repeat} runs.\n\n"
        "| setting | oversampling | candidates | recall@10 | q/s single | q/s batched | RAM B/vector | code B | build s | train s |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['setting']} | {r['oversampling']:g} | {r['candidates']} | {r['recall']:.4f} | {r['qps_single']:,.0f} | "
        f"{r['qps_batch']:,.0f} | {r['ram_per_vector']:.1f} | {r['code_bytes']} | {r['build_s']:.1f} | {r['train_s']:.1f} |\n"
        for r in rows
    )
    return head + body


def plot(rows: list[dict], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6.5))
    labels = list(dict.fromkeys(r["setting"] for r in rows))
    markers = "os^vD<>pPX*h"
    colors = plt.cm.tab20.colors
    for i, label in enumerate(labels):
        mine = [r for r in rows if r["setting"] == label]
        ax.plot([r["qps_single"] for r in mine], [r["recall"] for r in mine], marker=markers[i % len(markers)],
                color=colors[(2 * i) % 20 + (i // 10) % 2],
                label=f"{label} ({mine[0]['ram_per_vector']:.0f} B/vector)")
    ax.set_xscale("log")
    ax.set_xlabel("queries/s, one query per call (log scale)")
    ax.set_ylabel("recall@10")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", help="directory with base.f16.npy, queries.f16.npy, gt_ip_top100.i32.npy")
    p.add_argument("--n", type=int, default=20_000, help="synthetic base size")
    p.add_argument("--dim", type=int, default=128, help="synthetic dimension")
    p.add_argument("--nq", type=int, default=None, help="queries to use (default: all; 200 synthetic)")
    p.add_argument("--single", type=int, default=200, help="queries timed one per call")
    p.add_argument("--repeat", type=int, default=3, help="timing runs per measurement; the fastest counts")
    p.add_argument("--only", nargs="*", help="run only settings whose label contains one of these")
    p.add_argument("--out", help="also write the markdown table here")
    p.add_argument("--plot", help="write a PNG of recall@10 against queries/s here")
    p.add_argument("--data-dir", help="where to put the database (default: a temporary directory)")
    args = p.parse_args(argv)

    data = load_dataset(args.dataset, args.nq) if args.dataset else synthetic(args.n, args.dim, args.nq or 200)
    n_single = min(args.single, len(data.xq))
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(dir=args.data_dir) as tmp:
        # sync=False: durability is not what is measured here
        with vecstore.open(os.path.join(tmp, "db"), sync=False) as db:
            for label, (cfg, oversamplings) in settings_for_all_kinds(args.only).items():
                print(f"{label}: building", file=sys.stderr, flush=True)
                rows += measure(db, label, quantization_from_dict(cfg), oversamplings, data, n_single, args.repeat)
    table = markdown(rows, data, n_single, args.repeat)
    print(table)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(table)
    if args.plot:
        plot(rows, args.plot, f"vecstore quantization kinds on {data.name}")


if __name__ == "__main__":
    main()
