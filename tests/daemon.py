"""`vecstore serve` in a subprocess, for the tests that need a real daemon
(signals, exit codes, a data directory reopened afterwards)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class Daemon:
    """`python -m vecstore serve --port 0 ...` in a subprocess; knows its address.

    `patch`: Python run in the daemon before the CLI starts (to make a handler
    misbehave, say); the CLI is then started from that code."""

    def __init__(self, data_dir, *extra, patch: str | None = None):
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        argv = ["serve", "--data-dir", str(data_dir), "--port", "0", *extra]
        if patch is None:
            cmd = [sys.executable, "-m", "vecstore", *argv]
        else:
            code = f"{patch}\nimport sys\nfrom vecstore.cli import main\nsys.exit(main(sys.argv[1:]))\n"
            cmd = [sys.executable, "-c", code, *argv]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        self.lines = []
        self.address = self._wait_for(r"listening on (\S+)").group(1)

    def _wait_for(self, pattern):
        for line in self.proc.stdout:  # blocks until the daemon prints it (or exits)
            self.lines.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"daemon exited ({self.proc.wait()}) before printing {pattern!r}: "
                             f"{''.join(self.lines)}{self.proc.stderr.read()}")

    def wait_serving(self, timeout=120):
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + timeout
            while True:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=30, wait_for_ready=True).status
                if status == SERVING:
                    return
                assert status == NOT_SERVING  # warming up
                assert time.monotonic() < deadline, "never became SERVING"
                time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Send `sig` and wait for the exit: (exit code, stderr). Raises
        subprocess.TimeoutExpired if the daemon is still running after `timeout` s."""
        self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        self.lines.append(out)
        return self.proc.returncode, err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
