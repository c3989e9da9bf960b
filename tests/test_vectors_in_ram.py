"""vectors_in_ram: the rerank reads a RAM copy of the vectors instead of LMDB.

It must give exactly the answers of the same collection reranking from LMDB
(same rows, same id order for ties), through upserts that replace and delete,
automatic training, growth, and a reopen that refills the copy from LMDB; and
it must read no vector from LMDB while searching."""
import numpy as np
import pytest

import vecstore
from vecstore import BinaryQuantization, IVFConfig
from vecstore.config import CollectionConfig
from vecstore.errors import InvalidConfigError
from vecstore.rpc import convert as C
from vecstore.rpc.v1 import vecstore_pb2 as pb

from synthetic import clustered

DIM = 40


@pytest.fixture(scope="module")
def data():
    return clustered(2400, DIM, nq=16, n_clusters=12, seed=73)


def twins(db, metric="cosine", dtype="float32", ivf=False, margin=0.0):
    """Two collections alike but for vectors_in_ram: (from LMDB, from RAM)."""
    out = []
    for in_ram in (False, True):
        out.append(db.create_collection(
            f"c{int(in_ram)}", dim=DIM, metric=metric, vector_dtype=dtype, vectors_in_ram=in_ram,
            quantization=BinaryQuantization(train_size=500, margin=margin),
            ivf=IVFConfig(nlist=8, nprobe=3, train_size=800) if ivf else None))
    return out


def assert_same(a, b, queries, **kw):
    ra, rb = a.search(queries, k=8, **kw), b.search(queries, k=8, **kw)
    np.testing.assert_array_equal(ra.ids, rb.ids)
    np.testing.assert_allclose(ra.scores, rb.scores, rtol=1e-6, atol=1e-6)
    for i, q in enumerate(queries):  # the single-query path
        one = b.search(q, k=8, **kw)
        np.testing.assert_array_equal(one.ids[0], ra.ids[i])
        np.testing.assert_allclose(one.scores[0], ra.scores[i], rtol=1e-5, atol=1e-6)
    return rb


def no_lmdb_reads(col, monkeypatch):
    """Fail on any read of the rerank's LMDB reader."""
    def refuse(keys):
        raise AssertionError(f"searched with {len(keys)} reads from LMDB")
    monkeypatch.setattr(col._vectors, "get", refuse)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("ivf", [False, True])
def test_same_answers_as_the_rerank_from_lmdb(tmp_path, data, metric, dtype, ivf, monkeypatch):
    with vecstore.open(tmp_path / "db") as db:
        disk, ram = twins(db, metric, dtype, ivf, margin=1.5)
        for col in (disk, ram):
            for lo in range(0, len(data.ids), 600):  # trains on the way
                col.upsert(data.ids[lo:lo + 600], data.xb[lo:lo + 600])
        assert ram.info().trained and (not ivf or ram.info().extra["ivf_trained"])
        no_lmdb_reads(ram, monkeypatch)
        got = assert_same(disk, ram, data.xq, oversampling=4)
        assert (got.ids >= 0).all()
        assert_same(disk, ram, data.xq, oversampling=2, margin=0.0)
        # a batch larger than one rerank group (16 queries)
        big = np.vstack([data.xq, data.xb[:21] + 0.05])
        np.testing.assert_array_equal(ram.search(big, k=8, oversampling=4).ids, disk.search(big, k=8, oversampling=4).ids)


def test_replaced_and_deleted_points(tmp_path, data, monkeypatch):
    rng = np.random.default_rng(5)
    with vecstore.open(tmp_path / "db") as db:
        disk, ram = twins(db, dtype="float16", ivf=True)
        moved = data.ids[:300]
        gone = data.ids[300:500]
        # replaced points take vectors near the queries: they must rank by the new ones
        near = data.xq[rng.integers(0, len(data.xq), len(moved))] + 0.01 * rng.standard_normal((len(moved), DIM))
        for col in (disk, ram):
            col.upsert(data.ids, data.xb)
            col.upsert(moved, near)
            col.delete(gone)
        got = assert_same(disk, ram, data.xq, oversampling=4)
        assert not np.isin(got.ids, gone).any()
        assert np.isin(got.ids, moved).any()
        for col in (disk, ram):  # deleted slots are taken again by new points
            col.upsert(gone + 10_000, data.xb[300:500])
        got = assert_same(disk, ram, data.xq, oversampling=4)
        assert not np.isin(got.ids, gone).any()


@pytest.mark.parametrize("ivf", [False, True])
def test_filtered_searches(tmp_path, data, ivf, monkeypatch):
    """A broad filter scans with the mask (reranked from RAM); a narrow one is
    scored exactly over its matches (read from LMDB): same answers either way."""
    payloads = [{"bucket": int(i % 10)} for i in range(len(data.ids))]
    with vecstore.open(tmp_path / "db") as db:
        disk, ram = twins(db, dtype="float16", ivf=ivf)
        for col in (disk, ram):
            col.upsert(data.ids, data.xb, payloads)
        for flt in ({"bucket": {"$lt": 6}}, {"bucket": 3}):
            ra = disk.search(data.xq, k=8, oversampling=4, filter=flt)
            rb = ram.search(data.xq, k=8, oversampling=4, filter=flt)
            np.testing.assert_array_equal(ra.ids, rb.ids)
            np.testing.assert_allclose(ra.scores, rb.scores, rtol=1e-6, atol=1e-6)
            allowed = data.ids[[p["bucket"] in ((0, 1, 2, 3, 4, 5) if "$lt" in str(flt) else (3,)) for p in payloads]]
            assert np.isin(rb.ids, allowed).all()


def test_reopen_refills_the_copy_from_lmdb(tmp_path, data, monkeypatch):
    path = tmp_path / "db"
    with vecstore.open(path) as db:
        disk, ram = twins(db, dtype="float16", ivf=True)
        for col in (disk, ram):
            col.upsert(data.ids[:2000], data.xb[:2000])
            col.delete(data.ids[100:150])
        before = ram.search(data.xq, k=8, oversampling=4)
    with vecstore.open(path) as db:
        disk, ram = db.get_collection("c0"), db.get_collection("c1")
        assert ram.config.vectors_in_ram and not disk.config.vectors_in_ram
        with monkeypatch.context() as m:
            no_lmdb_reads(ram, m)
            after = ram.search(data.xq, k=8, oversampling=4)
        np.testing.assert_array_equal(after.ids, before.ids)
        assert_same(disk, ram, data.xq, oversampling=4)
        for col in (disk, ram):  # grows past the capacity it was loaded with
            col.upsert(data.ids[2000:], data.xb[2000:])
        assert_same(disk, ram, data.xq, oversampling=4)


def test_the_copy_is_counted_in_ram_bytes(tmp_path, data):
    with vecstore.open(tmp_path / "db") as db:
        disk, ram = twins(db, dtype="float16")
        for col in (disk, ram):
            col.upsert(data.ids, data.xb)
        extra = ram.info().ram_bytes - disk.info().ram_bytes
        assert extra == ram._seg.vectors.nbytes == ram.info().extra["vectors_ram_bytes"]
        assert "vectors_ram_bytes" not in disk.info().extra
        assert extra >= len(data.ids) * DIM * 2


def test_the_setting_is_validated_and_travels():
    with pytest.raises(InvalidConfigError, match="vectors_in_ram"):
        CollectionConfig(name="c", dim=4, vectors_in_ram="yes")
    config = CollectionConfig(name="c", dim=4, vectors_in_ram=True)
    assert CollectionConfig.from_dict(config.to_dict()) == config
    old = config.to_dict()
    del old["vectors_in_ram"]  # a collection made before the setting existed
    assert CollectionConfig.from_dict(old).vectors_in_ram is False
    msg = pb.CollectionConfig.FromString(C.config_to_proto(config).SerializeToString())
    assert msg.vectors_in_ram and CollectionConfig(**C.config_from_proto(msg)) == config


def test_both_surfaces_take_the_setting(db):
    """Embedded and over gRPC: a bad value is refused, a good one is kept and used."""
    with pytest.raises(InvalidConfigError):
        db.create_collection("bad", dim=4, vectors_in_ram=1)
    col = db.create_collection("c", dim=4, vectors_in_ram=True, quantization=BinaryQuantization(train_size=8))
    assert db.get_collection("c").config.vectors_in_ram
    rng = np.random.default_rng(2)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    col.upsert(np.arange(64), x)
    assert col.info().trained
    np.testing.assert_array_equal(col.search(x[17], k=1).ids, [[17]])


def test_open_reads_the_file_through_when_the_vectors_are_most_of_it(tmp_path, data, monkeypatch):
    """The refill walks most pages of the file: it reads the file sequentially
    first (the map's readahead is off) when the vectors are >= 1/8 of it."""
    from vecstore.engine.storage import Storage

    path = tmp_path / "db"
    with vecstore.open(path) as db:
        ram = db.create_collection("c", dim=DIM, vector_dtype="float32", vectors_in_ram=True,
                                   quantization=BinaryQuantization(train_size=500))
        ram.upsert(data.ids, data.xb)
        before = ram.search(data.xq, k=8, oversampling=4)
    calls = []
    real = Storage.read_file_through
    monkeypatch.setattr(Storage, "read_file_through", lambda self: (calls.append(self.path), real(self)))
    with vecstore.open(path) as db:
        after = db.get_collection("c").search(data.xq, k=8, oversampling=4)
    assert calls == [str(path)]
    np.testing.assert_array_equal(after.ids, before.ids)
