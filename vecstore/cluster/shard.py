"""The shard replica: the embedded engine inside a Ray actor.

A plain class (Ray wraps it with `ray.remote` in router.py, so importing this
module needs no Ray). The engine is opened inside the actor process, on the
actor's node, never across a fork. Ray restarts a dead actor
(max_restarts=-1) with the same constructor arguments; it then reopens its
LMDB, where every acknowledged write already is.

An identity file beside the data says which collection, shard, replica and
epoch (which copy: it grows with each catch-up) the directory belongs to, and
the last committed write (`txn`, the router's per-shard write number, with
the LMDB transaction holding it). The router refuses answers of a copy whose
txn is behind what it acknowledged (an older copy of the directory put
back), and a copy whose data is older than its identity file, or missing, is
quarantined (repairable). A
restarted actor that finds no identity (an empty or replaced disk), another
replica's, or an epoch older than the catalog's is quarantined: it answers
every call with "down" instead of serving empty or stale answers. An empty
disk or an old epoch is `repairable`: the router's catch-up installs a copy
of an up-to-date replica (copy_files -> install); a foreign one waits for an
operator.
"""
from __future__ import annotations

import json
import os
from typing import Any

from ..engine.integrity import DATA_FILE
from ..engine.restore import fsync_path
from ..engine.rwlock import RWLock

IDENTITY_FILE = "vecstore-shard.json"

#: what a router may call on the shard's collection (the public Collection API)
COLLECTION_METHODS = frozenset({
    "count", "create_payload_index", "delete", "delete_payload_keys", "drop_payload_index", "get", "info",
    "optimize", "overwrite_payload", "payload_indexes", "scroll", "search", "set_payload", "upsert",
})
#: calls of a router beyond the public API, each a function of the collection
ROUTER_METHODS = ("hybrid_lists", "stored_codes")


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


def stored_codes(col: Any, ids: Any) -> list:
    """The user sparse codes stored for ids (which exist), in their order, as
    search's sparse_queries takes them: search_by_id's query codes."""
    from ..engine.hit_data import _code_list
    from ..engine.keys import id_keys
    from ..engine.persist import get_sparse

    ids = col._ids.check(ids)
    with col._storage.read() as txn:
        stored, _ = col._ids.resolve(txn, ids)
        have, rows = get_sparse(txn, col._dbs["sparse"], id_keys(stored), col.config.quantization.weighted)
    if len(have) != len(ids):
        from ..errors import PointNotFoundError
        raise PointNotFoundError(f"collection '{col.name}': {len(ids) - len(have)} of the ids have no stored code")
    return _code_list(rows)


class ShardReplica:
    def __init__(self, directory: str, identity: dict, config: dict, create: bool) -> None:
        from ..config import CollectionConfig

        self.directory = os.path.expanduser(directory)
        self.identity = identity
        self.quarantined: str | None = None
        self.repairable = False  # quarantined, but a copy from another replica may replace what is here
        self._db = None
        self._col = None
        self._swap = RWLock()
        found = _read_identity(self.directory)
        if found is None:
            # Ray gives a restarted actor its first arguments: only a first start may create
            if not create or _reconstructed():
                self._quarantine(f"{self.directory}: no shard identity file (empty or replaced disk)",
                                 repairable=not os.path.exists(self.directory) or not os.listdir(self.directory))
                return
        elif _whose(found) != _whose(identity):
            self._quarantine(f"{self.directory}: identity {found} is not {identity}", repairable=False)
            return
        elif found["epoch"] < identity["epoch"]:
            # a copy older than the catalog's (a disk restored from an old backup, say)
            self._quarantine(f"{self.directory}: epoch {found['epoch']} is older than the catalog's "
                             f"{identity['epoch']}", repairable=True)
            return
        elif not os.path.exists(os.path.join(self.directory, DATA_FILE)):
            self._quarantine(f"{self.directory}: an identity file but no {DATA_FILE} (data lost or moved)",
                             repairable=True)
            return
        if found is None:
            os.makedirs(self.directory, exist_ok=True)
            db = _open(self.directory)
            cfg = CollectionConfig.from_dict(config)
            name = _stored_as(identity)
            if name in db.list_collections():
                db.drop_collection(name)  # a first start that died before writing its identity
            db.create_collection(
                name, dim=cfg.dim, metric=cfg.metric, quantization=cfg.quantization, vector_dtype=cfg.vector_dtype,
                ivf=cfg.ivf, vectors_in_ram=cfg.vectors_in_ram, sparse_vectors=cfg.sparse_vectors,
                id_type=cfg.id_type)
            db.close()
            _write_identity(self.directory, identity)
            found = identity
        self._serve(found)

    def _quarantine(self, reason: str, *, repairable: bool) -> None:
        self.quarantined, self.repairable = reason, repairable

    def _serve(self, identity: dict) -> None:
        """Open the engine over the directory, whose identity is `identity`;
        quarantined (repairable) when the data is older than the identity file
        says: its newest LMDB transaction is before the one the file noted
        after the last committed write (a data file put back from an old copy)."""
        db = _open(self.directory)
        data_txn = _lmdb_txn(db)
        if data_txn < identity.get("lmdb_txn", 0):
            db.close()
            self._quarantine(f"{self.directory}: the data (LMDB transaction {data_txn}) is older than its identity "
                             f"file (write {identity.get('txn')}, LMDB transaction {identity['lmdb_txn']})",
                             repairable=True)
            return
        self._db = db
        self._col = self._db.get_collection(_stored_as(identity))
        self.identity = identity
        self.quarantined, self.repairable = None, False

    def _note_commit(self, txn: int) -> None:
        """Record in the identity file that router write `txn` is committed
        here, with the LMDB transaction that holds it (two small fsyncs:
        the file, then its rename)."""
        self.identity = dict(self.identity, txn=txn, lmdb_txn=_lmdb_txn(self._db))
        _write_identity(self.directory, self.identity)

    def call(self, method: str, args: tuple = (), kwargs: dict | None = None, epoch: int | None = None,
             txn: int | None = None, min_txn: int | None = None) -> tuple[str, Any]:
        """("ok", result), ("error", VecstoreError) for the router to raise, or
        ("down", reason) when this replica must not serve. Writes carry the
        epoch the router wrote for: one sent before a catch-up replaced this
        copy, run after it, is refused rather than applied over newer data.
        Writes also carry their number `txn` in the shard's sequence (refused
        when this copy misses an earlier one; noted in the identity file once
        committed), reads the number of the last write the router
        acknowledged (`min_txn`: refused by a copy older than that)."""
        with self._swap.shared():  # install() swaps the engine under the exclusive side
            reply = self._call(method, args, kwargs, epoch, txn, min_txn)
            if txn is not None and reply[0] == "ok":
                self._note_commit(txn)
            return reply

    def _call(self, method: str, args: tuple, kwargs: dict | None, epoch: int | None, txn: int | None,
              min_txn: int | None) -> tuple[str, Any]:
        from ..errors import InvalidArgumentError, VecstoreError

        if self.quarantined is not None:
            return "down", self.quarantined
        if epoch is not None and epoch != self.identity["epoch"]:
            return "down", f"{self.directory}: a write for epoch {epoch}, but this copy is epoch {self.identity['epoch']}"
        mine = self.identity.get("txn", 0)
        if txn is not None and mine < txn - 1:
            return "down", f"{self.directory}: write {txn} comes after write {txn - 1}, but this copy has only {mine}"
        if min_txn is not None and mine < min_txn:
            return "down", (f"{self.directory}: a stale copy: it holds writes up to {mine}, the router acknowledged "
                            f"{min_txn}")
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
                "epoch": self.identity["epoch"], "txn": self.identity.get("txn", 0), "directory": self.directory,
                "reason": self.quarantined,
                "repairable": self.repairable}

    # -- catch-up: a lagging replica takes a copy of an up-to-date one ----------------------
    def copy_files(self, min_txn: int = 0) -> dict[str, bytes]:
        """A consistent copy of this replica's database (one LMDB read
        transaction, compacted): file name -> bytes, to send to a lagging
        replica; refused when this copy is older than write `min_txn`."""
        import tempfile

        if self._db is None:
            raise RuntimeError(f"{self.directory} is quarantined: nothing to copy")
        if self.identity.get("txn", 0) < min_txn:
            raise RuntimeError(f"{self.directory} is a stale copy (write {self.identity.get('txn', 0)} < {min_txn})")
        with tempfile.TemporaryDirectory(dir=os.path.dirname(self.directory) or None) as tmp:
            dest = self._db.snapshot(os.path.join(tmp, "copy"))
            out = {}
            for name in os.listdir(dest):
                with open(os.path.join(dest, name), "rb") as f:
                    out[name] = f.read()
        return out

    def install(self, files: dict[str, bytes], identity: dict) -> int:
        """Replace this replica's data with `files` (another replica's
        copy_files) under `identity` (its new epoch), then serve them; the
        router sends no other call meanwhile. Returns the point count."""
        def write(new: str) -> None:
            os.makedirs(new)
            for name, data in files.items():
                with open(os.path.join(new, name), "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())

        return self._replace(write, identity)

    def _replace(self, fill: Any, identity: dict) -> int:
        """Swap in a new copy of the data: fill(directory) writes it beside
        the current one, then it replaces it in one rename, so a crash midway
        leaves the old directory or none (quarantined, repaired again), never
        a mix. Returns the point count of the new copy."""
        import shutil

        if _whose(identity) != _whose(self.identity):
            raise ValueError(f"identity {identity} is not this replica's ({self.identity})")
        if self.quarantined is not None and not self.repairable:
            raise ValueError(f"{self.directory} holds another replica's data: not overwritten ({self.quarantined})")
        new, old = self.directory + ".new", self.directory + ".old"
        for leftover in (new, old):
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            fill(new)
            _write_identity(new, identity)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        with self._swap.exclusive():  # no call runs on the engine being swapped out
            if self._db is not None:
                self._db.close()
                self._db = self._col = None
            if os.path.exists(self.directory):
                os.replace(self.directory, old)
            os.replace(new, self.directory)
            shutil.rmtree(old, ignore_errors=True)
            self._serve(identity)
            if self._col is None:  # quarantined: the new copy is not what its identity says
                raise ValueError(f"{self.directory}: the new copy did not open: {self.quarantined}")
            self._note_commit(identity.get("txn", 0))
            return self._col.count()

    # -- snapshots (snapshots.py): one replica per shard writes, every replica may restore ---
    def snapshot_into(self, target: str, min_txn: int = 0) -> tuple[str, Any]:
        """Write a consistent copy of this replica's database into directory
        `target` (on this actor's node: the router's path must be a shared
        filesystem to gather all shards in one place). Staged beside it and
        renamed, so `target` is whole or absent. ("ok", facts for the
        manifest) or ("down", reason), as for a copy older than write `min_txn`."""
        import shutil

        import ray

        with self._swap.shared():
            if self.quarantined is not None:
                return "down", self.quarantined
            if self.identity.get("txn", 0) < min_txn:
                return "down", f"{self.directory}: a stale copy (write {self.identity.get('txn', 0)} < {min_txn})"
            staging = f"{target}.partial-r{self.identity['replica']}"
            shutil.rmtree(staging, ignore_errors=True)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self._db.snapshot(staging)
            count = self._col.count()
            os.replace(staging, target)  # fails if another replica's copy got there first
            fsync_path(os.path.dirname(target))
            size = sum(os.path.getsize(os.path.join(target, f)) for f in os.listdir(target))
            return "ok", {"replica": self.identity["replica"], "epoch": self.identity["epoch"], "count": count,
                          "txn": self.identity.get("txn", 0),
                          "bytes": size, "node_id": ray.get_runtime_context().get_node_id()}

    def restore_from(self, source: str, identity: dict) -> tuple[str, Any]:
        """Replace this (new, empty) replica's data with the shard snapshot in
        directory `source`, checked on the way (engine/restore.py). ("ok",
        point count) or ("error", InvalidArgumentError: not a snapshot /
        CorruptDatabaseError: failed its check)."""
        from ..engine.restore import restore_snapshot
        from ..errors import VecstoreError

        try:
            return "ok", self._replace(lambda new: restore_snapshot(source, new), identity)
        except VecstoreError as exc:
            return "error", exc

    def drop(self) -> None:
        """Delete the replica's data (the collection is being dropped)."""
        import shutil

        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _whose(identity: dict) -> tuple:
    """What an identity names, whatever the epoch of the copy."""
    return identity["collection"], identity["uid"], identity["shard"], identity["replica"]


def _stored_as(identity: dict) -> str:
    """The engine collection inside the replica's database: its collection's
    name, or, for one restored from a snapshot under a new name, the name the
    snapshot's data carries (the engine has no rename)."""
    return identity.get("stored_as") or identity["collection"]


def _lmdb_txn(db: Any) -> int:
    """The newest committed LMDB transaction of an open engine database."""
    return int(db._storage.last_txn_id())


def _open(directory: str) -> Any:
    import vecstore

    return vecstore.open(directory)


def _read_identity(directory: str) -> dict | None:
    path = os.path.join(directory, IDENTITY_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _write_identity(directory: str, identity: dict) -> None:
    path = os.path.join(directory, IDENTITY_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(identity, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def _reconstructed() -> bool:
    import warnings

    import ray

    with warnings.catch_warnings():  # Ray 2.60 warns about its own use of actor_id in here
        warnings.simplefilter("ignore", DeprecationWarning)
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)
