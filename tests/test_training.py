"""The training lifecycle: thresholds, optimize, never blocking readers or
writers, and failures (exceptions and crashes) that leave the old codes in use."""
import logging
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, IVFConfig
from vecstore.engine import training
from vecstore.engine.codecs.binary import BinaryCodec

from synthetic import clustered, recall_at_k


@pytest.fixture(scope="module")
def data():
    return clustered(3000, 64, nq=30, n_clusters=30, seed=51)


def check_codes_match_lmdb(col):
    """Every live slot's RAM code is what the current codec makes of its stored vector."""
    seg = col._seg
    live = np.flatnonzero(seg.alive[: seg.n])
    x, found = col._read_vectors(seg.ids[live])
    assert found.all()
    np.testing.assert_array_equal(seg.take_codes(live), seg.codec.encode(col._prepare(x, "v")))


class Gate:
    """Holds BinaryCodec.fit (the training step) until released."""

    def __init__(self, monkeypatch):
        self.entered, self.release = threading.Event(), threading.Event()
        real = BinaryCodec.fit

        def fit(codec, x):
            self.entered.set()
            assert self.release.wait(60), "test never released the training"
            return real(codec, x)

        monkeypatch.setattr(BinaryCodec, "fit", fit)


def run_in_thread(fn):
    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, out


def test_searches_and_writes_go_on_during_a_long_optimize(engine_db, data, monkeypatch):
    col = engine_db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=300))
    col.upsert(data.ids[:2500], data.xb[:2500])
    old_codec = col._seg.codec
    exact = engine_db.create_collection("exact", dim=64, quantization="none")
    exact.upsert(data.ids[:2500], data.xb[:2500])
    want = exact.search(data.xq, k=10).ids

    gate = Gate(monkeypatch)
    trainer, trained = run_in_thread(col.optimize)
    assert gate.entered.wait(60)

    def meanwhile():
        got = [col.search(data.xq, k=10, oversampling=300).ids for _ in range(5)]  # every candidate: exact
        col.upsert(data.ids[2500:], data.xb[2500:])  # new slots
        col.delete(data.ids[:200])  # freed slots ...
        col.upsert(data.ids[:100], data.xb[:100] + 0.01)  # ... reused by re-inserted points
        return got

    worker, result = run_in_thread(meanwhile)
    worker.join(60)
    assert not worker.is_alive(), "searches or writes were blocked by the training"
    assert "error" not in result, result.get("error")
    for got in result["value"]:
        np.testing.assert_array_equal(got, want)
    assert col._seg.codec is old_codec and trainer.is_alive()  # still training, old codes in use

    gate.release.set()
    trainer.join(60)
    assert "error" not in trained, trained.get("error")
    assert col._seg.codec is not old_codec
    # the writes made during training were re-encoded with the new codec
    check_codes_match_lmdb(col)
    assert col.count() == 2900
    res = col.search(data.xq, k=20)
    assert not np.isin(res.ids, data.ids[100:200]).any()
    assert col.search(data.xb[2500:2510], k=1).ids[:, 0].tolist() == data.ids[2500:2510].tolist()


def test_an_error_during_install_leaves_the_old_codes(tmp_path, data, monkeypatch):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=300), ivf=IVFConfig(nlist=8, nprobe=2, train_size=2000))
        col.upsert(data.ids[:1000], data.xb[:1000])
        col.upsert(data.ids[1000:], data.xb[1000:] * -1)  # drifted data: a new mean would differ
        old_codec, old_ivf = col._seg.codec, col._seg.ivf
        coarse = col.search(data.xq, k=10, rescore=False)

        def boom(state):  # runs inside the install transaction, after the chunks were rewritten
            raise RuntimeError("injected failure")

        with monkeypatch.context() as m:
            m.setattr(training, "state_to_bytes", boom)
            with pytest.raises(RuntimeError, match="injected"):
                col.optimize()
        assert col._seg.codec is old_codec and col._seg.ivf is old_ivf
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, coarse.ids)
        check_codes_match_lmdb(col)
    rebuilt = []
    monkeypatch.setattr(training, "train", lambda *a, **k: rebuilt.append(k))
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("c")
        assert rebuilt == []  # the persisted (old) codes were intact: loaded as they were
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, coarse.ids)
        np.testing.assert_array_equal(col._seg.codec.mean, old_codec.mean)


CRASH = textwrap.dedent("""
    import os, sys
    import numpy as np
    sys.path.insert(0, sys.argv[2])
    import vecstore
    from vecstore import BinaryQuantization
    from vecstore.engine import training
    from synthetic import clustered

    data = clustered(3000, 64, nq=30, n_clusters=30, seed=51)
    db = vecstore.open(sys.argv[1])
    col = db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=300))
    col.upsert(data.ids[:1000], data.xb[:1000])
    col.upsert(data.ids[1000:], data.xb[1000:] * -1)
    np.save(sys.argv[1] + ".coarse.npy", col.search(data.xq, k=10, rescore=False).ids)

    def crash(state):
        os._exit(3)  # the process dies inside the install transaction

    training.state_to_bytes = crash
    col.optimize()
""")


def test_a_crash_during_training_leaves_the_old_codes(tmp_path, data):
    here = str(__import__("pathlib").Path(__file__).parent)
    out = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path / "db"), here], capture_output=True, text=True, timeout=300)
    assert out.returncode == 3, out.stderr
    want = np.load(str(tmp_path / "db") + ".coarse.npy")
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("c")
        assert col.count() == 3000 and col.info().trained
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, want)
        check_codes_match_lmdb(col)


def test_failed_auto_training_is_logged_and_retried(engine_db, data, monkeypatch, caplog):
    col = engine_db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=500))
    real = BinaryCodec.fit
    monkeypatch.setattr(BinaryCodec, "fit", lambda self, x: (_ for _ in ()).throw(MemoryError("no room")))
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        assert col.upsert(data.ids[:600], data.xb[:600]) == 600  # the batch itself is durable
    assert "automatic training failed" in caplog.text and "no room" in caplog.text
    assert not col.info().trained and col.count() == 600
    truth = recall_at_k(col.search(data.xq, k=10).ids, data.ground_truth(10), 10)  # exact meanwhile
    assert truth > 0  # answers, from LMDB
    monkeypatch.setattr(BinaryCodec, "fit", real)
    col.upsert(data.ids[600:700], data.xb[600:700])
    assert col.info().trained
    check_codes_match_lmdb(col)


def test_codec_and_ivf_train_at_their_own_thresholds(engine_db, data):
    col = engine_db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=200),
                                      ivf=IVFConfig(nlist=16, nprobe=4, train_size=1500))
    col.upsert(data.ids[:300], data.xb[:300])
    info = col.info()
    assert info.trained and not info.extra["ivf_trained"]
    first = col._seg.codec
    col.upsert(data.ids[300:1400], data.xb[300:1400])
    assert not col.info().extra["ivf_trained"] and col._seg.codec is first  # nothing due
    col.upsert(data.ids[1400:1600], data.xb[1400:1600])
    assert col.info().extra["ivf_trained"] and col._seg.codec is not first  # the codec relearned too
    check_codes_match_lmdb(col)


def test_optimize_relearns_from_current_vectors(engine_db, data):
    col = engine_db.create_collection("c", dim=64, quantization=BinaryQuantization(train_size=200))
    col.upsert(data.ids[:300], data.xb[:300])
    col.upsert(data.ids[300:], data.xb[300:] * -1)
    before = col._seg.codec.mean.copy()
    col.optimize()
    stored = col.get(col._seg.ids[col._seg.alive == 1]).vectors
    expect = (stored / np.linalg.norm(stored, axis=1, keepdims=True)).mean(axis=0)
    np.testing.assert_allclose(col._seg.codec.mean, expect, atol=1e-5)
    assert not np.allclose(before, expect, atol=1e-3)
    check_codes_match_lmdb(col)


def test_optimize_on_empty_collection(db):
    col = db.create_collection("c", dim=8)
    col.optimize()
    assert not col.info().trained
    assert (col.search(np.ones(8), k=2).ids == -1).all()
