"""The interface every quantization kind implements.

A codec turns prepared float32 vectors (unit-normalized for cosine) into
fixed-size byte codes and scans codes for the best candidates of a batch of
queries. Codec objects are immutable once built: training returns a new
codec, so a search that holds the old one is never disturbed.

Scores inside the engine are always "higher is better"; for l2 that is the
negative squared distance, turned into a distance at the API boundary.
"""
from __future__ import annotations

import io
from typing import Any, ClassVar

import numpy as np

from ...config import QuantizationConfig


class Codec:
    #: True when scan scores are exact, so a rerank from LMDB adds nothing
    exact: ClassVar[bool] = False
    #: False when codes are cheap to rebuild from the vectors and would only
    #: duplicate them on disk
    persist_codes: ClassVar[bool] = True

    def __init__(self, config: QuantizationConfig, dim: int, metric: str) -> None:
        self.config = config
        self.dim = dim
        self.metric = metric

    # -- training ---------------------------------------------------------------
    @property
    def trained(self) -> bool:
        return True

    def train_size(self) -> int:
        """Vectors needed before `fit` is called automatically (0: no training)."""
        return 0

    def fit(self, x: np.ndarray) -> "Codec":
        """Return a trained copy, learned from prepared vectors x (n, dim)."""
        return self

    def state(self) -> dict[str, np.ndarray]:
        """Learned parameters, persisted in LMDB."""
        return {}

    def with_state(self, state: dict[str, np.ndarray]) -> "Codec":
        return self

    # -- codes ------------------------------------------------------------------
    @property
    def code_bytes(self) -> int:
        raise NotImplementedError

    def encode(self, x: np.ndarray) -> np.ndarray:
        """uint8 (n, code_bytes) codes of prepared vectors x (n, dim)."""
        raise NotImplementedError

    def search(
        self, codes: np.ndarray, alive: np.ndarray, q: np.ndarray, n_cand: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best n_cand slots per query: (slots int64 (nq, n_cand), scores float32).

        Best first, padded with slot -1. Scores are higher-is-better
        estimates in the metric's space (exact when `exact`).
        """
        raise NotImplementedError

    def search_lists(
        self, lists: Any, probe: np.ndarray, alive: np.ndarray, q: np.ndarray, n_cand: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """One query (q (1, dim)) over the IVF lists `probe`, read in place from
        the lists' pool (`Postings` whose rows are the codes, padded to whole
        words): (slots int64 (n_cand,), scores float32 (n_cand,)), or None when
        this codec cannot, and the engine copies the lists' rows for `search`."""
        return None

    def rerank_margins(self, q: np.ndarray, margin: float | None = None) -> np.ndarray | None:
        """Per query (nq,): only candidates scoring at least the k-th best
        score minus this are reranked. None (the default): all of them.
        margin overrides the configured one, for codecs that take one."""
        return None


def state_to_bytes(state: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **state)
    return buf.getvalue()


def state_from_bytes(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
