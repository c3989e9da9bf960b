"""Registry: quantization kind name -> codec class."""
from __future__ import annotations

from ...config import QuantizationConfig
from .base import Codec, state_from_bytes, state_to_bytes
from .binary import BinaryCodec
from .exact import ExactCodec
from .pq import PQCodec
from .residual import ResidualBinaryCodec
from .scalar import ScalarCodec
from .sparse import SparseCodec

CODECS: dict[str, type[Codec]] = {
    "none": ExactCodec,
    "binary": BinaryCodec,
    "residual_binary": ResidualBinaryCodec,
    "pq": PQCodec,
    "scalar": ScalarCodec,
}
CODECS["sparse"] = SparseCodec


def make_codec(config: QuantizationConfig, dim: int, metric: str) -> Codec:
    return CODECS[config.kind](config, dim, metric)


__all__ = ["Codec", "CODECS", "make_codec", "state_from_bytes", "state_to_bytes"]
