"""bench/coldcache.py: the evictor really makes an open LMDB environment cold."""
import os

import lmdb
import numpy as np
import pytest

import vecstore
from bench.coldcache import LmdbEvictor, fs_type, lmdb_data_pages, resident_fraction, resident_pages


@pytest.fixture
def filled(tmp_path):
    if fs_type(str(tmp_path)) == "tmpfs":
        pytest.skip("tmpfs pages live in RAM: there is no page cache to evict them from")
    rng = np.random.default_rng(0)
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=64)
    col.upsert(np.arange(4000), rng.standard_normal((4000, 64)))
    yield db, col, str(tmp_path / "db")
    db.close()


def test_page_roles_match_lmdb_stats(filled):
    db, _, path = filled
    db.close()  # LMDB allows one environment per file per process
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=64)
    try:
        with env.begin() as txn:
            names = [key for key, _ in txn.cursor()]
            stats = [txn.stat(env.open_db(name, txn=txn, create=False)) for name in names if name.startswith(b"c")]
        branch = sum(s["branch_pages"] for s in stats)
        leaf = sum(s["leaf_pages"] + s["overflow_pages"] for s in stats)
    finally:
        env.close()
    data = lmdb_data_pages(os.path.join(path, "data.mdb"))
    total = os.path.getsize(os.path.join(path, "data.mdb")) // 4096
    assert len(data) >= leaf  # every leaf page of every collection sub-database is evicted
    assert total - len(data) >= branch + 2  # branch and meta pages are kept


def test_evictor_empties_the_page_cache_of_an_open_environment(filled):
    _, col, path = filled
    q = np.ones((1, 64), dtype=np.float32)
    col.get(np.arange(4000))  # read every vector through the mapping
    assert resident_fraction(os.path.join(path, "data.mdb")) > 0.9
    evict = LmdbEvictor(path)
    evict()
    # (reading the page roles again here would itself re-cache the whole file)
    assert resident_pages(os.path.join(path, "data.mdb"))[evict.data_pages].mean() < 0.02
    before = col.search(q, k=5).ids
    evict()
    assert np.array_equal(col.search(q, k=5).ids, before)  # reads are unchanged, only slower


def test_fault_only_mode_keeps_pages_cached(filled):
    _, col, path = filled
    col.get(np.arange(4000))
    LmdbEvictor(path, page_cache=False)()
    assert resident_fraction(os.path.join(path, "data.mdb")) > 0.9


def test_evictor_keeps_what_every_transaction_reads(filled):
    """The main tree's leaf (the sub-databases' records) stays cached, as it
    does in use: LMDB reads it in every transaction, at the first get."""
    from native.lmdb_pages import leaf_pages
    from vecstore.engine.collection import sub_db_name
    from vecstore.engine.keys import id_keys

    db, col, path = filled
    data_file = os.path.join(path, "data.mdb")
    with db._storage.read() as txn:  # every point's leaf page (reads the whole file: before evicting)
        keys = np.frombuffer(b"".join(id_keys(np.arange(4000))), np.uint8).reshape(-1, 8)
        leaves = leaf_pages(np.fromfile(data_file, np.uint8), 4096, txn.id(),
                            sub_db_name(col.cid, "vectors").encode(), keys)
    evict = LmdbEvictor(path)
    evict()
    with db._storage.read() as txn:
        meta = max((0, 1), key=lambda m: txn.id() if _meta_txnid(data_file, m) == txn.id() else -1)
    main_root = _meta_field(data_file, meta, 128, "<Q")
    assert main_root in set(evict.kept_pages.tolist()) and resident_pages(data_file)[main_root]
    # a point whose leaf page is not cached: its get in a new transaction reads the
    # main tree's leaf, the branch pages and its own leaf, and only the last from disk
    before = resident_pages(data_file)
    point = int(np.flatnonzero(~before[leaves])[0])
    col.get([point])
    newly = np.flatnonzero(resident_pages(data_file) & ~before)
    assert newly.tolist() == [leaves[point]]


def _meta_field(data_file, meta, offset, fmt):
    import struct

    with open(data_file, "rb") as f:
        f.seek(meta * 4096 + offset)
        return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _meta_txnid(data_file, meta):
    return _meta_field(data_file, meta, 144, "<Q")


def test_pinned_files_stay_cached_until_released(tmp_path):
    from bench.coldcache import PinnedFiles, evict_files

    (tmp_path / "sub").mkdir()
    for name in ("a.bin", "sub/b.bin"):
        (tmp_path / name).write_bytes(np.random.default_rng(0).bytes(256 * 1024))
    (tmp_path / "empty").write_bytes(b"")
    evict_files(str(tmp_path))
    with PinnedFiles(str(tmp_path)) as pin:
        assert pin.pinned
        assert resident_fraction(str(tmp_path / "a.bin")) == 1.0
        assert resident_fraction(str(tmp_path / "sub" / "b.bin")) == 1.0
        evict_files(str(tmp_path))  # locked pages cannot be dropped
        assert resident_fraction(str(tmp_path / "a.bin")) == 1.0
    assert not pin.pinned
    if fs_type(str(tmp_path)) != "tmpfs":  # tmpfs pages live in RAM: nothing to evict them from
        evict_files(str(tmp_path))
        assert resident_fraction(str(tmp_path / "a.bin")) < 0.5
