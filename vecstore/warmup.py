"""Load (or compile) every search kernel before a server reports SERVING.

Numba compiles on first call, and separately for each array type it meets
(read-only arrays from LMDB buffers are a different type from writable
ones), so a synthetic call could miss the variant real searches use. The
warm-up therefore runs real engine operations on a throwaway database: each
registered quantization kind (and the variants that use other kernels) under
each metric, trained, searched with and without rescoring, single and batched.
"""
from __future__ import annotations

import logging
import tempfile
import time

import numpy as np

from .config import METRICS, QUANTIZATION_KINDS, QuantizationConfig, quantization_from_dict
from .engine import open as open_db

log = logging.getLogger("vecstore.warmup")
_DIM = 64  # divisible by the subspace counts that code families use
_N = 2048  # above the default training sizes, so codecs train and scan codes
#: non-default settings that run other kernels than the kind's defaults
_VARIANTS: list[dict] = [{"kind": "binary", "scoring": "hamming"}]


def _configs() -> list[QuantizationConfig]:
    configs = [cls() for cls in QUANTIZATION_KINDS.values()]
    for variant in _VARIANTS:
        try:
            configs.append(quantization_from_dict(variant))
        except Exception:  # noqa: BLE001 - the engine changed; the defaults still warm up
            log.warning("warm-up variant %r is not a valid config any more", variant)
    return configs


def warm_up() -> float:
    """Returns the seconds it took. A kind that fails to warm up is logged, not fatal:
    its first real search will just be slower."""
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((_N, _DIM)).astype(np.float32)
    xq = rng.standard_normal((3, _DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="vecstore-warmup-") as path, open_db(path, sync=False) as db:
        for i, config in enumerate(_configs()):
            for metric in METRICS:
                try:
                    col = db.create_collection(f"c{i}-{metric}", dim=_DIM, metric=metric, quantization=config)
                    col.upsert(np.arange(_N), xb)
                    for rescore in (True, False):
                        col.search(xq[0], k=10, rescore=rescore)
                        col.search(xq, k=10, rescore=rescore)
                    col.get([0, 1])
                except Exception:  # noqa: BLE001 - a warm-up must not stop the server
                    log.warning("warm-up of %r with metric %r failed", config, metric, exc_info=True)
    return time.perf_counter() - start
