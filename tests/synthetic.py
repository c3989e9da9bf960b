"""Seeded synthetic data for tests: clustered unit vectors that behave like
sentence embeddings (a shared mean direction plus topic clusters)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Dataset:
    xb: np.ndarray  # (n, d) float32 base vectors
    xq: np.ndarray  # (nq, d) float32 queries, disjoint from the base
    ids: np.ndarray  # (n,) int64 ids of the base vectors

    def ground_truth(self, k: int, metric: str = "cosine") -> np.ndarray:
        """Exact top-k ids by brute force (faiss as the oracle)."""
        import faiss

        xb, xq = self.xb, self.xq
        if metric == "cosine":
            xb = xb / np.linalg.norm(xb, axis=1, keepdims=True)
            xq = xq / np.linalg.norm(xq, axis=1, keepdims=True)
        index = faiss.IndexFlatL2(xb.shape[1]) if metric == "l2" else faiss.IndexFlatIP(xb.shape[1])
        index.add(np.ascontiguousarray(xb, dtype=np.float32))
        _, rows = index.search(np.ascontiguousarray(xq, dtype=np.float32), k)
        return self.ids[rows]


def clustered(n: int, d: int, *, nq: int = 100, n_clusters: int = 50, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal(d) * 0.6  # embeddings share a mean direction
    centers = rng.standard_normal((n_clusters, d))
    def draw(m: int) -> np.ndarray:
        which = rng.integers(0, n_clusters, m)
        x = shared + centers[which] + rng.standard_normal((m, d)) * 0.9
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    xb, xq = draw(n), draw(nq)
    ids = rng.permutation(n * 10)[:n].astype(np.int64)  # sparse, unordered ids
    return Dataset(xb=xb, xq=xq, ids=ids)


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    return hits / (len(truth) * k)


def sparse_vectors(n: int, vocab: int, *, nnz: int = 12, missing: float = 0.2, seed: int = 0) -> list:
    """n user sparse vectors (indices, weights) like BM25 rows: terms drawn
    Zipf-like from [0, vocab) (a few common, most rare), positive weights;
    about `missing` of the points have none (None)."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1)
    p /= p.sum()
    out: list = []
    for _ in range(n):
        if rng.random() < missing:
            out.append(None)
            continue
        m = int(rng.integers(1, nnz + 1))
        idx = rng.choice(vocab, size=min(m, vocab), replace=False, p=p)
        out.append((idx.astype(np.int64), rng.uniform(0.05, 3.0, len(idx)).astype(np.float32)))
    return out
