"""Benchmark: filtered search queries/s and recall@10 at several selectivities.

    python -m bench.bench_filters [--dataset /work/shared/datasets/pypi-minilm] [--n 100000]
                                  [--nq 1000] [--timed 200] [--rounds 3] [--data-dir /tmp/bench_filters]
                                  [--server]

Base vectors are real sentence embeddings (pypi-minilm; float16 on disk, stored
as float32); payloads are synthetic: `bucket` is an integer in 0..999, each
value held by exactly n/1000 points in shuffled order, so `{"bucket": {"$lt": b}}`
selects exactly b/1000 of the collection. Recall@10 is measured against brute
force over the matching points only. Queries are timed one per call (the
server's case), after one warm-up pass, for three ways to decide the filter:

  indexed     `bucket` has an integer payload index: the mask comes from RAM
  payload     no index: every query reads the payloads from LMDB (the slow path)
  forced      indexed, with the exact-over-matches switch forced off or on,
              to show where the switch pays (selection.prefer_exact)

With --server every search (and index change) goes through the gRPC client
to a server over loopback. The server runs in this process, so the forced
switch still reaches its engine; client and server share one GIL, so these
q/s are a floor for a client on another machine.
"""
import argparse
import os
import shutil
import time

import numpy as np


import vecstore
import vecstore.engine.collection as collection_module

SELECTIVITIES = [1.0, 0.5, 0.1, 0.01, 0.001]


def load_dataset(path, n, nq):
    xb = np.load(os.path.join(path, "base.f16.npy"))[:n].astype(np.float32)
    xq = np.load(os.path.join(path, "queries.f16.npy"))[:nq].astype(np.float32)
    return xb, xq


def exact_top(xb, xq, rows, k=10):
    scores = xq @ xb[rows].T
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return rows[top]


def recall(found, truth):
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth)]))


def time_queries(col, xq, flt):
    for q in xq[: min(20, len(xq))]:  # warm the page cache and the code paths
        col.search(q, k=10, filter=flt)
    start = time.perf_counter()
    for q in xq:
        col.search(q, k=10, filter=flt)
    return len(xq) / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="/work/shared/datasets/pypi-minilm")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=1000, help="queries for recall")
    ap.add_argument("--timed", type=int, default=200, help="queries timed one per call")
    ap.add_argument("--timed-payload", type=int, default=20, help="queries timed on the payload (unindexed) path")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (median reported)")
    ap.add_argument("--data-dir", default="/tmp/bench_filters")
    ap.add_argument("--server", action="store_true", help="search through gRPC (in-process server, loopback)")
    a = ap.parse_args()

    xb, xq = load_dataset(a.dataset, a.n, a.nq)
    n = len(xb)
    rng = np.random.default_rng(0)
    bucket = np.arange(n) % 1000
    rng.shuffle(bucket)
    ids = np.arange(n, dtype=np.int64)

    shutil.rmtree(a.data_dir, ignore_errors=True)
    db = vecstore.open(a.data_dir, sync=False)
    col = db.create_collection("docs", dim=xb.shape[1], metric="dot", quantization="binary")
    t0 = time.perf_counter()
    for lo in range(0, n, 10_000):
        col.upsert(ids[lo : lo + 10_000], xb[lo : lo + 10_000], [{"bucket": int(b)} for b in bucket[lo : lo + 10_000]])
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    col.create_payload_index("bucket", "integer")
    index_s = time.perf_counter() - t0
    server = client = None
    if a.server:  # loaded embedded (faster); searched over the wire
        from vecstore.rpc.server import RpcServer

        server = RpcServer(db).start()
        server.set_serving()
        client = vecstore.connect(server.address)
        col = client.get_collection("docs")
    info = col.info()
    print(f"{'gRPC (in-process server, loopback)' if a.server else 'embedded'}: n={n} d={xb.shape[1]} load {load_s:.1f}s, integer index built in {index_s:.2f}s, "
          f"index RAM {info.extra['payload_index_ram_bytes'] / n:.1f} B/point, codes+ids {(info.ram_bytes - info.extra['payload_index_ram_bytes']) / n:.1f} B/point")

    filters = {sel: (None if sel == 1.0 else {"bucket": {"$lt": int(round(sel * 1000))}}) for sel in SELECTIVITIES}
    # indexed q/s: median of rounds that alternate between selectivities, so a
    # drift of the shared machine hits every row alike
    rounds = {sel: [] for sel in SELECTIVITIES}
    for _ in range(a.rounds):
        for sel in SELECTIVITIES:
            rounds[sel].append(time_queries(col, xq[: a.timed], filters[sel]))
    col.drop_payload_index("bucket")
    payload_qps = {sel: time_queries(col, xq[: a.timed_payload], filters[sel]) for sel in SELECTIVITIES[1:]}
    col.create_payload_index("bucket", "integer")

    print("\n| selectivity | matching points | path (default) | recall@10 | q/s indexed | q/s payload path (no index) |")
    print("|---|---|---|---|---|---|")
    n_cand = int(10 * col.config.quantization.oversampling)
    for sel in SELECTIVITIES:
        flt = filters[sel]
        rows = np.flatnonzero(bucket < int(round(sel * 1000)))
        found = col.search(xq, k=10, filter=flt).ids
        path = "unfiltered" if flt is None else (
            "exact over matches" if collection_module.prefer_exact(len(rows), n_cand, n) else "masked coarse scan")
        qps_payload = f"{payload_qps[sel]:.1f}" if sel in payload_qps else "-"
        print(f"| {sel:.1%} | {len(rows):,} | {path} | {recall(found, exact_top(xb, xq, rows)):.3f} "
              f"| {np.median(rounds[sel]):.0f} | {qps_payload} |")

    print("\nExact-over-matches switch, forced (indexed filter):\n")
    print("| selectivity | matching points | coarse: recall@10 | coarse: q/s | exact: recall@10 | exact: q/s |")
    print("|---|---|---|---|---|---|")
    original = collection_module.prefer_exact
    forced_sels = (0.01, 0.005, 0.004, 0.003, 0.002, 0.001)
    qps = {(sel, f): [] for sel in forced_sels for f in (False, True)}
    try:
        for _ in range(a.rounds):
            for sel in forced_sels:
                for forced in (False, True):
                    collection_module.prefer_exact = lambda *args, forced=forced: forced
                    qps[sel, forced].append(time_queries(col, xq[: a.timed], {"bucket": {"$lt": int(round(sel * 1000))}}))
        for sel in forced_sels:
            flt = {"bucket": {"$lt": int(round(sel * 1000))}}
            rows = np.flatnonzero(bucket < int(round(sel * 1000)))
            truth = exact_top(xb, xq, rows)
            cells = []
            for forced in (False, True):
                collection_module.prefer_exact = lambda *args, forced=forced: forced
                cells += [recall(col.search(xq, k=10, filter=flt).ids, truth), np.median(qps[sel, forced])]
            print(f"| {sel:.1%} | {len(rows):,} | {cells[0]:.3f} | {cells[1]:.0f} | {cells[2]:.3f} | {cells[3]:.0f} |")
    finally:
        collection_module.prefer_exact = original
    if server is not None:
        client.close()
        server.stop(grace=1)
    db.close()
    shutil.rmtree(a.data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
