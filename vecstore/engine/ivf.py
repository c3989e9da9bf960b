"""IVF coarse partitioning: k-means centroids, list assignment, probing.

The centroids are learned by faiss k-means over prepared vectors (spherical
k-means for cosine, whose vectors are unit length). A vector's list and a
query's probe order use the same rule, the collection's own metric: largest
inner product with the centroid for cosine and dot, smallest Euclidean
distance for l2 (as faiss's IndexIVF does).
"""
from __future__ import annotations

import numpy as np

from native.ivf import probe_lists, probe_sketch

from ..config import BinaryQuantization
from .codecs.binary import BinaryCodec

_BLOCK = 16_384  # rows per BLAS block: bounds the (rows, nlist) score matrix
_KERNEL_QUERIES = 4  # up to this many queries probe through the float16 kernel, more through BLAS
_F16_LIMIT = 60_000.0  # centroids beyond float16's range probe through BLAS only
# a single query's probe first ranks 1-bit codes of the centroids, then looks at
# a shortlist of max(_SHORTLIST_MIN, _SHORTLIST_PER_PROBE * nprobe) exactly; it
# pays once the shortlist is a small part of the lists (<= 1/_SHORTLIST_SHARE)
_SHORTLIST_MIN = 64
_SHORTLIST_PER_PROBE = 4
_SHORTLIST_SHARE = 8
KMEANS_SEED = 1234
KMEANS_ITERATIONS = 20


class IVF:
    def __init__(self, centroids: np.ndarray, metric: str) -> None:
        self.centroids = np.ascontiguousarray(centroids, dtype=np.float32)
        self.metric = metric
        self._half_sq = 0.5 * (self.centroids * self.centroids).sum(axis=1)
        # a float16 copy for single-query probes: half the bytes to read per query
        fits = len(self.centroids) and float(np.abs(self.centroids).max()) < _F16_LIMIT
        self._c16 = self.centroids.astype(np.float16).view(np.uint16) if fits else None
        self._bias = -self._half_sq if metric == "l2" else None
        self._sketch = _CentroidSketch(self.centroids, metric) if len(self.centroids) >= 8 * _SHORTLIST_MIN else None

    @property
    def nbytes(self) -> int:
        return (self.centroids.nbytes + (self._c16.nbytes if self._c16 is not None else 0)
                + (self._sketch.nbytes if self._sketch is not None else 0))

    @property
    def nlist(self) -> int:
        return len(self.centroids)

    @classmethod
    def train(cls, x: np.ndarray, nlist: int, metric: str) -> "IVF":
        import faiss  # training only: keeps faiss off the import path of searches

        kmeans = faiss.Kmeans(
            x.shape[1], nlist, niter=KMEANS_ITERATIONS, seed=KMEANS_SEED,
            spherical=metric == "cosine", verbose=False,
        )
        kmeans.train(np.ascontiguousarray(x, dtype=np.float32))
        return cls(kmeans.centroids, metric)

    def state(self) -> dict[str, np.ndarray]:
        return {"centroids": self.centroids}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray], metric: str) -> "IVF":
        return cls(state["centroids"], metric)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        """(n, nlist), higher is better: <x, c>, or <x, c> - |c|^2 / 2 for l2
        (the same order as -|x - c|^2, without |x|^2)."""
        # one query: centroids @ x.T is a BLAS gemv, 4x faster than the gemm numpy
        # picks for x @ centroids.T. Many rows: x @ centroids.T, whose rows are
        # contiguous; the transposed gemv form made assign's argmax stride through
        # memory (0.25 s per batch of 10,000 at 4,096 lists, 10x the contiguous one)
        s = (self.centroids @ x.T).T if len(x) == 1 else x @ self.centroids.T
        if self.metric == "l2":
            s -= self._half_sq
        return s

    def assign(self, x: np.ndarray) -> np.ndarray:
        """The list of every vector: int32 (n,)."""
        out = np.empty(len(x), np.int32)
        for lo in range(0, len(x), _BLOCK):
            out[lo : lo + _BLOCK] = self._scores(x[lo : lo + _BLOCK]).argmax(axis=1)
        return out

    def assign_with_error(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """assign, and every vector's squared distance to its list's centroid
        (float64 (n,); what drift.py measures), from the same scores:
        |x - c|^2 = |x|^2 - 2 s for l2 (s = <x, c> - |c|^2 / 2), else
        |x|^2 + |c|^2 - 2 s (s = <x, c>)."""
        lists = np.empty(len(x), np.int32)
        error = np.empty(len(x), np.float64)
        for lo in range(0, len(x), _BLOCK):
            part = x[lo : lo + _BLOCK]
            s = self._scores(part)
            best = s.argmax(axis=1)
            top = s[np.arange(len(part)), best].astype(np.float64)
            sq = np.einsum("ij,ij->i", part, part).astype(np.float64)  # float32 sums: a figure, not a score
            if self.metric == "l2":
                e = sq - 2 * top
            else:
                e = sq + 2 * self._half_sq[best] - 2 * top
            lists[lo : lo + _BLOCK] = best
            error[lo : lo + _BLOCK] = np.maximum(e, 0.0)  # rounding can dip below 0
        return lists, error

    def probe(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        """The nprobe best lists of every query, best first: int64 (nq, nprobe)."""
        nprobe = min(nprobe, self.nlist)
        m = max(_SHORTLIST_MIN, _SHORTLIST_PER_PROBE * nprobe)
        if self._sketch is not None and len(q) <= _KERNEL_QUERIES and m * _SHORTLIST_SHARE <= self.nlist:
            if len(q) == 1:
                return self._sketch.probe(self.centroids, q[0], nprobe, m, self._bias)[None]
            return np.stack([self._sketch.probe(self.centroids, x, nprobe, m, self._bias)
                             for x in q]) if len(q) else np.zeros((0, nprobe), np.int64)
        if self._c16 is not None and len(q) <= _KERNEL_QUERIES and nprobe < self.nlist:
            return np.stack([probe_lists(self._c16, x, nprobe, self._bias) for x in q]) if len(q) else np.zeros((0, nprobe), np.int64)
        s = self._scores(q)
        if nprobe < self.nlist:
            part = np.argpartition(-s, nprobe - 1, axis=1)[:, :nprobe]
        else:
            part = np.broadcast_to(np.arange(self.nlist), s.shape)
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1).astype(np.int64)


class _CentroidSketch:
    """1-bit codes of the centroids (the binary codec's, fitted to them): a
    probe reads 52 bytes per centroid instead of 768 float16 ones at 384-d,
    and ranks them by the codec's estimate of <q, c> (of -|q - c|^2 for l2).
    On 1M sentence-like vectors at 4,096 lists, the exact best 16 of the best
    64 estimates held 0.9924 of the true top-10 neighbours, the exact best 16
    lists 0.9925 (a one-off measurement; recall after the rerank was the same)."""

    def __init__(self, centroids: np.ndarray, metric: str) -> None:
        codec = BinaryCodec(BinaryQuantization(), centroids.shape[1], "l2" if metric == "l2" else "dot")
        codec = codec.fit(centroids, measure_error=False)  # no margin on centroids: half the build
        self.codes = codec.blocked(codec.encode(centroids))
        # what a probe's estimate needs from the codec: its mean, query bits and add weight
        self.mean, self.bits = codec.mean, codec.config.query_bits
        self.add_w = float(codec.scales[1] / codec.scales[0])

    @property
    def nbytes(self) -> int:
        return self.codes.blocks.nbytes + self.codes.tail.nbytes

    def probe(self, centroids: np.ndarray, q: np.ndarray, nprobe: int, m: int, bias: np.ndarray | None) -> np.ndarray:
        """The best nprobe of the m lists with the best estimates, for one query q (d,)."""
        return probe_sketch(self.codes.blocks, self.codes.tail, self.mean, centroids, q, nprobe, m, self.bits,
                            self.add_w, bias, trusted=True)
