"""Crash safety: `vecstore serve` is killed with SIGKILL at random moments
while a client streams upsert batches (training of the binary codes happens
during the first cycles). After every restart: each acknowledged batch is
present and byte-equal, no batch is partial, there are no phantom or
duplicate ids, and every surviving point is found by searching its own
vector."""
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np

import vecstore
from vecstore.api.validate import MAX_QUERIES

DIM = 32
BATCH = 50
CYCLES = 20


def batch_of(b: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(b * BATCH, (b + 1) * BATCH, dtype=np.int64)
    return ids, np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)


class Server:
    def __init__(self, data_dir):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vecstore", "serve", "--data-dir", str(data_dir), "--port", "0", "--no-warm-up"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.address = None
        deadline = time.monotonic() + 120
        for line in self.proc.stdout:
            if "listening on" in line:
                self.address = line.split("listening on ", 1)[1].split()[0]
            if "health SERVING" in line:
                break
            if time.monotonic() > deadline:
                break
        assert self.address, "the server did not start"
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=60) == 0


def ingest_until_killed(address, next_batch, acked, sent, server):
    """Upsert batches one call each until the server dies under us; the kill
    comes at a random moment after the cycle's first acknowledgement."""
    killer = threading.Timer(random.uniform(0.05, 0.6), server.kill)
    b = next_batch
    try:
        with vecstore.connect(address, timeout=30) as db:
            col = db.get_collection("c")
            while True:
                ids, x = batch_of(b)
                sent.add(b)
                col.upsert(ids, x)
                acked.add(b)
                b += 1
                if b == next_batch + 1:
                    killer.start()
    except vecstore.VecstoreError:
        pass  # the server went away mid-call
    finally:
        if b > next_batch:
            killer.join()
        else:  # failed before any acknowledgement: stop the server all the same
            server.kill()
    return b


def verify(address, acked, sent, search_all):
    with vecstore.connect(address, timeout=60) as db:
        col = db.get_collection("c")
        top = (max(sent) + 1) * BATCH
        got = col.get(np.arange(top))
        present = set(got.ids.tolist())
        assert len(present) == len(got.ids), "duplicate ids"
        assert col.count() == len(present)
        by_id = dict(zip(got.ids.tolist(), got.vectors))
        for b in sent:
            ids, x = batch_of(b)
            here = [int(i) in present for i in ids]
            if b in acked:
                assert all(here), f"acknowledged batch {b} lost points"
            assert all(here) or not any(here), f"batch {b} is partial"
            if all(here):
                for i, v in zip(ids, x):
                    assert by_id[int(i)].tobytes() == v.tobytes()
        phantoms = present - {int(i) for b in sent for i in batch_of(b)[0]}
        assert not phantoms
        ids = np.array(sorted(present))
        if not search_all:  # every cycle checks a sample; the last one checks every point
            ids = np.array(sorted(random.sample(sorted(present), min(300, len(present)))))
        queries = np.stack([by_id[i] for i in ids])
        for at in range(0, len(ids), MAX_QUERIES):  # one search call takes at most MAX_QUERIES
            res = col.search(queries[at : at + MAX_QUERIES], k=1)
            assert (res.ids[:, 0] == ids[at : at + MAX_QUERIES]).all(), "a surviving point is not found by its own vector"
        return len(present)


def test_sigkill_during_ingest(tmp_path):
    random.seed(7)
    data = tmp_path / "db"
    with vecstore.open(data) as db:
        db.create_collection("c", dim=DIM, quantization=vecstore.BinaryQuantization(train_size=500))
    acked, sent = set(), set()
    next_batch = 0
    sizes = []
    for cycle in range(CYCLES):
        server = Server(data)
        next_batch = ingest_until_killed(server.address, next_batch, acked, sent, server)
        server = Server(data)
        try:
            sizes.append(verify(server.address, acked, sent, search_all=cycle == CYCLES - 1))
        finally:
            server.stop()
        next_batch += 1  # the batch in flight at the kill may or may not exist: never reuse its ids
    assert len(acked) >= CYCLES  # every cycle acknowledged batches before its kill
    assert sizes == sorted(sizes) and sizes[-1] >= 500  # trained codes were exercised
