"""The shard replica: the embedded engine inside a Ray actor.

A plain class (Ray wraps it with `ray.remote` in router.py, so importing this
module needs no Ray). The engine is opened inside the actor process, on the
actor's node, never across a fork. Ray restarts a dead actor
(max_restarts=-1) with the same constructor arguments; it then reopens its
LMDB, where every acknowledged write already is.

An identity file beside the data says which collection, shard, replica and
epoch the directory belongs to. A restarted actor that finds no identity (an
empty or replaced disk) or another one is quarantined: it answers every call
with "down" instead of serving empty answers.
"""
from __future__ import annotations

import json
import os
from typing import Any

IDENTITY_FILE = "vecstore-shard.json"

#: what a router may call on the shard's collection (the public Collection API)
COLLECTION_METHODS = frozenset({
    "count", "create_payload_index", "delete", "delete_payload_keys", "drop_payload_index", "get", "info",
    "optimize", "overwrite_payload", "payload_indexes", "scroll", "search", "set_payload", "upsert",
})
#: calls of a router beyond the public API, each a function of the collection
ROUTER_METHODS = ("hybrid_lists",)


def hybrid_lists(col: Any, queries: Any, depth: int, sparse_query: list, *, filter: dict | None,
                 dense: dict, with_payloads: bool, with_vectors: bool) -> tuple[Any, Any]:
    """The two hit lists a hybrid search fuses, each this shard's exact top
    `depth`: dense (None without dense queries) and sparse. The router merges
    each across shards and fuses once, so the result is an unsharded one's."""
    hit_data = {"with_payloads": with_payloads, "with_vectors": with_vectors}
    sparse = col.search(None, depth, filter=filter, sparse_query=sparse_query, **hit_data)
    if queries is None:
        return None, sparse
    return col.search(queries, depth, filter=filter, **dense, **hit_data), sparse


class ShardReplica:
    def __init__(self, directory: str, identity: dict, config: dict, create: bool) -> None:
        import vecstore
        from ..config import CollectionConfig

        self.directory = os.path.expanduser(directory)
        self.identity = identity
        self.quarantined: str | None = None
        self._db = None
        self._col = None
        id_path = os.path.join(self.directory, IDENTITY_FILE)
        found = None
        if os.path.exists(id_path):
            with open(id_path, encoding="utf-8") as f:
                found = json.load(f)
        if found is None:
            # Ray gives a restarted actor its first arguments: only a first start may create
            if not create or _reconstructed():
                self.quarantined = f"{self.directory}: no shard identity file (empty or replaced disk)"
                return
        elif found != identity:
            self.quarantined = f"{self.directory}: identity {found} is not {identity}"
            return
        os.makedirs(self.directory, exist_ok=True)
        self._db = vecstore.open(self.directory)
        name = identity["collection"]
        if found is None:
            cfg = CollectionConfig.from_dict(config)
            if name in self._db.list_collections():
                self._db.drop_collection(name)  # a first start that died before writing its identity
            self._col = self._db.create_collection(
                name, dim=cfg.dim, metric=cfg.metric, quantization=cfg.quantization, vector_dtype=cfg.vector_dtype,
                ivf=cfg.ivf, vectors_in_ram=cfg.vectors_in_ram, sparse_vectors=cfg.sparse_vectors)
            tmp = id_path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(identity, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, id_path)
        else:
            self._col = self._db.get_collection(name)

    def call(self, method: str, args: tuple = (), kwargs: dict | None = None) -> tuple[str, Any]:
        """("ok", result), ("error", VecstoreError) for the router to raise, or
        ("down", reason) when this replica must not serve."""
        from ..errors import InvalidArgumentError, VecstoreError

        if self.quarantined is not None:
            return "down", self.quarantined
        if method in ROUTER_METHODS:
            fn = globals()[method]
            args = (self._col, *args)
        elif method in COLLECTION_METHODS:
            fn = getattr(self._col, method)
        else:
            return "error", InvalidArgumentError(f"no collection method {method!r}")
        try:
            return "ok", fn(*args, **(kwargs or {}))
        except VecstoreError as exc:
            return "error", exc

    def status(self) -> dict:
        import ray

        ctx = ray.get_runtime_context()
        state = "quarantined" if self.quarantined else "serving"
        count = None if self._col is None else self._col.count()
        return {"node_id": ctx.get_node_id(), "pid": os.getpid(), "state": state, "count": count,
                "directory": self.directory, "reason": self.quarantined}

    def drop(self) -> None:
        """Delete the replica's data (the collection is being dropped)."""
        import shutil

        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _reconstructed() -> bool:
    import warnings

    import ray

    with warnings.catch_warnings():  # Ray 2.60 warns about its own use of actor_id in here
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)
