"""Recall floors against exact search, and proof that the rerank does work."""
import numpy as np
import pytest

from vecstore import BinaryQuantization

from synthetic import clustered, recall_at_k


@pytest.fixture(scope="module")
def data():
    return clustered(20_000, 128, nq=200, n_clusters=200, seed=7)


@pytest.fixture
def loaded(db, data):
    col = db.create_collection("docs", dim=128, quantization=BinaryQuantization(train_size=2000))
    for lo in range(0, len(data.ids), 5000):
        col.upsert(data.ids[lo : lo + 5000], data.xb[lo : lo + 5000])
    return col


def test_binary_default_recall_floor(loaded, data):
    truth = data.ground_truth(10)
    res = loaded.search(data.xq, k=10)
    assert recall_at_k(res.ids, truth, 10) >= 0.95


def test_oversampling_one_is_measurably_worse(loaded, data):
    truth = data.ground_truth(10)
    default = recall_at_k(loaded.search(data.xq, k=10).ids, truth, 10)
    one = recall_at_k(loaded.search(data.xq, k=10, oversampling=1).ids, truth, 10)
    coarse = recall_at_k(loaded.search(data.xq, k=10, rescore=False).ids, truth, 10)
    assert one < default - 0.1, (one, default)
    assert coarse < default - 0.1, (coarse, default)


def test_recall_grows_with_oversampling(loaded, data):
    truth = data.ground_truth(10)
    recalls = [recall_at_k(loaded.search(data.xq, k=10, oversampling=o).ids, truth, 10) for o in (1, 4, 16, 64)]
    assert recalls == sorted(recalls) and recalls[-1] > recalls[0]


def test_exact_kind_matches_faiss(db, data):
    col = db.create_collection("exact", dim=128, metric="l2", quantization="none")
    col.upsert(data.ids, data.xb)
    truth = data.ground_truth(10, metric="l2")
    assert recall_at_k(col.search(data.xq, k=10).ids, truth, 10) >= 0.999


@pytest.mark.parametrize("scoring", ["asymmetric", "hamming"])
def test_both_scorings_reach_the_floor_with_enough_candidates(db, data, scoring):
    col = db.create_collection("s", dim=128, quantization=BinaryQuantization(train_size=2000, scoring=scoring))
    col.upsert(data.ids, data.xb)
    truth = data.ground_truth(10)
    assert recall_at_k(col.search(data.xq, k=10, oversampling=16).ids, truth, 10) >= 0.95


def test_asymmetric_scoring_ranks_better_than_hamming(db, data):
    """At equal candidates, scoring codes against a 4-bit query beats its sign bits."""
    truth = data.ground_truth(10)
    recalls = {}
    for scoring in ("asymmetric", "hamming"):
        col = db.create_collection(scoring, dim=128, quantization=BinaryQuantization(train_size=2000, scoring=scoring))
        col.upsert(data.ids, data.xb)
        recalls[scoring] = recall_at_k(col.search(data.xq, k=10, oversampling=3).ids, truth, 10)
    assert recalls["asymmetric"] > recalls["hamming"] + 0.03, recalls
