"""The code kinds survive a reopen: same answers, codes loaded rather than
re-encoded, learned parameters restored; deletes and optimize() behave."""
import numpy as np
import pytest

import vecstore
from vecstore import ProductQuantization, ResidualBinaryQuantization, ScalarQuantization
from vecstore.engine.codecs import CODECS

from synthetic import clustered

CASES = [
    ("cosine", ScalarQuantization(train_size=300)),
    ("l2", ScalarQuantization(train_size=300)),
    ("cosine", ResidualBinaryQuantization(bits=2, train_size=300)),
    ("dot", ResidualBinaryQuantization(bits=3, mode="sdc", train_size=300)),
    ("l2", ResidualBinaryQuantization(bits=4, train_size=300)),
    ("cosine", ProductQuantization(m=8, nbits=8, train_size=300)),
    ("l2", ProductQuantization(m=9, nbits=4, mode="sdc", train_size=300)),
]


@pytest.mark.parametrize("metric,config", CASES, ids=[f"{m}-{c.kind}-{getattr(c, 'mode', '')}" for m, c in CASES])
def test_reopen_gives_identical_results_without_reencoding(tmp_path, monkeypatch, metric, config):
    data = clustered(1200, 36, nq=20, n_clusters=10, seed=5)
    xb = data.xb * 1.7
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=36, metric=metric, quantization=config)
        col.upsert(data.ids[:200], xb[:200])
        assert not col.info().trained  # below train_size: answered exactly
        exact_small = col.search(xb[:3], k=1)
        assert exact_small.ids[:, 0].tolist() == data.ids[:3].tolist()
        col.upsert(data.ids[200:], xb[200:])
        assert col.info().trained
        col.delete(data.ids[:50])
        before = col.search(data.xq, k=10)
        before_coarse = col.search(data.xq, k=10, rescore=False)
        info = col.info()
    assert not np.isin(before.ids, data.ids[:50]).any()

    codec_cls = CODECS[config.kind]
    monkeypatch.setattr(codec_cls, "encode", lambda self, x: (_ for _ in ()).throw(AssertionError("re-encoded on open")))
    monkeypatch.setattr(codec_cls, "fit", lambda self, x: (_ for _ in ()).throw(AssertionError("retrained on open")))
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("docs")
        assert col.config == info.config and col.info().trained
        assert col.info().ram_bytes == info.ram_bytes
        after_coarse = col.search(data.xq, k=10, rescore=False)
        np.testing.assert_array_equal(after_coarse.ids, before_coarse.ids)
        np.testing.assert_array_equal(after_coarse.scores, before_coarse.scores)
        if config.kind == "pq" and config.mode == "sdc" or config.kind == "residual_binary" and config.mode == "sdc":
            monkeypatch.undo()  # sdc codes each query with the codec: allowed now
        after = col.search(data.xq, k=10)
        np.testing.assert_array_equal(after.ids, before.ids)
        np.testing.assert_array_equal(after.scores, before.scores)


@pytest.mark.parametrize("config", [ScalarQuantization(train_size=100), ResidualBinaryQuantization(train_size=100),
                                    ProductQuantization(m=4, nbits=4, train_size=100)], ids=lambda c: c.kind)
def test_optimize_retrains_and_reencodes(tmp_path, rng, config):
    # embedded only: it compares the codec's learned state, which only the engine shows
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=16, metric="l2", quantization=config)
        x = rng.standard_normal((150, 16)).astype(np.float32)
        col.upsert(np.arange(150), x)
        first = col._seg.codec.state()
        shifted = rng.standard_normal((400, 16)).astype(np.float32) * 3 + 5  # new data, new ranges
        col.upsert(np.arange(150, 550), shifted)
        col.optimize()
        second = col._seg.codec.state()
        assert any(not np.array_equal(first[k], second[k]) for k in first)
        res = col.search(shifted[:10], k=1, oversampling=30)
        assert res.ids[:, 0].tolist() == list(range(150, 160))
