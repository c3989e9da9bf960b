"""Read-only handles: several processes read one embedded database while one
writer holds it; a reader sees the writer's later commits after refresh(),
also when the writer has grown the map past the reader's."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import vecstore
from vecstore.errors import NotFoundError, ReadOnlyError
from synthetic import clustered

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# a reader process: answers one JSON line per command read from stdin
READER = r"""
import json, sys
import numpy as np
import vecstore
db = vecstore.open(sys.argv[1], read_only=True)
q = np.load(sys.argv[2])
def state():
    col = db.get_collection("docs")
    hits = col.search(q, k=1).ids[:, 0].tolist()
    return {"count": col.count(), "hits": hits, "names": db.list_collections(),
            "payload": col.get([int(hits[0])]).payloads[0]}
print(json.dumps(state()), flush=True)
for line in sys.stdin:
    cmd = line.strip()
    if cmd == "refresh":
        changed = db.refresh()
        print(json.dumps({"changed": changed, **state()}), flush=True)
    elif cmd == "write":
        try:
            db.get_collection("docs").upsert([10**9], q[:1])
            print(json.dumps({"write": "accepted"}), flush=True)
        except vecstore.ReadOnlyError as exc:
            print(json.dumps({"write": exc.code}), flush=True)
    elif cmd == "quit":
        break
db.close()
"""


class Reader:
    def __init__(self, path, queries_file):
        self.proc = subprocess.Popen([sys.executable, "-c", READER, path, queries_file], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                     env={**os.environ, "PYTHONPATH": ROOT})
        self.first = self._answer()

    def _answer(self):
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read()[-3000:]
        return json.loads(line)

    def ask(self, cmd):
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def close(self):
        self.proc.communicate("quit\n", timeout=60)
        assert self.proc.returncode == 0


def test_readers_beside_a_writer_and_refresh(tmp_path):
    path = str(tmp_path / "db")
    data = clustered(4000, 32, nq=4, seed=5)
    first, later = slice(0, 1000), slice(1000, 4000)
    queries = np.ascontiguousarray(data.xb[[10, 20, 1500, 3500]])
    np.save(tmp_path / "q.npy", queries)
    # a small map, so the writer's later batch must grow it past the readers'
    writer = vecstore.open(path, map_size=1 << 20)
    try:
        col = writer.create_collection("docs", dim=32)
        col.upsert(data.ids[first], data.xb[first], [{"n": int(i)} for i in data.ids[first]])
        readers = [Reader(path, str(tmp_path / "q.npy")) for _ in range(2)]
        try:
            for r in readers:
                assert r.first["count"] == 1000
                assert r.first["hits"][:2] == data.ids[[10, 20]].tolist()
                assert r.first["payload"] == {"n": int(data.ids[10])}
                assert r.ask("write") == {"write": "READ_ONLY"}
            map_before = writer._storage.map_size
            col.upsert(data.ids[later], data.xb[later], [{"n": int(i)} for i in data.ids[later]])
            writer.create_collection("more", dim=8)
            assert writer._storage.map_size > map_before  # the writer grew the map
            for r in readers:
                after = r.ask("refresh")
                assert after["changed"] is True
                assert after["count"] == 4000
                assert after["hits"] == data.ids[[10, 20, 1500, 3500]].tolist()
                assert after["names"] == ["docs", "more"]
                again = r.ask("refresh")
                assert again["changed"] is False and again["count"] == 4000
            col.delete(data.ids[[1500]])
            writer.drop_collection("more")
            for r in readers:
                after = r.ask("refresh")
                assert after["count"] == 3999 and after["names"] == ["docs"]
                assert after["hits"][2] != int(data.ids[1500])
        finally:
            for r in readers:
                r.close()
    finally:
        writer.close()


def test_read_only_in_process_rules(tmp_path):
    path = str(tmp_path / "db")
    with pytest.raises(NotFoundError):
        vecstore.open(path, read_only=True)
    assert not os.path.exists(path)  # a read-only open creates nothing
    with vecstore.open(path) as db:
        db.create_collection("docs", dim=4).upsert([1, 2], [[1, 0, 0, 0], [0, 1, 0, 0]], [{"a": 1}, None])
    with vecstore.open(path, read_only=True) as db:
        assert db.read_only
        col = db.get_collection("docs")
        assert col.count() == 2 and col.search([[1, 0, 0, 0]], k=1).ids[0, 0] == 1
        for write in (
            lambda: col.upsert([3], [[0, 0, 1, 0]]),
            lambda: col.delete([1]),
            lambda: col.set_payload([1], {"b": 2}),
            lambda: db.create_collection("x", dim=4),
            lambda: db.drop_collection("docs"),
        ):
            with pytest.raises(ReadOnlyError):
                write()
        assert col.count() == 2 and db.list_collections() == ["docs"]
        assert db.refresh() is False
        db.snapshot(str(tmp_path / "snap"))  # a consistent copy needs only a read
    with vecstore.open(str(tmp_path / "snap")) as snap:
        assert snap.get_collection("docs").count() == 2
