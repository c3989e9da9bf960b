"""Admission of vecstore calls, for shutdown.

Closing the gate makes new calls fail with UNAVAILABLE at once, while the
server still answers, and lets shutdown wait for the calls already running.
grpc's own graceful stop, once begun, drops calls that arrive (the client
sees CANCELLED or a refused connection), and after cancelling calls at the
grace deadline it does not wait for their handlers to return.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

import grpc

from ..errors import UnavailableError
from .status import abort


class CallGate:
    """Admits vecstore calls and counts the running ones; once closed, refuses
    new calls with UNAVAILABLE while those already admitted finish."""

    def __init__(self) -> None:
        self._running = 0
        self._open = True
        self._changed = threading.Condition()

    @contextmanager
    def admitted(self, context: grpc.ServicerContext) -> Iterator[None]:
        with self._changed:
            admit = self._open
            self._running += admit
        if not admit:
            abort(context, UnavailableError("the server is shutting down; retry once it is back, or on another server"))
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._open = False

    @property
    def running(self) -> int:
        return self._running

    def wait_idle(self, timeout: float) -> bool:
        """True once no admitted call is running; False after `timeout` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running == 0, timeout)
