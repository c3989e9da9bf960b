"""Plain-numpy reference implementations of every kernel in ``native``.

They are written for obviousness, not speed (full distance matrices, float64
accumulation, explicit sorts), and define the exact conventions the jitted
kernels must match: result order, tie-breaking and padding.
"""
import numpy as np

from .reference_codes import topk_from_scores

__all__ = [
    "hamming_distances_ref",
    "hamming_topk_ref",
    "pack_signs_ref",
    "rerank_topk_ref",
    "exact_scores_ref",
]

PAD_DIST = np.iinfo(np.int32).max
PAD_IDX = -1


def hamming_distances_ref(codes, queries):
    """D[q, r] = sum_j popcount(queries[q, j] XOR codes[r, j]), int32 (nq, n)."""
    codes = np.asarray(codes, dtype=np.uint64)
    queries = np.asarray(queries, dtype=np.uint64)
    x = queries[:, None, :] ^ codes[None, :, :]
    return np.bitwise_count(x).sum(axis=2, dtype=np.int64).astype(np.int32)


def hamming_topk_ref(codes, queries, k, alive=None):
    """k smallest (distance, row) pairs per query, ascending; padding idx=-1, dist=2**31-1."""
    if k < 1:
        raise ValueError("k must be >= 1")
    d = hamming_distances_ref(codes, queries)
    nq, n = d.shape
    rows = np.arange(n, dtype=np.int64)
    keep = np.ones(n, bool) if alive is None else np.asarray(alive) != 0
    out_d = np.full((nq, k), PAD_DIST, np.int32)
    out_i = np.full((nq, k), PAD_IDX, np.int64)
    for q in range(nq):
        dq, rq = d[q, keep], rows[keep]
        order = np.lexsort((rq, dq))[:k]  # primary key distance, then row index
        out_d[q, : order.size] = dq[order]
        out_i[q, : order.size] = rq[order]
    return out_d, out_i


def pack_signs_ref(x):
    """Bit j of a code = (x[:, j] > 0); dim j -> word j // 64, bit j % 64 (LSB first), zero padding."""
    x = np.asarray(x)
    n, d = x.shape
    w = (d + 63) // 64
    bits = np.zeros((n, w * 64), np.uint8)
    bits[:, :d] = x > 0
    weights = np.uint64(1) << np.arange(64, dtype=np.uint64)
    return (bits.reshape(n, w, 64).astype(np.uint64) * weights).sum(axis=2, dtype=np.uint64)


def exact_scores_ref(xq, vecs, metric):
    """S[q, i] = <xq[q], vecs[i]> ("dot"), ||xq[q] - vecs[i]||^2 ("l2") or
    <xq[q], vecs[i]> / ||vecs[i]|| ("cosine"), computed in float64."""
    a = np.asarray(xq, np.float64)
    b = np.asarray(vecs, np.float64)
    if metric == "dot":
        s = a @ b.T
    elif metric == "cosine":
        with np.errstate(divide="ignore", invalid="ignore"):
            s = (a @ b.T) / np.linalg.norm(b, axis=1)[None, :]
    elif metric == "l2":
        s = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2)
    else:
        raise ValueError(f"metric must be 'dot' or 'l2', got {metric!r}")
    return s.astype(np.float32)


def rerank_topk_ref(xq, vecs, cand, k, metric):
    """Best k distinct candidate rows per query by exact score.

    "dot": larger is better; "l2": smaller squared distance is better.  Ties go to the
    smaller row index; -1 candidates are ignored, duplicates count once, NaN scores are
    dropped.  Padding: row -1, score -inf ("dot") / +inf ("l2").
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    xq = np.asarray(xq)
    cand = np.asarray(cand)
    nq = cand.shape[0]
    sign = 1.0 if metric == "l2" else -1.0
    pad = np.inf if metric == "l2" else -np.inf
    out_s = np.full((nq, k), pad, np.float32)
    out_r = np.full((nq, k), -1, np.int64)
    for q in range(nq):
        rows = np.unique(cand[q][cand[q] >= 0]).astype(np.int64)
        s = exact_scores_ref(xq[q : q + 1], vecs[rows], metric)[0]
        ok = ~np.isnan(s)
        rows, s = rows[ok], s[ok]
        order = np.lexsort((rows, sign * s.astype(np.float64)))[:k]
        out_s[q, : order.size] = s[order]
        out_r[q, : order.size] = rows[order]
    return out_s, out_r


def quantize_planes_ref(x, bits):
    """B-bit integers u = clip(round(x / delta + h)), delta = max|x| / h, h = (2^B - 1) / 2, as bit planes."""
    x = np.asarray(x, dtype=np.float32)
    top = (1 << bits) - 1
    h = top / 2.0
    amax = np.abs(x).max(axis=1, keepdims=True)
    scale = np.where(amax > 0, h / np.where(amax > 0, amax, 1), 0.0)
    u = np.clip(np.floor(x * scale + h + 0.5), 0, top).astype(np.int64)
    w = -(-x.shape[1] // 64)
    planes = np.zeros((x.shape[0], bits, w), dtype=np.uint64)
    for j in range(bits):
        bitsj = np.zeros((x.shape[0], w * 64), dtype=np.uint8)
        bitsj[:, : x.shape[1]] = (u >> j) & 1
        planes[:, j] = np.packbits(bitsj, axis=1, bitorder="little").view(np.uint64)
    return planes


def bitplane_distances_ref(codes, planes):
    """D[q, r] = sum_i |u_i - (2^B - 1) b_i|, from unpacked bits (independent of the XOR identity)."""
    codes = np.asarray(codes, dtype=np.uint64)
    planes = np.asarray(planes, dtype=np.uint64)
    nb = planes.shape[1]
    b = np.unpackbits(codes.view(np.uint8), axis=1, bitorder="little").astype(np.int64)
    u = np.zeros((planes.shape[0], b.shape[1]), dtype=np.int64)
    for j in range(nb):
        u += np.unpackbits(np.ascontiguousarray(planes[:, j]).view(np.uint8), axis=1, bitorder="little").astype(np.int64) << j
    top = (1 << nb) - 1
    return np.abs(u[:, None, :] - top * b[None, :, :]).sum(axis=2).astype(np.int32)


def bitplane_topk_ref(codes, planes, k, alive=None):
    d = bitplane_distances_ref(codes, planes)
    nq, n = d.shape
    rows = np.arange(n, dtype=np.int64)
    keep = np.ones(n, bool) if alive is None else np.asarray(alive) != 0
    out_d = np.full((nq, k), PAD_DIST, np.int32)
    out_i = np.full((nq, k), PAD_IDX, np.int64)
    for q in range(nq):
        dq, rq = d[q, keep], rows[keep]
        order = np.lexsort((rq, dq))[:k]
        out_d[q, : order.size] = dq[order]
        out_i[q, : order.size] = rq[order]
    return out_d, out_i


def bitplane_estimate_topk_ref(codes, planes, qa, qb, factors, add_w, k, alive=None):
    """Reference of native.blocks.bitplane_estimate_topk_blocks on row-major codes;
    factors float16 (2, n)."""
    d = bitplane_distances_ref(codes, planes).astype(np.float32)
    f = np.asarray(factors, np.float16).astype(np.float32)
    est = f[0][None, :] * (np.float32(qa)[:, None] - np.float32(qb)[:, None] * d) + np.float32(add_w) * f[1][None, :]
    # float32 estimates are exact in float64: the shared selection ranks them unchanged
    return topk_from_scores(est, k, alive)


def rerank_rows_ref(q, rows, ids, k, metric):
    """`native.rerank_rows`: rows float32, or uint16 float16 bit patterns."""
    rows = np.asarray(rows)
    vecs = rows.view(np.float16).astype(np.float32) if rows.dtype == np.uint16 else rows
    cand = np.arange(len(vecs), dtype=np.int64)[None, :]
    scores, best = rerank_topk_ref(np.asarray(q)[None, :], vecs, cand, k, metric)
    return scores[0], np.where(best[0] >= 0, np.asarray(ids)[np.maximum(best[0], 0)], -1)


def candidate_ids_ref(slots, scores, floor, ids):
    """`native.candidate_ids`: ids of the slots >= 0 scoring >= floor, ascending."""
    slots, scores = np.asarray(slots), np.asarray(scores)
    keep = (slots >= 0) & (scores >= np.float32(floor))
    return np.sort(np.asarray(ids)[slots[keep]])
