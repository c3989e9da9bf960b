"""Recall floors of the code kinds on seeded synthetic data, the rerank's
gain over the raw code ranking, and ADC against SDC at equal candidates.

Floors sit a few points under what these settings measured (in brackets), so
a real regression in a codec or kernel trips them.
"""
import numpy as np
import pytest

import vecstore
from vecstore import ProductQuantization, ResidualBinaryQuantization, ScalarQuantization

from synthetic import clustered, recall_at_k

SETTINGS = {
    # name: (config, recall@10 floor with the default rerank [measured], coarse floor [measured])
    "scalar": (ScalarQuantization(train_size=2000), 0.99, 0.94),  # [1.000, 0.978]
    "residual2_adc": (ResidualBinaryQuantization(bits=2, train_size=2000), 0.95, 0.49),  # [0.977, 0.543]
    "residual2_sdc": (ResidualBinaryQuantization(bits=2, mode="sdc", train_size=2000), 0.88, 0.44),  # [0.917, 0.489]
    "residual3_adc": (ResidualBinaryQuantization(bits=3, train_size=2000), 0.96, 0.59),  # [0.985, 0.645]
    "pq8_adc": (ProductQuantization(nbits=8, train_size=2000), 0.96, 0.33),  # [0.985, 0.382]
    "pq8_sdc": (ProductQuantization(nbits=8, mode="sdc", train_size=2000), 0.92, 0.26),  # [0.951, 0.304]
    "pq4_adc": (ProductQuantization(nbits=4, train_size=2000), 0.95, 0.34),  # [0.983, 0.393]
    "pq4_sdc": (ProductQuantization(nbits=4, mode="sdc", train_size=2000), 0.92, 0.26),  # [0.953, 0.309]
}


@pytest.fixture(scope="module")
def data():
    return clustered(10_000, 128, nq=150, n_clusters=100, seed=7)


@pytest.fixture(scope="module")
def truth(data):
    return data.ground_truth(10)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    with vecstore.open(tmp_path_factory.mktemp("recall") / "db", sync=False) as db:
        yield db


@pytest.fixture(scope="module")
def loaded(database, data):
    """Collections built on first use and shared by the tests of this module."""
    cache = {}

    def get(name):
        if name not in cache:
            col = database.create_collection(name, dim=128, quantization=SETTINGS[name][0])
            # the first 2,000 train the codec (PQ k-means stays small), the rest are encoded
            for lo, hi in ((0, 2000), (2000, 6000), (6000, 10_000)):
                col.upsert(data.ids[lo:hi], data.xb[lo:hi])
            assert col.info().trained
            cache[name] = col
        return cache[name]

    return get


def recall(col, data, truth, **kw):
    return recall_at_k(col.search(data.xq, k=10, **kw).ids, truth, 10)


@pytest.mark.parametrize("name", SETTINGS)
def test_recall_floor(loaded, data, truth, name):
    _, floor, coarse_floor = SETTINGS[name]
    col = loaded(name)
    assert recall(col, data, truth) >= floor
    assert recall(col, data, truth, rescore=False) >= coarse_floor


@pytest.mark.parametrize("name", SETTINGS)
def test_rerank_improves_on_the_code_ranking(loaded, data, truth, name):
    col = loaded(name)
    reranked = recall(col, data, truth)
    coarse = recall(col, data, truth, rescore=False)
    margin = 0.01 if name == "scalar" else 0.3  # int8 codes already rank almost exactly
    assert reranked >= coarse + margin, (reranked, coarse)
    # more candidates help, until they cover the true top 10
    assert recall(col, data, truth, oversampling=1) < reranked or reranked == 1.0


@pytest.mark.parametrize("family", ["residual2", "pq8", "pq4"])
def test_adc_ranks_better_than_sdc_at_equal_candidates(loaded, data, truth, family):
    adc, sdc = loaded(f"{family}_adc"), loaded(f"{family}_sdc")
    for kw in ({"rescore": False}, {"oversampling": 4}):
        assert recall(adc, data, truth, **kw) > recall(sdc, data, truth, **kw)


def test_code_space_scores_estimate_the_true_scores(loaded, data):
    """rescore=False scores are approximate but close for good codes."""
    col = loaded("scalar")
    coarse = col.search(data.xq[:20], k=5, rescore=False)
    exact = np.einsum("qd,qkd->qk", data.xq[:20], col.get(coarse.ids.ravel()).vectors.reshape(20, 5, 128))
    np.testing.assert_allclose(coarse.scores, exact, atol=0.02)
