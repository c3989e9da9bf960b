"""IVF kernels against plain-numpy references: the in-place list scan and the probe."""
import numpy as np
import pytest

import native
from native.ivf import _best_rows, probe_lists, probe_shortlist, probe_sketch
from native.reference_sparse import (bitplane_estimate_topk_regions_ref, probe_lists_ref, probe_shortlist_ref,
                                     probe_sketch_ref)


def pool_of(rng, nlist, n, words=6):
    """A pool with gaps between lists, regions sorted by slot; row p = code of entry p:
    `words` sign words, then a word whose low 32 bits are two float16 factors."""
    lengths = rng.integers(0, 2 * n // max(nlist, 1) + 2, nlist).astype(np.int64)
    caps = lengths + rng.integers(0, 4, nlist)
    starts = (np.cumsum(caps) - caps).astype(np.int64)
    size = int(caps.sum())
    slots = np.full(size, 2**31 - 1, np.int32)  # garbage outside the regions
    pool = rng.integers(0, 2**63, (size, words + 1), dtype=np.uint64)
    free = rng.permutation(max(n, int(lengths.sum())))
    used = 0
    for l in range(nlist):
        slots[starts[l] : starts[l] + lengths[l]] = np.sort(free[used : used + lengths[l]])
        used += lengths[l]
    factors = rng.uniform(-2, 2, (size, 2)).astype(np.float16)
    pool[:, words] = factors.view(np.uint32).reshape(size).astype(np.uint64)
    return pool, slots, starts, lengths, factors


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 10, 75])
def test_region_scan_matches_reference(seed, k):
    rng = np.random.default_rng(seed)
    nlist = int(rng.integers(1, 40))
    pool, slots, starts, lengths, _ = pool_of(rng, nlist, int(rng.integers(0, 2000)))
    n = int(slots[slots < 2**31 - 1].max()) + 1 if (slots < 2**31 - 1).any() else 0
    alive = (rng.random(n) > 0.3).astype(np.uint8)
    bits = int(rng.choice([1, 2, 4]))  # 4 takes the unrolled path, the others the loop
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), bits)[0]
    qa, qb = float(rng.uniform(100, 200)), float(rng.uniform(0.5, 1.5))
    for lists in (np.arange(nlist), rng.permutation(nlist)[: max(1, nlist // 3)], np.zeros(0, np.int64)):
        lists = lists.astype(np.int64)
        for a in (None, alive):
            got = native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, lists, planes, qa, qb, 0.75, k, a)
            want = bitplane_estimate_topk_regions_ref(pool, slots, starts, lengths, lists, planes, qa, qb, 0.75, k, a)
            np.testing.assert_array_equal(got[1], want[1])
            np.testing.assert_allclose(got[0], want[0], rtol=1e-6)


def test_region_scan_reads_the_factors_and_treats_slots_past_alive_as_dead():
    rng = np.random.default_rng(7)
    pool, slots, starts, lengths, factors = pool_of(rng, 3, 300)
    pool[:, :6] = 0  # equal codes: the order comes from the factors alone
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), 4)[0]
    lists = np.arange(3, dtype=np.int64)
    _, got = native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, lists, planes, 5000.0, 1.0, 0.0, 5)
    pos = np.concatenate([np.arange(starts[l], starts[l] + lengths[l]) for l in lists])
    best = pos[np.argsort(-factors[pos, 0].astype(np.float32), kind="stable")[:5]]
    np.testing.assert_array_equal(got, slots[best])
    short = np.ones(int(slots[pos].max()), np.uint8)  # the largest slot lies past the mask
    _, got = native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, lists, planes, 5000.0, 1.0, 0.0,
                                                   len(pos), short)
    assert slots[pos].max() not in got and (got >= 0).sum() == len(pos) - 1


def test_region_scan_refuses_bad_shapes():
    rng = np.random.default_rng(8)
    pool, slots, starts, lengths, _ = pool_of(rng, 3, 50)
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), 4)[0]
    with pytest.raises(ValueError, match="words"):
        native.bitplane_estimate_topk_regions(pool[:, :6], slots, starts, lengths, np.arange(3), planes, 1, 1, 1, 5)
    with pytest.raises(ValueError, match="lists"):
        native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, np.array([3]), planes, 1, 1, 1, 5)
    with pytest.raises(ValueError, match="k"):
        native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, np.arange(3), planes, 1, 1, 1, 0)


@pytest.mark.parametrize("metric_bias", [False, True])
def test_probe_matches_float32_ranking(metric_bias):
    rng = np.random.default_rng(9)
    c = rng.standard_normal((500, 96)).astype(np.float32)
    c16 = c.astype(np.float16)
    bias = -0.5 * (c * c).sum(axis=1) if metric_bias else None
    for q in rng.standard_normal((20, 96)).astype(np.float32):
        got = probe_lists(c16.view(np.uint16), q, 12, bias)
        # the kernel scores the float16 centroids; the reference ranks them in float64
        s = c16.astype(np.float64) @ q.astype(np.float64) + (0 if bias is None else bias)
        want = probe_lists_ref(c16.view(np.uint16), q, 12, bias)
        assert len(got) == 12 and len(set(got)) == 12
        # equal up to float32 summation order: compare as sets beyond near-ties
        assert set(got[:8]) == set(want[:8]) or np.allclose(np.sort(s[got]), np.sort(s[want]), rtol=1e-5)
        assert (np.diff(s[got]) <= 1e-4 * np.abs(s[got[:-1]]) + 1e-4).all()  # best first


@pytest.mark.parametrize("metric_bias", [False, True])
def test_shortlist_probe_matches_reference(metric_bias):
    rng = np.random.default_rng(10)
    c = rng.standard_normal((400, 64)).astype(np.float32)
    bias = (-0.5 * (c * c).sum(axis=1)).astype(np.float32) if metric_bias else None
    for q in rng.standard_normal((20, 64)).astype(np.float32):
        cand = rng.permutation(400)[:50].astype(np.int64)
        got = probe_shortlist(c, cand, q, 9, bias)
        want = probe_shortlist_ref(c, cand, q, 9, bias)
        s = c.astype(np.float64) @ q.astype(np.float64) + (0 if bias is None else bias)
        assert set(got) <= set(cand) and len(set(got)) == 9
        # equal up to float32 summation order
        assert set(got[:6]) == set(want[:6]) or np.allclose(np.sort(s[got]), np.sort(s[want]), rtol=1e-5)
        assert (np.diff(s[got]) <= 1e-4 * np.abs(s[got[:-1]]) + 1e-4).all()  # best first
        assert s[got].min() >= np.sort(s[cand])[-9] - 1e-4  # the nine best of the shortlist


def test_shortlist_probe_ties_go_to_the_earlier_candidate():
    c = np.ones((6, 4), np.float32)
    cand = np.array([5, 2, 4, 0], np.int64)
    assert probe_shortlist(c, cand, np.ones(4, np.float32), 3).tolist() == [5, 2, 4]


def test_shortlist_probe_refuses_bad_input():
    c = np.zeros((10, 8), np.float32)
    q = np.zeros(8, np.float32)
    with pytest.raises(ValueError, match="nprobe"):
        probe_shortlist(c, np.arange(3), q, 4)
    with pytest.raises(ValueError, match="cand"):
        probe_shortlist(c, np.array([1, 10]), q, 1)
    with pytest.raises(ValueError, match="shape"):
        probe_shortlist(c, np.arange(3), np.zeros(7, np.float32), 2)
    with pytest.raises(ValueError, match="bias"):
        probe_shortlist(c, np.arange(3), q, 2, np.zeros(9, np.float32))


def test_best_rows_is_a_stable_top_m():
    rng = np.random.default_rng(12)
    for n, m in ((4096, 64), (1000, 1), (300, 300), (5000, 700)):
        est = rng.standard_normal(n).astype(np.float32)
        assert _best_rows(est, m).tolist() == sorted(np.argsort(-est, kind="stable")[:m].tolist())
    coarse = rng.integers(0, 5, 2000).astype(np.float32)  # many ties: the smaller rows win them
    assert _best_rows(coarse, 333).tolist() == sorted(np.argsort(-coarse, kind="stable")[:333].tolist())
    assert _best_rows(np.zeros(100, np.float32), 7).tolist() == list(range(7))  # one bucket holds all
    dead = est[:1000].copy()
    dead[rng.random(1000) < 0.9] = -np.inf  # dead rows do not stretch the buckets, nor are they chosen
    live = int((dead > -np.inf).sum())
    assert _best_rows(dead, live - 3).tolist() == sorted(np.argsort(-dead, kind="stable")[: live - 3].tolist())


@pytest.mark.parametrize("dead_share", [0.5, 0.97, 1.0])
def test_region_scan_with_most_slots_dead(dead_share):
    """Fewer live entries than k: all of them, then padding; more: the best k."""
    rng = np.random.default_rng(8)
    pool, slots, starts, lengths, _ = pool_of(rng, 12, 1500)
    n = int(slots[slots < 2**31 - 1].max()) + 1
    alive = (rng.random(n) >= dead_share).astype(np.uint8)
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), 4)[0]
    lists = np.arange(12, dtype=np.int64)
    for k in (5, 60):
        got = native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, lists, planes, 150.0, 1.0, 0.5, k,
                                                    alive)
        want = bitplane_estimate_topk_regions_ref(pool, slots, starts, lengths, lists, planes, 150.0, 1.0, 0.5, k,
                                                  alive)
        np.testing.assert_array_equal(got[1], want[1])
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
        assert ((got[1] == -1) == np.isneginf(got[0])).all()


def sketch_of(rng, nlist, d, l2=False):
    c = rng.standard_normal((nlist, d)).astype(np.float32) * 0.2 + rng.standard_normal(d).astype(np.float32) * 0.1
    mean = c.mean(axis=0)
    words = native.pack_signs(c - mean)
    xc = (c - mean).astype(np.float64)
    mul = (xc * xc).sum(1) / np.abs(xc).sum(1)
    add = xc @ mean
    if l2:
        mul, add = 2 * mul, 2 * add - (c.astype(np.float64) ** 2).sum(1)
    factors = np.stack([mul, add]).astype(np.float16).view(np.uint16)
    return c, mean, words, factors


@pytest.mark.parametrize("l2", [False, True])
def test_sketch_probe_matches_reference(l2):
    rng = np.random.default_rng(13)
    c, mean, words, factors = sketch_of(rng, 700, 200, l2)
    bias = (-0.5 * (c.astype(np.float64) ** 2).sum(1)).astype(np.float32) if l2 else None
    blocks = native.to_blocks(words)
    for q in rng.standard_normal((20, 200)).astype(np.float32):
        got = probe_sketch(blocks, factors, mean, c, q, 10, 40, 4, 1.0, bias)
        want = probe_sketch_ref(words, factors, mean, c, q, 10, 40, 4, 1.0, bias)
        s = c.astype(np.float64) @ q.astype(np.float64) + (0 if bias is None else bias)
        assert len(set(got)) == 10
        # the shortlists are equal; the exact look agrees up to float32 summation order
        assert set(got) == set(want) or np.allclose(np.sort(s[got]), np.sort(s[want]), rtol=1e-5)
        assert (np.diff(s[got]) <= 1e-4 * np.abs(s[got[:-1]]) + 1e-4).all()  # best first


def test_sketch_probe_finds_most_of_the_exact_lists():
    rng = np.random.default_rng(14)
    c, mean, words, factors = sketch_of(rng, 2048, 384)
    blocks = native.to_blocks(words)
    found = []
    for q in (c[rng.integers(0, 2048, 30)] + 0.1 * rng.standard_normal((30, 384))).astype(np.float32):
        exact = np.argsort(-(c @ q), kind="stable")[:16]
        found.append(np.isin(probe_sketch(blocks, factors, mean, c, q, 16, 64), exact).mean())
        assert probe_sketch(blocks, factors, mean, c, q, 16, 64)[0] == exact[0]
    # 0.74 here, where 2,048 random centroids score close together; 0.92 on 1M
    # sentence-like vectors at 4,096 lists (whose probes then held as many true
    # neighbours as the exact ones)
    assert np.mean(found) >= 0.65


def test_sketch_probe_refuses_bad_input():
    rng = np.random.default_rng(15)
    c, mean, words, factors = sketch_of(rng, 100, 64)
    blocks = native.to_blocks(words)
    q = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match="m <="):
        probe_sketch(blocks, factors, mean, c, q, 10, 5)
    with pytest.raises(ValueError, match="m <="):
        probe_sketch(blocks, factors, mean, c, q, 10, 101)
    with pytest.raises(ValueError, match="shape"):
        probe_sketch(blocks, factors, mean, c, np.zeros(63, np.float32), 1, 5)
    with pytest.raises(TypeError, match="factors"):
        probe_sketch(blocks, factors.astype(np.int32), mean, c, q, 1, 5)
    with pytest.raises(ValueError, match="must hold"):
        probe_sketch(native.to_blocks(np.hstack([words, words])), factors, mean, c, q, 1, 5)


def test_probe_refuses_bad_input():
    c16 = np.zeros((10, 8), np.uint16)
    with pytest.raises(ValueError, match="nprobe"):
        probe_lists(c16, np.zeros(8, np.float32), 11)
    with pytest.raises(ValueError, match="shape"):
        probe_lists(c16, np.zeros(7, np.float32), 3)
    with pytest.raises(TypeError, match="float16"):
        probe_lists(c16.astype(np.float32), np.zeros(8, np.float32), 3)


@pytest.mark.parametrize("l2", [False, True])
def test_region_search_is_quantize_scan_and_score(l2):
    rng = np.random.default_rng(11)
    pool, slots, starts, lengths, _ = pool_of(rng, 12, 1500)
    q = rng.standard_normal((1, 384)).astype(np.float32)
    mean = rng.standard_normal(384).astype(np.float32) * 0.3
    lists = rng.permutation(12)[:5].astype(np.int64)
    qc = (q - mean).astype(np.float32)
    planes = native.quantize_planes(qc, 4)[0]
    amax = float(np.abs(qc).max())
    qb, qa = np.float32(amax / 7.5), np.float32(7.5 * 384 * (amax / 7.5))
    est, want_slots = bitplane_estimate_topk_regions_ref(pool, slots, starts, lengths, lists, planes, qa, qb, 1.9, 30)
    qm = float(q[0].astype(np.float64) @ mean.astype(np.float64))
    own = 2 * qm - float((q.astype(np.float64) ** 2).sum()) if l2 else qm
    want = np.where(want_slots >= 0, est * np.float32(0.37) + np.float32(own), -np.inf)
    got_s, got_slots = native.bitplane_estimate_search_regions(pool, slots, starts, lengths, lists, q, mean, 4, 0.37,
                                                               1.9, l2, 30)
    np.testing.assert_array_equal(got_slots, want_slots)
    np.testing.assert_allclose(got_s, want.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_region_search_refuses_bad_queries():
    rng = np.random.default_rng(12)
    pool, slots, starts, lengths, _ = pool_of(rng, 3, 50)
    args = (pool, slots, starts, lengths, np.arange(3))
    with pytest.raises(ValueError, match="one query"):
        native.bitplane_estimate_search_regions(*args, np.zeros((2, 384), np.float32), None, 4, 1.0, 1.0, False, 5)
    with pytest.raises(TypeError, match="float32"):
        native.bitplane_estimate_search_regions(*args, np.zeros((1, 384)), None, 4, 1.0, 1.0, False, 5)
    with pytest.raises(ValueError, match="sign bits"):
        native.bitplane_estimate_search_regions(*args, np.zeros((1, 500), np.float32), None, 4, 1.0, 1.0, False, 5)
    with pytest.raises(ValueError, match="bits"):
        native.bitplane_estimate_search_regions(*args, np.zeros((1, 384), np.float32), None, 9, 1.0, 1.0, False, 5)


@pytest.mark.parametrize("rows_per_k", [2, 20, 64, 65, 400])
def test_region_scan_select_and_heap_paths_agree_with_the_reference(rows_per_k):
    """The scan selects once up to 64 rows per wanted entry and keeps a k-heap
    beyond: both give the reference's entries, ties included."""
    from native.ivf import _SELECT_ROWS_PER_K

    assert _SELECT_ROWS_PER_K == 64
    rng = np.random.default_rng(9)
    pool, slots, starts, lengths, _ = pool_of(rng, 20, 3000)
    half = len(pool) // 2
    pool[half : 2 * half] = pool[:half]  # repeated codes and factors: tied estimates
    lists = np.arange(20, dtype=np.int64)
    k = max(1, int(lengths.sum()) // rows_per_k)
    planes = native.quantize_planes(rng.standard_normal((1, 384)).astype(np.float32), 4)[0]
    got = native.bitplane_estimate_topk_regions(pool, slots, starts, lengths, lists, planes, 150.0, 1.0, 0.0, k)
    want = bitplane_estimate_topk_regions_ref(pool, slots, starts, lengths, lists, planes, 150.0, 1.0, 0.0, k)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-6)
