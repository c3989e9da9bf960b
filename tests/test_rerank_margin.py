"""The binary codec's rerank margin: only candidates whose estimate could still
reach the top k are read back from LMDB."""
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, IVFConfig

from bench.datasets import sentence_like
from synthetic import clustered, recall_at_k


@pytest.fixture(scope="module")
def data():
    return clustered(6000, 128, nq=60, n_clusters=24, seed=51)


@pytest.fixture(scope="module")
def gt(data):
    return data.ground_truth(10)


def collection(db, data, name, **quant):
    col = db.create_collection(name, dim=128, quantization=BinaryQuantization(train_size=1000, **quant))
    col.upsert(data.ids, data.xb)
    return col


def counting_reads(col):
    """Wrap the rerank's reader: the keys each search reads back."""
    reads = []
    inner = col._vectors.get

    def get(keys):
        reads.append(len(keys))
        return inner(keys)

    col._vectors.get = get
    return reads


def test_margin_reads_only_candidates_near_the_kth_estimate(engine_db, data):
    col = collection(engine_db, data, "m", margin=1.0, oversampling=10)
    codec = col._seg.codec
    reads = counting_reads(col)
    for q in data.xq[:20]:
        col.search(q, k=10)
        qp = col._prepare(q[None], "query")
        est = col.search(q, k=100, rescore=False)  # the scan's 100 candidates and their estimates
        margin = codec.rerank_margins(qp)[0]
        want = int((est.scores[0] >= est.scores[0, 9] - margin).sum())
        assert reads[-1] == want
        assert 10 <= want < 100  # the k-th itself always stays; far ones are dropped
        reads.clear()


def test_margin_keeps_recall_with_fewer_reads(engine_db):
    """On sentence-like vectors (bench's generator), margin 2 at oversampling 8
    reads ~40 rows per query for the recall of 60 without it; on the 128-d
    clusters above it does not pay (a flatter field of close estimates)."""
    x = sentence_like(20_060, 384, 7)
    xb, xq = x[:20_000], x[20_000:]
    truth = np.argsort(-(xq @ xb.T), axis=1)[:, :10]
    results = {}
    for name, quant in (("plain", dict(oversampling=6)), ("pruned", dict(oversampling=8, margin=2.0))):
        col = engine_db.create_collection(name, dim=384, quantization=BinaryQuantization(**quant))
        col.upsert(np.arange(len(xb)), xb)
        reads = counting_reads(col)
        ids = np.stack([col.search(q, k=10).ids[0] for q in xq])
        results[name] = (recall_at_k(ids, truth, 10), np.mean(reads))
    (r_plain, n_plain), (r_pruned, n_pruned) = results["plain"], results["pruned"]
    assert n_plain == 60
    assert n_pruned < 0.8 * n_plain  # 40.2 measured
    assert r_pruned >= r_plain - 0.015  # 0.952 against 0.953 measured


def test_margin_zero_or_hamming_reads_every_candidate(engine_db, data):
    for name, quant in (("off", dict(margin=0.0)), ("ham", dict(margin=2.0, scoring="hamming"))):
        col = collection(engine_db, data, name, oversampling=5, **quant)
        reads = counting_reads(col)
        col.search(data.xq[:3], k=10)
        assert reads == [150]  # one grouped read for the batch: 3 x 50 distinct candidates at most
        assert col._seg.codec.rerank_margins(col._prepare(data.xq[:3], "query")) is None


def test_margin_with_ivf_filters_and_batches(engine_db, data, gt):
    recalls = {}
    for margin in (0.0, 2.0):
        col = engine_db.create_collection(f"ivf{margin:g}", dim=128, ivf=IVFConfig(nlist=16, nprobe=4, train_size=2000),
                                          quantization=BinaryQuantization(train_size=1000, margin=margin))
        col.upsert(data.ids, data.xb, payloads=[{"even": int(i % 2 == 0)} for i in data.ids])
        batch = col.search(data.xq[:8], k=10)
        one = np.stack([col.search(q, k=10).ids[0] for q in data.xq])
        np.testing.assert_array_equal(batch.ids, one[:8])  # a batch prunes each query by its own margin
        hits = col.search(data.xq[:8], k=10, filter={"even": 1})
        assert (hits.ids >= 0).all() and (hits.ids % 2 == 0).all()
        recalls[margin] = recall_at_k(one, gt, 10)
    assert recalls[2.0] >= recalls[0.0] - 0.03


def test_error_scale_is_measured_at_fit_and_kept_across_reopen(tmp_path, data):
    from vecstore.engine.codecs.binary import BinaryCodec

    db = vecstore.open(tmp_path / "db")
    col = collection(db, data, "c", margin=1.0)
    unit = col._seg.codec.error_unit
    assert 0.2 < unit < 1.0 and unit != 0.6  # measured (0.47 here), not the fallback
    before = col.search(data.xq[:5], k=10)
    db.close()
    db = vecstore.open(tmp_path / "db")
    col = db.get_collection("c")
    assert col._seg.codec.error_unit == unit
    after = col.search(data.xq[:5], k=10)
    np.testing.assert_array_equal(before.ids, after.ids)
    db.close()
    # state written before the error was measured: the typical value
    state = {k: v for k, v in col._seg.codec.state().items() if k != "error"}
    assert BinaryCodec(col._seg.codec.config, 128, "cosine").with_state(state).error_unit == 0.6


def test_margin_per_query_overrides_the_collection(engine_db, data):
    off = collection(engine_db, data, "off", oversampling=10)
    on = collection(engine_db, data, "on", oversampling=10, margin=1.0)
    for col in (off, on):
        reads = counting_reads(col)
        col.search(data.xq[0], k=10)
        col.search(data.xq[0], k=10, margin=1.0)
        col.search(data.xq[0], k=10, margin=0)
        assert reads[1] < 100 and reads[2] == 100  # 1.0 prunes, 0 reads every candidate
        assert reads[0] == (100 if col is off else reads[1])


def test_margin_argument_checks(db):
    rng = np.random.default_rng(5)
    binary = db.create_collection("b", dim=8, quantization=BinaryQuantization(train_size=20))
    binary.upsert(np.arange(50), rng.standard_normal((50, 8)))
    assert (binary.search(np.ones(8), k=3, margin=1.5).ids >= 0).all()
    for bad in (-1, float("inf"), float("nan"), True, "2"):
        with pytest.raises(vecstore.InvalidQueryError, match="margin must be a finite number >= 0"):
            binary.search(np.ones(8), margin=bad)
    for name, quant in (("h", BinaryQuantization(scoring="hamming")), ("s", "scalar")):
        col = db.create_collection(name, dim=8, quantization=quant)
        col.upsert([1], rng.standard_normal((1, 8)))
        with pytest.raises(vecstore.InvalidQueryError, match="does not take one"):
            col.search(np.ones(8), margin=1.0)
