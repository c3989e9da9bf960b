"""Which points a filter selects: a slot mask for the coarse scan, ids in id order
for count, scroll and delete.

Two ways to decide, chosen per filter:

- every condition names an indexed key: the payload indexes decide alone, with
  array operations, under the segment lock (so the mask is consistent with the
  codes it is applied to);
- otherwise payloads are read from LMDB and the filter is evaluated in Python
  (correct, slower: about a microsecond or two per point read). The indexed
  conditions first narrow which payloads are read. The result is a set of ids,
  turned into a slot mask under the segment lock against the current slot map,
  so a point deleted or moved meanwhile is never selected by mistake. A
  point whose payload changes while the filter runs may be judged by either
  version.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from ..api.filters import Node
from .payload_index import PayloadIndexes
from .segment import Segment

#: reads (id, payload or None) for sorted ids, lazily, in one read transaction
PayloadReader = Callable[[np.ndarray], Iterable[tuple[int, Any]]]


@dataclass(frozen=True)
class FilterPlan:
    node: Node
    indexes: PayloadIndexes
    ids: np.ndarray | None  # ids matched by reading payloads; None when the indexes decide

    @property
    def indexed(self) -> bool:
        return self.ids is None

    def mask(self, seg: Segment, n: int) -> np.ndarray:
        """bool (n,): live slots below n that match. Call under seg.lock.shared()."""
        alive = seg.alive[:n].view(bool)
        if self.ids is None:
            mask, _exact = self.indexes.bound(self.node, alive)
            return mask
        return alive & np.isin(seg.ids[:n], self.ids)


def plan_filter(
    node: Node,
    indexes: PayloadIndexes,
    seg: Segment,
    read_payloads: PayloadReader,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> FilterPlan:
    """Decide how node selects points. With `after`/`limit` (paging), the
    payload path stops after `limit` matches above id `after`."""
    if indexes.covers(node):
        return FilterPlan(node, indexes, None)
    with seg.lock.shared():
        n = seg.n
        bound, exact = indexes.bound(node, seg.alive[:n].view(bool))
        candidates = seg.ids[:n][bound]
    candidates = np.sort(candidates)
    if after is not None:
        candidates = candidates[candidates > after]
    if exact:  # the indexed conditions decided after all (an And they rule out)
        return FilterPlan(node, indexes, candidates[:limit])
    rows = read_payloads(candidates)
    try:
        return FilterPlan(node, indexes, _evaluate(node, rows, limit))
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # a generator stopped early releases its read transaction now
            close()


def _evaluate(node: Node, rows: Iterable[tuple[int, Any]], limit: int | None) -> np.ndarray:
    out: list[int] = []
    empty_matches = node.matches(None)  # many points may have no payload
    for point_id, payload in rows:
        if empty_matches if payload is None else node.matches(payload):
            out.append(point_id)
            if limit is not None and len(out) >= limit:
                break
    return np.asarray(out, dtype=np.int64)


def matching_ids(
    plan: FilterPlan, seg: Segment, *, after: int | None = None, limit: int | None = None
) -> np.ndarray:
    """Sorted ids of the live points the plan selects: the `limit` smallest above `after`."""
    with seg.lock.shared():
        n = seg.n
        ids = seg.ids[:n][plan.mask(seg, n)]
    if after is not None:
        ids = ids[ids > after]
    if limit is not None and len(ids) > limit:
        ids = np.partition(ids, limit - 1)[:limit]
    return np.sort(ids)


# When few points match, reading all of them from LMDB and scoring them exactly
# is cheaper than scanning every code: per point, a read and an exact score
# cost about as much as scanning ~SCAN_PER_READ codes (measured on pypi-minilm,
# 100k x 384, binary codes, k=10: the two paths cross between 300 and 400
# matches; see bench/RESULTS.md). Exact also has perfect recall.
SCAN_PER_READ = 500
EXACT_MAX_POINTS = 32_768  # bounds the vectors one search reads at once


def prefer_exact(n_match: int, n_cand: int, n_scanned: int) -> bool:
    """Whether reading the n_match matching points beats a coarse scan of
    n_scanned codes followed by the rerank of n_cand candidates."""
    return n_match <= min(n_cand + n_scanned // SCAN_PER_READ, EXACT_MAX_POINTS)
