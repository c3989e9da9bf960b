"""Byte layouts of the derived state in LMDB: chunk rows and sparse codes.

A chunk value holds CHUNK slots: their ids (int64), then their codes when
the codec persists them (code_bytes each), then their IVF lists (int32 each)
when the collection has trained centroids. Which parts are present follows
from the codec state and the `ivf` meta key written in the same transaction,
so a value of the wrong length means stale or foreign data, and the loader
rebuilds from the vectors.

Sparse codes live in their own sub-database, id -> code (see sparse_rows):
they vary in length, so they do not fit fixed-size chunk rows; keyed by id
they are replaced and deleted with one put/delete in the transaction that
writes the vector, and the old code of a replaced point is one get away,
which is what lets RAM hold only the postings, not the codes a second time.
"""
from __future__ import annotations

from typing import Any

import lmdb
import numpy as np

from ..api.sparse_rows import SparseRows

CHUNK = 256  # slots per persisted chunk (the segment's unit as well)


def chunk_value(ids: np.ndarray, codes: np.ndarray | None, lists: np.ndarray | None) -> bytes:
    value = np.ascontiguousarray(ids, dtype="<i8").tobytes()
    if codes is not None:
        value += np.ascontiguousarray(codes, dtype=np.uint8).tobytes()
    if lists is not None:
        value += np.ascontiguousarray(lists, dtype="<i4").tobytes()
    return value


def decode_chunk(value: bytes | None, code_bytes: int, with_lists: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, codes, lists) of one stored chunk (copies), or of an empty one
    when value is None; code_bytes is 0 when the codes are not persisted."""
    ids = np.full(CHUNK, -1, dtype=np.int64)
    codes = np.zeros((CHUNK, code_bytes), dtype=np.uint8)
    lists = np.full(CHUNK if with_lists else 0, -1, dtype=np.int32)
    if value is None:
        return ids, codes, lists
    if len(value) != CHUNK * (8 + code_bytes + (4 if with_lists else 0)):
        raise ValueError(f"chunk of {len(value)} bytes does not hold {CHUNK} rows of {code_bytes}-byte codes")
    ids[:] = np.frombuffer(value, dtype="<i8", count=CHUNK)
    if code_bytes:
        codes[:] = np.frombuffer(value, dtype=np.uint8, offset=CHUNK * 8, count=CHUNK * code_bytes).reshape(CHUNK, code_bytes)
    if with_lists:
        lists[:] = np.frombuffer(value, dtype="<i4", offset=CHUNK * (8 + code_bytes), count=CHUNK)
    return ids, codes, lists


def decode_chunks(
    chunks: list[tuple[bytes, bytes]], code_bytes: int, with_lists: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, codes, lists) of slots [0, n), n one past the last used slot."""
    expect = CHUNK * (8 + code_bytes + (4 if with_lists else 0))
    n_chunks = 1 + max((int.from_bytes(k, "big") for k, _ in chunks), default=-1)
    ids = np.full(n_chunks * CHUNK, -1, dtype=np.int64)
    codes = np.zeros((n_chunks * CHUNK, code_bytes), dtype=np.uint8)
    lists = np.full(n_chunks * CHUNK if with_lists else 0, -1, dtype=np.int32)
    for key, value in chunks:
        if len(value) != expect:
            raise ValueError(f"chunk of {len(value)} bytes, expected {expect}")
        lo = int.from_bytes(key, "big") * CHUNK
        ids[lo : lo + CHUNK] = np.frombuffer(value, dtype="<i8", count=CHUNK)
        if code_bytes:
            codes[lo : lo + CHUNK] = np.frombuffer(value, dtype=np.uint8, offset=CHUNK * 8, count=CHUNK * code_bytes).reshape(CHUNK, code_bytes)
        if with_lists:
            lists[lo : lo + CHUNK] = np.frombuffer(value, dtype="<i4", offset=CHUNK * (8 + code_bytes), count=CHUNK)
    used = np.flatnonzero(ids >= 0)
    n = int(used[-1]) + 1 if len(used) else 0
    return ids[:n].copy(), codes[:n].copy(), (lists[:n].copy() if with_lists else lists)


def get_sparse(txn: lmdb.Transaction, db: Any, keys: list[bytes], weighted: bool) -> tuple[np.ndarray, SparseRows]:
    """The stored codes of `keys`: (positions in keys that have one, their rows)."""
    values = [txn.get(k, db=db) for k in keys]
    have = np.array([i for i, v in enumerate(values) if v is not None], dtype=np.int64)
    return have, SparseRows.from_values([values[i] for i in have], weighted)
