"""Plain-numpy references of the compressed-code scans (pq, residual, scalar).

Written for obviousness: codes are unpacked to dense arrays, every score is
computed in float64 as a full (nq, n) matrix, and the top-k is an explicit
sort by (score descending, row ascending), padded with row -1 and score -inf.
"""
import numpy as np

__all__ = [
    "topk_from_scores",
    "pq_adc_topk_ref",
    "pq4_adc_topk_ref",
    "pq_sdc_topk_ref",
    "unpack_nibbles",
    "residual_adc_topk_ref",
    "residual_sdc_topk_ref",
    "scalar_topk_ref",
]


def topk_from_scores(scores, k, alive=None):
    scores = np.asarray(scores, np.float64)
    nq, n = scores.shape
    rows = np.arange(n, dtype=np.int64)
    keep = np.ones(n, bool) if alive is None else np.asarray(alive) != 0
    out_s = np.full((nq, k), -np.inf, np.float32)
    out_r = np.full((nq, k), -1, np.int64)
    for q in range(nq):
        s, r = scores[q, keep], rows[keep]
        order = np.lexsort((r, -s))[:k]
        out_s[q, : order.size] = s[order]
        out_r[q, : order.size] = r[order]
    return out_s, out_r


def _extra_scores(n, extra, extra_w):
    if extra is None:
        return np.zeros(n)
    e = np.asarray(extra, np.float64)
    w = np.asarray(extra_w, np.float64)
    return e[:, 0] * w[0] + e[:, 1] * w[1]


# -- pq -------------------------------------------------------------------------
def pq_scores_ref(subcodes, tables):
    """S[q, r] = sum_j tables[q, j, subcodes[r, j]], float64."""
    t = np.asarray(tables, np.float64)
    m = subcodes.shape[1]
    return sum(t[:, j, subcodes[:, j]] for j in range(m))


def unpack_nibbles(codes, m):
    """Packed 4-bit codes (n, ceil(m/2)) -> sub-codes (n, m): low nibble first."""
    codes = np.asarray(codes, np.uint8)
    both = np.stack([codes & 15, codes >> 4], axis=2).reshape(len(codes), 2 * codes.shape[1])
    return both[:, :m]


def pq_adc_topk_ref(codes, tables, k, alive=None):
    return topk_from_scores(pq_scores_ref(np.asarray(codes), tables), k, alive)


def pq4_adc_topk_ref(codes, tables, k, alive=None):
    return topk_from_scores(pq_scores_ref(unpack_nibbles(codes, tables.shape[1]), tables), k, alive)


def pq_sdc_topk_ref(codes, qcodes, sdc, k, alive=None):
    m, ks, _ = sdc.shape
    sub = np.asarray(codes) if ks == 256 else unpack_nibbles(codes, m)
    s = np.asarray(sdc, np.float64)
    scores = sum(s[j][qcodes[:, j]][:, sub[:, j]] for j in range(m))  # (nq, n) per sub-quantizer
    return topk_from_scores(scores, k, alive)


# -- residual binary ------------------------------------------------------------
def _bits(words):
    """uint64 (..., w) -> 0/1 float64 (..., 64 w), bit j of word i at 64 i + j."""
    words = np.ascontiguousarray(words, dtype=np.uint64)
    b = np.unpackbits(words.view(np.uint8), axis=-1, bitorder="little")
    return b.astype(np.float64)


def residual_adc_topk_ref(words, levels, planes, coef_pop, coef_plane, const, k, alive=None, extra=None, extra_w=(0, 0)):
    planes = np.asarray(planes, np.uint64)
    nq, n_planes, w = planes.shape
    u = sum((2.0**t) * _bits(planes[:, t]) for t in range(n_planes))  # (nq, 64 w) query levels
    words = np.asarray(words, np.uint64)
    scores = np.asarray(const, np.float64)[:, None] + _extra_scores(len(words), extra, extra_w)[None, :]
    for lv in range(levels):
        b = _bits(words[:, lv * w : (lv + 1) * w])  # (n, 64 w)
        scores = scores + np.asarray(coef_pop, np.float64)[:, lv : lv + 1] * b.sum(axis=1)[None, :]
        scores = scores + np.asarray(coef_plane, np.float64)[:, lv : lv + 1] * (u @ b.T)
    return topk_from_scores(scores, k, alive)


def residual_sdc_topk_ref(words, qwords, weights, const, k, alive=None, extra=None, extra_w=(0, 0)):
    qwords = np.asarray(qwords, np.uint64)
    nq, q_levels, w = qwords.shape
    words = np.asarray(words, np.uint64)
    weights = np.asarray(weights, np.float64)
    scores = np.asarray(const, np.float64)[:, None] + _extra_scores(len(words), extra, extra_w)[None, :]
    for lv in range(weights.shape[0]):
        b = _bits(words[:, lv * w : (lv + 1) * w])
        for mq in range(q_levels):
            qb = _bits(qwords[:, mq])
            hamming = qb @ (1 - b).T + (1 - qb) @ b.T  # bits that differ
            scores = scores + weights[lv, mq] * hamming
    return topk_from_scores(scores, k, alive)


# -- scalar ---------------------------------------------------------------------
def scalar_topk_ref(codes, qw, const, k, alive=None, *, metric="dot", scale=None):
    c = np.asarray(codes, np.float64)
    qw = np.asarray(qw, np.float64)
    const = np.asarray(const, np.float64)[:, None]
    if metric == "dot":
        scores = const + qw @ c.T
    else:
        xs = c * np.asarray(scale, np.float64)
        scores = const - ((qw[:, None, :] - xs[None, :, :]) ** 2).sum(axis=2)
    return topk_from_scores(scores, k, alive)
