"""Graceful shutdown under load: `vecstore serve` gets SIGTERM while client
threads search and upsert without pause and one import stream is held open.

Pinned: every call either succeeds or gets UNAVAILABLE, nothing else
(CANCELLED, INTERNAL, DatabaseClosedError's FAILED_PRECONDITION all fail the
test); every call that ended before SIGTERM succeeded; once the server refuses
calls, every later call is refused too, while the process is still alive
finishing the stream; the stream in flight at SIGTERM completes; the daemon
exits 0; and the reopened directory holds every acknowledged point byte-equal,
and nothing else but, at most, the whole batch each writer had in flight.
"""
import signal
import threading
import time

import numpy as np

import vecstore

from daemon import Daemon

DIM = 16
BATCH = 20
UPSERTERS = 3
SEARCHERS = 3
STREAM_BASE = 10_000_000  # ids of the held import stream
STREAM_BATCHES = 4
GRACE = 30  # long enough that the held stream is never cancelled


def batch_of(thread: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    lo = (thread + 1) * 1_000_000 + b * BATCH
    x = np.random.default_rng([7, thread, b]).standard_normal((BATCH, DIM)).astype(np.float32)
    return np.arange(lo, lo + BATCH, dtype=np.int64), x


def stream_batch(b: int) -> tuple[np.ndarray, np.ndarray]:
    lo = STREAM_BASE + b * BATCH
    x = np.random.default_rng([8, b]).standard_normal((BATCH, DIM)).astype(np.float32)
    return np.arange(lo, lo + BATCH, dtype=np.int64), x


def status_of(exc: vecstore.VecstoreError) -> str:
    return exc.status  # the gRPC status name the client's exception class stands for


class Worker(threading.Thread):
    """Calls without pause until `done`, or until refused three times in a row."""

    def __init__(self, address: str, kind: str, index: int, done: threading.Event):
        super().__init__(daemon=True)
        self.client = vecstore.connect(address, timeout=60)
        self.col = self.client.get_collection("c")
        self.kind, self.index, self.done = kind, index, done
        self.calls: list[tuple[float, float, str, int]] = []  # (start, end, status, batch or -1)
        self.rng = np.random.default_rng(100 + index)
        self.errors: set[str] = set()  # distinct failures, for the assertion messages

    def ok_calls(self) -> int:
        return sum(status == "OK" for _, _, status, _ in self.calls)

    def run(self):
        b = refused = 0
        while not self.done.is_set() and refused < 3:
            start = time.monotonic()
            try:
                if self.kind == "upsert":
                    self.col.upsert(*batch_of(self.index, b))
                else:
                    self.col.search(self.rng.standard_normal(DIM).astype(np.float32), k=5)
                status = "OK"
            except vecstore.VecstoreError as exc:
                status = status_of(exc)
                self.errors.add(f"{type(exc).__name__}: {exc}")
            self.calls.append((start, time.monotonic(), status, b if self.kind == "upsert" else -1))
            refused = refused + 1 if status == "UNAVAILABLE" else 0
            b += self.kind == "upsert"
        self.client.close()


def held_stream(col, started: threading.Event, release: threading.Event, result: dict) -> None:
    """import_batches whose batches come two now, two after `release`: a call in flight at SIGTERM."""

    def batches():
        for b in range(STREAM_BATCHES):
            if b == 2:
                started.set()  # the first two messages are on their way: the call has started
                release.wait(60)
            yield stream_batch(b)

    try:
        result["written"] = col.import_batches(batches(), timeout=60)
    except vecstore.VecstoreError as exc:
        result["error"] = exc


def wait_until(predicate, what: str, limit: float = 60) -> None:
    end = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_sigterm_under_load(tmp_path):
    data_dir = tmp_path / "db"
    seed_x = np.random.default_rng([9]).standard_normal((200, DIM)).astype(np.float32)
    daemon = Daemon(data_dir, "--no-warm-up", "--grace", str(GRACE))
    done, started, release, stream = threading.Event(), threading.Event(), threading.Event(), {}
    workers: list[Worker] = []
    try:
        daemon.wait_serving()
        with vecstore.connect(daemon.address) as client:
            col = client.create_collection("c", dim=DIM, quantization=vecstore.BinaryQuantization(train_size=300))
            col.upsert(np.arange(200), seed_x)
        workers = [Worker(daemon.address, "upsert", i, done) for i in range(UPSERTERS)]
        workers += [Worker(daemon.address, "search", UPSERTERS + i, done) for i in range(SEARCHERS)]
        for w in workers:
            w.start()
        wait_until(lambda: all(w.ok_calls() >= 5 for w in workers), "every worker to get going")

        stream_client = vecstore.connect(daemon.address, timeout=60)
        stream_col = stream_client.get_collection("c")
        streamer = threading.Thread(target=held_stream, args=(stream_col, started, release, stream), daemon=True)
        streamer.start()
        assert started.wait(30)
        # the server has written the stream's first message: the call is in its hands
        wait_until(lambda: len(stream_col.get([STREAM_BASE]).ids) == 1, "the stream's first batch")

        t_sig = time.monotonic()
        daemon.proc.send_signal(signal.SIGTERM)

        # New calls are refused, by the server itself, while it waits for the stream.
        with vecstore.connect(daemon.address, timeout=30) as probe:
            refusal = []

            def refused() -> bool:
                try:
                    probe.list_collections()
                except vecstore.VecstoreError as exc:
                    refusal.append(exc)
                    return True
                return False

            wait_until(refused, "the server to refuse new calls")
            t_refused = time.monotonic()
            assert status_of(refusal[0]) == "UNAVAILABLE" and "shutting down" in str(refusal[0]), refusal[0]
            # every worker stops after three refusals in a row
            wait_until(lambda: not any(w.is_alive() for w in workers), "every worker to be refused")
            assert daemon.proc.poll() is None, "the daemon exited before the stream in flight finished"

        release.set()
        streamer.join(60)
        assert stream.get("written") == STREAM_BATCHES * BATCH, stream  # the call in flight completed
        stream_client.close()

        code, err = daemon.wait(timeout=GRACE + 30)
        assert code == 0, err
        assert "storage closed, bye" in "".join(daemon.lines)
    finally:
        done.set()
        release.set()
        for w in workers:
            w.join(60)
        daemon.kill()

    # -- what the clients saw ----------------------------------------------------------
    calls = [c for w in workers for c in w.calls]
    assert {status for _, _, status, _ in calls} <= {"OK", "UNAVAILABLE"}, set().union(*(w.errors for w in workers))
    assert all(status == "OK" for _, end, status, _ in calls if end < t_sig), "a call failed before SIGTERM"
    late = {status for start, _, status, _ in calls if start > t_refused}
    assert late <= {"UNAVAILABLE"}, "a call made after the server refused one was served"
    for w in workers:
        statuses = [status for _, _, status, _ in w.calls]
        assert statuses[-3:] == ["UNAVAILABLE"] * 3  # it stopped because it was refused
        first_refusal = statuses.index("UNAVAILABLE")
        assert set(statuses[first_refusal:]) == {"UNAVAILABLE"}, f"worker {w.index} was served after a refusal"

    # -- the data directory ----------------------------------------------------------------
    upserters = [w for w in workers if w.kind == "upsert"]
    acked = [(w.index, b) for w in upserters for _, _, status, b in w.calls if status == "OK"]
    # refused calls never ran; at most each worker's first refused batch, the
    # one in flight at SIGTERM, could have been written without an answer
    in_flight = [(w.index, next(b for _, _, status, b in w.calls if status != "OK")) for w in upserters]
    expected = {int(i): v for i, v in zip(range(200), seed_x)}
    for ids, x in [batch_of(t, b) for t, b in acked] + [stream_batch(b) for b in range(STREAM_BATCHES)]:
        expected.update(zip(ids.tolist(), x))
    maybe = {int(i) for t, b in in_flight for i in batch_of(t, b)[0]}

    with vecstore.open(data_dir) as db:  # opens cleanly: lock released, format and codes fine
        col = db.get_collection("c")
        got = col.get(np.array(sorted(set(expected) | maybe), dtype=np.int64))
        present = {int(i): v for i, v in zip(got.ids, got.vectors)}
        assert col.count() == len(present), "points outside the acknowledged and in-flight batches (phantoms)"
        missing = [i for i in expected if i not in present]
        assert not missing, f"{len(missing)} acknowledged points lost, e.g. {missing[:5]}"
        assert all(present[i].tobytes() == v.tobytes() for i, v in expected.items()), "a vector changed"
        extra = set(present) - set(expected)
        for t, b in in_flight:  # whole or absent, never partial
            ids = set(batch_of(t, b)[0].tolist())
            assert not (ids & extra) or ids <= extra, f"batch {(t, b)} is partial"
        sample = np.array(sorted(present)[:: max(1, len(present) // 200)])
        found = col.search(np.stack([present[i] for i in sample]), k=1).ids[:, 0]
        assert (found == sample).all(), "a stored point is not found by its own vector"
