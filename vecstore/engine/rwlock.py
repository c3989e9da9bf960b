"""A writer-preferring readers-writer lock.

Searches take it shared for the microseconds they read RAM codes; the writer
takes it exclusive only to publish a committed batch, so readers never wait on
LMDB I/O and never see half a batch.

`shared()` and `exclusive()` return small reusable guard objects rather
than generator context managers: a search takes two shared locks, and the
generator machinery cost more than the locking itself.
"""
from __future__ import annotations

import threading


class _Shared:
    __slots__ = ("_lock",)

    def __init__(self, lock: "RWLock") -> None:
        self._lock = lock

    def __enter__(self) -> None:
        lock = self._lock
        with lock._cond:
            while lock._writer or lock._writers_waiting:
                lock._cond.wait()
            lock._readers += 1

    def __exit__(self, *exc: object) -> None:
        lock = self._lock
        with lock._cond:
            lock._readers -= 1
            if lock._readers == 0:
                lock._cond.notify_all()


class _Exclusive:
    __slots__ = ("_lock",)

    def __init__(self, lock: "RWLock") -> None:
        self._lock = lock

    def __enter__(self) -> None:
        lock = self._lock
        with lock._cond:
            lock._writers_waiting += 1
            try:
                while lock._writer or lock._readers:
                    lock._cond.wait()
            finally:
                lock._writers_waiting -= 1
            lock._writer = True

    def __exit__(self, *exc: object) -> None:
        lock = self._lock
        with lock._cond:
            lock._writer = False
            lock._cond.notify_all()


class RWLock:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._shared = _Shared(self)
        self._exclusive = _Exclusive(self)

    def shared(self) -> _Shared:
        """Context manager: held by any number of readers at once."""
        return self._shared

    def exclusive(self) -> _Exclusive:
        """Context manager: held by one writer, with no readers."""
        return self._exclusive
