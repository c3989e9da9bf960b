"""Checks of a database directory's files before LMDB maps them.

LMDB trusts its data file: a file shorter than its newest meta page says is
mapped anyway, and the first read past the end kills the process with SIGBUS;
an empty file is taken for a new database. So before opening, the two meta
pages are read with plain file reads and the file is refused, with a
CorruptDatabaseError naming it and what is wrong, when:

- it is missing or empty while the directory holds vecstore's other files
  (vecstore.lock, lock.mdb): a database was here, it is not a new one;
- a meta page has the wrong magic or data version (not an LMDB file, or one
  of another LMDB major version), or a page size LMDB cannot have written;
- it is shorter than the pages the newest meta page uses ((last page + 1) x
  page size): it was truncated.

LMDB itself requires both meta pages to be valid and opens the newer (higher
transaction id); so does this check.
"""
from __future__ import annotations

import os

from native.lmdb_pages import DATA_VERSION, MAGIC, MetaPage, read_meta

from ..errors import CorruptDatabaseError

DATA_FILE = "data.mdb"
LMDB_LOCK_FILE = "lock.mdb"
VECSTORE_LOCK_FILE = "vecstore.lock"
_MAX_PAGE = 1 << 16  # LMDB's largest page size (MAX_PAGESIZE)


def has_vecstore_files(path: str) -> bool:
    """Whether the directory ever held a database: lock files outlive an open."""
    return any(os.path.exists(os.path.join(path, name)) for name in (VECSTORE_LOCK_FILE, LMDB_LOCK_FILE))


def check_data_file(path: str, *, had_files: bool) -> MetaPage | None:
    """Refuse (CorruptDatabaseError) a data file LMDB must not map; return its
    newest meta page, or None when there is no file yet and the directory is
    new (had_files: it held vecstore files before this open created any)."""
    data = os.path.join(path, DATA_FILE)
    try:
        size = os.path.getsize(data)
    except FileNotFoundError:
        if had_files:
            raise CorruptDatabaseError(
                f"{data} is missing but {path} holds a vecstore database's other files: "
                "refusing to start an empty database over it (restore a snapshot, or delete the directory)"
            ) from None
        return None
    if size == 0:
        raise CorruptDatabaseError(
            f"{data} is empty (0 bytes): it was truncated; refusing to open it as a new database "
            "(restore a snapshot, or delete the directory)"
        )
    with open(data, "rb") as f:
        head = f.read(2 * _MAX_PAGE)
    first = _valid_meta(data, head, 0, size)
    second = _valid_meta(data, head, first.page_size, size)
    newest = max(first, second, key=lambda m: m.txn_id)
    needed = (newest.last_page + 1) * newest.page_size
    if size < needed:
        raise CorruptDatabaseError(
            f"{data} is truncated: {size} bytes, but its newest meta page (transaction {newest.txn_id}) "
            f"uses pages 0-{newest.last_page} of {newest.page_size} bytes, {needed} bytes "
            "(restore a snapshot)"
        )
    return newest


def _valid_meta(data: str, head: bytes, at: int, size: int) -> MetaPage:
    which = "first" if at == 0 else "second"
    meta = read_meta(head, at)
    if meta is None:
        raise CorruptDatabaseError(
            f"{data} is truncated: {size} bytes do not hold LMDB's {which} meta page"
        )
    if meta.magic != MAGIC:
        raise CorruptDatabaseError(
            f"{data} is not an LMDB data file: its {which} meta page has magic {meta.magic:#x}, not {MAGIC:#x}"
        )
    if meta.version != DATA_VERSION:
        raise CorruptDatabaseError(
            f"{data}: its {which} meta page has LMDB data version {meta.version}; "
            f"this build reads version {DATA_VERSION}"
        )
    psize = meta.page_size
    if psize < 512 or psize > _MAX_PAGE or psize & (psize - 1) or (at and psize != at):
        raise CorruptDatabaseError(f"{data}: its {which} meta page gives an impossible page size {psize}")
    return meta
