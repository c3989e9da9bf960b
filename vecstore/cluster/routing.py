"""Where points live in a sharded collection, and how shard answers merge.

Pure numpy (no Ray): an id hashes (splitmix64 of an int id, BLAKE2b of a
str id's UTF-8 bytes: both stable across processes and versions) into one of
VIRTUAL_SHARDS virtual shards; the catalog's shard map
says which shard holds each virtual shard. Keeping the virtual count fixed
means a later re-sharding moves whole virtual shards, never rehashes ids.
"""
from __future__ import annotations

import copy
import hashlib
from typing import Sequence

import numpy as np

from ..api.sparse_rows import SparseRows
from ..types import Points, ScrollPage, SearchResult

VIRTUAL_SHARDS = 256


def default_shard_map(shards: int) -> list[int]:
    """Virtual shard -> shard, round robin."""
    return [v % shards for v in range(VIRTUAL_SHARDS)]


def virtual_shard(ids: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of each int id, modulo VIRTUAL_SHARDS; str ids
    (an object array): the first 8 bytes of BLAKE2b of their UTF-8 bytes."""
    if ids.dtype == object:
        return np.fromiter((int.from_bytes(hashlib.blake2b(v.encode("utf-8"), digest_size=8).digest(), "little")
                            % VIRTUAL_SHARDS for v in ids.tolist()), dtype=np.int64, count=len(ids))
    with np.errstate(over="ignore"):
        z = ids.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z % np.uint64(VIRTUAL_SHARDS)).astype(np.int64)


def shard_of(ids: np.ndarray, shard_map: Sequence[int]) -> np.ndarray:
    return np.asarray(shard_map, dtype=np.int64)[virtual_shard(ids)]


def split(ids: np.ndarray, shard_map: Sequence[int], shards: int) -> dict[int, np.ndarray]:
    """shard -> positions in `ids` (request order kept) of the ids it holds."""
    owner = shard_of(ids, shard_map)
    out = {}
    for s in range(shards):
        pos = np.flatnonzero(owner == s)
        if len(pos):
            out[s] = pos
    return out


def is_hit(ids: np.ndarray) -> np.ndarray:
    """Where ids are hits, not padding (-1 for int ids, None for str ids)."""
    if ids.dtype != object:
        return ids >= 0
    return np.array([v is not None for v in ids.reshape(-1).tolist()], dtype=bool).reshape(ids.shape)


def id_rank(ids: np.ndarray) -> np.ndarray:
    """int64 keys ordered as the ids (str ids: by UTF-8 bytes, as Python
    orders str; padding None last), to break score ties by id."""
    if ids.dtype != object:
        return ids
    flat = ids.reshape(-1).tolist()
    names = sorted({v for v in flat if v is not None})
    rank = {v: i for i, v in enumerate(names)}
    return np.array([rank.get(v, len(names)) for v in flat], dtype=np.int64).reshape(ids.shape)


def merge_search(parts: list[SearchResult], k: int, metric: str) -> SearchResult:
    """Each shard's exact top-k -> the top-k of their union (ties by id). The
    hits' payloads / vectors, when the shards returned them, move with them."""
    ids = np.concatenate([p.ids for p in parts], axis=1)
    scores = np.concatenate([p.scores for p in parts], axis=1)
    key = scores.astype(np.float64) if metric == "l2" else -scores.astype(np.float64)
    key = np.where(is_hit(ids), key, np.inf)  # padding (NaN) last
    key = np.where(np.isnan(key), np.inf, key)
    order = np.lexsort((id_rank(ids), key), axis=-1)[:, :k]
    vectors = payloads = None
    if parts[0].vectors is not None:
        stacked = np.concatenate([p.vectors for p in parts], axis=1)
        vectors = np.take_along_axis(stacked, order[:, :, None], axis=1)
    if parts[0].payloads is not None:
        rows = [[pay for p in parts for pay in p.payloads[q]] for q in range(len(ids))]
        payloads = [[row[j] for j in picks] for row, picks in zip(rows, order.tolist())]
    return SearchResult(ids=np.take_along_axis(ids, order, axis=1), scores=np.take_along_axis(scores, order, axis=1),
                        payloads=payloads, vectors=vectors)


def attach_from(result: SearchResult, sources: list[SearchResult], dim: int, with_payloads: bool,
                with_vectors: bool) -> SearchResult:
    """result (fused from `sources`) with its hits' payloads / vectors, taken
    from the sources that carried them (every hit of result is in one)."""
    if not (with_payloads or with_vectors):
        return result
    found: dict[int, tuple] = {}
    for src in sources:
        for q in range(len(src.ids)):
            for j, i in enumerate(src.ids[q].tolist()):
                if i is not None and (isinstance(i, str) or i >= 0) and i not in found:
                    found[i] = (src.payloads[q][j] if with_payloads else None,
                                src.vectors[q, j] if with_vectors else None)
    nq, k = result.ids.shape
    vectors = np.full((nq, k, dim), np.nan, np.float32) if with_vectors else None
    payloads = [[None] * k for _ in range(nq)] if with_payloads else None
    for q in range(nq):
        for j, i in enumerate(result.ids[q].tolist()):
            if i is None or (not isinstance(i, str) and i < 0):
                continue
            pay, vec = found[i]
            if with_vectors:
                vectors[q, j] = vec
            if with_payloads:
                payloads[q][j] = copy.deepcopy(pay)  # like the engine: no two hits share a dict
    return SearchResult(ids=result.ids, scores=result.scores, payloads=payloads, vectors=vectors)


def without_own(hits: SearchResult, ids: np.ndarray) -> SearchResult:
    """search_by_id: k + 1 hits per query -> k, its own point left out (or else
    its last hit), payloads and vectors with them."""
    own = hits.ids == ids[:, None]
    own[:, -1] |= ~own.any(axis=1)
    keep = ~own
    nq, k = len(ids), hits.ids.shape[1] - 1
    vectors = None if hits.vectors is None else hits.vectors[keep].reshape(nq, k, hits.vectors.shape[2])
    payloads = None if hits.payloads is None else [
        [p for p, kept in zip(row, row_keep) if kept] for row, row_keep in zip(hits.payloads, keep.tolist())]
    return SearchResult(ids=hits.ids[keep].reshape(nq, k), scores=hits.scores[keep].reshape(nq, k),
                        payloads=payloads, vectors=vectors, partial=hits.partial)


def sparse_entries(rows: SparseRows, positions: np.ndarray | None = None, *, empty_as_none: bool = True) -> list:
    """Checked sparse rows -> one (indices, weights) per row, to send to
    shards; an empty row as None (a point keeps no sparse vector for either)."""
    out = []
    at = range(len(rows)) if positions is None else positions.tolist()
    for r in at:
        lo, hi = int(rows.indptr[r]), int(rows.indptr[r + 1])
        out.append(None if hi == lo and empty_as_none else (rows.indices[lo:hi], rows.weights[lo:hi]))
    return out


def code_entries(rows: SparseRows, positions: np.ndarray) -> list:
    """Checked user sparse codes -> the `sparse` argument of a shard's upsert
    for those rows: indices, or (indices, weights) when weighted."""
    out = []
    for r in positions.tolist():
        lo, hi = int(rows.indptr[r]), int(rows.indptr[r + 1])
        out.append(rows.indices[lo:hi] if rows.weights is None else (rows.indices[lo:hi], rows.weights[lo:hi]))
    return out


def gather_points(n: int, parts: dict[int, tuple[np.ndarray, Points]], dim_out: int, stored_dtype: str,
                  request: np.ndarray) -> Points:
    """Per-shard `get` answers (positions sent, Points back) -> one Points in
    request order. A shard answers its ids in the order sent, leaving out the
    missing ones, so the found positions are those whose id came back."""
    found_pos, vec_rows, pay_rows = [], [], []
    for pos, pts in parts.values():
        hit = np.isin(request[pos], pts.ids)
        found_pos.append(pos[hit])
        vec_rows.append(pts.vectors)
        pay_rows.extend(pts.payloads if pts.payloads else [None] * len(pts.ids))
    if not found_pos:
        return Points(ids=request[:0], vectors=np.zeros((0, dim_out), np.float32), payloads=[],
                      stored_dtype=stored_dtype)
    positions = np.concatenate(found_pos)
    order = np.argsort(positions, kind="stable")
    vectors = np.concatenate(vec_rows, axis=0)[order]
    with_payloads = any(pts.payloads for _, pts in parts.values())
    payloads = [pay_rows[i] for i in order] if with_payloads else []
    return Points(ids=request[positions[order]], vectors=np.ascontiguousarray(vectors, dtype=np.float32),
                  payloads=payloads, stored_dtype=stored_dtype)


def merge_scroll(pages: list[ScrollPage], limit: int, stored_dtype: str) -> ScrollPage:
    """Pages of the same scroll from every shard -> the first `limit` points
    by id of their union; more follow when the union or any shard had more."""
    ids = np.concatenate([p.points.ids for p in pages])
    vectors = np.concatenate([p.points.vectors for p in pages], axis=0)
    payloads: list = []
    with_payloads = any(p.points.payloads for p in pages)
    for p in pages:
        payloads.extend(p.points.payloads)
    order = np.argsort(ids, kind="stable")[:limit]
    more = len(ids) > limit or any(p.next_cursor is not None for p in pages)
    points = Points(ids=ids[order], vectors=np.ascontiguousarray(vectors[order]),
                    payloads=[payloads[i] for i in order] if with_payloads else [], stored_dtype=stored_dtype)
    cursor = None
    if more and len(order):  # str ids sort as Python str, which is their UTF-8 byte order (the engine's)
        cursor = points.ids[-1] if ids.dtype == object else int(points.ids[-1])
    return ScrollPage(points=points, next_cursor=cursor)
