"""Candidates needed per recall@10 for each way of ranking 1-bit codes.

For every query the top-C codes by a ranking are reranked exactly (from the
float vectors in RAM: this measures the ranking, not the engine's speed), and
recall@10 is averaged over the queries:

- hamming: the query's own sign bits (`scoring="hamming"`);
- bitplane: the 4-bit quantized query against the code's signs (the scoring
  of the previous release);
- corrected: bitplane plus the two per-vector factors (the default now).

The codes and factors come from the engine's own BinaryCodec, trained on the
first 1,024 vectors as a collection is.

    python -m bench.bench_estimators --dataset ../shared/datasets/pypi-minilm
    python -m bench.bench_estimators            # seeded synthetic data
"""
from __future__ import annotations

import argparse

import numpy as np

import native
from vecstore.config import BinaryQuantization
from vecstore.engine.codecs.binary import BinaryCodec

from .datasets import load, machine

CANDIDATES = (20, 30, 40, 50, 60, 80, 120, 160)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def rankings(xb: np.ndarray, xq: np.ndarray, depth: int) -> dict[str, np.ndarray]:
    codec = BinaryCodec(BinaryQuantization(), xb.shape[1], "cosine").fit(xb[:1024])
    codes = codec.encode(xb)
    words = np.ascontiguousarray(codes[:, : 8 * codec.words]).view(np.uint64)
    alive = np.ones(len(xb), np.uint8)
    qc = xq - codec.mean
    out = {"hamming": native.hamming_topk(words, native.pack_signs(qc), depth, alive)[1]}
    out["bitplane"] = native.bitplane_topk(words, native.quantize_planes(qc, 4), depth, alive)[1]
    out["corrected"] = codec.search(codes, alive, xq, depth)[0]
    return out


def recall_after_rerank(xb, xq, gt, cand, c):
    hits = 0
    for i in range(len(xq)):
        rows = cand[i, :c]
        top = rows[np.argsort(-(xb[rows] @ xq[i]), kind="stable")[:10]]
        hits += len(np.intersect1d(top, gt[i, :10]))
    return hits / (10 * len(xq))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", help="dataset folder; seeded synthetic data without it")
    ap.add_argument("--n", type=int, default=100_000, help="synthetic size")
    ap.add_argument("--nq", type=int, default=1000)
    args = ap.parse_args(argv)
    ds = load(args.dataset, n=args.n, nq=args.nq)
    xb, xq = unit(ds.xb), unit(ds.xq)
    ranked = rankings(xb, xq, max(CANDIDATES))
    print(f"dataset: {ds.name} ({len(xb)} x {xb.shape[1]}), {len(xq)} queries; machine: {machine()}\n")
    print("| ranking | " + " | ".join(f"C={c}" for c in CANDIDATES) + " |")
    print("|---|" + "---:|" * len(CANDIDATES))
    for name, cand in ranked.items():
        cells = [f"{recall_after_rerank(xb, xq, ds.gt, cand, c):.3f}" for c in CANDIDATES]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
