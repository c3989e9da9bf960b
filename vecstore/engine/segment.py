"""RAM state of one collection: codes by slot, the slot -> id map, liveness.

Every point occupies a slot (a row). `ids[slot]` is its external id (-1 for a
free slot), `alive[slot]` is 1 for a live point, `codes[slot]` its code.
Slots freed by deletes are reused. This is derived state: it mirrors the
`chunks` sub-database of LMDB, where the same rows are stored in chunks of
CHUNK slots, written in the same transaction as the vectors they encode.

Readers take `lock.shared()` while they scan and map slots to ids; the writer
publishes committed changes under `lock.exclusive()`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codecs import Codec
from .rwlock import RWLock

CHUNK = 256  # slots per persisted chunk: small enough that scattered updates stay cheap


@dataclass
class SlotPlan:
    """Where a batch of new points will go; applied only after its commit."""

    slots: np.ndarray  # int64, one per new point
    from_free: int  # how many came off the end of the free list
    new_high: int  # high-water mark after the batch


class Segment:
    """`codec` lives here too, so that a search reads codes and the codec that
    made them under one lock."""

    def __init__(self, codec: Codec, capacity: int = 0) -> None:
        self.codec = codec
        self.code_bytes = codec.code_bytes if codec.trained else 0
        self.lock = RWLock()
        self.n = 0  # high-water mark: slots [0, n) have been used
        self.count = 0  # live points
        self.free: list[int] = []
        self._alloc(capacity)

    def _alloc(self, capacity: int) -> None:
        self.codes = np.zeros((capacity, self.code_bytes), dtype=np.uint8)
        self.ids = np.full(capacity, -1, dtype=np.int64)
        self.alive = np.zeros(capacity, dtype=np.uint8)

    @property
    def capacity(self) -> int:
        return len(self.ids)

    def nbytes(self) -> int:
        return self.codes.nbytes + self.ids.nbytes + self.alive.nbytes

    # -- writer side: plan before commit, apply after ---------------------------
    def plan(self, n_new: int) -> SlotPlan:
        take = min(n_new, len(self.free))
        reused = self.free[len(self.free) - take :][::-1]
        fresh = np.arange(self.n, self.n + (n_new - take), dtype=np.int64)
        slots = np.concatenate([np.asarray(reused, dtype=np.int64), fresh])
        return SlotPlan(slots=slots, from_free=take, new_high=self.n + len(fresh))

    def chunk_rows(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the committed ids and codes of one chunk (padded past capacity)."""
        lo, hi = chunk * CHUNK, (chunk + 1) * CHUNK
        ids = np.full(CHUNK, -1, dtype=np.int64)
        codes = np.zeros((CHUNK, self.code_bytes), dtype=np.uint8)
        top = min(hi, self.capacity)
        if top > lo:
            ids[: top - lo] = self.ids[lo:top]
            codes[: top - lo] = self.codes[lo:top]
        return ids, codes

    def _ensure_capacity(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        # Grow by 1/8 so the idle tail stays small (RAM per vector is a promise).
        new_cap = max(needed, self.capacity + self.capacity // 8)
        new_cap = -(-new_cap // CHUNK) * CHUNK
        old_codes, old_ids, old_alive = self.codes, self.ids, self.alive
        self._alloc(new_cap)
        self.codes[: len(old_codes)] = old_codes
        self.ids[: len(old_ids)] = old_ids
        self.alive[: len(old_alive)] = old_alive

    def apply_upsert(
        self, plan: SlotPlan | None, slots: np.ndarray, ids: np.ndarray, codes: np.ndarray | None
    ) -> None:
        """Publish committed rows: `slots` covers new and replaced points alike."""
        with self.lock.exclusive():
            if plan is not None:
                self._ensure_capacity(plan.new_high)
                if plan.from_free:
                    del self.free[len(self.free) - plan.from_free :]
                self.n = plan.new_high
                self.count += len(plan.slots)
            if codes is not None:
                self.codes[slots] = codes
            self.ids[slots] = ids
            self.alive[slots] = 1

    def apply_delete(self, slots: np.ndarray) -> None:
        with self.lock.exclusive():
            self.alive[slots] = 0
            self.ids[slots] = -1
            self.codes[slots] = 0
            self.free.extend(int(s) for s in slots)
            self.count -= len(slots)

    def replace_all(self, codec: Codec, ids: np.ndarray, codes: np.ndarray) -> None:
        """Swap in a whole new state (after training, re-encoding or loading)."""
        n = len(ids)
        alive = (ids >= 0).astype(np.uint8)
        free = [int(s) for s in np.flatnonzero(ids < 0)]
        with self.lock.exclusive():
            self.codec = codec
            self.code_bytes = codes.shape[1]
            self.codes, self.ids, self.alive = codes, ids, alive
            self.n = n
            self.count = int(alive.sum())
            self.free = free[::-1]  # pop from the end reuses the lowest slots first
