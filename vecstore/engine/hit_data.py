"""What apps need of a search in the same call: the hits' payloads and
vectors (`with_payloads` / `with_vectors`), and `search_by_id`, whose queries
are stored points.

The hits' data is read after the rerank, in one LMDB read transaction, each
distinct hit once, in key (page) order. A hit deleted between the rerank and
that read is dropped from its row (the rest move up, padding at the end):
every hit returned is a point that existed in the snapshot its data came
from, so ids, scores, payloads and vectors always agree.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..api import validate as V
from ..api.filters import compile_filter
from ..errors import InternalError, PointNotFoundError
from ..types import SearchResult
from .keys import id_keys
from .persist import get_sparse

if TYPE_CHECKING:
    from .collection import Collection

_MISSING_SHOWN = 5  # unknown ids named in a PointNotFoundError


def attach(col: "Collection", result: SearchResult, with_payloads: bool, with_vectors: bool) -> SearchResult:
    """result with the payloads and/or vectors of its hits (unchanged when neither is asked)."""
    if not (with_payloads or with_vectors):
        return result
    uniq = np.unique(result.ids[result.ids >= 0])  # sorted: key order
    keys = id_keys(uniq)
    vec_db, pay_db = col._dbs["vectors"], col._dbs["payloads"]
    with col._storage.read(buffers=True) as txn:
        get = txn.get
        rows = [get(key, None, vec_db) for key in keys]  # also says which hits still exist
        present = np.fromiter((r is not None for r in rows), dtype=bool, count=len(rows))
        raw = b"".join(r for r in rows if r is not None) if with_vectors else b""
        stored = None
        if with_payloads:
            stored = [bytes(p) if (p := get(key, None, pay_db)) is not None else None
                      for key, r in zip(keys, rows) if r is not None]
    if not present.all():
        result = _drop(result, uniq[~present])
        uniq = uniq[present]
    ids = result.ids
    valid = ids >= 0
    at = np.searchsorted(uniq, ids)  # row of each hit's data (meaningless where padded)
    payloads = vectors = None
    if with_vectors:
        vectors = np.full(ids.shape + (col.dim,), np.nan, dtype=np.float32)
        vectors[valid] = col._decode_rows(raw, len(uniq))[at[valid]]
    if with_payloads:
        # decoded per hit, not per distinct point: no two entries share a dict
        payloads = [[json.loads(stored[a]) if v and stored[a] is not None else None
                     for a, v in zip(row_at, row_valid)]
                    for row_at, row_valid in zip(at.tolist(), valid.tolist())]
    return SearchResult(ids=ids, scores=result.scores, payloads=payloads, vectors=vectors)


def _drop(result: SearchResult, gone: np.ndarray) -> SearchResult:
    """result without the hits whose ids are in `gone`; each row closes up."""
    keep = (result.ids >= 0) & ~np.isin(result.ids, gone)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept hits first, in their order
    kept = np.take_along_axis(keep, order, axis=1)
    ids = np.where(kept, np.take_along_axis(result.ids, order, axis=1), -1)
    scores = np.where(kept, np.take_along_axis(result.scores, order, axis=1), np.nan).astype(np.float32)
    return SearchResult(ids=ids, scores=scores)


def search_by_id(col: "Collection", ids: Any, k: int, *, filter: dict | None, oversampling: float | None,
                 rescore: bool | None, nprobe: int | None, margin: float | None, with_payloads: bool,
                 with_vectors: bool) -> SearchResult:
    """The stored points' vectors (and user sparse codes) as the queries, each
    query's own point left out of its hits: k + 1 are searched, then cut to k."""
    col._check_usable()
    ids = col._ids.check(ids)
    k = V.check_by_id_k(k)
    # every argument's checks before any read, in the client's order: the same
    # error embedded and over gRPC
    qcfg = col.config.quantization
    over = V.check_oversampling_arg(oversampling)
    again = V.check_rescore_arg(rescore)
    V.check_search_size(len(ids), k + 1, V.candidates_per_query(
        k + 1, qcfg.oversampling if over is None else over, qcfg.rescore if again is None else again, col.config))
    V.check_nprobe_arg(nprobe, col.config.ivf, col.name)
    V.check_margin_arg(margin, col.config)
    compile_filter(filter)
    uniq, inverse = np.unique(ids, return_inverse=True)
    codes = None
    with col._storage.read() as txn:
        stored, pos = col._ids.resolve(txn, uniq)  # str ids: those mapped, and where they are in uniq
        mapped = np.ones(len(uniq), dtype=bool) if pos is None else np.isin(np.arange(len(uniq)), pos)
        keys = id_keys(stored)
        rows = [txn.get(key, None, col._dbs["vectors"]) for key in keys]
        if mapped.all():
            missing = [u for u, r in zip(uniq.tolist(), rows) if r is None]
        else:
            missing = uniq[~mapped].tolist()
        if missing:
            named = map(repr if isinstance(missing[0], str) else str, missing[:_MISSING_SHOWN])
            shown = ", ".join(named) + (", ..." if len(missing) > _MISSING_SHOWN else "")
            raise PointNotFoundError(f"collection '{col.name}' has no point with id {shown} "
                                     f"({len(missing)} of the {len(uniq)} ids asked for)")
        if col._user_sparse:  # the search takes one sparse code per query: the point's own
            have, codes = get_sparse(txn, col._dbs["sparse"], keys, col.config.quantization.weighted)
            if len(have) != len(keys):
                raise InternalError(f"collection '{col.name}': vectors and sparse codes disagree")
    queries = col._decode_rows(b"".join(rows), len(uniq))[inverse]
    hits = col._search(queries, k + 1, filter=filter, oversampling=oversampling, rescore=rescore, nprobe=nprobe,
                      sparse_queries=None if codes is None else _code_list(codes.take(inverse)), margin=margin)
    own = uniq if pos is None else stored  # every uniq id was mapped: stored lines up with it
    return attach(col, _without_own(hits, np.asarray(own)[inverse]), with_payloads, with_vectors)


def _without_own(hits: SearchResult, ids: np.ndarray) -> SearchResult:
    """k + 1 hits per query -> k: its own point out, or else its last hit."""
    own = hits.ids == ids[:, None]  # at most one per row: a query's hits are distinct
    own[:, -1] |= ~own.any(axis=1)
    keep = ~own
    nq, k = len(ids), hits.ids.shape[1] - 1
    return SearchResult(ids=hits.ids[keep].reshape(nq, k), scores=hits.scores[keep].reshape(nq, k))


def _code_list(rows: Any) -> list:
    """SparseRows -> the sparse_queries argument of search: (indices, weights) per row."""
    out = []
    for lo, hi in zip(rows.indptr[:-1].tolist(), rows.indptr[1:].tolist()):
        idx = rows.indices[lo:hi]
        out.append(idx if rows.weights is None else (idx, rows.weights[lo:hi]))
    return out
