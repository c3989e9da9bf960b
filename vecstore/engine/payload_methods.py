"""The payload half of a Collection: payload edits, payload indexes, scroll,
and reading payloads for filters that the indexes cannot decide.

A mixin so that collection.py stays about vectors; it uses the collection's
storage (`_storage`, `_dbs`), segment (`_seg`) and `_payload_indexes`.
Index maintenance follows the segment's rule: LMDB commits first, then the
RAM state is published under the segment's exclusive lock.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import lmdb
import numpy as np

from ..types import ScrollPage
from ..api import payloads as P
from ..api import validate as V
from ..api.filters import All, Node, compile_filter
from .keys import id_keys, keys_to_ids
from ..api.indexes import check_index, check_index_key
from .payload_index import PayloadIndexes
from .selection import FilterPlan, matching_ids, plan_filter

if TYPE_CHECKING:
    from .segment import Segment
    from .storage import Storage

_PAYLOAD_READ_BLOCK = 1024  # payloads fetched per getmulti when a filter reads them
_INDEXES_KEY = b"payload_indexes"  # in the collection's meta sub-database


class PayloadMethods:
    _storage: "Storage"
    _dbs: dict[str, Any]
    _seg: "Segment"
    _payload_indexes: PayloadIndexes

    # -- scroll -------------------------------------------------------------------------
    def scroll(
        self,
        limit: int = 100,
        *,
        after: int | None = None,
        filter: dict | None = None,
        with_vectors: bool = False,
        with_payloads: bool = True,
    ) -> ScrollPage:
        """Up to `limit` points in id order, those with ids above `after`,
        optionally only those matching `filter`. Pass the page's `next_cursor`
        as `after` to get the next page; it is None after the last page."""
        self._check_usable()
        limit = V.check_limit(limit)
        after = V.check_cursor(after)
        node = compile_filter(filter)
        if node is None or isinstance(node, All):
            ids = self._ids_after(after, limit + 1)
        else:
            plan = self._plan(node, after=after, limit=limit + 1)
            # payload path: the plan holds the next matches in id order already
            ids = matching_ids(plan, self._seg, after=after, limit=limit + 1) if plan.indexed else plan.ids
        more = len(ids) > limit
        ids = ids[:limit]
        points = self.get(ids, with_vectors=with_vectors, with_payloads=with_payloads)
        return ScrollPage(points=points, next_cursor=int(ids[-1]) if more else None)

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
    def _plan(self, node: Node, *, after: int | None = None, limit: int | None = None) -> FilterPlan:
        return plan_filter(node, self._payload_indexes, self._seg, self._iter_payloads, after=after, limit=limit)

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
    def set_payload(self, ids: Any, payload: dict) -> int:
        """Merge payload's top-level keys into each point's payload; vectors are
        untouched. Unknown ids are ignored; returns how many points changed."""
        return self._edit_payloads(ids, P.set_keys(payload))

    def overwrite_payload(self, ids: Any, payload: dict | None) -> int:
        """Replace each point's payload (None removes it); vectors are untouched."""
        return self._edit_payloads(ids, P.overwrite(payload))

    def delete_payload_keys(self, ids: Any, keys: Sequence[str]) -> int:
        """Remove keys (dotted keys reach nested fields) from each point's payload."""
        return self._edit_payloads(ids, P.delete_keys(keys))

    def _edit_payloads(self, ids: Any, edit: P.Edit) -> int:
        self._check_usable()
        ids = np.unique(V.check_ids(ids, allow_empty=True))
        keys = id_keys(ids)
        with self._storage.write_lock:
            self._check_usable()

            def write(txn: lmdb.Transaction):
                slots, stored = [], []
                pay_db = self._dbs["payloads"]
                for point_id, key in zip(ids.tolist(), keys):
                    slot = txn.get(key, db=self._dbs["slots"])
                    if slot is None:
                        continue
                    raw = txn.get(key, db=pay_db)
                    new = edit(None if raw is None else json.loads(raw))
                    if new is None:
                        txn.delete(key, db=pay_db)
                    else:
                        new = V.encode_payload(new, f"payload of id {point_id}")
                        txn.put(key, new, db=pay_db)
                    slots.append(int.from_bytes(slot, "little"))
                    stored.append(new)
                return slots, stored

            slots, stored = self._storage.write(write)
            self._index_payloads(slots, stored)
        return len(slots)

    # -- payload indexes --------------------------------------------------------------------
    def create_payload_index(self, key: str, kind: str) -> None:
        """Index a payload key in RAM ("keyword", "integer" or "float") so
        filters on it are decided without reading payloads. Declaring it again
        with another kind replaces it. Kept across reopen."""
        self._check_usable()
        key, kind = check_index(key, kind)
        with self._storage.write_lock:
            self._check_usable()
            current = self._payload_indexes
            if current.declared().get(key) == kind:
                return
            fresh = PayloadIndexes({key: kind})
            self._fill_payload_indexes(fresh)
            updated = current.with_fields(fresh.fields)
            self._set_payload_indexes(updated)

    def drop_payload_index(self, key: str) -> bool:
        """Forget a payload index; returns whether there was one."""
        self._check_usable()
        check_index_key(key)
        with self._storage.write_lock:
            self._check_usable()
            current = self._payload_indexes
            if key not in current.fields:
                return False
            self._set_payload_indexes(current.without(key))
            return True

    def payload_indexes(self) -> dict[str, str]:
        """Declared payload indexes: key -> kind."""
        self._check_usable()
        return self._payload_indexes.declared()

    def _set_payload_indexes(self, indexes: PayloadIndexes) -> None:
        """Persist the declaration, then publish (caller holds the write lock)."""
        raw = json.dumps(indexes.declared()).encode()
        self._storage.write(lambda txn: txn.put(_INDEXES_KEY, raw, db=self._dbs["meta"]))
        with self._seg.lock.exclusive():
            self._payload_indexes = indexes

    def _load_payload_indexes(self) -> None:
        """Rebuild the declared indexes from the payloads in LMDB (on open)."""
        with self._storage.read() as txn:
            raw = txn.get(_INDEXES_KEY, db=self._dbs["meta"])
        indexes = PayloadIndexes(json.loads(raw) if raw else {})
        self._fill_payload_indexes(indexes)
        self._payload_indexes = indexes

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

    def _index_payloads(self, slots: Sequence[int] | np.ndarray, payloads: Sequence[Any]) -> None:
        """Publish new payloads (stored JSON bytes, or None) to the indexes, after their commit."""
        indexes = self._payload_indexes
        if not indexes.fields or not len(slots):
            return
        decoded = [None if p is None else json.loads(p) for p in payloads]  # outside the lock
        with self._seg.lock.exclusive():
            indexes.update(slots, decoded)

    def _unindex_payloads(self, slots: np.ndarray) -> None:
        indexes = self._payload_indexes
        if indexes.fields:
            with self._seg.lock.exclusive():
                indexes.remove(slots)
