"""Reading the values of many keys of one sub-database: the rerank's fetch.

While the pages are in memory a get costs ~2 us and one loop is fastest.
When they are not, each get waits ~80 us on the disk, and a loop makes the
waits add up. So the reader keeps a moving average of the time per get and,
once it says the reads go to disk, first asks the kernel to read every leaf
page the keys live on (readahead.py), then gets them in one loop: the disk
serves the reads together. If the leaf pages cannot be found, a few threads
take the keys instead, each with its own read transaction (mdb_get releases
the GIL). Keys are taken in sorted (page) order.
"""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from .storage import READ_WORKERS, Storage

COLD_GET_US = 15.0  # a get slower than this on average is waiting on the disk
# once cold, reads stay cold (read ahead) until the average falls below this: a
# get after a readahead costs less than a cold one, more than a cached one (~2 us)
WARM_GET_US = 5.0
_EMA_WEIGHT = 0.2  # of the newest batch in the moving average
_MIN_COLD_KEYS = 8  # fewer keys than this are read in one loop even when cold


class ValueReader:
    def __init__(self, storage: Storage, db: Any, db_name: str) -> None:
        self._storage = storage
        self._db = db
        self._db_name = db_name.encode()
        self.get_us = 0.0  # moving average of the time per get
        self.cold = False  # reads go to the disk: read ahead (or in threads)

    def get(self, keys: Sequence[bytes]) -> tuple[bytes, np.ndarray | None]:
        """The values of keys joined in the order given, and which keys were
        found (bool (len(keys),), or None when all were)."""
        got = None
        if self.cold and len(keys) >= _MIN_COLD_KEYS:
            got = self._read(keys, ahead=True)
            if got is None:  # no leaf page found: the threads overlap the waits instead
                pool = self._storage.reader_pool()
                got = self._read_shared(pool, keys) if pool is not None else None
        if got is None:
            got = self._read(keys)
        raw, found, per_get = got
        if keys:
            self.observe(per_get)
        return raw, found

    def observe(self, per_get: float) -> None:
        """Fold one batch's seconds per get into the average; switch modes with
        hysteresis (cold above COLD_GET_US, warm again only below WARM_GET_US)."""
        self.get_us += _EMA_WEIGHT * (per_get * 1e6 - self.get_us)
        self.cold = self.get_us > (WARM_GET_US if self.cold else COLD_GET_US)

    def _read_shared(self, pool, keys: Sequence[bytes]) -> tuple[bytes, np.ndarray | None, float]:
        """`_read` spread over the pool's threads by work sharing: each takes the
        next unread key (in key order) until none is left, so a thread whose
        reads come back early takes more instead of idling while a slow one
        finishes a fixed share (3-5% more cold queries/s than fixed shares at
        40 keys, A/B per query on pypi-minilm). Values are copied out (no
        buffers): each thread's transaction ends before the join.

        Every thread has its own read transaction; when a write commits while
        they start, they may see different snapshots, and a search could get
        part of a batch. Then the keys are read again in one transaction."""
        n = len(keys)
        values: list = [None] * n
        todo = iter(range(n))  # next() on it is atomic under the GIL
        db = self._db

        def work(_) -> tuple[float, int]:
            # time inside the transaction only: the average must say what a get
            # costs, not what handing work to the threads costs
            t0 = time.perf_counter()
            with self._storage.read() as txn:
                get = txn.get
                for i in todo:
                    values[i] = get(keys[i], None, db)
                snapshot = txn.id()
            return time.perf_counter() - t0, snapshot

        done = list(pool.map(work, range(min(READ_WORKERS, n))))
        if len({snapshot for _, snapshot in done}) > 1:
            return self._read(keys)
        per_get = sum(t for t, _ in done) / max(n, 1)
        if all(values):
            return b"".join(values), None, per_get
        found = np.array([v is not None for v in values], dtype=bool)
        return b"".join([v for v in values if v is not None]), found, per_get

    def _read(self, keys: Sequence[bytes], ahead: bool = False) -> tuple[bytes, np.ndarray | None, float] | None:
        """(joined values, found mask or None, seconds per get) in one read transaction.

        The transaction hands out views of the map (buffers), joined before it
        ends: one copy per value instead of a bytes object each, then the join
        (~20 us less for 80 reranked 384-d float32 rows at 1M).
        ahead: first have the kernel read the keys' leaf pages, all at once;
        None when none could be found (nothing was read)."""
        db = self._db
        start = time.perf_counter()
        with self._storage.read(buffers=True) as txn:
            if ahead:
                readahead = self._storage.readahead
                pages = readahead.pages(txn.id(), self._db_name, keys)
                if not len(pages):
                    return None
                readahead.advise(pages)
            get = txn.get
            values = [get(key, None, db) for key in keys]
            # stored vectors are never empty, so only a missing key is falsy; `None in
            # values` compares each memoryview with None: 12 us per 100 against 0.5
            if all(values):
                found = None
                raw = b"".join(values)
            else:
                found = np.array([v is not None for v in values], dtype=bool)
                raw = b"".join([v for v in values if v is not None])
        return raw, found, (time.perf_counter() - start) / max(len(keys), 1)
