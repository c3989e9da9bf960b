"""Close, reopen, same answers; the directory lock; the format version."""
import subprocess
import sys

import lmdb
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization

from synthetic import clustered


@pytest.mark.parametrize("quantization", ["none", "binary"])
def test_reopen_gives_identical_results(tmp_path, quantization):
    data = clustered(3000, 64, nq=30, seed=11)
    q = quantization if quantization == "none" else BinaryQuantization(train_size=500)
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=64, quantization=q)
        for lo in range(0, 3000, 700):
            col.upsert(data.ids[lo : lo + 700], data.xb[lo : lo + 700], [{"i": int(i)} for i in range(lo, min(lo + 700, 3000))])
        col.delete(data.ids[:100])
        before = col.search(data.xq, k=10)
        before_coarse = col.search(data.xq, k=10, rescore=False)
        info_before = col.info()
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("docs")
        after = col.search(data.xq, k=10)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_array_equal(after.scores, before.scores)
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, before_coarse.ids)
        assert col.count() == 2900
        assert col.info().trained == info_before.trained
        assert col.get([data.ids[500]]).payloads == [{"i": 500}]
        assert col.config == info_before.config


def test_codes_are_loaded_not_reencoded(tmp_path, monkeypatch):
    data = clustered(1000, 32, nq=5, seed=2)
    with vecstore.open(tmp_path / "db") as db:
        db.create_collection("docs", dim=32, quantization=BinaryQuantization(train_size=100)).upsert(data.ids, data.xb)
    from vecstore.engine.codecs.binary import BinaryCodec

    def boom(self, x):
        raise AssertionError("reopen re-encoded vectors")

    monkeypatch.setattr(BinaryCodec, "encode", boom)
    with vecstore.open(tmp_path / "db") as db:
        assert db.get_collection("docs").info().trained


def test_stale_codes_are_rebuilt_from_lmdb(tmp_path):
    """Persisted chunks that disagree with the vectors are detected and rebuilt."""
    data = clustered(800, 32, nq=10, seed=4)
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=32, quantization=BinaryQuantization(train_size=100))
        col.upsert(data.ids, data.xb)
        want = col.search(data.xq, k=5)
        chunks_db = f"c{col.cid}.chunks".encode()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=16)
    with env.begin(write=True) as txn:
        handle = env.open_db(chunks_db, txn=txn)
        txn.delete((1).to_bytes(8, "big"), db=handle)  # lose a chunk
    env.close()
    with vecstore.open(tmp_path / "db") as db:
        got = db.get_collection("docs").search(data.xq, k=5)
        np.testing.assert_array_equal(got.ids, want.ids)


def test_second_open_is_refused(tmp_path):
    with vecstore.open(tmp_path / "db"):
        with pytest.raises(vecstore.DatabaseLockedError):
            vecstore.open(tmp_path / "db")
        code = "import vecstore, sys\ntry:\n vecstore.open(sys.argv[1])\nexcept vecstore.DatabaseLockedError as e:\n print('locked:', e)\n"
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "db")], capture_output=True, text=True, timeout=120)
        assert "locked:" in out.stdout, out.stderr
    vecstore.open(tmp_path / "db").close()  # free again after close


def test_format_version_is_checked(tmp_path):
    vecstore.open(tmp_path / "db").close()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.put(b"format_version", b"999", db=env.open_db(b"vecstore.meta", txn=txn))
    env.close()
    with pytest.raises(vecstore.FormatVersionError, match="999"):
        vecstore.open(tmp_path / "db")


def test_closed_database_raises(tmp_path):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("docs", dim=4)
    db.close()
    db.close()  # idempotent
    with pytest.raises(vecstore.DatabaseClosedError):
        col.count()
    with pytest.raises(vecstore.DatabaseClosedError):
        db.list_collections()


def test_map_grows_on_demand(tmp_path, rng):
    with vecstore.open(tmp_path / "db", map_size=1 << 20) as db:  # 1 MiB to start
        col = db.create_collection("docs", dim=256, quantization="none")
        col.upsert(np.arange(4000), rng.standard_normal((4000, 256)))  # ~4 MiB of vectors
        assert col.count() == 4000


def test_storage_full_at_the_size_limit(tmp_path, rng):
    with vecstore.open(tmp_path / "db", map_size=1 << 20, max_map_size=2 << 20) as db:
        col = db.create_collection("docs", dim=256, quantization="none")
        col.upsert(np.arange(100), rng.standard_normal((100, 256)))
        with pytest.raises(vecstore.StorageFullError):
            col.upsert(np.arange(100, 4100), rng.standard_normal((4000, 256)))
        assert col.count() == 100  # the rejected batch left nothing behind
        assert len(col.get(np.arange(100))) == 100
