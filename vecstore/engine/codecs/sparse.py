"""`sparse`: top-a activations of a fixed random expansion, in an inverted index.

A point's code is a set of dimensions of a D-dimensional space (D >> dim):
either generated here (the `active` largest entries of (x - mean) @ R, R a
dim x D matrix of +-1 drawn from `seed`) or given by the user. Codes are not
fixed-size rows: the segment keeps them as postings (dimension -> slots) and
LMDB keeps them per point in the `sparse` sub-database. The scan sums, over
the query's dimensions, the query weight of each dimension a point shares
(generated queries: their `query_active` best dimensions weighted by their
activations; user queries: their weights, 1 when unweighted), so it touches
only the postings of the query's dimensions.

R comes from the raw 64-bit stream of PCG64(seed), whose output NumPy keeps
stable across versions, so R never needs to be stored: a reopened
collection, or a later NumPy, encodes new points exactly as the old ones.
"""
from __future__ import annotations

import numpy as np

import native.sparse

from ...config import SparseQuantization
from ..postings import Postings
from ...api.sparse_rows import SparseRows
from .base import Codec

_BLOCK = 2048  # rows projected at once: bounds the (rows, D) float32 temporary
_MIN_WEIGHT = np.float32(1e-6)


def rademacher(dim: int, expansion_dim: int, seed: int) -> np.ndarray:
    """The fixed dim x D matrix of +-1 (float32) that `seed` names."""
    n_bits = dim * expansion_dim
    raw = np.random.PCG64(seed).random_raw(-(-n_bits // 64)).astype("<u8")
    bits = np.unpackbits(raw.view(np.uint8), bitorder="little")[:n_bits]
    return np.where(bits.reshape(dim, expansion_dim) == 1, np.float32(1), np.float32(-1))


class SparseCodec(Codec):
    config: SparseQuantization
    #: codes live in a Postings index, not in fixed-size rows
    uses_postings = True

    def __init__(self, config, dim, metric, mean: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.mean = mean
        self._projection: np.ndarray | None = None

    # -- training ---------------------------------------------------------------
    @property
    def generated(self) -> bool:
        return not self.config.user_codes

    @property
    def trained(self) -> bool:
        return not (self.generated and self.config.center) or self.mean is not None

    def train_size(self) -> int:
        return self.config.train_size if self.generated and self.config.center else 0

    def fit(self, x: np.ndarray) -> "SparseCodec":
        if self.train_size() == 0:
            return self
        return SparseCodec(self.config, self.dim, self.metric, x.mean(axis=0, dtype=np.float64).astype(np.float32))

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.mean is None else {"mean": self.mean}

    def with_state(self, state):
        return SparseCodec(self.config, self.dim, self.metric, state.get("mean"))

    # -- codes ------------------------------------------------------------------
    @property
    def code_bytes(self) -> int:
        return 0  # nothing per slot in the code rows; see the postings

    def encode(self, x: np.ndarray) -> np.ndarray:
        return np.zeros((len(x), 0), np.uint8)

    def new_postings(self) -> Postings:
        return Postings(self.config.expansion_dim, weighted=self.config.weighted)

    @property
    def projection(self) -> np.ndarray:
        if self._projection is None:
            self._projection = rademacher(self.dim, self.config.expansion_dim, self.config.seed)
        return self._projection

    def aux_nbytes(self) -> int:
        """RAM held by the codec itself (the projection, once used)."""
        return 0 if self._projection is None else self._projection.nbytes

    def encode_sparse(self, x: np.ndarray, active: int | None = None, *, weighted: bool = False) -> SparseRows:
        """The generated code of every prepared vector: its `active` best dimensions,
        sorted; with `weighted`, each carries its activation (floored at a tiny
        positive value, as the scan wants positive weights)."""
        a = active or self.config.active
        out = np.empty((len(x), a), np.int64)
        values = np.empty((len(x), a), np.float32) if weighted else None
        r = self.projection
        for lo in range(0, len(x), _BLOCK):
            block = x[lo : lo + _BLOCK]
            if self.mean is not None:
                block = block - self.mean
            act = block @ r
            top = native.sparse.top_active(act, a)
            out[lo : lo + _BLOCK] = top
            if weighted:
                values[lo : lo + _BLOCK] = np.take_along_axis(act, top, axis=1)
        weights = None if values is None else np.maximum(values, _MIN_WEIGHT).reshape(-1)
        return SparseRows(np.arange(len(x) + 1, dtype=np.int64) * a, out.reshape(-1), weights)

    def query_rows(self, q: np.ndarray) -> SparseRows:
        """Queries keep `query_active` dimensions weighted by their activations:
        an asymmetric score (float query against binary point codes) that
        measured better than the symmetric overlap at equal candidates."""
        return self.encode_sparse(q, self.config.query_dims, weighted=True)

    def search_postings(
        self, postings: Postings, eligible: np.ndarray, q: SparseRows, n_cand: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best n_cand slots per query by overlap (weighted overlap for weighted codes).

        The scores are overlap counts or sparse dot products, not the metric:
        only shown when rescore=False.
        """
        qw = q.weights if q.weights is not None else np.zeros(0, np.float32)
        slots, scores = native.sparse.overlap_topk(
            postings.slots, postings.weights, postings.starts, postings.lengths,
            q.indptr, q.indices, qw, eligible, n_cand,
        )
        return slots, scores

    def search(self, codes, alive, q, n_cand):
        raise NotImplementedError("sparse codes are scanned through their postings: use search_postings")
