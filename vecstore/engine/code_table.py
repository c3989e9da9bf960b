"""The RAM codes of a segment, by slot, in the layout its codec scans fastest.

Two layouts of rows of `code_bytes`:
- rows: slot s is row s of one (capacity, code_bytes) array (what the PQ,
  scalar and residual kernels read);
- blocked: the first `block_words` uint64 words of every row are kept
  word-major per chunk of CHUNK slots, (words, CHUNK) per chunk (see
  `native.blocks`), so 1-bit scans vectorize with no per-search transpose;
  the rest of the row (the tail: per-vector float16 factors) is kept as
  uint16 columns, one contiguous array per factor, for the same reason.
Callers always put and take whole rows; only a codec's scan sees the layout.
The bytes per slot are the same in both layouts.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

import native.blocks as nb

from .persist import CHUNK

__all__ = ["BlockedCodes", "CodeTable"]

assert nb.BLOCK == CHUNK, "a block must be a persisted chunk"


class BlockedCodes(NamedTuple):
    """What a blocked codec scans: the words of n rows and their tails."""

    blocks: np.ndarray  # uint64 (ceil(n / CHUNK), words, CHUNK)
    tail: np.ndarray  # uint16 ((code_bytes - 8 * words) // 2, >= n)


def _whole_chunks(capacity: int) -> int:
    return -(-capacity // CHUNK) * CHUNK


class CodeTable:
    def __init__(self, capacity: int, code_bytes: int, block_words: int = 0) -> None:
        if block_words and (8 * block_words > code_bytes or code_bytes % 2):
            raise ValueError(f"{block_words} words and uint16 columns do not make rows of {code_bytes} bytes")
        self.code_bytes = code_bytes
        self.block_words = block_words
        if block_words:
            capacity = _whole_chunks(capacity)
            self.words = np.zeros((capacity // CHUNK, block_words, CHUNK), dtype=np.uint64)
            self.tail = np.zeros(((code_bytes - 8 * block_words) // 2, capacity), dtype=np.uint16)
        else:
            self.data = np.zeros((capacity, code_bytes), dtype=np.uint8)

    @classmethod
    def from_rows(cls, rows: np.ndarray, block_words: int = 0) -> "CodeTable":
        table = cls(len(rows), rows.shape[1], block_words)
        table.put(np.arange(len(rows)), rows)
        return table

    @property
    def blocked(self) -> bool:
        return self.block_words > 0

    @property
    def capacity(self) -> int:
        return self.tail.shape[1] if self.blocked else len(self.data)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.tail.nbytes if self.blocked else self.data.nbytes

    def grown(self, capacity: int) -> "CodeTable":
        """A copy with room for at least `capacity` slots."""
        out = CodeTable(capacity, self.code_bytes, self.block_words)
        if self.blocked:
            out.words[: len(self.words)] = self.words
            out.tail[:, : self.tail.shape[1]] = self.tail
        else:
            out.data[: len(self.data)] = self.data
        return out

    def scan_view(self, n: int) -> np.ndarray | BlockedCodes:
        """What a codec's search scans for slots [0, n) (views, not copies)."""
        if not self.blocked:
            return self.data[:n]
        return BlockedCodes(self.words[: -(-n // CHUNK)], self.tail)  # tail columns whole: contiguous

    def put(self, slots: np.ndarray, rows: np.ndarray) -> None:
        if not self.blocked:
            self.data[slots] = rows
            return
        slots = np.asarray(slots, dtype=np.int64)
        rows = np.ascontiguousarray(rows, dtype=np.uint8)
        head = 8 * self.block_words
        self.words[slots // CHUNK, :, slots % CHUNK] = np.ascontiguousarray(rows[:, :head]).view(np.uint64)
        self.tail[:, slots] = np.ascontiguousarray(rows[:, head:]).view(np.uint16).T

    def zero(self, slots: np.ndarray) -> None:
        self.put(slots, np.zeros((len(slots), self.code_bytes), dtype=np.uint8))

    def take(self, slots: np.ndarray) -> np.ndarray:
        """Rows (len(slots), code_bytes) uint8 of the given slots, a copy."""
        if not self.blocked:
            return self.data[slots]
        slots = np.asarray(slots, dtype=np.int64)
        words = np.ascontiguousarray(self.words[slots // CHUNK, :, slots % CHUNK])
        tail = np.ascontiguousarray(self.tail[:, slots].T).view(np.uint8)
        return np.hstack([words.view(np.uint8).reshape(len(slots), -1), tail])

    def rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows of slots [lo, hi) (hi <= capacity), a copy."""
        return self.take(np.arange(lo, hi))
