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
from .bitplane import check_search_args, estimate_scores, estimate_terms
from .half import half_to_float
from .hamming import _alive_arg, _check_k
from .popcount import popcount64

__all__ = ["gather_regions", "pool_positions", "bitplane_estimate_topk_regions", "bitplane_estimate_search_regions",
           "probe_lists"]


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


@njit(cache=True, nogil=True, inline="always")
def _row_dist_4x6(row, pq):
    """D of one 384-bit row against a 4-bit query: the default, unrolled (a loop
    over a run-time plane count ran ~3x slower)."""
    c0, c1, c2, c3, c4, c5 = row[0], row[1], row[2], row[3], row[4], row[5]
    s0 = (popcount64(c0 ^ pq[0, 0]) + popcount64(c1 ^ pq[0, 1]) + popcount64(c2 ^ pq[0, 2])
          + popcount64(c3 ^ pq[0, 3]) + popcount64(c4 ^ pq[0, 4]) + popcount64(c5 ^ pq[0, 5]))
    s1 = (popcount64(c0 ^ pq[1, 0]) + popcount64(c1 ^ pq[1, 1]) + popcount64(c2 ^ pq[1, 2])
          + popcount64(c3 ^ pq[1, 3]) + popcount64(c4 ^ pq[1, 4]) + popcount64(c5 ^ pq[1, 5]))
    s2 = (popcount64(c0 ^ pq[2, 0]) + popcount64(c1 ^ pq[2, 1]) + popcount64(c2 ^ pq[2, 2])
          + popcount64(c3 ^ pq[2, 3]) + popcount64(c4 ^ pq[2, 4]) + popcount64(c5 ^ pq[2, 5]))
    s3 = (popcount64(c0 ^ pq[3, 0]) + popcount64(c1 ^ pq[3, 1]) + popcount64(c2 ^ pq[3, 2])
          + popcount64(c3 ^ pq[3, 3]) + popcount64(c4 ^ pq[3, 4]) + popcount64(c5 ^ pq[3, 5]))
    return s0 + (s1 << 1) + (s2 << 2) + (s3 << 3)


@njit(cache=True, nogil=True)
def _estimate_regions_kernel(pool_words, pool_slots, starts, lengths, lists, planes, qa, qb, add_w, k, alive, has_alive):
    w = planes.shape[1]
    nb = planes.shape[0]
    m = 0
    longest = 0
    for i in range(lists.shape[0]):
        m += lengths[lists[i]]
        longest = max(longest, lengths[lists[i]])
    slots = np.empty(m, np.int64)  # gather order -> slot: ties break by it, whatever the pool layout
    sv = np.empty(longest, np.float32)
    hs, hr = ft.new_heaps(1, k)
    aw = np.float32(add_w)
    pos = 0
    for i in range(lists.shape[0]):
        st = starts[lists[i]]
        ln = lengths[lists[i]]
        for e in range(ln):
            row = pool_words[st + e]
            if nb == 4 and w == 6:
                d = _row_dist_4x6(row, planes)
            else:
                d = 0
                for t in range(w):
                    c = row[t]
                    for j in range(nb):
                        d += popcount64(c ^ planes[j, t]) << j
            f = row[w]  # the two float16 factors, little-endian in the word after the signs
            mul = half_to_float(np.uint16(f & np.uint64(0xFFFF)))
            add = half_to_float(np.uint16((f >> np.uint64(16)) & np.uint64(0xFFFF)))
            s = pool_slots[st + e]
            slots[pos + e] = s
            sv[e] = mul * (qa - qb * np.float32(d)) + aw * add
            if has_alive and (s >= alive.shape[0] or alive[s] == 0):
                sv[e] = -np.inf
        ft.push_block(sv, ln, pos, hs[0], hr[0], k)
        pos += ln
    ft.heaps_to_sorted(hs, hr)
    out = np.full(k, -1, np.int64)
    for j in range(k):
        if hr[0, j] >= 0:
            out[j] = slots[hr[0, j]]
    return hs[0], out


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
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    lists = _arr1(lists, np.int64, "lists")
    if not isinstance(planes, np.ndarray) or planes.dtype != np.uint64 or planes.ndim != 2:
        raise TypeError("planes must be a uint64 array (bits, words)")
    if not isinstance(pool_words, np.ndarray) or pool_words.dtype != np.uint64 or pool_words.ndim != 2:
        raise TypeError("pool_words must be a uint64 array (pool entries, words)")
    if pool_words.shape[1] < planes.shape[1] + 1 or len(pool_words) != len(pool_slots):
        raise ValueError(f"pool_words {pool_words.shape} must have a row per pool entry and {planes.shape[1] + 1}+ words")
    if lists.size and (lists.min() < 0 or lists.max() >= len(starts)):
        raise ValueError(f"lists must lie in [0, {len(starts)})")
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


def bitplane_estimate_search_regions(pool_words, pool_slots, starts, lengths, lists, q, mean, bits, mul_scale, add_w,
                                     l2, k, alive=None):
    """The binary codec's asymmetric search of one query (q float32 (1, d)) over
    IVF lists, in one call: `native.blocks.bitplane_estimate_search_blocks` with
    the scan of `bitplane_estimate_topk_regions` (pool rows: the sign words,
    then one word of factors). Returns (scores float32 (k,), slots int64 (k,))."""
    pool_slots = _arr1(pool_slots, np.int32, "pool_slots")
    starts = _arr1(starts, np.int64, "starts")
    lengths = _arr1(lengths, np.int64, "lengths")
    lists = _arr1(lists, np.int64, "lists")
    if not isinstance(pool_words, np.ndarray) or pool_words.dtype != np.uint64 or pool_words.ndim != 2:
        raise TypeError("pool_words must be a uint64 array (pool entries, words)")
    if pool_words.shape[1] < 2 or len(pool_words) != len(pool_slots):
        raise ValueError(f"pool_words {pool_words.shape} must have a row per pool entry and 2+ words")
    mean, has_mean = check_search_args(q, mean, bits, pool_words.shape[1] - 1)
    if len(q) != 1:
        raise ValueError(f"one query at a time, got {len(q)}")
    if lists.size and (lists.min() < 0 or lists.max() >= len(starts)):
        raise ValueError(f"lists must lie in [0, {len(starts)})")
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
