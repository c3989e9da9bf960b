"""Collections with id_type="str": every call takes and returns str ids,
embedded and over gRPC alike, and the str <-> internal id maps stay
consistent with the points through deletes, reopen, snapshot and check.

The main check is differential: a str collection fed the same points in the
same order as an int collection gets internal ids equal to the int ids, so
its every answer must be the int collection's with the ids named."""
import asyncio
import os
import subprocess
import sys
import uuid

import lmdb
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization
from vecstore.api.ids import MAX_STR_ID_BYTES
from vecstore.engine.check import check_database
from vecstore.errors import (
    EmptyBatchError,
    InvalidConfigError,
    InvalidIdError,
    InvalidQueryError,
    PointNotFoundError,
)
from synthetic import clustered, sparse_vectors

N, DIM = 600, 16
NAMES = np.array([str(uuid.UUID(int=(i * 2654435761) % 2**128)) for i in range(N - 4)]
                 + ["é" * 128, "日本語のID", "emoji 🦀 id", "a" * MAX_STR_ID_BYTES], dtype=object)


def payload(i):
    return {"i": i, "tag": ["a", "b", "c"][i % 3]} if i % 5 else None


def pair(db, **options):
    """An int and a str collection holding the same points, written in the same batches."""
    data = clustered(N, DIM, nq=6, seed=3)
    rows = sparse_vectors(N, 50, seed=4)
    q = BinaryQuantization(train_size=200)
    ints = db.create_collection("ints", dim=DIM, quantization=q, sparse_vectors=True, **options)
    strs = db.create_collection("strs", dim=DIM, quantization=q, sparse_vectors=True, id_type="str", **options)
    for lo in (0, 150, 400):
        hi = {0: 150, 150: 400, 400: N}[lo]
        pays = [payload(i) for i in range(lo, hi)]
        ints.upsert(np.arange(lo, hi), data.xb[lo:hi], pays, sparse_vectors=rows[lo:hi])
        strs.upsert(NAMES[lo:hi], data.xb[lo:hi], pays, sparse_vectors=rows[lo:hi])
    return data, rows, ints, strs


def named(ids):
    """An int result's ids as the str collection names them (padding None)."""
    out = np.full(ids.shape, None, dtype=object)
    out[ids >= 0] = NAMES[ids[ids >= 0]]
    return out


def assert_str_ids(ids):
    assert ids.dtype == object
    assert all(v is None or type(v) is str for v in ids.reshape(-1).tolist())


def same_hits(int_result, str_result):
    assert_str_ids(str_result.ids)
    assert (str_result.ids == named(int_result.ids)).all()
    np.testing.assert_array_equal(str_result.scores, int_result.scores)
    assert str_result.payloads == int_result.payloads
    if int_result.vectors is None:
        assert str_result.vectors is None
    else:
        np.testing.assert_array_equal(str_result.vectors, int_result.vectors)


# -- the differential check, both surfaces ---------------------------------------------------
def test_every_read_matches_the_int_collection(db):
    data, rows, ints, strs = pair(db)
    assert strs.info().config.id_type == "str" and ints.info().config.id_type == "int"
    assert strs.info().trained  # past train_size: the codes path, not the exact scan
    for kwargs in ({}, {"filter": {"tag": "b"}}, {"with_payloads": True, "with_vectors": True},
                   {"filter": {"i": {"$lt": 300}}, "with_payloads": True}, {"rescore": False}):
        same_hits(ints.search(data.xq, k=7, **kwargs), strs.search(data.xq, k=7, **kwargs))
    # hybrid: fused, and sparse retrieval alone
    qs = [rows[i] for i in (1, 2, 3, 4, 6, 7) if rows[i] is not None][:3]
    same_hits(ints.search(data.xq[: len(qs)], k=6, sparse_query=qs),
              strs.search(data.xq[: len(qs)], k=6, sparse_query=qs))
    same_hits(ints.search(None, k=6, sparse_query=qs, with_payloads=True),
              strs.search(None, k=6, sparse_query=qs, with_payloads=True))
    # search_by_id: the point itself is left out of its own hits
    asked = [5, 0, 599, 5]
    by_id = strs.search_by_id(NAMES[asked], k=5, with_payloads=True)
    same_hits(ints.search_by_id(asked, k=5, with_payloads=True), by_id)
    for name, row in zip(NAMES[asked], by_id.ids):
        assert name not in row.tolist()
    same_hits(ints.search_by_id(asked[:2], k=4, filter={"tag": "a"}),
              strs.search_by_id(list(NAMES[asked[:2]]), k=4, filter={"tag": "a"}))
    # get, in request order, missing ids left out
    got = strs.get(["nope", NAMES[9], NAMES[2], "é" * 128])
    assert_str_ids(got.ids)
    assert got.ids.tolist() == [NAMES[9], NAMES[2], "é" * 128]
    want = ints.get([9, 2, N - 4])
    np.testing.assert_array_equal(got.vectors, want.vectors)
    assert got.payloads == want.payloads
    assert strs.count() == N and strs.count(filter={"tag": "c"}) == ints.count(filter={"tag": "c"})


def test_padding_is_none(db):
    col = db.create_collection("few", dim=4, id_type="str", quantization="none")
    col.upsert(["x", "y"], np.eye(2, 4) + 0.1)
    hits = col.search(np.ones(4), k=4, with_payloads=True)
    assert hits.ids.tolist() == [["x", "y", None, None]] or hits.ids.tolist() == [["y", "x", None, None]]
    assert np.isnan(hits.scores[0, 2:]).all()
    assert hits.payloads[0][2:] == [None, None]
    by_id = col.search_by_id("x", k=3)
    assert by_id.ids.tolist() == [["y", None, None]]


def test_scroll_pages_in_utf8_byte_order(db):
    data, _, ints, strs = pair(db)
    ordered = sorted(NAMES.tolist(), key=lambda s: s.encode("utf-8"))
    seen, cursor, pages = [], None, 0
    while True:
        page = strs.scroll(97, after=cursor, with_vectors=True)
        assert_str_ids(page.points.ids)
        seen += page.points.ids.tolist()
        cursor = page.next_cursor
        pages += 1
        assert cursor is None or type(cursor) is str
        if cursor is None:
            break
    assert seen == ordered and pages == 7
    filtered, cursor = [], None
    while True:
        page = strs.scroll(40, after=cursor, filter={"tag": "a"}, with_payloads=True)
        assert all(p["tag"] == "a" for p in page.points.payloads)
        filtered += page.points.ids.tolist()
        if (cursor := page.next_cursor) is None:
            break
    want = [n for n in ordered if payload(int(np.flatnonzero(NAMES == n)[0])) and
            payload(int(np.flatnonzero(NAMES == n)[0]))["tag"] == "a"]
    assert filtered == want
    assert strs.scroll(5, after=ordered[-1]).points.ids.tolist() == []
    # a cursor need not be a stored id: the scroll goes on after where it would sort
    assert strs.scroll(3, after=ordered[10] + "\0").points.ids.tolist() == ordered[11:14]
    with pytest.raises(InvalidQueryError, match='id_type="str"'):
        strs.scroll(5, after=3)
    with pytest.raises(InvalidQueryError, match='id_type="int"'):
        ints.scroll(5, after="3")


def test_writes_deletes_and_payload_edits(db):
    col = db.create_collection("w", dim=8, id_type="str", quantization=BinaryQuantization(train_size=64))
    names = [f"doc-{i}" for i in range(200)]
    x = np.random.default_rng(0).normal(size=(200, 8))
    assert col.upsert(names, x, [{"n": i} for i in range(200)]) == 200
    assert col.upsert(("doc-3", "new"), x[:2] * -1) == 2  # a tuple; one replaced, one new
    assert col.count() == 201 and col.get("doc-3").payloads == [None]
    np.testing.assert_array_equal(col.get(["doc-3"]).vectors, (x[:1] * -1).astype(np.float32))
    assert col.set_payload(["doc-4", "ghost", "doc-5"], {"k": 1}) == 2
    assert col.get(["doc-4"]).payloads == [{"n": 4, "k": 1}]
    assert col.overwrite_payload(np.array(["doc-4"]), {"o": 2}) == 1
    assert col.delete_payload_keys(["doc-5"], ["n"]) == 1
    assert col.get(["doc-4", "doc-5"]).payloads == [{"o": 2}, {"k": 1}]
    assert col.delete(["doc-0", "doc-1", "ghost", "doc-0"]) == 2
    assert col.delete(filter={"n": {"$gte": 190}}) == 10
    assert col.count() == 189 and len(col.get(["doc-0", "doc-195"])) == 0
    # delete + reinsert the same id: a new point under the old name, found by search
    assert col.delete(["doc-7"]) == 1
    col.upsert(["doc-7"], x[7:8] * 3, [{"again": True}])
    assert col.get(["doc-7"]).payloads == [{"again": True}]
    assert col.search(x[7] * 3, k=1).ids.tolist() == [["doc-7"]]
    assert col.search_by_id(["doc-7"], k=3).ids.shape == (1, 3)
    assert col.count() == 189


ERRORS = [
    ([1], InvalidIdError, "must be str, got int"),
    ([np.int64(3)], InvalidIdError, "must be str"),
    ([None], InvalidIdError, "got NoneType"),
    ([b"raw"], InvalidIdError, "got bytes"),
    ([1.5], InvalidIdError, "got float"),
    ([""], InvalidIdError, "non-empty"),
    (["é" * 128 + "x"], InvalidIdError, "257 UTF-8 bytes, at most 256"),
    (["bad \ud800 surrogate"], InvalidIdError, "not valid UTF-8"),
    (np.arange(3), InvalidIdError, 'id_type="str"'),
    ([], EmptyBatchError, "empty"),
]


@pytest.mark.parametrize("ids, error, message", ERRORS)
def test_wrong_ids_on_a_str_collection(db, ids, error, message):
    col = db.create_collection("e", dim=4, id_type="str", quantization="none")
    col.upsert(["ok"], np.ones((1, 4)))
    n = max(len(ids), 1)
    with pytest.raises(error, match=message):
        col.upsert(ids, np.ones((n, 4)))
    calls = [lambda: col.get(ids), lambda: col.delete(ids), lambda: col.set_payload(ids, {"a": 1}),
             lambda: col.search_by_id(ids, k=1)]
    for call in calls:
        if error is EmptyBatchError:
            continue  # reads and deletes of no ids are fine
        with pytest.raises(error, match=message):
            call()
    assert col.count() == 1


def test_duplicates_and_the_boundary(db):
    col = db.create_collection("d", dim=4, id_type="str", quantization="none")
    with pytest.raises(InvalidIdError, match="duplicate id 'a'"):
        col.upsert(["a", "b", "a"], np.ones((3, 4)))
    longest = ["a" * 256, "é" * 128, "🦀" * 64]  # 256 UTF-8 bytes each
    assert col.upsert(longest, np.ones((3, 4))) == 3
    assert sorted(col.get(longest).ids.tolist()) == sorted(longest)
    with pytest.raises(InvalidIdError, match="257 UTF-8 bytes"):
        col.upsert(["🦀" * 64 + "a"], np.ones((1, 4)))
    with pytest.raises(PointNotFoundError, match="'missing'"):
        col.search_by_id(["a" * 256, "missing"], k=1)
    assert col.count() == 3


@pytest.mark.parametrize("ids", [["a"], "a", np.array(["a", "b"]), [0, "a"]])
def test_str_ids_on_an_int_collection(db, ids):
    col = db.create_collection("i", dim=4, quantization="none")
    col.upsert([0], np.ones((1, 4)))
    for call in (lambda: col.upsert(ids, np.ones((len(np.atleast_1d(ids)), 4))), lambda: col.get(ids),
                 lambda: col.delete(ids), lambda: col.search_by_id(ids, k=1),
                 lambda: col.overwrite_payload(ids, None)):
        with pytest.raises(InvalidIdError, match='id_type="int": ids must be integers, got str'):
            call()


def test_bad_id_type(db):
    with pytest.raises(InvalidConfigError, match="id_type"):
        db.create_collection("b", dim=4, id_type="uuid")


def test_int_results_keep_int_ids(db):
    col = db.create_collection("ints", dim=4, quantization="none")
    col.upsert([1, 2], np.eye(2, 4) + 0.1)
    hits = col.search(np.ones(4), k=3)
    assert hits.ids.dtype == np.int64 and hits.ids[0, 2] == -1
    assert col.scroll(1).next_cursor == 1


# -- async client ----------------------------------------------------------------------------
def test_async_client(tmp_path):
    from conftest import serving
    from vecstore.rpc.aio_client import AsyncClient

    async def run(address):
        async with AsyncClient(address) as db:
            col = await db.create_collection("a", dim=4, id_type="str", quantization="none")
            assert col.config.id_type == "str"
            await col.upsert(["k1", "k2", "🦀"], np.eye(3, 4) + 0.1, [{"t": 1}, None, {"t": 3}])
            hits = await col.search(np.eye(3, 4)[2] + 0.1, k=4, with_payloads=True)
            assert hits.ids[0, 0] == "🦀" and sorted(hits.ids[0, 1:3].tolist()) == ["k1", "k2"]
            assert hits.ids[0, 3] is None and hits.payloads[0][0] == {"t": 3}
            assert (await col.search_by_id(["k1"], k=2)).ids[0].tolist().count("k1") == 0
            assert (await col.get(["k2", "nope"])).ids.tolist() == ["k2"]
            page = await col.scroll(2)
            assert page.points.ids.tolist() == ["k1", "k2"] and page.next_cursor == "k2"
            assert (await col.scroll(2, after="k2")).points.ids.tolist() == ["🦀"]
            assert await col.set_payload(["k2"], {"z": 0}) == 1
            assert await col.delete(["k1"]) == 1
            with pytest.raises(InvalidIdError, match='id_type="str"'):
                await col.get([1])
            ints = await db.create_collection("b", dim=4, quantization="none")
            with pytest.raises(InvalidIdError, match='id_type="int"'):
                await ints.upsert(["x"], np.ones((1, 4)))

    with serving(tmp_path / "served") as address:
        asyncio.run(run(address))


# -- persistence, snapshot, check: embedded ---------------------------------------------------
def test_reopen_keeps_the_maps_and_the_counter(tmp_path):
    path = tmp_path / "db"
    with vecstore.open(path) as db:
        col = db.create_collection("s", dim=4, id_type="str", quantization="none")
        col.upsert(["a", "b", "c"], np.eye(3, 4) + 0.1)
        col.delete(["c"])
    with vecstore.open(path) as db:
        col = db.get_collection("s")
        assert col.config.id_type == "str" and col.count() == 2
        col.upsert(["c", "d"], np.eye(2, 4) + 0.2)  # internal ids go on from the counter
        assert col.search(np.eye(4)[1] + 0.2, k=1).ids.tolist() == [["d"]]
        assert col.scroll().points.ids.tolist() == ["a", "b", "c", "d"]
    report = check_database(path)
    assert report.healthy, report.text()
    assert any("4 str ids, both maps agree" in n for n in report.notes), report.text()


def test_old_catalogs_read_as_int(tmp_path):
    from vecstore.config import CollectionConfig

    config = CollectionConfig.from_dict({"name": "old", "dim": 4, "metric": "cosine",
                                         "quantization": {"kind": "none"}})
    assert config.id_type == "int"
    assert CollectionConfig.from_dict(config.to_dict()) == config


def test_snapshot_restore_and_check(tmp_path):
    from vecstore.engine.restore import restore_snapshot

    with vecstore.open(tmp_path / "db") as db:
        data, _, _, strs = pair(db)
        strs.delete(NAMES[:20])
        snap = db.snapshot(tmp_path / "snap")
        strs.upsert(["after-snapshot"], data.xb[:1])
    restore_snapshot(snap, str(tmp_path / "restored"))
    report = check_database(str(tmp_path / "restored"))
    assert report.healthy, report.text()
    with vecstore.open(tmp_path / "restored") as db:
        col = db.get_collection("strs")
        assert col.count() == N - 20 and len(col.get(["after-snapshot"])) == 0
        assert col.get(NAMES[20:23]).ids.tolist() == NAMES[20:23].tolist()
        assert col.search_by_id([NAMES[30]], k=3).ids.shape == (1, 3)


def _raw(path, fn):
    env = lmdb.open(str(path), max_dbs=2048, subdir=True)
    try:
        with env.begin(write=True) as txn:
            fn(env, txn)
    finally:
        env.close()


@pytest.mark.parametrize("damage, message", [
    ("name_gone", "have no str id"),
    ("reverse_gone", "do not map back"),
    ("extra_name", "have a str id but no point"),
    ("counter_behind", "next internal id"),
])
def test_check_finds_broken_maps(tmp_path, damage, message):
    path = tmp_path / "db"
    with vecstore.open(path) as db:
        col = db.create_collection("s", dim=4, id_type="str", quantization="none")
        col.upsert(["a", "b", "c"], np.eye(3, 4) + 0.1)
        cid = col.cid

    def hurt(env, txn):
        by_name = env.open_db(f"c{cid}.str_ids".encode(), txn=txn)
        by_internal = env.open_db(f"c{cid}.str_names".encode(), txn=txn)
        if damage == "name_gone":
            txn.delete(b"b", db=by_name)
            txn.delete((1).to_bytes(8, "big"), db=by_internal)
        elif damage == "reverse_gone":
            txn.delete((1).to_bytes(8, "big"), db=by_internal)
        elif damage == "extra_name":
            txn.put(b"z", (99).to_bytes(8, "big"), db=by_name)
            txn.put((99).to_bytes(8, "big"), b"z", db=by_internal)
        else:
            txn.put(b"next_internal_id", (1).to_bytes(8, "big"), db=env.open_db(f"c{cid}.meta".encode(), txn=txn))

    _raw(path, hurt)
    report = check_database(path)
    assert not report.healthy
    assert any(message in p for p in report.problems), report.text()


_WRITER = """
import sys, numpy as np, vecstore
db = vecstore.open(sys.argv[1])
col = db.create_collection("s", dim=8, id_type="str", quantization="none")
for b in range(10_000):
    names = [f"batch{b}-{i}" for i in range(20)]
    col.upsert(names, np.random.default_rng(b).normal(size=(20, 8)))
    if b % 3 == 2:
        col.delete([f"batch{b - 1}-{i}" for i in range(0, 20, 2)])
    print(b, flush=True)
"""


def test_killed_writer_leaves_consistent_maps(tmp_path):
    """SIGKILL mid-stream: every acknowledged batch's names map to its points, nothing half-written."""
    path = tmp_path / "db"
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    acked = -1
    for line in proc.stdout:
        acked = int(line)
        if acked >= 40:
            break
    proc.kill()
    proc.wait()
    report = check_database(path)
    assert report.healthy, report.text()
    with vecstore.open(path) as db:
        col = db.get_collection("s")
        for b in range(acked + 1):
            names = [f"batch{b}-{i}" for i in range(20)]
            got = col.get(names, with_vectors=True)
            deleted = b % 3 == 1 and b + 1 <= acked  # the next batch's delete was acknowledged too
            want = [n for i, n in enumerate(names) if not (deleted and i % 2 == 0)]
            if b % 3 == 1 and not deleted:
                assert len(got) in (10, 20)  # its delete may or may not have committed
                continue
            assert got.ids.tolist() == want
            x = np.random.default_rng(b).normal(size=(20, 8)).astype(np.float32)
            np.testing.assert_array_equal(got.vectors, x[[names.index(n) for n in want]])
        assert len(col.get([f"batch{acked + 1}-{i}" for i in range(20)])) in (0, 20)  # in flight: all or none
        assert col.count() == len(col.scroll(10_000).points)


# -- the wire, as other clients speak it -------------------------------------------------------
def test_raw_wire_messages(tmp_path):
    import grpc

    from conftest import serving
    from vecstore.rpc.status import ERROR_CODE_KEY
    from vecstore.rpc.v1 import vecstore_pb2 as pb
    from vecstore.rpc.v1 import vecstore_pb2_grpc as pb_grpc

    def refused(call, request):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=30)
        err = info.value
        return err.code(), dict(err.trailing_metadata() or ()).get(ERROR_CODE_KEY), err.details()

    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as client:
            client.create_collection("s", dim=4, id_type="str", quantization="none")
            client.create_collection("i", dim=4, quantization="none")
        channel = grpc.insecure_channel(address)
        points = pb_grpc.PointsStub(channel)
        collections = pb_grpc.CollectionsStub(channel)
        x = pb.Vectors(dim=4, data=np.ones((2, 4), "<f4").tobytes())
        s, i = pb.CollectionRef(name="s"), pb.CollectionRef(name="i")
        strs = pb.Ids(strs=pb.StringIds(values=["a", "b"]))
        # an old client: int ids in the original field keep working
        assert points.Upsert(pb.UpsertRequest(collection=i, ids=[1, 2], vectors=x)).written == 2
        assert list(points.Get(pb.GetRequest(collection=i, ids=[2])).ids) == [2]
        assert points.Upsert(pb.UpsertRequest(collection=i, point_ids=pb.Ids(ints=pb.IntIds(values=[3, 4])),
                                              vectors=x)).written == 2
        assert points.Upsert(pb.UpsertRequest(collection=s, point_ids=strs, vectors=x)).written == 2
        got = points.Get(pb.GetRequest(collection=s, point_ids=pb.Ids(strs=pb.StringIds(values=["b", "z"]))))
        assert list(got.point_ids.strs.values) == ["b"] and list(got.ids) == []
        hits = points.Search(pb.SearchRequest(collection=s, queries=pb.Vectors(dim=4, data=x.data[:16]), k=5))
        assert sorted(hits.results[0].point_ids.strs.values) == ["a", "b"]
        page = points.Scroll(pb.ScrollRequest(collection=s, limit=1))
        assert page.next_id.str_id == "a" and not page.HasField("next_cursor")
        page = points.Scroll(pb.ScrollRequest(collection=s, limit=1, after_id=pb.PointId(str_id="a")))
        assert list(page.point_ids.strs.values) == ["b"]
        desc = collections.GetCollection(pb.GetCollectionRequest(name="s")).collection
        assert desc.config.id_type == pb.ID_TYPE_STR
        # wrong types, sent raw (no client checks): INVALID_ARGUMENT / INVALID_ID from the server
        for call, request in [
            (points.Upsert, pb.UpsertRequest(collection=s, ids=[1, 2], vectors=x)),
            (points.Upsert, pb.UpsertRequest(collection=i, point_ids=strs, vectors=x)),
            (points.Get, pb.GetRequest(collection=s, ids=[1])),
            (points.Delete, pb.DeleteRequest(collection=i, point_ids=strs)),
            (points.SearchById, pb.SearchByIdRequest(collection=i, point_ids=strs, k=1)),
            (points.SetPayload, pb.SetPayloadRequest(collection=s, ids=[1], payload=b'{"a": 1}')),
            (points.Upsert, pb.UpsertRequest(collection=s, point_ids=pb.Ids(strs=pb.StringIds(values=["", "b"])),
                                             vectors=x)),
            (points.Get, pb.GetRequest(collection=i, ids=[1], point_ids=pb.Ids(ints=pb.IntIds(values=[2])))),
        ]:
            status, code, details = refused(call, request)
            assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ID"), details
        status, code, details = refused(points.Scroll, pb.ScrollRequest(collection=s, limit=1, after=3))
        assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY") and 'id_type="str"' in details
        channel.close()


# -- command line ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["data-dir", "server"])
def test_cli_str_ids(tmp_path, capsys, mode):
    import json

    from conftest import serving
    from vecstore import cli

    def run(*argv):
        code = cli.main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    x = np.random.default_rng(0).standard_normal((40, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    names = [f"doc/{i}-é" for i in range(40)]
    (tmp_path / "ids.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
    (tmp_path / "p.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(40)))

    def session(*target):
        code, out, err = run("create", "docs", "--dim", 8, "--id-type", "str", "--quantization", "none", *target)
        assert code == 0 and "id_type=str" in out, err
        code, out, err = run("import", "docs", tmp_path / "x.npy", "--ids", tmp_path / "ids.txt",
                             "--payloads", tmp_path / "p.jsonl", "--batch", 16, "--quiet", *target)
        assert code == 0 and "(now 40 points)" in out, err
        code, out, err = run("import", "other", tmp_path / "x.npy", "--create", "--id-type", "str", "--quiet", *target)
        assert code == 2 and "--ids" in err
        code, out, _ = run("info", "docs", *target)
        assert "id_type=str" in out and "count=40" in out
        code, out, err = run("search", "docs", "--like", "doc/7-é", "-k", 2, "--with-payloads", *target)
        assert code == 0, err
        hits = json.loads(out)["hits"]
        assert hits[0] == {"id": "doc/7-é", "score": pytest.approx(1.0, abs=1e-5), "payload": {"n": 7}}
        code, out, err = run("search", "docs", "--like", "nope", *target)
        assert code == 2 and "no point with id" in err

    if mode == "data-dir":
        session("--data-dir", tmp_path / "db")
    else:
        with serving(tmp_path / "served") as address:
            session("--server", address)


def test_hits_deleted_before_naming_are_dropped(engine_db):
    """A hit whose point goes between the search and the naming of its hits
    leaves its row; the rest move up, with their scores, payloads and vectors."""
    from vecstore.types import SearchResult

    col = engine_db.create_collection("s", dim=2, id_type="str", quantization="none")
    col.upsert(["a", "b", "c"], np.eye(3, 2) + 0.5)  # internal ids 0, 1, 2
    col.delete(["b"])
    internal = SearchResult(ids=np.array([[1, 0, 2], [2, -1, -1]]),
                            scores=np.array([[0.9, 0.8, 0.7], [0.6, np.nan, np.nan]], np.float32),
                            payloads=[[{"p": 1}, {"p": 0}, {"p": 2}], [{"p": 2}, None, None]],
                            vectors=np.arange(18, dtype=np.float32).reshape(2, 3, 3))
    named = col._ids.hits(internal)
    assert named.ids.tolist() == [["a", "c", None], ["c", None, None]]
    np.testing.assert_array_equal(named.scores, np.array([[0.8, 0.7, np.nan], [0.6, np.nan, np.nan]], np.float32))
    assert named.payloads == [[{"p": 0}, {"p": 2}, None], [{"p": 2}, None, None]]
    np.testing.assert_array_equal(named.vectors[0, :2], internal.vectors[0, 1:])
    assert np.isnan(named.vectors[0, 2]).all()
