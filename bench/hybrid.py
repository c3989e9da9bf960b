"""Benchmark: hybrid (dense + sparse) search latency and what fusion keeps of the dense top 10.

    python -m bench.hybrid [--data ../shared/datasets/pypi-minilm] [--n 100000] [--nq 1000]
                           [--quantization binary] [--data-dir /tmp/bench_hybrid]

Dense vectors: the dataset folder's (bench/datasets.py), or seeded synthetic
sentence-like ones by default. Sparse vectors:

- with a folder holding base_texts.jsonl / queries_texts.jsonl (pypi-minilm),
  BM25 over the texts: tokens are lowercase runs of [a-z0-9], the vocabulary
  is the base's tokens, a document's weight for term t is
  idf(t) * tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl)) with k1 = 1.2,
  b = 0.75, idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)); a query weighs each
  of its distinct known tokens 1, so the sparse dot product is the BM25 score;
- otherwise a synthetic signal tied to the dense one: a fixed Gaussian
  projection (seed 1) of each vector onto 30,000 "terms", keeping the 24
  largest positive outputs as weights (queries: 12).

Every search is one query per call (k = 10), after a warm-up pass over 50
queries: dense (the collection's quantization, defaults), sparse alone
(queries=None), and fused with RRF and with weighted fusion (each list
fetched at depth max(k, FUSION_DEPTH) = 50). q/s is one thread's, 1 / mean
latency. recall@10 is against the exact dense top 10 (the folder's ground
truth): what fusion keeps of the dense answer while it mixes in the sparse one.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from collections import Counter

import numpy as np

import vecstore
from vecstore.engine.hybrid import FUSION_DEPTH

from . import datasets
from .measure import latency_stats, recall_at_k

_TOKEN = re.compile(r"[a-z0-9]+")
K1, B = 1.2, 0.75
SYNTH_TERMS, SYNTH_DOC_NNZ, SYNTH_QUERY_NNZ = 30_000, 24, 12
BATCH = 10_000


def _read_texts(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def bm25(base_texts: list[str], query_texts: list[str]) -> tuple[list, list, int]:
    """(document rows, query rows, vocabulary size); see the module doc."""
    docs = [Counter(_TOKEN.findall(t.lower())) for t in base_texts]
    vocab: dict[str, int] = {}
    for d in docs:
        for tok in d:
            vocab.setdefault(tok, len(vocab))
    df = np.zeros(len(vocab), np.int64)
    for d in docs:
        for tok in d:
            df[vocab[tok]] += 1
    n = len(docs)
    idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    lengths = np.array([sum(d.values()) for d in docs], np.float64)
    avgdl = float(lengths.mean()) if n else 1.0
    rows = []
    for d, dl in zip(docs, lengths):
        if not d:
            rows.append(None)
            continue
        idx = np.array([vocab[t] for t in d], np.int64)
        tf = np.array(list(d.values()), np.float64)
        w = idf[idx] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))
        rows.append((idx, w.astype(np.float32)))
    queries = []
    for t in query_texts:
        idx = sorted({vocab[tok] for tok in _TOKEN.findall(t.lower()) if tok in vocab})
        queries.append((np.array(idx, np.int64), np.ones(len(idx), np.float32)))
    return rows, queries, len(vocab)


def synthetic_sparse(xb: np.ndarray, xq: np.ndarray) -> tuple[list, list, int]:
    proj = np.random.default_rng(1).standard_normal((xb.shape[1], SYNTH_TERMS)).astype(np.float32)

    def rows(x: np.ndarray, nnz: int) -> list:
        out = []
        for lo in range(0, len(x), 4096):
            y = x[lo : lo + 4096] @ proj
            top = np.argpartition(-y, nnz, axis=1)[:, :nnz]
            for r, idx in zip(y, top):
                w = r[idx]
                keep = w > 0
                out.append((idx[keep].astype(np.int64), w[keep].astype(np.float32)) if keep.any() else None)
        return out

    return rows(xb, SYNTH_DOC_NNZ), rows(xq, SYNTH_QUERY_NNZ), SYNTH_TERMS


def timed(fn, n: int) -> tuple[np.ndarray, np.ndarray]:
    ids, lat = [], np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        ids.append(fn(i))
        lat[i] = time.perf_counter() - t0
    return np.vstack(ids), lat


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset folder (default: synthetic)")
    ap.add_argument("--n", type=int, default=100_000, help="synthetic base size")
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--quantization", default="binary")
    ap.add_argument("--data-dir", default="/tmp/bench_hybrid")
    a = ap.parse_args(argv)
    k = 10

    data = datasets.load(a.data, n=a.n, nq=a.nq)
    texts = a.data and os.path.exists(os.path.join(a.data, "base_texts.jsonl"))
    t0 = time.perf_counter()
    if texts:
        rows, sq, vocab = bm25(_read_texts(os.path.join(a.data, "base_texts.jsonl")),
                               _read_texts(os.path.join(a.data, "queries_texts.jsonl"))[: a.nq])
        signal = f"BM25 over the texts ({vocab:,} terms)"
    else:
        rows, sq, vocab = synthetic_sparse(data.xb, data.xq)
        signal = f"synthetic projection signal ({vocab:,} terms, {SYNTH_DOC_NNZ} per point)"
    build_s = time.perf_counter() - t0
    nnz = sum(0 if r is None else len(r[0]) for r in rows)
    print(f"{data.name}: {data.n:,} x {data.dim}, {signal}, {nnz / data.n:.1f} terms per point, "
          f"weights built in {build_s:.1f} s", file=sys.stderr)

    shutil.rmtree(a.data_dir, ignore_errors=True)
    db = vecstore.open(a.data_dir, sync=False)
    try:
        col = db.create_collection("hybrid", dim=data.dim, quantization=a.quantization,
                                   sparse_vectors={"vocab_size": max(vocab, 1)})
        ids = np.arange(data.n, dtype=np.int64)
        t0 = time.perf_counter()
        for lo in range(0, data.n, BATCH):
            col.upsert(ids[lo : lo + BATCH], data.xb[lo : lo + BATCH], sparse_vectors=rows[lo : lo + BATCH])
        load_s = time.perf_counter() - t0
        info = col.info()
        print(f"loaded in {load_s:.1f} s; postings {info.extra['sparse_vector_entries']:,} entries, "
              f"{info.extra['sparse_vectors_ram_bytes'] / 2**20:.1f} MiB", file=sys.stderr)

        xq = data.xq
        modes = {
            "dense": lambda i: col.search(xq[i], k).ids,
            "sparse": lambda i: col.search(None, k, sparse_query=sq[i]).ids,
            "rrf": lambda i: col.search(xq[i], k, sparse_query=sq[i]).ids,
            "weighted 0.5": lambda i: col.search(xq[i], k, sparse_query=sq[i], fusion="weighted").ids,
        }
        gt = data.gt[:, :k]
        out = []
        for name, fn in modes.items():
            timed(fn, min(50, len(xq)))  # warm-up: kernels compiled, pages cached
            found, lat = timed(fn, len(xq))
            stats = latency_stats(lat)
            out.append((name, stats, recall_at_k(found, gt, k)))
            print(f"{name}: {stats}", file=sys.stderr)
    finally:
        db.close()
        shutil.rmtree(a.data_dir, ignore_errors=True)

    empty = sum(1 for q in sq if len(q[0]) == 0)
    print(f"\nData: {data.name} ({data.n:,} x {data.dim}); sparse: {signal}, {nnz / data.n:.1f} terms per point "
          f"on average; {empty} of {len(sq)} queries have no known term. Quantization `{a.quantization}`; "
          f"k = {k}; fused lists fetched at depth {max(k, FUSION_DEPTH)}; load {load_s:.1f} s "
          f"({info.extra['sparse_vectors_ram_bytes'] / 2**20:.1f} MiB of postings).\n")
    print("| search | q/s (1 thread) | p50 ms | p99 ms | recall@10 vs exact dense |")
    print("|---|---|---|---|---|")
    for name, stats, recall in out:
        print(f"| {name} | {stats['qps_single']:,.0f} | {stats['p50_ms']:.2f} | {stats['p99_ms']:.2f} | {recall:.3f} |")
    print(f"\nMachine: {datasets.machine()}")


if __name__ == "__main__":
    main()
