"""Slot lists per key, in one pool, updated in place: the RAM inverted index.

Used twice: the postings of a sparse codec (key = sparse dimension, each
entry optionally weighted) and the lists of an IVF partition (key = list
number, each entry carrying its point's code, so that a list's codes are
contiguous). Key d owns the region
slots[starts[d] : starts[d] + lengths[d]] with room for caps[d] entries. A
region that outgrows its room moves to the end of the pool with 1.5x the room
it needs, leaving a hole; when holes pass a quarter of the pool, the pool
is compacted. A pool whose entries carry rows (IVF codes, 14x the bytes of a
slot) keeps far less slack, since its bytes are most of a collection's RAM
(the 64 B per vector budget): 1/16 more room on a move, compaction at a
sixteenth of holes, 1/32 spare room after a compaction. Each compaction
copies the pool once (~60 MB at 1M binary codes, tens of ms), which a batch
of appends amortises. Every region stays sorted by slot, so a scan meets the slots
of a list in the same order whatever the order of updates (ties between
equal codes then break the same way before and after a reopen).

Not thread-safe on its own: the segment mutates it under its exclusive lock
and scans it under the shared one.
"""
from __future__ import annotations

import numpy as np

from native.ivf import pool_positions
from native.sparse import copy_regions, postings_append, postings_remove, sort_regions

from ..errors import InternalError

_MIN_ROOM = 4  # entries a region gets when it first grows
_MIN_COMPACT = 1 << 16  # never compact a pool smaller than this


class Postings:
    def __init__(self, n_keys: int, weighted: bool = False, row_bytes: int = 0) -> None:
        """weighted: a float32 weight per entry; row_bytes: a uint8 row per entry."""
        if weighted and row_bytes:
            raise InternalError("a posting pool carries weights or rows, not both")
        self.n_keys = n_keys
        self.weighted = weighted
        self.row_bytes = row_bytes
        # a moved region gets 1/_slack_div spare room and the arrays grow by half
        # that; holes past 1/_hole_div of the pool trigger a compaction
        self._slack_div = 2 if not row_bytes else 16
        self._hole_div = 4 if not row_bytes else 16
        self._spare_div = 8 if not row_bytes else 32  # spare room per region after a build/compaction
        self.slots = np.zeros(0, np.int32)
        # what moves with each entry: (P, 1) weights, (P, row_bytes) rows, or (0, 0)
        self.values = np.zeros((0, 1), np.float32) if weighted else np.zeros((0, row_bytes), np.uint8)
        self.starts = np.zeros(n_keys, np.int64)
        self.lengths = np.zeros(n_keys, np.int64)
        self.caps = np.zeros(n_keys, np.int64)
        self.top = 0  # pool positions [0, top) belong to some region or hole
        self.entries = 0

    @classmethod
    def build(
        cls, n_keys: int, keys: np.ndarray, slots: np.ndarray, weights: np.ndarray | None = None,
        rows: np.ndarray | None = None,
    ) -> "Postings":
        """A pool sized to its contents (plus the compaction slack)."""
        p = cls(n_keys, weighted=weights is not None, row_bytes=0 if rows is None else rows.shape[1])
        keys = np.asarray(keys, np.int64)
        p.caps = _room(np.bincount(keys, minlength=n_keys).astype(np.int64), p._spare_div)
        p.starts = np.cumsum(p.caps) - p.caps
        p._reserve(int(p.caps.sum()), exact=True)
        p.top = int(p.caps.sum())
        p.add(keys, slots, weights, rows)
        return p

    @property
    def weights(self) -> np.ndarray:
        """float32 (P,): each entry's weight (empty when unweighted)."""
        return self.values[:, 0] if self.weighted else np.zeros(0, np.float32)

    @property
    def rows(self) -> np.ndarray:
        """uint8 (P, row_bytes): each entry's row (IVF: the point's code)."""
        return self.values

    def grow_keys(self, n_keys: int) -> None:
        """Room for keys [0, n_keys): new keys start empty (an index over a
        vocabulary grows with the largest term it has seen)."""
        extra = n_keys - self.n_keys
        if extra <= 0:
            return
        self.starts = np.concatenate([self.starts, np.full(extra, self.top, np.int64)])
        self.lengths = np.concatenate([self.lengths, np.zeros(extra, np.int64)])
        self.caps = np.concatenate([self.caps, np.zeros(extra, np.int64)])
        self.n_keys = n_keys

    # -- updates ------------------------------------------------------------------
    def add(
        self, keys: np.ndarray, slots: np.ndarray, weights: np.ndarray | None = None, rows: np.ndarray | None = None
    ) -> None:
        keys = np.asarray(keys, np.int64)
        if not len(keys):
            return
        if keys.min() < 0 or keys.max() >= self.n_keys:
            raise InternalError(f"posting key outside [0, {self.n_keys})")
        counts = np.bincount(keys, minlength=self.n_keys)
        need = self.lengths + counts
        grow = np.flatnonzero(need > self.caps)
        if len(grow):
            self._move(grow, np.maximum(need[grow] + need[grow] // self._slack_div, _MIN_ROOM))
        if (need > self.caps).any():  # the kernel trusts capacity: never let it write past a region
            raise InternalError("posting pool lacks room for an append")
        # appending in slot order keeps each region sorted whenever the new
        # slots are above the old ones (fresh slots), so the sort is a check
        slots = np.asarray(slots, np.int64)
        order = np.argsort(slots, kind="stable")
        keys, slots = keys[order], slots[order]
        postings_append(self.slots, self.values, self.starts, self.lengths, keys, slots,
                        self._entry_values(order, weights, rows))
        sort_regions(self.slots, self.values, self.starts, self.lengths, np.flatnonzero(counts))
        self.entries += len(keys)
        holes = self.top - int(self.caps.sum())
        if self.top > _MIN_COMPACT and holes > self.top // self._hole_div:
            self.compact()

    def _entry_values(self, order: np.ndarray, weights: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray:
        """The rows of `values` that go with new entries, in `order`."""
        if self.weighted:
            if weights is None:
                raise InternalError("a weighted posting pool needs a weight per entry")
            return np.asarray(weights, np.float32)[order].reshape(-1, 1)
        if self.row_bytes:
            if rows is None or rows.shape[1:] != (self.row_bytes,):
                raise InternalError(f"this posting pool needs a {self.row_bytes}-byte row per entry")
            return np.asarray(rows, np.uint8)[order]
        return np.zeros((len(order), 0), np.uint8)

    def remove(self, keys: np.ndarray, slots: np.ndarray) -> None:
        keys = np.asarray(keys, np.int64)
        if not len(keys):
            return
        missing = postings_remove(self.slots, self.values, self.starts, self.lengths, keys, np.asarray(slots, np.int64))
        if missing:
            raise InternalError(f"{missing} posting entries to remove were not found: RAM index out of step")
        self.entries -= len(keys)
        if self.top > _MIN_COMPACT and self.top > 2 * self.entries + _MIN_COMPACT:
            self.compact()

    def _move(self, keys: np.ndarray, rooms: np.ndarray) -> None:
        """Give `keys` new regions of `rooms` entries at the end of the pool."""
        dst = self.top + np.cumsum(rooms) - rooms
        self._reserve(self.top + int(rooms.sum()))
        copy_regions(self.slots, self.values, self.slots, self.values, self.starts[keys], self.lengths[keys], dst)
        self.starts[keys] = dst
        self.caps[keys] = rooms
        self.top += int(rooms.sum())

    def _reserve(self, size: int, exact: bool = False) -> None:
        if size <= len(self.slots):
            return
        if not exact:
            size = max(size, len(self.slots) + len(self.slots) // (2 * self._slack_div))
        slots = np.zeros(size, np.int32)
        slots[: self.top] = self.slots[: self.top]
        self.slots = slots
        if self.values.shape[1]:
            values = np.zeros((size, self.values.shape[1]), self.values.dtype)
            values[: self.top] = self.values[: self.top]
            self.values = values

    def compact(self) -> None:
        """Rewrite the pool without holes, each region keeping its spare room."""
        rooms = _room(self.lengths, self._spare_div)
        dst = np.cumsum(rooms) - rooms
        size = int(rooms.sum())
        slots = np.zeros(size, np.int32)
        values = np.zeros((size if self.values.shape[1] else 0, self.values.shape[1]), self.values.dtype)
        copy_regions(self.slots, self.values, slots, values, self.starts, self.lengths, dst)
        self.slots, self.values = slots, values
        self.starts, self.caps, self.top = dst.astype(np.int64), rooms, size

    # -- reads ---------------------------------------------------------------------
    def region(self, key: int) -> np.ndarray:
        lo = self.starts[key]
        return self.slots[lo : lo + self.lengths[key]]

    def rows_of(self, keys: np.ndarray, slots: np.ndarray) -> np.ndarray:
        """Copies of the rows of entries (keys[i], slots[i]), which must all be present."""
        at = pool_positions(self.slots, self.starts, self.lengths, np.asarray(keys, np.int64), np.asarray(slots, np.int64))
        if (at < 0).any():
            raise InternalError("a posting entry looked up is missing: RAM index out of step")
        if not self.values.shape[1]:  # no rows kept (the pool array is empty)
            return np.zeros((len(at), 0), self.values.dtype)
        return self.values[at]

    def nbytes(self) -> int:
        return self.slots.nbytes + self.values.nbytes + self.starts.nbytes + self.lengths.nbytes + self.caps.nbytes


def _room(lengths: np.ndarray, spare_div: int) -> np.ndarray:
    """Capacity for regions of these lengths: 1/spare_div spare, none for empty keys."""
    return np.where(lengths > 0, lengths + lengths // spare_div + 1, 0).astype(np.int64)
