"""Scans over word-major blocks of rows give exactly the row-major references."""
import numpy as np
import pytest

import native
from native import reference as ref
from native.blocks import BLOCK


def codes_of(rng, n, d):
    return native.pack_signs(rng.standard_normal((n, d)).astype(np.float32))


def test_layout_round_trip_and_position(rng):
    codes = codes_of(rng, 3 * BLOCK + 5, 384)
    blocks = native.to_blocks(codes)
    assert blocks.shape == (4, 6, BLOCK)
    # word t of row r sits in block r // B, column r % B; the tail is zero
    r = 2 * BLOCK + 17
    np.testing.assert_array_equal(blocks[r // BLOCK, :, r % BLOCK], codes[r])
    assert not blocks[3, :, 5:].any()
    np.testing.assert_array_equal(native.from_blocks(blocks, len(codes)), codes)


@pytest.mark.parametrize("n,k", [(0, 5), (3, 10), (BLOCK, 7), (1000, 1), (1000, 64), (777, 160)])
@pytest.mark.parametrize("nq", [1, 2, 9])
@pytest.mark.parametrize("d", [64, 100, 384])
def test_topk_blocks_match_references(rng, n, k, nq, d):
    codes = codes_of(rng, n, d)
    blocks = native.to_blocks(codes)
    x = rng.standard_normal((nq, d)).astype(np.float32)
    planes, signs = native.quantize_planes(x, 4), native.pack_signs(x)
    alive = (rng.random(n) > 0.3).astype(np.uint8)
    for a in (None, alive):
        for got, want in (
            (native.bitplane_topk_blocks(blocks, n, planes, k, a), ref.bitplane_topk_ref(codes, planes, k, a)),
            (native.hamming_topk_blocks(blocks, n, signs, k, a), ref.hamming_topk_ref(codes, signs, k, a)),
        ):
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])


def test_rows_past_n_are_never_returned(rng):
    """Garbage in a block's tail (slots >= n) must not leak into results."""
    codes = np.full((10, 6), 2**64 - 1, np.uint64)  # as far as can be from the query
    blocks = native.to_blocks(codes)  # the zero-padded tail equals the query's codes
    assert not blocks[0, :, 10:].any()
    x = -np.ones((1, 384), np.float32)
    for dist, idx in (native.bitplane_topk_blocks(blocks, 10, native.quantize_planes(x, 4), 20),
                      native.hamming_topk_blocks(blocks, 10, native.pack_signs(x), 20)):
        assert set(idx[0][:10]) == set(range(10)) and (idx[0][10:] == -1).all()


def test_bad_arguments_are_refused(rng):
    blocks = native.to_blocks(codes_of(rng, 10, 128))
    planes = native.quantize_planes(rng.standard_normal((1, 128)).astype(np.float32), 4)
    with pytest.raises(ValueError):
        native.bitplane_topk_blocks(blocks, BLOCK + 1, planes, 3)  # more rows than the blocks hold
    with pytest.raises(ValueError):
        native.bitplane_topk_blocks(blocks, 10, planes, 3, np.ones(9, np.uint8))
    with pytest.raises(ValueError):
        native.hamming_topk_blocks(blocks, 10, planes[:, 0], 0)
    with pytest.raises(ValueError):
        native.hamming_topk_blocks(blocks, 10, np.zeros((1, 3), np.uint64), 3)
    with pytest.raises(TypeError):
        native.bitplane_topk_blocks(blocks.astype(np.int64), 10, planes, 3)


def test_half_to_float_matches_numpy_for_every_bit_pattern():
    from native.half import halves_to_floats

    every = np.arange(2**16, dtype=np.uint16).view(np.float16)
    np.testing.assert_array_equal(halves_to_floats(every), every.astype(np.float32))


@pytest.mark.parametrize("n,k", [(0, 4), (5, 10), (1000, 1), (777, 60)])
@pytest.mark.parametrize("nq", [1, 3])
def test_estimate_topk_matches_reference(rng, n, k, nq):
    d = 384
    codes = codes_of(rng, n, d)
    x = rng.standard_normal((nq, d)).astype(np.float32)
    planes = native.quantize_planes(x, 4)
    qa = rng.uniform(100, 200, nq).astype(np.float32)
    qb = rng.uniform(0.5, 1.5, nq).astype(np.float32)
    factors = rng.uniform(-2, 2, (2, n)).astype(np.float16)
    alive = (rng.random(n) > 0.3).astype(np.uint8)
    for a in (None, alive):
        got = native.bitplane_estimate_topk_blocks(native.to_blocks(codes), n, planes, qa, qb,
                                                   factors.view(np.uint16), 0.75, k, a)
        want = ref.bitplane_estimate_topk_ref(codes, planes, qa, qb, factors, 0.75, k, a)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)


def test_estimate_ranks_by_the_factors(rng):
    """Equal codes: the order follows mul (then add) alone, so the factors are really read."""
    n = 300
    codes = np.zeros((n, 6), np.uint64)
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), 4)
    factors = np.zeros((2, n), np.float16)
    factors[0] = rng.permutation(n) / n + 0.5  # all (qa - qb * D) are equal and positive
    _, rows = native.bitplane_estimate_topk_blocks(native.to_blocks(codes), n, planes, np.float32([5000.0]),
                                                   np.float32([1.0]), factors.view(np.uint16), 0.0, 5)
    np.testing.assert_array_equal(rows[0], np.argsort(-factors[0].astype(np.float32), kind="stable")[:5])
    factors[0] = 1.0
    factors[1] = rng.permutation(n).astype(np.float16)
    _, rows = native.bitplane_estimate_topk_blocks(native.to_blocks(codes), n, planes, np.float32([1.0]),
                                                   np.float32([0.0]), factors.view(np.uint16), 2.0, 5)
    np.testing.assert_array_equal(rows[0], np.argsort(-factors[1].astype(np.float32), kind="stable")[:5])


@pytest.mark.parametrize("l2", [False, True])
@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("bits", [2, 4])
def test_estimate_search_is_quantize_scan_and_score(rng, l2, centered, bits):
    """The one-call search equals its parts: centering, quantize_planes, the scan's
    reference, and est * mul_scale + the query's own term."""
    n, d, k, nq = 900, 200, 25, 3  # d not a multiple of 64: padding bits
    codes = native.pack_signs(rng.standard_normal((n, d)).astype(np.float32))
    factors = rng.uniform(-2, 2, (2, n)).astype(np.float16)
    q = rng.standard_normal((nq, d)).astype(np.float32)
    mean = rng.standard_normal(d).astype(np.float32) * 0.3 if centered else None
    alive = (rng.random(n) > 0.2).astype(np.uint8)
    mul_scale, add_w = 0.37, 1.9
    qc = q - mean if centered else q
    planes = ref.quantize_planes_ref(qc, bits)
    h = ((1 << bits) - 1) / 2.0
    qb = (np.abs(qc).max(axis=1).astype(np.float64) / h).astype(np.float32)
    qa = (h * d * (np.abs(qc).max(axis=1).astype(np.float64) / h)).astype(np.float32)
    est, rows = ref.bitplane_estimate_topk_ref(codes, planes, qa, qb, factors, add_w, k, alive)
    qm = q.astype(np.float64) @ (mean if centered else np.zeros(d)).astype(np.float64)
    own = (2 * qm - (q.astype(np.float64) ** 2).sum(axis=1)) if l2 else qm
    want = np.where(rows >= 0, est * np.float32(mul_scale) + own[:, None].astype(np.float32), -np.inf)
    got_s, got_r = native.bitplane_estimate_search_blocks(native.to_blocks(codes), n, factors.view(np.uint16), q, mean,
                                                          bits, mul_scale, add_w, l2, k, alive)
    np.testing.assert_array_equal(got_r, rows)
    np.testing.assert_allclose(got_s, want.astype(np.float32), rtol=1e-5, atol=1e-5)
