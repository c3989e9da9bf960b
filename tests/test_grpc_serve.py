"""`vecstore serve` as a process: start, health, work, SIGTERM, exit 0, data intact.
And the in-process shutdown contract: NOT_SERVING first, calls in flight finish."""
import os
import signal
import socket
import subprocess
import sys
import threading

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

import vecstore

from conftest import serving
from daemon import NOT_SERVING, ROOT, SERVING, Daemon


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "served"


def test_serve_work_sigterm_restart(data_dir):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    daemon = Daemon(data_dir)
    try:
        daemon.wait_serving()
        with vecstore.connect(daemon.address) as client:
            col = client.create_collection("docs", dim=32, quantization=vecstore.BinaryQuantization(train_size=500))
            assert col.upsert(np.arange(3000), x, [{"i": i} for i in range(3000)]) == 3000
            assert col.search(x[:20], k=5).ids[:, 0].tolist() == list(range(20))
            assert col.get([10]).payloads == [{"i": 10}]
            assert col.delete(np.arange(100, 200)) == 100
            assert col.count() == 2900
            before = col.search(x[:20], k=5)
        code, err = daemon.stop(signal.SIGTERM)
        assert code == 0, err
        assert "storage closed" in "".join(daemon.lines)
    finally:
        daemon.kill()

    # the directory is free again, and everything acknowledged is there
    daemon = Daemon(data_dir)
    try:
        daemon.wait_serving()
        with vecstore.connect(daemon.address) as client:
            col = client.get_collection("docs")
            assert col.count() == 2900 and col.info().trained
            after = col.search(x[:20], k=5)
            np.testing.assert_array_equal(after.ids, before.ids)
            np.testing.assert_allclose(after.scores, before.scores, rtol=1e-6)
            got = col.get([5, 150])
            assert got.ids.tolist() == [5] and got.vectors.tobytes() == x[5].tobytes()
        code, err = daemon.stop(signal.SIGINT)  # Ctrl-C
        assert code == 0, err
    finally:
        daemon.kill()


def test_taken_port_fails_with_a_clean_message(data_dir):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-m", "vecstore", "serve", "--data-dir", str(data_dir), "--port", str(port),
                              "--no-warm-up"], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr


def test_shutdown_goes_not_serving_and_lets_calls_in_flight_finish(tmp_path, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    real_search = vecstore.Collection.search

    def slow_search(self, *args, **kwargs):
        entered.set()
        release.wait(10)
        return real_search(self, *args, **kwargs)

    ctx = serving(tmp_path / "db")
    address = ctx.__enter__()
    client = vecstore.connect(address)
    col = client.create_collection("docs", dim=4, quantization="none")
    col.upsert([1, 2], np.eye(2, 4))
    monkeypatch.setattr(vecstore.Collection, "search", slow_search)

    channel = grpc.insecure_channel(address)
    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=30)
    assert next(watch).status == SERVING

    result = {}
    caller = threading.Thread(target=lambda: result.setdefault("res", col.search(np.eye(1, 4), k=1)))
    caller.start()
    assert entered.wait(10)  # the search is in flight
    stopper = threading.Thread(target=ctx.__exit__, args=(None, None, None))
    stopper.start()
    assert next(watch).status == NOT_SERVING  # health flips before the server goes away
    with pytest.raises(vecstore.UnavailableError, match="shutting down"):  # new calls are refused meanwhile
        client.list_collections()
    release.set()
    caller.join(30)
    stopper.join(30)
    assert not stopper.is_alive()
    assert result["res"].ids.tolist() == [[1]]  # the call in flight completed
    assert ctx.database.closed
    client.close()
    channel.close()


def test_serve_with_metrics_and_json_request_logs(data_dir):
    import json
    import urllib.request

    daemon = Daemon(data_dir, "--no-warm-up", "--metrics-port", "0", "--log-requests", "--log-format", "json")
    try:
        url = daemon._wait_for(r"Prometheus metrics at (http://127\.0\.0\.1:\d+/metrics)").group(1)
        daemon.wait_serving()
        with vecstore.connect(daemon.address) as client:
            col = client.create_collection("docs", dim=4, quantization="none")
            col.upsert([1, 2], np.eye(2, 4), [{"a": 1}, {"a": 2}])
            assert col.count(filter={"a": 2}) == 1
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
        assert 'vecstore_requests_total{code="OK",method="Points/Count"} 1.0' in text
        assert 'vecstore_collection_points{collection="docs"} 2.0' in text
        code, err = daemon.stop(signal.SIGTERM)
        assert code == 0, err
    finally:
        daemon.kill()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    count = [line for line in lines if line.get("rpc") == "Points/Count"]
    assert len(count) == 1 and count[0]["logger"] == "vecstore.requests" and count[0]["level"] == "DEBUG"
    assert count[0]["collection"] == "docs" and count[0]["status"] == "OK" and count[0]["filtered"] is True
