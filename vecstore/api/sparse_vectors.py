"""Checks of the user sparse vectors of hybrid search (README "Hybrid search").

A sparse vector is a vocabulary term list with positive weights, given as
(indices, weights), {"indices": ..., "weights": ...}, or bare indices (every
weight 1). These checks share the row checks of the "sparse" quantization
kind's user codes (validate.check_sparse) and return the same CSR batches.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..config import CollectionConfig
from ..errors import InvalidSparseError, LengthMismatchError
from .sparse_rows import SparseRows
from .validate import _check_sparse_row, _split_sparse_entry


def _require(config: CollectionConfig, what: str) -> int:
    """The collection's vocabulary size; refuses collections without sparse vectors."""
    if config.sparse_vectors is None:
        raise InvalidSparseError(
            f"{what} given, but collection '{config.name}' has no sparse vectors "
            "(create it with sparse_vectors=True to use hybrid search)"
        )
    return config.sparse_vectors.vocab_size


def check_sparse_vectors(value: Any, n: int, config: CollectionConfig) -> SparseRows | None:
    """upsert's `sparse_vectors`: None (no point has one), or one entry per
    point, each a sparse vector or None (that point has none). Returns every
    point's row, an empty row for a point without one."""
    if value is None:
        return None
    vocab = _require(config, "sparse_vectors")
    if isinstance(value, (str, bytes, dict, tuple)) or not hasattr(value, "__len__"):
        raise InvalidSparseError(
            f"sparse_vectors must be a list with one sparse vector (or None) per point, got {type(value).__name__}"
        )
    if len(value) != n:
        raise LengthMismatchError(f"{n} points but {len(value)} entries in sparse_vectors: expected one per point")
    return _rows(value, vocab, "sparse_vectors", allow_none=True)


def check_sparse_query(value: Any, nq: int | None, config: CollectionConfig) -> SparseRows:
    """search's `sparse_query`: one sparse vector (a tuple, a dict, or an
    array of indices) for a single query, or a list of them, one per query.
    nq: the number of dense queries, None when there are none (sparse only)."""
    vocab = _require(config, "sparse_query")
    single = isinstance(value, (tuple, dict)) or (isinstance(value, np.ndarray) and value.ndim == 1)
    entries = [value] if single else value
    if isinstance(entries, (str, bytes)) or not hasattr(entries, "__len__"):
        raise InvalidSparseError(
            "sparse_query must be a sparse vector ((indices, weights) or {'indices': ..., 'weights': ...}) "
            f"or a list of them, one per query; got {type(value).__name__}"
        )
    if not len(entries):
        raise InvalidSparseError("sparse_query is an empty list: expected one sparse vector per query")
    if nq is not None and len(entries) != nq:
        raise LengthMismatchError(f"{nq} queries but {len(entries)} sparse vectors in sparse_query: expected one per query")
    return _rows(entries, vocab, "sparse_query", allow_none=False)


def _rows(entries: Any, vocab: int, what: str, *, allow_none: bool) -> SparseRows:
    indices, weights = [], []
    for i, entry in enumerate(entries):
        where = f"{what}[{i}]"
        if entry is None:
            if not allow_none:
                raise InvalidSparseError(f"{where} is None: every query needs a sparse vector")
            idx, w = np.zeros(0, np.int64), np.zeros(0, np.float32)
        else:
            idx, w = _split_sparse_entry(entry, where)
            idx, w = _check_sparse_row(idx, w, dim=vocab, weighted=True, where=where)
        indices.append(idx)
        weights.append(w)
    return SparseRows.from_lists(indices, weights)
