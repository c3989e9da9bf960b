"""Jitted rerank / exact-score kernels vs the plain-numpy references."""
import os
import sys

import numpy as np
import pytest

try:
    import native  # noqa: F401
except ImportError:  # plain source checkout without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from native import exact_scores, rerank_topk
from native.reference import exact_scores_ref, rerank_topk_ref

METRICS = ("dot", "l2", "cosine")
EXACT_METRICS = ("dot", "l2")  # integer inputs sum exactly; cosine divides


def readonly(a):
    r = np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)
    assert not r.flags.writeable
    return r


def int_data(rng, nq, m, d):
    """Small-integer vectors: every score is an exactly representable integer, so float32
    kernels and the float64 reference agree bit for bit and ties are frequent."""
    xq = rng.integers(-2, 3, size=(nq, d)).astype(np.float32)
    vecs = rng.integers(-2, 3, size=(m, d)).astype(np.float32)
    return xq, vecs


def check_exact(xq, vecs, cand, k, metric):
    s, r = rerank_topk(xq, vecs, cand, k, metric)
    rs, rr = rerank_topk_ref(xq, vecs, cand, k, metric)
    assert s.dtype == np.float32 and r.dtype == np.int64 and s.shape == r.shape == (cand.shape[0], k)
    np.testing.assert_array_equal(r, rr)
    np.testing.assert_array_equal(s, rs)
    return s, r


@pytest.mark.parametrize("metric", EXACT_METRICS)
@pytest.mark.parametrize("nq", [1, 64])
@pytest.mark.parametrize("d", [1, 7, 100, 384])
def test_rerank_integer_data_exact_with_ties(metric, nq, d):
    rng = np.random.default_rng(d * 10 + nq)
    m, c = 400, 120
    xq, vecs = int_data(rng, nq, m, d)
    cand = rng.integers(-1, m, size=(nq, c))  # includes -1 and duplicates
    for k in (1, 10, 200):  # 200 > number of distinct candidates
        s, r = check_exact(xq, vecs, cand, k, metric)
        for q in range(nq):
            valid = r[q][r[q] >= 0]
            assert len(set(valid)) == valid.size  # duplicates counted once
            assert set(valid) <= set(cand[q][cand[q] >= 0])
            assert valid.size == min(k, np.unique(cand[q][cand[q] >= 0]).size)
            # best first: dot descending, l2 ascending; ties by increasing row
            sv = s[q, : valid.size].astype(np.float64)
            key = sv if metric == "l2" else -sv
            assert np.all((np.diff(key) > 0) | ((np.diff(key) == 0) & (np.diff(valid) > 0)))


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_all_tied(metric):
    # Identical vectors: every score ties, so rows must come out in increasing order.
    vecs = np.ones((50, 16), np.float32)
    xq = np.ones((3, 16), np.float32)
    cand = np.array([[49, 3, 3, 17, -1, 0, 8], [-1] * 7, [5, 5, 5, 5, 5, 5, 5]], np.int64)
    s, r = check_exact(xq, vecs, cand, 4, metric)
    np.testing.assert_array_equal(r[0], [0, 3, 8, 17])
    np.testing.assert_array_equal(r[1], [-1, -1, -1, -1])
    np.testing.assert_array_equal(r[2], [5, -1, -1, -1])
    pad = np.inf if metric == "l2" else -np.inf
    assert (s[1] == pad).all() and (s[2, 1:] == pad).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("nq", [1, 64])
def test_rerank_random_float_data(metric, nq):
    rng = np.random.default_rng(99 + nq)
    m, d, c, k = 3000, 384, 300, 50
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    vecs = rng.standard_normal((m, d)).astype(np.float32)
    cand = rng.integers(-1, m, size=(nq, c))
    s, r = rerank_topk(xq, vecs, cand, k, metric)
    rs, rr = rerank_topk_ref(xq, vecs, cand, k, metric)
    np.testing.assert_allclose(s, rs, rtol=2e-5, atol=2e-4)
    # Rows may only differ where the reference scores are within rounding of each other.
    for q in range(nq):
        for t in np.flatnonzero(r[q] != rr[q]):
            assert abs(float(rs[q, t]) - float(s[q, t])) < 1e-3
    # The scores reported are the true scores of the rows reported.
    full = exact_scores_ref(xq, vecs, metric)
    np.testing.assert_allclose(np.take_along_axis(full, r, axis=1), s, rtol=2e-5, atol=2e-4)


@pytest.mark.parametrize("metric", EXACT_METRICS)
def test_rerank_readonly_inputs_and_nan(metric):
    rng = np.random.default_rng(4)
    xq, vecs = int_data(rng, 5, 60, 33)
    vecs[7] = np.nan  # NaN scores are dropped like missing candidates
    cand = rng.integers(-1, 60, size=(5, 40))
    cand[:, 0] = 7
    s0, r0 = check_exact(xq, vecs, cand, 12, metric)
    assert not (r0 == 7).any()
    s1, r1 = rerank_topk(readonly(xq), readonly(vecs), readonly(cand), 12, metric)
    np.testing.assert_array_equal(r0, r1)
    np.testing.assert_array_equal(s0, s1)


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_empty(metric):
    xq = np.ones((2, 4), np.float32)
    vecs = np.zeros((0, 4), np.float32)
    s, r = check_exact(xq, vecs, np.full((2, 3), -1, np.int64), 2, metric)
    assert (r == -1).all()
    s, r = check_exact(xq, vecs, np.zeros((2, 0), np.int64), 2, metric)
    assert (r == -1).all()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("d", [1, 100, 384])
def test_exact_scores(metric, d):
    rng = np.random.default_rng(d)
    xq = rng.standard_normal((7, d)).astype(np.float32)
    vecs = rng.standard_normal((300, d)).astype(np.float32)
    out = exact_scores(xq, vecs, metric)
    assert out.dtype == np.float32 and out.shape == (7, 300)
    np.testing.assert_allclose(out, exact_scores_ref(xq, vecs, metric), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(exact_scores(readonly(xq), readonly(vecs), metric), out)
    xi, vi = int_data(rng, 3, 50, d)
    if metric in EXACT_METRICS:
        np.testing.assert_array_equal(exact_scores(xi, vi, metric), exact_scores_ref(xi, vi, metric))
    if metric == "l2":
        assert (out >= 0).all()


def test_validation_errors():
    xq = np.zeros((2, 4), np.float32)
    vecs = np.zeros((5, 4), np.float32)
    cand = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="metric"):
        rerank_topk(xq, vecs, cand, 1, "hamming")
    with pytest.raises(ValueError, match="metric"):
        exact_scores(xq, vecs, "ip")
    with pytest.raises(ValueError, match="k must be >= 1"):
        rerank_topk(xq, vecs, cand, 0, "dot")
    with pytest.raises(TypeError, match="float32"):
        rerank_topk(xq.astype(np.float64), vecs, cand, 1, "dot")
    with pytest.raises(TypeError, match="int64"):
        rerank_topk(xq, vecs, cand.astype(np.int32), 1, "dot")
    with pytest.raises(ValueError, match="dimension"):
        rerank_topk(xq, vecs[:, :3].copy(), cand, 1, "dot")
    with pytest.raises(ValueError, match="only 5 rows"):
        rerank_topk(xq, vecs, cand + 5, 1, "l2")
    with pytest.raises(ValueError, match=">= 0"):
        rerank_topk(xq, vecs, cand - 2, 1, "l2")
    with pytest.raises(ValueError, match="shape"):
        rerank_topk(xq, vecs, cand[:1], 1, "l2")


def test_cosine_divides_by_the_stored_norm_and_drops_zero_rows():
    rng = np.random.default_rng(8)
    xq = rng.standard_normal((4, 33)).astype(np.float32)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    vecs = (rng.standard_normal((60, 33)) * rng.uniform(0.1, 10, (60, 1))).astype(np.float32)
    vecs[7] = 0  # cosine is undefined for a zero row: dropped like a missing candidate
    cand = rng.integers(-1, 60, size=(4, 40))
    cand[:, 0] = 7
    s, r = rerank_topk(readonly(xq), readonly(vecs), readonly(cand), 10, "cosine")
    rs, rr = rerank_topk_ref(xq, vecs, cand, 10, "cosine")
    np.testing.assert_array_equal(r, rr)
    np.testing.assert_allclose(s, rs, rtol=1e-5)
    assert not (r == 7).any()
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    unit = np.where(norms > 0, vecs / np.where(norms > 0, norms, 1), np.nan).astype(np.float32)
    np.testing.assert_allclose(s, rerank_topk(xq, unit, cand, 10, "dot")[0], rtol=1e-5)


@pytest.mark.parametrize("metric", EXACT_METRICS)
@pytest.mark.parametrize("nq", [1, 9])
def test_rerank_ids_is_rerank_topk_by_id(metric, nq):
    """Ids map to rows through `found`; ids not found (deleted) are skipped."""
    from native import rerank_ids

    rng = np.random.default_rng(40 + nq)
    m, c, d = 300, 80, 16
    xq, vecs = int_data(rng, nq, m, d)
    found = np.sort(rng.choice(10_000, m, replace=False)).astype(np.int64)
    gone = rng.choice(np.setdiff1d(np.arange(10_000), found), 20, replace=False)
    cand_rows = rng.integers(-1, m, size=(nq, c))
    cand_ids = np.where(cand_rows >= 0, found[np.maximum(cand_rows, 0)], -1)
    cand_ids[:, :10] = gone[:10]  # absent ids: skipped, as if deleted
    for k in (1, 10, 100):
        s, ids = rerank_ids(xq, vecs, found, cand_ids, k, metric)
        want_s, want_r = rerank_topk_ref(xq, vecs, np.where(np.isin(cand_ids, found), cand_rows, -1), k, metric)
        np.testing.assert_array_equal(ids, np.where(want_r >= 0, found[np.maximum(want_r, 0)], -1))
        np.testing.assert_array_equal(s, want_s)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("half", [False, True])
def test_rerank_rows_matches_the_reference(metric, half):
    """One query over every row, float32 rows or float16 bit patterns widened in the loop."""
    from native import rerank_rows
    from native.reference import rerank_rows_ref

    rng = np.random.default_rng(11)
    for m, k in ((40, 10), (7, 10), (1, 1)):
        q = rng.standard_normal(24).astype(np.float32)
        q /= np.linalg.norm(q)
        x = rng.standard_normal((m, 24)).astype(np.float16 if half else np.float32)
        rows = x.view(np.uint16) if half else x
        ids = np.sort(rng.choice(10_000, m, replace=False)).astype(np.int64)
        s, got = rerank_rows(q, rows, ids, k, metric)
        rs, want = rerank_rows_ref(q, rows, ids, k, metric)
        assert s.dtype == np.float32 and got.dtype == np.int64 and got.shape == s.shape == (k,)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_allclose(s, rs, rtol=1e-5, atol=1e-6)
        assert (got[m:] == -1).all() and (s[m:] == (np.inf if metric == "l2" else -np.inf)).all()


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_rows_ties_go_to_the_smaller_id_and_nan_rows_drop(metric):
    from native import rerank_rows

    xq, vecs = int_data(np.random.default_rng(12), 1, 30, 8)
    vecs[5] = vecs[20] = vecs[3]  # three equal rows: equal scores
    vecs[7] = 0  # cosine: a zero row scores NaN and is dropped
    ids = np.arange(30, dtype=np.int64) * 10
    s, got = rerank_rows(xq[0] / np.linalg.norm(xq[0]) if metric == "cosine" else xq[0], vecs, ids, 30, metric)
    pos = {int(i): j for j, i in enumerate(got) if i >= 0}
    assert pos[30] < pos[50] < pos[200]
    if metric == "cosine":
        assert 70 not in pos and got[-1] == -1
    else:
        assert len(pos) == 30


def test_candidate_ids_keep_the_slots_above_the_floor_in_id_order():
    from native import candidate_ids
    from native.reference import candidate_ids_ref

    rng = np.random.default_rng(13)
    ids = rng.permutation(1000).astype(np.int64)
    slots = rng.choice(1000, 50, replace=False).astype(np.int64)
    slots[[3, 17, 40]] = -1
    scores = np.sort(rng.standard_normal(50).astype(np.float32))[::-1].copy()
    for floor in (-np.inf, float(scores[9]), float(scores[30]) - 1e-3, 10.0):
        got = candidate_ids(slots, scores, floor, ids)
        np.testing.assert_array_equal(got, candidate_ids_ref(slots, scores, floor, ids))
        assert (np.diff(got) > 0).all()
    assert len(candidate_ids(slots, scores, -np.inf, ids)) == 47
    assert len(candidate_ids(slots, scores, 10.0, ids)) == 0
