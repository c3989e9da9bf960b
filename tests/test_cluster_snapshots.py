"""Snapshots of sharded, replicated cluster collections (vecstore/cluster/snapshots.py)
on the local 3-node Ray cluster of test_cluster.py: consistent across shards
while writes go on, restorable under a new name with equal answers, and
refused when incomplete or damaged."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import json
import shutil
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import vecstore  # noqa: E402
import vecstore.cluster  # noqa: E402
from vecstore import BinaryQuantization  # noqa: E402
from vecstore.cluster import snapshots  # noqa: E402

from synthetic import clustered  # noqa: E402
from test_cluster import cdb, grpc_router, ray_cluster, replica_count, router_dir  # noqa: E402,F401

pytestmark = pytest.mark.ray
BATCH = 50


def shard_actors():
    return {a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("vecstore-")}


def assert_same_answers(a, b, data, ids):
    """get / count / search (plain and filtered) of two collections agree exactly."""
    assert a.count() == b.count() == len(ids)
    assert a.count(filter={"b": {"$gte": 0}}) == b.count(filter={"b": {"$gte": 0}})
    ga, gb = a.get(ids), b.get(ids)
    np.testing.assert_array_equal(ga.ids, gb.ids)
    assert ga.vectors.tobytes() == gb.vectors.tobytes() and ga.payloads == gb.payloads
    for flt in (None, {"b": {"$lt": 3}}):
        sa, sb = a.search(data.xq, k=10, filter=flt), b.search(data.xq, k=10, filter=flt)
        assert not sa.partial and not sb.partial
        np.testing.assert_array_equal(sa.ids, sb.ids)
        np.testing.assert_allclose(sa.scores, sb.scores, rtol=1e-6)  # float sums in another order: an ulp


def test_snapshot_during_writes_is_consistent_and_restores(cdb, tmp_path):
    """shards=3, replicas=2, batches going in from another thread: every
    shard's copy holds the same acknowledged batches (each batch wholly in or
    out, a prefix of them, all acknowledged before the snapshot started in);
    restored under a new name (both replicas of every shard), it answers get,
    count and search exactly as the source did at snapshot time."""
    data = clustered(3000, 16, nq=6, seed=21)
    col = cdb.create_collection("snap", dim=16, quantization=BinaryQuantization(train_size=300), shards=3, replicas=2)
    try:
        col.upsert(data.ids[:600], data.xb[:600], [{"b": -1, "n": i} for i in range(600)])
        col.create_payload_index("b", "integer")
        batches = [np.arange(lo, lo + BATCH) for lo in range(600, 3000, BATCH)]
        started, acked, stop = [], [], threading.Event()

        def writer():
            for b, rows in enumerate(batches):
                if stop.is_set():
                    return
                started.append(b)
                col.upsert(data.ids[rows], data.xb[rows], [{"b": b, "n": int(i)} for i in rows])
                acked.append(b)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            while len(acked) < 2 and thread.is_alive():
                time.sleep(0.01)
            acked_before = len(acked)
            path = cdb.snapshot(tmp_path / "snap")
            started_by_return = len(started)
            while len(acked) < started_by_return + 2 and thread.is_alive():
                time.sleep(0.01)  # writes go on after the snapshot too
        finally:
            stop.set()
            thread.join()
        assert path == str(tmp_path / "snap")
        assert started_by_return < len(batches), "the writer finished before the snapshot: nothing ran concurrently"

        manifest = json.loads((tmp_path / "snap" / snapshots.MANIFEST).read_text())
        saved = manifest["collections"]["snap"]
        assert (saved["shards"], saved["replicas"], saved["uid"]) == (3, 2, col._entry["uid"])
        assert saved["shard_map"] == col._map and saved["config"] == col._entry["config"]
        assert [c["path"] for c in saved["shard_copies"]] == [f"snap/shard-{s}" for s in range(3)]
        assert all(c["node_id"] for c in saved["shard_copies"]) and "shared" in manifest["where"]

        assert vecstore.cluster.restore(cdb, path, "snap", name="snap2") == ["snap2"]
        copy = cdb.get_collection("snap2")
        assert sorted(cdb.list_collections()) == ["snap", "snap2"]
        present = set(copy.scroll(limit=10_000, with_payloads=False).points.ids.tolist())
        assert sum(c["count"] for c in saved["shard_copies"]) == len(present)
        whole = [b for b, rows in enumerate(batches) if set(data.ids[rows].tolist()) <= present]
        assert all(not set(data.ids[batches[b]].tolist()) & present for b in range(len(batches)) if b not in whole)
        taken = len(whole)
        assert whole == list(range(taken))  # the batches acknowledged in order: a prefix
        assert acked_before <= taken <= started_by_return
        assert set(data.ids[:600].tolist()) <= present

        # the source as it was at snapshot time: the later batches taken out again
        later = np.concatenate([data.ids[rows] for rows in batches[taken:len(acked)]] or [np.zeros(0, np.int64)])
        col.delete(later)
        ids = data.ids[np.concatenate([np.arange(600), *batches[:taken]])]
        assert_same_answers(col, copy, data, ids)
        assert copy.payload_indexes() == {"b": "integer"}
        for s in range(3):  # both replicas of every shard restored
            assert replica_count(copy, s, 0) == replica_count(copy, s, 1) == saved["shard_copies"][s]["count"]
        # a collection of its own: writes to the copy leave the source alone
        copy.upsert(data.ids[-5:], data.xb[-5:], [{"b": 99}] * 5)
        assert copy.count() == len(ids) + 5 - len(set(data.ids[-5:].tolist()) & set(ids.tolist()))
        assert col.count() == len(ids)
        with pytest.raises(vecstore.CollectionExistsError):
            vecstore.cluster.restore(cdb, path, "snap", name="snap2")
    finally:
        for name in ("snap", "snap2"):
            if name in cdb.list_collections():
                cdb.drop_collection(name)


def test_snapshot_over_grpc_and_refusals(cdb, tmp_path):
    """`vecstore serve --ray`'s CreateSnapshot writes a cluster snapshot into
    --snapshot-dir; restore refuses a name that exists, a snapshot without
    its manifest (interrupted), a damaged or missing shard copy, and leaves
    no collection and no actor behind when it refuses."""
    data = clustered(500, 16, nq=4, seed=22)
    col = cdb.create_collection("small", dim=16, quantization="none", shards=2)
    try:
        col.upsert(data.ids, data.xb, [{"b": i % 5} for i in range(500)])
        with grpc_router(cdb, snapshot_dir=str(tmp_path / "snaps")) as (client, _):
            path = client.snapshot("first")
        assert path == str(tmp_path / "snaps" / "first")
        with pytest.raises(vecstore.InvalidArgumentError, match="not empty"):
            cdb.snapshot(path)
        with pytest.raises(vecstore.CollectionExistsError):
            vecstore.cluster.restore(cdb, path)  # "small" exists
        with pytest.raises(vecstore.CollectionNotFoundError, match="no collection 'nope'"):
            vecstore.cluster.restore(cdb, path, "nope")
        actors = shard_actors()

        def broken(label, damage):
            bad = tmp_path / label
            shutil.copytree(path, bad)
            damage(bad)
            return str(bad)

        no_manifest = broken("no-manifest", lambda d: os.remove(d / snapshots.MANIFEST))
        with pytest.raises(vecstore.InvalidArgumentError, match="interrupted"):
            vecstore.cluster.restore(cdb, no_manifest, name="other")
        no_shard = broken("no-shard", lambda d: shutil.rmtree(d / "small" / "shard-1"))
        with pytest.raises(vecstore.InvalidArgumentError, match="shard 1"):
            vecstore.cluster.restore(cdb, no_shard, name="other")

        def truncate(d):
            f = d / "small" / "shard-0" / "data.mdb"
            os.truncate(f, os.path.getsize(f) // 2)

        with pytest.raises(vecstore.CorruptDatabaseError, match="shard 0"):
            vecstore.cluster.restore(cdb, broken("truncated", truncate), name="other")
        bad_json = broken("bad-manifest", lambda d: (d / snapshots.MANIFEST).write_text('{"format": "vecstore-cl'))
        with pytest.raises(vecstore.CorruptDatabaseError, match="manifest"):
            vecstore.cluster.restore(cdb, bad_json, name="other")
        assert cdb.list_collections() == ["small"] and shard_actors() == actors  # nothing left behind

        assert vecstore.cluster.restore(cdb, path, name="other") == ["other"]
        assert_same_answers(col, cdb.get_collection("other"), data, data.ids)
    finally:
        for name in ("small", "other"):
            if name in cdb.list_collections():
                cdb.drop_collection(name)
