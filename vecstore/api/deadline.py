"""The deadline of the call being served, for a layer that waits on others.

A server sets it around each call from its transport (gRPC's
`time_remaining()`), an in-process caller with a `timeout=`; whatever waits
on other processes for the call (the cluster router waiting for shard
replicas) waits no longer. A context variable rather than an argument: the
interface's signatures stay the engine's and the client's, and the embedded
engine, which waits on no one, just never reads it. Times are
`time.monotonic()` seconds.
"""
from __future__ import annotations

import functools
import inspect
import math
import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from ..errors import InvalidArgumentError

_DEADLINE: ContextVar[float | None] = ContextVar("vecstore_call_deadline", default=None)


def current() -> float | None:
    """When the call being served must have its answer (None: no deadline)."""
    return _DEADLINE.get()


def check_timeout(timeout: Any) -> float | None:
    """A `timeout=` argument: None, or seconds > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise InvalidArgumentError(f"timeout must be None or a number of seconds > 0, got {timeout!r}")
    return float(timeout)


@contextmanager
def within(seconds: float | None) -> Iterator[None]:
    """The code inside must answer within `seconds` from now (None: no limit
    of its own); a sooner deadline set outside stays."""
    if seconds is None:
        yield
        return
    at = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(at if outer is None else min(outer, at))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def takes_timeout(method: Callable[..., Any]) -> Callable[..., Any]:
    """`method` with a keyword-only `timeout=None` appended (seconds, as the
    gRPC client's): the call runs `within` it."""

    @functools.wraps(method)
    def timed(*args: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        with within(check_timeout(timeout)):
            return method(*args, **kwargs)

    sig = inspect.signature(method)
    extra = inspect.Parameter("timeout", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="float | None")
    timed.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    return timed
