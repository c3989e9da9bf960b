"""A single query reranks through its own path (candidate ids, then rows
scored where they lie, float16 widened in the loop); batches take the general
one. Both must give the same answer, and the single path must leave out a
candidate deleted between the scan and the reads."""
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, IVFConfig

from synthetic import clustered


@pytest.fixture(scope="module")
def data():
    return clustered(3000, 48, nq=20, n_clusters=12, seed=61)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("ivf", [False, True])
def test_single_queries_match_the_batch(tmp_path, data, metric, dtype, ivf):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=48, metric=metric, vector_dtype=dtype,
                               quantization=BinaryQuantization(train_size=500, margin=1.5),
                               ivf=IVFConfig(nlist=16, nprobe=4, train_size=1000) if ivf else None)
    col.upsert(data.ids, data.xb)
    batch = col.search(data.xq, k=7, oversampling=4)
    for i, q in enumerate(data.xq):
        one = col.search(q, k=7, oversampling=4)
        np.testing.assert_array_equal(one.ids[0], batch.ids[i])
        np.testing.assert_allclose(one.scores[0], batch.scores[i], rtol=1e-5, atol=1e-6)
    db.close()


def test_a_candidate_gone_before_the_reads_is_left_out(tmp_path, data):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=48, quantization=BinaryQuantization(train_size=500))
    col.upsert(data.ids, data.xb)
    q = data.xq[3]
    before = col.search(q, k=5, oversampling=4)
    gone = int(before.ids[0, 0])
    inner = col._vectors.get

    def get(keys):  # as if `gone` were deleted after the scan chose it
        raw, found = inner(keys)
        assert found is None
        row = len(raw) // len(keys)
        at = keys.index(int(gone).to_bytes(8, "big"))
        mask = np.ones(len(keys), bool)
        mask[at] = False
        return raw[: at * row] + raw[(at + 1) * row :], mask

    col._vectors.get = get
    after = col.search(q, k=5, oversampling=4)
    assert gone not in after.ids[0]
    np.testing.assert_array_equal(after.ids[0, :4], before.ids[0, 1:])
    np.testing.assert_allclose(after.scores[0, :4], before.scores[0, 1:], rtol=1e-6)
    db.close()
