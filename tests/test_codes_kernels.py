"""The pq, residual and scalar scan kernels agree with their numpy references.

Two kinds of inputs: small integers, where every float sum is exact and the
results must be identical (including the tie-break by row, since such inputs
tie a lot), and random floats, where scores must agree to float32 rounding and
every returned row must carry the score the reference gives it.
"""
import numpy as np
import pytest

import native.reference_codes as R
from native.pq import pair_tables, pq4_adc_topk, pq_adc_topk, pq_sdc_topk
from native.residual import residual_adc_topk, residual_sdc_topk
from native.scalar import scalar_topk


def read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False
    return arrays


def alive_mask(rng, n, kind):
    if kind == "none":
        return None
    if kind == "all_dead":
        return np.zeros(n, np.uint8)
    return (rng.random(n) > 0.3).astype(np.uint8)


def assert_exact(got, want):
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])


def assert_close(got, want, full, rtol=1e-5, atol=1e-4):
    """Best-first scores agree; each returned row carries its reference score
    (near-ties may order differently under float32 rounding)."""
    got_s, got_r = got
    want_s, want_r = want
    np.testing.assert_array_equal(got_r >= 0, want_r >= 0)
    np.testing.assert_allclose(got_s, want_s, rtol=rtol, atol=atol)
    full_s, full_r = full
    for q in range(len(got_r)):
        by_row = dict(zip(full_r[q].tolist(), full_s[q].tolist()))
        rows = got_r[q][got_r[q] >= 0]
        assert len(set(rows.tolist())) == len(rows)
        np.testing.assert_allclose(got_s[q][: len(rows)], [by_row[r] for r in rows], rtol=rtol, atol=atol)


CASES = [(0, 300, 3, 7, "none"), (1, 1000, 5, 25, "some"), (2, 40, 2, 64, "some"), (3, 50, 2, 5, "all_dead"), (4, 0, 2, 3, "none"), (5, 257, 1, 1, "some")]


@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_pq_adc_8bit(seed, n, nq, k, alive_kind):
    rng = np.random.default_rng(seed)
    m = 6
    codes = rng.integers(0, 256, (n, m), dtype=np.uint8)
    alive = alive_mask(rng, n, alive_kind)
    small = rng.integers(-3, 4, (nq, m, 256)).astype(np.float32)
    read_only(codes, small)
    assert_exact(pq_adc_topk(codes, small, k, alive), R.pq_adc_topk_ref(codes, small, k, alive))
    tables = rng.standard_normal((nq, m, 256)).astype(np.float32)
    assert_close(pq_adc_topk(codes, tables, k, alive), R.pq_adc_topk_ref(codes, tables, k, alive),
                 R.pq_adc_topk_ref(codes, tables, max(n, 1)))


@pytest.mark.parametrize("m", [1, 7, 8])
@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_pq_adc_4bit(seed, n, nq, k, alive_kind, m):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 256, (n, (m + 1) // 2), dtype=np.uint8)
    if m % 2:
        codes[:, -1] &= 15  # the padding nibble of odd m is zero
    alive = alive_mask(rng, n, alive_kind)
    small = rng.integers(-3, 4, (nq, m, 16)).astype(np.float32)
    read_only(codes, small)
    assert_exact(pq4_adc_topk(codes, small, k, alive), R.pq4_adc_topk_ref(codes, small, k, alive))
    tables = rng.standard_normal((nq, m, 16)).astype(np.float32)
    assert_close(pq4_adc_topk(codes, tables, k, alive), R.pq4_adc_topk_ref(codes, tables, k, alive),
                 R.pq4_adc_topk_ref(codes, tables, max(n, 1)))


def test_pair_tables_by_hand():
    t = np.arange(3 * 16, dtype=np.float32).reshape(1, 3, 16)
    p = pair_tables(t)
    assert p.shape == (1, 2, 256)
    assert p[0, 0, 0x21] == t[0, 0, 1] + t[0, 1, 2]
    assert p[0, 1, 0x35] == t[0, 2, 5]  # no fourth sub-quantizer: the high nibble adds nothing


@pytest.mark.parametrize("ks", [16, 256])
@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_pq_sdc(seed, n, nq, k, alive_kind, ks):
    rng = np.random.default_rng(seed)
    m = 5
    width = m if ks == 256 else (m + 1) // 2
    codes = rng.integers(0, 256, (n, width), dtype=np.uint8)
    if ks == 16:
        codes[:, -1] &= 15
    qcodes = rng.integers(0, ks, (nq, m), dtype=np.uint8)
    alive = alive_mask(rng, n, alive_kind)
    small = rng.integers(-4, 5, (m, ks, ks)).astype(np.float32)
    read_only(codes, qcodes, small)
    assert_exact(pq_sdc_topk(codes, qcodes, small, k, alive), R.pq_sdc_topk_ref(codes, qcodes, small, k, alive))
    sdc = rng.standard_normal((m, ks, ks)).astype(np.float32)
    assert_close(pq_sdc_topk(codes, qcodes, sdc, k, alive), R.pq_sdc_topk_ref(codes, qcodes, sdc, k, alive),
                 R.pq_sdc_topk_ref(codes, qcodes, sdc, max(n, 1)))


def residual_inputs(rng, n, nq, levels, w, n_planes, integer):
    words = rng.integers(0, 2**63, (n, levels * w + 1), dtype=np.uint64) * np.uint64(2)  # extra trailing word
    words ^= rng.integers(0, 2, words.shape, dtype=np.uint64)
    planes = rng.integers(0, 2**63, (nq, n_planes, w), dtype=np.uint64)
    if integer:
        coef_pop = rng.integers(-3, 4, (nq, levels)).astype(np.float32)
        coef_plane = rng.integers(-3, 4, (nq, levels)).astype(np.float32)
        const = rng.integers(-50, 50, nq).astype(np.float32)
        extra = rng.integers(-20, 20, (n, 4)).astype(np.float32)[:, 1:3]  # a strided view, as the codec passes
    else:
        coef_pop = rng.standard_normal((nq, levels)).astype(np.float32)
        coef_plane = rng.standard_normal((nq, levels)).astype(np.float32)
        const = rng.standard_normal(nq).astype(np.float32)
        extra = rng.standard_normal((n, 4)).astype(np.float32)[:, 1:3]
    return words, planes, coef_pop, coef_plane, const, extra


@pytest.mark.parametrize("levels,w,n_planes", [(2, 1, 4), (3, 2, 1), (4, 6, 8)])
@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_residual_adc(seed, n, nq, k, alive_kind, levels, w, n_planes):
    rng = np.random.default_rng(seed)
    alive = alive_mask(rng, n, alive_kind)
    for integer in (True, False):
        words, planes, coef_pop, coef_plane, const, extra = residual_inputs(rng, n, nq, levels, w, n_planes, integer)
        read_only(words, planes)
        for ex, ew in ((None, (0, 0)), (extra, (1.0, -2.0))):
            args = (words, levels, planes, coef_pop, coef_plane, const)
            got = residual_adc_topk(*args, k, alive, extra=ex, extra_w=ew)
            want = R.residual_adc_topk_ref(*args, k, alive, extra=ex, extra_w=ew)
            if integer:
                assert_exact(got, want)
            else:
                full = R.residual_adc_topk_ref(*args, max(n, 1), extra=ex, extra_w=ew)
                assert_close(got, want, full, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("levels,w,q_levels", [(2, 1, 2), (3, 2, 3), (4, 6, 2)])
@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_residual_sdc(seed, n, nq, k, alive_kind, levels, w, q_levels):
    rng = np.random.default_rng(seed)
    alive = alive_mask(rng, n, alive_kind)
    for integer in (True, False):
        words, _, _, _, const, extra = residual_inputs(rng, n, nq, levels, w, 1, integer)
        qwords = rng.integers(0, 2**63, (nq, q_levels, w), dtype=np.uint64)
        weights = (rng.integers(-3, 4, (levels, q_levels)) if integer else rng.standard_normal((levels, q_levels))).astype(np.float32)
        read_only(words, qwords, weights)
        for ex, ew in ((None, (0, 0)), (extra, (-1.0, 0.5))):
            got = residual_sdc_topk(words, qwords, weights, const, k, alive, extra=ex, extra_w=ew)
            want = R.residual_sdc_topk_ref(words, qwords, weights, const, k, alive, extra=ex, extra_w=ew)
            if integer:
                assert_exact(got, want)
            else:
                full = R.residual_sdc_topk_ref(words, qwords, weights, const, max(n, 1), extra=ex, extra_w=ew)
                assert_close(got, want, full, rtol=1e-5, atol=1e-3)


def test_residual_all_zero_and_all_one_codes():
    words = np.zeros((4, 2), np.uint64)
    words[1:3] = np.uint64(2**64 - 1)
    planes = np.full((1, 2, 1), np.uint64(2**64 - 1))
    args = (words, 2, planes, np.ones((1, 2), np.float32), np.ones((1, 2), np.float32), np.zeros(1, np.float32))
    assert_exact(residual_adc_topk(*args, 4), R.residual_adc_topk_ref(*args, 4))
    # all-one rows score 2 levels x (64 set bits + 3 * 64 plane bits) = 512
    assert residual_adc_topk(*args, 4)[0][0].tolist() == [512, 512, 0, 0]


@pytest.mark.parametrize("metric", ["dot", "l2"])
@pytest.mark.parametrize("seed,n,nq,k,alive_kind", CASES)
def test_scalar(seed, n, nq, k, alive_kind, metric):
    rng = np.random.default_rng(seed)
    d = 16 if metric == "l2" else 384
    codes = rng.integers(0, 256, (n, d), dtype=np.uint8)
    codes[: min(n, 2)] = 0  # all-zero rows
    alive = alive_mask(rng, n, alive_kind)
    scale_i = rng.integers(0, 3, d).astype(np.float32)
    qw_i = rng.integers(-10, 11, (nq, d)).astype(np.float32)
    const_i = rng.integers(-100, 100, nq).astype(np.float32)
    read_only(codes, qw_i, scale_i)
    kw = dict(metric=metric, scale=scale_i)
    assert_exact(scalar_topk(codes, qw_i, const_i, k, alive, **kw), R.scalar_topk_ref(codes, qw_i, const_i, k, alive, **kw))
    scale = rng.random(d).astype(np.float32) / 255
    qw = rng.standard_normal((nq, d)).astype(np.float32) * (0.01 if metric == "dot" else 1.0)
    const = rng.standard_normal(nq).astype(np.float32)
    kw = dict(metric=metric, scale=scale)
    assert_close(scalar_topk(codes, qw, const, k, alive, **kw), R.scalar_topk_ref(codes, qw, const, k, alive, **kw),
                 R.scalar_topk_ref(codes, qw, const, max(n, 1), **kw), rtol=1e-4, atol=1e-3)


def test_argument_errors():
    codes = np.zeros((4, 3), np.uint8)
    with pytest.raises(ValueError, match="tables must have shape"):
        pq_adc_topk(codes, np.zeros((1, 2, 256), np.float32), 2)
    with pytest.raises(TypeError, match="dtype uint8"):
        pq_adc_topk(codes.astype(np.int16), np.zeros((1, 3, 256), np.float32), 2)
    with pytest.raises(ValueError, match="k must be >= 1"):
        pq_adc_topk(codes, np.zeros((1, 3, 256), np.float32), 0)
    with pytest.raises(ValueError, match="alive must have shape"):
        pq_adc_topk(codes, np.zeros((1, 3, 256), np.float32), 2, np.ones(3, np.uint8))
    with pytest.raises(ValueError, match="beyond the 16 centroids"):
        pq_sdc_topk(codes, np.full((1, 5), 16, np.uint8), np.zeros((5, 16, 16), np.float32), 2)
    with pytest.raises(ValueError, match="scale"):
        scalar_topk(codes, np.zeros((1, 3), np.float32), np.zeros(1, np.float32), 2, metric="l2")
