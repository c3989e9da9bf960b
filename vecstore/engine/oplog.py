"""One debug log line per public collection call: operation, collection,
status, duration.

Lines go to the "vecstore.requests" logger at DEBUG level, as text
(`op=search collection=docs status=OK ms=0.84`) with the same fields in
`record.vecstore` for structured handlers. When the logger is not enabled
for DEBUG the wrapper costs one level check. Nested calls (scroll reading
points through get) log only the outer call, and calls made inside
`logged_by_caller()` not at all: the gRPC server logs each request itself,
with the fields only it knows (method, peer), so a request is one line.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from ..errors import VecstoreError

log = logging.getLogger("vecstore.requests")
_depth = threading.local()
_C = TypeVar("_C", bound=type)


def logged_methods(*names: str) -> Callable[[_C], _C]:
    """Class decorator: wrap the named methods with `_logged`."""

    def wrap(cls: _C) -> _C:
        for name in names:
            setattr(cls, name, _logged(getattr(cls, name), name))
        return cls

    return wrap


@contextmanager
def logged_by_caller() -> Iterator[None]:
    """Engine calls made in this block (on this thread) log nothing: the caller
    accounts for them, in its own line or deliberately not at all."""
    outer = getattr(_depth, "n", 0)
    _depth.n = outer + 1
    try:
        yield
    finally:
        _depth.n = outer


def _logged(fn: Callable[..., Any], op: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not log.isEnabledFor(logging.DEBUG) or getattr(_depth, "n", 0):
            return fn(self, *args, **kwargs)
        status = "OK"
        start = time.perf_counter()
        _depth.n = 1
        try:
            return fn(self, *args, **kwargs)
        except VecstoreError as exc:
            status = exc.status
            raise
        except BaseException:
            status = "INTERNAL"
            raise
        finally:
            _depth.n = 0
            fields = {
                "op": op,
                "collection": getattr(self, "name", "?"),
                "status": status,
                "ms": round((time.perf_counter() - start) * 1000, 3),
                "filtered": kwargs.get("filter") is not None,
            }
            log.debug(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"vecstore": fields})

    return method
