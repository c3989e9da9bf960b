"""Asymmetric scoring of 1-bit codes against a multi-bit query (bit planes).

A float query is quantized to B-bit integers u_i in [0, 2^B - 1] and split
into B bit planes (plane j holds bit j of every u_i, packed like the codes).
Against a code with bits b_i the distance

    D(u, b) = sum_i |u_i - (2^B - 1) * b_i| = sum_{j < B} 2^j * popcount(plane_j XOR b)

is small when the query is large where the code's bit is set. Ranking by D is
ranking by the inner product <u - h, 2b - 1> (h = (2^B - 1) / 2), since
D = sum(u) - 2 * <u, b> + (2^B - 1) * popcount(b) differs from it by a
per-query constant only. This keeps the query's magnitudes, which a sign code
of the query throws away, and so needs far fewer candidates for the same
recall after reranking (the idea RaBitQ builds on).
"""
import numpy as np
from numba import njit

from .hamming import _as_codes
from .popcount import popcount64

__all__ = ["quantize_planes", "bitplane_distances"]  # the top-k scans: native/blocks.py



@njit(cache=True, nogil=True)
def _quantize_planes_kernel(x, bits, out, amaxes):
    """u = round(x / delta + h) clipped, delta = max|x| / h; bit j of u_i -> plane j, word i // 64."""
    nq, d = x.shape
    top = (1 << bits) - 1
    h = top / 2.0
    for q in range(nq):
        amax = 0.0
        for i in range(d):
            amax = max(amax, abs(x[q, i]))
        amaxes[q] = amax
        scale = h / amax if amax > 0 else 0.0
        for i in range(d):
            u = int(np.floor(x[q, i] * scale + h + 0.5))
            u = min(max(u, 0), top)
            for j in range(bits):
                if (u >> j) & 1:
                    out[q, j, i >> 6] |= np.uint64(1) << np.uint64(i & 63)


def check_search_args(q, mean, bits, words):
    """The query-side arguments of the one-call estimate searches (native.blocks,
    native.ivf): q C-contiguous float32 (nq, d) with d <= 64 * words, mean
    float32 (d,) or None, bits in [1, 8]. Returns (mean array, has_mean)."""
    if not isinstance(q, np.ndarray) or q.dtype != np.float32 or q.ndim != 2 or not q.flags.c_contiguous:
        raise TypeError("q must be a C-contiguous float32 array (nq, d)")
    if not 0 < q.shape[1] <= 64 * words:
        raise ValueError(f"q has {q.shape[1]} dims; the codes hold {64 * words} sign bits per row")
    has_mean = mean is not None
    mean = np.ascontiguousarray(mean if has_mean else np.zeros(q.shape[1]), dtype=np.float32)
    if mean.shape != (q.shape[1],):
        raise ValueError(f"mean must have shape ({q.shape[1]},)")
    if not 1 <= int(bits) <= 8:
        raise ValueError(f"bits must be in [1, 8], got {bits}")
    return mean, has_mean


@njit(cache=True, nogil=True)
def estimate_terms(q, mean, has_mean, bits, words):
    """(planes uint64 (nq, bits, words), qa, qb float32 (nq,)) of the centered
    queries q - mean: quantize_planes maps q_c to v = q_c * h / max|q_c|, and
    <v, s> = h * d - D, so <q_c, s> = qa - qb * D (see native.blocks)."""
    nq, d = q.shape
    qc = np.empty((nq, d), np.float32)
    for i in range(nq):
        for j in range(d):
            qc[i, j] = q[i, j] - mean[j] if has_mean else q[i, j]
    planes = np.zeros((nq, bits, words), np.uint64)
    amax = np.empty(nq, np.float64)
    _quantize_planes_kernel(qc, bits, planes, amax)
    h = ((1 << bits) - 1) / 2.0
    qa = np.empty(nq, np.float32)
    qb = np.empty(nq, np.float32)
    for i in range(nq):
        b = amax[i] / h
        qb[i] = b
        qa[i] = h * d * b
    return planes, qa, qb


@njit(cache=True, nogil=True)
def estimate_scores(est, rows, q, mean, has_mean, mul_scale, l2):
    """In place: est (nq, k) -> est * mul_scale + the query's own term, -inf where rows < 0.

    The own term is <q, mean> (l2: 2 <q, mean> - |q|^2), which the codes' estimate leaves out."""
    nq, k = est.shape
    for i in range(nq):
        qm = 0.0
        sq = 0.0
        for j in range(q.shape[1]):
            if has_mean:
                qm += np.float64(q[i, j]) * mean[j]
            sq += np.float64(q[i, j]) * q[i, j]
        own = np.float32(2 * qm - sq if l2 else qm)
        for j in range(k):
            est[i, j] = est[i, j] * mul_scale + own if rows[i, j] >= 0 else -np.inf


def quantize_planes(x, bits, with_amax=False):
    """Bit planes uint64 (nq, bits, ceil(d / 64)) of the B-bit quantized rows of x (float32 (nq, d)).

    with_amax: also return max|x| per row, float64 (nq,): the quantizer maps
    x to u - h = x * h / max|x|, which callers need to undo the scale."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (nq, d), got shape {x.shape}")
    if not 1 <= int(bits) <= 8:
        raise ValueError(f"bits must be in [1, 8], got {bits}")
    out = np.zeros((x.shape[0], int(bits), -(-x.shape[1] // 64)), dtype=np.uint64)
    amax = np.empty(x.shape[0], dtype=np.float64)
    _quantize_planes_kernel(x, int(bits), out, amax)
    return (out, amax) if with_amax else out


@njit(cache=True, nogil=True, inline="always")
def _plane_dists(blk, planes, dv, m, w, nb):
    """dv[r] = sum_j 2^j sum_t popcount(blk[r, t] ^ planes[j, t]) for r < m."""
    for r in range(m):
        s = 0
        for t in range(w):
            c = blk[r, t]
            for j in range(nb):
                s += popcount64(c ^ planes[j, t]) << j
        dv[r] = s


@njit(cache=True, nogil=True, inline="always")
def _plane_block_dists(tr, m, pq, dv):
    """dv[r] = D(planes pq, row r) for r < m of a word-major block tr (w, >= m).

    Every (word, plane) is one unit-stride pass over the block's rows, which
    LLVM vectorizes (vpopcntq); a scalar loop over planes per row ran ~12x
    slower than the plain Hamming scan."""
    w = tr.shape[0]
    nb = pq.shape[0]
    if nb == 4 and w == 6:
        _plane_block_dists_4x6(tr, m, pq, dv)
        return
    dv[:] = 0
    for t in range(w):
        col = tr[t, :m]
        if nb == 4:  # the default: all four planes of a word in one pass
            p0 = pq[0, t]
            p1 = pq[1, t]
            p2 = pq[2, t]
            p3 = pq[3, t]
            for r in range(m):
                c = col[r]
                dv[r] += (popcount64(c ^ p0) + (popcount64(c ^ p1) << 1)
                          + (popcount64(c ^ p2) << 2) + (popcount64(c ^ p3) << 3))
        else:
            for j in range(nb):
                p = pq[j, t]
                for r in range(m):
                    dv[r] += popcount64(col[r] ^ p) << j


@njit(cache=True, nogil=True, inline="always")
def _plane_block_dists_4x6(tr, m, pq, dv):
    """The default 4-bit query on 384-bit codes: all 24 (word, plane) pairs of
    a row in one pass, the sum kept in a register; ~20% faster than one pass
    per word, which stores and reloads dv six times."""
    p00, p01, p02, p03, p04, p05 = pq[0, 0], pq[0, 1], pq[0, 2], pq[0, 3], pq[0, 4], pq[0, 5]
    p10, p11, p12, p13, p14, p15 = pq[1, 0], pq[1, 1], pq[1, 2], pq[1, 3], pq[1, 4], pq[1, 5]
    p20, p21, p22, p23, p24, p25 = pq[2, 0], pq[2, 1], pq[2, 2], pq[2, 3], pq[2, 4], pq[2, 5]
    p30, p31, p32, p33, p34, p35 = pq[3, 0], pq[3, 1], pq[3, 2], pq[3, 3], pq[3, 4], pq[3, 5]
    t0, t1, t2, t3, t4, t5 = tr[0, :m], tr[1, :m], tr[2, :m], tr[3, :m], tr[4, :m], tr[5, :m]
    for r in range(m):
        c0, c1, c2, c3, c4, c5 = t0[r], t1[r], t2[r], t3[r], t4[r], t5[r]
        s0 = (popcount64(c0 ^ p00) + popcount64(c1 ^ p01) + popcount64(c2 ^ p02)
              + popcount64(c3 ^ p03) + popcount64(c4 ^ p04) + popcount64(c5 ^ p05))
        s1 = (popcount64(c0 ^ p10) + popcount64(c1 ^ p11) + popcount64(c2 ^ p12)
              + popcount64(c3 ^ p13) + popcount64(c4 ^ p14) + popcount64(c5 ^ p15))
        s2 = (popcount64(c0 ^ p20) + popcount64(c1 ^ p21) + popcount64(c2 ^ p22)
              + popcount64(c3 ^ p23) + popcount64(c4 ^ p24) + popcount64(c5 ^ p25))
        s3 = (popcount64(c0 ^ p30) + popcount64(c1 ^ p31) + popcount64(c2 ^ p32)
              + popcount64(c3 ^ p33) + popcount64(c4 ^ p34) + popcount64(c5 ^ p35))
        dv[r] = s0 + (s1 << 1) + (s2 << 2) + (s3 << 3)


def _check(codes, planes):
    codes = _as_codes(codes, "codes")
    if not isinstance(planes, np.ndarray) or planes.dtype != np.uint64 or planes.ndim != 3:
        raise TypeError("planes must be a uint64 array (nq, bits, words)")
    if planes.shape[2] != codes.shape[1]:
        raise ValueError(f"codes have {codes.shape[1]} words per row but planes have {planes.shape[2]}")
    return codes, np.ascontiguousarray(planes)


@njit(cache=True, nogil=True)
def _bitplane_distances_kernel(codes, planes):
    n, w = codes.shape
    nq, nb = planes.shape[0], planes.shape[1]
    out = np.empty((nq, n), np.int32)
    dv = np.empty(n, np.int64)
    for q in range(nq):
        _plane_dists(codes, planes[q], dv, n, w, nb)
        for r in range(n):
            out[q, r] = dv[r]
    return out


def bitplane_distances(codes, planes):
    """Full matrix D[q, r] int32 (nq, n); for tests and small cases."""
    codes, planes = _check(codes, planes)
    return _bitplane_distances_kernel(codes, planes)
