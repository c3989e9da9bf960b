"""The recommended setup of README "Scaling out" / Security: Ray's token
authentication on (RAY_AUTH_MODE=token, the token in RAY_AUTH_TOKEN or a
file named by RAY_AUTH_TOKEN_PATH), the Ray head on loopback. vecstore.cluster
works against it with the token; a driver without the token, or with another
one, is refused by Ray's GCS. Everything runs in subprocesses with their own
HOME (Ray also reads ~/.ray/auth_token), so no token of this machine is used."""
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

pytest.importorskip("ray")

from daemon import ROOT  # noqa: E402

pytestmark = pytest.mark.ray
RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")

DRIVER = """
import json, sys
import numpy as np
import vecstore
try:
    db = vecstore.cluster(sys.argv[1], sys.argv[2], catch_up_interval=None, read_timeout=120.0)
except Exception as exc:  # what a driver without the cluster's token meets
    print("REFUSED", type(exc).__name__, exc)
    sys.exit(0)
col = db.create_collection("sec", dim=8, quantization="none", shards=2)
x = np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
col.upsert(np.arange(60), x)
print("SERVED", json.dumps({"count": col.count(), "top": col.search(x[:3], k=1).ids[:, 0].tolist()}))
db.drop_collection("sec")
db.close()
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(home):
    """This process's environment without any Ray address or auth setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
    return {**env, "HOME": str(home), "PYTHONPATH": str(ROOT), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def driver(env, address, router_dir):
    return subprocess.Popen([sys.executable, "-c", DRIVER, address, str(router_dir)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_token_auth_lets_the_router_in_and_keeps_others_out(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    token = secrets.token_hex(32)
    token_file = tmp_path / "ray-token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp_dir = tempfile.mkdtemp(prefix="vsray-", dir="/tmp")  # short: Ray puts unix sockets in it
    head_env = {**clean_env(home), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}
    head_log = open(tmp_path / "ray-head.log", "w")
    head = subprocess.Popen(
        [RAY, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=1",
         "--include-dashboard=false", "--disable-usage-stats", "--object-store-memory=80000000",
         f"--temp-dir={temp_dir}"],
        env=head_env, stdout=head_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # the GCS accepts connections
            assert head.poll() is None, (tmp_path / "ray-head.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.3)
        with_token = driver({**clean_env(home), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}, address,
                            tmp_path / "router")
        wrong_token = driver({**clean_env(home), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)},
                             address, tmp_path / "router-2")
        no_token = driver(clean_env(home), address, tmp_path / "router-3")  # auth off on its side, no token
        outs = {}
        for label, proc in (("with", with_token), ("wrong", wrong_token), ("none", no_token)):
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{label}: {err[-3000:]}"
            outs[label] = (out, err)
        served = outs["with"][0]
        assert 'SERVED {"count": 60, "top": [0, 1, 2]}' in served, outs["with"][1][-3000:]
        for label in ("wrong", "none"):
            out, err = outs[label]
            assert out.startswith("REFUSED"), out
            assert "Authentication token is missing or incorrect" in err, err[-3000:]  # the GCS said no
            assert not (tmp_path / {"wrong": "router-2", "none": "router-3"}[label] / "shards").exists()
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)  # whatever of its session is left: only this head's processes
        except ProcessLookupError:
            pass
        head_log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
