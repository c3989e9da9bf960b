"""A collection's payloads: payload edits, payload indexes, the filter plans
that use them (and read payloads where the indexes cannot decide), and the
id order that scroll pages through.

A component the Collection owns and delegates to, so that collection.py stays
about vectors. It is given what it uses: the storage, the collection's
sub-database handles (it reads `slots` and `meta`, reads and edits
`payloads`), the segment (slot <-> id, and the lock its indexes are published
under) and the collection's usability check. Index maintenance follows the
segment's rule: LMDB commits first, then the RAM state is published under the
segment's exclusive lock.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

import lmdb
import numpy as np

from ..api import payloads as P
from ..api import validate as V
from ..api.filters import All, Node
from ..api.indexes import check_index, check_index_key
from .keys import id_keys, keys_to_ids
from .payload_index import PayloadIndexes
from .selection import FilterPlan, matching_ids, plan_filter

if TYPE_CHECKING:
    from .segment import Segment
    from .storage import Storage

_PAYLOAD_READ_BLOCK = 1024  # payloads fetched per getmulti when a filter reads them
_INDEXES_KEY = b"payload_indexes"  # in the collection's meta sub-database


class PayloadStore:
    """The payload half of one collection (see the module doc)."""

    def __init__(self, storage: "Storage", dbs: Mapping[str, Any], seg: "Segment",
                 check_usable: Callable[[], None], ids: Any) -> None:
        self._storage = storage
        self._dbs = dbs
        self._seg = seg
        self._check_usable = check_usable  # raises once the database closed or the collection was dropped
        self._ids = ids  # user ids <-> stored ids (str_ids.py)
        # replaced whole (never mutated) when an index is declared or dropped,
        # so a reader holding it never sees its dict change
        self.indexes = PayloadIndexes()

    # -- scroll -------------------------------------------------------------------------
    def page_ids(self, after: int | None, count: int, node: Node | None) -> np.ndarray:
        """Up to `count` ids above `after` in id order, only those matching
        `node` (None: all); Collection.scroll reads their points."""
        if node is None or isinstance(node, All):
            return self._ids_after(after, count)
        plan = self.plan(node, after=after, limit=count)
        # payload path: the plan holds the next matches in id order already
        return matching_ids(plan, self._seg, after=after, limit=count) if plan.indexed else plan.ids

    def _ids_after(self, after: int | None, count: int) -> np.ndarray:
        start = (0 if after is None else after + 1).to_bytes(8, "big")
        keys = []
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["slots"]) as cur:
                if cur.set_range(start):
                    for key in cur.iternext(keys=True, values=False):
                        keys.append(key)
                        if len(keys) >= count:
                            break
        return keys_to_ids(keys)

    # -- filters --------------------------------------------------------------------------
    def plan(self, node: Node, *, after: int | None = None, limit: int | None = None) -> FilterPlan:
        return plan_filter(node, self.indexes, self._seg, self._iter_payloads, after=after, limit=limit)

    def _iter_payloads(self, ids: np.ndarray) -> Iterator[tuple[int, Any]]:
        """(id, payload or None) for sorted ids, read lazily in one read transaction."""
        with self._storage.read() as txn:
            with txn.cursor(db=self._dbs["payloads"]) as cur:
                for lo in range(0, len(ids), _PAYLOAD_READ_BLOCK):
                    part = ids[lo : lo + _PAYLOAD_READ_BLOCK]
                    keys = id_keys(part)
                    found = dict(cur.getmulti(keys))
                    for point_id, key in zip(part.tolist(), keys):
                        raw = found.get(key)
                        # str, not bytes: json.loads would sniff the encoding of each
                        yield point_id, (None if raw is None else json.loads(raw.decode()))

    # -- payload edits ----------------------------------------------------------------------
    def edit(self, ids: Any, edit: P.Edit) -> int:
        """Apply `edit` to the payload of each existing id; returns how many there were."""
        self._check_usable()
        ids = np.unique(self._ids.check(ids, allow_empty=True))
        with self._storage.write_lock:
            self._check_usable()

            def write(txn: lmdb.Transaction):
                slots, stored = [], []
                pay_db = self._dbs["payloads"]
                internal, pos = self._ids.resolve(txn, ids)
                named = ids if pos is None else ids[pos]
                for point_id, key in zip(named.tolist(), id_keys(internal)):
                    slot = txn.get(key, db=self._dbs["slots"])
                    if slot is None:
                        continue
                    raw = txn.get(key, db=pay_db)
                    new = edit(None if raw is None else json.loads(raw))
                    if new is None:
                        txn.delete(key, db=pay_db)
                    else:
                        new = V.encode_payload(new, f"payload of id {point_id!r}")
                        txn.put(key, new, db=pay_db)
                    slots.append(int.from_bytes(slot, "little"))
                    stored.append(new)
                return slots, stored

            slots, stored = self._storage.write(write)
            self.index(slots, stored)
        return len(slots)

    # -- payload indexes --------------------------------------------------------------------
    def create_index(self, key: str, kind: str) -> None:
        """See Collection.create_payload_index."""
        self._check_usable()
        key, kind = check_index(key, kind)
        with self._storage.write_lock:
            self._check_usable()
            current = self.indexes
            if current.declared().get(key) == kind:
                return
            fresh = PayloadIndexes({key: kind})
            self._fill_payload_indexes(fresh)
            updated = current.with_fields(fresh.fields)
            self._set_payload_indexes(updated)

    def drop_index(self, key: str) -> bool:
        """See Collection.drop_payload_index."""
        self._check_usable()
        check_index_key(key)
        with self._storage.write_lock:
            self._check_usable()
            current = self.indexes
            if key not in current.fields:
                return False
            self._set_payload_indexes(current.without(key))
            return True

    def declared(self) -> dict[str, str]:
        """Declared payload indexes: key -> kind."""
        self._check_usable()
        return self.indexes.declared()

    def _set_payload_indexes(self, indexes: PayloadIndexes) -> None:
        """Persist the declaration, then publish (caller holds the write lock)."""
        raw = json.dumps(indexes.declared()).encode()
        self._storage.write(lambda txn: txn.put(_INDEXES_KEY, raw, db=self._dbs["meta"]))
        with self._seg.lock.exclusive():
            self.indexes = indexes

    def load_indexes(self) -> None:
        """Rebuild the declared indexes from the payloads in LMDB (on open)."""
        with self._storage.read() as txn:
            raw = txn.get(_INDEXES_KEY, db=self._dbs["meta"])
        indexes = PayloadIndexes(json.loads(raw) if raw else {})
        self._fill_payload_indexes(indexes)
        self.indexes = indexes

    def _fill_payload_indexes(self, indexes: PayloadIndexes) -> None:
        """Index every stored payload; no write may run meanwhile (slots must hold still)."""
        if not indexes.fields:
            return
        seg = self._seg
        live = np.flatnonzero(seg.ids[: seg.n] >= 0)
        order = np.argsort(seg.ids[live])
        sorted_ids, slot_of = seg.ids[live][order], live[order]
        with self._storage.read() as txn:
            rows = list(txn.cursor(db=self._dbs["payloads"]).iternext(keys=True, values=True))
        if not rows or not len(sorted_ids):
            return
        point_ids = keys_to_ids([key for key, _ in rows])
        pos = np.minimum(np.searchsorted(sorted_ids, point_ids), len(sorted_ids) - 1)
        known = sorted_ids[pos] == point_ids
        indexes.update(slot_of[pos[known]], [raw for (_, raw), ok in zip(rows, known) if ok])

    def index(self, slots: Sequence[int] | np.ndarray, payloads: Sequence[Any]) -> None:
        """Publish new payloads (stored JSON bytes, or None) to the indexes, after their commit."""
        indexes = self.indexes
        if not indexes.fields or not len(slots):
            return
        decoded = [None if p is None else json.loads(p) for p in payloads]  # outside the lock
        with self._seg.lock.exclusive():
            indexes.update(slots, decoded)

    def unindex(self, slots: np.ndarray) -> None:
        """Take deleted slots out of the indexes, after their commit."""
        indexes = self.indexes
        if indexes.fields:
            with self._seg.lock.exclusive():
                indexes.remove(slots)
