"""vector_dtype="float16": half the disk, reranking from float16 rows, honest `get`."""
import lmdb
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, CollectionConfig

from synthetic import clustered, recall_at_k


def test_get_returns_float32_upcast_and_says_so(db, rng):
    col = db.create_collection("half", dim=16, vector_dtype="float16", quantization="none")
    x = rng.standard_normal((20, 16)).astype(np.float32)
    col.upsert(np.arange(20), x)
    got = col.get([3, 7])
    assert got.stored_dtype == "float16"
    assert got.vectors.dtype == np.float32
    np.testing.assert_array_equal(got.vectors, x[[3, 7]].astype(np.float16).astype(np.float32))
    assert not np.array_equal(got.vectors, x[[3, 7]])  # really rounded, not kept as given
    full = db.create_collection("full", dim=16, quantization="none")
    full.upsert(np.arange(20), x)
    assert full.get([3]).stored_dtype == "float32"
    assert full.get([3]).vectors.tobytes() == x[3].tobytes()


@pytest.mark.parametrize("value", [70000.0, -1e5, 1e30])
def test_values_beyond_float16_are_rejected_whole(db, value):
    col = db.create_collection("half", dim=4, vector_dtype="float16")
    col.upsert([1], np.ones((1, 4)))
    bad = np.ones((2, 4))
    bad[1, 2] = value
    with pytest.raises(vecstore.InvalidVectorError, match="vector 1 overflows float16"):
        col.upsert([2, 3], bad)
    assert col.count() == 1 and len(col.get([2, 3])) == 0


def test_largest_float16_is_accepted(db):
    col = db.create_collection("half", dim=3, metric="dot", vector_dtype="float16", quantization="none")
    col.upsert([1], [[65504.0, -65504.0, 1.0]])
    assert col.get([1]).vectors.tolist() == [[65504.0, -65504.0, 1.0]]


def test_vector_that_rounds_to_zero_is_rejected_under_cosine(db):
    col = db.create_collection("half", dim=4, vector_dtype="float16")
    with pytest.raises(vecstore.InvalidVectorError, match="all zeros"):
        col.upsert([1], np.full((1, 4), 1e-9))
    assert col.count() == 0


def test_half_the_vector_bytes_on_disk(db, rng):
    x = rng.standard_normal((3000, 256)).astype(np.float32)
    sizes = {}
    for dtype in ("float32", "float16"):
        col = db.create_collection(dtype, dim=256, vector_dtype=dtype, quantization=BinaryQuantization(train_size=100))
        col.upsert(np.arange(3000), x)
        sizes[dtype] = col.info().disk_bytes
    assert sizes["float16"] < 0.6 * sizes["float32"], sizes


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_recall_and_scores_from_float16_rows(db, metric):
    data = clustered(4000, 64, nq=50, seed=21)
    col = db.create_collection("half", dim=64, metric=metric, vector_dtype="float16",
                               quantization=BinaryQuantization(train_size=500))
    col.upsert(data.ids, data.xb)
    res = col.search(data.xq, k=10, oversampling=40)
    assert recall_at_k(res.ids, data.ground_truth(10, metric), 10) >= 0.97
    # the rerank scores are float32 arithmetic on the stored float16 rows
    stored = col.get(res.ids[:, 0]).vectors
    q = data.xq
    if metric == "cosine":
        stored = stored / np.linalg.norm(stored, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    want = ((stored - q) ** 2).sum(1) ** 0.5 if metric == "l2" else (stored * q).sum(1)
    np.testing.assert_allclose(res.scores[:, 0], want, rtol=1e-4, atol=1e-5)


def test_float16_persists_and_rebuilds_the_same_codes(tmp_path):
    data = clustered(1500, 32, nq=20, seed=8)
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("half", dim=32, vector_dtype="float16", quantization=BinaryQuantization(train_size=200))
        col.upsert(data.ids, data.xb)
        coarse = col.search(data.xq, k=10, rescore=False)
        exact = col.search(data.xq, k=10)
        chunks = f"c{col.cid}.chunks".encode()
    env = lmdb.open(str(tmp_path / "db"), max_dbs=16)
    with env.begin(write=True) as txn:
        txn.drop(env.open_db(chunks, txn=txn), delete=False)  # force a rebuild from the float16 rows
    env.close()
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("half")
        assert col.config.vector_dtype == "float16"
        # codes encoded at upsert (from the rounded values) equal codes rebuilt from disk
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, coarse.ids)
        np.testing.assert_array_equal(col.search(data.xq, k=10).ids, exact.ids)


def test_config_round_trip_and_bad_dtype():
    cfg = CollectionConfig(name="x", dim=4, vector_dtype="float16")
    assert CollectionConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(vecstore.InvalidConfigError, match="vector_dtype"):
        CollectionConfig(name="x", dim=4, vector_dtype="bfloat16")
