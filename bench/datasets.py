"""Benchmark inputs: a dataset folder laid out like ../shared/datasets/pypi-minilm
(base.f16.npy, queries.f16.npy, gt_ip_top100.i32.npy) or seeded synthetic data."""
from __future__ import annotations

import os
import platform
import subprocess
from dataclasses import dataclass

import numpy as np


@dataclass
class BenchData:
    name: str
    xb: np.ndarray  # float32 (n, d)
    xq: np.ndarray  # float32 (nq, d)
    gt: np.ndarray  # int (nq, >=10) exact top ids by inner product


def load(path: str | None, *, n: int = 100_000, dim: int = 384, nq: int = 1000, seed: int = 0) -> BenchData:
    if path:
        xb = np.load(os.path.join(path, "base.f16.npy")).astype(np.float32)
        xq = np.load(os.path.join(path, "queries.f16.npy")).astype(np.float32)
        gt = np.load(os.path.join(path, "gt_ip_top100.i32.npy"))
        return BenchData(os.path.basename(os.path.normpath(path)), xb, xq[:nq], gt[:nq])
    import faiss

    from vecstore.demo import synthetic_embeddings

    x = synthetic_embeddings(n + nq, dim, seed=seed)
    xb, xq = x[:n], x[n:]
    index = faiss.IndexFlatIP(dim)
    index.add(xb)
    _, gt = index.search(xq, 100)
    return BenchData(f"synthetic-{n}x{dim}", xb, xq, gt)


def recall_at_10(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, gt)]))


def machine() -> str:
    model = platform.processor() or "unknown cpu"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"
