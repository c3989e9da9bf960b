"""`residual_binary`: L levels of sign bits with one learned scale per level.

Coding x with mean mu and scales a_1..a_L: r_1 = x - mu; level l stores
s_l = sign(r_l) (bit 1 for r > 0, else -1) and passes on r_{l+1} = r_l - a_l s_l.
The decoded vector is x^ = mu + sum_l a_l s_l. Each a_l is learned as the
least-squares scale for the training vectors' level-l residuals given their
signs, i.e. the mean of |r_l| over all training values. One scalar per level
(not per dimension) keeps SDC a plain weighted sum of popcounts; per-dimension
scales measured no better on real 384-d embeddings.

Code layout (uint64 words): level l in words l*w .. l*w + w - 1, w = ceil(dim/64),
bits as `native.pack_signs`. When the mode is "sdc" or the metric "l2", one
more word holds two float32: bias = <mu, x^ - mu> and |x|^2 (exact).

Scores estimate the metric's score (g = 2 for l2, else 1):
  adc:  g (<q, mu> + <q~, x^ - mu>)              - [l2] (|q|^2 + |x|^2)
  sdc:  g (<q, mu> + <q^ - mu, x^ - mu> + bias)  - [l2] (|q|^2 + |x|^2)
where q~ is q quantized to `query_bits` levels per dimension (uniform on
[min q, max q]) and q^ is q coded like the vectors. In adc,
<q~, s_l> = 2 <q~, b_l> - sum q~ with b_l the 0/1 bits, and <q~, b_l> =
lo * popcount(b_l) + delta * sum_t 2^t popcount(P_t & b_l) over the bit planes
P_t of q~'s integer levels. In sdc, <s'_m, s_l> = dim - 2 hamming(b'_m, b_l).

Why adc is the default: on pypi-minilm (384-d) at bits=2, adc reranking 40
candidates reaches recall@10 ~0.99, sdc ~0.96, for the same 96-byte codes;
sdc's scan is cheaper per code but needs roughly twice the candidates, and
candidates read from LMDB cost more than the scan (bench/RESULTS.md).
"""
from __future__ import annotations

import numpy as np

import native
from native.residual import residual_adc_topk, residual_sdc_topk

from ...config import ResidualBinaryQuantization
from .base import Codec


class ResidualBinaryCodec(Codec):
    config: ResidualBinaryQuantization

    def __init__(self, config, dim, metric, mean: np.ndarray | None = None, scales: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.mean = mean
        self.scales = scales
        self.levels = config.bits
        self.words = -(-dim // 64)
        self.has_extra = config.mode == "sdc" or metric == "l2"

    @property
    def trained(self) -> bool:
        return self.mean is not None

    def train_size(self) -> int:
        return self.config.train_size

    def fit(self, x: np.ndarray) -> "ResidualBinaryCodec":
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        r = (x - mean).astype(np.float32)
        scales = np.empty(self.levels, np.float32)
        for lv in range(self.levels):
            scales[lv] = np.abs(r).mean(dtype=np.float64)
            r -= scales[lv] * _signs(r)
        return ResidualBinaryCodec(self.config, self.dim, self.metric, mean, scales)

    def state(self) -> dict[str, np.ndarray]:
        return {} if self.mean is None else {"mean": self.mean, "scales": self.scales}

    def with_state(self, state):
        return ResidualBinaryCodec(self.config, self.dim, self.metric, state.get("mean"), state.get("scales"))

    @property
    def code_bytes(self) -> int:
        return 8 * (self.levels * self.words + (1 if self.has_extra else 0))

    # -- coding -------------------------------------------------------------------
    def _level_words(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, levels, w) sign words of x, and the final residual."""
        r = (x - self.mean).astype(np.float32)
        out = np.empty((len(x), self.levels, self.words), np.uint64)
        for lv in range(self.levels):
            out[:, lv] = native.pack_signs(r)
            r -= self.scales[lv] * _signs(r)
        return out, r

    def encode(self, x: np.ndarray) -> np.ndarray:
        level_words, residual = self._level_words(x)
        n = len(x)
        row = np.zeros((n, self.code_bytes // 8), np.uint64)
        row[:, : self.levels * self.words] = level_words.reshape(n, -1)
        if self.has_extra:
            extra = row.view(np.float32)[:, -2:]
            centered_hat = (x - self.mean) - residual  # x^ - mu
            extra[:, 0] = centered_hat @ self.mean
            extra[:, 1] = np.einsum("ij,ij->i", x, x)
        return row.view(np.uint8)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """x^ = mu + sum_l a_l s_l (for tests and diagnostics)."""
        words = codes.view(np.uint64)
        out = np.repeat(self.mean[None], len(codes), axis=0).astype(np.float32)
        for lv in range(self.levels):
            bits = np.unpackbits(words[:, lv * self.words : (lv + 1) * self.words].copy().view(np.uint8), axis=1, bitorder="little")
            out += self.scales[lv] * (2.0 * bits[:, : self.dim] - 1.0)
        return out

    def quantize_query(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Integer levels u (nq, dim) in [0, 2**query_bits - 1], lo and step (nq,): q~ = lo + step * u."""
        top = (1 << self.config.query_bits) - 1
        lo = q.min(axis=1)
        step = (q.max(axis=1) - lo) / top
        step[step <= 0] = 1.0  # a constant query: every u is 0 and q~ = lo exactly
        u = np.clip(np.rint((q - lo[:, None]) / step[:, None]), 0, top).astype(np.int64)
        return u, lo.astype(np.float32), step.astype(np.float32)

    # -- search -------------------------------------------------------------------
    def search(self, codes, alive, q, n_cand):
        words = codes.view(np.uint64)
        g = 2.0 if self.metric == "l2" else 1.0
        is_l2 = 1.0 if self.metric == "l2" else 0.0
        base = g * (q @ self.mean).astype(np.float64)
        if is_l2:
            base -= np.einsum("ij,ij->i", q, q)
        extra = codes.view(np.float32)[:, -2:] if self.has_extra else None
        a = self.scales.astype(np.float64)
        if self.config.mode == "adc":
            u, lo, step = self.quantize_query(q)
            planes = np.stack(
                [native.pack_signs(((u >> t) & 1).astype(np.float32)) for t in range(self.config.query_bits)], axis=1
            )
            q_sum = lo * self.dim + step * u.sum(axis=1)  # sum of q~
            coef_pop = (g * 2 * a[None, :] * lo[:, None]).astype(np.float32)
            coef_plane = (g * 2 * a[None, :] * step[:, None]).astype(np.float32)
            const = (base - g * q_sum * a.sum()).astype(np.float32)
            scores, slots = residual_adc_topk(
                words, self.levels, planes, coef_pop, coef_plane, const, n_cand, alive, extra=extra, extra_w=(0.0, -is_l2)
            )
        else:
            qwords, _ = self._level_words(q)
            pair = np.outer(a, a)  # a_l a_m
            weights = (-2 * g * pair).astype(np.float32)
            const = (base + g * self.dim * pair.sum()).astype(np.float32)
            scores, slots = residual_sdc_topk(
                words, qwords, weights, const, n_cand, alive, extra=extra, extra_w=(g, -is_l2)
            )
        return slots, scores


def _signs(r: np.ndarray) -> np.ndarray:
    """+1 where r > 0, else -1: the same rule as the packed bits."""
    return np.where(r > 0, np.float32(1), np.float32(-1))
