"""Search answers with the hits' payloads and vectors (with_payloads /
with_vectors), and search_by_id: stored points as the queries, each left out
of its own hits. Embedded and over gRPC (sync and async clients)."""
import asyncio

import numpy as np
import pytest

import vecstore
from vecstore import (BinaryQuantization, IVFConfig, ProductQuantization, ResidualBinaryQuantization,
                      ScalarQuantization, SparseQuantization)
from vecstore.engine import hit_data

from conftest import serving
from synthetic import clustered
from test_grpc_limits import LIMIT, small  # noqa: F401 - the fixture

N, DIM = 700, 32
KINDS = {
    "binary": dict(quantization=BinaryQuantization(train_size=200)),
    "residual": dict(metric="dot", quantization=ResidualBinaryQuantization(train_size=200)),
    "pq": dict(metric="l2", quantization=ProductQuantization(m=8, nbits=4, train_size=300)),
    "scalar": dict(metric="dot", quantization=ScalarQuantization(train_size=200)),
    "none": dict(quantization="none"),
    "sparse": dict(quantization=SparseQuantization(expansion_dim=512, active=16, train_size=200)),
    "user_sparse": dict(metric="dot", quantization=SparseQuantization(user_codes=True, weighted=True, expansion_dim=300)),
    "half_ivf": dict(vector_dtype="float16", quantization=BinaryQuantization(train_size=200),
                     ivf=IVFConfig(nlist=4, nprobe=2, train_size=300)),
    "in_ram": dict(quantization=BinaryQuantization(train_size=200), vectors_in_ram=True),
}


def payload_of(i):
    return {"i": int(i), "tag": ["a", "b", "c"][i % 3], "nested": {"even": i % 2 == 0}} if i % 4 else None


def codes_of(n, seed):
    rng = np.random.default_rng(seed)
    return [(rng.choice(300, 12, replace=False), rng.random(12).astype(np.float32) + 0.1) for _ in range(n)]


def build(db, kind, name="docs"):
    data = clustered(N, DIM, nq=12, seed=3)
    col = db.create_collection(name, dim=DIM, **KINDS[kind])
    sparse = codes_of(N, 1) if kind == "user_sparse" else None
    col.upsert(data.ids, data.xb, [payload_of(i) for i in range(N)], sparse=sparse)
    qsparse = codes_of(len(data.xq), 2) if sparse is not None else None
    return col, data, sparse, qsparse


def assert_hits_match_get(col, result, with_payloads=True, with_vectors=True):
    """Every hit's payload and vector is what get returns for it; padding is None / NaN."""
    nq, k = result.ids.shape
    if with_payloads:
        assert len(result.payloads) == nq and all(len(row) == k for row in result.payloads)
    else:
        assert result.payloads is None
    if with_vectors:
        assert result.vectors.shape == (nq, k, col.dim) and result.vectors.dtype == np.float32
    else:
        assert result.vectors is None
    for i in range(nq):
        for j in range(k):
            hit = int(result.ids[i, j])
            if hit < 0:
                assert np.isnan(result.scores[i, j])
                if with_payloads:
                    assert result.payloads[i][j] is None
                if with_vectors:
                    assert np.isnan(result.vectors[i, j]).all()
                continue
            stored = col.get([hit])
            assert len(stored) == 1, hit
            if with_payloads:
                assert result.payloads[i][j] == stored.payloads[0], (i, j)
            if with_vectors:
                assert result.vectors[i, j].tobytes() == stored.vectors[0].tobytes(), (i, j)


def without_own(result, ids, k):
    """What search_by_id should return, from a search of k + 1 with the stored vectors."""
    out_ids, out_scores = [], []
    for row_ids, row_scores, own in zip(result.ids, result.scores, ids):
        keep = row_ids != own
        if keep.all():
            keep[-1] = False
        out_ids.append(row_ids[keep][:k])
        out_scores.append(row_scores[keep][:k])
    return np.array(out_ids), np.array(out_scores)


@pytest.mark.parametrize("kind", list(KINDS))
def test_hits_carry_what_get_returns_and_search_by_id_is_search_minus_self(db, kind):
    col, data, sparse, qsparse = build(db, kind)
    plain = col.search(data.xq, k=10, sparse_queries=qsparse)
    assert plain.payloads is None and plain.vectors is None
    full = col.search(data.xq, k=10, sparse_queries=qsparse, with_payloads=True, with_vectors=True)
    np.testing.assert_array_equal(full.ids, plain.ids)
    np.testing.assert_array_equal(full.scores, plain.scores)
    assert (full.ids >= 0).all()
    assert_hits_match_get(col, full)

    ids = data.ids[[5, 77, 300, 301, 699]]
    by_id = col.search_by_id(ids, k=6, with_payloads=True, with_vectors=True)
    assert by_id.ids.shape == (5, 6)
    assert not (by_id.ids == ids[:, None]).any()  # never its own point
    stored = col.get(ids)
    reference = col.search(stored.vectors, k=7, sparse_queries=None if sparse is None else [sparse[i] for i in [5, 77, 300, 301, 699]])
    ref_ids, ref_scores = without_own(reference, ids, 6)
    np.testing.assert_array_equal(by_id.ids, ref_ids)
    np.testing.assert_allclose(by_id.scores, ref_scores, rtol=1e-6, atol=1e-6)
    assert_hits_match_get(col, by_id)


def test_payloads_alone_or_vectors_alone(db):
    col, data, _, _ = build(db, "binary")
    only_payloads = col.search(data.xq[:3], k=4, with_payloads=True)
    assert_hits_match_get(col, only_payloads, with_vectors=False)
    only_vectors = col.search(data.xq[:3], k=4, with_vectors=True)
    assert_hits_match_get(col, only_vectors, with_payloads=False)
    one = col.search(data.xq[0], k=4, with_payloads=True, with_vectors=True)  # a single (dim,) query
    assert one.vectors.shape == (1, 4, DIM) and len(one.payloads) == 1
    assert_hits_match_get(col, one)
    bare = col.search_by_id(data.ids[0], k=4)
    assert bare.payloads is None and bare.vectors is None and bare.ids.shape == (1, 4)


def test_padding_when_fewer_points_than_k(db):
    rng = np.random.default_rng(8)
    col = db.create_collection("tiny", dim=8, quantization="none")
    x = rng.standard_normal((4, 8)).astype(np.float32)
    col.upsert([10, 11, 12, 13], x, [{"n": 0}, None, {"n": 2}, {"n": 3}])
    res = col.search(x[:2], k=7, with_payloads=True, with_vectors=True)
    assert (res.ids[:, 4:] == -1).all() and (res.ids[:, :4] >= 0).all()
    assert_hits_match_get(col, res)
    by_id = col.search_by_id([12], k=5, with_payloads=True, with_vectors=True)
    assert sorted(by_id.ids[0, :3].tolist()) == [10, 11, 13] and (by_id.ids[0, 3:] == -1).all()
    assert_hits_match_get(col, by_id)


def test_filters_and_batches(db):
    col, data, _, _ = build(db, "binary")
    flt = {"tag": {"$in": ["a", "c"]}, "nested.even": True}
    res = col.search(data.xq, k=8, filter=flt, with_payloads=True, with_vectors=True)
    assert (res.ids >= 0).all()
    for row in res.payloads:
        assert all(p["tag"] in ("a", "c") and p["nested"]["even"] for p in row)
    assert_hits_match_get(col, res)
    # a selective filter: scored exactly, fewer matches than k, padded
    few = col.search(data.xq[:2], k=10, filter={"i": {"$lt": 8}}, with_payloads=True, with_vectors=True)
    matching = sum(payload_of(i) is not None for i in range(8))
    assert ((few.ids >= 0).sum(axis=1) == matching).all()
    assert_hits_match_get(col, few)
    # search_by_id: its own point matches the filter too and is still left out
    ids = data.ids[[4, 8, 16]]
    by_id = col.search_by_id(ids, k=5, filter=flt, with_payloads=True)
    assert not (by_id.ids == ids[:, None]).any()
    assert all(p["tag"] in ("a", "c") and p["nested"]["even"] for row in by_id.payloads for p in row)
    assert_hits_match_get(col, by_id, with_vectors=False)


def test_search_by_id_batches_repeats_and_overrides(db):
    col, data, _, _ = build(db, "binary")
    ids = np.array([data.ids[3], data.ids[9], data.ids[3]])
    res = col.search_by_id(ids, k=5, oversampling=6, with_vectors=True)
    np.testing.assert_array_equal(res.ids[0], res.ids[2])  # a repeated id is its own query again
    ref_ids, _ = without_own(col.search(col.get(ids).vectors, k=6, oversampling=6), ids, 5)
    np.testing.assert_array_equal(res.ids, ref_ids)
    coarse = col.search_by_id(ids[:2], k=5, rescore=False)
    ref_ids, _ = without_own(col.search(col.get(ids[:2]).vectors, k=6, rescore=False), ids[:2], 5)
    np.testing.assert_array_equal(coarse.ids, ref_ids)


def test_search_by_id_errors(db):
    col, data, _, _ = build(db, "none")
    with pytest.raises(vecstore.PointNotFoundError) as info:
        col.search_by_id([int(data.ids[0]), 10**12], k=3)
    assert isinstance(info.value, vecstore.NotFoundError) and "1000000000000" in str(info.value)
    assert info.value.code == "POINT_NOT_FOUND" and info.value.status == "NOT_FOUND"
    with pytest.raises(vecstore.EmptyBatchError):
        col.search_by_id([], k=3)
    with pytest.raises(vecstore.InvalidIdError):
        col.search_by_id([-1], k=3)
    with pytest.raises(vecstore.InvalidQueryError):
        col.search_by_id([int(data.ids[0])], k=0)
    with pytest.raises(vecstore.InvalidQueryError):
        col.search_by_id([int(data.ids[0])], k=vecstore.api.validate.MAX_K)
    with pytest.raises(vecstore.InvalidFilterError):
        col.search_by_id([10**12], k=3, filter={"i": {"$bad": 1}})  # arguments are checked before ids are looked up
    with pytest.raises(vecstore.InvalidQueryError):
        col.search_by_id([10**12], k=3, oversampling=0.5)
    col.delete(data.ids[:1])
    with pytest.raises(vecstore.PointNotFoundError):
        col.search_by_id(data.ids[:1], k=3)


def test_hit_deleted_before_its_data_is_read_is_dropped(engine_db):
    """The rerank found it, a delete removed it before the read: the row closes up."""
    col, data, _, _ = build(engine_db, "binary")
    res = col.search(data.xq[:3], k=5)
    gone = int(res.ids[1, 2])
    col.delete([gone])
    out = hit_data.attach(col, res, True, True)
    assert gone not in out.ids
    for i in range(3):
        kept = [h for h in res.ids[i].tolist() if h != gone]
        assert out.ids[i, : len(kept)].tolist() == kept
        assert (out.ids[i, len(kept):] == -1).all()
        np.testing.assert_array_equal(out.scores[i, : len(kept)], res.scores[i][res.ids[i] != gone])
    assert_hits_match_get(col, out)


def test_async_client_gives_the_sync_answers(tmp_path):
    data = clustered(N, DIM, nq=6, seed=3)
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as client:
            col = client.create_collection("docs", dim=DIM, quantization=BinaryQuantization(train_size=200))
            col.upsert(data.ids, data.xb, [payload_of(i) for i in range(N)])
            sync = col.search(data.xq, k=6, with_payloads=True, with_vectors=True)
            sync_by_id = col.search_by_id(data.ids[:4], k=6, with_payloads=True, with_vectors=True)

        async def run():
            async with vecstore.connect_async(address) as aclient:
                acol = await aclient.get_collection("docs")
                res = await acol.search(data.xq, k=6, with_payloads=True, with_vectors=True)
                by_id = await acol.search_by_id(data.ids[:4], k=6, with_payloads=True, with_vectors=True)
                with pytest.raises(vecstore.PointNotFoundError):
                    await acol.search_by_id([10**12], k=3)
                return res, by_id

        aio, aio_by_id = asyncio.run(run())
    for a, b in ((sync, aio), (sync_by_id, aio_by_id)):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.scores, b.scores)
        assert a.payloads == b.payloads
        assert a.vectors.tobytes() == b.vectors.tobytes()


def test_large_answers_are_split_under_the_message_limit(small, monkeypatch):
    _, client, _ = small
    asked = []  # queries per engine search with payloads, as the server received them
    real_search = vecstore.Collection.search

    def counting_search(self, queries, *args, **kwargs):
        if kwargs.get("with_payloads"):
            asked.append(len(np.atleast_2d(queries)))
        return real_search(self, queries, *args, **kwargs)

    monkeypatch.setattr(vecstore.Collection, "search", counting_search)
    rng = np.random.default_rng(6)
    n, dim = 1500, 64
    x = rng.standard_normal((n, dim)).astype(np.float32)
    # ~1 KiB payloads, far above the client's guess: answers must be split after the fact
    payloads = [{"i": i, "text": "w" * 1000} for i in range(n)]
    col = client.create_collection("docs", dim=dim, quantization="none")
    col.upsert(np.arange(n), x, payloads)
    queries = x[:300]  # 300 x 10 hits x (256 B of vector + 1 KiB of payload): ~30x the limit
    plain = col.search(queries, k=10)
    res = col.search(queries, k=10, with_payloads=True, with_vectors=True)
    np.testing.assert_array_equal(res.ids, plain.ids)
    # split otherwise than the plain search: exact scores of other batch shapes differ in the last bits
    np.testing.assert_allclose(res.scores, plain.scores, rtol=1e-5, atol=1e-6)
    # ~30 answers' worth: the guess sent larger parts, refused and then halved
    assert len(asked) > 30 and max(asked) > 2 * min(asked)
    for i in range(len(queries)):
        np.testing.assert_array_equal(res.vectors[i], x[res.ids[i]])
        assert res.payloads[i] == [payloads[h] for h in res.ids[i]]
    vec_only = col.search(queries, k=10, with_vectors=True)
    np.testing.assert_array_equal(vec_only.vectors, res.vectors)
    by_id = col.search_by_id(np.arange(300), k=10, with_payloads=True, with_vectors=True)
    ref_ids, _ = without_own(col.search(queries, k=11), np.arange(300), 10)
    np.testing.assert_array_equal(by_id.ids, ref_ids)
    assert by_id.payloads[7] == [payloads[h] for h in by_id.ids[7]]
    np.testing.assert_array_equal(by_id.vectors[7], x[by_id.ids[7]])
    # one query whose answer alone exceeds the limit cannot be split: a clear refusal
    with pytest.raises(vecstore.ResourceExhaustedError):
        col.search(queries[0], k=200, with_payloads=True)
