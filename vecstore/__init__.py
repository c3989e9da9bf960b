"""vecstore: compact codes in RAM, full-precision vectors in LMDB.

    import vecstore
    with vecstore.open("data") as db:
        docs = db.create_collection("docs", dim=384)
        docs.upsert(ids, vectors)
        hits = docs.search(queries, k=10)
"""
from . import errors
from .config import (
    BinaryQuantization,
    CollectionConfig,
    NoQuantization,
    ProductQuantization,
    QuantizationConfig,
    ResidualBinaryQuantization,
    ScalarQuantization,
)
from .engine import Collection, Database, open
from .errors import *  # noqa: F401,F403 - the exception hierarchy is public API
from .types import CollectionInfo, Points, SearchResult

__version__ = "0.1.0"

__all__ = [
    "open",
    "Database",
    "Collection",
    "SearchResult",
    "Points",
    "CollectionInfo",
    "CollectionConfig",
    "QuantizationConfig",
    "NoQuantization",
    "BinaryQuantization",
    "ResidualBinaryQuantization",
    "ProductQuantization",
    "ScalarQuantization",
    "errors",
]
