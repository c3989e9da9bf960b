"""`scalar`: one byte per dimension, each dimension on its own learned range.

x[j] is coded as c[j] = round((x[j] - lo[j]) / step[j]) clipped to 0..255,
where [lo, lo + 255 * step] is the dimension's [min, max] over the training
vectors. The scan dequantizes inside the query: <q, lo + step * c> =
<q, lo> + <q * step, c>, one float dot per code.
"""
from __future__ import annotations

import numpy as np

from native.scalar import scalar_topk

from ...config import ScalarQuantization
from .base import Codec

LEVELS = 255


class ScalarCodec(Codec):
    config: ScalarQuantization

    def __init__(self, config, dim, metric, lo: np.ndarray | None = None, step: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.lo = lo
        self.step = step

    @property
    def trained(self) -> bool:
        return self.lo is not None

    def train_size(self) -> int:
        return self.config.train_size

    def fit(self, x: np.ndarray) -> "ScalarCodec":
        lo = x.min(axis=0).astype(np.float32)
        step = ((x.max(axis=0) - lo) / LEVELS).astype(np.float32)
        step[step <= 0] = 1.0  # a constant dimension: every code 0 decodes to lo exactly
        return ScalarCodec(self.config, self.dim, self.metric, lo, step)

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.lo is None else {"lo": self.lo, "step": self.step}

    def with_state(self, state):
        return ScalarCodec(self.config, self.dim, self.metric, state.get("lo"), state.get("step"))

    @property
    def code_bytes(self) -> int:
        return self.dim

    def encode(self, x: np.ndarray) -> np.ndarray:
        levels = np.rint((x - self.lo) / self.step)
        return np.clip(levels, 0, LEVELS).astype(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return self.lo + self.step * codes.astype(np.float32)

    def search(self, codes, alive, q, n_cand):
        if self.metric == "l2":
            # -|q - lo - step * c|^2: the kernel subtracts step * c itself
            qw = (q - self.lo).astype(np.float32)
            const = np.zeros(len(q), np.float32)
            scores, slots = scalar_topk(codes, qw, const, n_cand, alive, metric="l2", scale=self.step)
        else:
            qw = (q * self.step).astype(np.float32)
            const = (q @ self.lo).astype(np.float32)
            scores, slots = scalar_topk(codes, qw, const, n_cand, alive, metric="dot")
        return slots, scores
