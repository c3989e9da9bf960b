"""RAM state of one collection: codes by slot, the slot -> id map, liveness,
and the optional indexes over them (IVF lists, sparse postings).

Every point occupies a slot (a row). `ids[slot]` is its external id (-1 for a
free slot), `alive[slot]` is 1 for a live point, `codes[slot]` its code.
Slots freed by deletes are reused. This is derived state: it mirrors the
`chunks` sub-database of LMDB, where the same rows are stored in chunks of
CHUNK slots, written in the same transaction as the vectors they encode.

With a trained IVF, `lists` holds the live slots of each list together with
their codes, so a search reads only the lists it probes, each as one
contiguous run; the slot-indexed `codes` table is then empty, not a second
copy, and RAM keeps no slot -> list map either (4 B per point): a write
learns the old list of a replaced or deleted point from its stored chunk in
LMDB, which it rewrites anyway. With a sparse codec, `postings` holds the live slots of each
sparse dimension (the codes themselves; `codes` rows are then empty).

With `vectors_in_ram`, `vectors[slot]` is the point's vector as LMDB stores
it (float32, or float16 as its uint16 bit patterns), for reranks that read
no disk. Like the codes, it is derived state, filled from LMDB at open.

Readers take `lock.shared()` while they scan and map slots to ids; the writer
publishes committed changes under `lock.exclusive()`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .code_table import CodeTable
from .codecs import Codec
from .ivf import IVF
from .persist import CHUNK
from .postings import Postings
from .rwlock import RWLock
from ..api.sparse_rows import SparseRows
from ..errors import InternalError

__all__ = ["CHUNK", "Segment", "SlotPlan", "SparseChange", "list_row_bytes", "uses_postings"]


@dataclass
class SlotPlan:
    """Where a batch of new points will go; applied only after its commit."""

    slots: np.ndarray  # int64, one per new point
    from_free: int  # how many came off the end of the free list
    new_high: int  # high-water mark after the batch


@dataclass
class SparseChange:
    """Sparse codes to take out of (or put into) the postings: row i is slot slots[i]."""

    slots: np.ndarray
    rows: SparseRows


def uses_postings(codec: Codec) -> bool:
    return bool(getattr(codec, "uses_postings", False)) and codec.trained


def block_words(codec: Codec, ivf: IVF | None) -> int:
    """Words of each code kept in the blocked layout (0: rows; see code_table).

    Not with IVF: there the lists hold the codes, row by row, and the slot
    table is empty."""
    return int(getattr(codec, "block_words", 0)) if codec.trained and ivf is None else 0


def list_row_bytes(code_bytes: int) -> int:
    """A code's row in the IVF lists, padded to whole uint64 words so a
    kernel can read the lists' rows as words."""
    return -(-code_bytes // 8) * 8


def _padded(codes: np.ndarray) -> np.ndarray:
    width = list_row_bytes(codes.shape[1])
    if width == codes.shape[1]:
        return codes
    out = np.zeros((len(codes), width), np.uint8)
    out[:, : codes.shape[1]] = codes
    return out


class Segment:
    """`codec` and `ivf` live here too, so that a search reads codes and the
    models that made them under one lock."""

    def __init__(self, codec: Codec, ivf: IVF | None = None, capacity: int = 0,
                 vector_rows: tuple[int, np.dtype] | None = None) -> None:
        """vector_rows: (dim, dtype) of the RAM copy of the vectors, None for none."""
        self.codec = codec
        self._vector_rows = vector_rows
        self.ivf = ivf
        self.code_bytes = codec.code_bytes if codec.trained else 0
        self.lock = RWLock()
        self.n = 0  # high-water mark: slots [0, n) have been used
        self.count = 0  # live points
        self.free: list[int] = []
        self.lists = Postings(ivf.nlist, row_bytes=list_row_bytes(self.code_bytes)) if ivf is not None else None
        self.postings = codec.new_postings() if uses_postings(codec) else None
        self._alloc(capacity)

    def _alloc(self, capacity: int, codes: CodeTable | None = None) -> None:
        if codes is None:
            width = 0 if self.ivf is not None else self.code_bytes  # with IVF the lists hold the codes
            codes = CodeTable(capacity, width, block_words(self.codec, self.ivf))
        self.codes = codes
        self.ids = np.full(capacity, -1, dtype=np.int64)
        self.alive = np.zeros(capacity, dtype=np.uint8)
        if self._vector_rows is not None:
            dim, dtype = self._vector_rows
            self.vectors: np.ndarray | None = np.zeros((capacity, dim), dtype)
        else:
            self.vectors = None

    def ids_of(self, slots: np.ndarray) -> np.ndarray:
        """The ids of `slots` (-1 where a slot is -1: no hit). Safe on an
        empty segment, whose id table has no row to clamp -1 onto."""
        if not len(self.ids):
            return np.full(np.shape(slots), -1, np.int64)
        return np.where(slots >= 0, self.ids[np.maximum(slots, 0)], -1)

    @property
    def capacity(self) -> int:
        return len(self.ids)

    def nbytes(self) -> int:
        total = self.codes.nbytes + self.ids.nbytes + self.alive.nbytes
        if self.vectors is not None:
            total += self.vectors.nbytes
        for index in (self.lists, self.postings):
            if index is not None:
                total += index.nbytes()
        if self.ivf is not None:
            total += self.ivf.nbytes
        aux = getattr(self.codec, "aux_nbytes", None)
        return total + (aux() if aux is not None else 0)

    # -- writer side: plan before commit, apply after ---------------------------
    def plan(self, n_new: int) -> SlotPlan:
        take = min(n_new, len(self.free))
        reused = self.free[len(self.free) - take :][::-1]
        fresh = np.arange(self.n, self.n + (n_new - take), dtype=np.int64)
        slots = np.concatenate([np.asarray(reused, dtype=np.int64), fresh])
        return SlotPlan(slots=slots, from_free=take, new_high=self.n + len(fresh))

    def chunk_rows(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the committed ids and codes of one chunk (padded past
        capacity). Not with IVF, whose codes are not kept by slot: its writes
        read the stored chunk instead (persist.decode_chunk)."""
        if self.ivf is not None:
            raise InternalError("an IVF segment keeps no chunk rows by slot")
        lo, hi = chunk * CHUNK, (chunk + 1) * CHUNK
        ids = np.full(CHUNK, -1, dtype=np.int64)
        codes = np.zeros((CHUNK, self.code_bytes), dtype=np.uint8)
        top = min(hi, self.capacity)
        if top > lo:
            ids[: top - lo] = self.ids[lo:top]
            codes[: top - lo] = self.codes.rows(lo, top)
        return ids, codes

    def lists_by_slot(self) -> np.ndarray:
        """int32 (n,): every slot's IVF list, -1 for none. Built from the lists
        in one pass over them (RAM keeps no such map): for checks, not searches."""
        out = np.full(self.n, -1, np.int32)
        if self.lists is not None:
            for key in np.flatnonzero(self.lists.lengths):
                out[self.lists.region(int(key))] = key
        return out

    def take_codes(self, slots: np.ndarray) -> np.ndarray:
        """Copies of the codes (len(slots), code_bytes) of live slots, wherever
        they are kept (with IVF, one pass over the lists first)."""
        slots = np.asarray(slots, np.int64)
        if self.lists is None:
            return self.codes.take(slots)
        return self.lists.rows_of(self.lists_by_slot()[slots], slots)[:, : self.code_bytes]

    def _ensure_capacity(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        # Grow by 1/32 so the idle tail stays small: RAM per vector is a promise
        # (<= 64 B for binary codes at 61 B per slot; 1/8 measured 65.8 B at 1M).
        # Each growth copies the arrays once, ~10 ms per million slots.
        new_cap = max(needed, self.capacity + self.capacity // 32)
        new_cap = -(-new_cap // CHUNK) * CHUNK
        old_codes, old_ids, old_alive = self.codes, self.ids, self.alive
        old_vectors = self.vectors
        self._alloc(new_cap, codes=old_codes.grown(new_cap))
        self.ids[: len(old_ids)] = old_ids
        self.alive[: len(old_alive)] = old_alive
        if old_vectors is not None:  # may be longer than the other arrays after replace_all
            keep = min(len(old_vectors), new_cap)
            self.vectors[:keep] = old_vectors[:keep]

    def apply_upsert(
        self,
        plan: SlotPlan | None,
        slots: np.ndarray,
        ids: np.ndarray,
        codes: np.ndarray | None,
        *,
        lists: np.ndarray | None = None,
        old_lists: np.ndarray | None = None,
        sparse_old: SparseChange | None = None,
        sparse_new: SparseChange | None = None,
        vectors: np.ndarray | None = None,
    ) -> None:
        """Publish committed rows: `slots` covers new and replaced points alike.

        lists: the IVF list of every row (with a trained IVF), old_lists the
        list each row was in before (-1: none; from the stored chunks); sparse_old /
        sparse_new: the replaced and the new sparse codes (with postings);
        vectors: the rows as stored (kept when the segment keeps vectors)."""
        with self.lock.exclusive():
            if plan is not None:
                self._ensure_capacity(plan.new_high)
                if plan.from_free:
                    del self.free[len(self.free) - plan.from_free :]
                self.n = plan.new_high
                self.count += len(plan.slots)
            if codes is not None and self.lists is None:
                self.codes.put(slots, codes)
            self.ids[slots] = ids
            self.alive[slots] = 1
            if self.vectors is not None:
                self.vectors[slots] = vectors
            if self.lists is not None and lists is not None:
                self._unlist(slots, old_lists)
                self.lists.add(lists, slots, rows=None if codes is None else _padded(codes))
            if self.postings is not None:
                if sparse_old is not None:
                    keys, at, _ = sparse_old.rows.pairs(sparse_old.slots)
                    self.postings.remove(keys, at)
                if sparse_new is not None:
                    self.postings.add(*sparse_new.rows.pairs(sparse_new.slots))

    def _unlist(self, slots: np.ndarray, old_lists: np.ndarray | None) -> None:
        if old_lists is None:
            raise InternalError("an IVF write must say which lists its rows were in")
        listed = old_lists >= 0
        self.lists.remove(old_lists[listed], slots[listed])

    def apply_delete(self, slots: np.ndarray, sparse_old: SparseChange | None = None,
                     old_lists: np.ndarray | None = None) -> None:
        with self.lock.exclusive():
            self.alive[slots] = 0
            self.ids[slots] = -1
            if self.lists is not None:
                self._unlist(slots, old_lists)
            else:
                self.codes.zero(slots)
            if self.postings is not None and sparse_old is not None:
                keys, at, _ = sparse_old.rows.pairs(sparse_old.slots)
                self.postings.remove(keys, at)
            self.free.extend(int(s) for s in slots)
            self.count -= len(slots)

    def replace_all(
        self,
        codec: Codec,
        ids: np.ndarray,
        codes: np.ndarray,
        *,
        ivf: IVF | None = None,
        list_of: np.ndarray | None = None,
        postings: Postings | None = None,
    ) -> None:
        """Swap in a whole new state (after training, re-encoding or loading).

        With an ivf, list_of gives every slot's list (used to build the lists,
        not kept); with a postings codec,
        postings is its complete index over these slots."""
        n = len(ids)
        code_bytes = codes.shape[1]
        alive = (ids >= 0).astype(np.uint8)
        free = [int(s) for s in np.flatnonzero(ids < 0)]
        if ivf is not None:
            list_of = np.ascontiguousarray(list_of, dtype=np.int32)
            live = np.flatnonzero(list_of >= 0)
            lists = Postings.build(ivf.nlist, list_of[live], live, rows=_padded(codes[live]))
            codes = codes[:, :0]  # the lists hold them
        else:
            lists = None
        if uses_postings(codec) and postings is None:
            postings = codec.new_postings()
        # copied outside the lock: callers hold the write lock (training's install,
        # open), so no upsert writes rows meanwhile
        vectors = self.vectors
        if vectors is not None and len(vectors) < n:  # slots are kept: only the length can change
            vectors = np.zeros((n, vectors.shape[1]), vectors.dtype)
            vectors[: len(self.vectors)] = self.vectors
        with self.lock.exclusive():
            self.codec, self.ivf = codec, ivf
            self.vectors = vectors
            self.code_bytes = code_bytes
            self.codes = CodeTable.from_rows(codes, block_words(codec, ivf))
            self.ids, self.alive = ids, alive
            self.lists = lists
            self.postings = postings if uses_postings(codec) else None
            self.n = n
            self.count = int(alive.sum())
            self.free = free[::-1]  # pop from the end reuses the lowest slots first
