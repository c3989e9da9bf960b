"""Readers and a writer at once: whole batches only, no reader-slot exhaustion,
bounded file size under churn, consistent snapshots."""
import os
import threading

import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization

from synthetic import clustered

BATCH = np.arange(100_000, 100_100)


def loaded(db, n=3000, dim=32, vectors_in_ram=False):
    data = clustered(n, dim, nq=10, seed=21)
    col = db.create_collection("docs", dim=dim, quantization=BinaryQuantization(train_size=500),
                               vectors_in_ram=vectors_in_ram)
    col.upsert(data.ids, data.xb)
    return col, data


@pytest.mark.parametrize("vectors_in_ram", [False, True])
def test_readers_never_see_half_a_batch(tmp_path, vectors_in_ram):
    with vecstore.open(tmp_path / "db") as db:
        col, data = loaded(db, vectors_in_ram=vectors_in_ram)
        # 100 copies of one far-away vector: all-or-nothing in any search for it
        marker = -data.xb.mean(axis=0)
        marker_rows = np.tile(marker, (len(BATCH), 1))
        stop = threading.Event()
        seen, errors = [], []

        def writer():
            try:
                while not stop.is_set():
                    col.upsert(BATCH, marker_rows)
                    col.delete(BATCH)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        def reader():
            try:
                for _ in range(150):
                    res = col.search(marker, k=150)
                    seen.append(int(np.isin(res.ids, BATCH).sum()))
                    got = len(col.get(BATCH))
                    seen.append(got)
                    assert col.count() in (len(data.ids), len(data.ids) + len(BATCH))
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads[1:]:
            t.join()
        stop.set()
        threads[0].join()
        assert not errors, errors
        assert set(seen) <= {0, len(BATCH)}, sorted(set(seen))
        assert len(BATCH) in seen  # the readers did overlap the writer


def test_64_concurrent_readers_with_a_writer(tmp_path):
    with vecstore.open(tmp_path / "db") as db:
        col, data = loaded(db)
        errors = []
        barrier = threading.Barrier(65)

        def reader(i):
            try:
                barrier.wait()
                for j in range(10):
                    res = col.search(data.xq[(i + j) % len(data.xq)], k=5)
                    assert (res.ids >= 0).all()
            except Exception as exc:
                errors.append(exc)

        def writer():
            try:
                barrier.wait()
                for j in range(10):
                    col.upsert(BATCH[:10], data.xb[:10] + j)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(64)] + [threading.Thread(target=writer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]


def test_file_size_stays_bounded_under_churn(tmp_path, rng):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("docs", dim=64, quantization=BinaryQuantization(train_size=100))
        col.upsert(np.arange(2000), rng.standard_normal((2000, 64)))
        sizes = []
        for round_ in range(40):
            ids = rng.choice(2000, 300, replace=False)
            col.delete(ids)
            col.upsert(ids, rng.standard_normal((300, 64)))
            sizes.append(os.path.getsize(tmp_path / "db" / "data.mdb"))
        assert col.count() == 2000
        # LMDB reuses freed pages: the file stops growing after a few rounds
        assert sizes[-1] <= sizes[9] * 1.25, sizes


def test_snapshot_while_writing_is_consistent(tmp_path):
    with vecstore.open(tmp_path / "db") as db:
        col, data = loaded(db)
        stop = threading.Event()
        acked = []

        def writer():
            b = 0
            while not stop.is_set() and b < 200:
                ids = np.arange(200_000 + b * 50, 200_000 + (b + 1) * 50)
                col.upsert(ids, data.xb[:50])
                acked.append(b)
                b += 1

        t = threading.Thread(target=writer)
        t.start()
        while len(acked) < 5:
            pass
        before = len(acked)
        db.snapshot(tmp_path / "snap")
        stop.set()
        t.join()
    with vecstore.open(tmp_path / "snap") as snap:
        col = snap.get_collection("docs")
        extra = col.count() - len(data.ids)
        assert extra % 50 == 0 and extra // 50 >= before  # whole batches, none lost
        assert col.search(data.xb[:3], k=1).ids[:, 0].tolist() == data.ids[:3].tolist()


def test_snapshot_target_must_be_empty(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with vecstore.open(tmp_path / "db") as db:
        try:
            db.snapshot(tmp_path / "full")
        except vecstore.InvalidArgumentError as exc:
            assert "not empty" in str(exc)
        else:
            raise AssertionError("snapshot into a non-empty directory was accepted")


def test_map_grows_while_readers_search(tmp_path, rng):
    """Growing the map waits for open transactions; readers never fail meanwhile."""
    with vecstore.open(tmp_path / "db", map_size=1 << 20) as db:
        col = db.create_collection("docs", dim=128, quantization=BinaryQuantization(train_size=100))
        col.upsert(np.arange(500), rng.standard_normal((500, 128)))
        start_map = db._storage.map_size
        stop = threading.Event()
        errors, searches = [], [0]

        def reader():
            q = np.ones(128, dtype=np.float32)
            try:
                while not stop.is_set():
                    assert (col.search(q, k=5).ids >= 0).all()
                    searches[0] += 1
            except Exception as exc:
                errors.append(exc)

        readers = [threading.Thread(target=reader) for _ in range(4)]
        for t in readers:
            t.start()
        for b in range(10):
            col.upsert(np.arange(1000 + b * 1000, 2000 + b * 1000), rng.standard_normal((1000, 128)))
        stop.set()
        for t in readers:
            t.join()
        assert not errors, errors[:3]
        assert db._storage.map_size >= 8 * start_map  # it did grow, several times
        assert searches[0] > 0
        assert col.count() == 10_500
