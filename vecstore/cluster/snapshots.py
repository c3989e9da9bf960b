"""Snapshots of cluster collections, and restoring them as new collections.

A snapshot is a directory:

    dest/<collection>/shard-<s>/       one engine snapshot per shard (data.mdb)
    dest/vecstore-cluster-snapshot.json  the manifest, written last

For each collection the router holds its write lock while one up-to-date
replica of every shard writes its copy (one LMDB read transaction each), so
every shard is a committed state and all shards hold the same acknowledged
writes. Collections are copied one after the other: unlike an embedded
snapshot (one transaction for the whole database) two collections may
differ by writes acknowledged in between.

Each shard's copy is written by its actor, on its node: on a real cluster
`dest` must be a filesystem every node and the router see at the same path
(NFS, a cluster filesystem), or each copy lands on its own node's disk. The
manifest records which node wrote each shard, and says so.

restore() creates a new cluster collection (every replica of every shard)
from such a directory; a missing manifest, a missing or damaged shard copy,
or a shard whose point count differs from the manifest's is refused, and
nothing is left behind.
"""
from __future__ import annotations

import copy
import json
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import ray

from ..config import check_name
from ..errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptDatabaseError,
    InternalError,
    InvalidArgumentError,
    UnavailableError,
    VecstoreError,
)

if TYPE_CHECKING:
    from .router import ClusterCollection, ClusterDatabase

MANIFEST = "vecstore-cluster-snapshot.json"
FORMAT = "vecstore-cluster-snapshot"
VERSION = 1
WHERE = ("each shard's copy was written by its shard actor on its own node: on a cluster of several machines "
         "this directory must be on a filesystem shared by every node and the router, or the shard copies are "
         "on the disks of the nodes named here (node_id)")
_SNAPSHOT_TIMEOUT = 3600.0  # one shard's copy; a big shard on a slow disk takes minutes


def shard_dir(root: str, collection: str, s: int) -> str:
    return os.path.join(root, collection, f"shard-{s}")


# -- taking -----------------------------------------------------------------------------------
def take(db: "ClusterDatabase", dest: str | os.PathLike) -> str:
    """Snapshot every collection of `db` into the new directory `dest`
    (must not exist, or be empty); returns its path. The manifest is written
    last: a directory without one is an incomplete snapshot."""
    dest = os.path.abspath(os.fspath(dest))
    if os.path.exists(dest) and (not os.path.isdir(dest) or os.listdir(dest)):
        raise InvalidArgumentError(f"snapshot target {dest} exists and is not empty")
    os.makedirs(dest, exist_ok=True)
    collections = {}
    for name in db.list_collections():
        try:
            col = db.get_collection(name)
            collections[name] = _take_collection(col, dest)
        except CollectionNotFoundError:
            continue  # dropped meanwhile: not in the snapshot
    manifest = {"format": FORMAT, "version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "router_host": socket.gethostname(), "cluster_uid": db._catalog.uid, "where": WHERE,
                "collections": collections}
    _write_json(os.path.join(dest, MANIFEST), manifest)
    return dest


def _take_collection(col: "ClusterCollection", dest: str) -> dict:
    """One up-to-date replica of each shard copies itself under the
    collection's write lock; the manifest entry for the collection."""
    from .router import _REPLICA_ERRORS, _Down, _fetch

    with col._write_lock:
        col._check_usable()
        entry = copy.deepcopy(col._entry)
        options = {s: col._in_sync(s) for s in range(col._shards)}
        tried = {s: 0 for s in options}
        failures: dict[int, list[str]] = {s: [] for s in options}

        def send(s: int) -> Any:
            r = options[s][tried[s]]
            return col._actors[s][r].snapshot_into.remote(shard_dir(dest, col.name, s), col._entry["txns"][s])

        pending = {}
        for s in options:
            if not options[s]:
                raise UnavailableError(f"collection '{col.name}': shard {s} has no up-to-date replica to snapshot")
            pending[s] = send(s)  # every shard at once: the lock is held for the slowest, not the sum
        shards: dict[int, dict] = {}
        deadline = time.monotonic() + _SNAPSHOT_TIMEOUT
        while pending:
            again = {}
            for s, ref in pending.items():
                try:
                    shards[s] = _fetch(ref, deadline - time.monotonic())
                except (_Down, *_REPLICA_ERRORS) as exc:
                    failures[s].append(f"replica {options[s][tried[s]]}: {type(exc).__name__}: {exc}")
                    tried[s] += 1
                    if tried[s] == len(options[s]):
                        raise UnavailableError(f"collection '{col.name}': no replica of shard {s} could write its "
                                               f"snapshot ({'; '.join(failures[s])})") from None
                    again[s] = send(s)
            pending = again
    for s, facts in shards.items():
        facts["path"] = os.path.relpath(shard_dir(dest, col.name, s), dest)
    return {"config": entry["config"], "shards": entry["shards"], "replicas": entry["replicas"],
            "shard_map": entry["shard_map"], "uid": entry["uid"], "stored_as": _stored_as(entry),
            "shard_copies": [shards[s] for s in range(entry["shards"])]}


def _stored_as(entry: dict) -> str:
    return entry.get("stored_as") or entry["config"]["name"]


# -- restoring --------------------------------------------------------------------------------
def read_manifest(src: str | os.PathLike) -> dict:
    """The manifest of snapshot `src`, checked: InvalidArgumentError when
    there is none (not a snapshot, or an interrupted one), CorruptDatabaseError
    when it is unreadable or incomplete."""
    src = os.fspath(src)
    path = os.path.join(src, MANIFEST)
    if not os.path.isfile(path):
        raise InvalidArgumentError(f"{src} is not a complete cluster snapshot: it has no {MANIFEST} (the manifest "
                                   "is written last, so the snapshot may have been interrupted)")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
            raise ValueError(f"format {manifest.get('format')!r} version {manifest.get('version')!r}, "
                             f"expected {FORMAT!r} version {VERSION}")
        for name, col in manifest["collections"].items():
            check_name(name)
            if len(col["shard_copies"]) != col["shards"] or len(col["shard_map"]) == 0:
                raise ValueError(f"collection '{name}' lists {len(col['shard_copies'])} shard copies "
                                 f"for {col['shards']} shards")
            for facts in col["shard_copies"]:
                if os.path.isabs(facts["path"]) or ".." in facts["path"].split(os.sep):
                    raise ValueError(f"collection '{name}': shard path {facts['path']!r} leaves the snapshot")
    except (ValueError, KeyError, TypeError, AttributeError, VecstoreError) as exc:
        raise CorruptDatabaseError(f"snapshot {src}: its manifest is unreadable: {type(exc).__name__}: {exc}") from None
    return manifest


def restore(db: "ClusterDatabase", src: str | os.PathLike, collection: str | None = None, *,
            name: str | None = None) -> list[str]:
    """Create cluster collections from snapshot `src` (take()): every one it
    holds, or only `collection`, under its own name or under `name` (with one
    collection). Every replica of every shard gets a checked copy of its
    shard's data; the catalog names the collection only once all did.
    Returns the names created. Refused: an incomplete or damaged snapshot
    (InvalidArgumentError / CorruptDatabaseError), a name that exists
    (CollectionExistsError)."""
    db._check_open()
    src = os.path.abspath(os.fspath(src))
    manifest = read_manifest(src)
    available = manifest["collections"]
    if collection is not None and collection not in available:
        raise CollectionNotFoundError(f"snapshot {src} has no collection '{collection}' "
                                      f"(it has {', '.join(sorted(available)) or 'none'})")
    chosen = [collection] if collection is not None else sorted(available)
    if name is not None:
        check_name(name)
        if len(chosen) != 1:
            raise InvalidArgumentError("name= renames one collection: say which (collection=)")
    targets = {c: (name if name is not None else c) for c in chosen}
    with db._lock:
        for target in targets.values():
            if target in db._collections:
                raise CollectionExistsError(f"collection '{target}' already exists")
        for source, target in targets.items():
            _restore_collection(db, src, available[source], target)
    return list(targets.values())


def _restore_collection(db: "ClusterDatabase", src: str, saved: dict, name: str) -> None:
    """Start every replica of a new collection, fill each from its shard's
    copy, check the counts, then enter it in the catalog (caller holds db._lock)."""
    from .router import ClusterCollection, _REPLICA_ERRORS

    config = dict(saved["config"], name=name)
    shards, replicas = saved["shards"], saved["replicas"]
    entry = {"config": config, "shards": shards, "replicas": replicas, "uid": uuid.uuid4().hex[:12],
             "shard_map": list(saved["shard_map"]), "epochs": [[1] * replicas for _ in range(shards)],
             "stale": [[] for _ in range(shards)], "txns": [c.get("txn", 0) for c in saved["shard_copies"]]}
    if saved["stored_as"] != name:
        entry["stored_as"] = saved["stored_as"]  # the engine collection inside the copied data
    timeout = max(_SNAPSHOT_TIMEOUT, db.write_timeout)
    actors = [[db._actor(entry, s, r, create=True) for r in range(replicas)] for s in range(shards)]
    try:
        refs = {(s, r): actors[s][r].restore_from.remote(os.path.join(src, saved["shard_copies"][s]["path"]),
                                                         db._identity(entry, s, r, 1))
                for s in range(shards) for r in range(replicas)}
        for (s, r), ref in refs.items():
            try:
                state, value = ray.get(ref, timeout=timeout)
            except ray.exceptions.RayTaskError as exc:
                raise InternalError(f"restoring shard {s} replica {r} failed: {type(exc.cause).__name__}: "
                                    f"{exc.cause}") from None
            except _REPLICA_ERRORS as exc:
                raise UnavailableError(f"restoring shard {s} replica {r}: the replica did not answer "
                                       f"({type(exc).__name__}: {exc}); nothing was restored") from None
            if state == "error":
                raise type(value)(f"snapshot {src}, collection '{saved['config']['name']}', shard {s}: {value}")
            want = saved["shard_copies"][s]["count"]
            if value != want:
                raise CorruptDatabaseError(f"snapshot {src}, collection '{saved['config']['name']}', shard {s}: "
                                           f"{value} points, but the manifest says {want}")
    except BaseException:
        db._kill(actors)
        raise
    db._catalog.put(name, entry)
    db._collections[name] = ClusterCollection(db, entry)


def _write_json(path: str, value: dict) -> None:
    """Whole or absent: written beside, synced, renamed, directory synced."""
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(value, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
