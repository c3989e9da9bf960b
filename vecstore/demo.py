"""The embedded end-to-end run behind `vecstore demo`."""
from __future__ import annotations

import os
import shutil
import time

import numpy as np

from .engine import open as open_db


def synthetic_embeddings(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors with a shared mean direction and topic clusters, like
    sentence embeddings; seeded, so every run sees the same data."""
    rng = np.random.default_rng(seed)
    n_topics = max(16, n // 500)
    shared = rng.standard_normal(dim) * 0.6
    topics = rng.standard_normal((n_topics, dim))
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, 65536):
        m = min(65536, n - lo)
        x = shared + topics[rng.integers(0, n_topics, m)] + rng.standard_normal((m, dim)) * 0.9
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def run_demo(
    *, data_dir: str, base: str | None, queries: str | None, n: int, dim: int, nq: int, quantization: str
) -> dict[str, float]:
    import faiss  # exact ground truth

    if base:
        xb = np.load(base).astype(np.float32)
        xq = np.load(queries).astype(np.float32)[:nq] if queries else xb[:nq]
    else:
        x = synthetic_embeddings(n + nq, dim, seed=0)
        xb, xq = x[:n], x[n:]
    n, dim = xb.shape
    print(f"data: {n} base vectors, {len(xq)} queries, dim {dim}")

    if os.path.exists(data_dir):
        shutil.rmtree(data_dir)  # the demo starts from an empty directory each time
    with open_db(data_dir) as db:
        col = db.create_collection("demo", dim=dim, metric="cosine", quantization=quantization)
        t0 = time.perf_counter()
        for lo in range(0, n, 10_000):
            col.upsert(np.arange(lo, min(lo + 10_000, n)), xb[lo : lo + 10_000])
        t_ingest = time.perf_counter() - t0
        print(f"import: {n / t_ingest:,.0f} vectors/s ({t_ingest:.1f} s, durable commits)")

        index = faiss.IndexFlatIP(dim)
        index.add(xb / np.linalg.norm(xb, axis=1, keepdims=True))
        _, truth = index.search(xq / np.linalg.norm(xq, axis=1, keepdims=True), 10)

        col.search(xq[:10], k=10)  # warm the kernels
        t0 = time.perf_counter()
        ids = np.vstack([col.search(q, k=10).ids for q in xq])
        t_single = time.perf_counter() - t0
        t0 = time.perf_counter()
        batched = col.search(xq, k=10).ids
        t_batch = time.perf_counter() - t0
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)]))
        info = col.info()
        print(f"recall@10 vs exact search: {recall:.4f}")
        print(f"queries/s: {len(xq) / t_single:,.0f} one at a time, {len(xq) / t_batch:,.0f} batched")
        print(f"RAM: {info.ram_bytes / info.count:.1f} bytes/vector (codes + id map), disk: {info.disk_bytes / info.count:.0f} bytes/vector")
        assert np.array_equal(batched, ids), "batched and single-query results differ"
        return {"recall": recall, "qps_single": len(xq) / t_single, "qps_batch": len(xq) / t_batch}
