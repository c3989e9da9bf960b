"""Exact float32 rescoring of candidate rows: top-k rerank and all-pairs scores.

Metrics (x = a stored vector, q = a query):

    "dot":    s(q, x) = sum_t q[t] * x[t]          larger is better
    "l2":     s(q, x) = sum_t (q[t] - x[t])**2     smaller is better
    "cosine": s(q, x) = <q, x> / ||x||             larger is better (q is expected
              unit-length already; x is normalized on the fly, in the same pass
              as the dot product, so stored vectors need no separate copy)

Stored rows may also come as uint16, the bit patterns of float16 values
(Numba has no float16): the loops widen each element as they read it, so a
float16 rerank needs no decoded copy (see `_widen`).

Inner loops are float32 with the fastmath flags ``reassoc`` and ``contract`` so that
LLVM may reassociate the sums (and fuse multiply-adds) and vectorize them (16 lanes on AVX-512).  The result therefore differs
from a sequential or float64 sum by normal float32 rounding (relative error
~ d * 2**-24 in the worst case, far less in practice); integer-valued inputs of
moderate size are summed exactly.  The l2 score is the direct sum of squared
differences (no ||q||^2 + ||x||^2 - 2<q, x> expansion) so it never goes negative
and has no cancellation error for near neighbours.
"""
import numpy as np
from numba import njit, types
from numba.extending import overload

from . import float_topk as ft
from .half import half_to_float

__all__ = ["rerank_topk", "exact_scores", "rerank_rows", "candidate_ids"]

_METRICS = {"dot": 0, "l2": 1, "cosine": 2}
_DOT, _L2, _COSINE = 0, 1, 2

# Only reassociation (lets LLVM split the sum into vector lanes) and contraction (FMA).
# Deliberately not the full fastmath set: "nnan"/"ninf" would let LLVM assume scores are
# never NaN/inf and fold away the NaN check in the rerank loop.  The helpers are not
# inlined at the Numba IR level either, since that would compile them with the
# caller's (strict) flags; LLVM still inlines them with their own flags.
_FAST = {"reassoc", "contract"}


def _widen(x):
    """A stored element as float32: uint16 is a float16's bit pattern."""


@overload(_widen, inline="always")
def _widen_impl(x):
    if isinstance(x, types.Integer):
        return lambda x: half_to_float(x)
    return lambda x: x


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dot(a, b):
    s = np.float32(0.0)
    for t in range(a.shape[0]):
        s += a[t] * _widen(b[t])
    return s


@njit(cache=True, nogil=True, fastmath=_FAST, error_model="numpy")
def _cosine(a, b):
    s = np.float32(0.0)
    nb = np.float32(0.0)
    for t in range(a.shape[0]):
        x = _widen(b[t])
        s += a[t] * x
        nb += x * x
    if nb >= np.float32(1e-30) and nb <= np.float32(1e38):
        return s / np.sqrt(nb)
    return _cosine_scaled(a, b, s, nb)


@njit(cache=True, nogil=True, error_model="numpy")
def _cosine_scaled(a, b, s, nb):
    """A row whose squares overflow (|x| ~1e19+) or underflow float32: cosine does
    not change with the row's scale, so score x / max|x| instead."""
    m = np.float32(0.0)
    for t in range(a.shape[0]):
        m = max(m, abs(_widen(b[t])))
    if m == 0:
        return s / np.sqrt(nb)  # a zero row gives NaN (or inf/0): dropped as "no candidate"
    s = np.float32(0.0)
    nb = np.float32(0.0)
    for t in range(a.shape[0]):
        x = _widen(b[t]) / m
        s += a[t] * x
        nb += x * x
    return s / np.sqrt(nb)


@njit(cache=True, nogil=True)
def _score(mcode, a, b):
    if mcode == _L2:
        return _sqdist(a, b)
    if mcode == _COSINE:
        return _cosine(a, b)
    return _dot(a, b)


@njit(cache=True, nogil=True, fastmath=_FAST)
def _sqdist(a, b):
    s = np.float32(0.0)
    for t in range(a.shape[0]):
        u = a[t] - _widen(b[t])
        s += u * u
    return s


@njit(cache=True, nogil=True, inline="always")
def _sift_down(hk, hr, pos, size):
    """Max-heap on (key, row): the root is the worst kept candidate (largest key, then largest row)."""
    k0 = hk[pos]
    r0 = hr[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and (hk[c + 1] > hk[c] or (hk[c + 1] == hk[c] and hr[c + 1] > hr[c])):
            c += 1
        if hk[c] > k0 or (hk[c] == k0 and hr[c] > r0):
            hk[pos] = hk[c]
            hr[pos] = hr[c]
            pos = c
        else:
            break
    hk[pos] = k0
    hr[pos] = r0


@njit(cache=True, nogil=True, inline="always")
def _sift_up(hk, hr, pos):
    k0 = hk[pos]
    r0 = hr[pos]
    while pos > 0:
        p = (pos - 1) // 2
        if hk[p] < k0 or (hk[p] == k0 and hr[p] < r0):
            hk[pos] = hk[p]
            hr[pos] = hr[p]
            pos = p
        else:
            break
    hk[pos] = k0
    hr[pos] = r0


@njit(cache=True, nogil=True)
def _rerank_kernel(xq, vecs, cand, k, mcode):
    is_l2 = mcode == _L2
    nq, c = cand.shape
    out_s = np.empty((nq, k), np.float32)
    out_r = np.full((nq, k), -1, np.int64)
    pad = np.float32(np.inf) if is_l2 else np.float32(-np.inf)
    buf = np.empty(c, np.int64)
    hk = np.empty(k, np.float32)  # key = score ("l2") or -score ("dot"): smaller is better
    hr = np.empty(k, np.int64)
    for q in range(nq):
        # Valid candidates in ascending row order: duplicates become adjacent (counted
        # once) and, since rows only grow, an equal key never displaces a kept row --
        # that is exactly the "smaller row wins ties" rule.
        nv = 0
        for t in range(c):
            r = cand[q, t]
            if r >= 0:
                buf[nv] = r
                nv += 1
        rows = np.sort(buf[:nv])
        xqq = xq[q]
        size = 0
        prev = -1
        for t in range(nv):
            r = rows[t]
            if r == prev:
                continue
            prev = r
            key = _score(mcode, xqq, vecs[r])
            if not is_l2:
                key = -key
            if key != key:  # NaN score: treated as "no candidate"  # NaN score: treated as "no candidate"
                continue
            if size < k:
                hk[size] = key
                hr[size] = r
                _sift_up(hk, hr, size)
                size += 1
            elif key < hk[0]:
                hk[0] = key
                hr[0] = r
                _sift_down(hk, hr, 0, k)
        # Heapsort the kept entries into ascending key order.
        for end in range(size - 1, 0, -1):
            tk = hk[0]
            tr = hr[0]
            hk[0] = hk[end]
            hr[0] = hr[end]
            hk[end] = tk
            hr[end] = tr
            _sift_down(hk, hr, 0, end)
        for t in range(size):
            out_s[q, t] = hk[t] if is_l2 else -hk[t]
            out_r[q, t] = hr[t]
        for t in range(size, k):
            out_s[q, t] = pad
    return out_s, out_r


@njit(cache=True, nogil=True)
def _rerank_ids_kernel(xq, vecs, found, cand_ids, k, mcode):
    nq, c = cand_ids.shape
    m = found.shape[0]
    rows = np.full((nq, c), -1, np.int64)
    for q in range(nq):
        for t in range(c):
            i = cand_ids[q, t]
            if i >= 0:
                pos = np.searchsorted(found, i)
                if pos < m and found[pos] == i:
                    rows[q, t] = pos
    scores, best = _rerank_kernel(xq, vecs, rows, k, mcode)
    ids = np.full((nq, k), -1, np.int64)
    for q in range(nq):
        for t in range(k):
            if best[q, t] >= 0:
                ids[q, t] = found[best[q, t]]
    return scores, ids


def rerank_ids(xq, vecs, found, cand_ids, k, metric):
    """`rerank_topk` addressed by point ids instead of rows.

    found int64 (m,) sorted ascending, the id of each row of vecs; cand_ids
    int64 (nq, c) candidate ids, -1 = none, ids absent from `found` are
    skipped (deleted since they were chosen). Returns (scores float32 (nq, k),
    ids int64 (nq, k)), best first, padded with id -1. Ties on score go to the
    smaller id. Arguments are trusted (the engine builds them): no checks.
    """
    return _rerank_ids_kernel(xq, vecs, found, cand_ids, int(k), _check_metric(metric))


@njit(cache=True, nogil=True)
def _rerank_rows_kernel(q, rows, ids, k, mcode):
    m = rows.shape[0]
    is_l2 = mcode == _L2
    sv = np.empty(m, np.float32)
    for i in range(m):
        s = _score(mcode, q, rows[i])
        sv[i] = -s if is_l2 else s  # higher is better; NaN never enters the heap
    hs, hr = ft.new_heaps(1, k)
    ft.push_block(sv, m, 0, hs[0], hr[0], k)  # rows in id order: an equal score keeps the smaller id
    ft.heaps_to_sorted(hs, hr)
    scores = hs[0]
    out = np.full(k, -1, np.int64)
    for j in range(k):
        if hr[0, j] >= 0:
            out[j] = ids[hr[0, j]]
        if is_l2:
            scores[j] = -scores[j]
    return scores, out


def rerank_rows(q, rows, ids, k, metric):
    """One query's exact top-k over every row of `rows`: the rerank of a single
    search, whose candidates are exactly the rows it read.

    q float32 (d,), unit-length for "cosine"; rows float32 (m, d), or uint16
    (m, d) holding float16 bit patterns (widened as they are read, no decoded
    copy); ids int64 (m,) ascending, the id of each row. Returns (scores
    float32 (k,), ids int64 (k,)), best first as in `rerank_topk`; ties go to
    the smaller id, NaN scores are dropped, padding is id -1 with score -inf
    ("l2": +inf). Arguments are trusted (the engine builds them): no checks.
    """
    return _rerank_rows_kernel(q, rows, ids, int(k), _check_metric(metric))


@njit(cache=True, nogil=True)
def _candidate_ids_kernel(slots, scores, floor, ids):
    out = np.empty(slots.shape[0], np.int64)
    m = 0
    for t in range(slots.shape[0]):
        s = slots[t]
        if s >= 0 and scores[t] >= floor:
            out[m] = ids[s]
            m += 1
    return np.sort(out[:m])


def candidate_ids(slots, scores, floor, ids):
    """The ids to rerank for one query, ascending (LMDB's page order): those of
    its scan's slots (int64 (c,), -1 = none) whose scores (float32 (c,)) are at
    least floor, mapped through ids (int64, by slot). Trusted arguments."""
    return _candidate_ids_kernel(slots, scores, np.float32(floor), ids)


@njit(cache=True, nogil=True)
def _exact_scores_kernel(xq, vecs, mcode):
    nq = xq.shape[0]
    m = vecs.shape[0]
    out = np.empty((nq, m), np.float32)
    # Stored vector outermost: each vecs row is read from memory once and stays in L1
    # while all queries (usually a small batch, resident in L2) are scored against it.
    for i in range(m):
        v = vecs[i]
        for q in range(nq):
            out[q, i] = _score(mcode, xq[q], v)
    return out


def _check_metric(metric):
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
    return _METRICS[metric]


def _as_f32_2d(a, name):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy float32 array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return np.ascontiguousarray(a)


def rerank_topk(xq, vecs, cand, k, metric):
    """Exact top-k over per-query candidate rows.

    xq float32 (nq, d); vecs float32 (m, d); cand int64 (nq, c) row indices into vecs,
    -1 = no candidate; metric "dot" (score = <q, x>, higher is better), "cosine" (score =
    <q, x> / ||x||, q already unit-length, higher is better) or "l2" (score = squared L2
    distance, lower is better).  Returns (scores float32 (nq, k), rows int64
    (nq, k)), best first.  Ties on score go to the smaller row index; duplicate rows in
    one query count once; NaN scores are dropped.  Padding: row -1, score -inf ("dot")
    or +inf ("l2").
    """
    mcode = _check_metric(metric)
    xq = _as_f32_2d(xq, "xq")
    vecs = _as_f32_2d(vecs, "vecs")
    if xq.shape[1] != vecs.shape[1]:
        raise ValueError(f"xq has dimension {xq.shape[1]} but vecs has {vecs.shape[1]}")
    if not isinstance(cand, np.ndarray):
        raise TypeError(f"cand must be a numpy int64 array, got {type(cand).__name__}")
    if cand.dtype != np.int64:
        raise TypeError(f"cand must have dtype int64, got {cand.dtype}")
    if cand.ndim != 2 or cand.shape[0] != xq.shape[0]:
        raise ValueError(f"cand must have shape ({xq.shape[0]}, c), got {cand.shape}")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an integer, got {type(k).__name__}")
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    cand = np.ascontiguousarray(cand)
    if cand.size:
        hi = int(cand.max())
        if hi >= vecs.shape[0]:
            raise ValueError(f"cand contains row {hi} but vecs has only {vecs.shape[0]} rows")
        lo = int(cand.min())
        if lo < -1:
            raise ValueError(f"cand contains {lo}; row indices must be >= 0, or -1 for none")
    return _rerank_kernel(xq, vecs, cand, k, mcode)


def exact_scores(xq, vecs, metric):
    """All-pairs scores S[q, i] = <xq[q], vecs[i]> ("dot"), ||xq[q] - vecs[i]||^2 ("l2") or
    <xq[q], vecs[i]> / ||vecs[i]|| ("cosine"), float32 (nq, m)."""
    mcode = _check_metric(metric)
    xq = _as_f32_2d(xq, "xq")
    vecs = _as_f32_2d(vecs, "vecs")
    if xq.shape[1] != vecs.shape[1]:
        raise ValueError(f"xq has dimension {xq.shape[1]} but vecs has {vecs.shape[1]}")
    return _exact_scores_kernel(xq, vecs, mcode)
