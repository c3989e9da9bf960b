"""IVF drift on real embeddings: recall@10 with and without background rebalancing.

    python -m bench.ivf_drift [--dataset ../shared/datasets/pypi-minilm] [--split topic|shuffled]

The base vectors go in, in batches of 5,000, as two halves: with --split
topic the half on one side of their first principal direction (centroids
train on part of it), then the other half, a topic shift; with --split
shuffled in the dataset's own (shuffled) order, no drift. One IVF256 binary
collection with rebalance off, one with it on (background retrains wait to
finish before the queries); recall@10 of the dataset's queries at nprobe 8
against exact inner product over the base, and the drift figures of info().
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import vecstore
from vecstore import IVFConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="../shared/datasets/pypi-minilm")
    ap.add_argument("--split", choices=("topic", "shuffled"), default="topic")
    args = ap.parse_args()
    root = Path(args.dataset)
    x = np.load(root / "base.f16.npy").astype(np.float32)
    q = np.load(root / "queries.f16.npy").astype(np.float32)
    n = len(x)
    if args.split == "topic":
        mu = x[:20000].mean(axis=0)
        _, _, vt = np.linalg.svd(x[:20000] - mu, full_matrices=False)
        order = np.argsort((x - mu) @ vt[0], kind="stable")
    else:
        order = np.arange(n)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]  # ids are row numbers
    for rebalance in (False, True):
        with tempfile.TemporaryDirectory() as tmp, vecstore.open(tmp, sync=False) as db:
            col = db.create_collection("c", dim=x.shape[1], vector_dtype="float16",
                                       ivf=IVFConfig(nlist=256, nprobe=8, rebalance=rebalance))
            for lo in range(0, n, 5000):
                ids = order[lo : lo + 5000]
                col.upsert(ids, x[ids])
            col._rebalancer.wait()  # engine internals: a benchmark, not an API
            extra = col.info().extra
            found = col.search(q, k=10).ids
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
            figures = {k: round(v, 3) for k, v in extra["ivf_drift"].items() if isinstance(v, float)}
            print(f"{args.split} rebalance={rebalance}: recall@10 {recall:.4f}, "
                  f"retrains {extra['ivf_rebalance']['runs']}, drift {figures}")


if __name__ == "__main__":
    main()
