"""Batches of sparse codes in CSR form, and their bytes in LMDB.

A row is a set of distinct indices (sorted ascending when stored), each with a
positive float32 weight when the collection is weighted. In LMDB a row is its
indices as little-endian uint32 followed, when weighted, by its weights as
little-endian float32: the length says how many entries there are.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    indptr: np.ndarray  # int64 (n + 1,)
    indices: np.ndarray  # int64 (nnz,)
    weights: np.ndarray | None  # float32 (nnz,), None when unweighted

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def weighted(self) -> bool:
        return self.weights is not None

    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @classmethod
    def empty(cls, weighted: bool) -> "SparseRows":
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32) if weighted else None)

    @classmethod
    def from_lists(cls, indices: list[np.ndarray], weights: list[np.ndarray] | None) -> "SparseRows":
        indptr = np.zeros(len(indices) + 1, np.int64)
        indptr[1:] = np.cumsum([len(i) for i in indices])
        flat = np.concatenate(indices).astype(np.int64) if indices else np.zeros(0, np.int64)
        w = None
        if weights is not None:
            w = np.concatenate(weights).astype(np.float32) if weights else np.zeros(0, np.float32)
        return cls(indptr, flat, w)

    def take(self, rows: np.ndarray) -> "SparseRows":
        rows = np.asarray(rows, np.int64)
        lo, hi = self.indptr[rows], self.indptr[rows + 1]
        sizes = hi - lo
        indptr = np.zeros(len(rows) + 1, np.int64)
        indptr[1:] = np.cumsum(sizes)
        # positions lo..hi-1 of every row, without a Python loop
        pos = np.repeat(lo - indptr[:-1], sizes) + np.arange(indptr[-1])
        return SparseRows(indptr, self.indices[pos], None if self.weights is None else self.weights[pos])

    @staticmethod
    def concat(parts: list["SparseRows"], weighted: bool) -> "SparseRows":
        if not parts:
            return SparseRows.empty(weighted)
        sizes = np.concatenate([p.lengths() for p in parts])
        indptr = np.zeros(len(sizes) + 1, np.int64)
        indptr[1:] = np.cumsum(sizes)
        w = np.concatenate([p.weights for p in parts]) if weighted else None
        return SparseRows(indptr, np.concatenate([p.indices for p in parts]), w)

    def pairs(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(keys, slots, weights) of every entry, row i belonging to slots[i]: the posting entries."""
        return self.indices, np.repeat(np.asarray(slots, np.int64), self.lengths()), self.weights

    # -- LMDB values ------------------------------------------------------------------
    def to_values(self) -> list[bytes]:
        idx = self.indices.astype("<u4").tobytes()
        w = self.weights.astype("<f4").tobytes() if self.weights is not None else b""
        out = []
        for lo, hi in zip(self.indptr[:-1].tolist(), self.indptr[1:].tolist()):
            value = idx[4 * lo : 4 * hi]
            if self.weights is not None:
                value += w[4 * lo : 4 * hi]
            out.append(value)
        return out

    @classmethod
    def from_values(cls, values: list[bytes], weighted: bool) -> "SparseRows":
        entry = 8 if weighted else 4
        for v in values:
            if len(v) % entry:
                raise ValueError(f"sparse code of {len(v)} bytes is not a whole number of {entry}-byte entries")
        sizes = np.array([len(v) // entry for v in values], np.int64)
        indptr = np.zeros(len(values) + 1, np.int64)
        indptr[1:] = np.cumsum(sizes)
        if not weighted:
            return cls(indptr, np.frombuffer(b"".join(values), "<u4").astype(np.int64), None)
        idx = np.frombuffer(b"".join(v[: len(v) // 2] for v in values), "<u4").astype(np.int64)
        w = np.frombuffer(b"".join(v[len(v) // 2 :] for v in values), "<f4").astype(np.float32)
        return cls(indptr, idx, w)
