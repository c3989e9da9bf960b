"""Hybrid search: user sparse vectors beside the dense ones, exact sparse
retrieval, and its fusion with the dense hits (README "Hybrid search")."""
import json

import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, CollectionConfig, SparseVectorsConfig
from vecstore.engine.hybrid import FUSION_DEPTH

from synthetic import clustered, sparse_vectors

VOCAB = 300


def dense_matrix(rows, vocab=VOCAB):
    """The sparse vectors as a dense float64 matrix (a None row is zeros)."""
    m = np.zeros((len(rows), vocab))
    for i, row in enumerate(rows):
        if row is not None:
            m[i, row[0]] = row[1].astype(np.float64)
    return m


def brute_sparse(rows, ids, query, k, keep=None):
    """Exact sparse top k: (ids, scores) of the points sharing a term with the query."""
    scores = dense_matrix(rows) @ dense_matrix([query])[0]
    ok = scores > 0 if keep is None else (scores > 0) & keep
    order = [i for i in np.argsort(-scores, kind="stable") if ok[i]][:k]
    return [int(ids[i]) for i in order], scores[order]


def make(db, n=400, *, metric="cosine", quantization=None, seed=0, payloads=False, **options):
    data = clustered(n, 16, nq=8, seed=seed)
    rows = sparse_vectors(n, VOCAB, seed=seed)
    quantization = quantization or BinaryQuantization(train_size=64, oversampling=8.0)
    col = db.create_collection("h", dim=16, metric=metric, quantization=quantization, sparse_vectors=True, **options)
    pay = [{"tag": int(i % 3)} for i in range(n)] if payloads else None
    # two batches: the codec trains on the first, the second is encoded (slots stay put)
    col.upsert(data.ids[:100], data.xb[:100], None if pay is None else pay[:100], sparse_vectors=rows[:100])
    col.upsert(data.ids[100:], data.xb[100:], None if pay is None else pay[100:], sparse_vectors=rows[100:])
    return col, data, rows


def queries(seed, nq=6):
    return sparse_vectors(nq, VOCAB, nnz=6, missing=0.0, seed=seed + 100)


def assert_hits(result, row, want_ids, want_scores):
    got = [int(i) for i, s in zip(result.ids[row], result.scores[row]) if not np.isnan(s)]
    assert got == want_ids
    np.testing.assert_allclose(result.scores[row][: len(got)], want_scores, rtol=1e-5)
    assert (result.ids[row][len(got):] == -1).all()  # padding after the hits


@pytest.mark.parametrize("quantization", ["none", BinaryQuantization(train_size=64, oversampling=8.0)],
                         ids=["none", "binary"])
def test_sparse_retrieval_equals_brute_force(db, quantization):
    col, data, rows = make(db, quantization=quantization)
    qs = queries(1)
    for k in (1, 10, 500):
        result = col.search(None, k, sparse_query=qs)  # sparse retrieval alone, a batch
        assert result.ids.shape == (len(qs), k)
        for i, q in enumerate(qs):
            assert_hits(result, i, *brute_sparse(rows, data.ids, q, k))
    # a single query as one (indices, weights) tuple
    one = col.search(None, 5, sparse_query=qs[0])
    assert_hits(one, 0, *brute_sparse(rows, data.ids, qs[0], 5))
    # a term no point has finds nothing; with a known one it adds nothing
    none = col.search(None, 5, sparse_query=([VOCAB + 7], [1.0]))
    assert (none.ids == -1).all() and np.isnan(none.scores).all()
    mixed = col.search(None, 5, sparse_query=(np.append(qs[0][0], VOCAB + 7), np.append(qs[0][1], 2.0)))
    assert_hits(mixed, 0, *brute_sparse(rows, data.ids, qs[0], 5))


def rrf_reference(dense, sparse, k, rrf_k):
    fused = {}
    for rank, i in enumerate(dense):
        fused[i] = [1 / (rrf_k + rank + 1), rank, len(sparse)]
    for rank, i in enumerate(sparse):
        entry = fused.setdefault(i, [0.0, len(dense), rank])
        entry[0] += 1 / (rrf_k + rank + 1)
        entry[2] = rank
    best = sorted(fused.items(), key=lambda e: (-e[1][0], e[1][1], e[1][2]))[:k]
    return [i for i, _ in best], [v[0] for _, v in best]


def weighted_reference(dense, d_scores, sparse, s_scores, k, w, higher_better):
    def norm(scores):
        if not scores:
            return []
        lo, hi = min(scores), max(scores)
        return [1.0] * len(scores) if hi == lo else [(s - lo) / (hi - lo) for s in scores]

    d_scores = d_scores if higher_better else [-s for s in d_scores]
    fused = {}
    for rank, (i, s) in enumerate(zip(dense, norm(d_scores))):
        fused[i] = [w * s, rank, len(sparse)]
    for rank, (i, s) in enumerate(zip(sparse, norm(s_scores))):
        entry = fused.setdefault(i, [0.0, len(dense), rank])
        entry[0] += (1 - w) * s
        entry[2] = rank
    best = sorted(fused.items(), key=lambda e: (-e[1][0], e[1][1], e[1][2]))[:k]
    return [i for i, _ in best], [v[0] for _, v in best]


def hits(result, row):
    keep = ~np.isnan(result.scores[row])
    return [int(i) for i in result.ids[row][keep]], [float(s) for s in result.scores[row][keep]]


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("fusion,params", [("rrf", {}), ("rrf", {"rrf_k": 5}), ("weighted", {}),
                                           ("weighted", {"dense_weight": 0.8}), ("weighted", {"dense_weight": 0.0})])
def test_fusion_equals_python_reference_on_the_two_lists(db, metric, fusion, params):
    col, data, _ = make(db, metric=metric)
    qs = queries(2, nq=len(data.xq))
    k = 10
    depth = max(k, FUSION_DEPTH)
    dense = col.search(data.xq, depth)
    sparse = col.search(None, depth, sparse_query=qs)
    fused = col.search(data.xq, k, sparse_query=qs, fusion=fusion, **params)
    assert fused.ids.shape == (len(qs), k)
    for i in range(len(qs)):
        d_ids, d_scores = hits(dense, i)
        s_ids, s_scores = hits(sparse, i)
        if fusion == "rrf":
            want_ids, want_scores = rrf_reference(d_ids, s_ids, k, params.get("rrf_k", 60))
        else:
            want_ids, want_scores = weighted_reference(d_ids, d_scores, s_ids, s_scores, k,
                                                       params.get("dense_weight", 0.5), metric != "l2")
        got_ids, got_scores = hits(fused, i)
        assert got_ids == want_ids
        np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-7)
        # both lists contribute: a fused hit is in at least one of them
        assert set(got_ids) <= set(d_ids) | set(s_ids)


def test_filters_apply_to_both_lists(db):
    col, data, rows = make(db, payloads=True)
    qs = queries(3, nq=len(data.xq))
    tags = np.arange(len(rows)) % 3
    flt = {"tag": 1}
    sparse = col.search(None, 20, sparse_query=qs, filter=flt)
    for i, q in enumerate(qs):
        assert_hits(sparse, i, *brute_sparse(rows, data.ids, q, 20, keep=tags == 1))
    fused = col.search(data.xq, 10, sparse_query=qs, filter=flt)
    tag_of = dict(zip(data.ids.tolist(), tags.tolist()))
    found = fused.ids[fused.ids >= 0]
    assert len(found) and all(tag_of[int(i)] == 1 for i in found)
    # the fused list is the fusion of the two filtered lists
    depth = max(10, FUSION_DEPTH)
    dense = col.search(data.xq, depth, filter=flt)
    sparse = col.search(None, depth, sparse_query=qs, filter=flt)
    for i in range(len(qs)):
        want, _ = rrf_reference(hits(dense, i)[0], hits(sparse, i)[0], 10, 60)
        assert hits(fused, i)[0] == want


def test_replace_and_delete_update_the_index(db):
    col, data, rows = make(db, n=200, quantization="none")
    pid = int(data.ids[0])
    old_term, new_term = VOCAB + 1, VOCAB + 2  # beyond the generated terms: no other point has them

    def found(term):
        return set(col.search(None, 50, sparse_query=([term], [1.0])).ids[0].tolist()) - {-1}

    col.upsert([pid], data.xb[:1], sparse_vectors=[([old_term, 3], [2.0, 1.0])])
    assert found(old_term) == {pid}
    col.upsert([pid], data.xb[:1], sparse_vectors=[([new_term], [1.5])])  # replaced: old terms go
    assert found(old_term) == set() and found(new_term) == {pid}
    col.upsert([pid], data.xb[:1])  # a replace without one clears it
    assert found(new_term) == set()
    col.upsert([pid], data.xb[:1], sparse_vectors=[([new_term], [1.5])])
    col.delete([pid])
    assert found(new_term) == set()
    # the freed slot goes to a new point, which must not inherit the old terms
    fresh = int(data.ids.max()) + 1
    col.upsert([fresh], data.xb[:1], sparse_vectors=[None])
    assert found(new_term) == set()
    col.upsert([fresh + 1], data.xb[1:2], sparse_vectors=[([new_term], [0.5])])
    assert found(new_term) == {fresh + 1}
    # delete by filter too
    col.delete(filter={})
    assert found(new_term) == set() and col.count() == 0
    assert col.info().extra["sparse_vector_entries"] == 0


def test_sparse_index_matches_after_mixed_writes(db):
    col, data, rows = make(db, n=300, quantization="none")
    rng = np.random.default_rng(5)
    current = dict(zip(data.ids.tolist(), rows))
    new_rows = sparse_vectors(300, VOCAB, seed=9)
    for step in range(4):
        pick = rng.choice(len(data.ids), 60, replace=False)
        ids = data.ids[pick]
        if step % 2:
            col.delete(ids[:20])
            for i in ids[:20].tolist():
                current.pop(i, None)
            ids, pick = ids[20:], pick[20:]
        col.upsert(ids, data.xb[pick], sparse_vectors=[new_rows[j] for j in pick])
        current.update({int(i): new_rows[j] for i, j in zip(ids, pick)})
    live_ids = np.array(sorted(current))
    live_rows = [current[i] for i in live_ids.tolist()]
    qs = queries(4)
    result = col.search(None, 30, sparse_query=qs)
    for i, q in enumerate(qs):
        assert_hits(result, i, *brute_sparse(live_rows, live_ids, q, 30))


def test_reopen_rebuilds_the_index(tmp_path):
    path = tmp_path / "db"
    with vecstore.open(path) as db:
        col, data, rows = make(db, vectors_in_ram=True)
        col.delete(data.ids[:30])
        plain = db.create_collection("plain", dim=4)
        plain.upsert([1], np.ones((1, 4), np.float32))
        qs = queries(6)
        before = col.search(None, 20, sparse_query=qs)
        fused_before = col.search(data.xq[:len(qs)], 10, sparse_query=qs)
        entries = col.info().extra["sparse_vector_entries"]
    with vecstore.open(path) as db:
        col = db.get_collection("h")
        assert col.config.sparse_vectors == SparseVectorsConfig()
        assert db.get_collection("plain").config.sparse_vectors is None
        assert col.info().extra["sparse_vector_entries"] == entries
        after = col.search(None, 20, sparse_query=qs)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_array_equal(after.scores, before.scores)
        np.testing.assert_array_equal(col.search(data.xq[:len(qs)], 10, sparse_query=qs).ids, fused_before.ids)
    with vecstore.open(path, read_only=True) as ro:  # a read-only handle builds it too
        np.testing.assert_array_equal(ro.get_collection("h").search(None, 20, sparse_query=qs).ids, before.ids)


def test_old_catalog_entries_read_as_without_sparse_vectors():
    config = CollectionConfig(name="c", dim=4)
    old = config.to_dict()
    del old["sparse_vectors"]  # written before hybrid search existed
    assert CollectionConfig.from_dict(json.loads(json.dumps(old))).sparse_vectors is None
    assert CollectionConfig(name="c", dim=4, sparse_vectors={"vocab_size": 10}).sparse_vectors.vocab_size == 10


def test_config_travels_and_is_reported(db):
    col = db.create_collection("h", dim=4, sparse_vectors=SparseVectorsConfig(vocab_size=1000))
    assert col.config.sparse_vectors == SparseVectorsConfig(vocab_size=1000)
    assert db.get_collection("h").info().config.sparse_vectors.vocab_size == 1000
    assert db.create_collection("p", dim=4).config.sparse_vectors is None
    assert db.create_collection("q", dim=4, sparse_vectors=False).config.sparse_vectors is None


def test_errors(db):
    col, data, rows = make(db, n=120)
    plain = db.create_collection("plain", dim=16)
    plain.upsert(data.ids[:5], data.xb[:5])
    q = ([1, 2], [1.0, 0.5])
    x = data.xq[:2]
    with pytest.raises(vecstore.InvalidSparseError, match="no sparse vectors"):
        plain.upsert(data.ids[:1], data.xb[:1], sparse_vectors=[q])
    with pytest.raises(vecstore.InvalidSparseError, match="no sparse vectors"):
        plain.search(x[0], 3, sparse_query=q)
    with pytest.raises(vecstore.InvalidSparseError, match="no sparse vectors"):
        plain.search(None, 3, sparse_query=q)
    bad_rows = [
        ([VOCAB * 0 + (1 << 24)], [1.0]),  # outside the vocabulary
        ([1, 1], [1.0, 2.0]),  # repeated term
        ([1, 2], [1.0, -2.0]),  # negative weight
        ([1, 2], [1.0, float("nan")]),
        ([1, 2], [1.0]),  # a weight short
        ([-1], [1.0]),
    ]
    for row in bad_rows:
        with pytest.raises(vecstore.InvalidSparseError):
            col.upsert(data.ids[:1], data.xb[:1], sparse_vectors=[row])
        with pytest.raises(vecstore.InvalidSparseError):
            col.search(x[0], 3, sparse_query=row)
    with pytest.raises(vecstore.LengthMismatchError):
        col.upsert(data.ids[:2], data.xb[:2], sparse_vectors=[q])
    with pytest.raises(vecstore.InvalidSparseError):
        col.upsert(data.ids[:1], data.xb[:1], sparse_vectors=q)  # a tuple, not a list per point
    with pytest.raises(vecstore.LengthMismatchError):
        col.search(x, 3, sparse_query=[q])  # two queries, one sparse vector
    with pytest.raises(vecstore.InvalidSparseError):
        col.search(None, 3, sparse_query=[q, None])
    with pytest.raises(vecstore.InvalidSparseError):
        col.search(None, 3, sparse_query=[])
    with pytest.raises(vecstore.InvalidQueryError, match="fusion"):
        col.search(x, 3, sparse_query=[q, q], fusion="sum")
    with pytest.raises(vecstore.InvalidQueryError, match="fusion"):
        col.search(x, 3, fusion="RRF")  # checked even without a sparse_query
    with pytest.raises(vecstore.InvalidQueryError, match="rrf_k"):
        col.search(x, 3, sparse_query=[q, q], rrf_k=-1)
    with pytest.raises(vecstore.InvalidQueryError, match="dense_weight"):
        col.search(x, 3, sparse_query=[q, q], fusion="weighted", dense_weight=1.5)
    with pytest.raises(vecstore.InvalidQueryError, match="dense_weight"):
        col.search(x, 3, sparse_query=[q, q], dense_weight="half")
    with pytest.raises(vecstore.InvalidQueryError, match="queries, a sparse_query"):
        col.search(None, 3)
    with pytest.raises(vecstore.InvalidQueryError):
        col.search(None, 0, sparse_query=q)
    with pytest.raises(vecstore.InvalidConfigError):
        db.create_collection("bad", dim=4, sparse_vectors="yes")
    with pytest.raises(vecstore.InvalidConfigError):
        db.create_collection("bad", dim=4, sparse_vectors={"vocab_size": 0})
    with pytest.raises(vecstore.InvalidSparseError):
        db.create_collection("small", dim=16, sparse_vectors={"vocab_size": 10}).upsert(
            [1], data.xb[:1], sparse_vectors=[([10], [1.0])])
    # nothing of the refused batches was written
    assert col.count() == 120
    hits_ = col.search(None, 200, sparse_query=([1, 2], [1.0, 1.0]))
    want, _ = brute_sparse(rows, data.ids, (np.array([1, 2]), np.array([1.0, 1.0], np.float32)), 200)
    assert hits(hits_, 0)[0] == want


def test_async_client_runs_the_same_plan(tmp_path):
    import asyncio

    from conftest import serving

    x = np.eye(4, dtype=np.float32)

    async def run(address):
        db = vecstore.connect_async(address)
        col = await db.create_collection("h", dim=4, quantization="none", sparse_vectors=True)
        await col.upsert([1, 2, 3], x[:3], sparse_vectors=[([3], [1.0]), None, ([3, 5], [0.5, 2.0])])
        alone = await col.search(None, 3, sparse_query=([3], [1.0]))
        fused = await col.search(x[1], 3, sparse_query=([3], [1.0]))
        with pytest.raises(vecstore.InvalidQueryError):
            await col.search(x[1], 3, sparse_query=([3], [1.0]), fusion="max")
        await db.close()
        return alone, fused

    with serving(tmp_path / "served") as address:
        alone, fused = asyncio.run(run(address))
    assert hits(alone, 0) == ([1, 3], [1.0, 0.5])
    # dense ranks 2, 1, 3 (ties at 0 by id); sparse ranks 1, 3
    want, scores = rrf_reference([2, 1, 3], [1, 3], 3, 60)
    assert hits(fused, 0)[0] == want
    np.testing.assert_allclose(hits(fused, 0)[1], scores, rtol=1e-6)


def test_hybrid_and_sparse_only_hits_carry_their_payloads_and_vectors(db):
    col, data, _ = make(db, payloads=True)
    for dense in (data.xq[:3], None):  # fused, then sparse retrieval alone
        plain = col.search(dense, k=5, sparse_query=list(queries(7, 3)))
        full = col.search(dense, k=5, sparse_query=list(queries(7, 3)), with_payloads=True, with_vectors=True)
        np.testing.assert_array_equal(full.ids, plain.ids)
        for row in range(3):
            got = [int(i) for i in full.ids[row] if i >= 0]
            assert got, "the hybrid search found nothing to compare"
            stored = col.get(got)
            assert full.payloads[row][: len(got)] == stored.payloads
            np.testing.assert_array_equal(full.vectors[row][: len(got)], stored.vectors)
