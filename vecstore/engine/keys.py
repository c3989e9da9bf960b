"""LMDB keys of point ids: 8-byte big-endian, so cursor order is id order."""
from __future__ import annotations

import struct
from typing import Sequence

import numpy as np


_PACK = struct.Struct(">Q").pack


def id_keys(ids: np.ndarray) -> list[bytes]:
    # packing Python ints: 5.5 us per 60 keys against 8 for slicing one big bytes
    return list(map(_PACK, np.asarray(ids, dtype=np.uint64).reshape(-1).tolist()))


def keys_to_ids(keys: Sequence[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(keys), dtype=">u8").astype(np.int64)
