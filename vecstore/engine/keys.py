"""LMDB keys of point ids: 8-byte big-endian, so cursor order is id order."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def id_keys(ids: np.ndarray) -> list[bytes]:
    raw = np.asarray(ids, dtype=">u8").tobytes()
    return [raw[i : i + 8] for i in range(0, len(raw), 8)]


def keys_to_ids(keys: Sequence[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(keys), dtype=">u8").astype(np.int64)
