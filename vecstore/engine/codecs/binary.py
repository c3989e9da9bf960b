"""`binary`: one sign bit per dimension, scanned by Hamming distance.

Codes are sign(x - mean) packed into uint64 words (dimension j is bit j % 64
of word j // 64; padding bits are 0 in every code, so they never differ).
"""
from __future__ import annotations

import numpy as np

import native

from ...config import BinaryQuantization
from .base import Codec


class BinaryCodec(Codec):
    config: BinaryQuantization

    def __init__(self, config, dim, metric, mean: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.mean = mean

    @property
    def trained(self) -> bool:
        return self.mean is not None or not self.config.center

    def train_size(self) -> int:
        return self.config.train_size if self.config.center else 0

    def fit(self, x: np.ndarray) -> "BinaryCodec":
        if not self.config.center:
            return self
        return BinaryCodec(self.config, self.dim, self.metric, x.mean(axis=0, dtype=np.float64).astype(np.float32))

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.mean is None else {"mean": self.mean}

    def with_state(self, state):
        return BinaryCodec(self.config, self.dim, self.metric, state.get("mean"))

    @property
    def words(self) -> int:
        return -(-self.dim // 64)

    @property
    def code_bytes(self) -> int:
        return 8 * self.words

    def _signs(self, x: np.ndarray) -> np.ndarray:
        centered = x if self.mean is None else x - self.mean
        return native.pack_signs(np.ascontiguousarray(centered, dtype=np.float32))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self._signs(x).view(np.uint8).reshape(len(x), self.code_bytes)

    def search(self, codes, alive, q, n_cand):
        words = codes.view(np.uint64)
        if self.config.scoring == "asymmetric":
            centered = q if self.mean is None else q - self.mean
            planes = native.quantize_planes(centered, self.config.query_bits)
            dist, slots = native.bitplane_topk(words, planes, n_cand, alive)
            cos = self._asymmetric_cosine(centered, dist)
        else:
            dist, slots = native.hamming_topk(words, self._signs(q), n_cand, alive)
            # angle estimate theta ~ pi * h / d (sign random-projection relation)
            cos = np.cos(np.pi * np.minimum(dist, self.dim) / self.dim)
        # Code-space similarity estimates: only shown when rescore=False.
        scores = -(2.0 - 2.0 * cos) if self.metric == "l2" else cos
        scores = np.where(slots >= 0, scores, -np.inf).astype(np.float32)
        return slots, scores

    def _asymmetric_cosine(self, centered: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """cos(q - mean, x - mean) from the bit-plane distance D.

        With v = u - h the quantized query, D = h * d - <v, s> (s = the +-1
        signs), and for roughly Gaussian coordinates E<v/|v|, s/sqrt(d)> is
        sqrt(2/pi) cos(angle); |v| = h |q| / max|q| by the quantizer's scale.
        """
        h = ((1 << self.config.query_bits) - 1) / 2.0
        amax = np.abs(centered).max(axis=1, keepdims=True)
        v_norm = h * np.linalg.norm(centered, axis=1, keepdims=True) / np.where(amax > 0, amax, 1)
        ip = h * self.dim - dist.astype(np.float64)
        cos = np.sqrt(np.pi / 2) * ip / (np.maximum(v_norm, 1e-12) * np.sqrt(self.dim))
        return np.clip(cos, -1.0, 1.0)
