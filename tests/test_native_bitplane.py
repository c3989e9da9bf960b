"""Asymmetric bit-plane scoring of 1-bit codes: kernels equal the numpy references."""
import numpy as np
import pytest

import native
from native import reference as ref


def codes_of(rng, n, d):
    return native.pack_signs(rng.standard_normal((n, d)).astype(np.float32))


@pytest.mark.parametrize("d", [1, 64, 65, 100, 384])
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_quantize_planes_matches_reference(rng, d, bits):
    x = rng.standard_normal((7, d)).astype(np.float32)
    x[0] = 0  # all-zero query: every u is the midpoint
    np.testing.assert_array_equal(native.quantize_planes(x, bits), ref.quantize_planes_ref(x, bits))


@pytest.mark.parametrize("d", [1, 65, 128, 384])
def test_distances_match_reference(rng, d):
    codes = codes_of(rng, 300, d)
    planes = native.quantize_planes(rng.standard_normal((5, d)).astype(np.float32), 4)
    np.testing.assert_array_equal(native.bitplane_distances(codes, planes), ref.bitplane_distances_ref(codes, planes))


def test_one_bit_planes_are_hamming(rng):
    """With B = 1 the query plane is the query's own sign code: D is the Hamming distance."""
    x = rng.standard_normal((4, 100)).astype(np.float32)
    codes = codes_of(rng, 200, 100)
    planes = native.quantize_planes(x, 1)
    np.testing.assert_array_equal(planes[:, 0], native.pack_signs(x))
    np.testing.assert_array_equal(native.bitplane_distances(codes, planes), native.hamming_distances(codes, planes[:, 0]))


@pytest.mark.parametrize("n,k", [(0, 5), (3, 10), (1000, 1), (1000, 64), (777, 160)])
@pytest.mark.parametrize("nq", [1, 2, 9])
def test_topk_matches_reference(rng, n, k, nq):
    codes = codes_of(rng, n, 384)
    planes = native.quantize_planes(rng.standard_normal((nq, 384)).astype(np.float32), 4)
    alive = (rng.random(n) > 0.3).astype(np.uint8)
    for a in (None, alive):
        got = native.bitplane_topk(codes, planes, k, a)
        want = ref.bitplane_topk_ref(codes, planes, k, a)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_ties_and_read_only_inputs(rng):
    codes = np.zeros((600, 2), dtype=np.uint64)  # every row ties
    codes = np.frombuffer(codes.tobytes(), dtype=np.uint64).reshape(600, 2)
    planes = native.quantize_planes(rng.standard_normal((3, 100)).astype(np.float32), 3)
    planes = np.frombuffer(planes.tobytes(), dtype=np.uint64).reshape(planes.shape)
    dist, idx = native.bitplane_topk(codes, planes, 50)
    assert (idx == np.arange(50)).all()
    np.testing.assert_array_equal(dist, ref.bitplane_topk_ref(codes, planes, 50)[0])


def test_ranking_follows_inner_product(rng):
    """The distance ranks codes as the inner product of the quantized query with +-1 signs does."""
    x = rng.standard_normal((1, 256)).astype(np.float32)
    signs = rng.standard_normal((500, 256)).astype(np.float32)
    codes = native.pack_signs(signs)
    d = native.bitplane_distances(codes, native.quantize_planes(x, 8))[0]
    ip = (np.where(signs > 0, 1.0, -1.0) @ x[0])
    assert np.corrcoef(d, -ip)[0, 1] > 0.999
