"""The public collection API: round trips, replace, delete, search shapes."""
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, NoQuantization

from synthetic import clustered


def small_binary(train_size=64, oversampling=16.0):
    return BinaryQuantization(train_size=train_size, oversampling=oversampling)


def test_create_get_list_drop(db):
    a = db.create_collection("a", dim=8)
    db.create_collection("b", dim=4, metric="l2", quantization="none")
    assert db.list_collections() == ["a", "b"]
    assert db.get_collection("a").dim == 8
    assert db.get_collection("b").metric == "l2"
    db.drop_collection("a")
    assert db.list_collections() == ["b"]
    with pytest.raises(vecstore.CollectionNotFoundError):
        db.get_collection("a")
    with pytest.raises(vecstore.CollectionNotFoundError):
        a.count()
    # the name is free again and the new collection starts empty
    again = db.create_collection("a", dim=3)
    assert again.count() == 0 and again.dim == 3


def test_upsert_get_round_trip_is_byte_exact(db, rng):
    col = db.create_collection("docs", dim=37, quantization=small_binary())
    x = rng.standard_normal((50, 37)).astype(np.float32)
    ids = np.arange(100, 150)
    payloads = [{"n": int(i), "tag": "even" if i % 2 == 0 else "odd", "nested": {"a": [1, 2]}} for i in ids]
    assert col.upsert(ids, x, payloads) == 50
    assert col.count() == 50
    got = col.get([149, 100, 7])
    assert got.ids.tolist() == [149, 100]  # missing ids are left out, order kept
    assert got.vectors.tobytes() == x[[49, 0]].tobytes()
    assert got.payloads == [payloads[49], payloads[0]]


def test_float64_input_is_stored_as_float32(db, rng):
    col = db.create_collection("docs", dim=5, quantization="none")
    x = rng.standard_normal((3, 5))
    col.upsert([1, 2, 3], x)
    assert col.get([2]).vectors.tobytes() == x[1].astype(np.float32).tobytes()


@pytest.mark.parametrize("quantization", ["none", "binary"])
@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_finds_exact_copies_with_correct_scores(db, quantization, metric):
    data = clustered(600, 48, nq=5, seed=3)
    q = quantization if quantization == "none" else small_binary()
    col = db.create_collection("docs", dim=48, metric=metric, quantization=q)
    xb = data.xb * 3.0  # not unit length, so cosine and dot differ
    col.upsert(data.ids, xb)
    res = col.search(xb[:5], k=3)
    assert res.ids.shape == (5, 3) and res.ids.dtype == np.int64
    assert res.scores.shape == (5, 3) and res.scores.dtype == np.float32
    assert res.ids[:, 0].tolist() == data.ids[:5].tolist()
    expected_self = {"cosine": 1.0, "dot": 9.0, "l2": 0.0}[metric]
    np.testing.assert_allclose(res.scores[:, 0], expected_self, atol=1e-4)
    # best first: descending similarity, ascending distance
    if metric == "l2":
        assert (np.diff(res.scores, axis=1) >= 0).all()
    else:
        assert (np.diff(res.scores, axis=1) <= 0).all()


def test_scores_match_numpy(db, rng):
    col = db.create_collection("docs", dim=16, metric="dot", quantization=small_binary(train_size=32))
    x = rng.standard_normal((200, 16)).astype(np.float32)
    col.upsert(np.arange(200), x)
    q = rng.standard_normal((4, 16)).astype(np.float32)
    res = col.search(q, k=5, oversampling=40)  # 200 candidates: everything, so exact
    truth = np.argsort(-(q @ x.T), axis=1)[:, :5]
    assert res.ids.tolist() == truth.tolist()
    np.testing.assert_allclose(res.scores, np.take_along_axis(q @ x.T, truth, axis=1), rtol=1e-5)


def test_single_query_vector_gives_one_row(db, rng):
    col = db.create_collection("docs", dim=8, quantization="none")
    col.upsert(np.arange(10), rng.standard_normal((10, 8)))
    res = col.search(rng.standard_normal(8), k=4)
    assert res.ids.shape == (1, 4)


def test_k_larger_than_collection_pads_with_minus_one(db, rng):
    for kind in ("none", "binary"):
        col = db.create_collection(f"c_{kind}", dim=8, quantization=kind if kind == "none" else small_binary(4))
        col.upsert(np.arange(6), rng.standard_normal((6, 8)))
        res = col.search(rng.standard_normal((2, 8)), k=10)
        assert (res.ids[:, :6] >= 0).all() and (res.ids[:, 6:] == -1).all()
        assert np.isnan(res.scores[:, 6:]).all() and np.isfinite(res.scores[:, :6]).all()


@pytest.mark.parametrize("quantization", ["binary", "none", "scalar", "pq", "residual_binary"])
def test_search_on_empty_collection(db, rng, quantization):
    # "none" scans its (empty) slot table at once: its padding used to index an empty id table
    col = db.create_collection("docs", dim=8, quantization=quantization)
    for queries, kw in ((rng.standard_normal((3, 8)), {}), (rng.standard_normal(8), {}),
                        (rng.standard_normal((2, 8)), {"filter": {"tag": "a"}})):
        res = col.search(queries, k=2, **kw)
        assert res.ids.shape == (len(np.atleast_2d(queries)), 2)
        assert (res.ids == -1).all() and np.isnan(res.scores).all()


def test_upsert_replaces_vector_and_payload(db, rng):
    col = db.create_collection("docs", dim=12, quantization=small_binary(train_size=16))
    x = rng.standard_normal((40, 12)).astype(np.float32)
    col.upsert(np.arange(40), x, [{"v": 1}] * 40)
    new = rng.standard_normal((2, 12)).astype(np.float32)
    col.upsert([3, 7], new, [{"v": 2}, None])
    assert col.count() == 40
    got = col.get([3, 7])
    assert got.vectors.tobytes() == new.tobytes()
    assert got.payloads == [{"v": 2}, None]
    res = col.search(new, k=1)
    assert res.ids[:, 0].tolist() == [3, 7]
    # the old vector of id 3 no longer leads to id 3 as an exact match
    old = col.search(x[3], k=1, oversampling=40)
    assert old.ids[0, 0] != 3 or old.scores[0, 0] < 0.999


@pytest.mark.parametrize("quantization", ["none", "binary"])
def test_deleted_ids_are_never_returned(db, rng, quantization):
    q = quantization if quantization == "none" else small_binary(train_size=32)
    col = db.create_collection("docs", dim=16, quantization=q)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    col.upsert(np.arange(300), x)
    gone = np.arange(0, 300, 3)
    assert col.delete(np.concatenate([gone, [10_000]])) == len(gone)  # unknown ids ignored
    assert col.count() == 300 - len(gone)
    assert len(col.get(gone)) == 0
    res = col.search(x[gone], k=20, oversampling=20)
    assert not np.isin(res.ids, gone).any()
    assert (res.ids >= 0).all()  # still k hits: 200 points remain
    assert col.delete([]) == 0


def test_deleted_slots_are_reused(db, rng):
    col = db.create_collection("docs", dim=8, quantization=small_binary(train_size=8))
    col.upsert(np.arange(100), rng.standard_normal((100, 8)))
    before = col.info().extra["slots"]
    col.delete(np.arange(50))
    x = rng.standard_normal((50, 8)).astype(np.float32)
    col.upsert(np.arange(1000, 1050), x)
    assert col.info().extra["slots"] == before
    assert col.search(x, k=1).ids[:, 0].tolist() == list(range(1000, 1050))


def test_training_switches_from_exact_to_codes(db, rng):
    col = db.create_collection("docs", dim=32, quantization=small_binary(train_size=100))
    col.upsert(np.arange(60), rng.standard_normal((60, 32)))
    assert not col.info().trained
    assert col.search(rng.standard_normal(32), k=5).ids.min() >= 0
    col.upsert(np.arange(60, 120), rng.standard_normal((60, 32)))
    info = col.info()
    assert info.trained and info.extra["code_bytes"] == 8 + 4  # 32 sign bits + two float16 factors
    assert info.ram_bytes > 0


def test_info_reports_sizes(db, rng):
    col = db.create_collection("docs", dim=384, quantization=small_binary(train_size=10))
    col.upsert(np.arange(1000), rng.standard_normal((1000, 384)))
    info = col.info()
    assert info.count == 1000 and info.name == "docs"
    # 48 bytes of signs + 4 of factors + 8 of id + 1 of liveness per slot, allowing growth slack
    assert 61 * 1000 <= info.ram_bytes <= 61 * 1000 * 1.1
    assert info.disk_bytes >= 1000 * 384 * 4


def test_growth_slack_stays_small(engine_db, rng):
    """Capacity grows in small steps: RAM per vector is a promise (<= 64 B at 384-d)."""
    col = engine_db.create_collection("docs", dim=64, quantization=small_binary(train_size=10))
    x = rng.standard_normal((1000, 64)).astype(np.float32)
    per_slot = 8 + 4 + 8 + 1  # signs, factors, id, liveness
    worst = 0.0
    for i in range(40):
        col.upsert(np.arange(i * 1000, (i + 1) * 1000), x)
        worst = max(worst, col.info().ram_bytes / ((i + 1) * 1000 * per_slot))
    assert worst <= 1.0 + 1 / 32 + 0.03  # 1/32 growth, plus a chunk's rounding early on


def test_rescore_false_returns_code_scores(db):
    data = clustered(2000, 64, nq=20, seed=5)
    col = db.create_collection("docs", dim=64, quantization=small_binary(train_size=100))
    col.upsert(data.ids, data.xb)
    exact = col.search(data.xq, k=10)
    coarse = col.search(data.xq, k=10, rescore=False)
    assert coarse.ids.shape == (20, 10) and (coarse.ids >= 0).all()
    # code-space cosine estimates are in [-1, 1] but not the exact scores
    assert (np.abs(coarse.scores) <= 1.0 + 1e-6).all()
    assert not np.allclose(coarse.scores, exact.scores, atol=1e-3)


def test_quantization_config_objects(db):
    col = db.create_collection("docs", dim=8, quantization=BinaryQuantization(oversampling=4, center=False))
    assert col.config.quantization.oversampling == 4
    assert col.config.quantization.center is False
    col2 = db.create_collection("exact", dim=8, quantization=NoQuantization())
    assert col2.config.quantization.kind == "none"
    with pytest.raises(TypeError):
        BinaryQuantization(oversampling=4, centre=True)  # misspelt option fails at once
