"""`none`: the prepared float32 vectors are the codes; the scan is exact."""
from __future__ import annotations

import numpy as np

from .base import Codec

_BLOCK = 65536  # rows per BLAS block: bounds the temporary score matrix


class ExactCodec(Codec):
    exact = True
    persist_codes = False  # identical to the stored vectors; rebuilt on open

    @property
    def code_bytes(self) -> int:
        return 4 * self.dim

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32).view(np.uint8).reshape(len(x), -1)

    def search(self, codes, alive, q, n_cand):
        xb = codes.view(np.float32)
        return flat_topk(xb, alive, q, n_cand, self.metric)


def flat_topk(
    xb: np.ndarray, alive: np.ndarray, q: np.ndarray, k: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by blocked BLAS; ties go to the smaller row index."""
    nq, n = len(q), len(xb)
    best_rows = np.full((nq, 0), -1, dtype=np.int64)
    best_scores = np.full((nq, 0), -np.inf, dtype=np.float32)
    q_sq = (q * q).sum(axis=1, keepdims=True) if metric == "l2" else None
    for lo in range(0, n, _BLOCK):
        block = xb[lo : lo + _BLOCK]
        scores = q @ block.T
        if metric == "l2":
            # -(|q|^2 - 2 q.x + |x|^2): higher is better
            scores = 2 * scores - q_sq - (block * block).sum(axis=1)[None, :]
        scores[:, alive[lo : lo + _BLOCK] == 0] = -np.inf
        rows = np.broadcast_to(np.arange(lo, lo + len(block), dtype=np.int64), scores.shape)
        best_scores = np.concatenate([best_scores, scores.astype(np.float32)], axis=1)
        best_rows = np.concatenate([best_rows, rows], axis=1)
        best_scores, best_rows = _keep_top(best_scores, best_rows, k)
    if metric == "l2" and best_rows.size:
        # the expansion above cancels badly near 0; score the winners directly
        live = np.isfinite(best_scores)
        diff = xb[np.where(live, best_rows, 0)] - q[:, None, :]
        best_scores = np.where(live, -(diff * diff).sum(axis=2), -np.inf).astype(np.float32)
    return _pad(best_rows, best_scores, k)


def _keep_top(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[1] > k:
        # partition loosely, then order exactly by (score desc, row asc)
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
        # keep every row tied with the k-th so the tie-break by row is exact
        keep = scores >= kth
        out_s, out_r = [], []
        for i in range(len(scores)):
            s, r = scores[i, keep[i]], rows[i, keep[i]]
            order = np.lexsort((r, -s))[:k]
            out_s.append(s[order])
            out_r.append(r[order])
        return np.stack(out_s), np.stack(out_r)
    order = np.lexsort((rows, -scores), axis=1) if scores.size else np.zeros(scores.shape, dtype=np.int64)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def _pad(rows: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.where(np.isfinite(scores), rows, -1)
    nq, have = rows.shape
    if have < k:
        rows = np.concatenate([rows, np.full((nq, k - have), -1, dtype=np.int64)], axis=1)
        scores = np.concatenate([scores, np.full((nq, k - have), -np.inf, dtype=np.float32)], axis=1)
    return rows, scores
