"""The router's catalog in an LMDB on its disk: collections with their
config, shard count, replica count, shard map and replica epochs, so that a
restarted router finds the same collections and their actors by name."""
from __future__ import annotations

import json
import os
import uuid

import lmdb

_UID = b"\x00cluster_uid"  # sorts before every collection name


class Catalog:
    def __init__(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)
        self._env = lmdb.open(os.path.join(path, "catalog"), map_size=64 << 20, max_dbs=0, subdir=True)
        with self._env.begin(write=True) as txn:
            uid = txn.get(_UID)
            if uid is None:
                uid = uuid.uuid4().hex[:12].encode()
                txn.put(_UID, uid)
        self.uid = uid.decode()

    def entries(self) -> dict[str, dict]:
        with self._env.begin() as txn:
            return {bytes(k).decode(): json.loads(bytes(v)) for k, v in txn.cursor() if k != _UID}

    def get(self, name: str) -> dict | None:
        with self._env.begin() as txn:
            raw = txn.get(name.encode())
        return None if raw is None else json.loads(bytes(raw))

    def put(self, name: str, entry: dict) -> None:
        with self._env.begin(write=True) as txn:
            txn.put(name.encode(), json.dumps(entry).encode())

    def delete(self, name: str) -> None:
        with self._env.begin(write=True) as txn:
            txn.delete(name.encode())

    def close(self) -> None:
        self._env.close()
