"""A database whose files are missing, truncated or corrupt is refused at open
with a CorruptDatabaseError naming what is wrong: never served as empty,
never mapped past its end (SIGBUS). Also: the write lock survives deleting
vecstore.lock, and a failed write is StorageFullError only when it ran out
of space."""
import errno
import json
import os
import subprocess
import sys

import lmdb
import numpy as np
import pytest

import vecstore
from vecstore.engine import storage as storage_mod
from vecstore.errors import CorruptDatabaseError, DatabaseLockedError, StorageError, StorageFullError
from synthetic import clustered

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_db(path, n=3000, d=32):
    data = clustered(n, d, nq=1, seed=3)
    with vecstore.open(path) as db:
        col = db.create_collection("docs", dim=d)
        col.upsert(data.ids, data.xb, [{"i": int(i)} for i in data.ids])
    return data


def data_file(path):
    return os.path.join(path, "data.mdb")


def truncate(path, fraction):
    size = os.path.getsize(data_file(path))
    os.truncate(data_file(path), int(size * fraction))


def test_empty_data_file_is_refused_not_served_as_new(tmp_path):
    path = str(tmp_path / "db")
    make_db(path)
    truncate(path, 0)
    with pytest.raises(CorruptDatabaseError, match=r"data\.mdb is empty") as info:
        vecstore.open(path)
    assert info.value.status == "DATA_LOSS"
    assert os.path.getsize(data_file(path)) == 0  # nothing written over it
    with pytest.raises(CorruptDatabaseError):
        vecstore.open(path, read_only=True)


def test_missing_data_file_beside_lock_files_is_refused(tmp_path):
    path = str(tmp_path / "db")
    make_db(path)
    os.remove(data_file(path))
    with pytest.raises(CorruptDatabaseError, match=r"data\.mdb is missing"):
        vecstore.open(path)
    assert not os.path.exists(data_file(path))


def test_a_new_directory_still_opens(tmp_path):
    path = str(tmp_path / "fresh")
    with vecstore.open(path) as db:
        assert db.list_collections() == []
    with vecstore.open(path) as db:  # and reopens
        assert db.list_collections() == []


# a subprocess: were the check missing, the SIGBUS would kill pytest itself
OPEN_SCRIPT = r"""
import sys, vecstore
try:
    vecstore.open(sys.argv[1], read_only=sys.argv[2] == "ro")
    print("OPENED")
except vecstore.CorruptDatabaseError as exc:
    print("CORRUPT", exc.status, exc)
"""


@pytest.mark.parametrize("fraction", [0.5, 0.75, 0.99])
@pytest.mark.parametrize("mode", ["rw", "ro"])
def test_truncated_data_file_is_refused_without_sigbus(tmp_path, fraction, mode):
    path = str(tmp_path / "db")
    make_db(path)
    size = os.path.getsize(data_file(path))
    truncate(path, fraction)
    out = subprocess.run([sys.executable, "-c", OPEN_SCRIPT, path, mode], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert out.stdout.startswith("CORRUPT DATA_LOSS"), out.stdout
    assert "is truncated" in out.stdout and "data.mdb" in out.stdout
    assert os.path.getsize(data_file(path)) == int(size * fraction)


def test_not_an_lmdb_file_is_refused(tmp_path):
    path = str(tmp_path / "db")
    make_db(path)
    with open(data_file(path), "r+b") as f:
        f.write(b"\0" * 64)
    with pytest.raises(CorruptDatabaseError, match="not an LMDB data file"):
        vecstore.open(path)


GOOD_CONFIG = vecstore.CollectionConfig(name="docs", dim=32).to_dict()


def _raw_put(path, db_name, key, value):
    env = lmdb.open(path, max_dbs=2048, subdir=True)
    try:
        handle = env.open_db(db_name, create=False)
        with env.begin(write=True) as txn:
            txn.put(key, value, db=handle)
    finally:
        env.close()


@pytest.mark.parametrize(
    "value, message",
    [
        (b"{not json", "catalog entry of collection 'docs' is unreadable"),
        (json.dumps({"config": {"name": "docs", "dim": 32}}).encode(), "missing field 'cid'"),
        (json.dumps({"cid": 1}).encode(), "missing field 'config'"),
        (json.dumps({"cid": "x", "config": {}}).encode(), "cid 'x' is not a positive integer"),
        (json.dumps({"cid": 1, "config": {"name": "docs", "dim": 32}}).encode(), "missing field"),
        (json.dumps({"cid": 1, "config": {**GOOD_CONFIG, "metric": "hamming"}}).encode(), "metric"),
        (json.dumps({"cid": 1, "config": {**GOOD_CONFIG, "dim": -3}}).encode(), "dim"),
        (json.dumps({"cid": 1, "config": {**GOOD_CONFIG, "name": "other"}}).encode(), "names collection 'other'"),
    ],
)
def test_corrupt_catalog_entry_is_a_typed_error_naming_the_collection(tmp_path, value, message):
    path = str(tmp_path / "db")
    make_db(path)
    _raw_put(path, b"vecstore.catalog", b"docs", value)
    for read_only in (False, True):
        with pytest.raises(CorruptDatabaseError, match=message) as info:
            vecstore.open(path, read_only=read_only)
        assert "docs" in str(info.value)


def test_non_integer_format_version_is_a_typed_error(tmp_path):
    path = str(tmp_path / "db")
    make_db(path)
    _raw_put(path, b"vecstore.meta", b"format_version", b"one")
    with pytest.raises(CorruptDatabaseError, match="format_version .* not an integer"):
        vecstore.open(path)


def test_serve_on_a_truncated_database_exits_with_one_line(tmp_path):
    path = str(tmp_path / "db")
    make_db(path)
    truncate(path, 0.6)
    out = subprocess.run([sys.executable, "-m", "vecstore", "serve", "--data-dir", path, "--port", "0",
                          "--no-warm-up"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "CorruptDatabaseError" in lines[0] and "truncated" in lines[0], out.stderr
    assert "listening" not in out.stdout


# -- the write lock -------------------------------------------------------------------
HOLD_SCRIPT = r"""
import sys, time, numpy as np, vecstore
db = vecstore.open(sys.argv[1])
print("HOLDING", flush=True)
sys.stdin.readline()
db.close()
"""

SECOND_SCRIPT = r"""
import sys, vecstore
try:
    vecstore.open(sys.argv[1])
    print("OPENED")
except vecstore.DatabaseLockedError:
    print("LOCKED")
"""


def test_deleting_the_lock_file_does_not_let_a_second_writer_in(tmp_path):
    path = str(tmp_path / "db")
    make_db(path, n=10)
    env = {**os.environ, "PYTHONPATH": ROOT}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        os.remove(os.path.join(path, "vecstore.lock"))
        second = subprocess.run([sys.executable, "-c", SECOND_SCRIPT, path], capture_output=True, text=True,
                                timeout=120, cwd=ROOT, env=env)
        assert second.stdout.strip() == "LOCKED", second.stdout + second.stderr[-2000:]
    finally:
        holder.communicate("\n", timeout=60)
    assert holder.returncode == 0
    with vecstore.open(path) as db:  # free again once the holder closed
        assert db.get_collection("docs").count() == 10


def test_a_second_handle_in_one_process_is_refused(tmp_path):
    path = str(tmp_path / "db")
    with vecstore.open(path):
        with pytest.raises(DatabaseLockedError):
            vecstore.open(path)
        with pytest.raises(DatabaseLockedError):
            vecstore.open(path, read_only=True)


# -- which write failures are "storage full" -------------------------------------------
class _LowSpace:
    """statvfs of a nearly full disk (the probe file still fits: the failure
    is not about space)."""

    def __init__(self, real):
        self._real = real

    def __call__(self, path):
        st = self._real(path)
        return os.statvfs_result((st.f_bsize, st.f_frsize, st.f_blocks, 1, 1, st.f_files, st.f_ffree,
                                  st.f_favail, st.f_flag, st.f_namemax))


def _failing(code):
    def fn(txn):
        exc = lmdb.Error("mdb_txn_commit")
        exc.code = code  # what py-lmdb sets: the errno or MDB code of the failure
        raise exc
    return fn


@pytest.fixture
def low_space_db(tmp_path, monkeypatch):
    db = vecstore.open(str(tmp_path / "db"))
    monkeypatch.setattr(storage_mod.os, "statvfs", _LowSpace(os.statvfs))
    yield db
    db.close()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_space_errnos_are_storage_full(low_space_db, code):
    with pytest.raises(StorageFullError):
        low_space_db._storage.write(_failing(code))


def test_an_io_error_with_room_left_is_not_storage_full(low_space_db):
    with pytest.raises(StorageError, match="LMDB write .* failed") as info:
        low_space_db._storage.write(_failing(errno.EIO))
    assert not isinstance(info.value, StorageFullError)
    assert info.value.status == "UNAVAILABLE"


def test_an_lmdb_error_on_a_nearly_full_disk_is_not_storage_full(low_space_db):
    col = low_space_db.create_collection("c", dim=4)
    def bad_key(txn):
        txn.put(b"k" * 4000, b"v", db=col._dbs["payloads"])  # over LMDB's key size: BadValsizeError
    with pytest.raises(StorageError) as info:
        low_space_db._storage.write(bad_key)
    assert not isinstance(info.value, StorageFullError)
    assert "MDB_BAD_VALSIZE" in str(info.value) or "size" in str(info.value).lower()
    col.upsert([1], [[1.0, 0, 0, 0]])  # the database works on
    assert col.count() == 1
