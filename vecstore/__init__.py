"""vecstore: compact codes in RAM, full-precision vectors in LMDB.

    import vecstore
    with vecstore.open("data") as db:
        docs = db.create_collection("docs", dim=384)
        docs.upsert(ids, vectors)
        hits = docs.search(queries, k=10)

    # the same API against a `vecstore serve` daemon
    with vecstore.connect("localhost:50051") as db:
        ...

    # and from asyncio code, every method a coroutine
    async with vecstore.connect_async("localhost:50051") as db:
        docs = await db.get_collection("docs")
"""
from typing import TYPE_CHECKING, Any

from . import errors
from .config import (
    BinaryQuantization,
    CollectionConfig,
    IVFConfig,
    NoQuantization,
    ProductQuantization,
    QuantizationConfig,
    ResidualBinaryQuantization,
    ScalarQuantization,
    SparseQuantization,
    SparseVectorsConfig,
)
from .errors import *  # noqa: F401,F403 - the exception hierarchy is public API
from .types import CollectionInfo, Points, ScrollPage, SearchResult

if TYPE_CHECKING:
    from .engine import Collection, Database, open
    from .rpc.aio_client import AsyncClient
    from .rpc.client import Client

# The engine (LMDB, Numba kernels) loads on first use of one of these names, so a
# client-only user (`vecstore.connect`) never pays for it or needs it installed.
_ENGINE_NAMES = ("open", "Database", "Collection")


def __getattr__(name: str) -> Any:
    if name == "cluster":
        # vecstore.cluster(address, path): a callable package, Ray loaded on first call
        import importlib

        return importlib.import_module(".cluster", __name__)
    if name in _ENGINE_NAMES:
        from . import engine

        value = getattr(engine, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vecstore' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ENGINE_NAMES) | {"cluster"})

__version__ = "0.1.0"


def connect(target: str, api_key: str | None = None, **options: Any) -> "Client":
    """Connect to a `vecstore serve` daemon at "host:port"; returns a client with
    the `Database` interface. Options: see `vecstore.rpc.client.connect`.

    Defined here, importing gRPC on first use, so that embedded use never
    loads the wire layer."""
    from .rpc.client import connect as _connect

    return _connect(target, api_key, **options)


def connect_async(target: str, api_key: str | None = None, **options: Any) -> "AsyncClient":
    """`connect` for asyncio code: the same methods as coroutines, on grpc.aio
    (call it inside a running event loop). Options: as for `connect`."""
    from .rpc.aio_client import connect_async as _connect_async

    return _connect_async(target, api_key, **options)


__all__ = [
    "open",
    "connect",
    "connect_async",
    "cluster",
    "Database",
    "Collection",
    "SearchResult",
    "Points",
    "ScrollPage",
    "CollectionInfo",
    "CollectionConfig",
    "QuantizationConfig",
    "NoQuantization",
    "BinaryQuantization",
    "ResidualBinaryQuantization",
    "ProductQuantization",
    "ScalarQuantization",
    "SparseQuantization",
    "SparseVectorsConfig",
    "IVFConfig",
    "errors",
]
