"""N x 384 embedding-like vectors around the k-means centroids of a real set.

    python -m bench.synth_clustered --n 10000000 --out bench/out/data/clustered-10m
    python -m bench.synth_clustered --n 1000000 --out DIR --fbin      # also base.fbin (float32, DiskANN's format)

The model (fitted once, seeded, saved as DIR/model.npz): k-means centroids of
pypi-minilm's base, each cluster's share of the points, and its residual
spread: residuals are drawn from the pooled residual covariance of the real
set (its anisotropy) scaled to the cluster's own RMS residual. A point is
centroid + residual, unit-normalised (inner product = cosine). Without
pypi-minilm the centroids are `bench.datasets.sentence_like` draws and the
spectrum a power law (say so: `model.npz` records the source).

Writes a dataset folder (bench/datasets.py's layout, read by every runner):
base.f16.npy (written chunk by chunk into a memmap: 10M never sits in RAM),
queries.f16.npy (1,000 draws of the same model), gt_ip_top100.i32.npy (exact
inner-product top-100 by faiss brute force, chunked over the base, merged).
Ground truth is computed on the float16 values, which base.fbin also holds.
Each chunk of rows comes from its own seeded generator, so a killed run
resumes where it stopped (progress.json, gt_partial.npz) with the same bytes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from .datasets import BASE, GT, GT_DEPTH, QUERIES, sentence_like

PYPI_MINILM = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                           "datasets", "pypi-minilm")
CHUNK = 65_536  # rows per generator chunk: a few 10s of MB of temporaries
GT_CHUNK = 1 << 18  # base rows per ground-truth step (384 MB of float32 at 384-d, twice: faiss copies it)
MODEL, PROGRESS, GT_PARTIAL, FBIN = "model.npz", "progress.json", "gt_partial.npz", "base.fbin"


def default_source() -> str | None:
    for path in (os.environ.get("VECSTORE_PYPI_MINILM"), PYPI_MINILM):
        if path and os.path.exists(os.path.join(path, BASE)):
            return os.path.normpath(path)
    return None


def fit_model(source: str | None, *, clusters: int, dim: int, seed: int) -> dict:
    """Centroids, weights, per-cluster residual scale and the pooled residual
    spectrum (eigenvectors, sqrt eigenvalues), from `source` or synthetic."""
    import faiss

    if source:
        x = np.load(os.path.join(source, BASE)).astype(np.float32)
        dim = x.shape[1]
        km = faiss.Kmeans(dim, clusters, niter=20, seed=seed, spherical=False, verbose=False)
        old = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # one thread: the same centroids on every machine and run
        try:
            km.train(x)
        finally:
            faiss.omp_set_num_threads(old)
        centroids = km.centroids.astype(np.float32)
        _, assign = km.index.search(x, 1)
        assign = assign[:, 0]
        resid = x - centroids[assign]
        counts = np.bincount(assign, minlength=clusters).astype(np.float64)
        sq = np.bincount(assign, weights=(resid.astype(np.float64) ** 2).sum(axis=1), minlength=clusters)
        cov = resid.T.astype(np.float64) @ resid.astype(np.float64) / len(x)
        name = os.path.basename(os.path.normpath(source))
    else:
        rng = np.random.default_rng([seed, 1])
        centroids = sentence_like(clusters, dim, seed) * 0.75  # k-means means of unit vectors are shorter
        counts = np.exp(rng.standard_normal(clusters) * 0.5)
        sq = counts * np.exp(rng.standard_normal(clusters) * 0.3) * 0.45
        spectrum = np.arange(1, dim + 1, dtype=np.float64) ** -0.8
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        cov = (basis * (spectrum * 0.45 / spectrum.sum())) @ basis.T
        name = "synthetic centroids"
    evals, evecs = np.linalg.eigh(cov)
    evals = np.clip(evals, 0, None)
    total = float(evals.sum())
    rms = np.sqrt(np.where(counts > 1, sq / np.maximum(counts, 1), total))
    scale = rms / np.sqrt(total)  # a cluster's spread relative to the pooled one
    return {"centroids": centroids, "weights": counts / counts.sum(), "scale": scale.astype(np.float32),
            "basis": (evecs * np.sqrt(evals)).T.astype(np.float32), "source": np.array(name),
            "seed": np.array(seed), "clusters": np.array(clusters)}


def load_or_fit(out: str, source: str | None, *, clusters: int, dim: int, seed: int) -> dict:
    path = os.path.join(out, MODEL)
    if os.path.exists(path):
        with np.load(path) as m:
            return {k: m[k] for k in m.files}
    model = fit_model(source, clusters=clusters, dim=dim, seed=seed)
    np.savez(path + ".tmp.npz", **model)
    os.replace(path + ".tmp.npz", path)
    return model


def draw(model: dict, m: int, rng: np.random.Generator) -> np.ndarray:
    """m unit vectors of the model (float32)."""
    which = rng.choice(len(model["weights"]), size=m, p=model["weights"])
    z = rng.standard_normal((m, model["basis"].shape[0]), dtype=np.float32)
    x = model["centroids"][which] + (z @ model["basis"]) * model["scale"][which, None]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def chunk_rows(model: dict, seed: int, chunk: int, n: int) -> np.ndarray:
    """Rows [chunk * CHUNK, ...) of the base, float16: a function of (model, seed, chunk) only."""
    lo = chunk * CHUNK
    return draw(model, min(CHUNK, n - lo), np.random.default_rng([seed, 2, chunk])).astype(np.float16)


def _progress(out: str) -> dict:
    path = os.path.join(out, PROGRESS)
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


def _save_progress(out: str, state: dict) -> None:
    path = os.path.join(out, PROGRESS)
    with open(path + ".tmp", "w") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def _open_fbin(path: str, n: int, dim: int, fresh: bool) -> np.memmap:
    if fresh or not os.path.exists(path):
        with open(path, "wb") as f:
            np.array([n, dim], dtype=np.int32).tofile(f)
            f.truncate(8 + n * dim * 4)
    return np.memmap(path, dtype=np.float32, mode="r+", offset=8, shape=(n, dim))


def write_base(out: str, model: dict, *, n: int, seed: int, fbin: bool, quiet: bool) -> None:
    """base.f16.npy (and base.fbin) chunk by chunk, resuming after the last chunk recorded."""
    dim = model["basis"].shape[0]
    state = _progress(out)
    key = {"n": n, "seed": seed, "dim": dim, "fbin": fbin}
    fresh = state.get("key") != key or not os.path.exists(os.path.join(out, BASE))
    done = 0 if fresh else state.get("chunks_done", 0)
    base = (np.lib.format.open_memmap(os.path.join(out, BASE), mode="w+", dtype=np.float16, shape=(n, dim))
            if fresh else np.load(os.path.join(out, BASE), mmap_mode="r+"))
    f32 = _open_fbin(os.path.join(out, FBIN), n, dim, fresh) if fbin else None
    chunks = -(-n // CHUNK)
    for c in tqdm(range(done, chunks), initial=done, total=chunks, desc="base", unit="chunk", disable=quiet):
        rows = chunk_rows(model, seed, c, n)
        lo = c * CHUNK
        base[lo : lo + len(rows)] = rows
        if f32 is not None:
            f32[lo : lo + len(rows)] = rows.astype(np.float32)
        if c % 16 == 15 or c == chunks - 1:  # flush, then record: a recorded chunk is on disk
            base.flush()
            if f32 is not None:
                f32.flush()
            _save_progress(out, {"key": key, "chunks_done": c + 1})
    del base, f32


def exact_top_k(base: np.ndarray, xq: np.ndarray, k: int, *, out: str | None = None, quiet: bool = True,
                chunk: int = GT_CHUNK) -> np.ndarray:
    """Exact inner-product top-k rows of base (any array or memmap, float16 or
    32) for xq: faiss brute force per chunk of base, merged with the best so
    far. With `out`, the merged state is saved after each chunk and resumed."""
    import faiss

    xq = np.ascontiguousarray(xq, dtype=np.float32)
    n, nq = len(base), len(xq)
    k = min(k, n)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.full((nq, k), -1, dtype=np.int64)
    start = 0
    partial = os.path.join(out, GT_PARTIAL) if out else None
    if partial and os.path.exists(partial):
        with np.load(partial) as p:
            if int(p["n"]) == n and int(p["chunk"]) == chunk and p["scores"].shape == best_s.shape:
                best_s, best_i, start = p["scores"], p["ids"], int(p["next"])
    steps = range(start, n, chunk)
    for lo in tqdm(steps, total=len(steps), desc="ground truth", unit="chunk", disable=quiet):
        block = np.ascontiguousarray(base[lo : lo + chunk], dtype=np.float32)
        index = faiss.IndexFlatIP(block.shape[1])
        index.add(block)
        s, i = index.search(xq, min(k, len(block)))
        s = np.concatenate([best_s, s], axis=1)
        i = np.concatenate([best_i, np.where(i >= 0, i + lo, -1)], axis=1)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]  # earlier rows first among equal scores
        best_s, best_i = np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)
        if partial:
            np.savez(partial + ".tmp.npz", scores=best_s, ids=best_i, next=lo + chunk, n=n, chunk=chunk)
            os.replace(partial + ".tmp.npz", partial)
    return best_i


def generate(out: str, *, n: int, nq: int = 1000, seed: int = 0, clusters: int = 1024, dim: int = 384,
             source: str | None = "auto", fbin: bool = False, quiet: bool = False,
             gt_chunk: int = GT_CHUNK) -> str:
    """Write (or finish) the dataset folder `out`; returns it."""
    if os.path.exists(os.path.join(out, GT)):
        return out  # written last: the folder is complete
    os.makedirs(out, exist_ok=True)
    source = default_source() if source == "auto" else source
    model = load_or_fit(out, source, clusters=clusters, dim=dim, seed=seed)
    write_base(out, model, n=n, seed=seed, fbin=fbin, quiet=quiet)
    xq = draw(model, nq, np.random.default_rng([seed, 3])).astype(np.float16)
    np.save(os.path.join(out, QUERIES), xq)
    base = np.load(os.path.join(out, BASE), mmap_mode="r")
    gt = exact_top_k(base, xq, GT_DEPTH, out=out, quiet=quiet, chunk=gt_chunk).astype(np.int32)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"# clustered embedding-like vectors\n\n`python -m bench.synth_clustered --n {n} --seed {seed} "
                f"--clusters {int(model['clusters'])}`: k-means centroids of {model['source']} plus residuals "
                f"with its per-cluster spread, unit-normalised, float16; {nq} queries from the same model. "
                f"Ground truth: exact inner product on the float16 values, top {GT_DEPTH} (faiss, chunked).\n")
    np.save(os.path.join(out, GT), gt)  # last: marks the folder complete
    for name in (GT_PARTIAL, PROGRESS):
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="base vectors")
    ap.add_argument("--out", required=True, help="dataset folder to write (resumed if partly written)")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clusters", type=int, default=1024, help="k-means centroids of the source")
    ap.add_argument("--source", default="auto", help="dataset folder to fit (default: pypi-minilm if present)")
    ap.add_argument("--synthetic-centroids", action="store_true", help="do not fit a real set")
    ap.add_argument("--fbin", action="store_true", help="also write base.fbin (float32, DiskANN's .fbin layout)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    generate(a.out, n=a.n, nq=a.nq, seed=a.seed, clusters=a.clusters, fbin=a.fbin, quiet=a.quiet,
             source=None if a.synthetic_centroids else a.source)
    print(f"{a.out}: ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
