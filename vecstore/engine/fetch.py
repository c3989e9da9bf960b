"""Reading the values of many keys of one sub-database: the rerank's fetch.

While the pages are in memory a get costs ~2 us and one loop is fastest.
When they are not, each get waits ~100 us on the disk, and a loop makes the
waits add up. So the reader keeps a moving average of the time per get and,
once it says the reads go to disk, splits the keys across a few threads,
each with its own read transaction (mdb_get releases the GIL), so the disk
serves the reads together. Keys stay in sorted order within each thread.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

from .storage import READ_WORKERS, Storage

COLD_GET_US = 15.0  # a get slower than this on average is waiting on the disk
_EMA_WEIGHT = 0.2  # of the newest batch in the moving average
_MIN_PARALLEL_KEYS = 8


class ValueReader:
    def __init__(self, storage: Storage, db: Any) -> None:
        self._storage = storage
        self._db = db
        self.get_us = 0.0  # moving average of the time per get

    @property
    def parallel(self) -> bool:
        return self.get_us > COLD_GET_US

    def get(self, keys: Sequence[bytes]) -> list[bytes | None]:
        """Each key's value (None when absent), in the order given."""
        pool = self._storage.reader_pool() if self.parallel and len(keys) >= _MIN_PARALLEL_KEYS else None
        if pool is None:
            values, per_get = self._read(keys)
        else:
            parts = _split(keys, READ_WORKERS)
            results = list(pool.map(self._read, parts))
            values = [v for part, _ in results for v in part]
            per_get = sum(t * len(p) for p, (_, t) in zip(parts, results)) / len(keys)
        if keys:
            self.get_us += _EMA_WEIGHT * (per_get * 1e6 - self.get_us)
        return values

    def _read(self, keys: Sequence[bytes]) -> tuple[list[bytes | None], float]:
        """(values, seconds per get) in one read transaction."""
        db = self._db
        start = time.perf_counter()
        with self._storage.read() as txn:
            get = txn.get
            values = [get(key, None, db) for key in keys]
        return values, (time.perf_counter() - start) / max(len(keys), 1)


def _split(keys: Sequence[bytes], parts: int) -> list[Sequence[bytes]]:
    step = -(-len(keys) // parts)
    return [keys[i : i + step] for i in range(0, len(keys), step)]
