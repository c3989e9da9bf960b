"""Filtered search: the filter is a mask inside the coarse scan (k hits whenever k
points match), every path reranks exactly, and recall over the matching points
is at least the unfiltered recall."""
import numpy as np
import pytest

import vecstore
import vecstore.engine.collection as collection_module
from vecstore import BinaryQuantization

from synthetic import clustered, recall_at_k

N = 20_000
SELECTIVITIES = {0.5: 500, 0.1: 100, 0.01: 10, 0.001: 1}  # fraction -> bucket bound (buckets 0..999)


@pytest.fixture(scope="module")
def data():
    d = clustered(N, 64, nq=100, n_clusters=200, seed=7)
    bucket = np.arange(N) % 1000
    np.random.default_rng(3).shuffle(bucket)
    return d, bucket


@pytest.fixture
def loaded(db, data):
    d, bucket = data
    col = db.create_collection("docs", dim=64, quantization=BinaryQuantization(train_size=2000))
    payloads = [{"bucket": int(b), "tenant": f"t{b % 7}"} for b in bucket]
    for lo in range(0, N, 10_000):
        col.upsert(d.ids[lo : lo + 10_000], d.xb[lo : lo + 10_000], payloads[lo : lo + 10_000])
    return col


def exact_top(d, rows, k=10):
    """Brute-force top-k ids and cosine scores over the base rows given."""
    xb = d.xb[rows] / np.linalg.norm(d.xb[rows], axis=1, keepdims=True)
    xq = d.xq / np.linalg.norm(d.xq, axis=1, keepdims=True)
    scores = xq @ xb.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return d.ids[rows][top], np.take_along_axis(scores, top, axis=1)


def check_reranked(d, res):
    """Returned scores are the exact cosines of the returned ids."""
    row_of = {int(i): r for r, i in enumerate(d.ids)}
    xb = d.xb / np.linalg.norm(d.xb, axis=1, keepdims=True)
    xq = d.xq / np.linalg.norm(d.xq, axis=1, keepdims=True)
    for q in range(len(res.ids)):
        want = xb[[row_of[int(i)] for i in res.ids[q]]] @ xq[q]
        np.testing.assert_allclose(res.scores[q], want, atol=1e-5)


@pytest.mark.parametrize("indexed", [False, True])
@pytest.mark.parametrize("path", ["auto", "coarse", "exact"])
def test_filtered_recall_is_at_least_unfiltered(loaded, data, indexed, path, monkeypatch):
    d, bucket = data
    if indexed:
        loaded.create_payload_index("bucket", "integer")
    if path != "auto":  # force one path at every selectivity (the gRPC fixture's server runs in this process)
        monkeypatch.setattr(collection_module, "prefer_exact", lambda *args: path == "exact")
    unfiltered = recall_at_k(loaded.search(d.xq, k=10).ids, exact_top(d, np.arange(N))[0], 10)
    for fraction, bound in SELECTIVITIES.items():
        rows = np.flatnonzero(bucket < bound)
        assert len(rows) == round(N * fraction)
        res = loaded.search(d.xq, k=10, filter={"bucket": {"$lt": bound}})
        truth, _ = exact_top(d, rows)
        recall = recall_at_k(res.ids, truth, 10)
        assert recall >= unfiltered, (fraction, recall, unfiltered)
        assert (res.ids >= 0).all(), fraction  # k hits: at least k points match
        assert np.isin(res.ids, d.ids[rows]).all(), fraction  # only matching points
        check_reranked(d, res)
        if path == "exact":
            assert recall == 1.0


def test_k_hits_exactly_when_k_points_match(db, rng):
    col = db.create_collection("docs", dim=16, quantization=BinaryQuantization(train_size=64))
    x = rng.standard_normal((3000, 16)).astype(np.float32)
    group = np.arange(3000) % 300  # 10 points per group
    col.upsert(np.arange(3000), x, [{"g": int(g)} for g in group])
    for indexed in (False, True):
        if indexed:
            col.create_payload_index("g", "integer")
        res = col.search(x[:5], k=10, filter={"g": 7})
        assert sorted(res.ids[0].tolist()) == np.flatnonzero(group == 7).tolist()
        res = col.search(x[:5], k=10, filter={"g": {"$in": [7, 8]}})
        assert (res.ids >= 0).all() and np.isin(res.ids, np.flatnonzero((group == 7) | (group == 8))).all()
        col.delete([7])  # now 9 match: the tenth hit is padding
        res = col.search(x[:5], k=10, filter={"g": 7})
        assert (res.ids[:, :9] >= 0).all() and (res.ids[:, 9] == -1).all() and np.isnan(res.scores[:, 9]).all()
        col.upsert([7], x[7:8], [{"g": 7}])
        res = col.search(x[:2], k=10, filter={"g": 12345})  # nothing matches
        assert (res.ids == -1).all()


@pytest.mark.parametrize("indexed", [False, True])
def test_deleted_and_changed_points_follow_the_filter(db, rng, indexed):
    col = db.create_collection("docs", dim=16, quantization=BinaryQuantization(train_size=64))
    x = rng.standard_normal((2000, 16)).astype(np.float32)
    col.upsert(np.arange(2000), x, [{"tenant": i % 4} for i in range(2000)])
    if indexed:
        col.create_payload_index("tenant", "integer")
    flt = {"tenant": 1}
    gone = np.arange(1, 2000, 8)  # half of tenant 1
    col.delete(gone)
    moved = np.arange(5, 2000, 8)  # the other half leaves tenant 1
    col.set_payload(moved, {"tenant": 9})
    joined = np.arange(0, 400, 4)  # some of tenant 0 join
    col.set_payload(joined, {"tenant": 1})
    assert col.count(filter=flt) == len(joined)
    for oversampling in (1, None):  # 20 candidates: the masked coarse scan; 320: exact over the 100 matches
        res = col.search(x[:20], k=20, filter=flt, oversampling=oversampling)
        assert np.isin(res.ids, joined).all()
    assert set(col.search(x[1:2], k=100, filter=flt).ids[0].tolist()) == set(joined.tolist())


@pytest.mark.parametrize("quantization", ["none", "binary-untrained", "binary"])
def test_every_codec_state_filters(db, rng, quantization):
    q = {"none": "none", "binary-untrained": BinaryQuantization(train_size=10_000), "binary": BinaryQuantization(train_size=50)}
    col = db.create_collection("docs", dim=8, metric="l2", quantization=q[quantization])
    x = rng.standard_normal((500, 8)).astype(np.float32)
    col.upsert(np.arange(500), x, [{"odd": bool(i % 2)} for i in range(500)])
    # 250 candidates: the masked coarse scan keeps every match, so the rerank is exact
    res = col.search(x[:10], k=5, filter={"odd": True}, oversampling=50)
    odd = np.arange(1, 500, 2)
    d = np.linalg.norm(x[odd][None, :, :] - x[:10, None, :], axis=2)
    want = odd[np.argsort(d, axis=1, kind="stable")[:, :5]]
    assert res.ids.tolist() == want.tolist()
    np.testing.assert_allclose(res.scores, np.sort(d, axis=1)[:, :5], rtol=1e-4, atol=1e-5)


def test_rescore_false_with_filter_keeps_to_matching_points(loaded, data):
    d, bucket = data
    loaded.create_payload_index("tenant", "keyword")
    res = loaded.search(d.xq[:10], k=10, filter={"tenant": "t3"}, rescore=False)
    assert (res.ids >= 0).all()
    assert np.isin(res.ids, d.ids[bucket % 7 == 3]).all()
