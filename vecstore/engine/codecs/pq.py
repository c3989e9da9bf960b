"""`pq`: product quantization with faiss-trained codebooks, scanned by ADC or SDC.

The vector (zero-padded to a multiple of m dimensions) is cut into m
sub-vectors of dsub dimensions; each is coded as the index of its nearest
centroid among ks = 2**nbits. Codes: m bytes at 8 bits; at 4 bits two
sub-codes per byte (low nibble first), ceil(m/2) bytes.

Scores are estimates of the metric's score between the query and the
decoded vector: sum_j <q_j, c_j> for dot and cosine, -sum_j |q_j - c_j|^2 for
l2. ADC uses the float query; SDC first replaces the query by its own code.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from native.pq import pq4_adc_topk, pq_adc_topk, pq_sdc_topk

from ...config import ProductQuantization
from .base import Codec

TRAIN_PER_CENTROID = 64  # training vectors per centroid at most (unless train_size asks for more)


@contextlib.contextmanager
def one_faiss_thread():
    """Run faiss single-threaded: training and encoding run beside searches,
    and on a busy machine OpenMP's spinning threads measured ~10x slower than
    one thread (0.06 s vs 0.6 s to train a small PQ on 2 shared cores).
    OpenMP keeps the thread count per calling thread, so other threads'
    faiss calls are not affected. faiss's bundled OpenBLAS (used inside
    k-means) keeps its own thread count; OPENBLAS_NUM_THREADS=1 pins that too
    (training measured ~3x faster with it on the busy machine)."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(before)


def default_m(dim: int, nbits: int) -> int:
    """dim/8 bytes of code either way: dim/8 sub-quantizers at 8 bits, dim/4 at 4."""
    return max(1, math.ceil(dim / (8 if nbits == 8 else 4)))


class PQCodec(Codec):
    config: ProductQuantization

    def __init__(self, config, dim, metric, centroids: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.m = config.m if config.m is not None else default_m(dim, config.nbits)
        self.ks = 1 << config.nbits
        self.dsub = math.ceil(dim / self.m)
        self.padded_dim = self.dsub * self.m
        self.centroids = centroids  # (m, ks, dsub) float32
        self._faiss_pq = None  # built on first encode
        self._sdc = None  # (m, ks, ks), built on first SDC search

    @property
    def trained(self) -> bool:
        return self.centroids is not None

    def train_size(self) -> int:
        return self.config.train_size

    def _pad(self, x: np.ndarray) -> np.ndarray:
        if self.padded_dim == self.dim:
            return np.ascontiguousarray(x, dtype=np.float32)
        out = np.zeros((len(x), self.padded_dim), np.float32)
        out[:, : self.dim] = x
        return out

    def fit(self, x: np.ndarray) -> "PQCodec":
        cap = max(self.config.train_size, TRAIN_PER_CENTROID * self.ks)
        if len(x) > cap:
            x = x[np.sort(np.random.default_rng(0).choice(len(x), cap, replace=False))]
        xp = self._pad(x)
        if len(xp) < self.ks:
            # too few vectors for k-means (optimize() on a small collection):
            # the vectors' own sub-vectors, repeated, are an exact codebook for them
            rows = xp[np.arange(self.ks) % len(xp)]
            centroids = rows.reshape(self.ks, self.m, self.dsub).transpose(1, 0, 2)
        else:
            with one_faiss_thread() as faiss:
                pq = faiss.ProductQuantizer(self.padded_dim, self.m, self.config.nbits)
                pq.cp.min_points_per_centroid = 1  # we chose the sample size; no warning, no subsampling
                pq.cp.max_points_per_centroid = 1 << 30
                pq.train(xp)
                centroids = faiss.vector_to_array(pq.centroids).reshape(self.m, self.ks, self.dsub)
        return PQCodec(self.config, self.dim, self.metric, np.ascontiguousarray(centroids, dtype=np.float32))

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.centroids is None else {"centroids": self.centroids}

    def with_state(self, state):
        return PQCodec(self.config, self.dim, self.metric, state.get("centroids"))

    @property
    def code_bytes(self) -> int:
        return self.m if self.config.nbits == 8 else (self.m + 1) // 2

    def encode(self, x: np.ndarray) -> np.ndarray:
        with one_faiss_thread() as faiss:
            if self._faiss_pq is None:
                pq = faiss.ProductQuantizer(self.padded_dim, self.m, self.config.nbits)
                faiss.copy_array_to_vector(self.centroids.ravel(), pq.centroids)
                self._faiss_pq = pq
            # faiss packs 4-bit sub-codes low nibble first, the layout native.pq reads
            return self._faiss_pq.compute_codes(self._pad(x))

    def subcodes(self, x: np.ndarray) -> np.ndarray:
        """Unpacked (n, m) sub-codes: nearest centroids by numpy, for a few
        queries (SDC) without touching the faiss object that encode() uses."""
        xs = self._pad(x).reshape(len(x), self.m, self.dsub)
        c_sq = (self.centroids**2).sum(axis=2)  # (m, ks)
        dist = c_sq[None] - 2 * np.einsum("njd,jkd->njk", xs, self.centroids)
        return np.ascontiguousarray(dist.argmin(axis=2).astype(np.uint8))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        sub = codes if self.config.nbits == 8 else np.stack([codes & 15, codes >> 4], axis=2).reshape(len(codes), -1)[:, : self.m]
        parts = [self.centroids[j][sub[:, j]] for j in range(self.m)]
        return np.concatenate(parts, axis=1)[:, : self.dim]

    def adc_tables(self, q: np.ndarray) -> np.ndarray:
        """(nq, m, ks): score of each query part against each centroid."""
        qs = self._pad(q).reshape(len(q), self.m, self.dsub)
        dots = np.einsum("qjd,jkd->qjk", qs, self.centroids)
        if self.metric != "l2":
            return dots.astype(np.float32)
        c_sq = (self.centroids**2).sum(axis=2)  # (m, ks)
        q_sq = (qs**2).sum(axis=2)  # (nq, m)
        return (2 * dots - c_sq[None] - q_sq[:, :, None]).astype(np.float32)

    def sdc_table(self) -> np.ndarray:
        """(m, ks, ks): score of each centroid pair within a sub-quantizer."""
        if self._sdc is None:
            dots = np.einsum("jad,jbd->jab", self.centroids, self.centroids)
            if self.metric == "l2":
                c_sq = (self.centroids**2).sum(axis=2)
                dots = 2 * dots - c_sq[:, :, None] - c_sq[:, None, :]
            self._sdc = np.ascontiguousarray(dots, dtype=np.float32)
        return self._sdc

    def search(self, codes, alive, q, n_cand):
        if self.config.mode == "sdc":
            scores, slots = pq_sdc_topk(codes, self.subcodes(q), self.sdc_table(), n_cand, alive)
        elif self.config.nbits == 8:
            scores, slots = pq_adc_topk(codes, self.adc_tables(q), n_cand, alive)
        else:
            scores, slots = pq4_adc_topk(codes, self.adc_tables(q), n_cand, alive)
        return slots, scores
