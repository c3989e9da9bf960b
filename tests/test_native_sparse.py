"""The inverted-index and IVF kernels agree with their plain-numpy references."""
import itertools

import numpy as np
import pytest

from native.ivf import gather_regions, pool_positions
from native.reference_sparse import (
    copy_regions_ref,
    gather_regions_ref,
    pool_positions_ref,
    overlap_topk_ref,
    postings_append_ref,
    postings_remove_ref,
    sort_regions_ref,
    top_active_ref,
)
from native.sparse import copy_regions, overlap_topk, postings_append, postings_remove, sort_regions, top_active


def random_pool(rng, n_keys, n_slots, per_key_max, weighted, slack=3):
    """A pool with gaps between regions, each region holding distinct slots."""
    lengths = rng.integers(0, per_key_max + 1, n_keys).astype(np.int64)
    lengths = np.minimum(lengths, n_slots)
    caps = lengths + slack
    starts = np.concatenate([[0], np.cumsum(caps)[:-1]]).astype(np.int64)
    pool = np.full(int(caps.sum()), -7, np.int32)  # garbage outside the regions
    weights = np.full(len(pool), np.nan, np.float32) if weighted else np.zeros(0, np.float32)
    for d in range(n_keys):
        pool[starts[d] : starts[d] + lengths[d]] = rng.choice(n_slots, lengths[d], replace=False)
        if weighted:
            weights[starts[d] : starts[d] + lengths[d]] = rng.uniform(0.1, 3, lengths[d])
    return pool, weights, starts, lengths


def random_queries(rng, nq, n_keys, max_nnz, weighted, empty_first=True):
    sizes = rng.integers(0, max_nnz + 1, nq)
    if empty_first:
        sizes[0] = 0  # a query with no active key: all zero scores, slot order
    idx = [rng.choice(n_keys, min(s, n_keys), replace=False) for s in sizes]
    indptr = np.concatenate([[0], np.cumsum([len(i) for i in idx])]).astype(np.int64)
    indices = np.concatenate(idx).astype(np.int64) if len(idx) else np.zeros(0, np.int64)
    weights = rng.uniform(0.1, 2, len(indices)).astype(np.float32) if weighted else np.zeros(0, np.float32)
    return indptr, indices, weights


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_overlap_topk_matches_reference(seed, weighted):
    rng = np.random.default_rng(seed)
    n_keys, n_slots = int(rng.integers(1, 60)), int(rng.integers(1, 300))
    pool, pw, starts, lengths = random_pool(rng, n_keys, n_slots, 40, weighted)
    indptr, qi, qw = random_queries(rng, 7, n_keys, 12, weighted)
    eligible = (rng.random(n_slots) < 0.8).astype(np.uint8)
    for k, fill in itertools.product((1, 5, n_slots + 3), (True, False)):
        got = overlap_topk(pool, pw, starts, lengths, indptr, qi, qw, eligible, k, fill_zeros=fill)
        want = overlap_topk_ref(pool, pw, starts, lengths, indptr, qi, qw, eligible, k, fill_zeros=fill)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])  # same additions in the same order
        assert (got[0][got[0] >= 0] < n_slots).all()
        assert eligible[got[0][got[0] >= 0]].all()
        if not fill:  # a hit list: only slots sharing a key with the query
            assert (got[1][got[0] >= 0] > 0).all()


def test_overlap_topk_ties_edges_and_read_only_inputs():
    # every slot in every posting: all scores tie, so slot order decides
    n = 10
    pool = np.tile(np.arange(n, dtype=np.int32)[::-1], 3)
    starts = np.array([0, n, 2 * n], np.int64)
    lengths = np.full(3, n, np.int64)
    indptr = np.array([0, 2, 2], np.int64)
    qi = np.array([0, 2], np.int64)
    args = [pool, np.zeros(0, np.float32), starts, lengths, indptr, qi, np.zeros(0, np.float32), np.ones(n, np.uint8)]
    for a in args:
        a.flags.writeable = False
    slots, scores = overlap_topk(*args, 4)
    assert slots.tolist() == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert scores.tolist() == [[2, 2, 2, 2], [0, 0, 0, 0]]
    # nothing eligible: all padding
    none = overlap_topk(pool, args[1], starts, lengths, indptr, qi, args[6], np.zeros(n, np.uint8), 3)
    assert (none[0] == -1).all() and np.isneginf(none[1]).all()
    # empty pool, zero slots
    empty = overlap_topk(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(2, np.int64), np.zeros(2, np.int64),
                         np.array([0, 1], np.int64), np.array([1], np.int64), np.zeros(0, np.float32), np.zeros(0, np.uint8), 2)
    assert empty[0].tolist() == [[-1, -1]]


def test_overlap_topk_rejects_bad_queries():
    base = [np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(3, np.int64), np.zeros(3, np.int64)]
    with pytest.raises(ValueError, match="q_indices"):
        overlap_topk(*base, np.array([0, 1], np.int64), np.array([3], np.int64), np.zeros(0, np.float32), np.ones(1, np.uint8), 1)
    with pytest.raises(ValueError, match="q_indptr"):
        overlap_topk(*base, np.array([0, 2], np.int64), np.array([1], np.int64), np.zeros(0, np.float32), np.ones(1, np.uint8), 1)
    with pytest.raises(ValueError, match="k must be"):
        overlap_topk(*base, np.array([0], np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), np.ones(1, np.uint8), 0)


def _random_values(rng, rows, kind):
    """Per-entry rows moved with the pool: none, one float32 weight, or uint8 codes."""
    if kind == "none":
        return np.zeros((rows, 0), np.float32)
    if kind == "weights":
        return rng.uniform(0.1, 3, (rows, 1)).astype(np.float32)
    return rng.integers(0, 256, (rows, 13), dtype=np.uint8)


@pytest.mark.parametrize("kind", ["none", "weights", "codes"])
@pytest.mark.parametrize("seed", range(5))
def test_pool_upkeep_matches_reference(seed, kind):
    rng = np.random.default_rng(100 + seed)
    n_keys = int(rng.integers(1, 30))
    pool, _, starts, lengths = random_pool(rng, n_keys, 200, 10, False, slack=6)
    pv = _random_values(rng, len(pool), kind)
    ref = [pool.copy(), pv.copy(), starts.copy(), lengths.copy()]
    # append up to the slack of each key
    keys = np.repeat(np.arange(n_keys), rng.integers(0, 7, n_keys)).astype(np.int64)
    rng.shuffle(keys)
    slots = rng.integers(200, 400, len(keys)).astype(np.int64)
    v = _random_values(rng, len(keys), kind)
    postings_append(pool, pv, starts, lengths, keys, slots, v)
    postings_append_ref(*ref, keys, slots, v)
    for a, b in zip((pool, pv, starts, lengths), ref):
        np.testing.assert_array_equal(a, b)
    # sort some regions (duplicated slots keep their rows' order: stable)
    some = rng.permutation(n_keys)[: max(1, n_keys // 2)].astype(np.int64)
    sort_regions(pool, pv, starts, lengths, some)
    sort_regions_ref(*ref, some)
    for a, b in zip((pool, pv, starts, lengths), ref):
        np.testing.assert_array_equal(a, b)
    # remove present pairs, absent pairs and a pair twice
    present = [(d, int(pool[starts[d] + j])) for d in range(n_keys) for j in range(lengths[d]) if rng.random() < 0.4]
    pairs = present + [(0, 10_000), present[0] if present else (0, 1)]
    rk = np.array([p[0] for p in pairs], np.int64)
    rs = np.array([p[1] for p in pairs], np.int64)
    assert postings_remove(pool, pv, starts, lengths, rk, rs) == postings_remove_ref(*ref, rk, rs)
    for a, b in zip((pool, pv, starts, lengths), ref):
        np.testing.assert_array_equal(a, b)
    # move every region to a fresh pool in reverse order
    total = int(lengths.sum())
    dst_starts = (total - np.cumsum(lengths)).astype(np.int64)
    dst = np.full(total, -1, np.int32)
    dv = np.zeros((total if pv.shape[1] else 0, pv.shape[1]), pv.dtype)
    dst_ref, dv_ref = dst.copy(), dv.copy()
    copy_regions(pool, pv, dst, dv, starts, lengths, dst_starts)
    copy_regions_ref(ref[0], ref[1], dst_ref, dv_ref, ref[2], ref[3], dst_starts)
    np.testing.assert_array_equal(dst, dst_ref)
    np.testing.assert_array_equal(dv, dv_ref)


def test_pool_upkeep_refuses_read_only_or_wrong_dtype():
    pool = np.zeros(4, np.int32)
    pool.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        postings_remove(pool, np.zeros((0, 0), np.float32), np.zeros(1, np.int64), np.zeros(1, np.int64),
                        np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(TypeError, match="int32"):
        postings_remove(np.zeros(4, np.int64), np.zeros((0, 0), np.float32), np.zeros(1, np.int64), np.zeros(1, np.int64),
                        np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(ValueError, match="rows"):
        postings_remove(np.zeros(4, np.int32), np.zeros((3, 2), np.uint8), np.zeros(1, np.int64), np.zeros(1, np.int64),
                        np.zeros(0, np.int64), np.zeros(0, np.int64))


@pytest.mark.parametrize("seed", range(5))
def test_gather_regions_matches_reference(seed):
    rng = np.random.default_rng(200 + seed)
    nlist, n = int(rng.integers(1, 20)), int(rng.integers(1, 500))
    pool, _, starts, lengths = random_pool(rng, nlist, n, 30, False)
    rows = rng.integers(0, 256, (len(pool), int(rng.integers(0, 50))), dtype=np.uint8)
    rows.flags.writeable = False
    for lists in (np.arange(nlist), rng.permutation(nlist)[: max(1, nlist // 3)], np.zeros(0, np.int64)):
        got = gather_regions(pool, rows, starts, lengths, lists.astype(np.int64))
        want = gather_regions_ref(pool, rows, starts, lengths, lists)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1].reshape(got[1].shape))


@pytest.mark.parametrize("seed", range(5))
def test_pool_positions_match_reference(seed):
    rng = np.random.default_rng(300 + seed)
    nlist = int(rng.integers(1, 20))
    pool, _, starts, lengths = random_pool(rng, nlist, 400, 30, False)
    for d in range(nlist):  # the engine keeps regions sorted by slot
        pool[starts[d] : starts[d] + lengths[d]].sort()
    keys = rng.integers(0, nlist, 300).astype(np.int64)
    slots = rng.integers(0, 400, 300).astype(np.int64)
    present = [(d, int(pool[starts[d] + j])) for d in range(nlist) for j in range(lengths[d])]
    if present:
        keys = np.concatenate([keys, [p[0] for p in present]]).astype(np.int64)
        slots = np.concatenate([slots, [p[1] for p in present]]).astype(np.int64)
    got = pool_positions(pool, starts, lengths, keys, slots)
    np.testing.assert_array_equal(got, pool_positions_ref(pool, starts, lengths, keys, slots))
    assert (got[len(keys) - len(present):] >= 0).all()


@pytest.mark.parametrize("seed", range(4))
def test_top_active_matches_reference(seed):
    rng = np.random.default_rng(300 + seed)
    n, d = int(rng.integers(1, 40)), int(rng.integers(1, 300))
    x = rng.standard_normal((n, d)).astype(np.float32)
    x[0] = 0.5  # a row of ties: the smallest indices win
    x[-1, : d // 2] = x[-1, d // 2 : 2 * (d // 2)]  # pairwise ties
    x.flags.writeable = False
    for a in sorted({1, min(5, d), d}):
        np.testing.assert_array_equal(top_active(x, a), top_active_ref(x, a))
    assert top_active(x, 1)[0].tolist() == [0]


def test_top_active_rejects_bad_a():
    with pytest.raises(ValueError, match="a must be"):
        top_active(np.zeros((2, 3), np.float32), 4)
