"""Cluster collections (vecstore.cluster) beyond test_cluster.py: reads within
the call's deadline, upsert streams through a router-served daemon, str ids,
user sparse codes. Same 3-node local Ray cluster (fixtures from test_cluster)."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import contextlib
import signal
import threading

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import vecstore  # noqa: E402
from vecstore.cluster import routing  # noqa: E402
from vecstore.cluster.shard import stored_codes  # noqa: E402

from synthetic import Dataset, clustered  # noqa: E402
from test_cluster import actor_pid, cdb, grpc_router, ray_cluster, router_dir  # noqa: E402,F401 - fixtures
from test_grpc_congruence import assert_same  # noqa: E402

pytestmark = pytest.mark.ray

RESUME_AFTER = 60.0  # a stopped replica is resumed then whatever happens: a read still waiting gets it whole


@contextlib.contextmanager
def stopped(*pids):
    """The processes SIGSTOPped (hung: alive, never answering) until the block
    ends, or RESUME_AFTER seconds at the latest; yields an Event set if that
    watchdog had to resume them (a read that ignored its deadline was still
    waiting, and then gets every shard's answer: not partial)."""
    resumed = threading.Event()

    def resume():
        resumed.set()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)

    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    watchdog = threading.Timer(RESUME_AFTER, resume)
    watchdog.start()
    try:
        yield resumed
    finally:
        watchdog.cancel()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def on_shard(col, data, shard):
    """The part of `data` held by `shard`, queries unchanged."""
    mine = routing.shard_of(data.ids, col._map) == shard
    return Dataset(xb=data.xb[mine], xq=data.xq, ids=data.ids[mine])


# -- reads within the call's deadline ----------------------------------------------------------------
def test_search_within_its_timeout_marks_partial_or_raises(cdb):
    """A shard replica that hangs (SIGSTOP): a search with timeout= returns
    at its deadline with the other shard's exact hits, marked partial, long
    before read_timeout; every form of search does (batched, by id, hybrid);
    with no shard answering it raises DeadlineExceededError. A get needing the
    hung shard raises DeadlineExceededError; one that does not still answers."""
    data = clustered(600, 16, nq=5, seed=21)
    col = cdb.create_collection("slow", dim=16, quantization="none", shards=2,
                                sparse_vectors={"vocab_size": 50})
    try:
        rows = [(np.array([i % 50]), np.array([1.0], np.float32)) for i in range(600)]
        col.upsert(data.ids, data.xb, [{"n": i} for i in range(600)], sparse_vectors=rows)
        sq = [(np.array([3, 7]), np.array([1.0, 0.5], np.float32))] * 5
        np.testing.assert_array_equal(col.search(data.xq, k=5).ids, data.ground_truth(5))  # warm: kernels compiled
        col.search(data.xq, k=5, sparse_query=sq)
        cdb.read_timeout = 600.0  # were the deadline ignored, reads would wait this long
        live = on_shard(col, data, 0)
        own = live.ids[:2]
        with stopped(actor_pid(col, 1)) as resumed:
            result = col.search(data.xq, k=5, timeout=1.0)
            one = col.search(data.xq[0], k=5, timeout=1.0)
            by_id = col.search_by_id(own, k=4, timeout=1.0)
            hybrid = col.search(data.xq, k=5, sparse_query=sq, timeout=1.0)
            got = col.get(own, timeout=1.0)  # only shard 0 holds them
            with pytest.raises(vecstore.DeadlineExceededError, match="shard 1"):
                col.get(on_shard(col, data, 1).ids[:1], timeout=1.0)
            with pytest.raises(vecstore.DeadlineExceededError):
                col.count(timeout=1.0)
            assert not resumed.is_set()
        assert result.partial and one.partial and by_id.partial and hybrid.partial
        np.testing.assert_array_equal(result.ids, live.ground_truth(5))
        np.testing.assert_array_equal(one.ids, live.ground_truth(5)[:1])
        assert (hybrid.ids >= 0).all() and np.isin(hybrid.ids, live.ids).all()
        assert np.isin(by_id.ids, live.ids).all() and (by_id.ids != own[:, None]).all()
        np.testing.assert_array_equal(got.ids, own)
        with stopped(actor_pid(col, 0), actor_pid(col, 1)) as resumed:
            with pytest.raises(vecstore.DeadlineExceededError, match="no shard answered"):
                col.search(data.xq, k=5, timeout=1.0)
            assert not resumed.is_set()
        full = col.search(data.xq, k=5, timeout=60.0)  # both back
        assert not full.partial
        np.testing.assert_array_equal(full.ids, data.ground_truth(5))
        for bad in (0, -1.0, float("nan"), "1", True):
            with pytest.raises(vecstore.InvalidArgumentError, match="timeout"):
                col.search(data.xq, k=5, timeout=bad)
    finally:
        cdb.read_timeout = 120.0
        cdb.drop_collection("slow")


def test_grpc_search_within_the_clients_deadline(cdb):
    """Through the gRPC server over the cluster (what `vecstore serve --ray`
    runs): the client's deadline reaches the router, which answers before it
    with what the live shards have, marked partial; with no shard answering
    the server itself says DEADLINE_EXCEEDED (its message, not the client's
    own timeout), and its handlers are done in time (a clean stop)."""
    data = clustered(600, 16, nq=4, seed=22)
    col = cdb.create_collection("slow_rpc", dim=16, quantization="none", shards=2)
    try:
        col.upsert(data.ids, data.xb)
        col.search(data.xq, k=5)  # warm
        cdb.read_timeout = 600.0
        live = on_shard(col, data, 1)
        server_stopped_clean = None
        with grpc_router(cdb) as (client, server):
            remote = client.get_collection("slow_rpc")
            with stopped(actor_pid(col, 0)) as resumed:
                result = remote.search(data.xq, k=5, timeout=3.0)
                by_id = remote.search_by_id(live.ids[:2], k=3, timeout=3.0)
                assert not resumed.is_set()
            with stopped(actor_pid(col, 0), actor_pid(col, 1)) as resumed:
                with pytest.raises(vecstore.DeadlineExceededError, match="no shard answered"):
                    remote.search(data.xq, k=5, timeout=3.0)
                server_stopped_clean = server.stop(5)  # no handler still waiting on the hung shards
                assert not resumed.is_set()
        assert server_stopped_clean
        assert result.partial and by_id.partial
        np.testing.assert_array_equal(result.ids, live.ground_truth(5))
    finally:
        cdb.read_timeout = 120.0
        cdb.drop_collection("slow_rpc")


def test_hung_replica_does_not_cost_a_replicated_shard(cdb):
    """replicas=2, one replica of a shard hung: a read that asked it asks the
    other replica too once half its time is gone, so searches stay whole
    within their deadline whichever replica each one starts with."""
    data = clustered(600, 16, nq=4, seed=23)
    col = cdb.create_collection("hedge", dim=16, quantization="none", shards=2, replicas=2)
    try:
        col.upsert(data.ids, data.xb)
        for _ in range(2):  # warm both replicas (reads alternate)
            col.search(data.xq, k=5)
        cdb.read_timeout = 600.0
        truth = data.ground_truth(5)
        with stopped(actor_pid(col, 0, 1)) as resumed:
            results = [col.search(data.xq, k=5, timeout=4.0) for _ in range(4)]
            assert col.count(timeout=4.0) == 600
            assert not resumed.is_set()
        for r in results:
            assert not r.partial
            np.testing.assert_array_equal(r.ids, truth)
    finally:
        cdb.read_timeout = 120.0
        cdb.drop_collection("hedge")


# -- upsert streams through a router-served daemon ---------------------------------------------------
def stream_session(address, **layout):
    """UpsertStream through the server at `address`: a bulk import, an upsert
    too big for one message (the client streams it in parts), and an import
    whose third batch the server refuses (a cosine vector of zeros, which the
    client does not check): what each returns or raises and what is stored."""
    data = clustered(900, 16, nq=4, seed=31)
    payloads = [{"n": i} for i in range(900)]
    batches = [(data.ids[lo:lo + 150], data.xb[lo:lo + 150], payloads[lo:lo + 150]) for lo in range(0, 900, 150)]
    zeroed = data.xb[300:450].copy()
    zeroed[7] = 0
    broken = batches[:2] + [(data.ids[300:450], zeroed, payloads[300:450])] + batches[3:]
    out = {}
    with vecstore.connect(address, max_message_bytes=20_000) as client:  # 20 kB messages: ~200 points each
        whole = client.create_collection("whole", dim=16, quantization="none", **layout)
        out["imported"] = whole.import_batches(batches)
        out["whole"] = whole.get(data.ids)
        out["search"] = whole.search(data.xq, k=5)
        big = client.create_collection("big", dim=16, quantization="none", **layout)
        out["upserted"] = big.upsert(data.ids, data.xb, payloads)  # about 5 stream messages
        out["big"] = big.get(data.ids)
        cut = client.create_collection("cut", dim=16, quantization="none", **layout)
        with pytest.raises(vecstore.InvalidVectorError) as refused:
            cut.import_batches(broken)
        out["error"] = str(refused.value)
        out["cut_count"] = cut.count()
        out["cut"] = cut.get(data.ids)
        for name in ("whole", "big", "cut"):
            client.drop_collection(name)
    return data, out


def test_upsert_stream_through_a_router_served_daemon(ray_cluster, tmp_path):
    """`vecstore serve --ray ADDRESS` (a daemon process, a driver of the test's
    Ray cluster) takes upsert streams as an embedded server does: the same
    answers, the same typed error for a bad batch mid-stream, and nothing of
    that batch (on any shard) nor of later ones applied."""
    from conftest import serving
    from daemon import Daemon

    cluster, _ = ray_cluster
    with serving(tmp_path / "embedded") as address:
        data, want = stream_session(address)
    daemon = Daemon(tmp_path / "router", "--ray", cluster.address)
    try:
        daemon.wait_serving()
        _, got = stream_session(daemon.address, shards=3, replicas=2)
        code, err = daemon.stop()
        assert code == 0, err
    finally:
        daemon.kill()
    assert got["imported"] == got["upserted"] == 900
    for key in ("whole", "big"):
        np.testing.assert_array_equal(got[key].ids, data.ids)
        assert got[key].vectors.tobytes() == data.xb.tobytes() and got[key].payloads == want[key].payloads
    np.testing.assert_array_equal(got["search"].ids, want["search"].ids)
    assert not got["search"].partial
    assert "vector 7 is all zeros" in got["error"] and "stream message 2" in got["error"]
    assert got["error"] == want["error"]
    assert got["cut_count"] == want["cut_count"] == 300
    np.testing.assert_array_equal(got["cut"].ids, data.ids[:300])
    assert got["cut"].vectors.tobytes() == data.xb[:300].tobytes()


# -- str ids ---------------------------------------------------------------------------------------------
def str_session(db, **layout):
    """Every operation on an id_type="str" collection (with sparse vectors,
    for hybrid search), its answers and errors by name."""
    n, vocab = 500, 40
    data = clustered(n, 16, nq=5, seed=41)
    names = [f"doc-{i}" if i % 3 else f"ünï/{i:04d}-ß" for i in range(n)]  # multi-byte UTF-8 too
    names[7], names[8] = "a", "🦀"
    payloads = [{"i": i, "g": i % 4} if i % 5 else None for i in range(n)]
    # distinct weights: no ties in sparse scores (tied str ids order by internal id in an engine, an order
    # that its shards' engines do not share; int ids tie by id everywhere)
    weights = np.random.default_rng(41).uniform(0.1, 2.0, (n, 2)).astype(np.float32)
    rows = [(np.array([i % vocab, (i * 7 + 1) % vocab]), weights[i]) if i % 6 else None for i in range(n)]
    col = db.create_collection("s", dim=16, quantization="none", id_type="str",
                               sparse_vectors={"vocab_size": vocab}, **layout)
    out = {}
    out["upsert"] = col.upsert(names[:300], data.xb[:300], payloads[:300], sparse_vectors=rows[:300])
    out["upsert2"] = col.upsert(names[300:], data.xb[300:], payloads[300:], sparse_vectors=rows[300:])
    out["replace"] = col.upsert(names[:20], data.xb[20:40], [{"re": 1}] * 20)
    asked = [names[450], "missing", names[3], names[8], "nope", names[0]]
    out["get"] = col.get(asked)
    out["get_empty"] = col.get([])
    out["count"] = col.count()
    out["count_g"] = col.count(filter={"g": 1})
    out["search"] = col.search(data.xq, k=10)
    out["search_one"] = col.search(data.xq[0], k=5, with_payloads=True, with_vectors=True)
    out["search_filter"] = col.search(data.xq, k=10, filter={"g": {"$in": [0, 3]}}, with_payloads=True)
    out["search_few"] = col.search(data.xq, k=12, filter={"i": {"$lt": 30}})  # 8 match: None padding
    qs = [(np.array([3, 9]), np.array([1.0, 2.0], np.float32))] * 5
    out["hybrid"] = col.search(data.xq, k=10, sparse_query=qs)
    out["sparse_alone"] = col.search(None, k=7, sparse_query=qs, with_payloads=True)
    out["by_id"] = col.search_by_id([names[5], names[300], names[5]], k=6, with_payloads=True)
    for name, call in [("err_by_id", lambda: col.search_by_id([names[1], "gone-1", "gone-2"], k=3)),
                       ("err_int", lambda: col.get([1, 2])),
                       ("err_dup", lambda: col.upsert(["x", "x"], data.xb[:2])),
                       ("err_cursor", lambda: col.scroll(5, after=3))]:
        try:
            call()
            out[name] = None
        except vecstore.VecstoreError as exc:
            out[name] = (type(exc), str(exc))
    out["set"] = col.set_payload(names[40:60] + ["missing"], {"tag": "t"})
    out["overwrite"] = col.overwrite_payload(names[60:70], {"only": True})
    out["del_keys"] = col.delete_payload_keys(names[40:50], ["tag"])
    out["deleted"] = col.delete(names[100:140] + ["missing"])
    out["deleted_f"] = col.delete(filter={"g": 2})
    out["count_after"] = col.count()
    pages, cursor = [], None
    while True:
        page = col.scroll(37, after=cursor, with_vectors=True)
        pages.append(page)
        if (cursor := page.next_cursor) is None:
            break
    out["scroll"] = pages
    out["scroll_filter"] = col.scroll(11, after=names[30], filter={"g": 3})
    out["after_edits"] = col.get(names[35:75])
    out["search_after"] = col.search(data.xq, k=10, with_payloads=True)
    db.drop_collection("s")
    return out


def test_str_ids_match_unsharded(cdb, tmp_path):
    """A str-id collection over 3 shards answers every operation as one
    embedded collection over the same points: hits named by str (None
    padding), scroll in UTF-8 byte order across shards, the same errors.
    Over gRPC too (a search, a scroll page)."""
    with vecstore.open(tmp_path / "one") as db:
        local = str_session(db)
    sharded = str_session(cdb, shards=3)
    assert local.keys() == sharded.keys()
    for key in local:
        if key.startswith("scroll") and isinstance(local[key], list):
            assert len(local[key]) == len(sharded[key]), key
            for a, b in zip(local[key], sharded[key]):
                assert_same(a, b, key)
            continue
        assert_same(local[key], sharded[key], key)
        assert not getattr(sharded[key], "partial", False), key
    assert local["search_few"].ids[0, -1] is None and local["err_by_id"][0] is vecstore.PointNotFoundError
    walked = [i for p in sharded["scroll"] for i in p.points.ids.tolist()]
    assert walked == sorted(walked, key=lambda v: v.encode("utf-8")) and len(walked) == local["count_after"]
    # over gRPC: str hits and cursors travel
    # (binary codes: an engine collection with quantization="none" and no points fails a search,
    # and 4 points over 3 shards may leave one empty)
    col = cdb.create_collection("s_rpc", dim=4, quantization="binary", id_type="str", shards=3)
    try:
        col.upsert(["b", "a", "ü", "c"], np.eye(4, dtype=np.float32) + 0.01)
        with grpc_router(cdb) as (client, _):
            remote = client.get_collection("s_rpc")
            hits = remote.search(np.eye(4, dtype=np.float32)[2], k=5)
            assert hits.ids.tolist() == [["ü", "a", "b", "c", None]] and not hits.partial
            page = remote.scroll(2)
            assert page.points.ids.tolist() == ["a", "b"] and page.next_cursor == "b"
            assert remote.scroll(5, after="b").points.ids.tolist() == ["c", "ü"]
    finally:
        cdb.drop_collection("s_rpc")


FIXED_STR_SHARDS = [64, 61, 86]  # first byte of BLAKE2b-64 of the UTF-8 bytes


def test_str_routing_is_stable():
    names = np.array([f"id-{i}" for i in range(6000)], dtype=object)
    v = routing.virtual_shard(names)
    assert set(np.unique(v).tolist()) == set(range(routing.VIRTUAL_SHARDS))
    parts = routing.split(names, routing.default_shard_map(3), 3)
    assert min(len(p) for p in parts.values()) > 1800  # balanced
    # fixed values: a change of hash would strand every stored point on the wrong shard
    assert routing.virtual_shard(np.array(["a", "🦀", "doc-1"], dtype=object)).tolist() == FIXED_STR_SHARDS
    np.testing.assert_array_equal(routing.virtual_shard(np.array([0, 1, 42])), [175, 193, 149])  # int unchanged


# -- user sparse codes ---------------------------------------------------------------------------------
def codes_session(db, weighted, **layout):
    """A collection with SparseQuantization(user_codes=True): points upserted
    with their codes, searched with query codes (many and few candidates),
    by id (each point's stored code is its query's), replaced, and the errors."""
    n, dim_codes = 600, 300
    data = clustered(n, 16, nq=6, seed=51)
    rng = np.random.default_rng(51)

    def code(m):
        idx = rng.choice(dim_codes, size=m, replace=False)
        return (idx, rng.uniform(0.1, 2.0, m).astype(np.float32)) if weighted else idx

    codes = [code(int(rng.integers(1, 12))) for _ in range(n)]
    queries = [code(20) for _ in range(6)]
    q = vecstore.SparseQuantization(user_codes=True, weighted=weighted, expansion_dim=dim_codes)
    col = db.create_collection("u", dim=16, metric="dot", quantization=q, **layout)
    out = {"upsert": col.upsert(data.ids[:400], data.xb[:400], sparse=codes[:400])}
    out["upsert2"] = col.upsert(data.ids[400:], data.xb[400:], [{"n": i} for i in range(200)], sparse=codes[400:])
    out["many"] = col.search(data.xq, k=10, sparse_queries=queries, oversampling=60)
    out["filtered"] = col.search(data.xq, k=10, sparse_queries=queries, oversampling=60, filter={"n": {"$lt": 100}})
    out["few"] = col.search(data.xq, k=10, sparse_queries=queries, oversampling=2)
    out["by_id"] = col.search_by_id(data.ids[[3, 450, 3]], k=5, oversampling=120, with_payloads=True)
    out["replace"] = col.upsert(data.ids[:50], data.xb[50:100], sparse=codes[50:100])
    out["after"] = col.search(data.xq, k=10, sparse_queries=queries, oversampling=60)
    out["by_id_after"] = col.search_by_id(data.ids[:4], k=5, oversampling=120)
    out["get"] = col.get(data.ids[::37])
    out["count"] = col.count()
    # the codes search_by_id takes as queries: the shard's function on the engine, the router's gathering
    asked = data.ids[[599, 3, 450, 77]]
    got = col._stored_codes(asked) if hasattr(col, "_stored_codes") else stored_codes(col, asked)
    want = [codes[i] for i in (599, 53, 450, 77)]  # 3 was replaced by code 53
    for g, w in zip(got, want):
        g_idx, w_idx = (g[0], w[0]) if weighted else (g, w)
        order = np.argsort(w_idx)
        np.testing.assert_array_equal(g_idx, w_idx[order])
        if weighted:
            np.testing.assert_array_equal(g[1], w[1][order])
    out["by_id_few"] = col.search_by_id(data.ids[:4], k=5, oversampling=3)
    for name, call in [("err_no_codes", lambda: col.upsert(data.ids[:2], data.xb[:2])),
                       ("err_range", lambda: col.upsert(data.ids[:1], data.xb[:1], sparse=[code(1)[:0] if not weighted
                                                                                            else ([dim_codes], [1.0])])),
                       ("err_query", lambda: col.search(data.xq, k=3)),
                       ("err_missing", lambda: col.search_by_id([int(data.ids[0]), 10**12], k=3))]:
        try:
            call()
            out[name] = None
        except vecstore.VecstoreError as exc:
            out[name] = (type(exc), str(exc))
    db.drop_collection("u")
    return out


@pytest.mark.parametrize("weighted", [True, False])
def test_user_sparse_codes_match_unsharded(cdb, tmp_path, weighted):
    """User sparse codes travel with their points to the shards; each shard's
    candidates (by code score, which no shard learns) include the unsharded
    collection's from that shard, and it reranks exactly: with candidates for
    every point the ids and scores equal one embedded collection's, with few
    they are never worse; search_by_id takes each point's stored code."""
    from test_cluster import assert_at_least_as_good

    with vecstore.open(tmp_path / "one") as db:
        local = codes_session(db, weighted)
    sharded = codes_session(cdb, weighted, shards=3)
    assert local.keys() == sharded.keys()
    for key in local:
        if key in ("few", "by_id_few"):
            assert_at_least_as_good(sharded[key], local[key], "dot", key)
            continue
        assert_same(local[key], sharded[key], key)
        assert not getattr(sharded[key], "partial", False), key
    assert local["err_no_codes"][0] is vecstore.InvalidSparseError and local["err_missing"][0] is \
        vecstore.PointNotFoundError
