"""Many clients at once: reads do not wait behind writes, and nothing is lost."""
import threading

import numpy as np

import vecstore
from vecstore.engine.storage import Storage

from conftest import serving
from synthetic import clustered


def test_reads_proceed_while_a_write_is_stuck(tmp_path, monkeypatch):
    data = clustered(600, 16, nq=5, seed=1)
    stuck, release = threading.Event(), threading.Event()
    real_write = Storage.write

    def write(self, fn):
        if threading.current_thread().name.startswith("vecstore-rpc") and hold.is_set():
            stuck.set()
            release.wait(30)  # a slow commit (think: a large batch and a slow disk)
        return real_write(self, fn)

    hold = threading.Event()
    monkeypatch.setattr(Storage, "write", write)
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address, timeout=10) as writer, vecstore.connect(address, timeout=10) as reader:
            col = writer.create_collection("docs", dim=16, quantization=vecstore.BinaryQuantization(train_size=100))
            col.upsert(data.ids, data.xb)
            hold.set()
            upsert = threading.Thread(target=col.upsert, args=([10**9], data.xq[:1]), kwargs={"timeout": 60})
            upsert.start()
            try:
                assert stuck.wait(10)
                # each of these has a 10 s deadline: a global lock would make them fail
                rcol = reader.get_collection("docs")
                assert rcol.search(data.xb[:5], k=1).ids[:, 0].tolist() == data.ids[:5].tolist()
                assert rcol.count() == 600
                assert len(rcol.get(data.ids[:3])) == 3
                assert rcol.info().count == 600
            finally:
                release.set()
                upsert.join(30)
            assert rcol.count() == 601


def test_concurrent_clients_read_and_write(tmp_path):
    data = clustered(3000, 32, nq=8, seed=2)
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as admin:
            col = admin.create_collection("docs", dim=32, quantization=vecstore.BinaryQuantization(train_size=500))
            col.upsert(data.ids[:2000], data.xb[:2000])
        failures = []

        def reader(seed):
            try:
                rng = np.random.default_rng(seed)
                with vecstore.connect(address) as client:
                    rcol = client.get_collection("docs")
                    for _ in range(15):
                        rows = rng.integers(0, 2000, 4)
                        res = rcol.search(data.xb[rows], k=3)
                        assert res.ids[:, 0].tolist() == data.ids[rows].tolist()
                        assert rcol.get(data.ids[rows]).vectors.tobytes() == data.xb[rows].tobytes()
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(repr(exc))

        def writer():
            try:
                with vecstore.connect(address) as client:
                    wcol = client.get_collection("docs")
                    for lo in range(2000, 3000, 100):
                        wcol.upsert(data.ids[lo : lo + 100], data.xb[lo : lo + 100])
            except Exception as exc:  # noqa: BLE001
                failures.append(repr(exc))

        threads = [threading.Thread(target=reader, args=(s,)) for s in range(8)] + [threading.Thread(target=writer)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not failures, failures
        with vecstore.connect(address) as client:
            assert client.get_collection("docs").count() == 3000
