"""Snapshots over gRPC (into the server's --snapshot-dir) and from the CLI."""
import subprocess
import sys

import numpy as np
import pytest

import vecstore

from conftest import serving


def fill(db, rng):
    col = db.create_collection("docs", dim=16, quantization=vecstore.BinaryQuantization(train_size=50))
    x = rng.standard_normal((300, 16)).astype(np.float32)
    col.upsert(np.arange(300), x, [{"i": i} for i in range(300)])
    return x


def check_copy(path, x):
    with vecstore.open(path) as snap:
        col = snap.get_collection("docs")
        assert col.count() == 300
        assert col.get(np.arange(300)).vectors.tobytes() == x.tobytes()
        assert col.search(x[:5], k=1).ids[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_snapshot_over_grpc(tmp_path, rng):
    with serving(tmp_path / "db", snapshot_dir=str(tmp_path / "snaps")) as address:
        with vecstore.connect(address) as client:
            x = fill(client, rng)
            path = client.snapshot("first")
            assert path == str(tmp_path / "snaps" / "first")
            with pytest.raises(vecstore.AlreadyExistsError, match="already exists"):
                client.snapshot("first")
            with pytest.raises(vecstore.InvalidNameError):
                client.snapshot("../escape")
    check_copy(path, x)
    assert not (tmp_path / "escape").exists()


def test_snapshots_are_off_without_a_directory(tmp_path, rng):
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as client:
            with pytest.raises(vecstore.FailedPreconditionError, match="--snapshot-dir"):
                client.snapshot("first")


def test_read_only_keys_may_not_snapshot(tmp_path):
    with serving(tmp_path / "db", snapshot_dir=str(tmp_path / "snaps"), read_only_api_keys=["ro"]) as address:
        with vecstore.connect(address, api_key="ro") as client:
            with pytest.raises(vecstore.PermissionDeniedError):
                client.snapshot("first")


def test_snapshot_command(tmp_path, rng):
    with vecstore.open(tmp_path / "db") as db:
        x = fill(db, rng)
    out = subprocess.run([sys.executable, "-m", "vecstore", "snapshot", str(tmp_path / "copy"), "--data-dir", str(tmp_path / "db")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "snapshot written" in out.stdout
    check_copy(tmp_path / "copy", x)
