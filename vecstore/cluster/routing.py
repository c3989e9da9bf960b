"""Where points live in a sharded collection, and how shard answers merge.

Pure numpy (no Ray): an id hashes (splitmix64, stable across processes and
versions) into one of VIRTUAL_SHARDS virtual shards; the catalog's shard map
says which shard holds each virtual shard. Keeping the virtual count fixed
means a later re-sharding moves whole virtual shards, never rehashes ids.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import Points, ScrollPage, SearchResult

VIRTUAL_SHARDS = 256


def default_shard_map(shards: int) -> list[int]:
    """Virtual shard -> shard, round robin."""
    return [v % shards for v in range(VIRTUAL_SHARDS)]


def virtual_shard(ids: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser of each id, modulo VIRTUAL_SHARDS."""
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


def merge_search(parts: list[SearchResult], k: int, metric: str) -> SearchResult:
    """Each shard's exact top-k -> the top-k of their union (ties by id)."""
    ids = np.concatenate([p.ids for p in parts], axis=1)
    scores = np.concatenate([p.scores for p in parts], axis=1)
    key = scores.astype(np.float64) if metric == "l2" else -scores.astype(np.float64)
    key = np.where(ids >= 0, key, np.inf)  # padding (NaN) last
    key = np.where(np.isnan(key), np.inf, key)
    order = np.lexsort((ids, key), axis=-1)[:, :k]
    return SearchResult(ids=np.take_along_axis(ids, order, axis=1),
                        scores=np.take_along_axis(scores, order, axis=1))


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
        return Points(ids=np.zeros(0, np.int64), vectors=np.zeros((0, dim_out), np.float32), payloads=[],
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
    return ScrollPage(points=points, next_cursor=int(points.ids[-1]) if more and len(order) else None)
