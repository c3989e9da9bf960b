"""Residual binary scans with fused top-k: weighted popcount sums.

A residual binary code is L levels of w uint64 words each (level l occupies
words l*w .. l*w + w - 1 of a row; bit j of a level is dimension j, as in
`native.pack_signs`; padding bits are 0). Both scans also add an optional
per-row correction: extra[r, 0] * extra_w[0] + extra[r, 1] * extra_w[1].

Asymmetric (ADC): the query is quantized to T bit planes, P_t (bit j of plane
t is bit t of the query's integer level u_j). For a code level b_l:

    sum_j u_j b_l[j] = sum_t 2^t popcount(P_t & b_l)

and the score is

    const[q] + sum_l (coef_pop[q, l] * popcount(b_l)
                      + coef_plane[q, l] * sum_t 2^t popcount(P_t & b_l))

Symmetric (SDC): the query is a residual code Q_m of the same shape, and

    const[q] + sum_{l, m} weights[l, m] * popcount(b_l ^ Q_m)
"""
import numpy as np
from numba import njit

from .float_topk import as_array, check_common, heaps_to_sorted, mask_dead, new_heaps, push_block
from .popcount import popcount64

__all__ = ["residual_adc_topk", "residual_sdc_topk"]

_BLOCK = 256  # rows scored per block: they stay in L1 while every query visits them


@njit(cache=True, nogil=True, inline="always")
def _transpose_block(blk, tr, mm, n_words):
    """tr[j, r] = blk[r, j]: word-major, so the per-word loops below run over
    contiguous rows and LLVM vectorizes them (vpopcntq where the CPU has it)."""
    for r in range(mm):
        for j in range(n_words):
            tr[j, r] = blk[r, j]


@njit(cache=True, nogil=True, inline="always")
def _add_extra(sv, ex, extra_w, mm):
    w0 = extra_w[0]
    w1 = extra_w[1]
    for r in range(mm):
        sv[r] += w0 * ex[r, 0] + w1 * ex[r, 1]


@njit(cache=True, nogil=True)
def _adc_scan(words, levels, planes, coef_pop, coef_plane, const, extra, extra_w, k, alive):
    n = words.shape[0]
    nq, n_planes, w = planes.shape
    n_words = levels * w
    has_extra = extra.shape[1] > 0
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    tr = np.empty((n_words, _BLOCK), np.uint64)
    pops = np.empty((levels, _BLOCK), np.int64)  # popcount of each level: query-independent
    acc = np.empty(_BLOCK, np.int64)
    for b0 in range(0, n, _BLOCK):
        mm = min(n, b0 + _BLOCK) - b0
        al = alive[b0:b0 + mm]
        ex = extra[b0:b0 + mm]
        _transpose_block(words[b0:b0 + mm], tr, mm, n_words)
        for lv in range(levels):
            pl = pops[lv, :mm]
            pl[:] = 0
            for j in range(w):
                col = tr[lv * w + j, :mm]
                for r in range(mm):
                    pl[r] += popcount64(col[r])
        for q in range(nq):
            qp = planes[q]
            out = sv[:mm]
            out[:] = const[q]
            for lv in range(levels):
                a = acc[:mm]
                a[:] = 0
                for j in range(w):
                    col = tr[lv * w + j, :mm]
                    if n_planes == 4:
                        # the default query_bits: all planes in one pass over the
                        # rows, so `a` is loaded and stored once per word, not 4 times
                        p0 = qp[0, j]
                        p1 = qp[1, j]
                        p2 = qp[2, j]
                        p3 = qp[3, j]
                        for r in range(mm):
                            v = col[r]
                            a[r] += (popcount64(v & p0) + (popcount64(v & p1) << 1)
                                     + (popcount64(v & p2) << 2) + (popcount64(v & p3) << 3))
                    else:
                        for t in range(n_planes):
                            p = qp[t, j]
                            for r in range(mm):
                                a[r] += popcount64(col[r] & p) << t
                cp = coef_pop[q, lv]
                cq = coef_plane[q, lv]
                pl = pops[lv, :mm]
                for r in range(mm):
                    out[r] += cp * pl[r] + cq * a[r]
            if has_extra:
                _add_extra(sv, ex, extra_w, mm)
            mask_dead(sv, al, mm)
            push_block(sv, mm, b0, hs[q], hr[q], k)
    heaps_to_sorted(hs, hr)
    return hs, hr


@njit(cache=True, nogil=True)
def _sdc_scan(words, qwords, weights, const, extra, extra_w, k, alive):
    n = words.shape[0]
    nq, q_levels, w = qwords.shape
    levels = weights.shape[0]
    n_words = levels * w
    has_extra = extra.shape[1] > 0
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    tr = np.empty((n_words, _BLOCK), np.uint64)
    h = np.empty(_BLOCK, np.int64)
    for b0 in range(0, n, _BLOCK):
        mm = min(n, b0 + _BLOCK) - b0
        al = alive[b0:b0 + mm]
        ex = extra[b0:b0 + mm]
        _transpose_block(words[b0:b0 + mm], tr, mm, n_words)
        for q in range(nq):
            qv = qwords[q]
            out = sv[:mm]
            out[:] = const[q]
            for lv in range(levels):
                for mq in range(q_levels):
                    hh = h[:mm]
                    hh[:] = 0
                    for j in range(w):
                        col = tr[lv * w + j, :mm]
                        x = qv[mq, j]
                        for r in range(mm):
                            hh[r] += popcount64(col[r] ^ x)
                    wt = weights[lv, mq]
                    for r in range(mm):
                        out[r] += wt * hh[r]
            if has_extra:
                _add_extra(sv, ex, extra_w, mm)
            mask_dead(sv, al, mm)
            push_block(sv, mm, b0, hs[q], hr[q], k)
    heaps_to_sorted(hs, hr)
    return hs, hr


def _check_extra(extra, extra_w, n):
    if extra is None:
        return np.zeros((n, 0), np.float32), np.zeros(2, np.float32)
    if not isinstance(extra, np.ndarray) or extra.dtype != np.float32 or extra.shape != (n, 2):
        raise ValueError(f"extra must be a float32 ({n}, 2) array or None")
    extra_w = as_array(np.asarray(extra_w, dtype=np.float32), "extra_w", np.float32, 1)
    if extra_w.shape != (2,):
        raise ValueError(f"extra_w must have shape (2,), got {extra_w.shape}")
    return extra, extra_w  # a strided view is fine: Numba reads it in place


def _check_words(words, levels, w):
    words = as_array(words, "words", np.uint64, 2)
    if words.shape[1] < levels * w:
        raise ValueError(f"words rows have {words.shape[1]} words, {levels} levels of {w} need {levels * w}")
    return words


def residual_adc_topk(words, levels, planes, coef_pop, coef_plane, const, k, alive=None, extra=None, extra_w=(0, 0)):
    """Asymmetric scan. words uint64 (n, >= levels*w); planes uint64 (nq, T, w);
    coef_pop, coef_plane float32 (nq, levels); const float32 (nq,); extra
    float32 (n, 2) or None with weights extra_w (2,). Returns (scores float32
    (nq, k), rows int64 (nq, k)) best first, ties to the smaller row, padded
    with row -1 and score -inf. Read-only inputs are accepted."""
    planes = as_array(planes, "planes", np.uint64, 3)
    nq, n_planes, w = planes.shape
    if not 1 <= n_planes <= 16:
        raise ValueError(f"planes must hold 1..16 bit planes, got {n_planes}")
    words = _check_words(words, levels, w)
    coef_pop = as_array(coef_pop, "coef_pop", np.float32, 2)
    coef_plane = as_array(coef_plane, "coef_plane", np.float32, 2)
    const = as_array(const, "const", np.float32, 1)
    if coef_pop.shape != (nq, levels) or coef_plane.shape != (nq, levels) or const.shape != (nq,):
        raise ValueError(f"coef_pop and coef_plane must be ({nq}, {levels}) and const ({nq},)")
    extra, extra_w = _check_extra(extra, extra_w, words.shape[0])
    k, alive = check_common(words, k, alive)
    return _adc_scan(words, int(levels), planes, coef_pop, coef_plane, const, extra, extra_w, k, alive)


def residual_sdc_topk(words, qwords, weights, const, k, alive=None, extra=None, extra_w=(0, 0)):
    """Symmetric scan. words uint64 (n, >= levels*w); qwords uint64 (nq, Lq, w)
    query codes; weights float32 (levels, Lq) per level pair; const float32
    (nq,). Same extra and results contract as `residual_adc_topk`."""
    qwords = as_array(qwords, "qwords", np.uint64, 3)
    nq, q_levels, w = qwords.shape
    weights = as_array(weights, "weights", np.float32, 2)
    if weights.shape[1] != q_levels:
        raise ValueError(f"weights must have {q_levels} columns (query levels), got shape {weights.shape}")
    words = _check_words(words, weights.shape[0], w)
    const = as_array(const, "const", np.float32, 1)
    if const.shape != (nq,):
        raise ValueError(f"const must have shape ({nq},), got {const.shape}")
    extra, extra_w = _check_extra(extra, extra_w, words.shape[0])
    k, alive = check_common(words, k, alive)
    return _sdc_scan(words, qwords, weights, const, extra, extra_w, k, alive)
