"""`binary`: one sign bit per dimension, plus two float16 factors per vector.

A code is the signs s = sign(x - mean) packed into uint64 words (dimension j
is bit j % 64 of word j // 64; padding bits are 0 in every code, so they
never differ), followed by two float16 factors that turn an inner product
with the signs into an estimate of the inner product with the vector.

With x_c = x - mean and q_c = q - mean, the signs lose each vector's length
and how far it leans from its sign pattern; RaBitQ's estimator puts them
back (see native/bitplane.py for how <q_c, s> comes from bit planes):

    <q_c, x_c> ~ f(x) <q_c, s>,  f(x) = |x_c|^2 / |x_c|_1
    <q, x> = <q_c, x_c> + <mean, x_c> + <q, mean>

so per vector mul = f(x) and add = <mean, x_c> (for l2, whose internal score
is -|q - x|^2 = 2<q, x> - |x|^2 - |q|^2: mul = 2 f(x), add = 2<mean, x_c> -
|x|^2); the last term is the query's own. On 384-d sentence embeddings this
needs ~40% fewer candidates than ranking by <q_c, s> alone for the same
recall after the rerank (bench/RESULTS.md). The factors are stored divided
by per-collection scales learned with the mean, which keeps them well inside
float16's range whatever the vectors' magnitude.
"""
from __future__ import annotations

import math

import numpy as np

import native

from ...config import BinaryQuantization
from ..code_table import BlockedCodes
from .base import Codec

_F16_MAX = float(np.finfo(np.float16).max)
# the estimate's standard error per unit of |q - mean| * mul_scale when it was
# not measured at fit: ~0.6 by RaBitQ's bound for sign codes of Gaussian-like
# coordinates (0.53-0.57 measured on 384-d sentence embeddings)
_ERROR_UNIT = 0.6
_NEAR = 32  # nearest rows per training query whose estimates calibrate the error


class BinaryCodec(Codec):
    config: BinaryQuantization

    def __init__(self, config, dim, metric, mean: np.ndarray | None = None, scales: np.ndarray | None = None,
                 error: np.ndarray | None = None) -> None:
        super().__init__(config, dim, metric)
        self.mean = mean
        # (mul_scale, add_scale): stored factor = factor / scale
        self.scales = np.ones(2, np.float32) if scales is None else np.asarray(scales, np.float32)
        # the estimate's standard error per unit of |q - mean| * mul_scale, measured
        # at fit (codes learned before it was: the typical value, see _ERROR_UNIT)
        self.error_unit = float(error[0]) if error is not None and len(error) else _ERROR_UNIT

    @property
    def trained(self) -> bool:
        return self.mean is not None or not self.config.center

    def train_size(self) -> int:
        return self.config.train_size if self.config.center else 0

    def fit(self, x: np.ndarray, *, measure_error: bool = True) -> "BinaryCodec":
        """Learn the mean and the factors' scales from x, and (unless not
        measure_error, for codes no margin is applied to) the error unit."""
        if not self.config.center:
            return self
        mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        mul, add = BinaryCodec(self.config, self.dim, self.metric, mean)._factors(x)
        scales = np.array([_typical(mul), _typical(add)], np.float32)
        fitted = BinaryCodec(self.config, self.dim, self.metric, mean, scales)
        if measure_error:
            fitted.error_unit = fitted._measure_error(x)
        return fitted

    def _measure_error(self, x: np.ndarray) -> float:
        """The estimate's standard error per unit of |q - mean| * mul_scale,
        median over up to 32 of x's rows as queries against the others (its
        spread in those units varies with the data: ~0.55 on 384-d sentence
        embeddings, ~0.4 on the tests' 128-d clusters)."""
        if self.config.scoring != "asymmetric" or len(x) < 16:
            return _ERROR_UNIT
        nq = min(32, len(x) // 2)
        q, base = x[:nq], x[nq:].astype(np.float64)
        rows = self.encode(x[nq:])
        near_n = min(_NEAR, len(base))
        alive = np.ones(near_n, np.uint8)
        units = []
        for i in range(nq):
            exact = base @ q[i].astype(np.float64)
            if self.metric == "l2":
                exact = 2 * exact - (base**2).sum(1) - float(q[i].astype(np.float64) @ q[i])
            near = np.argsort(-exact)[:near_n]  # the rerank's regime: errors shrink as pairs align
            slots, est = self.search(rows[near], alive, q[i : i + 1], near_n)  # estimates of these rows only
            scale = np.sqrt(((q[i] - self.mean).astype(np.float64) ** 2).sum()) * float(self.scales[0])
            if scale > 0:
                units.append(np.std(est[0] - exact[near][slots[0]]) / scale)
        unit = float(np.median(units)) if units else _ERROR_UNIT
        return unit if np.isfinite(unit) and unit > 0 else _ERROR_UNIT

    def state(self) -> dict[str, np.ndarray]:
        if self.mean is None:
            return {}
        return {"mean": self.mean, "scales": self.scales, "error": np.array([self.error_unit], np.float64)}

    def with_state(self, state):
        return BinaryCodec(self.config, self.dim, self.metric, state.get("mean"), state.get("scales"),
                           state.get("error"))

    @property
    def words(self) -> int:
        return -(-self.dim // 64)

    @property
    def block_words(self) -> int:
        """The sign words are scanned blocked; the factors ride in the row tail."""
        return self.words

    @property
    def code_bytes(self) -> int:
        return 8 * self.words + 4

    def _centered(self, x: np.ndarray) -> np.ndarray:
        return x if self.mean is None else x - self.mean

    def _factors(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mul, add) per row of x, unscaled (see the module docstring)."""
        xc = self._centered(x).astype(np.float64)
        l1 = np.abs(xc).sum(axis=1)
        mul = np.divide((xc * xc).sum(axis=1), l1, out=np.zeros(len(x)), where=l1 > 0)
        add = xc @ self.mean.astype(np.float64) if self.mean is not None else np.zeros(len(x))
        if self.metric == "l2":
            mul, add = 2 * mul, 2 * add - (x.astype(np.float64) ** 2).sum(axis=1)
        return mul, add

    def encode(self, x: np.ndarray) -> np.ndarray:
        signs = native.pack_signs(np.ascontiguousarray(self._centered(x), dtype=np.float32))
        mul, add = self._factors(x)
        factors = np.stack([mul / self.scales[0], add / self.scales[1]], axis=1)
        factors = np.clip(factors, -_F16_MAX, _F16_MAX).astype(np.float16)
        return np.hstack([signs.view(np.uint8), factors.view(np.uint8)])

    def search(self, codes, alive, q, n_cand):
        """codes: BlockedCodes covering n = len(alive) rows, or rows (n, code_bytes)."""
        if not isinstance(codes, BlockedCodes):
            codes = self.blocked(codes)
        n = len(alive)
        if self.config.scoring == "asymmetric":
            return self._search_asymmetric(codes, n, alive, q, n_cand)
        dist, slots = native.hamming_topk_blocks(codes.blocks, n, native.pack_signs(self._centered(q)), n_cand, alive)
        # angle estimate theta ~ pi * h / d (sign random-projection relation)
        cos = np.cos(np.pi * np.minimum(dist, self.dim) / self.dim)
        # Code-space similarity estimates: only shown when rescore=False.
        scores = -(2.0 - 2.0 * cos) if self.metric == "l2" else cos
        return slots, np.where(slots >= 0, scores, -np.inf).astype(np.float32)

    def blocked(self, rows: np.ndarray) -> BlockedCodes:
        """Code rows (n, code_bytes) in the layout the scans read."""
        head = 8 * self.words
        words = np.ascontiguousarray(rows[:, :head]).view(np.uint64)
        tail = np.ascontiguousarray(np.ascontiguousarray(rows[:, head:]).view(np.uint16).T)
        return BlockedCodes(native.to_blocks(words), tail)

    def _search_asymmetric(self, codes: BlockedCodes, n, alive, q, n_cand):
        """Rank by the corrected estimate; scores estimate the internal score."""
        mul, add_w = self._scale_terms()
        q, alive = np.ascontiguousarray(q, np.float32), np.ascontiguousarray(alive, np.uint8)  # no-ops from the engine
        scores, slots = native.bitplane_estimate_search_blocks(
            codes.blocks, n, codes.tail, q, self.mean, self.config.query_bits, mul, add_w, self.metric == "l2",
            n_cand, alive, trusted=True)
        return slots, scores

    def search_lists(self, lists, probe, alive, q, n_cand):
        """One query over the IVF lists `probe`, read in place from the lists'
        pool (rows padded to whole words: the signs, then the factors)."""
        if self.config.scoring != "asymmetric":
            return None
        mul, add_w = self._scale_terms()
        scores, slots = native.bitplane_estimate_search_regions(
            lists.rows.view(np.uint64), lists.slots, lists.starts, lists.lengths, probe, q, self.mean,
            self.config.query_bits, mul, add_w, self.metric == "l2", n_cand, alive, trusted=True)
        return slots, scores

    def rerank_margins(self, q, margin=None):
        """Per query (nq,), how far below the k-th best estimate a candidate may
        score and still be reranked; None when every candidate is."""
        margin = self.config.margin if margin is None else margin
        if self.config.scoring != "asymmetric" or not margin:
            return None
        unit = margin * self.error_unit * float(self.scales[0])
        if len(q) == 1:  # the common single query: scalar arithmetic, a third of the cost
            qc = q[0] - self.mean if self.mean is not None else q[0]
            return np.array([unit * math.sqrt(float(np.dot(qc, qc)))])
        qc = self._centered(q)
        return unit * np.sqrt(np.einsum("ij,ij->i", qc, qc))

    def _scale_terms(self):
        """(mul_scale, add_scale / mul_scale): the stored factors' scales as the scans take them."""
        return self.scales[0], self.scales[1] / self.scales[0]


def _typical(v: np.ndarray) -> float:
    """A scale that brings v's magnitudes near 1 (1.0 when v is all zero)."""
    m = float(np.median(np.abs(v))) if len(v) else 0.0
    return m if m > 0 and np.isfinite(m) else 1.0
