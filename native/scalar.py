"""8-bit scalar-quantized scan with fused top-k.

A code is one uint8 level c[j] per dimension. The engine dequantizes as
x[j] ~ lo[j] + scale[j] * c[j] and folds lo and scale into the query, so the
scan needs only one of two forms:

    "dot": s(c) = const[q] + sum_j qw[q, j] * c[j]
    "l2":  s(c) = const[q] - sum_j (qw[q, j] - scale[j] * c[j])**2

(higher is better). Sums are float32 with reassociation allowed so LLVM can
vectorize them; results differ from a float64 sum by float32 rounding.
"""
import numpy as np
from numba import njit

from .float_topk import as_array, check_common, heaps_to_sorted, mask_dead, new_heaps, push_block

__all__ = ["scalar_topk"]

_BLOCK = 256  # rows scored per block: they stay in L1 while every query visits them
_FAST = {"reassoc", "contract"}  # not nnan/ninf: the -inf of dead rows must survive


@njit(cache=True, nogil=True, fastmath=_FAST)
def _dot_u8(qw, row):
    s = np.float32(0.0)
    for j in range(qw.shape[0]):
        s += qw[j] * np.float32(row[j])
    return s


@njit(cache=True, nogil=True, fastmath=_FAST)
def _sqdist_u8(qw, scale, row):
    s = np.float32(0.0)
    for j in range(qw.shape[0]):
        u = qw[j] - scale[j] * np.float32(row[j])
        s += u * u
    return s


@njit(cache=True, nogil=True)
def _scan(codes, qw, const, scale, is_l2, k, alive):
    n = codes.shape[0]
    nq = qw.shape[0]
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    for b0 in range(0, n, _BLOCK):
        mm = min(n, b0 + _BLOCK) - b0
        blk = codes[b0:b0 + mm]
        al = alive[b0:b0 + mm]
        for q in range(nq):
            qq = qw[q]
            c = const[q]
            if is_l2:
                for r in range(mm):
                    sv[r] = c - _sqdist_u8(qq, scale, blk[r])
            else:
                for r in range(mm):
                    sv[r] = c + _dot_u8(qq, blk[r])
            mask_dead(sv, al, mm)
            push_block(sv, mm, b0, hs[q], hr[q], k)
    heaps_to_sorted(hs, hr)
    return hs, hr


def scalar_topk(codes, qw, const, k, alive=None, *, metric="dot", scale=None):
    """Best k rows per query. codes uint8 (n, d); qw float32 (nq, d); const
    float32 (nq,); metric "dot" or "l2" (then scale float32 (d,) is required).
    Returns (scores float32 (nq, k), rows int64 (nq, k)) best first, ties to
    the smaller row, padded with row -1 and score -inf. Read-only inputs are
    accepted."""
    codes = as_array(codes, "codes", np.uint8, 2)
    qw = as_array(qw, "qw", np.float32, 2)
    const = as_array(const, "const", np.float32, 1)
    d = codes.shape[1]
    if qw.shape[1] != d or const.shape != (qw.shape[0],):
        raise ValueError(f"qw must be (nq, {d}) and const (nq,), got {qw.shape} and {const.shape}")
    if metric not in ("dot", "l2"):
        raise ValueError(f"metric must be 'dot' or 'l2', got {metric!r}")
    is_l2 = metric == "l2"
    if is_l2:
        if scale is None:
            raise ValueError("metric 'l2' needs scale (d,)")
        scale = as_array(scale, "scale", np.float32, 1)
        if scale.shape != (d,):
            raise ValueError(f"scale must have shape ({d},), got {scale.shape}")
    else:
        scale = np.zeros(d, np.float32)
    k, alive = check_common(codes, k, alive)
    return _scan(codes, qw, const, scale, is_l2, k, alive)
