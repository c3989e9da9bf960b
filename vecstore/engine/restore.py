"""`vecstore restore`: put a snapshot in place as a database directory.

The snapshot's data file is copied into a temporary directory beside the
target, checked there (check.py: the copy, which is what will be served),
and only then renamed onto the target in one step, so the target is either
absent (or empty), or the whole verified database; never half a copy.
"""
from __future__ import annotations

import os
import shutil
import tempfile

from ..errors import CorruptDatabaseError, InvalidArgumentError
from .check import CheckReport, check_database
from .integrity import DATA_FILE, LMDB_LOCK_FILE


def restore_snapshot(snapshot: str | os.PathLike, data_dir: str | os.PathLike) -> CheckReport:
    """Copy the snapshot directory into data_dir (which must not exist, or be
    empty) once a check of the copy found it healthy; returns that check."""
    snapshot, data_dir = os.fspath(snapshot), os.path.abspath(os.fspath(data_dir))
    source = os.path.join(snapshot, DATA_FILE)
    if not os.path.isfile(source):
        raise InvalidArgumentError(f"{snapshot} is not a snapshot: it has no {DATA_FILE}")
    _check_target(data_dir)
    parent = os.path.dirname(data_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(data_dir)}.restore-", dir=parent)
    try:
        copy = os.path.join(staging, DATA_FILE)
        shutil.copyfile(source, copy)
        fsync_path(copy)
        report = check_database(staging)
        if not report.healthy:
            raise CorruptDatabaseError(
                f"snapshot {snapshot} failed its check, nothing restored: " + "; ".join(report.problems)
            )
        lock = os.path.join(staging, LMDB_LOCK_FILE)  # the check's reader table: nobody holds it now
        if os.path.exists(lock):
            os.remove(lock)
        fsync_path(staging)
        _check_target(data_dir)  # again: it may have been filled meanwhile
        os.rename(staging, data_dir)  # replaces an empty directory in one step
        fsync_path(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.path = data_dir
    return report


def _check_target(data_dir: str) -> None:
    if os.path.exists(data_dir) and (not os.path.isdir(data_dir) or os.listdir(data_dir)):
        raise InvalidArgumentError(
            f"restore target {data_dir} exists and is not empty: restore into a new directory "
            "(stop the server first, and move the old directory away)"
        )


def fsync_path(path: str) -> None:
    """fsync a file or a directory (a directory: so the names it holds are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
