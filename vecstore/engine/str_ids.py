"""The ids a collection speaks to its users, and the int64 ids it stores.

Every sub-database, the RAM segment, payload indexes and the oplog key points
by an int64 id (keys.py). An id_type="int" collection uses the user's ids
as those ids (IntIds: identity). An id_type="str" collection (StrIds) gives
each str id an *internal* int64 id and keeps the mapping in LMDB, so nothing
else in the engine knows str ids exist:

  str_ids    UTF-8 id -> internal id (8-byte BE). LMDB orders keys by bytes,
             so a cursor walks str ids in UTF-8 byte order: scroll's order.
  str_names  internal id (8-byte BE) -> UTF-8 id, to name search hits.
  meta       b"next_internal_id" -> the next internal id (8-byte BE).

Internal ids come from that counter and are never reused (a deleted id
upserted again gets a new one), so they only grow: new points append to the
end of every id-keyed sub-database. Both mappings are written in the
transaction that writes the point (`assign`) and removed in the one that
deletes it (`remove`); a crash leaves both or neither, like the point.

RAM: nothing per id. Translating a search's hits is one LMDB get per
distinct hit; a 10M-id collection costs disk (about 2 x (len(id) + 8) bytes
plus LMDB overhead per id), not memory.
"""
from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any

import lmdb
import numpy as np

from ..api import ids as I
from ..types import SearchResult
from .keys import id_keys

if TYPE_CHECKING:
    from .storage import Storage

BY_NAME = "str_ids"
BY_INTERNAL = "str_names"
SUB_DBS = (BY_NAME, BY_INTERNAL)
NEXT_KEY = b"next_internal_id"
_PACK = struct.Struct(">Q").pack


class IntIds:
    """id_type="int": user ids are the stored ids."""

    id_type = "int"

    def __init__(self, collection: str) -> None:
        self.collection = collection

    def check(self, ids: Any, *, allow_empty: bool = False) -> np.ndarray:
        return I.check_int_ids(ids, self.collection, allow_empty=allow_empty)

    def cursor(self, after: Any) -> Any:
        return I.check_cursor_of("int", after, self.collection)

    def assign(self, txn: lmdb.Transaction, ids: np.ndarray) -> np.ndarray:
        return ids

    def resolve(self, txn: lmdb.Transaction, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(stored ids that may exist, positions in ids they come from; None: all)."""
        return ids, None

    def remove(self, txn: lmdb.Transaction, keys: list[bytes]) -> None:
        pass

    def hits(self, result: SearchResult) -> SearchResult:
        return result


class StrIds:
    """id_type="str": the two LMDB maps of the module doc."""

    id_type = "str"

    def __init__(self, collection: str, storage: "Storage", dbs: dict[str, Any]) -> None:
        self.collection = collection
        self._storage = storage
        self._by_name = dbs[BY_NAME]
        self._by_internal = dbs[BY_INTERNAL]
        self._meta = dbs["meta"]

    def check(self, ids: Any, *, allow_empty: bool = False) -> np.ndarray:
        return I.check_str_ids(ids, self.collection, allow_empty=allow_empty)

    def cursor(self, after: Any) -> Any:
        return I.check_cursor_of("str", after, self.collection)

    # -- inside write transactions ------------------------------------------------------
    def assign(self, txn: lmdb.Transaction, names: np.ndarray) -> np.ndarray:
        """Internal ids of names (distinct), allocating and mapping the new ones."""
        out = np.empty(len(names), dtype=np.int64)
        raw = txn.get(NEXT_KEY, db=self._meta)
        nxt = 0 if raw is None else int.from_bytes(raw, "big")
        new = []
        for i, name in enumerate(names.tolist()):
            key = name.encode("utf-8")
            found = txn.get(key, db=self._by_name)
            if found is None:
                out[i] = nxt
                new.append((key, _PACK(nxt)))
                nxt += 1
            else:
                out[i] = int.from_bytes(found, "big")
        if new:
            for key, value in new:
                txn.put(key, value, db=self._by_name)
            with txn.cursor(db=self._by_internal) as cur:  # fresh ids sort after every stored one
                cur.putmulti([(value, key) for key, value in new], append=True)
            txn.put(NEXT_KEY, _PACK(nxt), db=self._meta)
        return out

    def remove(self, txn: lmdb.Transaction, keys: list[bytes]) -> None:
        """Forget the names of the internal ids whose keys are given."""
        for key in keys:
            name = txn.get(key, db=self._by_internal)
            if name is not None:
                txn.delete(key, db=self._by_internal)
                txn.delete(name, db=self._by_name)

    # -- reads ------------------------------------------------------------------------------
    def resolve(self, txn: lmdb.Transaction, names: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(internal ids of the names that exist, their positions in names)."""
        got = [txn.get(n.encode("utf-8"), db=self._by_name) for n in names.tolist()]
        pos = np.fromiter((i for i, g in enumerate(got) if g is not None), dtype=np.int64)
        iids = np.fromiter((int.from_bytes(got[i], "big") for i in pos.tolist()), dtype=np.int64, count=len(pos))
        return iids, pos

    def names_of(self, txn: lmdb.Transaction, iids: np.ndarray) -> list[str | None]:
        return [None if (v := txn.get(k, db=self._by_internal)) is None else bytes(v).decode("utf-8")
                for k in id_keys(iids)]

    def hits(self, result: SearchResult) -> SearchResult:
        """A search's internal ids named. A hit deleted since (its name gone)
        is dropped from its row, the rest move up: padding is None at the end."""
        ids = result.ids
        valid = ids >= 0
        uniq = np.unique(ids[valid])
        names = np.empty(len(uniq), dtype=object)
        with self._storage.read() as txn:
            names[:] = self.names_of(txn, uniq)
        out = np.full(ids.shape, None, dtype=object)
        out[valid] = names[np.searchsorted(uniq, ids[valid])]
        keep = np.not_equal(out, None)
        if (keep == valid).all():
            return SearchResult(ids=out, scores=result.scores, payloads=result.payloads, vectors=result.vectors)
        return _close_up(result, out, keep)

    def page(self, after: str | None, count: int, accept: Any = None) -> list[str]:
        """Up to count names after `after` in UTF-8 byte order; accept(txn,
        internal id key) -> bool picks which (None: all)."""
        out: list[str] = []
        with self._storage.read() as txn:
            with txn.cursor(db=self._by_name) as cur:
                ok = cur.set_range(b"" if after is None else after.encode("utf-8"))
                if ok and after is not None and cur.key() == after.encode("utf-8"):
                    ok = cur.next()
                while ok and len(out) < count:
                    key, value = cur.item()
                    if accept is None or accept(txn, value):
                        out.append(bytes(key).decode("utf-8"))
                    ok = cur.next()
        return out


def _close_up(result: SearchResult, ids: np.ndarray, keep: np.ndarray) -> SearchResult:
    """result with ids named, the entries where keep is False removed and each row closed up."""
    order = np.argsort(~keep, axis=1, kind="stable")
    kept = np.take_along_axis(keep, order, axis=1)
    out_ids = np.where(kept, np.take_along_axis(ids, order, axis=1), None).astype(object)
    scores = np.where(kept, np.take_along_axis(result.scores, order, axis=1), np.nan).astype(np.float32)
    payloads = vectors = None
    if result.payloads is not None:
        payloads = [[row[j] if ok else None for j, ok in zip(o.tolist(), k.tolist())]
                    for row, o, k in zip(result.payloads, order, kept)]
    if result.vectors is not None:
        vectors = np.take_along_axis(result.vectors, order[:, :, None], axis=1)
        vectors[~kept] = np.nan
    return SearchResult(ids=out_ids, scores=scores, payloads=payloads, vectors=vectors)


def make_ids(config: Any, storage: "Storage", dbs: dict[str, Any]) -> IntIds | StrIds:
    return StrIds(config.name, storage, dbs) if config.id_type == "str" else IntIds(config.name)
