"""Jitted Hamming kernels vs the plain-numpy references (exact equality) and vs faiss."""
import os
import sys

import numpy as np
import pytest

try:
    import native  # noqa: F401
except ImportError:  # plain source checkout without an install
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from native import PAD_DIST, hamming_distances, hamming_topk, pack_signs
from native.hamming import _BLOCKED_MIN_QUERIES, _block_rows
from native.popcount import popcount_u64
from native.reference import hamming_distances_ref, hamming_topk_ref, pack_signs_ref


def rand_codes(rng, n, bits):
    """Random sign codes of `bits` dims via pack_signs (padding bits 0, as in production)."""
    return pack_signs(rng.standard_normal((n, bits)).astype(np.float32))


def readonly(a):
    """Same data as a read-only array backed by bytes (what np.frombuffer gives the engine)."""
    r = np.frombuffer(a.tobytes(), dtype=a.dtype).reshape(a.shape)
    assert not r.flags.writeable
    return r


def check_topk(codes, queries, k, alive=None):
    d, i = hamming_topk(codes, queries, k, alive)
    rd, ri = hamming_topk_ref(codes, queries, k, alive)
    assert d.dtype == np.int32 and i.dtype == np.int64
    assert d.shape == (queries.shape[0], k) and i.shape == (queries.shape[0], k)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(i, ri)
    return d, i


def test_popcount_intrinsic():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**64, size=1000, dtype=np.uint64, endpoint=False)
    a[:4] = [0, 1, np.uint64(2**64 - 1), np.uint64(1 << 63)]
    assert popcount_u64(a) == int(np.bitwise_count(a).sum())
    assert popcount_u64(a[2:3]) == 64


# Both scan paths: nq < _BLOCKED_MIN_QUERIES is row-major, larger batches are transposed.
NQS = (1, 2, _BLOCKED_MIN_QUERIES, 64)


@pytest.mark.parametrize("bits", [1, 65, 100, 256, 384, 512, 1000])
@pytest.mark.parametrize("nq", NQS)
def test_topk_random_matches_reference(bits, nq):
    rng = np.random.default_rng(bits * 100 + nq)
    n = 1500  # several cache blocks for every width
    codes = rand_codes(rng, n, bits)
    queries = rand_codes(rng, nq, bits)
    for k in (1, 10, 160):
        check_topk(codes, queries, k)
    np.testing.assert_array_equal(hamming_distances(codes, queries), hamming_distances_ref(codes, queries))


@pytest.mark.parametrize("nq", NQS)
def test_all_zero_codes_ties_by_index(nq):
    # Every distance is tied (0 for zero queries): the result must be rows 0..k-1.
    codes = np.zeros((1000, 6), np.uint64)
    queries = np.zeros((nq, 6), np.uint64)
    d, i = check_topk(codes, queries, 50)
    assert (d == 0).all()
    assert (i == np.arange(50)).all()
    # Same with a query at distance 384 from everything.
    d, i = check_topk(codes, ~queries, 7)
    assert (d == 384).all() and (i == np.arange(7)).all()


@pytest.mark.parametrize("nq", NQS)
def test_heavy_ties_across_blocks(nq):
    # 3 meaningful bits over many blocks: only 4 distinct distances, huge tie groups;
    # the heap must keep the smallest indices of each group across block boundaries.
    rng = np.random.default_rng(7)
    n = 5 * _block_rows(1) + 17
    codes = rand_codes(rng, n, 3)
    queries = rand_codes(rng, nq, 3)
    for k in (1, 5, 300, n - 3):
        check_topk(codes, queries, k)


@pytest.mark.parametrize("nq", NQS)
def test_k_larger_than_n_and_empty(nq):
    rng = np.random.default_rng(3)
    codes = rand_codes(rng, 5, 100)
    queries = rand_codes(rng, nq, 100)
    d, i = check_topk(codes, queries, 9)
    assert (i[:, 5:] == -1).all() and (d[:, 5:] == PAD_DIST).all() and (i[:, :5] >= 0).all()
    empty = np.zeros((0, 2), np.uint64)
    d, i = check_topk(empty, queries, 3)
    assert (i == -1).all() and (d == 2**31 - 1).all()
    assert hamming_distances(empty, queries).shape == (nq, 0)


@pytest.mark.parametrize("nq", NQS)
def test_alive_mask(nq):
    rng = np.random.default_rng(11)
    n = 2000
    codes = rand_codes(rng, n, 384)
    queries = rand_codes(rng, nq, 384)
    sparse = (rng.random(n) < 0.01).astype(np.uint8)  # ~20 of 2000 rows alive
    d, i = check_topk(codes, queries, 40, sparse)
    live = np.flatnonzero(sparse)
    assert set(i[i >= 0].ravel()) <= set(live)
    assert ((i >= 0).sum(axis=1) == min(40, live.size)).all()
    check_topk(codes, queries, 40, (rng.random(n) < 0.5).astype(np.uint8))
    check_topk(codes, queries, 40, sparse.astype(bool))  # bool masks are accepted too
    d, i = check_topk(codes, queries, 3, np.zeros(n, np.uint8))
    assert (i == -1).all() and (d == PAD_DIST).all()
    # Alive values other than 0/1 count as alive.
    check_topk(codes, queries, 10, sparse * 7)


@pytest.mark.parametrize("nq", NQS)
def test_readonly_and_noncontiguous_inputs(nq):
    rng = np.random.default_rng(5)
    codes = rand_codes(rng, 700, 384)
    queries = rand_codes(rng, nq, 384)
    alive = (rng.random(700) < 0.7).astype(np.uint8)
    d0, i0 = check_topk(codes, queries, 20, alive)
    d1, i1 = hamming_topk(readonly(codes), readonly(queries), 20, readonly(alive))
    np.testing.assert_array_equal(d0, d1)
    np.testing.assert_array_equal(i0, i1)
    np.testing.assert_array_equal(
        hamming_distances(readonly(codes), readonly(queries)), hamming_distances_ref(codes, queries)
    )
    wide = np.repeat(codes, 2, axis=0)[::2]  # strided view
    check_topk(wide, queries, 20)
    x = readonly(rng.standard_normal((30, 100)).astype(np.float32))
    np.testing.assert_array_equal(pack_signs(x), pack_signs_ref(x))


@pytest.mark.parametrize("d", [1, 7, 63, 64, 65, 100, 384])
def test_pack_signs(d):
    rng = np.random.default_rng(d)
    x = rng.standard_normal((40, d)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = 0.0  # exactly 0 -> bit 0
    x[0, 0] = np.nan  # NaN -> bit 0
    x[1, 0] = -0.0
    codes = pack_signs(x)
    assert codes.dtype == np.uint64 and codes.shape == (40, (d + 63) // 64)
    np.testing.assert_array_equal(codes, pack_signs_ref(x))
    np.testing.assert_array_equal(pack_signs(x.astype(np.float64)), codes)
    # Bit order: dim j -> word j // 64, bit j % 64.
    bits = (codes[:, :, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
    np.testing.assert_array_equal(bits.reshape(40, -1)[:, :d], (x > 0).astype(np.uint64))
    assert not bits.reshape(40, -1)[:, d:].any()  # padding bits are 0
    assert pack_signs(np.zeros((0, d), np.float32)).shape == (0, (d + 63) // 64)


def test_validation_errors():
    c = np.zeros((4, 2), np.uint64)
    with pytest.raises(ValueError, match="k must be >= 1"):
        hamming_topk(c, c, 0)
    with pytest.raises(TypeError, match="uint64"):
        hamming_topk(c.astype(np.int64), c, 1)
    with pytest.raises(TypeError, match="uint64"):
        hamming_topk(c, c.view(np.uint8), 1)
    with pytest.raises(ValueError, match="words"):
        hamming_topk(c, np.zeros((1, 3), np.uint64), 1)
    with pytest.raises(ValueError, match="2-D"):
        hamming_topk(c, c[0], 1)
    with pytest.raises(ValueError, match="alive"):
        hamming_topk(c, c, 1, np.ones(3, np.uint8))
    with pytest.raises(TypeError, match="alive"):
        hamming_topk(c, c, 1, np.ones(4, np.int32))
    with pytest.raises(TypeError, match="k must be an integer"):
        hamming_topk(c, c, 1.5)
    with pytest.raises(TypeError, match="float32"):
        pack_signs(np.zeros((2, 3), np.int32))


# --------------------------------------------------------------------------- faiss
faiss = pytest.importorskip("faiss")


def test_pack_signs_bit_order_matches_faiss():
    rng = np.random.default_rng(21)
    for d in (64, 128, 384, 200):  # faiss packs whole bytes: d % 8 == 0
        x = rng.standard_normal((25, d)).astype(np.float32)  # no exact zeros (faiss tests >= 0)
        ref = np.zeros((25, d // 8), np.uint8)
        faiss.real_to_binary(x.size, faiss.swig_ptr(x), faiss.swig_ptr(ref))
        ours = pack_signs(x).view(np.uint8)[:, : d // 8]
        np.testing.assert_array_equal(ours, ref)


@pytest.mark.parametrize("bits,nq", [(384, 1), (384, 64), (128, 5), (1000, 3)])
def test_topk_distances_match_faiss(bits, nq):
    rng = np.random.default_rng(bits + nq)
    codes = rand_codes(rng, 3000, bits)
    queries = rand_codes(rng, nq, bits)
    nbytes = 8 * codes.shape[1]  # whole uint64 words; the zero padding bits agree on both sides
    index = faiss.IndexBinaryFlat(nbytes * 8)
    index.add(np.ascontiguousarray(codes.view(np.uint8)))
    k = 50
    fd, fi = index.search(np.ascontiguousarray(queries.view(np.uint8)), k)
    d, i = hamming_topk(codes, queries, k)
    np.testing.assert_array_equal(d, fd)  # row sets may differ on ties, distances may not
    full = hamming_distances(codes, queries)
    np.testing.assert_array_equal(np.take_along_axis(full, fi, axis=1), fd)
    np.testing.assert_array_equal(np.take_along_axis(full, i, axis=1), d)
    if hasattr(faiss, "knn_hamming"):
        kd, _ = faiss.knn_hamming(queries.view(np.uint8), codes.view(np.uint8), k)
        np.testing.assert_array_equal(d, kd)
