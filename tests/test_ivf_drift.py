"""IVF drift: measured on writes, a background retrain once it passes the
collection's thresholds, searches served throughout, clean close and reopen."""
import logging
import threading

import numpy as np
import pytest

import vecstore
from vecstore import CollectionConfig, IVFConfig
from vecstore.engine import drift
from vecstore.engine.ivf import IVF
from vecstore.rpc import convert as C
from vecstore.rpc.v1 import vecstore_pb2 as pb

from synthetic import recall_at_k
from test_ivf import check_lists

DIM = 64
N = 4000  # points from the training's clusters, then as many from shifted ones
FLOOR = 0.7  # recall@10 at nprobe 4 of 32 once retrained (0.80 measured; 0.52 without the retrain)


def _draw(rng, centers, shared, m):
    which = rng.integers(0, len(centers), m)
    x = shared + centers[which] + rng.standard_normal((m, DIM)) * 0.9
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def shifted():
    """(old, new, queries, truth): old points around 16 clusters, new ones
    around 16 others, queries among the new ones; truth is the exact top 10
    of the queries over old + new (ids 0..2N-1) by brute force."""
    rng = np.random.default_rng(5)
    shared = rng.standard_normal(DIM) * 0.6
    old = _draw(rng, rng.standard_normal((16, DIM)), shared, N)
    new_centers = rng.standard_normal((16, DIM))
    new = _draw(rng, new_centers, shared, N)
    queries = _draw(rng, new_centers, shared, 100)
    both = np.concatenate([old, new])
    truth = np.argsort(-(queries @ both.T), axis=1, kind="stable")[:, :10]
    return old, new, queries, truth


def _ivf(**kw):
    return IVFConfig(nlist=32, nprobe=4, train_size=2000, **kw)


def _fill(col, old, new, step=500):
    """The old points (the centroids train on them), then the new ones in batches."""
    col.upsert(np.arange(N), old)
    for lo in range(0, N, step):
        col.upsert(np.arange(N + lo, N + lo + step), new[lo : lo + step])


def _wait_until(cond, what: str) -> None:
    """Poll cond (a guard against a hang, not a timing assertion)."""
    done = threading.Event()
    for _ in range(6000):
        if cond():
            return
        done.wait(0.01)
    pytest.fail(f"gave up waiting for {what}")


class _Gate:
    """Holds the next IVF.train call (the rebalance's k-means) until opened."""

    def __init__(self, monkeypatch):
        self.entered, self.open = threading.Event(), threading.Event()
        real = IVF.train.__func__

        def held(cls, *args, **kwargs):
            self.entered.set()
            assert self.open.wait(60), "the test never opened the gate"
            return real(cls, *args, **kwargs)

        monkeypatch.setattr(IVF, "train", classmethod(held))


def test_rebalance_settings_validate_and_round_trip():
    cfg = IVFConfig(nlist=8, rebalance=False, rebalance_error=0.5, rebalance_imbalance=3)
    assert cfg.rebalance_imbalance == 3.0 and isinstance(cfg.rebalance_imbalance, float)
    col = CollectionConfig(name="c", dim=8, ivf=cfg)
    assert CollectionConfig.from_dict(col.to_dict()) == col
    msg = pb.CollectionConfig.FromString(C.config_to_proto(col).SerializeToString())
    assert not msg.ivf.rebalance and msg.ivf.HasField("rebalance")
    assert CollectionConfig(**C.config_from_proto(msg)) == col
    # catalogs written before these settings existed read back with the defaults
    old = col.to_dict()
    old["ivf"] = {"nlist": 8, "nprobe": 2, "train_size": None}
    assert CollectionConfig.from_dict(old).ivf == IVFConfig(nlist=8, nprobe=2)
    assert IVFConfig().rebalance and IVFConfig().rebalance_error == 0.25 and IVFConfig().rebalance_imbalance == 1.5
    for bad, message in [
        (dict(rebalance=1), "rebalance must be a bool"),
        (dict(rebalance_error=0), "rebalance_error"),
        (dict(rebalance_error=float("nan")), "rebalance_error"),
        (dict(rebalance_imbalance=1.0), "rebalance_imbalance"),
        (dict(rebalance_imbalance="2"), "rebalance_imbalance"),
    ]:
        with pytest.raises(vecstore.InvalidConfigError, match=message):
            IVFConfig(nlist=8, **bad)


def test_shifted_clusters_start_a_background_rebalance_that_restores_recall(engine_db, shifted):
    old, new, queries, truth = shifted
    off = engine_db.create_collection("off", dim=DIM, ivf=_ivf(rebalance=False))
    on = engine_db.create_collection("on", dim=DIM, ivf=_ivf())
    _fill(off, old, new)
    _fill(on, old, new)
    on._rebalancer.wait()

    stale = off.info().extra
    assert stale["ivf_rebalance"] == {"running": False, "runs": 0, "failures": 0, "last_error": None}
    assert stale["ivf_drift"]["error_growth"] > IVFConfig().rebalance_error  # it would have fired
    recall_off = recall_at_k(off.search(queries, k=10).ids, truth, 10)

    info = on.info().extra
    assert info["ivf_rebalance"]["runs"] >= 1 and info["ivf_rebalance"]["failures"] == 0
    assert not info["ivf_rebalance"]["running"]
    figures = info["ivf_drift"]
    # the baseline moved to the last retrain: less drift now than the untouched collection shows
    assert figures["trained_points"] > N
    assert (figures["error_growth"] or 0.0) < stale["ivf_drift"]["error_growth"]
    recall_on = recall_at_k(on.search(queries, k=10).ids, truth, 10)
    assert recall_on >= FLOOR > recall_off
    check_lists(on)


def test_drift_figures_follow_writes_and_deletes(engine_db, shifted):
    """The running sum of squared list sizes stays equal to the lists' own."""
    old, new, _, _ = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf(rebalance=False))
    assert "ivf_drift" not in col.info().extra  # nothing trained yet
    col.upsert(np.arange(N), old)
    first = col.info().extra["ivf_drift"]
    assert first["assigned_since_training"] == 0 and first["imbalance_growth"] == 1.0
    assert first["trained_points"] == N and first["trained_error"] > 0
    rng = np.random.default_rng(3)
    col.upsert(np.arange(N, N + 700), new[:700])
    col.upsert(rng.choice(N, 300, replace=False), new[700:1000])  # replaced points move lists
    col.delete(rng.choice(N + 700, 400, replace=False))
    f = col.info().extra["ivf_drift"]
    lengths = col._seg.lists.lengths
    assert f["imbalance"] == pytest.approx(drift.imbalance(32, drift.sum_squares(lengths), int(lengths.sum())))
    assert f["assigned_since_training"] == 1000 and f["deleted_since_training"] == 400
    assert f["error_ratio"] > 2  # the shifted points lie far from every centroid


def test_searches_during_a_rebalance_all_succeed(engine_db, shifted, monkeypatch):
    """While the retrain runs, and across its install, every search answers
    from the old lists or from the new ones: nothing in between, no error."""
    old, new, queries, truth = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf())
    col.upsert(np.arange(N), old)
    gate = _Gate(monkeypatch)  # after the first training: holds the rebalance's k-means
    for lo in range(0, N, 500):
        col.upsert(np.arange(N + lo, N + lo + 500), new[lo : lo + 500])  # returns with the retrain held
    assert gate.entered.wait(60) and col.info().extra["ivf_rebalance"]["running"]
    before = col.search(queries, k=10)
    results, errors = [], []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                results.append(col.search(queries, k=10))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    _wait_until(lambda: len(results) >= 4 or errors, "searches while the retrain is held")
    gate.open.set()
    col._rebalancer.wait()
    stop.set()
    for t in threads:
        t.join()
    after = col.search(queries, k=10)
    assert not errors
    assert col.info().extra["ivf_rebalance"]["runs"] == 1
    assert not np.array_equal(before.ids, after.ids)  # the lists did change
    for r in results:
        assert np.array_equal(r.ids, before.ids) or np.array_equal(r.ids, after.ids)
    assert recall_at_k(after.ids, truth, 10) >= FLOOR
    check_lists(col)


def test_reopen_after_a_rebalance(tmp_path, shifted):
    old, new, queries, _ = shifted
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("c", dim=DIM, ivf=_ivf())
        _fill(col, old, new)
        col._rebalancer.wait()
        col.upsert(np.arange(2 * N, 2 * N + 100), new[:100])  # drift after the retrain, persisted too
        col.delete(np.arange(50))
        figures = col.info().extra["ivf_drift"]
        hits = col.search(queries, k=10)
        centroids = col._seg.ivf.centroids.copy()
        assert col.info().extra["ivf_rebalance"]["runs"] >= 1
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("c")
        check_lists(col)
        np.testing.assert_array_equal(col._seg.ivf.centroids, centroids)
        got = col.info().extra
        assert got["ivf_drift"] == pytest.approx(figures)
        assert got["ivf_rebalance"] == {"running": False, "runs": 0, "failures": 0, "last_error": None}  # per process
        again = col.search(queries, k=10)
        np.testing.assert_array_equal(again.ids, hits.ids)
        col.upsert(np.arange(2 * N + 100, 2 * N + 200), old[:100])  # writes after the reopen keep the lists exact
        check_lists(col)


def test_rebalance_off_never_retrains(engine_db, shifted, monkeypatch):
    old, new, _, _ = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf(rebalance=False))
    col.upsert(np.arange(N), old)
    calls = []
    monkeypatch.setattr(IVF, "train", classmethod(lambda cls, *a, **k: calls.append(a) or pytest.fail("retrained")))
    for lo in range(0, N, 500):
        col.upsert(np.arange(N + lo, N + lo + 500), new[lo : lo + 500])
    col.delete(np.arange(N // 2))
    assert not calls and not col.info().extra["ivf_rebalance"]["running"]
    assert col._rebalancer.runs == 0


def test_piled_up_lists_trigger_on_imbalance(engine_db, shifted, caplog):
    """New points all near one old cluster fill a few lists: the imbalance
    figure fires even with the distance trigger set out of reach."""
    old, _, _, _ = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf(rebalance_error=1e9, rebalance_imbalance=2.0))
    col.upsert(np.arange(N), old)
    rng = np.random.default_rng(9)
    piled = old[:1] + rng.standard_normal((N, DIM)).astype(np.float32) * 0.05
    piled /= np.linalg.norm(piled, axis=1, keepdims=True)
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        for lo in range(0, N, 500):
            col.upsert(np.arange(N + lo, N + lo + 500), piled[lo : lo + 500])
        col._rebalancer.wait()
    assert col.info().extra["ivf_rebalance"]["runs"] >= 1
    assert any("imbalance grew" in r.getMessage() for r in caplog.records)
    assert col.info().extra["ivf_drift"]["imbalance_growth"] < 2.0
    check_lists(col)


def test_close_during_a_rebalance_cancels_it_cleanly(tmp_path, shifted, monkeypatch, caplog):
    old, new, queries, _ = shifted
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=DIM, ivf=_ivf())
    col.upsert(np.arange(N), old)
    centroids = col._seg.ivf.centroids.copy()
    gate = _Gate(monkeypatch)
    written = [col.upsert(np.arange(N + lo, N + lo + 500), new[lo : lo + 500]) for lo in range(0, N, 500)]
    assert sum(written) == N and gate.entered.wait(60)
    hits = col.search(queries, k=10)
    closer = threading.Thread(target=db.close)
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        closer.start()
        _wait_until(lambda: col._rebalancer._stopping, "close to ask the retrain to stop")
        assert not db.closed  # ... and waits for it before closing the environment
        gate.open.set()
        closer.join()
    assert db.closed and not col._rebalancer.running
    assert col._rebalancer.runs == 0 and col._rebalancer.failures == 0
    assert not any("failed" in r.getMessage() for r in caplog.records)
    with vecstore.open(tmp_path / "db") as again:
        col = again.get_collection("c")
        np.testing.assert_array_equal(col._seg.ivf.centroids, centroids)  # nothing was installed
        check_lists(col)
        np.testing.assert_array_equal(col.search(queries, k=10).ids, hits.ids)
        assert col.info().extra["ivf_drift"]["assigned_since_training"] == N


def test_drop_during_a_rebalance_cancels_it(engine_db, shifted, monkeypatch):
    old, new, _, _ = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf())
    col.upsert(np.arange(N), old)
    gate = _Gate(monkeypatch)
    for lo in range(0, N, 500):
        col.upsert(np.arange(N + lo, N + lo + 500), new[lo : lo + 500])
    assert gate.entered.wait(60)
    dropper = threading.Thread(target=engine_db.drop_collection, args=("c",))
    dropper.start()
    _wait_until(lambda: col._rebalancer._stopping, "drop to ask the retrain to stop")
    gate.open.set()
    dropper.join()
    assert engine_db.list_collections() == [] and not col._rebalancer.running
    assert col._rebalancer.failures == 0


def test_a_failed_rebalance_is_logged_not_raised(engine_db, shifted, monkeypatch, caplog):
    old, new, queries, _ = shifted
    col = engine_db.create_collection("c", dim=DIM, ivf=_ivf())
    col.upsert(np.arange(N), old)
    centroids = col._seg.ivf.centroids.copy()

    def broken(cls, *args, **kwargs):
        raise MemoryError("no room for k-means")

    monkeypatch.setattr(IVF, "train", classmethod(broken))
    with caplog.at_level(logging.WARNING, logger="vecstore"):
        for lo in range(0, N, 500):
            col.upsert(np.arange(N + lo, N + lo + 500), new[lo : lo + 500])  # never raises
            col._rebalancer.wait()
    state = col.info().extra["ivf_rebalance"]
    assert state["failures"] >= 1 and state["runs"] == 0 and "no room for k-means" in state["last_error"]
    assert any("background IVF retrain failed" in r.getMessage() for r in caplog.records)
    np.testing.assert_array_equal(col._seg.ivf.centroids, centroids)
    assert col.count() == 2 * N and len(col.search(queries, k=10).ids) == len(queries)
    check_lists(col)


def test_info_carries_the_drift_figures_over_both_surfaces(db, shifted):
    old, new, _, _ = shifted
    col = db.create_collection("c", dim=DIM, ivf=_ivf(rebalance=False, rebalance_error=0.4))
    assert col.config.ivf.rebalance is False and col.config.ivf.rebalance_error == 0.4
    col.upsert(np.arange(N), old)
    col.upsert(np.arange(N, N + 500), new[:500])
    extra = col.info().extra
    assert extra["ivf_drift"]["assigned_since_training"] == 500 and extra["ivf_drift"]["trained_points"] == N
    assert extra["ivf_rebalance"] == {"running": False, "runs": 0, "failures": 0, "last_error": None}
