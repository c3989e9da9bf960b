"""The rerank's reader: one loop while reads are fast; when they are slow, the
leaf pages read ahead first, or (when those cannot be found) threads."""
import numpy as np

import vecstore
from vecstore.engine.collection import sub_db_name
from vecstore.engine.fetch import COLD_GET_US, WARM_GET_US, ValueReader
from vecstore.engine.keys import id_keys


def reader_of(tmp_path, n=300):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=8, quantization="none")
    x = np.random.default_rng(3).standard_normal((n, 8)).astype(np.float32)
    col.upsert(np.arange(n) * 2, x)  # even ids only: odd ids are absent
    return db, col, ValueReader(db._storage, col._dbs["vectors"], sub_db_name(col.cid, "vectors")), x


def no_leaf_pages(monkeypatch, storage):
    """As if the data file's format could not be read: the threads take over."""
    monkeypatch.setattr(storage.readahead, "pages", lambda *a: np.empty(0, np.int64))


def cold(reader):
    reader.get_us, reader.cold = 10 * COLD_GET_US, True  # as if the last reads had waited on the disk


def test_values_come_back_in_key_order_with_none_for_absent(tmp_path):
    db, _, reader, x = reader_of(tmp_path)
    ids = np.array([0, 1, 8, 9, 598])
    raw, found = reader.get(id_keys(ids))
    assert found.tolist() == [True, False, True, False, True]
    np.testing.assert_array_equal(np.frombuffer(raw, np.float32).reshape(3, 8), x[[0, 4, 299]])
    raw, found = reader.get(id_keys(ids[[0, 2, 4]]))
    assert found is None and np.frombuffer(raw, np.float32).tolist() == x[[0, 4, 299]].ravel().tolist()
    assert not reader.cold and db._storage._pool is None  # warm pages: one loop, no threads
    db.close()


def test_slow_reads_read_the_leaf_pages_ahead_with_the_same_results(tmp_path, monkeypatch):
    db, _, reader, _ = reader_of(tmp_path, n=3000)
    storage = db._storage
    keys = id_keys(np.arange(0, 2000, 3))
    want_raw, want_found = reader.get(keys)
    assert want_found.sum() == len(range(0, 2000, 6))  # the even ids among them
    advised, real_advise = [], storage.readahead.advise
    monkeypatch.setattr(storage.readahead, "advise", lambda pages: (advised.append(pages), real_advise(pages)))
    cold(reader)
    raw, found = reader.get(keys)
    assert raw == want_raw and found.tolist() == want_found.tolist()
    assert storage._pool is None  # no threads
    # the pages asked for are the leaves the gets read: every present key's, each once
    with storage.read(buffers=True) as txn:
        want_pages = storage.readahead.pages(txn.id(), reader._db_name, [k for k, f in zip(keys, found) if f])
    assert len(advised) == 1 and set(want_pages) <= set(advised[0].tolist())
    assert len(advised[0]) == len(set(advised[0].tolist())) > 1
    db.close()
    assert storage.readahead._fd == -1  # closed with the environment


def test_slow_reads_switch_to_threads_when_no_leaf_page_is_found(tmp_path, monkeypatch):
    db, _, reader, _ = reader_of(tmp_path)
    keys = id_keys(np.arange(0, 200, 3))
    want_raw, want_found = reader.get(keys)
    no_leaf_pages(monkeypatch, db._storage)
    cold(reader)
    raw, found = reader.get(keys)
    assert raw == want_raw and found.tolist() == want_found.tolist()
    assert reader.get(id_keys(np.arange(0, 200, 2)))[1] is None  # every key found, from every thread
    assert db._storage._pool is not None
    db.close()
    assert db._storage._pool is None and db._storage.reader_pool() is None


def test_cold_and_warm_follow_the_average_with_hysteresis(tmp_path):
    # the policy alone, on given timings: real gets on a busy machine vary too much
    db, _, reader, _ = reader_of(tmp_path)
    reader.get_us = COLD_GET_US - 1  # slow-ish gets, not yet slow enough to switch
    reader.observe((COLD_GET_US - 1) * 1e-6)
    assert not reader.cold
    reader.observe(COLD_GET_US * 100 * 1e-6)  # one batch that waited on the disk
    assert reader.cold
    reader.observe(1e-6)
    assert reader.cold  # one fast batch does not switch back at once
    reader.observe((WARM_GET_US + COLD_GET_US) / 2 * 1e-6)
    for _ in range(60):  # between the marks: stays cold
        reader.observe((WARM_GET_US + COLD_GET_US) / 2 * 1e-6)
    assert reader.cold
    for _ in range(60):  # cached pages bring the average below the lower mark
        reader.observe(1e-6)
    assert not reader.cold and reader.get_us < WARM_GET_US
    for _ in range(60):  # and between the marks again: stays warm
        reader.observe((WARM_GET_US + COLD_GET_US) / 2 * 1e-6)
    assert not reader.cold
    db.close()


def test_the_reader_feeds_its_measured_gets_to_the_policy(tmp_path, monkeypatch):
    db, _, reader, _ = reader_of(tmp_path)
    seen = []
    monkeypatch.setattr(reader, "observe", seen.append)
    keys = id_keys(np.arange(0, 200, 3))
    reader.get(keys)
    cold(reader)
    reader.get(keys)
    reader.get([])  # no keys: nothing measured
    assert len(seen) == 2 and all(0 < t < 1 for t in seen)
    db.close()


def test_search_reranks_through_the_reader_in_both_modes(tmp_path):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=16, quantization=vecstore.BinaryQuantization(train_size=100))
    x = np.random.default_rng(4).standard_normal((400, 16)).astype(np.float32)
    col.upsert(np.arange(400), x)
    before = col.search(x[:5], k=5)
    one_before = col.search(x[7], k=5)
    cold(col._vectors)
    after = col.search(x[:5], k=5)
    one_after = col.search(x[7], k=5)
    assert db._storage._pool is None  # read ahead, not through the threads
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)
    np.testing.assert_array_equal(one_before.ids, one_after.ids)
    db.close()


def test_threads_that_saw_different_snapshots_are_read_again_in_one(tmp_path, monkeypatch):
    """A write that commits while the threads start their transactions must not
    hand a search part of a batch: mixed snapshots fall back to one read."""
    from contextlib import contextmanager

    db, col, reader, _ = reader_of(tmp_path)
    keys = id_keys(np.arange(0, 100, 2))
    storage = db._storage
    before = storage.env.begin()  # a snapshot from before the delete
    col.delete(np.arange(0, 100, 2))
    real_read, calls = storage.read, []

    @contextmanager
    def scripted(buffers=False):
        calls.append(buffers)
        if calls.count(False) == 1 and not buffers:
            yield before  # the first thread still sees the batch
        else:
            with real_read(buffers) as txn:
                yield txn

    monkeypatch.setattr(storage, "read", scripted)
    no_leaf_pages(monkeypatch, storage)
    cold(reader)
    raw, found = reader.get(keys)
    assert raw == b"" and not found.any()  # all gone, as one snapshot says
    assert calls[-1] is True  # the single-transaction read (buffers) ran last
    before.abort()
    db.close()


def test_advised_leaf_pages_come_into_the_page_cache(tmp_path):
    """After an eviction, asking for the keys' leaf pages caches exactly those
    pages (the kernel reads them in the background), before any get."""
    import os
    import time

    import pytest

    from bench.coldcache import LmdbEvictor, fs_type, resident_pages

    if fs_type(str(tmp_path)) == "tmpfs":
        pytest.skip("tmpfs pages live in RAM: there is no page cache to evict them from")
    db, _, reader, _ = reader_of(tmp_path, n=4000)
    storage, data_file = db._storage, os.path.join(str(tmp_path / "db"), "data.mdb")
    keys = id_keys(np.arange(0, 8000, 2)[::97])
    evict = LmdbEvictor(str(tmp_path / "db"))
    evict()
    with storage.read() as txn:
        pages = storage.readahead.pages(txn.id(), reader._db_name, keys)
        assert len(pages) > 10 and set(pages) <= set(evict.data_pages.tolist())
        assert not resident_pages(data_file)[pages].any()
        storage.readahead.advise(pages)
        deadline = time.monotonic() + 10.0  # the reads are asynchronous: wait for them, not on a speed
        while not resident_pages(data_file)[pages].all() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert resident_pages(data_file)[pages].all()
    db.close()
