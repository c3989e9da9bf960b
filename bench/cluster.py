"""Scale-out on Ray, measured on one machine: sharded collections on a local
3-node Ray cluster (loopback) against one unsharded embedded collection.

    python -m bench.cluster                                        # 1M x 384 synthetic, shards=3, replicas 1 and 2
    python -m bench.cluster --pypi ../shared/datasets/pypi-minilm  # the real 100k set
    python -m bench.cluster --quick                                # a tiny run (seconds), RESULTS.md untouched

For each configuration (binary codes with exact rerank; the same with IVF)
and layout (one unsharded embedded collection in this process; a cluster
collection with --shards shards for each --replicas value), over the same
points: ingest vectors/s (batches of --batch, durable commits), single-query
and batch-of-64 latency p50/p99 and q/s, recall@10 against the exact ground
truth, and how far the sharded top-10 agrees with the unsharded one.

Then the per-call costs a paper estimate for N machines needs, measured on
the sharded layouts: each shard's own engine time (its directory opened
read-only in this process), one Ray call to a shard replica, the router's
merge, the router's overhead over the slowest shard, the bytes each call
carries, the round trip of a call that does no work.

Then faults, on the first configuration: the time until searches answer in
full again after SIGKILL of a shard's process (replicas=1), the same with a
live peer (replicas=2: searches should never be partial), and the catch-up
time of a replica that was stopped while --catchup-points points were written.

All nodes share this machine's cores: sharding cannot make anything faster
here; what it shows is what the distribution costs (bench/README.md).
"""
from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported: multi-node on one host

import argparse
import json
import pickle
import shlex
import shutil
import sys
import time

import numpy as np

from . import report
from .cluster_faults import catch_up, shard_kill
from .cluster_report import section
from .datasets import Dataset, load_folder, synthetic
from .systems import ivf_lists

HERE = os.path.dirname(os.path.abspath(__file__))
NODES = ["n0", "n1", "n2"]  # one custom resource per Ray node: the router pins replicas with them
BATCH = 64  # queries per batched call
DEFAULT_READ_TIMEOUT = 10.0  # ClusterDatabase's default: how long a read waits for a live replica of a shard
KILL_PROBE_TIMEOUT = 1.0  # read_timeout while probing a kill with one replica: partial answers, not waits
# quick: 4,000 points, so every shard passes binary's train_size (1,024) and is trained, as at full size
QUICK = {"n": 4000, "queries": 128, "batch": 500, "catchup_points": 300, "cost_queries": 20, "repeats": 1,
         "object_store_mb": 100}
SHARED_NOTE = "Measured while the machine was shared with other engineers: timings are indicative only."


# -- data and configurations ---------------------------------------------------------------------
def load_dataset(args) -> Dataset:
    if args.pypi:
        return load_folder(args.pypi, nq=args.queries, n=args.n)
    return synthetic(args.n or 1_000_000, dim=args.dim, nq=args.queries, seed=args.seed, cache_dir=args.cache_dir)


def configurations(ds: Dataset, args) -> list[tuple[str, dict]]:
    """(label, create_collection keywords). IVF gets the list count every
    shard can train (39 points per list, bench.systems.ivf_lists of a
    shard's share), the same for the unsharded collection."""
    import vecstore

    out = []
    for name in args.configs.split(","):
        if name == "binary":
            out.append(("binary", {"quantization": "binary"}))
        elif name == "ivf":
            nlist = ivf_lists(ds.n // args.shards)
            out.append((f"binary+IVF{nlist}", {"quantization": "binary", "ivf": vecstore.IVFConfig(nlist=nlist)}))
        else:
            raise SystemExit(f"--configs: unknown configuration {name!r} (binary, ivf)")
    return out


# -- the Ray cluster -------------------------------------------------------------------------
def start_cluster(object_store_mb: int):
    """Three Ray nodes on loopback, each with its own resource (tests/test_cluster.py's setup)."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        raise RuntimeError("Ray is already initialised in this process: bench.cluster starts its own cluster")
    node = {"num_cpus": 1, "object_store_memory": object_store_mb << 20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "resources": {NODES[0]: 1}})
    for name in NODES[1:]:
        cluster.add_node(**node, resources={name: 1})
    ray.init(address=cluster.address, namespace="vecstore", log_to_driver=False)
    return cluster


def stop_cluster(cluster) -> None:
    import ray

    ray.shutdown()
    cluster.shutdown()


# -- measuring one collection ----------------------------------------------------------------
def latency(lat: np.ndarray, per_call: int) -> dict:
    return {"p50_ms": float(np.percentile(lat, 50) * 1e3), "p99_ms": float(np.percentile(lat, 99) * 1e3),
            "qps": per_call * len(lat) / float(lat.sum()), "calls": int(len(lat))}


def ingest(col, xb: np.ndarray, batch: int) -> dict:
    lat = []
    t0 = time.perf_counter()
    for lo in range(0, len(xb), batch):
        hi = min(lo + batch, len(xb))
        t = time.perf_counter()
        col.upsert(np.arange(lo, hi, dtype=np.int64), xb[lo:hi])
        lat.append(time.perf_counter() - t)
    seconds = time.perf_counter() - t0
    lat = np.array(lat)
    return {"seconds": seconds, "vectors_per_s": len(xb) / seconds, "batch": batch,
            "batch_p50_ms": float(np.median(lat) * 1e3), "batch_p99_ms": float(np.percentile(lat, 99) * 1e3),
            "batch_max_ms": float(lat.max() * 1e3)}


def warm_up_engine(workdir: str, xb: np.ndarray, create: dict) -> None:
    """Load the engine's kernels in this process with a throwaway collection,
    so the unsharded row does not pay them (each shard's process loads them
    when its collection is created, before its ingest is timed)."""
    import vecstore

    path = os.path.join(workdir, "warm-up")
    with vecstore.open(path) as db:
        col = db.create_collection("w", dim=xb.shape[1], metric="cosine", **create)
        m = min(len(xb), 3000)
        col.upsert(np.arange(m, dtype=np.int64), xb[:m])
        col.search(xb[:1], 10)
    shutil.rmtree(path, ignore_errors=True)


def single_pass(col, xq, k, kw) -> tuple[np.ndarray, np.ndarray, bool]:
    ids, lat, partial = np.empty((len(xq), k), np.int64), np.empty(len(xq)), False
    for i in range(len(xq)):
        t = time.perf_counter()
        r = col.search(xq[i:i + 1], k, **kw)
        lat[i] = time.perf_counter() - t
        ids[i] = r.ids[0]
        partial |= bool(r.partial)
    return ids, lat, partial


def batch_pass(col, xq, k, kw) -> tuple[np.ndarray, np.ndarray, bool]:
    """Full batches of BATCH queries (the tail that does not fill one is left out)."""
    nb = max(1, len(xq) // BATCH)
    ids, lat, partial = [], np.empty(nb), False
    for b in range(nb):
        q = xq[b * BATCH:(b + 1) * BATCH]
        t = time.perf_counter()
        r = col.search(q, k, **kw)
        lat[b] = time.perf_counter() - t
        ids.append(r.ids)
        partial |= bool(r.partial)
    return np.vstack(ids), lat, partial


def queries(col, ds: Dataset, k: int, kw: dict, repeats: int) -> dict:
    """Single-query and batch-of-64 figures; of `repeats` passes, the one of
    median total time (as bench.compare: this host slows whole seconds at a time)."""
    from .measure import recall_at_k

    col.search(ds.xq[:min(len(ds.xq), 2 * BATCH)], k, **kw)  # warm-up: kernels loaded in every process
    for i in range(min(10, len(ds.xq))):
        col.search(ds.xq[i:i + 1], k, **kw)
    singles = sorted((single_pass(col, ds.xq, k, kw) for _ in range(repeats)), key=lambda p: float(p[1].sum()))
    ids, lat, partial = singles[len(singles) // 2]
    batches = sorted((batch_pass(col, ds.xq, k, kw) for _ in range(repeats)), key=lambda p: float(p[1].sum()))
    bids, blat, bpartial = batches[len(batches) // 2]
    partial |= bpartial
    return {"single": latency(lat, 1), "batch64": latency(blat, min(BATCH, len(ds.xq))),
            "recall": recall_at_k(ids, ds.gt, k), "recall_batch": recall_at_k(bids, ds.gt[:len(bids)], k),
            "partial": partial, "_ids": ids}


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of one top-k found in the other (1.0: the same ids, in any order)."""
    k = a.shape[1]
    return float(np.mean([len(np.intersect1d(x[x >= 0], y[y >= 0])) / k for x, y in zip(a, b)]))


# -- per-call costs for the paper estimate ---------------------------------------------------------
def shard_search_kw(kw: dict) -> dict:
    """The keywords the router sends every shard for a dense search (router.search)."""
    return {"filter": None, "oversampling": kw.get("oversampling"), "rescore": None, "nprobe": kw.get("nprobe"),
            "sparse_queries": None, "margin": None, "with_payloads": False, "with_vectors": False}


def open_shards_read_only(col) -> list:
    """Each shard's replica 0 opened read-only in this process (beside its
    writer, the actor): its engine, its data, no Ray in between."""
    import ray
    import vecstore

    handles = []
    for row in col._actors:
        st = ray.get(row[0].status.remote(), timeout=120)
        db = vecstore.open(st["directory"], read_only=True)
        handles.append((db, db.get_collection(col.name)))
    return handles


def per_call_costs(col, ds: Dataset, k: int, kw: dict, n_queries: int, batch: int) -> dict:
    """Per query (one per call, then batches of 64), timed back to back:
    the router's whole search; a Ray call to each shard's replica 0; each
    shard's engine alone; the router's merge of the shards' answers."""
    import ray
    from vecstore.cluster import routing

    skw = shard_search_kw(kw)
    actors = [row[0] for row in col._actors]
    shards = open_shards_read_only(col)
    try:
        out = {"single": _costs(col, actors, shards, [ds.xq[i:i + 1] for i in range(min(n_queries, len(ds.xq)))],
                                k, kw, skw, routing),
               "batch64": _costs(col, actors, shards, [ds.xq[lo:lo + BATCH] for lo in
                                                       range(0, min(len(ds.xq), max(n_queries, BATCH) * 2), BATCH)
                                                       if lo + BATCH <= len(ds.xq)] or [ds.xq[:BATCH]],
                                 k, kw, skw, routing)}
    finally:
        for db, _ in shards:
            db.close()
    # a call that does (almost) no work: the floor of one router -> replica round trip
    floor = []
    for _ in range(200):
        t = time.perf_counter()
        ray.get(actors[0].call.remote("count"))
        floor.append(time.perf_counter() - t)
    out["empty_call_ms_p50"] = float(np.median(floor) * 1e3)
    out["empty_call_ms_p99"] = float(np.percentile(floor, 99) * 1e3)
    # what one ingest batch sends each shard (ids, float32 vectors, no payloads) and the replies
    ids = np.arange(batch, dtype=np.int64)
    x = ds.xb[:batch]
    parts = routing.split(ids, col._map, len(actors))
    sizes = [len(pickle.dumps(("upsert", (ids[p], x[p], None), {}, 1), protocol=5)) for p in parts.values()]
    out["upsert_request_bytes_per_shard"] = float(np.mean(sizes))
    out["upsert_request_bytes_per_vector"] = float(np.sum(sizes) / batch)
    out["upsert_batch"] = batch
    return out


def _costs(col, actors, shards, qs, k, kw, skw, routing) -> dict:
    import ray

    for q in qs[:3]:  # warm the read-only handles (first reads map their pages)
        for _, c in shards:
            c.search(q, k, **skw)
    router, actor_t, engine_t, merge_t, req, resp = [], [], [], [], [], []
    for q in qs:
        t = time.perf_counter()
        col.search(q, k, **kw)
        router.append(time.perf_counter() - t)
        parts, row_a, row_e = [], [], []
        for a in actors:
            t = time.perf_counter()
            reply = ray.get(a.call.remote("search", (q, k), skw))
            row_a.append(time.perf_counter() - t)
            parts.append(reply[1])
        for _, c in shards:
            t = time.perf_counter()
            c.search(q, k, **skw)
            row_e.append(time.perf_counter() - t)
        t = time.perf_counter()
        routing.merge_search(parts, k, col.metric)
        merge_t.append(time.perf_counter() - t)
        actor_t.append(row_a)
        engine_t.append(row_e)
        req.append(len(pickle.dumps(("search", (q, k), skw, None), protocol=5)))
        resp.append(np.mean([len(pickle.dumps(("ok", p), protocol=5)) for p in parts]))
    router, actor_t, engine_t = np.array(router), np.array(actor_t), np.array(engine_t)
    ms = lambda a: float(np.median(a) * 1e3)  # noqa: E731
    return {
        "calls": len(qs), "queries_per_call": int(len(qs[0])),
        "router_ms_p50": ms(router),
        "engine_ms_p50_per_shard": [ms(engine_t[:, s]) for s in range(engine_t.shape[1])],
        "actor_call_ms_p50_per_shard": [ms(actor_t[:, s]) for s in range(actor_t.shape[1])],
        "slowest_engine_ms_p50": ms(engine_t.max(axis=1)),
        "slowest_actor_call_ms_p50": ms(actor_t.max(axis=1)),
        # the brief's figure: what the router adds over the slowest shard's own engine time
        "router_overhead_ms_p50": ms(router - engine_t.max(axis=1)),
        "ray_call_overhead_ms_p50": ms(actor_t - engine_t),  # one replica call minus its engine time
        "router_cpu_ms_p50": ms(router - actor_t.max(axis=1)),  # validation, dispatch, merge, beyond the slowest call
        "merge_ms_p50": ms(np.array(merge_t)),
        "request_bytes": float(np.mean(req)), "response_bytes_per_shard": float(np.mean(resp)),
    }


# -- the run ---------------------------------------------------------------------------------
def layouts(args) -> list[tuple[str, int, int]]:
    reps = [int(r) for r in str(args.replicas).split(",") if r]
    return [("unsharded (embedded)", 1, 1)] + [(f"shards={args.shards} replicas={r}", args.shards, r) for r in reps]


def run(args) -> dict:
    import vecstore

    log = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    ds = load_dataset(args)
    log(f"dataset {ds.name}: {ds.n:,} x {ds.dim}, {len(ds.xq):,} queries")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    kw = {} if args.oversampling is None else {"oversampling": args.oversampling}
    result = {"dataset": ds.name, "n": ds.n, "dim": ds.dim, "nq": len(ds.xq), "k": args.k, "shards": args.shards,
              "command": args.command, "machine": report.machine(), "cpu_count": os.cpu_count(),
              "versions": report.versions(["ray", "numpy", "numba", "lmdb", "faiss-cpu"]),
              "search_overrides": kw, "write_timeout_s": args.write_timeout, "ray_nodes": len(NODES),
              "object_store_mb_per_node": args.object_store_mb,
              "configs": [], "faults": {}, "router_gaps": ROUTER_GAPS}
    t_start = time.perf_counter()
    cluster = start_cluster(args.object_store_mb)
    try:
        cdb = vecstore.cluster("ignored: Ray is initialised", os.path.join(args.workdir, "router"),
                               node_resources=NODES, read_timeout=120.0, write_timeout=args.write_timeout,
                               replica_timeout=args.write_timeout, catch_up_interval=None)
        try:
            for ci, (label, create) in enumerate(configurations(ds, args)):
                result["configs"].append(measure_config(cdb, ds, label, create, args, kw, log, faults=ci == 0,
                                                        result=result))
        finally:
            cdb.close()
    finally:
        stop_cluster(cluster)
        shutil.rmtree(args.workdir, ignore_errors=True)
    result["total_seconds"] = time.perf_counter() - t_start
    write_outputs(result, args)
    return result


def measure_config(cdb, ds, label, create, args, kw, log, *, faults: bool, result: dict) -> dict:
    import vecstore

    out = {"config": label, "layouts": []}
    embedded, cols = None, {}
    try:
        for name, shards, replicas in layouts(args):
            log(f"{label}, {name}:")
            if shards == 1 and replicas == 1 and name.startswith("unsharded"):
                warm_up_engine(args.workdir, ds.xb, create)
                embedded = vecstore.open(os.path.join(args.workdir, f"embedded-{len(result['configs'])}"))
                col = embedded.create_collection("bench", dim=ds.dim, metric="cosine", **create)
            else:
                cname = f"bench{len(result['configs'])}_r{replicas}"
                col = cdb.create_collection(cname, dim=ds.dim, metric="cosine", shards=shards, replicas=replicas,
                                            **create)
                cols[name] = col
            row = {"layout": name, "shards": shards, "replicas": replicas, "ingest": ingest(col, ds.xb, args.batch)}
            log(f"  ingest {row['ingest']['vectors_per_s']:,.0f} vectors/s ({row['ingest']['seconds']:.1f} s)")
            if name in cols:
                row["left_behind_during_ingest"] = [[int(r) for r in s] for s in col._entry["stale"]]
                row["count"] = col.count()
            row.update(queries(col, ds, args.k, kw, args.repeats))
            s, b = row["single"], row["batch64"]
            log(f"  recall@10 {row['recall']:.3f}  single p50 {s['p50_ms']:.2f} ms p99 {s['p99_ms']:.2f} ms "
                f"{s['qps']:,.0f} q/s  batch64 p50 {b['p50_ms']:.1f} ms p99 {b['p99_ms']:.1f} ms {b['qps']:,.0f} q/s")
            if name in cols:
                row["costs"] = per_call_costs(col, ds, args.k, kw, args.cost_queries, args.batch)
                c = row["costs"]["single"]
                log(f"  per call: router {c['router_ms_p50']:.2f} ms, slowest engine {c['slowest_engine_ms_p50']:.2f} "
                    f"ms, router overhead {c['router_overhead_ms_p50']:.2f} ms, Ray call overhead "
                    f"{c['ray_call_overhead_ms_p50']:.2f} ms, empty call {row['costs']['empty_call_ms_p50']:.2f} ms")
            out["layouts"].append(row)
        base = out["layouts"][0]["_ids"]
        for row in out["layouts"]:
            row["agreement_with_unsharded"] = agreement(row.pop("_ids"), base)
        if faults:
            result["faults"] = measure_faults(cdb, cols, ds, args, kw, log, label)
    finally:
        for name, col in cols.items():
            cdb.drop_collection(col.name)
        if embedded is not None:
            embedded.close()
            shutil.rmtree(embedded.path, ignore_errors=True)
    return out


def measure_faults(cdb, cols: dict, ds: Dataset, args, kw: dict, log, label: str) -> dict:
    probe = ds.xq[:min(16, len(ds.xq))]
    out = {"config": label}
    by_replicas = {col._replicas: col for col in cols.values()}
    if 1 in by_replicas:
        out["kill_replicas_1"] = r = shard_kill(cdb, by_replicas[1], probe, args.k, kw,
                                                probe_timeout=KILL_PROBE_TIMEOUT)
        log(f"  SIGKILL shard 0 (replicas=1): full results again after {r['seconds_to_full_results']:.2f} s "
            f"({r['partial_searches']} partial answers meanwhile)")
    multi = [n for n in by_replicas if n >= 2]
    if multi:
        col = by_replicas[min(multi)]
        # the router's default read_timeout: the wait a search allows before it gives up on a replica
        out["kill_replicas_2"] = r = shard_kill(cdb, col, probe, args.k, kw, probe_timeout=DEFAULT_READ_TIMEOUT)
        log(f"  SIGKILL shard 0 replica 0 (replicas={col._replicas}): {r['partial_searches']} partial of "
            f"{r['searches']} searches; replica serving again after {r['seconds_to_replica_serving']:.2f} s")
        new_ids = np.arange(ds.n, ds.n + args.catchup_points, dtype=np.int64) + 10**9  # never an existing id
        rows = np.arange(args.catchup_points) % ds.n
        # ten batches: the first waits replica_timeout and leaves the replica behind, the others skip it
        out["catch_up"] = r = catch_up(cdb, col, new_ids, ds.xb[rows], max(1, args.catchup_points // 10), probe,
                                       args.k, kw)
        log(f"  replica down while {r['points_written_while_down']:,} points were written: caught up in "
            f"{r['catch_up_seconds']:.2f} s ({r['shard_bytes_copied'] / 2**20:,.1f} MiB copied)")
    return out


# Things the benchmark had to reach into the router for: candidates for its public surface.
ROUTER_GAPS = [
    "no per-shard engine time in a search answer: measured by opening each shard's directory read-only here",
    "no public way to name a replica's process or start a catch-up round: `_actors`, `_catch_up()` as in the tests",
    "catch-up copies the whole shard (copy_files: one compacted LMDB copy, through the object store), "
    "whatever the number of writes missed",
    "a read sent to a replica whose process was just killed waits until Ray reports the death before it asks "
    "the live peer (the hedged read starts only once half the time left has passed: 5 s at the default "
    "read_timeout), so one search stalls (the replicas=2 kill row's max search ms)",
]


def write_outputs(result: dict, args) -> None:
    path = args.json or os.path.join(args.out_dir, f"cluster_{report.slug(result['dataset'])}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    result["json"] = path
    body = section(result, args.note)
    if args.results:
        report.replace_section(args.results, f"Scale-out on Ray: {result['dataset']}", body)
    if not args.quiet:
        print(body)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pypi", metavar="PATH", help="dataset folder (pypi-minilm's layout) instead of synthetic data")
    ap.add_argument("--n", type=int, help="synthetic base size (default 1,000,000), or a prefix of --pypi's base")
    ap.add_argument("--dim", type=int, default=384, help="synthetic dimension")
    ap.add_argument("--queries", type=int, default=1000, help="queries (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shards", type=int, default=3)
    ap.add_argument("--replicas", default="1,2", help="replica counts, one sharded layout each (default 1,2)")
    ap.add_argument("--configs", default="binary,ivf", help="binary (codes + exact rerank) and/or ivf")
    ap.add_argument("--oversampling", type=float, help="search-time oversampling (default: the collection's)")
    ap.add_argument("--batch", type=int, default=10_000, help="points per upsert call")
    ap.add_argument("--repeats", type=int, default=3, help="query passes per layout; the median one is reported")
    ap.add_argument("--cost-queries", type=int, default=200, help="queries timed for the per-call costs")
    ap.add_argument("--catchup-points", type=int, default=10_000, help="points written while a replica is down")
    ap.add_argument("--write-timeout", type=float, default=1800.0,
                    help="the router's write_timeout and replica_timeout while ingesting: a shard training its "
                         "IVF lists on shared cores must not be left behind or failed (the catch-up phase "
                         "lowers replica_timeout to 1 s)")
    ap.add_argument("--object-store-mb", type=int, default=1536,
                    help="Ray object store per node (a catch-up sends a whole shard through it)")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny run: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    ap.add_argument("--workdir", default=os.path.join(HERE, "out", "cluster-work"),
                    help="collections go here (removed after)")
    ap.add_argument("--cache-dir", default=os.path.join(HERE, "out", "data"), help="synthetic dataset cache")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    ap.add_argument("--json", help="JSON path (default: OUT_DIR/cluster_<dataset>.json)")
    ap.add_argument("--results", help="markdown file whose section to replace (default bench/RESULTS.md; "
                                      "none with --quick; '' for none)")
    ap.add_argument("--note", default=SHARED_NOTE, help="line printed above the results ('' for none)")
    ap.add_argument("--quiet", action="store_true")
    return ap


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    args.command = "python -m bench.cluster " + " ".join(shlex.quote(a) for a in argv)
    if args.quick:  # tiny defaults, unless given explicitly
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for key, value in QUICK.items():
            if key not in given:
                setattr(args, key, value)
    if args.results is None:
        args.results = "" if args.quick else os.path.join(HERE, "RESULTS.md")
    return run(args)


if __name__ == "__main__":
    main()
