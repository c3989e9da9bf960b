"""The LMDB environment of one database directory.

Rules this module enforces (py-lmdb's own):
- never `writemap` (a full disk would then kill the process with SIGBUS);
- `readahead=False`, since reranking reads are random;
- one write transaction at a time (the write lock), committed synchronously
  unless the database was opened with `sync=False`;
- the map grows under an exclusive lock, when no transaction of this process
  is open (py-lmdb requires it), up to `max_map_size`;
- a lock file stops a second handle, in this or another process, opening the
  same directory.
"""
from __future__ import annotations

import fcntl
import os
import resource
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import lmdb

from ..errors import (
    DatabaseClosedError,
    DatabaseLockedError,
    FormatVersionError,
    InternalError,
    StorageFullError,
)
from .readahead import LeafReadahead
from .rwlock import RWLock

FORMAT_VERSION = 1
DEFAULT_MAP_SIZE = 1 << 30  # 1 GiB to start; sparse on disk, grows on demand
DEFAULT_MAX_MAP_SIZE = 1 << 40  # 1 TiB ceiling; lower it to cap disk use
MAX_DBS = 2048  # named sub-databases: 6 per collection
_LOCK_NAME = "vecstore.lock"
READ_WORKERS = 8  # threads for reads that go to the disk (fetch.py)
_T = TypeVar("_T")


class Storage:
    def __init__(
        self,
        path: str | os.PathLike,
        *,
        sync: bool = True,
        map_size: int = DEFAULT_MAP_SIZE,
        max_map_size: int = DEFAULT_MAX_MAP_SIZE,
    ) -> None:
        self.path = os.fspath(path)
        os.makedirs(self.path, exist_ok=True)
        self.sync = sync
        self.max_map_size = max(max_map_size, map_size)
        self._lock_fd = _acquire_dir_lock(self.path)
        self._pool: ThreadPoolExecutor | None = None  # see reader_pool
        self._pool_lock = threading.Lock()
        self._closing = False
        try:
            self.env = lmdb.open(
                self.path,
                map_size=map_size,
                max_dbs=MAX_DBS,
                subdir=True,
                readahead=False,
                writemap=False,
                sync=sync,
                metasync=sync,
                max_readers=1024,
                lock=True,
            )
        except Exception:
            os.close(self._lock_fd)
            raise
        # An existing file may already be larger than the map we asked for.
        self.map_size = max(map_size, self.env.info()["map_size"])
        try:
            self.readahead = LeafReadahead(_data_file(self.path), self.env.stat()["psize"])  # see readahead.py
        except Exception:
            self.env.close()
            os.close(self._lock_fd)
            raise
        self._txn_lock = RWLock()  # shared: any transaction; exclusive: resize, close
        self.write_lock = threading.RLock()  # one writer at a time
        self._dbs: dict[str, Any] = {}
        self._closed = False
        self._main = self.env.open_db(b"vecstore.meta")
        self._check_format()

    # -- format ---------------------------------------------------------------
    def _check_format(self) -> None:
        def check(txn: lmdb.Transaction) -> None:
            raw = txn.get(b"format_version", db=self._main)
            if raw is None:
                txn.put(b"format_version", str(FORMAT_VERSION).encode(), db=self._main)
            elif int(raw) != FORMAT_VERSION:
                raise FormatVersionError(
                    f"database at {self.path} has format version {int(raw)}, "
                    f"this vecstore reads version {FORMAT_VERSION}"
                )

        self.write(check)

    @property
    def main_db(self) -> Any:
        return self._main

    # -- transactions ---------------------------------------------------------
    def read(self, buffers: bool = False) -> "_ReadTxn":
        """Context manager: a read transaction, released (with its reader slot) on exit.

        buffers: gets return memoryviews of the map, valid only inside it."""
        return _ReadTxn(self, buffers)

    def write(self, fn: Callable[[lmdb.Transaction], _T]) -> _T:
        """Run fn in one write transaction and commit it durably.

        fn must not change state outside the transaction: when the map is full
        it is aborted and run again on a larger map.
        """
        with self.write_lock:
            while True:
                with self._txn_lock.shared():
                    self._check_open()
                    txn = self.env.begin(write=True)
                    try:
                        result = fn(txn)
                        txn.commit()
                        return result
                    except lmdb.MapFullError:
                        txn.abort()
                    except lmdb.Error as exc:
                        txn.abort()
                        if self._out_of_space():
                            raise StorageFullError(
                                f"no space left for {self.path} (disk full or file size limit reached): {exc}; "
                                "nothing of this batch was written; free space and retry"
                            ) from None
                        raise InternalError(f"LMDB write to {self.path} failed: {exc}") from None
                    except BaseException:
                        txn.abort()
                        raise
                self._grow()

    def _out_of_space(self) -> bool:
        """LMDB reports a short write as EIO, so ask the file system whether a
        failed commit ran out of room (disk or the process's file size limit)."""
        try:
            return _disk_nearly_full(self.path) or _file_limit_reached(self.path)
        except OSError:
            return False

    def _grow(self) -> None:
        with self._txn_lock.exclusive():
            if self.map_size >= self.max_map_size:
                raise StorageFullError(
                    f"database at {self.path} reached its size limit of {self.max_map_size} bytes "
                    "(max_map_size); delete points or reopen with a larger limit"
                )
            new_size = min(self.map_size * 2, self.max_map_size)
            self.env.set_mapsize(new_size)
            self.map_size = new_size

    # -- named sub-databases ----------------------------------------------------
    def open_db(self, name: str, txn: lmdb.Transaction, *, create: bool) -> Any:
        """Open (or create, inside write txn) a named sub-database.

        The handle is cached by `remember_db` only after the txn commits: a
        handle opened in an aborted transaction is invalid.
        """
        handle = self._dbs.get(name)
        if handle is not None:
            return handle
        return self.env.open_db(name.encode(), txn=txn, create=create)

    def remember_db(self, name: str, handle: Any) -> None:
        self._dbs[name] = handle

    def forget_db(self, name: str) -> None:
        self._dbs.pop(name, None)

    def copy_to(self, dest: str) -> None:
        """Consistent, compacted copy of the environment (LMDB copies inside one
        read transaction, so concurrent writers neither block nor tear it)."""
        with self._txn_lock.shared():
            self._check_open()
            self.env.copy(dest, compact=True)

    def file_bytes(self) -> int:
        """Size of LMDB's data file: the database's whole footprint on disk."""
        return _data_file_bytes(self.path)

    def read_file_through(self) -> None:
        """Read the data file once, front to back, so its pages are cached before
        a walk over most of them. The map has readahead off (reranks read at
        random), so such a walk would fault in one 4 KiB page per disk read:
        17 s for 1M x 384 float16 vectors after a cache drop here, against
        1.2 s for this sequential read."""
        fd = os.open(_data_file(self.path), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            buf = bytearray(_READ_THROUGH_CHUNK)
            while os.readv(fd, [buf]) == len(buf):
                pass
        finally:
            os.close(fd)

    # -- lifecycle ----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DatabaseClosedError(f"database at {self.path} is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def reader_pool(self) -> ThreadPoolExecutor | None:
        """Threads for reads that wait on the disk (see fetch.py), started on
        first use; None once closing has begun."""
        with self._pool_lock:
            if self._closing:
                return None
            if self._pool is None:
                self._pool = ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="vecstore-read")
            return self._pool

    def close(self) -> None:
        """Wait for open transactions, then close the environment and the lock."""
        with self._pool_lock:
            self._closing = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)  # its reads hold read transactions
        with self.write_lock, self._txn_lock.exclusive():
            if self._closed:
                return
            self._closed = True
            self.env.close()
            self.readahead.close()
            os.close(self._lock_fd)


def _acquire_dir_lock(path: str) -> int:
    fd = os.open(os.path.join(path, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseLockedError(
            f"database at {path} is already open in another process or handle; "
            "close it first (or talk to it through `vecstore serve`)"
        ) from None
    return fd


_MIN_FREE_BYTES = 64 << 20


def _disk_nearly_full(path: str) -> bool:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize < _MIN_FREE_BYTES


def _file_limit_reached(path: str) -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return soft != resource.RLIM_INFINITY and _data_file_bytes(path) + _MIN_FREE_BYTES > soft


_READ_THROUGH_CHUNK = 8 << 20


def _data_file(path: str) -> str:
    return os.path.join(path, "data.mdb")


def _data_file_bytes(path: str) -> int:
    return os.path.getsize(_data_file(path))


class _ReadTxn:
    """`Storage.read()`: a plain class, not a generator context manager,
    because every search opens one and the generator cost more than LMDB's
    begin/abort."""

    __slots__ = ("_storage", "_txn", "_buffers")

    def __init__(self, storage: Storage, buffers: bool = False) -> None:
        self._storage = storage
        self._txn: lmdb.Transaction | None = None
        self._buffers = buffers

    def __enter__(self) -> lmdb.Transaction:
        storage = self._storage
        lock = storage._txn_lock.shared()
        lock.__enter__()
        try:
            storage._check_open()
            self._txn = storage.env.begin(write=False, buffers=self._buffers)
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        return self._txn

    def __exit__(self, *exc: object) -> None:
        try:
            self._txn.abort()
        finally:
            self._txn = None
            self._storage._txn_lock.shared().__exit__(None, None, None)
