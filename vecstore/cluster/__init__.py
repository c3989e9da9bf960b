"""Scale-out on Ray: sharded, replicated collections behind the Database API.

    import vecstore
    db = vecstore.cluster("local", "router-dir")   # or a Ray cluster's address
    docs = db.create_collection("docs", dim=384, shards=3, replicas=2)

Needs the optional extra `pip install 'vecstore[ray]'`. The package itself is
callable (`vecstore.cluster(...)` is `vecstore.cluster.connect(...)`), and
loads Ray on first use; the engine never imports it.
"""
from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .router import ClusterCollection, ClusterDatabase


RAY_MISSING = ("vecstore.cluster needs Ray, which is not installed: pip install 'vecstore[ray]' "
               "(the rest of vecstore works without it)")


def _router() -> types.ModuleType:
    """The router module, or an ImportError saying how to get Ray."""
    try:
        from . import router
    except ModuleNotFoundError as exc:
        if exc.name == "ray" or (exc.name or "").startswith("ray."):
            raise ImportError(RAY_MISSING) from None
        raise
    return router


def connect(address: str, path: str = "vecstore-cluster", **options: Any) -> "ClusterDatabase":
    """A Database over shard actors on the Ray cluster at `address` ("local":
    start a private Ray on this machine); `path` holds the router's catalog.
    Options: see ClusterDatabase."""
    return _router().ClusterDatabase(address, path, **options)


def restore(db: "ClusterDatabase", src: str, collection: str | None = None, *, name: str | None = None) -> list[str]:
    """Create collections of `db` from a cluster snapshot (`db.snapshot(dest)`):
    all it holds, or `collection`, optionally under a new `name`. Returns the
    names created. See vecstore/cluster/snapshots.py."""
    from . import snapshots

    _router()
    return snapshots.restore(db, src, collection, name=name)


def __getattr__(name: str) -> Any:
    if name in ("ClusterDatabase", "ClusterCollection"):
        return getattr(_router(), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    def __call__(self, address: str, path: str = "vecstore-cluster", **options: Any) -> "ClusterDatabase":
        return connect(address, path, **options)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["connect", "restore", "ClusterDatabase", "ClusterCollection"]
