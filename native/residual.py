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


@njit(cache=True, nogil=True)
def _adc_scan(words, levels, planes, coef_pop, coef_plane, const, extra, extra_w, k, alive):
    n = words.shape[0]
    nq, n_planes, w = planes.shape
    has_extra = extra.shape[1] > 0
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    for b0 in range(0, n, _BLOCK):
        mm = min(n, b0 + _BLOCK) - b0
        blk = words[b0:b0 + mm]
        al = alive[b0:b0 + mm]
        ex = extra[b0:b0 + mm]
        for q in range(nq):
            pl = planes[q]
            for r in range(mm):
                row = blk[r]
                s = np.float64(const[q])
                for lv in range(levels):
                    base = lv * w
                    pop = 0
                    acc = 0
                    for j in range(w):
                        x = row[base + j]
                        pop += popcount64(x)
                        for t in range(n_planes):
                            acc += popcount64(x & pl[t, j]) << t
                    s += coef_pop[q, lv] * pop + coef_plane[q, lv] * acc
                if has_extra:
                    s += extra_w[0] * ex[r, 0] + extra_w[1] * ex[r, 1]
                sv[r] = s
            mask_dead(sv, al, mm)
            push_block(sv, mm, b0, hs[q], hr[q], k)
    heaps_to_sorted(hs, hr)
    return hs, hr


@njit(cache=True, nogil=True)
def _sdc_scan(words, qwords, weights, const, extra, extra_w, k, alive):
    n = words.shape[0]
    nq, q_levels, w = qwords.shape
    levels = weights.shape[0]
    has_extra = extra.shape[1] > 0
    hs, hr = new_heaps(nq, k)
    sv = np.empty(_BLOCK, np.float32)
    for b0 in range(0, n, _BLOCK):
        mm = min(n, b0 + _BLOCK) - b0
        blk = words[b0:b0 + mm]
        al = alive[b0:b0 + mm]
        ex = extra[b0:b0 + mm]
        for q in range(nq):
            qv = qwords[q]
            for r in range(mm):
                row = blk[r]
                s = np.float64(const[q])
                for lv in range(levels):
                    base = lv * w
                    for mq in range(q_levels):
                        h = 0
                        for j in range(w):
                            h += popcount64(row[base + j] ^ qv[mq, j])
                        s += weights[lv, mq] * h
                if has_extra:
                    s += extra_w[0] * ex[r, 0] + extra_w[1] * ex[r, 1]
                sv[r] = s
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
    k, alive = check_common(words, "words", k, alive)
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
    k, alive = check_common(words, "words", k, alive)
    return _sdc_scan(words, qwords, weights, const, extra, extra_w, k, alive)
