"""Inverted index kernels: posting-pool maintenance and an overlap-counting scan.

A *posting pool* holds one list of slots per key (a sparse dimension, or an IVF
list) in a single int32 array ``pool_slots``: key ``d`` owns the region
``pool_slots[starts[d] : starts[d] + lengths[d]]`` (capacity is managed by the
caller).  The engine keeps regions sorted by slot (``sort_regions`` after an
append; removal keeps order), so a scan over a region meets slots in the same
order whatever the history of updates.  For the scan, ``pool_weights`` is a
float32 array parallel to ``pool_slots``, or an empty array when every entry
weighs 1; the upkeep kernels move any per-entry rows (see below).

``overlap_topk`` scores every eligible slot ``s`` against a sparse query
``{(d, w_d)}`` as

    score(s) = sum_d  w_d * weight(d, s)     (weights default to 1: an overlap count)

accumulated in float64, and returns the best ``k`` slots ordered by
``(score desc, slot asc)``.  Only slots found in the query's postings are
touched, so the work is the total length of those postings, not ``n``.  Slots
that share nothing with the query score 0 and fill the tail in slot order when
fewer than ``k`` slots score above 0.
"""
import numpy as np
from numba import njit

from .float_topk import sift_down, sift_up, worse

__all__ = [
    "overlap_topk",
    "top_active",
    "postings_append",
    "postings_remove",
    "sort_regions",
    "copy_regions",
    "PAD_SLOT",
]

PAD_SLOT = -1  # slot reported in unused result positions (score -inf)


# --------------------------------------------------------------------------- scan
@njit(cache=True, nogil=True)
def _overlap_topk_kernel(pool_slots, pool_w, has_pw, starts, lengths, q_indptr, q_idx, q_w, has_qw, eligible, k, fill):
    n = eligible.shape[0]
    nq = q_indptr.shape[0] - 1
    out_s = np.full((nq, k), PAD_SLOT, np.int64)
    out_v = np.full((nq, k), -np.inf, np.float32)
    acc = np.zeros(n, np.float64)
    seen = np.zeros(n, np.uint8)
    touched = np.empty(max(n, 1), np.int64)
    hv = np.empty(k, np.float64)
    hs = np.empty(k, np.int64)
    for q in range(nq):
        nt = 0
        for t in range(q_indptr[q], q_indptr[q + 1]):
            d = q_idx[t]
            wq = np.float64(q_w[t]) if has_qw else 1.0
            st = starts[d]
            region = pool_slots[st:st + lengths[d]]
            for e in range(region.shape[0]):
                s = region[e]
                if eligible[s] == 0:
                    continue
                if seen[s] == 0:
                    seen[s] = 1
                    touched[nt] = s
                    nt += 1
                if has_pw:
                    acc[s] += wq * np.float64(pool_w[st + e])
                else:
                    acc[s] += wq
        # bounded heap over the touched slots that scored above 0
        size = 0
        for i in range(nt):
            s = touched[i]
            v = acc[s]
            if v <= 0.0:
                continue
            if size < k:
                hv[size] = v
                hs[size] = s
                sift_up(hv, hs, size)
                size += 1
            elif worse(hv[0], hs[0], v, s):
                hv[0] = v
                hs[0] = s
                sift_down(hv, hs, 0, k)
        # pop the worst into the last position: best first
        for pos in range(size - 1, -1, -1):
            out_v[q, pos] = hv[0]
            out_s[q, pos] = hs[0]
            hv[0] = hv[pos]
            hs[0] = hs[pos]
            sift_down(hv, hs, 0, pos)
        # zero-score slots fill the tail in slot order (unless told not to)
        s = 0 if fill else n
        while size < k and s < n:
            if eligible[s] != 0 and acc[s] <= 0.0:
                out_s[q, size] = s
                out_v[q, size] = 0.0
                size += 1
            s += 1
        for i in range(nt):
            s = touched[i]
            acc[s] = 0.0
            seen[s] = 0
    return out_s, out_v


def overlap_topk(pool_slots, pool_weights, starts, lengths, q_indptr, q_indices, q_weights, eligible, k,
                 fill_zeros=True):
    """Best k eligible slots per sparse query by weighted overlap (see module doc).

    fill_zeros=False: only slots scoring above 0 come back, the rest is
    padding (a sparse retrieval's hit list; no pass over all n slots).

    pool_slots int32 (P,); pool_weights float32 (P,) or empty (unit weights);
    starts, lengths int64 (K,); the query batch in CSR form: q_indptr int64
    (nq + 1,), q_indices int64 (nnz,) keys in [0, K), q_weights float32 (nnz,)
    or empty; eligible uint8/bool (n,) (slots in the pool must be < n).
    Returns (slots int64 (nq, k), scores float32 (nq, k)), best first; padding
    slot -1, score -inf.  Read-only inputs are accepted.
    """
    pool_slots = _arr(pool_slots, np.int32, "pool_slots")
    pool_weights = _arr(pool_weights, np.float32, "pool_weights")
    starts = _arr(starts, np.int64, "starts")
    lengths = _arr(lengths, np.int64, "lengths")
    q_indptr = _arr(q_indptr, np.int64, "q_indptr")
    q_indices = _arr(q_indices, np.int64, "q_indices")
    q_weights = _arr(q_weights, np.float32, "q_weights")
    if isinstance(eligible, np.ndarray) and eligible.dtype == np.bool_:
        eligible = eligible.view(np.uint8)
    eligible = _arr(eligible, np.uint8, "eligible")
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or int(k) < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    has_pw = pool_weights.size > 0
    if has_pw and pool_weights.shape != pool_slots.shape:
        raise ValueError(f"pool_weights has shape {pool_weights.shape}, pool_slots {pool_slots.shape}")
    if starts.shape != lengths.shape:
        raise ValueError(f"starts {starts.shape} and lengths {lengths.shape} differ")
    if len(q_indptr) < 1 or q_indptr[0] != 0 or q_indptr[-1] != len(q_indices) or (np.diff(q_indptr) < 0).any():
        raise ValueError("q_indptr must start at 0, never decrease and end at len(q_indices)")
    has_qw = q_weights.size > 0
    if has_qw and q_weights.shape != q_indices.shape:
        raise ValueError(f"q_weights has shape {q_weights.shape}, q_indices {q_indices.shape}")
    if q_indices.size and (q_indices.min() < 0 or q_indices.max() >= len(starts)):
        raise ValueError(f"q_indices must lie in [0, {len(starts)})")
    return _overlap_topk_kernel(pool_slots, pool_weights, has_pw, starts, lengths,
                                q_indptr, q_indices, q_weights, has_qw, eligible, int(k), bool(fill_zeros))


# --------------------------------------------------------------------------- encoding
@njit(cache=True, nogil=True)
def _top_active_kernel(x, a):
    n, d = x.shape
    out = np.empty((n, a), np.int64)
    hv = np.empty(a, np.float64)
    hs = np.empty(a, np.int64)
    for i in range(n):
        row = x[i]
        for j in range(a):
            hv[j] = row[j]
            hs[j] = j
            sift_up(hv, hs, j)
        for j in range(a, d):
            v = np.float64(row[j])
            if v > hv[0]:  # a later index never wins a tie
                hv[0] = v
                hs[0] = j
                sift_down(hv, hs, 0, a)
        out[i] = np.sort(hs)
    return out


def top_active(x, a):
    """Indices of the a largest entries of every row, in ascending index order.

    x float32/float64 (n, d), 1 <= a <= d, no NaN.  Ties go to the smaller index.
    Returns int64 (n, a).
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype not in (np.float32, np.float64):
        raise TypeError("x must be a 2-D float32 or float64 numpy array")
    if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)) or not 1 <= a <= x.shape[1]:
        raise ValueError(f"a must be an integer in [1, {x.shape[1]}], got {a!r}")
    return _top_active_kernel(np.ascontiguousarray(x), int(a))


# --------------------------------------------------------------------------- pool upkeep
# Every upkeep kernel moves a 2-D ``pool_values`` (P, V) alongside ``pool_slots``:
# the sparse postings' weights (V = 1, float32), an IVF list's codes (V = code
# bytes, uint8), or nothing (V = 0). Row p of it belongs to entry p of the pool.
@njit(cache=True, nogil=True)
def _append_kernel(pool_slots, pool_v, starts, lengths, keys, slots, values):
    nv = pool_v.shape[1]
    for i in range(keys.shape[0]):
        d = keys[i]
        pos = starts[d] + lengths[d]
        pool_slots[pos] = slots[i]
        for c in range(nv):
            pool_v[pos, c] = values[i, c]
        lengths[d] += 1


@njit(cache=True, nogil=True)
def _remove_kernel(pool_slots, pool_v, starts, lengths, keys, slots):
    nv = pool_v.shape[1]
    missing = 0
    for i in range(keys.shape[0]):
        d = keys[i]
        st = starts[d]
        ln = lengths[d]
        target = slots[i]
        found = -1
        for j in range(ln):
            if pool_slots[st + j] == target:
                found = j
                break
        if found < 0:
            missing += 1
            continue
        for j in range(st + found, st + ln - 1):  # shift left: the region stays in order
            pool_slots[j] = pool_slots[j + 1]
            for c in range(nv):
                pool_v[j, c] = pool_v[j + 1, c]
        lengths[d] = ln - 1
    return missing


@njit(cache=True, nogil=True)
def _sort_regions_kernel(pool_slots, pool_v, starts, lengths, keys):
    nv = pool_v.shape[1]
    for i in range(keys.shape[0]):
        d = keys[i]
        st = starts[d]
        ln = lengths[d]
        region = pool_slots[st:st + ln]
        ordered = True
        for j in range(1, ln):  # regions are usually sorted already: a check is O(ln)
            if region[j] < region[j - 1]:
                ordered = False
                break
        if ordered:
            continue
        order = np.argsort(region, kind="mergesort")
        slots = region[order]
        region[:] = slots
        if nv:
            vr = pool_v[st:st + ln]
            moved = vr[order]
            vr[:] = moved


@njit(cache=True, nogil=True)
def _copy_regions_kernel(src_slots, src_v, dst_slots, dst_v, src_starts, lengths, dst_starts):
    nv = dst_v.shape[1]
    for i in range(src_starts.shape[0]):
        a = src_starts[i]
        b = dst_starts[i]
        for j in range(lengths[i]):
            dst_slots[b + j] = src_slots[a + j]
            for c in range(nv):
                dst_v[b + j, c] = src_v[a + j, c]


def postings_append(pool_slots, pool_values, starts, lengths, keys, slots, values):
    """In place: append slot ``slots[i]`` (with row ``values[i]``) to key ``keys[i]``'s region, in order.

    The caller guarantees capacity: every region may grow into the space after
    it.  pool_values (P, V) and values (len(keys), V) share a dtype; V may be 0.
    """
    _check_pool(pool_slots, pool_values, starts, lengths)
    keys = _arr(keys, np.int64, "keys")
    slots = _arr(slots, np.int64, "slots")
    if not isinstance(values, np.ndarray) or values.ndim != 2:
        raise TypeError("values must be a 2-D numpy array (one row per entry)")
    values = np.ascontiguousarray(values, dtype=pool_values.dtype)
    if keys.shape != slots.shape or values.shape != (len(keys), pool_values.shape[1]):
        raise ValueError(f"keys, slots and values must have {len(keys)} entries, values {pool_values.shape[1]} columns")
    _append_kernel(pool_slots, pool_values, starts, lengths, keys, slots, values)


def postings_remove(pool_slots, pool_values, starts, lengths, keys, slots):
    """In place: remove the first entry equal to ``slots[i]`` from key ``keys[i]``'s region,
    shifting the entries after it down by one (order is kept).  Returns how many pairs
    were not found."""
    _check_pool(pool_slots, pool_values, starts, lengths)
    keys = _arr(keys, np.int64, "keys")
    slots = _arr(slots, np.int64, "slots")
    if keys.shape != slots.shape:
        raise ValueError("keys and slots must have the same length")
    return int(_remove_kernel(pool_slots, pool_values, starts, lengths, keys, slots))


def sort_regions(pool_slots, pool_values, starts, lengths, keys):
    """In place: sort the regions of ``keys`` by slot (stable), value rows moving alongside."""
    _check_pool(pool_slots, pool_values, starts, lengths)
    _sort_regions_kernel(pool_slots, pool_values, starts, lengths, _arr(keys, np.int64, "keys"))


def copy_regions(src_slots, src_values, dst_slots, dst_values, src_starts, lengths, dst_starts):
    """Copy region i (``lengths[i]`` entries from ``src_starts[i]``) to ``dst_starts[i]``.

    Source and destination may be the same pool when regions do not overlap.
    """
    _check_inplace(src_slots, np.int32, "src_slots")
    _check_inplace(dst_slots, np.int32, "dst_slots")
    _check_values(src_values, src_slots, "src_values")
    _check_values(dst_values, dst_slots, "dst_values")
    if src_values.dtype != dst_values.dtype or src_values.shape[1] != dst_values.shape[1]:
        raise ValueError("src_values and dst_values must share dtype and width")
    src_starts = _arr(src_starts, np.int64, "src_starts")
    lengths = _arr(lengths, np.int64, "lengths")
    dst_starts = _arr(dst_starts, np.int64, "dst_starts")
    _copy_regions_kernel(src_slots, src_values, dst_slots, dst_values, src_starts, lengths, dst_starts)


# --------------------------------------------------------------------------- checks
def _arr(a, dtype, name):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=dtype)


def _check_inplace(a, dtype, name):
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.ndim != 1 or not a.flags.c_contiguous:
        raise TypeError(f"{name} must be a C-contiguous 1-D {np.dtype(dtype)} array (it is updated in place)")
    if not a.flags.writeable:
        raise ValueError(f"{name} is read-only but is updated in place")


def _check_values(v, pool_slots, name):
    if not isinstance(v, np.ndarray) or v.ndim != 2 or not v.flags.c_contiguous:
        raise TypeError(f"{name} must be a C-contiguous 2-D array (pool entries, values per entry)")
    if v.dtype not in (np.float32, np.uint8):
        raise TypeError(f"{name} must be float32 or uint8, got {v.dtype}")
    if not v.flags.writeable:
        raise ValueError(f"{name} is read-only but is updated in place")
    if v.shape[1] and len(v) != len(pool_slots):
        raise ValueError(f"{name} has {len(v)} rows, the pool {len(pool_slots)} entries")


def _check_pool(pool_slots, pool_values, starts, lengths):
    _check_inplace(pool_slots, np.int32, "pool_slots")
    _check_values(pool_values, pool_slots, "pool_values")
    _check_inplace(starts, np.int64, "starts")
    _check_inplace(lengths, np.int64, "lengths")
