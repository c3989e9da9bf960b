"""A database: one directory, one LMDB environment, many collections."""
from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from ..api import interface
from ..api import validate as V
from ..config import CollectionConfig, check_name
from ..errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptDatabaseError,
    InvalidArgumentError,
    InvalidConfigError,
    VecstoreError,
)
from .collection import Collection, sub_db_name, sub_dbs
from .storage import DEFAULT_MAP_SIZE, DEFAULT_MAX_MAP_SIZE, Storage

log = logging.getLogger("vecstore")
_CATALOG = "vecstore.catalog"  # collection name -> {"cid": int, "config": {...}}
_NEXT_CID = b"next_cid"


class Database(interface.Database):
    """Opened by `vecstore.open(path)`. Thread-safe; use one per directory per process.

    read_only=True: writes raise ReadOnlyError, and other processes may hold
    the same directory (one writer, any number of read-only handles). Such a
    handle serves the database as of its open or its last `refresh()`."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
        read_only: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self._storage = Storage(self.path, sync=sync, map_size=map_size, max_map_size=max_map_size,
                                read_only=read_only)
        self._lock = threading.Lock()  # guards the dict below, not storage
        self._collections: dict[str, Collection] = {}
        try:
            self._loaded_txn = self._storage.last_txn_id()
            self._open_collections()
        except BaseException:
            self._storage.close()
            raise

    @property
    def read_only(self) -> bool:
        return self._storage.read_only

    def _log(self, message: str) -> None:
        log.warning(message)

    # -- catalog ----------------------------------------------------------------
    def _open_collections(self) -> None:
        for entry, dbs in self._read_catalog():
            col = Collection(self, entry["cid"], entry["config"], dbs)
            col._load()
            col._load_payload_indexes()
            self._collections[col.name] = col

    def _read_catalog(self) -> list[tuple[dict, dict]]:
        """Every catalog entry, checked ({"cid", "config": CollectionConfig}),
        with its sub-database handles (remembered)."""
        storage = self._storage
        if storage.read_only:
            catalog = storage.open_existing(_CATALOG)
            if catalog is None:
                return []
            with storage.read() as txn:
                rows = list(txn.cursor(db=catalog).iternext(keys=True, values=True))
            out = []
            for key, value in rows:
                entry = _catalog_entry(self.path, key, value)
                dbs = {}
                for sub in sub_dbs(entry["config"]):
                    handle = storage.open_existing(sub_db_name(entry["cid"], sub))
                    if handle is None:
                        raise CorruptDatabaseError(
                            f"database at {self.path}: collection '{entry['config'].name}' has no sub-database "
                            f"{sub_db_name(entry['cid'], sub)} (open it read-write once, or restore a snapshot)"
                        )
                    dbs[sub] = handle
                out.append((entry, dbs))
            return out

        def load(txn):
            catalog = storage.open_db(_CATALOG, txn, create=True)
            out = []
            for key, value in txn.cursor(db=catalog).iternext(keys=True, values=True):
                entry = _catalog_entry(self.path, key, value)
                # create=True: a sub-database added by a later version starts empty
                dbs = {sub: storage.open_db(sub_db_name(entry["cid"], sub), txn, create=True) for sub in sub_dbs(entry["config"])}
                out.append((entry, dbs))
            return catalog, out

        catalog, entries = storage.write(load)
        storage.remember_db(_CATALOG, catalog)
        for entry, dbs in entries:
            for sub, handle in dbs.items():
                storage.remember_db(sub_db_name(entry["cid"], sub), handle)
        return entries

    def refresh(self) -> bool:
        """Read-only handles: catch up with the writer's commits since the open
        (or the last refresh): collections created or dropped, and every
        collection's codes and payload indexes read again (the cost of an
        open). Returns False, doing nothing, when nothing was committed since.
        Until a refresh, searches use the codes of the last load (points added
        since are not found, deleted ones are left out), while get, scroll and
        count read LMDB's newest commit. A writable handle is never behind:
        False."""
        self._storage._check_open()
        if not self._storage.read_only:
            return False  # the only writer: it is never behind
        with self._storage.write_lock:
            newest = self._storage.last_txn_id()
            if newest == self._loaded_txn:
                return False
            entries = {entry["config"].name: (entry, dbs) for entry, dbs in self._read_catalog()}
            with self._lock:
                current = dict(self._collections)
            fresh: dict[str, Collection] = {}
            for name, (entry, dbs) in entries.items():
                col = current.get(name)
                if col is None or col.cid != entry["cid"] or col.config != entry["config"]:
                    col = Collection(self, entry["cid"], entry["config"], dbs)
                col._load()
                col._load_payload_indexes()
                fresh[name] = col
            for name, col in current.items():
                if fresh.get(name) is not col:
                    col._dropped = True
            with self._lock:
                self._collections = fresh
            self._loaded_txn = newest
            return True

    def create_collection(
        self,
        name: str,
        *,
        dim: int,
        metric: str = "cosine",
        quantization: Any = "binary",
        vector_dtype: str = "float32",
        ivf: Any = None,
        vectors_in_ram: bool = False,
        sparse_vectors: Any = None,
        id_type: str = "int",
        shards: int = 1,
        replicas: int = 1,
    ) -> Collection:
        """Create a collection. quantization: a kind name ("none", "binary",
        "sparse") or a config object such as `BinaryQuantization(oversampling=8)`.
        vector_dtype: how vectors are kept on disk, "float32" or "float16".
        ivf: None, or an IVFConfig (or dict) to partition the codes.
        vectors_in_ram: also keep the vectors in RAM and rerank from there
        (dim * 2 or 4 more bytes of RAM per vector, no disk reads per search).
        sparse_vectors: True (or a SparseVectorsConfig / dict) to give points a
        user sparse vector beside the dense one, for hybrid search.
        id_type: "int" (non-negative int64 ids) or "str" (UTF-8 ids of 1 to
        256 bytes, UUIDs included); every call then takes and returns that type.
        shards / replicas: 1 (an embedded database keeps each collection whole)."""
        if V.check_layout(shards, replicas) != (1, 1):
            raise InvalidConfigError(
                f"shards={shards}, replicas={replicas}: an embedded database keeps each collection whole (1 and 1); "
                "sharded collections need a cluster: vecstore.cluster(...) or `vecstore serve --ray ADDRESS`")
        config = CollectionConfig(
            name=name, dim=dim, metric=metric, quantization=quantization, vector_dtype=vector_dtype, ivf=ivf,
            vectors_in_ram=vectors_in_ram, sparse_vectors=sparse_vectors, id_type=id_type,
        )
        with self._storage.write_lock:
            self._storage._check_open()
            if name in self._collections:
                raise CollectionExistsError(f"collection '{name}' already exists")

            def create(txn):
                catalog = self._storage.open_db(_CATALOG, txn, create=True)
                raw = txn.get(_NEXT_CID, db=self._storage.main_db)
                cid = int(raw) if raw is not None else 1
                txn.put(_NEXT_CID, str(cid + 1).encode(), db=self._storage.main_db)
                txn.put(name.encode(), json.dumps({"cid": cid, "config": config.to_dict()}).encode(), db=catalog)
                dbs = {sub: self._storage.open_db(sub_db_name(cid, sub), txn, create=True) for sub in sub_dbs(config)}
                return cid, dbs

            cid, dbs = self._storage.write(create)
            for sub, handle in dbs.items():
                self._storage.remember_db(sub_db_name(cid, sub), handle)
            col = Collection(self, cid, config, dbs)
            with self._lock:
                self._collections[name] = col
            return col

    def get_collection(self, name: str) -> Collection:
        self._storage._check_open()
        check_name(name)
        with self._lock:
            col = self._collections.get(name)
        if col is None:
            raise CollectionNotFoundError(f"collection '{name}' does not exist")
        return col

    def list_collections(self) -> list[str]:
        self._storage._check_open()
        with self._lock:
            return sorted(self._collections)

    def drop_collection(self, name: str) -> None:
        """Delete a collection and all its points."""
        col = self.get_collection(name)
        col._stop_background()  # before the write lock, which a retrain's install takes
        with self._storage.write_lock:
            if col._dropped:
                raise CollectionNotFoundError(f"collection '{name}' does not exist")

            def drop(txn):
                for sub in col._dbs:
                    txn.drop(col._dbs[sub], delete=True)
                catalog = self._storage.open_db(_CATALOG, txn, create=True)
                txn.delete(name.encode(), db=catalog)

            # searches in flight read only RAM and their own read txn; the
            # handles die with the commit, so mark the collection first
            col._dropped = True
            try:
                self._storage.write(drop)
            except BaseException:
                col._dropped = False
                col._rebalancer.resume()
                raise
            for sub in col._dbs:
                self._storage.forget_db(sub_db_name(col.cid, sub))
            with self._lock:
                del self._collections[name]

    def snapshot(self, dest: str | os.PathLike) -> str:
        """Write a consistent copy of the whole database into directory `dest`
        (created; must not exist or be empty) while writes go on. The copy is
        one LMDB read transaction, compacted; open it with `vecstore.open`."""
        dest = os.fspath(dest)
        if os.path.exists(dest) and os.listdir(dest):
            raise InvalidArgumentError(f"snapshot target {dest} exists and is not empty")
        os.makedirs(dest, exist_ok=True)
        self._storage.copy_to(dest)
        return dest

    def file_bytes(self) -> int:
        """Size of the LMDB data file (every collection, plus free pages LMDB reuses)."""
        return self._storage.file_bytes()

    # -- lifecycle ----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._storage.closed

    def close(self) -> None:
        """Wait for running operations, then close. Idempotent. A background
        IVF retrain is asked to give up and waited for first."""
        with self._lock:
            collections = list(self._collections.values())
        for col in collections:
            col._stop_background()
        self._storage.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.path!r}, collections={len(self._collections)})"


def _catalog_entry(path: str, key: bytes, value: bytes) -> dict:
    """A catalog value parsed and checked: {"cid": int, "config": CollectionConfig}."""
    name = bytes(key).decode("utf-8", "replace")
    try:
        entry = json.loads(bytes(value))
        cid = entry["cid"]
        if not isinstance(cid, int) or isinstance(cid, bool) or cid < 1:
            raise ValueError(f"cid {cid!r} is not a positive integer")
        config = CollectionConfig.from_dict(entry["config"])
        if config.name != name:
            raise ValueError(f"its config names collection '{config.name}'")
    except (ValueError, KeyError, TypeError, AttributeError, VecstoreError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) and not isinstance(exc, VecstoreError) else str(exc)
        raise CorruptDatabaseError(
            f"database at {path}: the catalog entry of collection '{name}' is unreadable: {what}"
        ) from None
    return {"cid": cid, "config": config}


def open(path: str | os.PathLike, **options: Any) -> Database:  # noqa: A001 - the public name
    """Open (creating if missing) the database in directory `path`;
    read_only=True opens an existing one beside its writer (see Database)."""
    return Database(path, **options)

