"""Shutdown always ends: after undecodable stream messages (a grpc bug used to
leave such a call open forever, so `stop()` never returned and the daemon
ignored SIGTERM), and with a handler that never returns (`stop()` gives up
after grace + STOP_MARGIN_SECONDS and says so).

Every wait here has a timeout, so a regression fails instead of hanging."""
import threading
import time

import grpc
import numpy as np

import vecstore
from vecstore.rpc import convert as C
from vecstore.rpc.server import STOP_MARGIN_SECONDS, RpcServer
from vecstore.rpc.v1 import vecstore_pb2 as pb

from conftest import serving
from daemon import Daemon

UPSERT_STREAM = "/vecstore.v1.Points/UpsertStream"
UNDECODABLE = b"\xff\xff"  # a field tag with an unterminated varint


def stop_in_thread(server: RpcServer, grace: float, limit: float) -> dict:
    """Run server.stop(grace) in a thread; {} if it did not return within `limit` s."""
    result = {}
    stopper = threading.Thread(target=lambda: result.setdefault("clean", server.stop(grace)), daemon=True)
    stopper.start()
    stopper.join(limit)
    return result


def test_stop_returns_after_streams_with_undecodable_messages(tmp_path):
    ctx = serving(tmp_path / "db")
    address = ctx.__enter__()
    try:
        with vecstore.connect(address) as client:
            client.create_collection("docs", dim=4, quantization="none")
        # a valid message first too, so that the bad one is not always the stream's first
        valid = pb.UpsertRequest(collection=C.ref_to_proto("docs"), ids=[1],
                                 vectors=C.vectors_to_proto(np.ones((1, 4), np.float32))).SerializeToString()
        shapes = [[UNDECODABLE], [UNDECODABLE] * 2, [valid, UNDECODABLE], [UNDECODABLE] * 5, [b"\xff" * 1000] * 2]
        with grpc.insecure_channel(address) as channel:
            call = channel.stream_unary(UPSERT_STREAM)
            # the hang was a race (about 1 stream in 5 on this machine): try many times
            for i in range(60):
                try:
                    call(iter(shapes[i % len(shapes)]), timeout=30)
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
                else:
                    raise AssertionError("an undecodable stream message was accepted")
    finally:
        result = stop_in_thread(ctx.server, grace=1, limit=1 + STOP_MARGIN_SECONDS + 30)
        ctx.database.close()
    assert result, "stop() did not return"
    assert result["clean"], "stop() returned, but some call never ended"


def test_stop_gives_up_on_a_handler_that_never_returns(tmp_path, monkeypatch):
    entered, release = threading.Event(), threading.Event()

    def stuck_count(self, *args, **kwargs):
        entered.set()
        release.wait(120)  # ignores cancellation, like a handler stuck in a bug
        return 0

    ctx = serving(tmp_path / "db")
    address = ctx.__enter__()
    client = vecstore.connect(address)
    try:
        col = client.create_collection("docs", dim=4, quantization="none")
        monkeypatch.setattr(vecstore.Collection, "count", stuck_count)
        caller = threading.Thread(target=lambda: _swallow(col.count), daemon=True)
        caller.start()
        assert entered.wait(30)
        result = stop_in_thread(ctx.server, grace=0.2, limit=0.2 + STOP_MARGIN_SECONDS + 30)
        assert result, "stop() did not return"
        assert result["clean"] is False  # it says a call was left running
    finally:
        release.set()
        client.close()
        ctx.database.close()


def _swallow(fn):
    try:
        fn()
    except vecstore.VecstoreError:
        pass  # cancelled at the grace deadline


def test_daemon_exits_on_sigterm_after_streams_with_undecodable_messages(tmp_path):
    daemon = Daemon(tmp_path / "db", "--no-warm-up", "--grace", "1")
    try:
        daemon.wait_serving()
        with grpc.insecure_channel(daemon.address) as channel:
            call = channel.stream_unary(UPSERT_STREAM)
            for _ in range(30):
                try:
                    call(iter([UNDECODABLE] * 2), timeout=30)
                except grpc.RpcError as err:
                    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
        code, err = daemon.stop(timeout=1 + STOP_MARGIN_SECONDS + 30)  # TimeoutExpired: it hung
        assert code == 0, err
        assert "storage closed, bye" in "".join(daemon.lines)
    finally:
        daemon.kill()


def test_daemon_with_a_stuck_handler_still_exits_on_sigterm(tmp_path):
    entered = tmp_path / "entered"
    stuck = (
        "import pathlib, threading, vecstore\n"
        "def stuck_count(self, **kwargs):\n"
        f"    pathlib.Path({str(entered)!r}).touch()\n"
        "    threading.Event().wait()  # forever, ignoring cancellation\n"
        "vecstore.Collection.count = stuck_count\n"
    )
    daemon = Daemon(tmp_path / "db", "--no-warm-up", "--grace", "0.5", patch=stuck)
    try:
        daemon.wait_serving()
        client = vecstore.connect(daemon.address)
        col = client.create_collection("docs", dim=4, quantization="none")
        threading.Thread(target=lambda: _swallow(col.count), daemon=True).start()
        for _ in range(600):  # up to 30 s for the call to reach the handler
            if entered.exists():
                break
            time.sleep(0.05)
        assert entered.exists()
        code, err = daemon.stop(timeout=0.5 + STOP_MARGIN_SECONDS + 30)  # TimeoutExpired: it hung
        client.close()
        assert code == 1, err  # not a clean shutdown, and it says so
        assert "storage closed with calls still running" in "".join(daemon.lines)
        assert "1 handler(s) still running" in err
    finally:
        daemon.kill()
