"""Benchmark data: a dataset folder, or seeded synthetic sentence-like embeddings.

A dataset folder holds, like `shared/datasets/pypi-minilm`:
  base.f16.npy          float16 (n, d) unit vectors
  queries.f16.npy       float16 (nq, d) unit vectors, disjoint from the base
  gt_ip_top100.i32.npy  int32 (nq, >= 10) exact neighbours by inner product

`make_synthetic_folder` writes the same layout for generated data, so every
runner reads one format. Ground truth is computed on the float16 vectors cast
back to float32, exactly what a reader of the folder sees.

    python -m bench.datasets --n 1000000 --out bench/out/data/synth-1m
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

BASE, QUERIES, GT = "base.f16.npy", "queries.f16.npy", "gt_ip_top100.i32.npy"
GT_DEPTH = 100
_CHUNK = 65_536  # rows generated per step: bounds the temporaries at 1M rows


@dataclass(frozen=True)
class Dataset:
    name: str
    xb: np.ndarray  # (n, d) float32
    xq: np.ndarray  # (nq, d) float32
    gt: np.ndarray  # (nq, >= k) int64 base rows, best first

    @property
    def n(self) -> int:
        return len(self.xb)

    @property
    def dim(self) -> int:
        return self.xb.shape[1]


def load_folder(path: str, *, nq: int | None = None, n: int | None = None) -> Dataset:
    """Load a dataset folder; `n` keeps only a prefix of the base (the ground
    truth is then recomputed, since it refers to the whole base)."""
    xb = np.load(os.path.join(path, BASE)).astype(np.float32)
    xq = np.load(os.path.join(path, QUERIES)).astype(np.float32)
    gt = np.load(os.path.join(path, GT)).astype(np.int64)
    if nq is not None:
        xq, gt = xq[:nq], gt[:nq]
    name = os.path.basename(os.path.normpath(path))
    if n is not None and n < len(xb):
        xb = xb[:n]
        gt = exact_neighbours(xb, xq, GT_DEPTH)
        name = f"{name}[:{n}]"
    return Dataset(name=name, xb=xb, xq=xq, gt=gt)


def exact_neighbours(xb: np.ndarray, xq: np.ndarray, k: int) -> np.ndarray:
    """Top-k base rows by inner product (faiss brute force, all cores)."""
    import faiss

    index = faiss.IndexFlatIP(xb.shape[1])
    index.add(np.ascontiguousarray(xb, dtype=np.float32))
    _, rows = index.search(np.ascontiguousarray(xq, dtype=np.float32), min(k, len(xb)))
    return rows.astype(np.int64)


def sentence_like(n: int, dim: int, seed: int) -> np.ndarray:
    """Unit vectors shaped like sentence embeddings (float32, (n, dim)).

    Real encoders (MiniLM on pypi-minilm) give: a shared mean direction
    (|mean| ~0.38), a power-law variance spectrum (top 10 of 384 directions
    hold ~22% of the variance), and local structure, so the 1st, 10th and
    100th neighbour sit at clearly different similarities (~0.68, 0.58, 0.48),
    not in one flat cluster. We draw hierarchical clusters (topics ->
    subtopics of ~30 points with uneven spreads) in that anisotropic space.
    Constants were fitted so that sign-bit codes need about as many rerank
    candidates for a given recall as on pypi-minilm (bench/README.md)."""
    rng = np.random.default_rng(seed)
    variances = np.arange(1, dim + 1, dtype=np.float64) ** -0.6
    variances *= dim / variances.sum()  # mean 1: a draw has norm ~sqrt(dim)
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    shape = (basis * np.sqrt(variances)).astype(np.float32).T

    def draw(m: int, scale: float | np.ndarray) -> np.ndarray:
        z = rng.standard_normal((m, dim), dtype=np.float32) @ shape
        return z * (np.asarray(scale, dtype=np.float32) / np.sqrt(dim))

    mean = draw(1, 1.0)[0]
    mean *= 0.6 / np.linalg.norm(mean)
    n_topics = max(16, n // 2000)
    n_sub = max(n_topics, n // 30)
    topics = draw(n_topics, 0.8)
    subs = topics[rng.integers(0, n_topics, n_sub)] + draw(n_sub, 0.7)
    spread = np.exp(rng.standard_normal(n_sub) * 0.35).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for lo in range(0, n, _CHUNK):
        m = min(_CHUNK, n - lo)
        which = rng.integers(0, n_sub, m)
        x = mean + subs[which] + draw(m, spread[which, None])
        out[lo : lo + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def make_synthetic_folder(path: str, *, n: int, dim: int = 384, nq: int = 1000, seed: int = 0) -> str:
    """Write a dataset folder of sentence-like vectors (skipped if complete)."""
    if all(os.path.exists(os.path.join(path, f)) for f in (BASE, QUERIES, GT)):
        return path
    os.makedirs(path, exist_ok=True)
    x = sentence_like(n + nq, dim, seed).astype(np.float16)
    xb, xq = x[:n], x[n:]
    gt = exact_neighbours(xb.astype(np.float32), xq.astype(np.float32), GT_DEPTH).astype(np.int32)
    # write the ground truth last: its presence marks a complete folder
    np.save(os.path.join(path, BASE), xb)
    np.save(os.path.join(path, QUERIES), xq)
    np.save(os.path.join(path, GT), gt)
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write(
            f"# synthetic sentence-like embeddings\n\n`bench.datasets.sentence_like`, n={n}, dim={dim}, "
            f"nq={nq}, seed={seed}; queries are rows n..n+nq of the same draw. Ground truth: exact "
            f"inner product (faiss) on the float16 vectors cast to float32, top {GT_DEPTH}.\n"
        )
    return path


def synthetic(n: int, *, dim: int = 384, nq: int = 1000, seed: int = 0, cache_dir: str | None = None) -> Dataset:
    """Synthetic dataset; cached as a dataset folder when cache_dir is given."""
    name = f"synthetic-{n}x{dim}-s{seed}"
    if cache_dir:
        return load_folder(make_synthetic_folder(os.path.join(cache_dir, name), n=n, dim=dim, nq=nq, seed=seed))
    x = sentence_like(n + nq, dim, seed).astype(np.float16).astype(np.float32)
    xb, xq = x[:n], x[n:]
    return Dataset(name=name, xb=xb, xq=xq, gt=exact_neighbours(xb, xq, min(GT_DEPTH, n)))


def load(path: str | None, *, n: int = 100_000, dim: int = 384, nq: int = 1000, seed: int = 0) -> Dataset:
    """The folder at `path`, or synthetic data of n x dim when path is None
    (the entry point of the single-topic scripts beside compare.py)."""
    if path:
        return load_folder(path, nq=nq)
    return synthetic(n, dim=dim, nq=nq, seed=seed)


def recall_at_10(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(ids, gt)]))


def machine() -> str:
    from .report import machine as describe  # one description of the machine for every report

    return describe()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="write a synthetic dataset folder")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    make_synthetic_folder(a.out, n=a.n, dim=a.dim, nq=a.nq, seed=a.seed)
    print(f"{a.out}: ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
