"""Fusion of a dense and a sparse hit list into one (hybrid search).

Both lists come as SearchResults (padding: NaN scores), best first. Two ways:

- "rrf", reciprocal rank fusion: a hit scores sum over the lists holding it
  of 1 / (rrf_k + rank), rank counted from 1. Only ranks matter, so the two
  score scales need not agree; rrf_k (default 60, the value of Cormack et
  al.) damps the weight of the very first ranks.
- "weighted": each list's scores are min-max normalised to [0, 1] over the
  hits it returned (a list whose hits all score the same gives them 1), l2
  distances negated first so higher is better; a hit scores
  dense_weight * dense + (1 - dense_weight) * sparse, 0 for a list without it.

Ties break by the better rank in the dense list, then in the sparse list (a
hit missing from a list ranks after all of its hits). The fused score is what
the result reports.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import InvalidQueryError
from ..types import SearchResult
from . import validate as V
from .sparse_vectors import check_sparse_query

FUSIONS = ("rrf", "weighted")
DEFAULT_RRF_K = 60.0
DEFAULT_DENSE_WEIGHT = 0.5
#: hits fetched from each list before fusing: max(k, FUSION_DEPTH). Deep
#: enough that a hit ranked well by one list and moderately by the other
#: still meets itself in both; the dense side reranks this many exactly.
#: Here, not in the engine, because a router fusing shards' lists needs it too.
FUSION_DEPTH = 50


def check_fusion(fusion: Any, rrf_k: Any, dense_weight: Any) -> tuple[str, float, float]:
    if fusion not in FUSIONS:
        raise InvalidQueryError(f"fusion must be one of {list(FUSIONS)}, got {fusion!r}")
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float, np.integer, np.floating)) \
            or not math.isfinite(rrf_k) or rrf_k < 0:
        raise InvalidQueryError(f"rrf_k must be a finite number >= 0, got {rrf_k!r}")
    if isinstance(dense_weight, bool) or not isinstance(dense_weight, (int, float, np.integer, np.floating)) \
            or not 0 <= dense_weight <= 1:
        raise InvalidQueryError(f"dense_weight must be a number in [0, 1], got {dense_weight!r}")
    return fusion, float(rrf_k), float(dense_weight)


def fuse(dense: SearchResult, sparse: SearchResult, k: int, *, fusion: str, rrf_k: float, dense_weight: float,
         dense_higher_better: bool = True) -> SearchResult:
    """The top k of each query's fused list (see the module doc). ids keep
    the dtype of the inputs' ids (padding -1 for integers, None otherwise)."""
    nq = len(dense.ids)
    obj = dense.ids.dtype == object
    ids = np.full((nq, k), None if obj else -1, dtype=dense.ids.dtype)
    scores = np.full((nq, k), np.nan, dtype=np.float32)
    for q in range(nq):
        d_ids, d_scores = _hits(dense, q)
        s_ids, s_scores = _hits(sparse, q)
        if not dense_higher_better:
            d_scores = [-s for s in d_scores]
        if fusion == "rrf":
            d_part, s_part = _rrf(len(d_ids), rrf_k), _rrf(len(s_ids), rrf_k)
        else:
            d_part = [dense_weight * v for v in _min_max(d_scores)]
            s_part = [(1 - dense_weight) * v for v in _min_max(s_scores)]
        fused: dict[Any, list] = {}  # id -> [score, dense rank, sparse rank]
        miss_d, miss_s = len(d_ids), len(s_ids)
        for rank, (i, v) in enumerate(zip(d_ids, d_part)):
            fused[i] = [v, rank, miss_s]
        for rank, (i, v) in enumerate(zip(s_ids, s_part)):
            entry = fused.setdefault(i, [0.0, miss_d, rank])
            entry[0] += v
            entry[2] = rank
        best = sorted(fused.items(), key=lambda item: (-item[1][0], item[1][1], item[1][2]))[:k]
        for j, (i, (v, _, _)) in enumerate(best):
            ids[q, j] = i
            scores[q, j] = v
    return SearchResult(ids=ids, scores=scores)


def _hits(result: SearchResult, q: int) -> tuple[list, list[float]]:
    """One query's real hits (padding has NaN scores), as Python values."""
    keep = ~np.isnan(result.scores[q])
    return result.ids[q][keep].tolist(), result.scores[q][keep].astype(np.float64).tolist()


def _rrf(n: int, rrf_k: float) -> list[float]:
    return [1.0 / (rrf_k + rank) for rank in range(1, n + 1)]


def _min_max(scores: list[float]) -> list[float]:
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi == lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def check_hybrid_args(config: Any, queries: Any, k: Any, sparse_query: Any, fusion: Any, rrf_k: Any,
                      dense_weight: Any, dense: dict[str, Any]) -> tuple:
    """Every argument of a hybrid search (or of sparse retrieval alone) checked,
    in one order wherever it runs (the engine, a cluster's router), so both
    refuse the same input with the same error. `dense`: the dense search's other
    arguments, checked too so that sparse retrieval alone refuses the same.

    Returns (q, q_rows, k, depth, fusion, rrf_k, dense_weight): q the checked
    dense queries (None for sparse alone), q_rows the sparse queries, depth
    how many hits each side is asked for."""
    fusion, rrf_k, dense_weight = check_fusion(fusion, rrf_k, dense_weight)
    k = V.check_k(k)
    q = None
    if queries is not None:
        q = V.check_vectors(queries, config.dim, what="query", collection=config.name)
        V.check_norms(q, config.metric, what="query")
    if sparse_query is None:
        raise InvalidQueryError("search needs queries, a sparse_query, or both")
    q_rows = check_sparse_query(sparse_query, None if q is None else len(q), config)
    V.check_oversampling_arg(dense["oversampling"])
    V.check_rescore_arg(dense["rescore"])
    V.check_nprobe_arg(dense["nprobe"], config.ivf, config.name)
    V.check_margin_arg(dense["margin"], config)
    if q is None and dense["sparse_queries"] is not None:
        raise InvalidQueryError("sparse_queries go with dense queries: sparse retrieval alone takes only sparse_query")
    depth = k if q is None else max(k, FUSION_DEPTH)
    V.check_search_size(len(q_rows), depth, depth)
    return q, q_rows, k, depth, fusion, rrf_k, dense_weight
