"""Hybrid search: a user sparse vector per point beside the dense one, an
inverted index of them in RAM, and the fused dense + sparse search.

Storage: the `sparse_vectors` sub-database, id -> the point's sparse vector
(sparse_rows layout: uint32 indices, then float32 weights), written in the
transaction that writes the point; a point without one has no key. It exists
only for collections created with sparse_vectors (old databases never have it).

RAM: `SparseVectorIndex.postings`, one posting list per vocabulary term (the
slots holding it and their weights), rebuilt from LMDB at open. Like the
segment and the payload indexes it is derived state published after the
commit, under the segment's exclusive lock; searches read it under the
shared lock, with the slots' liveness (or the filter's mask) beside it.

Search: sparse retrieval is exact: each query's top hits by the sparse dot
product over the postings of its terms (native.sparse.overlap_topk, only
slots sharing a term with the query). With dense queries too, both lists are
fetched at depth max(k, FUSION_DEPTH) and fused (api/fusion.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lmdb
import numpy as np

from native.sparse import overlap_topk

from ..api.filters import All, compile_filter
from ..api.fusion import FUSION_DEPTH, check_hybrid_args, fuse
from ..api.sparse_rows import SparseRows
from ..errors import InternalError
from ..types import SearchResult
from .keys import keys_to_ids
from .postings import Postings

if TYPE_CHECKING:
    from .collection import Collection
    from .segment import Segment
    from .storage import Storage

SUB_DB = "sparse_vectors"
__all__ = ["FUSION_DEPTH", "SUB_DB", "SparseVectorIndex", "search", "sparse_search"]


@dataclass
class _Change:
    """What one committed write does to the postings: entries out, entries in."""

    old_slots: np.ndarray
    old_rows: SparseRows
    new_slots: np.ndarray
    new_rows: SparseRows


class SparseVectorIndex:
    """The sparse vectors of one collection: their LMDB sub-database and the
    RAM inverted index (see the module doc)."""

    def __init__(self, storage: "Storage", db: Any, seg: "Segment") -> None:
        self._storage = storage
        self._db = db
        self._seg = seg
        self.postings = Postings(0, weighted=True)

    # -- writes: stage inside the transaction, publish after the commit -------------
    def stage_upsert(self, txn: lmdb.Transaction, keys: list[bytes], slots: np.ndarray, replaced: np.ndarray,
                     rows: SparseRows | None) -> _Change:
        """Write the batch's sparse vectors (rows None: no point has one, which
        clears those of replaced points); return the change to publish."""
        old_slots, old_rows = self._read_old(txn, [keys[i] for i in replaced], slots[replaced])
        if rows is None:
            rows = SparseRows(np.zeros(len(keys) + 1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
        values = rows.to_values()
        for key, value in zip(keys, values):
            if value:
                txn.put(key, value, db=self._db)
            else:  # no sparse vector: no key (a replaced point's old one goes)
                txn.delete(key, db=self._db)
        has = np.flatnonzero(rows.lengths() > 0)
        return _Change(old_slots, old_rows, slots[has], rows.take(has))

    def stage_delete(self, txn: lmdb.Transaction, keys: list[bytes], slots: np.ndarray) -> _Change:
        old_slots, old_rows = self._read_old(txn, keys, slots)
        for key in keys:
            txn.delete(key, db=self._db)
        return _Change(old_slots, old_rows, np.zeros(0, np.int64), SparseRows.empty(True))

    def _read_old(self, txn: lmdb.Transaction, keys: list[bytes], slots: np.ndarray) -> tuple[np.ndarray, SparseRows]:
        values = [txn.get(k, db=self._db) for k in keys]
        have = [i for i, v in enumerate(values) if v is not None]
        return np.asarray(slots, np.int64)[have], SparseRows.from_values([values[i] for i in have], True)

    def publish(self, change: _Change) -> None:
        """Apply a committed change to the RAM index (caller holds the write lock)."""
        with self._seg.lock.exclusive():
            p = self.postings
            keys, at, _ = change.old_rows.pairs(change.old_slots)
            p.remove(keys, at)
            keys, at, weights = change.new_rows.pairs(change.new_slots)
            if len(keys):
                p.grow_keys(int(keys.max()) + 1)
                p.add(keys, at, weights)

    # -- open -----------------------------------------------------------------------------
    def load(self) -> None:
        """Rebuild the postings from LMDB (at open; no write runs meanwhile)."""
        seg = self._seg
        live = np.flatnonzero(seg.ids[: seg.n] >= 0)
        order = np.argsort(seg.ids[live], kind="stable")
        sorted_ids, slot_of = seg.ids[live][order], live[order]
        with self._storage.read() as txn:
            pairs = list(txn.cursor(db=self._db).iternext(keys=True, values=True))
        postings = Postings(0, weighted=True)
        if pairs:
            ids = keys_to_ids([k for k, _ in pairs])
            pos = np.searchsorted(sorted_ids, ids)
            if len(sorted_ids) == 0 or (pos >= len(sorted_ids)).any() or (sorted_ids[np.minimum(pos, len(sorted_ids) - 1)] != ids).any():
                raise InternalError("sparse vectors of points that have no slot: sparse_vectors and slots disagree")
            try:
                rows = SparseRows.from_values([v for _, v in pairs], True)
            except ValueError as exc:
                raise InternalError(f"a stored sparse vector is unreadable: {exc}") from None
            keys, at, weights = rows.pairs(slot_of[pos])
            postings = Postings.build(int(keys.max()) + 1 if len(keys) else 0, keys, at, weights)
        with seg.lock.exclusive():
            self.postings = postings

    # -- reads ----------------------------------------------------------------------------
    def top(self, eligible: np.ndarray, q: SparseRows, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Each query's best k eligible slots by sparse dot product, only
        those sharing a term with it (caller holds the segment's shared lock)."""
        p = self.postings
        known = q.indices < p.n_keys  # terms no point has add nothing
        if not known.all():
            q = _keep_entries(q, known)
        return overlap_topk(p.slots, p.weights, p.starts, p.lengths, q.indptr, q.indices, q.weights,
                            eligible, k, fill_zeros=False)

    def nbytes(self) -> int:
        return self.postings.nbytes()


def _keep_entries(q: SparseRows, keep: np.ndarray) -> SparseRows:
    """q without the entries where keep is False."""
    row_of = np.repeat(np.arange(len(q)), q.lengths())
    indptr = np.zeros(len(q) + 1, np.int64)
    indptr[1:] = np.cumsum(np.bincount(row_of[keep], minlength=len(q)))
    return SparseRows(indptr, q.indices[keep], q.weights[keep])


# -- search -------------------------------------------------------------------------------
def search(col: "Collection", queries: Any, k: int, *, filter: dict | None, sparse_query: Any, fusion: str,
           rrf_k: float, dense_weight: float, dense: dict[str, Any]) -> SearchResult:
    """Collection.search with a sparse_query (or without dense queries): sparse
    retrieval alone, or fused with the dense search (`dense`: its other arguments)."""
    col._check_usable()
    _, q_rows, k, depth, fusion, rrf_k, dense_weight = check_hybrid_args(
        col.config, queries, k, sparse_query, fusion, rrf_k, dense_weight, dense)
    sparse_hits = sparse_search(col, q_rows, depth, filter)
    if queries is None:
        return sparse_hits
    dense_hits = col._search(queries, depth, filter=filter, **dense)  # in stored ids, like sparse_hits
    return fuse(dense_hits, sparse_hits, k, fusion=fusion, rrf_k=rrf_k, dense_weight=dense_weight,
                dense_higher_better=col.metric != "l2")


def sparse_search(col: "Collection", q_rows: SparseRows, k: int, filter: dict | None) -> SearchResult:
    """Exact sparse retrieval: ids and sparse dot products, NaN-padded."""
    index = col._sparse_vectors
    node = compile_filter(filter)
    plan = None if node is None or isinstance(node, All) else col._plan(node)
    seg = col._seg
    with seg.lock.shared():
        n = seg.n
        eligible = plan.mask(seg, n).view(np.uint8) if plan is not None else seg.alive[:n]
        slots, scores = index.top(eligible, q_rows, k)
        ids = seg.ids_of(slots)  # under the lock: slots hold still
    return SearchResult(ids=ids.astype(np.int64), scores=np.where(slots >= 0, scores, np.nan).astype(np.float32))
