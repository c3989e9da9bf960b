"""`sparse`: generated and user-supplied sparse codes in an inverted index, reranked exactly."""
import hashlib

import lmdb
import numpy as np
import pytest

import vecstore
from vecstore import CollectionConfig, SparseQuantization
from vecstore import errors as E
from vecstore.engine.codecs.sparse import SparseCodec, rademacher
from vecstore.engine.postings import Postings
from vecstore.api.sparse_rows import SparseRows

from synthetic import clustered, recall_at_k


def small(**kw):
    return SparseQuantization(**{"expansion_dim": 2048, "active": 24, "train_size": 300, **kw})


def user(**kw):
    return SparseQuantization(user_codes=True, expansion_dim=100, **kw)


@pytest.fixture(scope="module")
def data():
    return clustered(6000, 96, nq=100, n_clusters=60, seed=41)


def check_postings(col):
    """The RAM postings hold exactly the stored sparse code of every live point."""
    if not isinstance(col, vecstore.Collection):
        return  # gRPC mode: the server's engine internals are out of the client's sight
    seg = col._seg
    with col._storage.read() as txn:
        stored = dict(txn.cursor(db=col._dbs["sparse"]).iternext())
    want = set()
    for slot in np.flatnonzero(seg.alive[: seg.n]):
        key = int(seg.ids[slot]).to_bytes(8, "big")
        rows = SparseRows.from_values([stored[key]], seg.postings.weighted)
        want |= {(int(d), int(slot)) for d in rows.indices}
    got = {(d, int(s)) for d in range(seg.postings.n_keys) for s in seg.postings.region(d)}
    assert got == want
    assert len(stored) == seg.count


def test_config_validation_and_round_trip():
    for q in (small(), user(weighted=True), SparseQuantization()):
        cfg = CollectionConfig(name="c", dim=8, quantization=q)
        assert CollectionConfig.from_dict(cfg.to_dict()) == cfg
    assert CollectionConfig(name="c", dim=8, quantization="sparse").quantization == SparseQuantization()
    for bad, message in [
        (dict(active=0), "active"),
        (dict(expansion_dim=16, active=16), "below expansion_dim"),
        (dict(query_active=-1), "query_active"),
        (dict(seed=-1), "seed"),
        (dict(weighted=True), "weighted applies only"),
        (dict(user_codes=True, active=3), "apply only to generated"),
        (dict(expansion_dim=1 << 30), "at most"),
        (dict(center="yes"), "center"),
    ]:
        with pytest.raises(E.InvalidConfigError, match=message):
            SparseQuantization(**bad)
    with pytest.raises(E.InvalidConfigError, match="bad parameters"):
        CollectionConfig(name="c", dim=8, quantization={"kind": "sparse", "actives": 3})


def test_projection_is_pinned_by_the_seed():
    r = rademacher(7, 33, seed=5)
    assert r.shape == (7, 33) and set(np.unique(r)) == {-1.0, 1.0}
    np.testing.assert_array_equal(r, rademacher(7, 33, seed=5))
    assert not np.array_equal(r, rademacher(7, 33, seed=6))
    # PCG64's raw stream is stable across NumPy versions: codes never change under a reopen
    assert hashlib.sha256(rademacher(16, 64, seed=0).tobytes()).hexdigest()[:16] == "4285f236d974bf7f"


def test_generated_codes_recall_and_rerank(db, data):
    col = db.create_collection("s", dim=96, quantization=small())
    col.upsert(data.ids, data.xb)
    assert col.info().trained and col.info().extra["postings"] == 6000 * 24
    truth = data.ground_truth(10)
    reranked = recall_at_k(col.search(data.xq, k=10).ids, truth, 10)
    coarse = col.search(data.xq, k=10, rescore=False)
    assert reranked >= 0.95
    assert recall_at_k(coarse.ids, truth, 10) < reranked - 0.2
    # code-space scores: sums of the query's weights over shared dimensions, best first
    assert (np.diff(coarse.scores, axis=1) <= 0).all() and (coarse.scores > 0).all()
    # a query that keeps only `active` dimensions ranks worse than the default 4x
    narrow = db.create_collection("s2", dim=96, quantization=small(query_active=24))
    narrow.upsert(data.ids, data.xb)
    assert recall_at_k(narrow.search(data.xq, k=10).ids, truth, 10) < reranked


def test_exact_until_trained(db, data):
    col = db.create_collection("s", dim=96, quantization=small(train_size=1000))
    col.upsert(data.ids[:500], data.xb[:500])
    assert not col.info().trained
    exact = db.create_collection("e", dim=96, quantization="none")
    exact.upsert(data.ids[:500], data.xb[:500])
    np.testing.assert_array_equal(col.search(data.xq, k=5).ids, exact.search(data.xq, k=5).ids)


def test_deletes_replaces_and_slot_reuse_keep_postings_exact(db, data):
    col = db.create_collection("s", dim=96, quantization=small())
    col.upsert(data.ids[:3000], data.xb[:3000])
    rng = np.random.default_rng(9)
    for _ in range(4):
        gone = rng.choice(data.ids[:3000], 300, replace=False)
        col.delete(gone)
        col.upsert(rng.choice(data.ids[:3000], 100, replace=False), rng.standard_normal((100, 96)))
        col.upsert(rng.choice(data.ids[3000:], 200, replace=False), rng.standard_normal((200, 96)))
        check_postings(col)
    live = set(col.get(data.ids).ids.tolist())
    for rescore in (True, False):
        res = col.search(data.xq, k=50, rescore=rescore, oversampling=8)
        assert set(res.ids.ravel().tolist()) <= live  # dead slots never come back
        assert (res.ids >= 0).all()


def test_reopen_loads_postings_without_encoding(tmp_path, data, monkeypatch):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("s", dim=96, quantization=small())
        col.upsert(data.ids, data.xb)
        col.delete(data.ids[:50])
        before = col.search(data.xq, k=10)
        coarse = col.search(data.xq, k=10, rescore=False)
    encoded = []
    real = SparseCodec.encode_sparse

    def spy(self, x, active=None, **kw):
        encoded.append(len(x))
        return real(self, x, active, **kw)

    monkeypatch.setattr(SparseCodec, "encode_sparse", spy)
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("s")
        assert encoded == []  # the codes were read back, not computed again
        check_postings(col)
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, coarse.ids)
        np.testing.assert_array_equal(col.search(data.xq, k=10).ids, before.ids)


def test_stale_sparse_codes_are_rebuilt(tmp_path, data):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("s", dim=96, quantization=small())
        col.upsert(data.ids, data.xb)
        before = col.search(data.xq, k=10)
        name = f"c{col.cid}.sparse".encode()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=16)
    with env.begin(write=True) as txn:
        handle = env.open_db(name, txn=txn)
        txn.delete(int(data.ids[7]).to_bytes(8, "big"), db=handle)  # lose one code
    env.close()
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("s")
        check_postings(col)
        np.testing.assert_array_equal(col.search(data.xq, k=10).ids, before.ids)


# -- user-supplied codes ---------------------------------------------------------
def test_user_codes_scan_and_rerank(db, rng):
    col = db.create_collection("u", dim=8, metric="dot", quantization=user())
    x = rng.standard_normal((30, 8)).astype(np.float32)
    codes = [rng.choice(100, rng.integers(1, 10), replace=False) for _ in range(30)]
    col.upsert(np.arange(30), x, sparse=codes)
    check_postings(col)
    coarse = col.search(x[:5], k=3, rescore=False, sparse_queries=codes[:5])
    np.testing.assert_array_equal(coarse.scores[:, 0], [len(c) for c in codes[:5]])  # full overlap with itself
    # rescore: exact dot products among the sparse candidates
    res = col.search(x[:5], k=3, oversampling=10, sparse_queries=codes[:5])
    for row, (ids, scores) in enumerate(zip(res.ids, res.scores)):
        np.testing.assert_allclose(scores, x[ids] @ x[row], rtol=1e-5)


def test_weighted_user_codes_score_the_sparse_dot_product(db, rng):
    col = db.create_collection("u", dim=4, quantization=user(weighted=True))
    dense = rng.standard_normal((40, 100)) * (rng.random((40, 100)) < 0.1)
    dense = np.abs(dense).astype(np.float32)
    codes = [{"indices": np.flatnonzero(r), "weights": r[r > 0]} for r in dense]
    col.upsert(np.arange(40), rng.standard_normal((40, 4)), sparse=codes)
    q = np.abs(rng.standard_normal((3, 100)) * (rng.random((3, 100)) < 0.3)).astype(np.float32)
    qcodes = [(np.flatnonzero(r), r[r > 0]) for r in q]
    res = col.search(rng.standard_normal((3, 4)), k=5, rescore=False, sparse_queries=qcodes)
    want = q.astype(np.float64) @ dense.T.astype(np.float64)
    for row in range(3):
        order = np.lexsort((np.arange(40), -want[row]))[:5]
        assert res.ids[row].tolist() == order.tolist()
        np.testing.assert_allclose(res.scores[row], want[row, order], rtol=1e-6)
    # unweighted entries default to weight 1
    col.upsert([100], np.ones((1, 4)), sparse=[[3, 4]])
    assert col.search(np.ones(4), k=1, rescore=False, sparse_queries=[[3, 4]]).scores[0, 0] >= 2


def test_user_codes_survive_reopen_and_delete(tmp_path, rng):
    x = rng.standard_normal((50, 8)).astype(np.float32)
    codes = [rng.choice(100, 5, replace=False) for _ in range(50)]
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("u", dim=8, quantization=user(weighted=True))
        col.upsert(np.arange(50), x, sparse=[(c, np.full(5, 0.5)) for c in codes])
        col.delete(np.arange(10))
        col.upsert([20], x[:1], sparse=[codes[0]])  # replaced code
        before = col.search(x[10:20], k=5, rescore=False, sparse_queries=codes[10:20])
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("u")
        check_postings(col)
        got = col.search(x[10:20], k=5, rescore=False, sparse_queries=codes[10:20])
        np.testing.assert_array_equal(got.ids, before.ids)
        np.testing.assert_array_equal(got.scores, before.scores)
        assert not np.isin(got.ids, np.arange(10)).any()


BAD_SPARSE = [
    ("missing", dict(), E.InvalidSparseError, "takes user sparse codes: pass sparse="),
    ("count", dict(sparse=[[1]]), E.LengthMismatchError, "2 points but 1 sparse codes"),
    ("not a list", dict(sparse="1,2"), E.InvalidSparseError, "one sparse code per point"),
    ("out of range", dict(sparse=[[1], [100]]), E.InvalidSparseError, r"sparse\[1\]: index 100 is outside \[0, 100\)"),
    ("negative", dict(sparse=[[-1], [2]]), E.InvalidSparseError, "index -1 is outside"),
    ("repeat", dict(sparse=[[1, 5, 1], [2]]), E.InvalidSparseError, "index 1 repeats"),
    ("floats", dict(sparse=[[1.5], [2]]), E.InvalidSparseError, "integers"),
    ("weights unweighted", dict(sparse=[([1, 2], [1.0, 2.0]), [2]]), E.InvalidSparseError, "weights given"),
    ("dict keys", dict(sparse=[{"idx": [1]}, [2]]), E.InvalidSparseError, "'indices'"),
]


@pytest.mark.parametrize("case,kwargs,exc,message", BAD_SPARSE, ids=[c[0] for c in BAD_SPARSE])
def test_bad_user_codes_are_rejected_whole(db, case, kwargs, exc, message):
    col = db.create_collection("u", dim=4, quantization=user())
    col.upsert([1], np.ones((1, 4)), sparse=[[7]])
    with pytest.raises(exc, match=message):
        col.upsert([2, 3], np.ones((2, 4)), **kwargs)
    assert col.count() == 1 and len(col.get([2, 3])) == 0
    check_postings(col)


@pytest.mark.parametrize("weights,message", [([1.0, -1.0], "positive"), ([1.0, float("nan")], "positive"),
                                             ([1.0], "2 indices"), ([1e-50, 1.0], "positive")])
def test_bad_weights(db, weights, message):
    col = db.create_collection("u", dim=4, quantization=user(weighted=True))
    with pytest.raises(E.InvalidSparseError, match=message):
        col.upsert([1], np.ones((1, 4)), sparse=[{"indices": [1, 2], "weights": weights}])
    assert col.count() == 0


def test_sparse_arguments_only_where_they_belong(db, rng):
    plain = db.create_collection("plain", dim=4, quantization="binary")
    with pytest.raises(E.InvalidSparseError, match="does not take user sparse codes"):
        plain.upsert([1], np.ones((1, 4)), sparse=[[1]])
    plain.upsert([1], np.ones((1, 4)))
    with pytest.raises(E.InvalidSparseError, match="does not take user sparse codes"):
        plain.search(np.ones(4), sparse_queries=[[1]])
    col = db.create_collection("u", dim=4, quantization=user())
    col.upsert([1], np.ones((1, 4)), sparse=[[1]])
    with pytest.raises(E.InvalidSparseError, match="pass sparse_queries="):
        col.search(np.ones(4))
    with pytest.raises(E.LengthMismatchError, match="sparse_queries"):
        col.search(np.ones((2, 4)), sparse_queries=[[1]])
    assert col.search(np.ones(4), k=1, sparse_queries=[[]]).ids[0, 0] == 1  # an empty query code is allowed


def test_postings_pool_under_random_updates():
    """The pool against a dict-of-sets model through growth, moves and compaction."""
    rng = np.random.default_rng(3)
    p = Postings(50, weighted=True)
    model: dict[int, dict[int, float]] = {d: {} for d in range(50)}
    next_slot = 0
    for step in range(300):
        if step % 3 == 2 and next_slot:
            present = [(d, s) for d in model for s in model[d]]
            pick = [present[i] for i in rng.choice(len(present), min(len(present), 40), replace=False)]
            p.remove(np.array([d for d, _ in pick]), np.array([s for _, s in pick]))
            for d, s in pick:
                del model[d][s]
        else:
            n = int(rng.integers(1, 400))
            keys = rng.integers(0, 50, n) if step % 2 else np.zeros(n, np.int64) + step % 50  # skewed keys too
            slots = np.arange(next_slot, next_slot + n)
            w = rng.random(n).astype(np.float32)
            next_slot += n
            p.add(keys, slots, w)
            for d, s, x in zip(keys, slots, w):
                model[int(d)][int(s)] = float(x)
    p.compact()
    for d in range(50):
        region = p.region(d)
        assert region.tolist() == sorted(model[d])  # sorted by slot
        lo = p.starts[d]
        np.testing.assert_array_equal(p.weights[lo : lo + len(region)], np.float32([model[d][s] for s in region]))
    assert p.entries == sum(len(m) for m in model.values())
