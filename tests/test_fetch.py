"""The rerank's reader: sequential while reads are fast, split across threads when slow."""
import numpy as np

import vecstore
from vecstore.engine.fetch import COLD_GET_US, ValueReader
from vecstore.engine.keys import id_keys


def reader_of(tmp_path, n=300):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=8, quantization="none")
    x = np.random.default_rng(3).standard_normal((n, 8)).astype(np.float32)
    col.upsert(np.arange(n) * 2, x)  # even ids only: odd ids are absent
    return db, col, ValueReader(db._storage, col._dbs["vectors"]), x


def test_values_come_back_in_key_order_with_none_for_absent(tmp_path):
    db, _, reader, x = reader_of(tmp_path)
    ids = np.array([0, 1, 8, 9, 598])
    raw, found = reader.get(id_keys(ids))
    assert found.tolist() == [True, False, True, False, True]
    np.testing.assert_array_equal(np.frombuffer(raw, np.float32).reshape(3, 8), x[[0, 4, 299]])
    raw, found = reader.get(id_keys(ids[[0, 2, 4]]))
    assert found is None and np.frombuffer(raw, np.float32).tolist() == x[[0, 4, 299]].ravel().tolist()
    assert not reader.parallel and db._storage._pool is None  # warm pages: one loop, no threads
    db.close()


def test_slow_reads_switch_to_threads_with_the_same_results(tmp_path):
    db, _, reader, _ = reader_of(tmp_path)
    keys = id_keys(np.arange(0, 200, 3))
    want_raw, want_found = reader.get(keys)
    assert want_found.sum() == len(range(0, 200, 6))  # the even ids among them
    reader.get_us = 10 * COLD_GET_US  # as if the last reads had waited on the disk
    assert reader.parallel
    raw, found = reader.get(keys)
    assert raw == want_raw and found.tolist() == want_found.tolist()
    assert reader.get(id_keys(np.arange(0, 200, 2)))[1] is None  # every key found, from every thread
    assert db._storage._pool is not None
    # the average follows what the reads cost: warm pages bring it back down
    for _ in range(50):
        reader.get(keys)
    assert not reader.parallel
    db.close()
    assert db._storage._pool is None and db._storage.reader_pool() is None


def test_search_reranks_through_the_reader_in_both_modes(tmp_path):
    db = vecstore.open(tmp_path / "db")
    col = db.create_collection("c", dim=16, quantization=vecstore.BinaryQuantization(train_size=100))
    x = np.random.default_rng(4).standard_normal((400, 16)).astype(np.float32)
    col.upsert(np.arange(400), x)
    before = col.search(x[:5], k=5)
    col._vectors.get_us = 10 * COLD_GET_US
    after = col.search(x[:5], k=5)
    assert db._storage._pool is not None  # the rerank's reads went through the threads
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_array_equal(before.scores, after.scores)
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
        if len(calls) == 1:
            yield before  # the first thread still sees the batch
        else:
            with real_read(buffers) as txn:
                yield txn

    monkeypatch.setattr(storage, "read", scripted)
    reader.get_us = 10 * COLD_GET_US
    raw, found = reader.get(keys)
    assert raw == b"" and not found.any()  # all gone, as one snapshot says
    assert calls[-1] is True  # the single-transaction read (buffers) ran last
    before.abort()
    db.close()
