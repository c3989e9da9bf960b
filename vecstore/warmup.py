"""Load (or compile) every search kernel before a server reports SERVING.

Numba compiles on first call, and separately for each array type it meets
(read-only arrays from LMDB buffers are a different type from writable
ones), so a synthetic call could miss the variant real searches use. The
warm-up therefore runs real engine operations on a throwaway database: each
registered quantization kind (and the variants that use other kernels) under
each metric, trained, searched with and without rescoring, single and batched.
A variant may also set collection options (`ivf`, `vector_dtype`); user
sparse codes are warmed with random codes.
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import time

import numpy as np

from .config import METRICS, QUANTIZATION_KINDS, QuantizationConfig, quantization_from_dict
from .errors import InvalidConfigError
from .engine import open as open_db

log = logging.getLogger("vecstore.warmup")
_DIM = 64  # divisible by the subspace counts that code families use
_N = 2048  # training sizes above this are lowered to it, so codecs train and scan codes
_SPARSE_NNZ = 16  # entries of each random user sparse code
#: non-default settings that run other kernels than the kind's defaults:
#: quantization parameters, plus collection options under "collection"
_VARIANTS: list[dict] = [
    {"kind": "binary", "scoring": "hamming"},
    {"kind": "residual_binary", "mode": "sdc"},
    {"kind": "pq", "mode": "sdc"},
    {"kind": "pq", "nbits": 4},
    {"kind": "sparse", "user_codes": True},
    {"kind": "sparse", "user_codes": True, "weighted": True},
    # IVF probes and gathers lists with kernels of its own, over plain and sparse codes
    {"kind": "binary", "collection": {"ivf": {"nlist": 16, "nprobe": 4}}},
    {"kind": "sparse", "collection": {"ivf": {"nlist": 16, "nprobe": 4}}},
    {"kind": "none", "collection": {"vector_dtype": "float16"}},
]


def _trainable(config: QuantizationConfig) -> QuantizationConfig:
    """The config with a training size the warm-up data reaches."""
    if getattr(config, "train_size", 0) <= _N:
        return config
    try:
        return dataclasses.replace(config, train_size=_N)
    except InvalidConfigError:  # user sparse codes keep their defaults: nothing to train
        return config


def _configs() -> list[tuple[QuantizationConfig, dict]]:
    """(quantization, other create_collection options) to warm up."""
    configs = [(_trainable(cls()), {}) for cls in QUANTIZATION_KINDS.values()]
    for variant in _VARIANTS:
        variant = dict(variant)
        options = variant.pop("collection", {})
        try:
            configs.append((_trainable(quantization_from_dict(variant)), options))
        except Exception:  # noqa: BLE001 - the engine changed; the defaults still warm up
            log.warning("warm-up variant %r is not a valid config any more", variant)
    return configs


def _user_codes(config: QuantizationConfig, n: int, rng: np.random.Generator) -> list | None:
    """Random codes for collections that take user sparse codes, else None."""
    if not getattr(config, "user_codes", False):
        return None
    idx = [rng.choice(config.expansion_dim, _SPARSE_NNZ, replace=False) for _ in range(n)]
    if config.weighted:
        return [(i, rng.random(_SPARSE_NNZ) + 0.5) for i in idx]
    return idx


def warm_up() -> float:
    """Returns the seconds it took. A kind that fails to warm up is logged, not fatal:
    its first real search will just be slower."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((_N, _DIM)).astype(np.float32)
    xq = rng.standard_normal((3, _DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="vecstore-warmup-") as path, open_db(path, sync=False) as db:
        for i, (config, options) in enumerate(_configs()):
            for metric in METRICS:
                try:
                    col = db.create_collection(f"c{i}-{metric}", dim=_DIM, metric=metric, quantization=config, **options)
                    col.upsert(np.arange(_N), xb, sparse=_user_codes(config, _N, rng))
                    one, many = _user_codes(config, 1, rng), _user_codes(config, len(xq), rng)
                    for rescore in (True, False):
                        col.search(xq[0], k=10, rescore=rescore, sparse_queries=one)
                        col.search(xq, k=10, rescore=rescore, sparse_queries=many)
                    col.get([0, 1])
                except Exception:  # noqa: BLE001 - a warm-up must not stop the server
                    log.warning("warm-up of %r (%r) with metric %r failed", config, options, metric, exc_info=True)
    return time.perf_counter() - start
