"""The LMDB environment of one database directory.

Rules this module enforces (py-lmdb's own):
- never `writemap` (a full disk would then kill the process with SIGBUS);
- `readahead=False`, since reranking reads are random;
- one write transaction at a time (the write lock), committed synchronously
  unless the database was opened with `sync=False`;
- the map grows under an exclusive lock, when no transaction of this process
  is open (py-lmdb requires it), up to `max_map_size`;
- an exclusive lock (flock of the directory and of vecstore.lock) stops a
  second writing handle, in this or another process; read-only handles
  (other processes) may open beside it;
- the data file is checked against its meta pages before it is mapped
  (integrity.py): a truncated file is refused, never mapped (SIGBUS).
"""
from __future__ import annotations

import errno
import fcntl
import os
import resource
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

import lmdb

from ..errors import (
    CorruptDatabaseError,
    DatabaseClosedError,
    DatabaseLockedError,
    FormatVersionError,
    NotFoundError,
    ReadOnlyError,
    StorageError,
    StorageFullError,
)
from .integrity import VECSTORE_LOCK_FILE, check_data_file, has_vecstore_files
from .readahead import LeafReadahead
from .rwlock import RWLock

FORMAT_VERSION = 1
DEFAULT_MAP_SIZE = 1 << 30  # 1 GiB to start; sparse on disk, grows on demand
DEFAULT_MAX_MAP_SIZE = 1 << 40  # 1 TiB ceiling; lower it to cap disk use
MAX_DBS = 2048  # named sub-databases: 6 per collection
_MAIN_DB = "vecstore.meta"
# errnos that mean the write ran out of room (disk, quota, file size limit)
_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
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
        read_only: bool = False,
    ) -> None:
        self.path = os.fspath(path)
        self.read_only = read_only
        if read_only:
            if not os.path.exists(_data_file(self.path)) and not has_vecstore_files(self.path):
                raise NotFoundError(f"no database at {self.path} to open read-only")
        else:
            os.makedirs(self.path, exist_ok=True)
        self.sync = sync
        self.max_map_size = max(max_map_size, map_size)
        had_files = has_vecstore_files(self.path)  # before the lock file below creates one
        self._lock_fds = _ProcessLock.shared(self.path) if read_only else _ProcessLock.exclusive(self.path)
        self._pool: ThreadPoolExecutor | None = None  # see reader_pool
        self._pool_lock = threading.Lock()
        self._closing = False
        try:
            check_data_file(self.path, had_files=had_files)  # never map a file LMDB would SIGBUS on
            self.env = lmdb.open(
                self.path,
                map_size=map_size,
                max_dbs=MAX_DBS,
                subdir=True,
                readonly=read_only,
                create=not read_only,
                readahead=False,
                writemap=False,
                sync=sync,
                metasync=sync,
                max_readers=1024,
                lock=True,
            )
        except BaseException:
            self._lock_fds.release()
            raise
        # An existing file may already be larger than the map we asked for.
        self.map_size = max(map_size, self.env.info()["map_size"])
        try:
            self.readahead = LeafReadahead(_data_file(self.path), self.env.stat()["psize"])  # see readahead.py
        except BaseException:
            self.env.close()
            self._lock_fds.release()
            raise
        self._txn_lock = RWLock()  # shared: any transaction; exclusive: resize, close
        self.write_lock = threading.RLock()  # one writer at a time
        self._dbs: dict[str, Any] = {}
        self._closed = False
        try:
            self._main = self.open_existing(_MAIN_DB) if read_only else self.env.open_db(_MAIN_DB.encode())
            self._check_format()
        except BaseException:
            self.close()
            raise

    # -- format ---------------------------------------------------------------
    def _check_format(self) -> None:
        def check(txn: lmdb.Transaction) -> None:
            raw = txn.get(b"format_version", db=self._main) if self._main is not None else None
            if raw is None:
                if self.read_only:
                    raise CorruptDatabaseError(f"database at {self.path} has no format_version key in vecstore.meta")
                txn.put(b"format_version", str(FORMAT_VERSION).encode(), db=self._main)
                return
            try:
                version = int(bytes(raw))
            except ValueError:
                raise CorruptDatabaseError(
                    f"database at {self.path}: key format_version of vecstore.meta holds {bytes(raw)[:40]!r}, "
                    "not an integer"
                ) from None
            if version != FORMAT_VERSION:
                raise FormatVersionError(
                    f"database at {self.path} has format version {version}, "
                    f"this vecstore reads version {FORMAT_VERSION}"
                )

        if self.read_only:
            with self.read() as txn:
                check(txn)
        else:
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
        if self.read_only:
            raise ReadOnlyError(f"database at {self.path} is open read-only")
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
                        if self._out_of_space(exc):
                            raise StorageFullError(
                                f"no space left for {self.path} (disk full or file size limit reached): {exc}; "
                                "nothing of this batch was written; free space and retry"
                            ) from None
                        raise StorageError(
                            f"LMDB write to {self.path} failed: {exc}; nothing of this batch was written"
                        ) from None
                    except BaseException:
                        txn.abort()
                        raise
                self._grow()

    def _out_of_space(self, exc: lmdb.Error) -> bool:
        """Whether a failed write ran out of room. An errno of space says so;
        but LMDB reports a short write (the kernel wrote what fit) as EIO, so
        for EIO measure: the process's file size limit reached, or the file
        system unable to allocate even a little more. Any other error (a bad
        page, a value LMDB refuses) is not about space, however full the disk."""
        code = getattr(exc, "code", None)
        if code in _SPACE_ERRNOS:
            return True
        if code != errno.EIO:
            return False
        try:
            return _file_limit_reached(self.path) or _disk_full(self.path)
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

    def open_existing(self, name: str) -> Any:
        """The handle of an existing named sub-database, None if it does not
        exist (read-only handles: they cannot create one). A read-only
        environment opens it in a read transaction of its own."""
        handle = self._dbs.get(name)
        if handle is not None:
            return handle
        try:
            handle = self.env.open_db(name.encode(), create=False)
        except lmdb.NotFoundError:
            return None
        self._dbs[name] = handle
        return handle

    def last_txn_id(self) -> int:
        """The id of the newest committed transaction (any process's)."""
        with self.read() as txn:
            return txn.id()

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
            self._lock_fds.release()

    def resize_to_file(self) -> None:
        """Adopt the map size another process grew the environment to (LMDB
        refuses a transaction whose snapshot lies past this process's map)."""
        with self._txn_lock.exclusive():
            self._check_open()
            self.env.set_mapsize(0)  # 0: the size the newest meta page records
            self.map_size = self.env.info()["map_size"]


class _ProcessLock:
    """Which handle may write: an exclusive flock on the directory itself and
    on vecstore.lock. The directory's lock survives someone deleting the lock
    file (a second writer would otherwise lock a new file of the same name);
    the file's lock is what earlier versions of vecstore take. A read-only
    handle takes neither (LMDB lets readers in beside one writer) but, like a
    writer, refuses a second handle on the same directory in this process:
    LMDB must not open one environment twice in a process."""

    _open_here: set[tuple[int, int]] = set()  # (st_dev, st_ino) of directories open in this process
    _here_lock = threading.Lock()

    def __init__(self, path: str, fds: list[int], ident: tuple[int, int]) -> None:
        self.path, self._fds, self._ident = path, fds, ident

    @classmethod
    def _claim(cls, path: str) -> tuple[int, int]:
        st = os.stat(path)
        ident = (st.st_dev, st.st_ino)
        with cls._here_lock:
            if ident in cls._open_here:
                raise _locked(path)
            cls._open_here.add(ident)
        return ident

    @classmethod
    def shared(cls, path: str) -> "_ProcessLock":
        return cls(path, [], cls._claim(path))

    @classmethod
    def exclusive(cls, path: str) -> "_ProcessLock":
        ident = cls._claim(path)
        fds: list[int] = []
        try:
            fds.append(os.open(path, os.O_RDONLY | os.O_DIRECTORY))
            fds.append(os.open(os.path.join(path, VECSTORE_LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644))
            for fd in fds:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException as exc:
            cls(path, fds, ident).release()
            if isinstance(exc, BlockingIOError):
                raise _locked(path) from None
            raise
        return cls(path, fds, ident)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        with self._here_lock:
            self._open_here.discard(self._ident)


def _locked(path: str) -> DatabaseLockedError:
    return DatabaseLockedError(
        f"database at {path} is already open in another process or handle; "
        "close it first (or talk to it through `vecstore serve`, or open it read_only=True)"
    )


_MIN_FREE_BYTES = 64 << 20
_PROBE_BYTES = 1 << 20


def _disk_full(path: str) -> bool:
    """Whether the file system has no room: too little free space to allocate
    a small probe file (allocating, not just statvfs, so quotas count too)."""
    st = os.statvfs(path)
    if st.f_bavail * st.f_frsize >= _MIN_FREE_BYTES:
        return False
    probe = os.path.join(path, ".vecstore-space-probe")
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        return exc.errno in _SPACE_ERRNOS
    try:
        os.posix_fallocate(fd, 0, _PROBE_BYTES)
        return False
    except OSError as exc:
        return exc.errno in _SPACE_ERRNOS
    finally:
        os.close(fd)
        os.unlink(probe)


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
        except lmdb.MapResizedError:
            # another process (the writer) grew the map past ours: adopt its size
            lock.__exit__(None, None, None)
            storage.resize_to_file()
            return self.__enter__()
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
