"""Which sparse code settings find the true neighbours among the first candidates?

    python -m bench.sparse_choices [--dataset ../shared/datasets/pypi-minilm] [--nq 300]

Candidate recall: the fraction of each query's true top-10 found among the C
best slots by code score, for C in 10..1000 (what the exact rerank can at most
recover with C = k * oversampling candidates). Codes are built with the
engine's own pieces (the seeded projection, top_active, the postings pool and
the overlap kernel), centred by the mean of the first 20k vectors, without
LMDB; scan times are per query in a batch.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench import datasets

import native.sparse as ns
from vecstore.engine.codecs.sparse import rademacher
from vecstore.engine.postings import Postings

SETTINGS = [  # (D, a, query dims, query weighted)
    (8192, 32, 32, False), (8192, 32, 64, False), (8192, 32, 128, True),
    (8192, 64, 64, False), (8192, 64, 64, True), (8192, 64, 256, True),
    (16384, 64, 256, True), (4096, 32, 128, True),
]
CANDIDATES = (10, 100, 200, 400, 1000)


def encode(x, mean, r, a, weighted):
    idx, vals = [], []
    for lo in range(0, len(x), 2048):
        act = (x[lo : lo + 2048] - mean) @ r
        top = ns.top_active(act, a)
        idx.append(top)
        vals.append(np.take_along_axis(act, top, axis=1))
    w = np.maximum(np.vstack(vals), 1e-6).astype(np.float32) if weighted else None
    return np.vstack(idx), w


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=300)
    args = ap.parse_args()
    data = datasets.load(args.dataset, n=args.n, nq=args.nq)
    xb = data.xb / np.linalg.norm(data.xb, axis=1, keepdims=True)
    xq = data.xq / np.linalg.norm(data.xq, axis=1, keepdims=True)
    mean = xb[:20_000].mean(axis=0)
    print(f"dataset: {data.name}, {len(xq)} queries; candidate recall of the true top-10")
    print("| D | a (point) | query dims | query weighted | " + " | ".join(f"C={c}" for c in CANDIDATES) + " | scan ms/query |")
    print("|---:|---:|---:|---|" + "---:|" * (len(CANDIDATES) + 1))
    built: dict[tuple[int, int], Postings] = {}
    for d, a, qa, qw in SETTINGS:
        r = rademacher(xb.shape[1], d, 0)
        if (d, a) not in built:
            codes, _ = encode(xb, mean, r, a, False)
            built[(d, a)] = Postings.build(d, codes.reshape(-1), np.repeat(np.arange(len(xb)), a))
        p = built[(d, a)]
        qi, qwv = encode(xq, mean, r, qa, qw)
        indptr = np.arange(len(xq) + 1, dtype=np.int64) * qa
        t = time.perf_counter()
        slots, _ = ns.overlap_topk(p.slots, p.weights, p.starts, p.lengths, indptr, qi.reshape(-1),
                                   qwv.reshape(-1) if qw else np.zeros(0, np.float32), np.ones(len(xb), np.uint8),
                                   max(CANDIDATES))
        ms = (time.perf_counter() - t) / len(xq) * 1e3
        rec = [np.mean([len(set(slots[i, :c]) & set(data.gt[i, :10])) / 10 for i in range(len(xq))]) for c in CANDIDATES]
        print(f"| {d} | {a} | {qa} | {'yes' if qw else 'no'} | " + " | ".join(f"{v:.3f}" for v in rec) + f" | {ms:.2f} |", flush=True)


if __name__ == "__main__":
    main()
