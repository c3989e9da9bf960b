"""`vecstore check` finds healthy databases healthy and names what is wrong in
damaged copies; `vecstore restore` puts a verified snapshot in place, equal to
it in every collection, point, payload, config and payload index."""
import json
import os
import shutil
import subprocess
import sys

import lmdb
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, IVFConfig, ProductQuantization, ScalarQuantization
from vecstore.cli import main
from vecstore.engine.check import check_database
from vecstore.engine.persist import CHUNK
from vecstore.engine.restore import restore_snapshot
from vecstore.errors import CorruptDatabaseError, InvalidArgumentError
from synthetic import clustered

COLLECTIONS = {
    "binary": dict(dim=32, quantization=BinaryQuantization(train_size=200)),
    "half_ivf": dict(dim=32, vector_dtype="float16", quantization=BinaryQuantization(train_size=200),
                     ivf=IVFConfig(nlist=4, nprobe=2, train_size=400)),
    "pq": dict(dim=32, metric="l2", quantization=ProductQuantization(m=8, nbits=4, train_size=300)),
    "scalar": dict(dim=32, metric="dot", quantization=ScalarQuantization(train_size=200)),
    "plain": dict(dim=32, quantization="none"),
}
N = 1200


def build(path):
    data = clustered(N, 32, nq=1, seed=7)
    with vecstore.open(path) as db:
        for name, kwargs in COLLECTIONS.items():
            col = db.create_collection(name, **kwargs)
            col.create_payload_index("tag", "keyword")
            payloads = [{"tag": f"t{i % 5}", "n": int(i)} if i % 3 else None for i in data.ids]
            for lo in range(0, N, 500):
                col.upsert(data.ids[lo:lo + 500], data.xb[lo:lo + 500], payloads[lo:lo + 500])
            col.delete(data.ids[:10])
    return data


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("check") / "db")
    data = build(path)
    return path, data


def damaged_copy(healthy, tmp_path):
    path = str(tmp_path / "copy")
    shutil.copytree(healthy[0], path)
    return path


def cid_of(path, name):
    with vecstore.open(path, read_only=True) as db:
        return db.get_collection(name).cid


def raw_write(path, fn):
    env = lmdb.open(path, max_dbs=2048, subdir=True)
    try:
        with env.begin(write=True) as txn:
            fn(env, txn)
    finally:
        env.close()


def test_healthy_database_checks_clean(healthy, capsys):
    report = check_database(healthy[0])
    assert report.healthy, report.text()
    text = report.text()
    for name in COLLECTIONS:
        assert f"collection '{name}': {N - 10} vectors" in text
    # the trained collections had their persisted codes compared
    assert "collection 'binary': persisted codes of 1190 points match" in text
    assert "collection 'half_ivf': persisted codes of 1190 points match" in text
    assert main(["check", "--data-dir", healthy[0]]) == 0
    assert ": OK" in capsys.readouterr().out


HOLD = r"""
import sys, vecstore
db = vecstore.open(sys.argv[1])
print("HOLDING", flush=True)
sys.stdin.readline()
db.close()
"""


def test_check_runs_beside_the_writer(healthy, tmp_path):
    path = damaged_copy(healthy, tmp_path)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, cwd=root, env={**os.environ, "PYTHONPATH": root})
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        report = check_database(path)
        assert report.healthy, report.text()
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0


def test_check_refuses_a_database_open_in_this_process(healthy, tmp_path):
    path = damaged_copy(healthy, tmp_path)
    with vecstore.open(path) as db:
        report = check_database(path)
        assert not report.healthy and "another process" in report.problems[0]
        assert db.get_collection("plain").count() == N - 10  # the open handle is untouched


def _key(i):
    return int(i).to_bytes(8, "big")


def _vector_wrong_size(env, txn, cid, data):
    txn.put(_key(data.ids[50]), b"\0" * 12, db=env.open_db(f"c{cid}.vectors".encode(), txn=txn))


def _slot_gone(env, txn, cid, data):
    txn.delete(_key(data.ids[60]), db=env.open_db(f"c{cid}.slots".encode(), txn=txn))


def _payload_not_json(env, txn, cid, data):
    txn.put(_key(data.ids[70]), b"{oops", db=env.open_db(f"c{cid}.payloads".encode(), txn=txn))


def _code_flipped(env, txn, cid, data):
    chunks = env.open_db(f"c{cid}.chunks".encode(), txn=txn)
    value = bytearray(txn.get((0).to_bytes(8, "big"), db=chunks))
    code_bytes = (len(value) - CHUNK * 8) // CHUNK
    code_at = CHUNK * 8 + 20 * code_bytes  # slot 20's code (a live point: ids[:10] were deleted)
    value[code_at] ^= 0xFF
    txn.put((0).to_bytes(8, "big"), bytes(value), db=chunks)


def _chunk_id_wrong(env, txn, cid, data):
    chunks = env.open_db(f"c{cid}.chunks".encode(), txn=txn)
    value = bytearray(txn.get((1).to_bytes(8, "big"), db=chunks))
    value[0:8] = (10**12).to_bytes(8, "little")
    txn.put((1).to_bytes(8, "big"), bytes(value), db=chunks)


def _catalog_bad(env, txn, cid, data):
    txn.put(b"binary", b"[1, 2", db=env.open_db(b"vecstore.catalog", txn=txn))


@pytest.mark.parametrize(
    "damage, message",
    [
        (_vector_wrong_size, "are not 128 bytes"),
        (_slot_gone, "have a vector but no slot"),
        (_payload_not_json, "are not JSON"),
        (_code_flipped, "persisted codes of ids .* differ"),
        (_chunk_id_wrong, "chunk rows do not give ids"),
        (_catalog_bad, "catalog entry of collection 'binary' is unreadable"),
    ],
)
def test_damage_is_found_and_named(healthy, tmp_path, capsys, damage, message):
    path = damaged_copy(healthy, tmp_path)
    cid = cid_of(path, "binary")
    raw_write(path, lambda env, txn: damage(env, txn, cid, healthy[1]))
    report = check_database(path)
    assert not report.healthy
    assert any(__import__("re").search(message, p) for p in report.problems), report.text()
    assert all("'binary'" in p for p in report.problems), report.text()  # the other collections are fine
    assert main(["check", "--data-dir", path]) == 1
    assert "PROBLEM" in capsys.readouterr().out


def test_truncated_file_is_found(healthy, tmp_path):
    path = damaged_copy(healthy, tmp_path)
    data = os.path.join(path, "data.mdb")
    os.truncate(data, os.path.getsize(data) // 2)
    report = check_database(path)
    assert not report.healthy and "truncated" in report.problems[0]
    assert not check_database(str(tmp_path / "nowhere")).healthy


# -- restore ---------------------------------------------------------------------------
def snapshot_of(healthy, tmp_path):
    with vecstore.open(healthy[0], read_only=True) as db:
        return db.snapshot(str(tmp_path / "snap"))


def assert_equal_databases(a_path, b_path, ids):
    with vecstore.open(a_path, read_only=True) as a, vecstore.open(b_path, read_only=True) as b:
        assert a.list_collections() == b.list_collections() == sorted(COLLECTIONS)
        for name in a.list_collections():
            ca, cb = a.get_collection(name), b.get_collection(name)
            assert ca.config == cb.config
            assert ca.count() == cb.count() == N - 10
            pa, pb = ca.get(ids), cb.get(ids)
            assert pa.ids.tolist() == pb.ids.tolist() and len(pa.ids) == N - 10
            assert pa.vectors.tobytes() == pb.vectors.tobytes()
            assert pa.payloads == pb.payloads
            ia, ib = ca.info(), cb.info()
            assert ia.extra["payload_indexes"] == ib.extra["payload_indexes"] == {"tag": "keyword"}
            assert ia.trained == ib.trained
            flt = {"tag": "t2"}
            assert ca.count(filter=flt) == cb.count(filter=flt) > 0


def test_restore_equals_the_snapshot(healthy, tmp_path, capsys):
    snap = snapshot_of(healthy, tmp_path)
    target = str(tmp_path / "restored")
    assert main(["restore", snap, "--data-dir", target]) == 0
    assert "restored" in capsys.readouterr().out
    assert sorted(os.listdir(target)) == ["data.mdb"]
    assert sorted(os.listdir(tmp_path)) == ["restored", "snap"]  # no staging left behind
    assert_equal_databases(snap, target, healthy[1].ids)
    with vecstore.open(target) as db:  # and it is a working database
        db.get_collection("plain").upsert([10**9], np.ones((1, 32), np.float32))


def test_restore_into_an_empty_directory(healthy, tmp_path):
    snap = snapshot_of(healthy, tmp_path)
    target = tmp_path / "empty"
    target.mkdir()
    restore_snapshot(snap, target)
    assert os.listdir(target) == ["data.mdb"]


def test_restore_refuses_a_non_empty_target(healthy, tmp_path, capsys):
    snap = snapshot_of(healthy, tmp_path)
    target = tmp_path / "full"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(InvalidArgumentError, match="not empty"):
        restore_snapshot(snap, target)
    assert main(["restore", snap, "--data-dir", str(target)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert os.listdir(target) == ["keep.txt"]


def test_restore_refuses_a_damaged_snapshot(healthy, tmp_path, capsys):
    snap = snapshot_of(healthy, tmp_path)
    cid = cid_of(snap, "binary")
    raw_write(snap, lambda env, txn: _payload_not_json(env, txn, cid, healthy[1]))
    target = str(tmp_path / "restored")
    with pytest.raises(CorruptDatabaseError, match="failed its check"):
        restore_snapshot(snap, target)
    assert main(["restore", snap, "--data-dir", target]) == 2
    assert "CorruptDatabaseError" in capsys.readouterr().err
    assert not os.path.exists(target)
    assert not [n for n in os.listdir(tmp_path) if "restore-" in n]
    with pytest.raises(InvalidArgumentError, match="not a snapshot"):
        restore_snapshot(str(tmp_path), str(tmp_path / "other"))
