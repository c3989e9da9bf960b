"""Sharded, replicated collections on Ray (vecstore.cluster) against a local
3-node Ray cluster on loopback: the same results as one unsharded embedded
collection, every operation, shard kills, node loss, router restarts."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import contextlib
import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

import vecstore  # noqa: E402
import vecstore.api.validate  # noqa: E402
from vecstore import BinaryQuantization  # noqa: E402
from vecstore.rpc.server import RpcServer  # noqa: E402
from vecstore.api import interface  # noqa: E402
from vecstore.cluster import ClusterCollection, ClusterDatabase  # noqa: E402
from vecstore.cluster import routing  # noqa: E402

from daemon import ROOT, Daemon  # noqa: E402
from synthetic import clustered, sparse_vectors  # noqa: E402
from test_grpc_congruence import assert_same, operations, parameters, public  # noqa: E402

pytestmark = pytest.mark.ray
NODES = ["n0", "n1", "n2"]


@pytest.fixture(scope="module")
def ray_cluster():
    """Three Ray nodes on this machine, each with its own resource to pin shards."""
    small = {"num_cpus": 1, "object_store_memory": 80 << 20}
    cluster = Cluster(initialize_head=True, head_node_args={**small, "resources": {NODES[0]: 1}})
    nodes = [cluster.head_node]
    for name in NODES[1:]:
        nodes.append(cluster.add_node(**small, resources={name: 1}))
    ray.init(address=cluster.address, namespace="vecstore", log_to_driver=False)
    try:
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("router")


@pytest.fixture
def cdb(ray_cluster, router_dir):
    # a first search in a fresh actor process may compile kernels: a generous deadline
    db = vecstore.cluster("ignored: Ray is initialised", router_dir, node_resources=NODES, read_timeout=120.0)
    yield db
    db.close()


class Sharded:
    """A cluster database whose create_collection shards by default (to run
    the congruence test's scripted session sharded)."""

    def __init__(self, db, **layout):
        self._db, self._layout = db, layout

    def create_collection(self, *args, **kwargs):
        return self._db.create_collection(*args, **self._layout, **kwargs)

    def __getattr__(self, name):
        return getattr(self._db, name)


def actor_pid(col, shard, replica=0, wait=60.0):
    """The replica's process id, once it answers: a just-killed actor is
    unavailable until Ray has restarted it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return ray.get(col._actors[shard][replica].status.remote())["pid"]
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- pure routing ---------------------------------------------------------------------------
def test_routing_is_stable_and_covers_every_shard():
    ids = np.arange(10_000, dtype=np.int64)
    v = routing.virtual_shard(ids)
    assert set(np.unique(v).tolist()) == set(range(routing.VIRTUAL_SHARDS))
    parts = routing.split(ids, routing.default_shard_map(3), 3)
    assert sorted(np.concatenate(list(parts.values())).tolist()) == ids.tolist()
    assert min(len(p) for p in parts.values()) > 3000  # balanced
    # fixed values: a change of hash would strand every stored point on the wrong shard
    assert routing.virtual_shard(np.array([0, 1, 42, 10**12, 2**63 - 1])).tolist()[:4] == [175, 193, 149, 120]


def test_merge_search_takes_best_of_union():
    a = vecstore.SearchResult(ids=np.array([[5, 3, -1]]), scores=np.array([[0.9, 0.5, np.nan]], np.float32))
    b = vecstore.SearchResult(ids=np.array([[7, 8, 9]]), scores=np.array([[0.95, 0.6, 0.1]], np.float32))
    m = routing.merge_search([a, b], 3, "cosine")
    assert m.ids.tolist() == [[7, 5, 8]]
    m = routing.merge_search([a, b], 5, "l2")  # lower is better; padding last
    assert m.ids.tolist() == [[9, 3, 8, 5, 7]]


# -- interface ------------------------------------------------------------------------------
@pytest.mark.parametrize("surface,abstract", [(ClusterDatabase, interface.Database),
                                              (ClusterCollection, interface.Collection)])
def test_same_interface(surface, abstract):
    """The cluster classes implement vecstore.api.interface with the engine's
    and the client's signatures (tests/test_grpc_congruence.py checks those)."""
    assert issubclass(surface, abstract) and not surface.__abstractmethods__
    assert public(surface) == public(abstract)
    for name in public(abstract):
        spec, mine = getattr(abstract, name), getattr(surface, name)
        if isinstance(spec, property):
            assert isinstance(mine, property), name
            continue
        assert parameters(mine) == parameters(spec), name
    assert routing.VIRTUAL_SHARDS >= vecstore.api.validate.MAX_SHARDS  # every shard holds a virtual shard


# -- results equal one unsharded collection -------------------------------------------------------
@contextlib.contextmanager
def grpc_router(cdb, **options):
    """The gRPC server in this process over the cluster database (what
    `vecstore serve --ray` runs), and a client of it."""
    server = RpcServer(cdb, port=0, **options).start()
    server.set_serving()
    try:
        with vecstore.connect(server.address) as client:
            yield client, server
    finally:
        server.stop(5)


@pytest.mark.parametrize("kind,metric,via", [("none", "cosine", "embedded API"), ("binary", "cosine", "embedded API"),
                                             ("binary", "l2", "gRPC")])
def test_scripted_session_matches_embedded(cdb, tmp_path, kind, metric, via):
    """The congruence test's whole scripted session (every operation, errors
    included) over 3 shards gives what one embedded collection gives; "gRPC":
    through the gRPC server over the cluster, shards=3 sent by the client."""
    with vecstore.open(tmp_path / "embedded") as db:
        local = operations(db, kind, metric)
    if via == "gRPC":
        with grpc_router(cdb) as (client, _):
            sharded = operations(Sharded(client, shards=3), kind, metric)
    else:
        sharded = operations(Sharded(cdb, shards=3), kind, metric)
    assert local.keys() == sharded.keys()
    for key in local.keys() - {"info"}:
        if kind == "binary" and key.startswith("search") and key != "search_small":
            # each shard keeps its own top k x oversampling candidates (a superset of the
            # unsharded ones) and reranks exactly: every rank is as good or better
            if key != "search_coarse":  # code-space scores of each shard's own codec: not comparable
                assert_at_least_as_good(sharded[key], local[key], metric, key)
            continue
        assert_same(local[key], sharded[key], key)
    assert not sharded["search"].partial
    info = sharded["info"]
    assert info.count == local["info"].count and info.extra["shards"] == 3
    assert local["err_dim"][0] is vecstore.DimensionMismatchError


def assert_at_least_as_good(got, want, metric, key=""):
    assert got.ids.shape == want.ids.shape, key
    np.testing.assert_array_equal(got.ids >= 0, want.ids >= 0, err_msg=key)
    g, w = np.nan_to_num(got.scores, nan=0.0), np.nan_to_num(want.scores, nan=0.0)
    better = g <= w + 1e-5 if metric == "l2" else g >= w - 1e-5
    assert better.all(), key


KINDS = {
    "binary": BinaryQuantization(train_size=200),
    "residual_binary": vecstore.ResidualBinaryQuantization(train_size=200),
    "scalar": vecstore.ScalarQuantization(train_size=200),
    "pq": vecstore.ProductQuantization(m=8, nbits=4, train_size=200),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_search_matches_unsharded_for_each_quantization(cdb, tmp_path, kind):
    """Each kind over 3 shards: where one unsharded collection of that kind is
    exact the sharded one returns the same ids; with few candidates it is never
    worse (each shard reranks its own k x oversampling candidates exactly, a
    superset of the unsharded candidates when the codes do not depend on the
    shard's training sample)."""
    data = clustered(1500, 32, nq=16, seed=5)
    filt = {"g": {"$lt": 5}}
    payloads = [{"g": int(i % 10)} for i in range(1500)]
    calls = [dict(k=10, oversampling=60), dict(k=10, oversampling=60, filter=filt), dict(k=10, oversampling=2)]
    with vecstore.open(tmp_path / "one") as db:
        one = db.create_collection("q", dim=32, quantization=KINDS[kind])
        one.upsert(data.ids, data.xb, payloads)
        want = [one.search(data.xq, **kw) for kw in calls]
    col = cdb.create_collection(f"q_{kind}", dim=32, quantization=KINDS[kind], shards=3)
    try:
        for lo in range(0, 1500, 500):
            col.upsert(data.ids[lo:lo + 500], data.xb[lo:lo + 500], payloads[lo:lo + 500])
        assert col.info().trained
        got = [col.search(data.xq, **kw) for kw in calls]
        np.testing.assert_array_equal(want[0].ids, data.ground_truth(10))  # the unsharded one is exact here
        for w, g in zip(want[:2], got[:2]):
            np.testing.assert_array_equal(w.ids, g.ids)
            np.testing.assert_allclose(w.scores, g.scores, rtol=1e-5, atol=1e-5)
        if kind != "pq":  # pq codebooks learnt per shard differ: the shards' candidates are no superset
            assert_at_least_as_good(got[2], want[2], "cosine")
        assert not any(g.partial for g in got)
    finally:
        cdb.drop_collection(f"q_{kind}")


def hybrid_session(db, metric):
    """Hybrid searches (both fusions, sparse alone, filters, hit data),
    search_by_id and their errors on a collection with sparse vectors."""
    n, vocab = 900, 300
    data = clustered(n, 16, nq=6, seed=12)
    rows = sparse_vectors(n, vocab, seed=12)
    qs = sparse_vectors(6, vocab, nnz=6, missing=0.0, seed=112)
    payloads = [{"tag": int(i % 3)} for i in range(n)]
    col = db.create_collection("h", dim=16, metric=metric, quantization="none", sparse_vectors={"vocab_size": vocab})
    col.upsert(data.ids[:300], data.xb[:300], payloads[:300], sparse_vectors=rows[:300])
    col.upsert(data.ids[300:], data.xb[300:], payloads[300:], sparse_vectors=rows[300:])
    out = {"config": col.config, "count": col.count()}
    out["rrf"] = col.search(data.xq, k=10, sparse_query=qs)
    out["rrf_k"] = col.search(data.xq, k=70, sparse_query=qs, rrf_k=5)  # deeper than the fusion depth
    out["weighted"] = col.search(data.xq, k=10, sparse_query=qs, fusion="weighted", dense_weight=0.3)
    out["sparse_alone"] = col.search(None, k=12, sparse_query=qs)
    out["sparse_one"] = col.search(None, k=4, sparse_query=qs[0])
    out["filtered"] = col.search(data.xq, k=10, sparse_query=qs, filter={"tag": {"$in": [0, 2]}})
    out["hits"] = col.search(data.xq, k=8, sparse_query=qs, fusion="weighted", with_payloads=True, with_vectors=True)
    out["sparse_hits"] = col.search(None, k=8, sparse_query=qs, with_payloads=True)
    out["by_id"] = col.search_by_id(data.ids[[7, 500, 7]], k=6, filter={"tag": 1}, with_vectors=True)
    out["get"] = col.get(data.ids[:20])
    col.upsert(data.ids[:5], data.xb[:5], sparse_vectors=[None] * 5)  # their sparse vectors go
    out["after_clear"] = col.search(None, k=20, sparse_query=[rows[i] for i in range(5) if rows[i] is not None])
    for name, call in [
        ("err_fusion", lambda: col.search(data.xq, k=3, sparse_query=qs, fusion="max")),
        ("err_rrf_k", lambda: col.search(data.xq, k=3, sparse_query=qs, rrf_k=-1)),
        ("err_nothing", lambda: col.search(None, k=3)),
        ("err_lengths", lambda: col.search(data.xq[:2], k=3, sparse_query=qs)),
        ("err_vocab", lambda: col.search(None, k=3, sparse_query=([vocab], [1.0]))),
        ("err_alone_codes", lambda: col.search(None, k=3, sparse_query=qs, sparse_queries=[[1]] * 6)),
        ("err_upsert_sparse", lambda: col.upsert([1], data.xb[:1], sparse_vectors=[([1, 1], [1.0, 2.0])])),
        ("err_upsert_count", lambda: col.upsert([1, 2], data.xb[:2], sparse_vectors=[None])),
        ("err_missing", lambda: col.search_by_id([int(data.ids[3]), 10**12, 10**13], k=3)),
        ("err_by_id_k", lambda: col.search_by_id([int(data.ids[3])], k=0)),
    ]:
        try:
            call()
            out[name] = None
        except vecstore.VecstoreError as exc:
            out[name] = (type(exc), str(exc))
    plain = db.create_collection("plain", dim=16, quantization="none")
    try:
        plain.upsert([1], data.xb[:1], sparse_vectors=[None])
        out["err_not_hybrid"] = None
    except vecstore.VecstoreError as exc:
        out["err_not_hybrid"] = (type(exc), str(exc))
    db.drop_collection("plain")
    db.drop_collection("h")
    return out


def test_hybrid_and_hit_data_match_unsharded(cdb, tmp_path):
    """Hybrid search over 3 shards fuses the exactly merged dense and sparse
    lists once: the same ids, scores, payloads and vectors as one collection;
    search_by_id and the errors are the same too. (l2: the dense list merges
    lowest first and fuses negated; cosine merges are in the scripted session.)"""
    with vecstore.open(tmp_path / "one") as db:
        local = hybrid_session(db, "l2")
    sharded = hybrid_session(Sharded(cdb, shards=3), "l2")
    assert local.keys() == sharded.keys()
    for key in local:
        assert_same(local[key], sharded[key], key)
        assert not getattr(sharded[key], "partial", False), key
    assert local["err_missing"][0] is vecstore.PointNotFoundError
    assert local["err_not_hybrid"][0] is vecstore.InvalidSparseError
    assert local["hits"].payloads[0][0] is not None and not np.isnan(local["hits"].vectors[0, 0]).any()


# -- faults ---------------------------------------------------------------------------------
def test_sigkill_during_ingest_loses_nothing_acknowledged(cdb):
    """SIGKILL a shard's process while batches go in: Ray restarts it from its
    LMDB, the router retries the unfinished batch, and every acknowledged point
    is there with its exact vector."""
    data = clustered(1800, 16, nq=4, seed=9)
    col = cdb.create_collection("kill", dim=16, quantization=BinaryQuantization(train_size=500), shards=2)
    try:
        pids, timers = set(), []
        for b, lo in enumerate(range(0, 1800, 150)):
            if b % 4 == 1:  # kill while the next upsert is (most likely) in flight; shards 0, 1, 0
                pid = actor_pid(col, (b // 4) % 2)
                pids.add(pid)
                timers.append(threading.Timer(0.02, os.kill, (pid, signal.SIGKILL)))
                timers[-1].start()
            assert col.upsert(data.ids[lo:lo + 150], data.xb[lo:lo + 150], [{"b": b}] * 150) == 150
        for timer in timers:  # the last kill may come after the last batch: still nothing may be lost
            timer.join()
        assert pids.isdisjoint({actor_pid(col, 0), actor_pid(col, 1)})  # restarted processes
        assert col.count() == 1800
        got = col.get(data.ids)
        np.testing.assert_array_equal(got.ids, data.ids)
        assert got.vectors.tobytes() == data.xb.tobytes()
        assert got.payloads == [{"b": lo // 150} for lo in range(0, 1800, 150) for _ in range(150)]
        truth = data.ground_truth(10)
        np.testing.assert_array_equal(col.search(data.xq, k=10, oversampling=50).ids, truth)
    finally:
        cdb.drop_collection("kill")


def test_restart_on_empty_disk_is_quarantined(cdb):
    """A shard restarted over an empty directory (a lost disk) has no identity
    file: it is quarantined, and searches say partial instead of answering
    from an empty shard; writes to it are refused, not acknowledged."""
    data = clustered(400, 16, nq=3, seed=8)
    col = cdb.create_collection("lost", dim=16, quantization="none", shards=2)
    try:
        col.upsert(data.ids, data.xb)
        status = ray.get(col._actors[1][0].status.remote())
        shutil.rmtree(status["directory"])
        os.kill(status["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            try:
                status = ray.get(col._actors[1][0].status.remote(), timeout=10)
                if status["state"] == "quarantined":
                    break
            except ray.exceptions.RayActorError:
                pass
            assert time.monotonic() < deadline, "the shard did not come back"
            time.sleep(0.2)
        assert "no shard identity" in status["reason"] and status["count"] is None
        assert not os.path.exists(status["directory"])  # nothing was recreated there
        result = col.search(data.xq, k=5)
        assert result.partial and (result.ids >= 0).all()  # shard 0's hits, marked partial
        info = col.info()  # still answers: what operators need when a shard is down
        assert info.extra["missing_shards"] == [1] and 0 < info.count < 400
        assert [r["state"] for r in info.extra["shard_replicas"]] == ["serving", "quarantined"]
        with grpc_router(cdb, metrics_port=0) as (client, server):  # the mark travels (SearchResponse.partial)
            with urllib.request.urlopen(server.metrics_url, timeout=60) as page:
                scraped = page.read().decode()
            assert 'vecstore_shard_replica_state{collection="lost",replica="0",shard="1",state="quarantined"} 1.0' \
                in scraped
            assert 'vecstore_shard_replica_points{collection="lost",replica="0",shard="0"}' in scraped
            remote = client.get_collection("lost").search(data.xq, k=5)
            assert remote.partial
            np.testing.assert_array_equal(remote.ids, result.ids)
            on_live = data.ids[routing.shard_of(data.ids, col._map) == 0][:1]
            assert client.get_collection("lost").search_by_id(on_live, k=3).partial
        with pytest.raises(vecstore.UnavailableError):
            col.count()
        on_lost = data.ids[routing.shard_of(data.ids, col._map) == 1][:3]
        with pytest.raises(vecstore.UnavailableError):
            col.upsert(on_lost, data.xb[:3])
    finally:
        cdb.drop_collection("lost")


def check_by_id_on_replicas(col, data):
    """search_by_id over shards and replicas: each point's own stored vector
    is the query, the point is left out, hit data moves with the merged hits."""
    asked = data.ids[[0, 1, len(data.ids) - 1]]
    rows = [0, 1, len(data.ids) - 1]
    got = col.search_by_id(asked, k=5, with_payloads=True, with_vectors=True)
    full = col.search(data.xb[rows], k=6)
    for row, own in enumerate(asked):
        np.testing.assert_array_equal(got.ids[row], [i for i in full.ids[row] if i != own][:5])
    pos = {int(i): j for j, i in enumerate(data.ids)}
    assert [[p["n"] for p in row] for row in got.payloads] == [[pos[int(i)] for i in row] for row in got.ids]
    assert got.vectors.tobytes() == data.xb[[[pos[int(i)] for i in row] for row in got.ids]].tobytes()
    with pytest.raises(vecstore.PointNotFoundError, match="10000000"):
        col.search_by_id([int(asked[0]), 10_000_000], k=3)


def test_router_restart_finds_collections_and_actors(ray_cluster, tmp_path):
    data = clustered(600, 16, nq=5, seed=3)
    # a first search in a fresh actor process may compile kernels: a generous deadline
    db = vecstore.cluster("ignored", tmp_path / "r", node_resources=NODES, read_timeout=120.0)
    col = db.create_collection("keep", dim=16, quantization="none", shards=3, replicas=2)
    col.upsert(data.ids, data.xb, [{"n": i} for i in range(600)])
    col.create_payload_index("g", "integer")
    before = col.search(data.xq, k=7)
    check_by_id_on_replicas(col, data)
    pids = [actor_pid(col, s, r) for s in range(3) for r in range(2)]
    db.close()
    with pytest.raises(vecstore.DatabaseClosedError):
        col.count()
    db = vecstore.cluster("ignored", tmp_path / "r", node_resources=NODES, read_timeout=120.0)
    try:
        assert db.list_collections() == ["keep"]
        col = db.get_collection("keep")
        assert [actor_pid(col, s, r) for s in range(3) for r in range(2)] == pids  # the same live actors
        assert col.count() == 600 and col.payload_indexes() == {"g": "integer"}
        after = col.search(data.xq, k=7)
        np.testing.assert_array_equal(before.ids, after.ids)
        states = col.info().extra["shard_replicas"]
        assert len(states) == 6 and {s["state"] for s in states} == {"serving"}
        # actors gone for good (a Ray cluster restarted): the router starts them again on their disks
        for row in col._actors:
            for actor in row:
                ray.kill(actor, no_restart=True)
        db.close()
        db = vecstore.cluster("ignored", tmp_path / "r", node_resources=NODES, read_timeout=120.0)
        col = db.get_collection("keep")
        assert col.count() == 600 and col.payload_indexes() == {"g": "integer"}
        np.testing.assert_array_equal(before.ids, col.search(data.xq, k=7).ids)
    finally:
        db.drop_collection("keep")
        db.close()


def until_up(call):
    """call() once the actor it calls answers (Ray may be restarting its process)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return call()
        except ray.exceptions.RayActorError:
            assert time.monotonic() < deadline, "the replica did not come back"
            time.sleep(0.2)


def replica_count(col, s, r):
    """What one replica itself holds (the router never reads a stale one)."""
    state, count = until_up(lambda: ray.get(col._actors[s][r].call.remote("count"), timeout=120))
    assert state == "ok", count
    return count


def replica_status(col, s, r):
    return until_up(lambda: ray.get(col._actors[s][r].status.remote(), timeout=120))


def states(col):
    return {(x["shard"], x["replica"]): x["state"] for x in col.info().extra["shard_replicas"]}


def test_replica_left_behind_catches_up_before_serving(ray_cluster, tmp_path):
    """replicas=2: a replica that stops answering is left behind after
    replica_timeout (marked stale in the catalog) while writes go on to its
    peer; it never serves meanwhile, and serves again only once it took a copy
    of the peer (a new epoch in its identity file, kept across a restart). A
    replica restarted over an empty disk is quarantined, then caught up the
    same way. (Catch-up rounds run by hand here; in service a background
    thread runs them.)"""
    data = clustered(900, 16, nq=5, seed=14)
    truth = data.ground_truth(10)
    db = vecstore.cluster("ignored", tmp_path / "c", node_resources=NODES, read_timeout=120.0,
                          replica_timeout=1.0, catch_up_interval=None)
    col = db.create_collection("behind", dim=16, quantization="none", shards=2, replicas=2)
    try:
        col.upsert(data.ids[:300], data.xb[:300])
        pid = actor_pid(col, 0, 1)
        os.kill(pid, signal.SIGSTOP)  # alive but not answering: a hung process, a network partition
        try:
            assert col.upsert(data.ids[300:600], data.xb[300:600]) == 300  # acknowledged by replica 0
            assert col._entry["stale"] == [[1], []]
            assert db._catalog.get("behind")["stale"] == [[1], []]  # recorded before the acknowledgement
            col.upsert(data.ids[600:], data.xb[600:])  # no longer waits for it
        finally:
            os.kill(pid, signal.SIGCONT)
        assert states(col)[(0, 1)] == "catching-up"
        assert replica_count(col, 0, 1) < replica_count(col, 0, 0)  # behind, and never read from
        for _ in range(3):
            assert col.count() == 900
            np.testing.assert_array_equal(col.search(data.xq, k=10).ids, truth)
        assert col._catch_up() == [(0, 1)]
        assert col._entry["stale"] == [[], []] and col._entry["epochs"][0] == [1, 2]
        assert set(states(col).values()) == {"serving"}
        assert replica_count(col, 0, 1) == replica_count(col, 0, 0)
        # the copy survives a restart of its process (Ray restarts it with its first arguments, epoch 1)
        os.kill(actor_pid(col, 0, 1), signal.SIGKILL)
        assert replica_count(col, 0, 1) == replica_count(col, 0, 0)
        assert replica_status(col, 0, 1)["epoch"] == 2
        # an empty-disk restart: quarantined, then a copy of its peer
        status = replica_status(col, 1, 0)
        shutil.rmtree(status["directory"])
        os.kill(status["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 120
        while replica_status(col, 1, 0)["state"] != "quarantined":
            assert time.monotonic() < deadline, "the replica did not come back"
            time.sleep(0.2)
        assert col.count() == 900 and not col.search(data.xq, k=10).partial  # replica 1 answers meanwhile
        assert col._catch_up() == [(1, 0)]
        assert replica_count(col, 1, 0) == replica_count(col, 1, 1) == col.count() - replica_count(col, 0, 0)
        col.upsert(data.ids[:10], data.xb[:10] * 2)  # both replicas of both shards take writes again
        assert replica_count(col, 1, 0) == replica_count(col, 1, 1)
        assert col._entry["stale"] == [[], []]
    finally:
        db.drop_collection("behind")
        db.close()


def test_node_loss_replicas_serve_then_partial_then_full(ray_cluster, cdb):
    """Lose node n2: a replicated collection keeps full answers; an
    unreplicated one marks its searches partial (never fewer hits silently)
    and refuses gets it cannot answer; both are whole again when the node
    returns and Ray restarts the actors from their disks."""
    cluster, nodes = ray_cluster
    data = clustered(900, 16, nq=6, seed=4)
    two = cdb.create_collection("two", dim=16, quantization="none", shards=3, replicas=2)
    one = cdb.create_collection("one", dim=16, quantization="none", shards=3)
    try:
        for col in (two, one):
            col.upsert(data.ids, data.xb)
        truth = data.ground_truth(10)
        for col in (two, one):  # warm: kernels compiled in every replica
            np.testing.assert_array_equal(col.search(data.xq, k=10).ids, truth)
        cdb.read_timeout = 3.0  # the deadline after which a shard counts as down
        cluster.remove_node(nodes[2])
        got = two.search(data.xq, k=10)
        assert not got.partial
        np.testing.assert_array_equal(got.ids, truth)
        assert two.count() == 900 and len(two.get(data.ids)) == 900
        part = one.search(data.xq, k=10)  # shard 2 (replica 0 on n2) has no live replica
        assert part.partial
        assert (part.ids >= 0).all()  # still k hits, from the other shards
        with pytest.raises(vecstore.UnavailableError):
            one.count()
        nodes[2] = cluster.add_node(num_cpus=1, object_store_memory=80 << 20, resources={NODES[2]: 1})
        deadline = time.monotonic() + 60
        while True:
            full = one.search(data.xq, k=10)
            if not full.partial or time.monotonic() > deadline:
                break
        assert not full.partial
        np.testing.assert_array_equal(full.ids, truth)
        assert one.count() == 900
    finally:
        cdb.read_timeout = 120.0
        cdb.drop_collection("two")
        cdb.drop_collection("one")


# -- the router as a server ------------------------------------------------------------------
def cli(*args):
    out = subprocess.run([sys.executable, "-m", "vecstore", *args], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_serve_ray_local(tmp_path):
    """README "Scaling out" as written: `vecstore serve --ray local` (a private
    Ray started by the server), the normal client creating a sharded,
    replicated collection, `vecstore info NAME --json` listing every replica,
    a clean stop. (Restarts of the router: test_router_restart_*.)"""
    data = clustered(500, 16, nq=4, seed=6)
    daemon = Daemon(tmp_path / "router", "--ray", "local")
    try:
        daemon.wait_serving()
        with vecstore.connect(daemon.address) as client:
            docs = client.create_collection("docs", dim=16, quantization="none", shards=2, replicas=2)
            docs.upsert(data.ids, data.xb, [{"i": i} for i in range(500)])
            np.testing.assert_array_equal(docs.search(data.xq, k=5).ids, data.ground_truth(5))
            assert docs.count() == 500 and not docs.search(data.xq, k=5).partial
        info = json.loads(cli("info", "docs", "--server", daemon.address, "--json"))
        replicas = info["extra"]["shard_replicas"]
        assert [(r["shard"], r["replica"]) for r in replicas] == [(0, 0), (0, 1), (1, 0), (1, 1)]
        assert {r["state"] for r in replicas} == {"serving"} and sum(r["count"] for r in replicas) == 1000
        assert all(r["pid"] > 0 and r["node_id"] for r in replicas) and info["count"] == 500
        code, err = daemon.stop()
        assert code == 0, err
    finally:
        daemon.kill()
