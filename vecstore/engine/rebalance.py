"""The background thread that retrains a collection's drifted IVF lists.

A write that finds the lists drifted (drift.py) calls `start`, which returns
at once: the retrain (training.train, mode "rebalance") runs on its own
thread while searches and writes go on, as during `optimize()`. At most one
runs per collection; `stop` (close, drop) asks it to give up at its next
step and waits for it, so no thread touches the environment once it is
closed. A failure is logged and counted, never raised: the collection keeps
the lists it has and a later write may try again.
"""
from __future__ import annotations

import threading
from typing import Callable


class Cancelled(Exception):
    """Raised inside a run when `stop` was called: the run gives up, nothing installed."""


class Rebalancer:
    def __init__(self, name: str, run: Callable[[Callable[[], None]], bool], due: Callable[[], str | None],
                 log: Callable[[str], None]) -> None:
        """run(check_stop) does one retrain, calling check_stop between its
        steps (which raises Cancelled once stop was asked); it returns whether
        it retrained (False: nothing was due any more, or another training
        ran). due() says why a retrain is due now (None: it is not): a run
        that ends with one due again (points written during it drifted
        further) is followed by another on the same thread."""
        self._name = name
        self._run = run
        self._due = due
        self._log = log
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.runs = 0  # retrains installed
        self.failures = 0
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None

    def start(self, reason: str) -> bool:
        """Start a retrain unless one runs or stopping was asked; never blocks on it."""
        with self._lock:
            if self._stopping or self._thread is not None:
                return False
            self._thread = threading.Thread(target=self._body, args=(reason,), daemon=True,
                                            name=f"vecstore-rebalance-{self._name}")
            self._thread.start()
            return True

    def _check_stop(self) -> None:
        if self._stopping:
            raise Cancelled()

    def _body(self, reason: str) -> None:
        try:
            while reason is not None:
                self._log(f"collection '{self._name}': IVF lists drifted ({reason}); retraining in the background")
                if not self._run(self._check_stop):
                    break
                self.runs += 1
                self._check_stop()
                reason = self._due()
        except Cancelled:
            pass
        except Exception as exc:  # noqa: BLE001 - a background failure must not escape: see the module doc
            if not self._stopping:  # an error caused by the close or drop that stops it is a cancel
                self.failures += 1
                self.last_error = repr(exc)
                self._log(f"collection '{self._name}': background IVF retrain failed, keeping the current lists: {exc!r}")
        finally:
            with self._lock:
                self._thread = None

    def stop(self) -> None:
        """No new runs; ask a running one to give up and wait until it has."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def wait(self) -> None:
        """Wait for a running retrain to end (it is not asked to stop)."""
        with self._lock:
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def resume(self) -> None:
        """Allow runs again (a drop that failed after `stop`)."""
        with self._lock:
            self._stopping = False

    def figures(self) -> dict:
        return {"running": self.running, "runs": self.runs, "failures": self.failures, "last_error": self.last_error}
