"""The last committed write in each shard replica's identity file
(vecstore/cluster/shard.py) on the local 3-node Ray cluster of
test_cluster.py: a replica whose directory is put back from an older copy
of itself never serves its stale answers, and is caught up; one whose data
file alone went back is quarantined."""
import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # before Ray is imported

import shutil
import signal
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import vecstore  # noqa: E402

from synthetic import clustered  # noqa: E402
from test_cluster import NODES, ray_cluster, replica_count, replica_status  # noqa: E402,F401

pytestmark = pytest.mark.ray
LOCKS = shutil.ignore_patterns("lock.mdb", "vecstore.lock")  # a copy taken while idle, like a backup


def restart_over(col, s, r, put_back):
    """Replace replica (s, r)'s files under its running process (which keeps
    the ones it opened), SIGKILL it, and wait for Ray's restart over them."""
    before = replica_status(col, s, r)
    put_back(before["directory"])
    os.kill(before["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:
        now = replica_status(col, s, r)
        if now["pid"] != before["pid"]:
            return now
        assert time.monotonic() < deadline, "the replica did not come back"
        time.sleep(0.2)


def own_reply(col, s, r, method="count"):
    """What replica (s, r) answers a read the way the router asks it (with the
    last acknowledged write of its shard)."""
    return ray.get(col._actors[s][r].call.remote(method, (), {}, None, None, col._entry["txns"][s]), timeout=120)


def test_older_copy_of_a_replica_is_detected(ray_cluster, tmp_path):
    data = clustered(900, 16, nq=5, seed=31)
    truth = data.ground_truth(10)
    db = vecstore.cluster("ignored", tmp_path / "c", node_resources=NODES, read_timeout=120.0,
                          catch_up_interval=None)
    col = db.create_collection("old", dim=16, quantization="none", shards=2, replicas=2)
    one = db.create_collection("single", dim=16, quantization="none", shards=1)
    try:
        col.upsert(data.ids[:300], data.xb[:300])
        one.upsert(data.ids[:300], data.xb[:300])
        status = replica_status(col, 0, 1)
        assert status["txn"] == 1 and col._entry["txns"] == [1, 1]
        shutil.copytree(status["directory"], tmp_path / "backup", ignore=LOCKS)
        shutil.copytree(replica_status(one, 0, 0)["directory"], tmp_path / "backup-single", ignore=LOCKS)
        col.upsert(data.ids[300:], data.xb[300:])
        one.upsert(data.ids[300:], data.xb[300:])
        assert db._catalog.get("old")["txns"] == [2, 2]  # kept by the router, before each acknowledgement

        def whole_directory(src):
            def put_back(directory):
                os.rename(directory, directory + ".moved")
                shutil.copytree(src, directory)
            return put_back

        # the whole directory back from the older copy (data and identity agree: epoch 1, write 1)
        now = restart_over(col, 0, 1, whole_directory(tmp_path / "backup"))
        assert now["state"] == "serving" and now["txn"] == 1 and col._entry["txns"][0] == 2
        assert replica_count(col, 0, 1) < replica_count(col, 0, 0)  # it does hold less ...
        state, reason = own_reply(col, 0, 1)
        assert state == "down" and "stale copy" in reason  # ... and refuses to answer for the router
        state, reason = ray.get(col._actors[0][1].snapshot_into.remote(str(tmp_path / "snap"), 2), timeout=120)
        assert state == "down" and "stale copy" in reason and not (tmp_path / "snap").exists()  # nor copies itself
        for _ in range(4):  # reads start at either replica: all full
            assert col.count() == 900 and len(col.get(data.ids)) == 900
            got = col.search(data.xq, k=10)
            assert not got.partial
            np.testing.assert_array_equal(got.ids, truth)
        col.upsert(data.ids[:10], data.xb[:10])  # a write refuses it too: left behind, not applied over a gap
        assert col._entry["stale"][0] == [1]
        assert col._catch_up() == [(0, 1)]
        assert replica_count(col, 0, 1) == replica_count(col, 0, 0)
        assert replica_status(col, 0, 1)["txn"] == col._entry["txns"][0] and col._entry["stale"] == [[], []]

        # only the data file back: the identity file says it held a later write -> quarantined
        def data_file_only(directory):
            os.replace(tmp_path / "old-data.mdb", os.path.join(directory, "data.mdb"))

        shutil.copyfile(os.path.join(replica_status(col, 1, 0)["directory"], "data.mdb"), tmp_path / "old-data.mdb")
        for lo in range(0, 600, 200):  # later writes: later LMDB transactions
            col.upsert(data.ids[lo:lo + 200], data.xb[lo:lo + 200])
        now = restart_over(col, 1, 0, data_file_only)
        assert now["state"] == "quarantined" and now["repairable"] and "older than its identity file" in now["reason"]
        assert col.count() == 900 and not col.search(data.xq, k=10).partial  # replica 1 answers meanwhile
        assert col._catch_up() == [(1, 0)]
        assert replica_count(col, 1, 0) == replica_count(col, 1, 1)

        # replicas=1: no peer to answer, none to copy from: refused, never stale answers
        now = restart_over(one, 0, 0, whole_directory(tmp_path / "backup-single"))
        assert now["txn"] == 1 and one._entry["txns"] == [2]
        with pytest.raises(vecstore.UnavailableError, match="stale copy"):
            one.count()
        db.read_timeout = 3.0
        got = one.search(data.xq, k=10)
        assert got.partial and (got.ids == -1).all()
        with pytest.raises(vecstore.UnavailableError):
            one.upsert(data.ids[:3], data.xb[:3])
    finally:
        db.drop_collection("old")
        db.drop_collection("single")
        db.close()
