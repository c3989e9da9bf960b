"""IVF: probe the lists of a query, scan or copy their codes, find an entry's place.

The lists live in a posting pool (see ``native.sparse``): list ``l`` holds the
slots ``pool_slots[starts[l] : starts[l] + lengths[l]]``, sorted by slot, and
row ``p`` of ``pool_rows`` is the code of the entry at pool position ``p``. A
list's codes are therefore contiguous: a query copies a few runs of memory
instead of gathering one scattered row per point.
"""
import numpy as np
from numba import njit

from . import float_topk as ft
from .bitplane import _plane_block_dists, check_search_args, estimate_scores, estimate_terms
from .half import half_to_float
from .hamming import _alive_arg, _check_k

__all__ = ["gather_regions", "pool_positions", "bitplane_estimate_topk_regions", "bitplane_estimate_search_regions",
           "probe_lists", "probe_shortlist", "probe_sketch"]


@njit(cache=True, nogil=True)
def _gather_kernel(pool_slots, pool_rows, starts, lengths, lists):
    m = 0
    for i in range(lists.shape[0]):
        m += lengths[lists[i]]
    width = pool_rows.shape[1]
    slots = np.empty(m, np.int64)
    out = np.empty((m, width), pool_rows.dtype)
    pos = 0
    for i in range(lists.shape[0]):
        l = lists[i]
        st = starts[l]
        ln = lengths[l]
        for e in range(ln):
            slots[pos + e] = pool_slots[st + e]
        out[pos:pos + ln] = pool_rows[st:st + ln]
        pos += ln
    return slots, out


def gather_regions(pool_slots, pool_rows, starts, lengths, lists):
    """(slots int64 (m,), rows (m, w)) of the lists ``lists`` (int64, any order), list by list.

    pool_slots int32 (P,); pool_rows (P, w), any dtype; starts, lengths int64
    (nlist,). Read-only inputs are accepted.
    """
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    lists = _arr1(lists, np.int64, "lists")
    if not isinstance(pool_rows, np.ndarray) or pool_rows.ndim != 2 or len(pool_rows) != len(pool_slots):
        raise TypeError("pool_rows must be a 2-D numpy array with one row per pool entry")
    if lists.size and (lists.min() < 0 or lists.max() >= len(starts)):
        raise ValueError(f"lists must lie in [0, {len(starts)})")
    return _gather_kernel(pool_slots, np.ascontiguousarray(pool_rows), starts, lengths, lists)


@njit(cache=True, nogil=True)
def _positions_kernel(pool_slots, starts, lengths, keys, slots):
    out = np.empty(keys.shape[0], np.int64)
    for i in range(keys.shape[0]):
        st = starts[keys[i]]
        lo = st
        hi = st + lengths[keys[i]]
        target = slots[i]
        while lo < hi:  # regions are sorted by slot
            mid = (lo + hi) >> 1
            if pool_slots[mid] < target:
                lo = mid + 1
            else:
                hi = mid
        end = st + lengths[keys[i]]
        out[i] = lo if lo < end and pool_slots[lo] == target else -1
    return out


def pool_positions(pool_slots, starts, lengths, keys, slots):
    """Pool position int64 of slot ``slots[i]`` in key ``keys[i]``'s region, -1 where absent.

    Regions must be sorted by slot (as the engine keeps them)."""
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    keys = _arr1(keys, np.int64, "keys")
    slots = _arr1(slots, np.int64, "slots")
    if keys.shape != slots.shape:
        raise ValueError("keys and slots must have the same length")
    if keys.size and (keys.min() < 0 or keys.max() >= len(starts)):
        raise ValueError(f"keys must lie in [0, {len(starts)})")
    return _positions_kernel(pool_slots, starts, lengths, keys, slots)


def _arr1(a, dtype, name):
    if not isinstance(a, np.ndarray) or a.ndim != 1:
        raise TypeError(f"{name} must be a 1-D numpy array")
    return np.ascontiguousarray(a, dtype=dtype)


def _check_pool(pool_words, pool_slots, starts, lengths, lists, min_words):
    """The region scans' pool arguments, checked and in the kernels' dtypes:
    (pool_slots, starts, lengths, lists)."""
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    lists = _arr1(lists, np.int64, "lists")
    if not isinstance(pool_words, np.ndarray) or pool_words.dtype != np.uint64 or pool_words.ndim != 2:
        raise TypeError("pool_words must be a uint64 array (pool entries, words)")
    if pool_words.shape[1] < min_words or len(pool_words) != len(pool_slots):
        raise ValueError(f"pool_words {pool_words.shape} must have a row per pool entry and {min_words}+ words")
    if lists.size and (lists.min() < 0 or lists.max() >= len(starts)):
        raise ValueError(f"lists must lie in [0, {len(starts)})")
    return pool_slots, starts, lengths, lists


_CHUNK = 64  # rows of a list turned word-major at a time: (w + 1) x 64 words stay in L1


@njit(cache=True, nogil=True)
def _estimate_regions_kernel(pool_words, pool_slots, starts, lengths, lists, planes, qa, qb, add_w, k, alive, has_alive):
    w = planes.shape[1]
    m = 0
    for i in range(lists.shape[0]):
        m += lengths[lists[i]]
    slots = np.empty(m, np.int64)  # gather order -> slot: ties break by it, whatever the pool layout
    # few rows per wanted entry: keep every estimate and select once (see
    # _top_positions); many: a k-heap, which most rows pass by in one compare
    select = m <= _SELECT_ROWS_PER_K * k
    est = np.empty(m if select else 0, np.float32)
    hs, hr = ft.new_heaps(1, k)
    # a list's rows are copied a chunk at a time into word-major order, where the
    # distance loop vectorizes (vpopcntq); over the rows in place it ran ~4x slower
    tr = np.empty((w + 1, _CHUNK), np.uint64)
    dv = np.empty(_CHUNK, np.int64)
    sv = np.empty(_CHUNK, np.float32)
    aw = np.float32(add_w)
    lo16 = np.uint64(0xFFFF)
    pos = 0
    for i in range(lists.shape[0]):
        st = starts[lists[i]]
        ln = lengths[lists[i]]
        for c0 in range(0, ln, _CHUNK):
            cm = min(_CHUNK, ln - c0)
            for e in range(cm):
                row = pool_words[st + c0 + e]
                for t in range(w + 1):
                    tr[t, e] = row[t]
                slots[pos + e] = pool_slots[st + c0 + e]
            _plane_block_dists(tr[:w], cm, planes, dv)
            fw = tr[w]  # the two float16 factors, little-endian in the word after the signs
            for e in range(cm):
                f = fw[e]
                mul = half_to_float(np.uint16(f & lo16))
                add = half_to_float(np.uint16((f >> np.uint64(16)) & lo16))
                sv[e] = mul * (qa - qb * np.float32(dv[e])) + aw * add
            if has_alive:
                for e in range(cm):
                    s = slots[pos + e]
                    if s >= alive.shape[0] or alive[s] == 0:
                        sv[e] = -np.inf
            if select:
                est[pos : pos + cm] = sv[:cm]
            else:
                ft.push_block(sv, cm, pos, hs[0], hr[0], k)
            pos += cm
    out_s = np.full(k, -np.inf, np.float32)
    out = np.full(k, -1, np.int64)
    if select:
        top = _top_positions(est, k)
        for j in range(top.shape[0]):
            out_s[j] = est[top[j]]
            out[j] = slots[top[j]]
        return out_s, out
    ft.heaps_to_sorted(hs, hr)
    for j in range(k):
        if hr[0, j] >= 0:
            out_s[j] = hs[0, j]
            out[j] = slots[hr[0, j]]
    return out_s, out


# the region scan selects once when it has at most this many rows per wanted
# entry, else keeps a k-heap (1M rows, IVF4096: 49 -> 41 us at 2,444 rows for
# k = 100; 114 -> 138 us at 10,526 rows for k = 60, so the heap stays there)
_SELECT_ROWS_PER_K = 64


@njit(cache=True, nogil=True)
def _top_positions(est, k):
    """Positions of the k largest est above -inf (dead), best first, ties to the
    smaller position: int64 (<= k,). A histogram select and a sort of the k
    instead of a k-heap: at k = 100 over ~2,500 fresh estimates the heap took
    ~400 sift-downs, and the scan ran 9 us (18%) slower."""
    n = est.shape[0]
    live = 0
    for r in range(n):
        live += est[r] > -np.inf
    if live <= k:
        idx = np.empty(live, np.int64)
        c = 0
        for r in range(n):
            if est[r] > -np.inf:
                idx[c] = r
                c += 1
    else:
        idx = _best_rows(est, k)
    order = np.argsort(-est[idx], kind="mergesort")  # stable: ties stay in position order
    return idx[order]


def bitplane_estimate_topk_regions(pool_words, pool_slots, starts, lengths, lists, planes, qa, qb, add_w, k,
                                   alive=None):
    """One query's k best entries of the lists ``lists`` by the corrected bit-plane estimate.

    The scan of ``native.blocks.bitplane_estimate_topk_blocks`` over codes kept
    in a posting pool: row p of pool_words (uint64 (P, >= w + 1)) is the code
    of the entry at pool position p, w sign words and then a word whose low 32
    bits are its two float16 factors (mul, add). planes uint64 (B, w); qa, qb,
    add_w floats; alive uint8 indexed by slot (a slot past its end counts as
    dead), or None. Returns (scores float32 (k,), slots int64 (k,)), best
    first; ties go to the entry met first (list order, then slot order);
    padded with slot -1, score -inf.
    """
    if not isinstance(planes, np.ndarray) or planes.dtype != np.uint64 or planes.ndim != 2:
        raise TypeError("planes must be a uint64 array (bits, words)")
    pool_slots, starts, lengths, lists = _check_pool(pool_words, pool_slots, starts, lengths, lists, planes.shape[1] + 1)
    alive_arr, has_alive = _alive_arg(alive, None if alive is None else len(alive))
    return _estimate_regions_kernel(pool_words, pool_slots, starts, lengths, lists, np.ascontiguousarray(planes),
                                    np.float32(qa), np.float32(qb), float(add_w), _check_k(k), alive_arr, has_alive)


@njit(cache=True, nogil=True)
def _estimate_search_kernel(pool_words, pool_slots, starts, lengths, lists, q, mean, has_mean, bits, mul_scale,
                            add_w, l2, k, alive, has_alive):
    planes, qa, qb = estimate_terms(q, mean, has_mean, bits, pool_words.shape[1] - 1)
    est, slots = _estimate_regions_kernel(pool_words, pool_slots, starts, lengths, lists, planes[0], qa[0], qb[0],
                                          add_w, k, alive, has_alive)
    est2 = est.reshape(1, k)
    estimate_scores(est2, slots.reshape(1, k), q, mean, has_mean, mul_scale, l2)
    return est, slots


_NO_ALIVE = np.empty(0, np.uint8)
_NO_BIAS = np.empty(0, np.float32)


def bitplane_estimate_search_regions(pool_words, pool_slots, starts, lengths, lists, q, mean, bits, mul_scale, add_w,
                                     l2, k, alive=None, trusted=False):
    """The binary codec's asymmetric search of one query (q float32 (1, d)) over
    IVF lists, in one call: `native.blocks.bitplane_estimate_search_blocks` with
    the scan of `bitplane_estimate_topk_regions` (pool rows: the sign words,
    then one word of factors). Returns (scores float32 (k,), slots int64 (k,)).

    trusted: the engine's call, whose arguments already have the kernel's
    types (pool_slots int32, the rest int64, mean float32, k >= 1, alive None
    or uint8): the checks are skipped, ~6 us of a single query's search."""
    if trusted:
        has_mean, has_alive = mean is not None, alive is not None
        return _estimate_search_kernel(pool_words, pool_slots, starts, lengths, lists, q,
                                       mean if has_mean else np.zeros(q.shape[1], np.float32), has_mean,
                                       int(bits), np.float32(mul_scale), float(add_w), bool(l2), int(k),
                                       alive if has_alive else _NO_ALIVE, has_alive)
    pool_slots, starts, lengths, lists = _check_pool(pool_words, pool_slots, starts, lengths, lists, 2)
    mean, has_mean = check_search_args(q, mean, bits, pool_words.shape[1] - 1)
    if len(q) != 1:
        raise ValueError(f"one query at a time, got {len(q)}")
    alive_arr, has_alive = _alive_arg(alive, None if alive is None else len(alive))
    return _estimate_search_kernel(pool_words, pool_slots, starts, lengths, lists, q, mean,
                                   has_mean, int(bits), np.float32(mul_scale), float(add_w), bool(l2), _check_k(k),
                                   alive_arr, has_alive)


@njit(cache=True, nogil=True, fastmath=True)
def _probe_kernel(c16, q, bias, has_bias, nprobe):
    nlist, d = c16.shape
    sv = np.empty(nlist, np.float32)
    for l in range(nlist):
        row = c16[l]
        s = np.float32(0)
        for j in range(d):  # reassociated (fastmath): vectorized float16 -> float32 dot products
            s += half_to_float(row[j]) * q[j]
        sv[l] = s + bias[l] if has_bias else s
    hs, hr = ft.new_heaps(1, nprobe)
    ft.push_block(sv, nlist, 0, hs[0], hr[0], nprobe)
    ft.heaps_to_sorted(hs, hr)
    return hr[0]


def probe_lists(centroids16, q, nprobe, bias=None):
    """The nprobe lists of one query with the highest <q, c> (+ bias[c]), best first: int64 (nprobe,).

    centroids16: the uint16 bits of float16 centroids (nlist, d); q float32
    (d,); bias float32 (nlist,) or None. Half the bytes of float32 centroids,
    and one pass with the selection fused: the probe of a single query reads
    every centroid, so it runs at the speed of memory.
    """
    if not isinstance(centroids16, np.ndarray) or centroids16.dtype != np.uint16 or centroids16.ndim != 2:
        raise TypeError("centroids16 must be the uint16 bits of float16 centroids (nlist, d)")
    q = np.ascontiguousarray(q, dtype=np.float32)
    if q.shape != (centroids16.shape[1],):
        raise ValueError(f"q must have shape ({centroids16.shape[1]},), got {q.shape}")
    if not 1 <= nprobe <= len(centroids16):
        raise ValueError(f"nprobe must lie in [1, {len(centroids16)}], got {nprobe}")
    has_bias = bias is not None
    bias = np.ascontiguousarray(bias if has_bias else np.zeros(0), dtype=np.float32)
    if has_bias and bias.shape != (len(centroids16),):
        raise ValueError(f"bias must have shape ({len(centroids16)},)")
    return _probe_kernel(np.ascontiguousarray(centroids16), q, bias, has_bias, int(nprobe))


@njit(cache=True, nogil=True, fastmath=True)
def _shortlist_kernel(centroids, cand, q, bias, has_bias, nprobe):
    m, d = cand.shape[0], centroids.shape[1]
    sv = np.empty(m, np.float32)
    for i in range(m):
        row = centroids[cand[i]]
        s = np.float32(0)
        for j in range(d):  # reassociated (fastmath): vectorized dot products
            s += row[j] * q[j]
        sv[i] = s + bias[cand[i]] if has_bias else s
    hs, hr = ft.new_heaps(1, nprobe)
    ft.push_block(sv, m, 0, hs[0], hr[0], nprobe)
    ft.heaps_to_sorted(hs, hr)
    out = np.empty(nprobe, np.int64)
    for j in range(nprobe):
        out[j] = cand[hr[0, j]]
    return out


def probe_shortlist(centroids, cand, q, nprobe, bias=None):
    """The nprobe lists among ``cand`` with the highest <q, c> (+ bias[c]), best first: int64 (nprobe,).

    centroids float32 (nlist, d); cand int64 (m,), distinct lists, m >= nprobe
    (a coarser ranking's shortlist); ties go to the list earlier in cand. The
    exact second look of a probe whose first look read compact centroid codes.
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    if centroids.ndim != 2:
        raise ValueError(f"centroids must be 2-D (nlist, d), got shape {centroids.shape}")
    cand = _arr1(cand, np.int64, "cand")
    q = np.ascontiguousarray(q, dtype=np.float32)
    if q.shape != (centroids.shape[1],):
        raise ValueError(f"q must have shape ({centroids.shape[1]},), got {q.shape}")
    if not 1 <= nprobe <= len(cand):
        raise ValueError(f"nprobe must lie in [1, {len(cand)}], got {nprobe}")
    if cand.min() < 0 or cand.max() >= len(centroids):
        raise ValueError(f"cand must lie in [0, {len(centroids)})")
    has_bias = bias is not None
    bias = np.ascontiguousarray(bias if has_bias else np.zeros(0), dtype=np.float32)
    if has_bias and bias.shape != (len(centroids),):
        raise ValueError(f"bias must have shape ({len(centroids)},)")
    return _shortlist_kernel(centroids, cand, q, bias, has_bias, int(nprobe))


_SELECT_BUCKETS = 1024


@njit(cache=True, nogil=True)
def _best_rows(est, m):
    """The rows of the m largest est, ties to the smaller row, in row order: int64 (m,).

    A histogram over est's range finds the bucket holding the m-th largest;
    only that bucket is sorted. With a new query each time, np.partition's
    branches mispredict: ~40 us for 4,096 rows against ~10 us on repeats."""
    n = est.shape[0]
    lo = np.inf
    hi = -np.inf
    for r in range(n):
        if est[r] > -np.inf:  # the range of the live estimates: -inf (dead) rows fall in bucket 0
            lo = min(lo, est[r])
        hi = max(hi, est[r])
    nb = _SELECT_BUCKETS
    scale = (nb - 1) / (np.float64(hi) - lo) if hi > lo else 0.0
    bucket = np.empty(n, np.int64)
    hist = np.zeros(nb, np.int64)
    for r in range(n):
        b = min(max(int((np.float64(est[r]) - lo) * scale), 0), nb - 1) if est[r] > -np.inf else 0
        bucket[r] = b
        hist[b] += 1
    above = 0
    tb = nb - 1
    while above + hist[tb] < m:  # every bucket above tb is taken whole
        above += hist[tb]
        tb -= 1
    edge = np.empty(hist[tb], np.int64)
    c = 0
    for r in range(n):
        if bucket[r] == tb:
            edge[c] = r
            c += 1
    keep = np.zeros(n, np.bool_)
    for r in range(n):
        keep[r] = bucket[r] > tb
    order = np.argsort(-est[edge], kind="mergesort")  # stable: ties stay in row order
    for j in range(m - above):
        keep[edge[order[j]]] = True
    return np.flatnonzero(keep).astype(np.int64)


@njit(cache=True, nogil=True)
def _sketch_kernel(blocks, factors, q, mean, bits, add_w, centroids, bias, has_bias, m, nprobe):
    n = centroids.shape[0]
    nblk, w, block = blocks.shape
    planes, qa, qb = estimate_terms(q.reshape(1, -1), mean, True, bits, w)
    est = np.empty(n, np.float32)
    dv = np.empty(block, np.int64)
    aw = np.float32(add_w)
    for b in range(nblk):
        b0 = b * block
        cm = min(n - b0, block)
        if cm <= 0:
            break
        _plane_block_dists(blocks[b], cm, planes[0], dv)
        for r in range(cm):
            mul = half_to_float(factors[0, b0 + r])
            add = half_to_float(factors[1, b0 + r])
            est[b0 + r] = mul * (qa[0] - qb[0] * np.float32(dv[r])) + aw * add
    cand = _best_rows(est, m)
    return _shortlist_kernel(centroids, cand, q, bias, has_bias, nprobe)


def probe_sketch(blocks, factors, mean, centroids, q, nprobe, m, bits=4, add_w=1.0, bias=None, trusted=False):
    """One query's probe in one call: rank every list by the binary estimate of
    <q, c> over 1-bit codes of the centroids, then the m best exactly
    (`probe_shortlist`). Returns the nprobe lists, best first: int64 (nprobe,).

    blocks uint64 (ceil(nlist / block), w, block): the sign words of the
    centered centroids c - mean, blocked (`native.to_blocks`); factors: the
    uint16 bits of their float16 (mul, add) factors (2, >= nlist); mean float32
    (d,); add_w the weight of the add factor (see
    `native.blocks.bitplane_estimate_topk_blocks`; only the order of the
    estimates matters here). centroids float32 (nlist, d); q float32 (d,);
    bias float32 (nlist,) or None. The candidates are the m best estimates,
    ties to the smaller list. trusted: the engine's call, its arguments
    already in the kernel's types and shapes: no checks (~2.5 us).
    """
    if trusted:
        has_bias = bias is not None
        return _sketch_kernel(blocks, factors, q, mean, bits, add_w, centroids,
                              bias if has_bias else _NO_BIAS, has_bias, m, nprobe)
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    if centroids.ndim != 2:
        raise ValueError(f"centroids must be 2-D (nlist, d), got shape {centroids.shape}")
    nlist, d = centroids.shape
    if not isinstance(blocks, np.ndarray) or blocks.dtype != np.uint64 or blocks.ndim != 3:
        raise TypeError("blocks must be a uint64 array (blocks, words, block)")
    if blocks.shape[1] != -(-d // 64) or blocks.shape[0] * blocks.shape[2] < nlist:
        raise ValueError(f"blocks {blocks.shape} must hold {nlist} rows of {-(-d // 64)} words")
    if not isinstance(factors, np.ndarray) or factors.dtype != np.uint16 or factors.ndim != 2 or factors.shape[0] != 2:
        raise TypeError("factors must be the uint16 bits of float16 (2, nlist)")
    if factors.shape[1] < nlist:
        raise ValueError(f"factors cover {factors.shape[1]} lists, fewer than {nlist}")
    mean = np.ascontiguousarray(mean, dtype=np.float32)
    q = np.ascontiguousarray(q, dtype=np.float32)
    if mean.shape != (d,) or q.shape != (d,):
        raise ValueError(f"mean and q must have shape ({d},)")
    if not 1 <= int(bits) <= 8:
        raise ValueError(f"bits must be in [1, 8], got {bits}")
    if not 1 <= nprobe <= m <= nlist:
        raise ValueError(f"need 1 <= nprobe <= m <= {nlist}, got nprobe {nprobe}, m {m}")
    has_bias = bias is not None
    bias = np.ascontiguousarray(bias if has_bias else np.zeros(0), dtype=np.float32)
    if has_bias and bias.shape != (nlist,):
        raise ValueError(f"bias must have shape ({nlist},)")
    return _sketch_kernel(blocks, np.ascontiguousarray(factors), q, mean, int(bits), float(add_w), centroids, bias,
                          has_bias, int(m), int(nprobe))
