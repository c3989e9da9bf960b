"""Fused top-k selection for float scores where higher is better.

The code scans in ``native.pq``, ``native.residual`` and ``native.scalar``
score a block of rows into a buffer and offer the block to one bounded heap
per query. Order is (score descending, row ascending): ties go to the smaller
row. Unused result slots hold row -1 and score -inf.

The heap is a min-heap on (score, -row): its root is the worst kept entry.
"""
import numpy as np
from numba import njit

from .hamming import _alive_arg, _check_k

PAD_ROW = -1


@njit(cache=True, nogil=True, inline="always")
def worse(s_a, r_a, s_b, r_b):
    """True when entry a ranks below entry b."""
    return s_a < s_b or (s_a == s_b and r_a > r_b)


@njit(cache=True, nogil=True, inline="always")
def sift_down(hs, hr, pos, size):
    s0 = hs[pos]
    r0 = hr[pos]
    while True:
        c = 2 * pos + 1
        if c >= size:
            break
        if c + 1 < size and worse(hs[c + 1], hr[c + 1], hs[c], hr[c]):
            c += 1
        if worse(hs[c], hr[c], s0, r0):
            hs[pos] = hs[c]
            hr[pos] = hr[c]
            pos = c
        else:
            break
    hs[pos] = s0
    hr[pos] = r0


@njit(cache=True, nogil=True, inline="always")
def sift_up(hs, hr, pos):
    """Move a new entry at pos up while it ranks above its parent (heaps that fill up)."""
    s0 = hs[pos]
    r0 = hr[pos]
    while pos > 0:
        p = (pos - 1) // 2
        if worse(s0, r0, hs[p], hr[p]):
            hs[pos] = hs[p]
            hr[pos] = hr[p]
            pos = p
        else:
            break
    hs[pos] = s0
    hr[pos] = r0


@njit(cache=True, nogil=True)
def new_heaps(nq, k):
    return np.full((nq, k), -np.inf, np.float32), np.full((nq, k), PAD_ROW, np.int64)


@njit(cache=True, nogil=True, inline="always")
def push_block(sv, m, b0, hs, hr, k):
    """Offer rows b0 .. b0+m-1 with scores sv[:m] to one query's heap.

    Rows arrive in increasing order, so an equal score never displaces a kept
    row. A count of the rows above the threshold first lets most blocks skip
    the branchy loop once the heap has settled (a count vectorizes; a float
    max does not, NaN rules keep it scalar). Rows scored -inf (dead) never enter.
    """
    thr = hs[0]
    above = 0
    for r in range(m):
        above += sv[r] > thr
    if above == 0:
        return
    for r in range(m):
        s = sv[r]
        if s > thr:
            hs[0] = s
            hr[0] = b0 + r
            sift_down(hs, hr, 0, k)
            thr = hs[0]


@njit(cache=True, nogil=True)
def heaps_to_sorted(hs, hr):
    """Heapsort every row in place: each step moves the root (the worst kept
    entry) to the end, so rows come out best first."""
    k = hs.shape[1]
    for q in range(hs.shape[0]):
        s = hs[q]
        r = hr[q]
        for end in range(k - 1, 0, -1):
            ts = s[0]
            tr = r[0]
            s[0] = s[end]
            r[0] = r[end]
            s[end] = ts
            r[end] = tr
            sift_down(s, r, 0, end)


@njit(cache=True, nogil=True, inline="always")
def mask_dead(sv, al, m):
    for r in range(m):
        if al[r] == 0:
            sv[r] = -np.inf


def check_common(codes, k, alive):
    """Shared argument checks: k a positive int, alive uint8/bool (n,) or None
    (then every row is live: these kernels always take a mask)."""
    alive_arr, given = _alive_arg(alive, codes.shape[0])
    return _check_k(k), (alive_arr if given else np.ones(codes.shape[0], np.uint8))


def as_array(a, name, dtype, ndim):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy {np.dtype(dtype).name} array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name} must have dtype {np.dtype(dtype).name}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return np.ascontiguousarray(a)
