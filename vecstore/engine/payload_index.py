"""Payload indexes: per declared field, the field's values by slot, in RAM.

An index turns a filter condition into a slot mask with numpy instead of
reading payloads from LMDB. Three kinds:

    keyword  strings: a value id per slot (int32) plus the vocabulary
    integer  numbers exactly representable as int64, per slot
    float    numbers exactly representable as float64, per slot

Every index is exact: it answers a condition the same way `Condition.matches`
does on the payload. A slot's values (`flatten(resolve(payload, key))`) are
split across three places, and a condition holds when any value satisfies it,
so each place is tested on its own and the results are OR-ed:

    column   the first value of the index's type (the common case: one value)
    more     (keyword only) further strings of a list, with postings per string
    extra    every other value (other types, non-representable numbers,
             further numbers of a list), tested in Python

`present` records whether the key exists at all, for $exists. So a field that
mostly holds the index's type is answered by array operations; values of other
types are still found, only more slowly.

Indexes are keyed by slot (the row in the segment) so a mask lines up with the
codes; the collection updates them under the segment's exclusive lock.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import numpy as np

from ..api.filters import All, And, Condition, Node, Not, Or, flatten, is_number, resolve

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class FieldIndex:
    kind = ""

    def __init__(self, key: str) -> None:
        self.key = key
        self.parts = tuple(key.split("."))
        self.present = np.zeros(0, dtype=bool)
        self.extra: dict[int, tuple] = {}
        self._alloc_columns(0)

    # -- storage ------------------------------------------------------------------------
    def _alloc_columns(self, capacity: int) -> None:
        raise NotImplementedError

    def _columns(self) -> list[str]:
        return ["present"]

    def _grow(self, slot: int) -> None:
        if slot < len(self.present):
            return
        new_cap = max(slot + 1, len(self.present) + len(self.present) // 8, 256)
        for name in self._columns():
            old = getattr(self, name)
            fill = -1 if old.dtype == np.int32 else 0
            new = np.full(new_cap, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def nbytes(self) -> int:
        # Python containers are estimated at ~100 bytes per entry
        return sum(getattr(self, c).nbytes for c in self._columns()) + 100 * len(self.extra)

    # -- updates ------------------------------------------------------------------------
    def set(self, slot: int, payload: dict | None) -> None:
        """Index the slot's payload (None: no payload), replacing what it held."""
        self.clear(slot)
        found = resolve(payload, self.parts)
        if not found:
            return
        self._grow(slot)
        self.present[slot] = True
        rest = self._store(slot, flatten(found))
        if rest:
            self.extra[slot] = tuple(rest)

    def _store(self, slot: int, values: list[Any]) -> list[Any]:
        """Put what the columns can hold; return the values left for `extra`."""
        raise NotImplementedError

    def clear(self, slot: int) -> None:
        if slot < len(self.present):
            self.present[slot] = False
        self.extra.pop(slot, None)

    # -- queries ------------------------------------------------------------------------
    def mask(self, cond: Condition, n: int) -> np.ndarray:
        """bool (n,): slots below n whose payload satisfies cond."""
        if cond.op == "$exists":
            present = _fit(self.present, n, False)
            return present if cond.operand else ~present
        out = self._column_mask(cond, n)
        for slot, values in self.extra.items():
            if slot < n and not out[slot] and cond.test_values(values):
                out[slot] = True
        return out

    def _column_mask(self, cond: Condition, n: int) -> np.ndarray:
        raise NotImplementedError


class KeywordIndex(FieldIndex):
    kind = "keyword"

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.vocab: dict[str, int] = {}  # string -> value id
        self.refs: list[int] = []  # value id -> slots using it (ids are reused at 0)
        self.words: list[str | None] = []
        self.free_vids: list[int] = []
        self.more: dict[int, tuple[int, ...]] = {}  # slot -> further value ids
        self.postings: dict[int, set[int]] = {}  # value id -> slots holding it in `more`

    def _alloc_columns(self, capacity: int) -> None:
        self.column = np.full(capacity, -1, dtype=np.int32)

    def _columns(self) -> list[str]:
        return ["present", "column"]

    def nbytes(self) -> int:
        return super().nbytes() + 100 * (len(self.vocab) + len(self.more))

    def _acquire(self, word: str) -> int:
        vid = self.vocab.get(word)
        if vid is None:
            if self.free_vids:
                vid = self.free_vids.pop()
                self.words[vid] = word
            else:
                vid = len(self.words)
                self.words.append(word)
                self.refs.append(0)
            self.vocab[word] = vid
        self.refs[vid] += 1
        return vid

    def _release(self, vid: int) -> None:
        self.refs[vid] -= 1
        if self.refs[vid] == 0:  # forget values no point holds any more
            del self.vocab[self.words[vid]]
            self.words[vid] = None
            self.free_vids.append(vid)

    def _store(self, slot, values):
        strings = list(dict.fromkeys(v for v in values if isinstance(v, str)))
        rest = [v for v in values if not isinstance(v, str)]
        if strings:
            self.column[slot] = self._acquire(strings[0])
        if len(strings) > 1:
            vids = tuple(self._acquire(w) for w in strings[1:])
            self.more[slot] = vids
            for vid in vids:
                self.postings.setdefault(vid, set()).add(slot)
        return rest

    def clear(self, slot):
        if slot < len(self.column) and self.column[slot] >= 0:
            self._release(int(self.column[slot]))
            self.column[slot] = -1
        for vid in self.more.pop(slot, ()):
            holders = self.postings[vid]
            holders.discard(slot)
            if not holders:
                del self.postings[vid]
            self._release(vid)
        super().clear(slot)

    def _matching_vids(self, cond: Condition) -> list[int]:
        if cond.op == "$eq":
            vid = self.vocab.get(cond.operand) if isinstance(cond.operand, str) else None
            return [] if vid is None else [vid]
        if cond.op == "$in":
            return [self.vocab[v] for v in cond.operand if isinstance(v, str) and v in self.vocab]
        if not isinstance(cond.operand, str):
            return []
        return [vid for word, vid in self.vocab.items() if cond.test_values((word,))]

    def _column_mask(self, cond, n):
        vids = self._matching_vids(cond)
        hit = np.zeros(len(self.words) + 1, dtype=bool)  # index 0 stands for "no value" (-1)
        hit[np.asarray(vids, dtype=np.int64) + 1] = True
        out = hit[_fit(self.column, n, -1).astype(np.int64) + 1]
        for vid in vids:
            for slot in self.postings.get(vid, ()):
                if slot < n:
                    out[slot] = True
        return out


class NumericIndex(FieldIndex):
    """Numbers in a typed column; `dtype` decides which numbers fit exactly."""

    dtype: type = np.float64

    def _alloc_columns(self, capacity: int) -> None:
        self.column = np.zeros(capacity, dtype=self.dtype)
        self.has = np.zeros(capacity, dtype=bool)

    def _columns(self) -> list[str]:
        return ["present", "column", "has"]

    def represent(self, v: Any) -> Any:
        """v as a column value when exactly representable, else None."""
        raise NotImplementedError

    def _store(self, slot, values):
        rest = []
        for i, v in enumerate(values):
            rep = self.represent(v) if is_number(v) else None
            if rep is not None:
                self.column[slot] = rep
                self.has[slot] = True
                return rest + values[i + 1 :]
            rest.append(v)
        return rest

    def clear(self, slot):
        if slot < len(self.has):
            self.has[slot] = False
        super().clear(slot)

    def _column_mask(self, cond, n):
        column, has = _fit(self.column, n, 0), _fit(self.has, n, False)
        if cond.op in ("$eq", "$in"):
            operands = (cond.operand,) if cond.op == "$eq" else cond.operand
            reps = [self.represent(v) for v in operands if is_number(v)]
            reps = [r for r in reps if r is not None]
            if not reps:
                return np.zeros(n, dtype=bool)
            hit = column == reps[0] if len(reps) == 1 else np.isin(column, np.asarray(reps, dtype=self.dtype))
            return hit & has
        if not is_number(cond.operand):
            return np.zeros(n, dtype=bool)
        return self._compare(column, cond.op, cond.operand) & has

    def _compare(self, column: np.ndarray, op: str, q: Any) -> np.ndarray:
        raise NotImplementedError


class IntegerIndex(NumericIndex):
    kind = "integer"
    dtype = np.int64

    def represent(self, v):
        if isinstance(v, float):
            if not v.is_integer():
                return None
            v = int(v)
        return v if _INT64_MIN <= v <= _INT64_MAX else None

    def _compare(self, column, op, q):
        # x > q for an integer x is x >= floor(q) + 1, and so on: exact integer bounds
        if op in ("$gt", "$gte"):
            lo = (math.floor(q) + 1) if op == "$gt" else math.ceil(q)
            if lo <= _INT64_MIN:
                return np.ones(len(column), dtype=bool)
            return column >= lo if lo <= _INT64_MAX else np.zeros(len(column), dtype=bool)
        hi = (math.ceil(q) - 1) if op == "$lt" else math.floor(q)
        if hi >= _INT64_MAX:
            return np.ones(len(column), dtype=bool)
        return column <= hi if hi >= _INT64_MIN else np.zeros(len(column), dtype=bool)


class FloatIndex(NumericIndex):
    kind = "float"
    dtype = np.float64

    def represent(self, v):
        try:
            f = float(v)
        except OverflowError:
            return None
        return f if f == v else None

    def _compare(self, column, op, q):
        if isinstance(q, int) and float(q) != q:
            # q sits between two doubles: compare against the right neighbour, exactly
            f = float(q)
            above = f if f > q else math.nextafter(f, math.inf)
            below = f if f < q else math.nextafter(f, -math.inf)
            return column >= above if op in ("$gt", "$gte") else column <= below
        q = float(q)
        if op == "$gt":
            return column > q
        if op == "$gte":
            return column >= q
        if op == "$lt":
            return column < q
        return column <= q


_CLASSES: dict[str, type[FieldIndex]] = {c.kind: c for c in (KeywordIndex, IntegerIndex, FloatIndex)}


def _fit(a: np.ndarray, n: int, fill: Any) -> np.ndarray:
    """a's first n entries, padded with fill (indexes grow lazily). Often a
    view of the index itself: read it, never write to it."""
    if len(a) >= n:
        return a[:n]
    out = np.full(n, fill, dtype=a.dtype)
    m = min(n, len(a))
    out[:m] = a[:m]
    return out


class PayloadIndexes:
    """The declared indexes of one collection, and the filter planner over them."""

    def __init__(self, declared: dict[str, str] | None = None) -> None:
        self.fields: dict[str, FieldIndex] = {}
        for key, kind in (declared or {}).items():
            self.fields[key] = _CLASSES[kind](key)

    def with_fields(self, fields: dict[str, FieldIndex]) -> "PayloadIndexes":
        """A new set with these indexes added (or replacing same-key ones)."""
        out = PayloadIndexes()
        out.fields = {**self.fields, **fields}
        return out

    def without(self, key: str) -> "PayloadIndexes":
        out = PayloadIndexes()
        out.fields = {k: v for k, v in self.fields.items() if k != key}
        return out

    def declared(self) -> dict[str, str]:
        return {key: idx.kind for key, idx in sorted(self.fields.items())}

    @staticmethod
    def new_index(key: str, kind: str) -> FieldIndex:
        return _CLASSES[kind](key)

    def nbytes(self) -> int:
        return sum(idx.nbytes() for idx in self.fields.values())

    # -- maintenance -----------------------------------------------------------------------
    def update(self, slots: Iterable[int], payloads: Iterable[Any]) -> None:
        """Re-index slots with their new payloads (dicts, JSON bytes or None)."""
        if not self.fields:
            return
        for slot, payload in zip(slots, payloads):
            if isinstance(payload, (bytes, bytearray, memoryview)):
                payload = json.loads(bytes(payload))
            for idx in self.fields.values():
                idx.set(int(slot), payload)

    def remove(self, slots: Iterable[int]) -> None:
        for slot in slots:
            for idx in self.fields.values():
                idx.clear(int(slot))

    # -- planning ----------------------------------------------------------------------------
    def covers(self, node: Node) -> bool:
        """Whether the indexes alone decide this filter (every condition's key is indexed)."""
        return all(c.key in self.fields for c in node.conditions())

    def bound(self, node: Node, alive: np.ndarray) -> tuple[np.ndarray, bool]:
        """(mask, exact) over slots: the slots matching node when exact, otherwise
        a superset of them (conditions on unindexed keys count as matching
        everything). alive: bool (n,) live slots; the mask is within it."""
        if isinstance(node, All):
            return alive.copy(), True
        if isinstance(node, Condition):
            idx = self.fields.get(node.key)
            if idx is None:
                return alive.copy(), False
            return idx.mask(node, len(alive)) & alive, True
        if isinstance(node, Not):
            child, exact = self.bound(node.child, alive)
            return (alive & ~child, True) if exact else (alive.copy(), False)
        parts = [self.bound(c, alive) for c in node.children]
        exact = all(e for _, e in parts)
        if isinstance(node, And):
            out = parts[0][0]
            for m, _ in parts[1:]:
                out &= m
            # supersets that do not meet: nothing matches, whatever the payloads say
            return out, exact or not out.any()
        if isinstance(node, Or):
            out = parts[0][0]
            for m, _ in parts[1:]:
                out |= m
            return out, exact
        raise TypeError(f"unknown filter node {type(node).__name__}")
