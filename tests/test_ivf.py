"""IVF over any kind: partitions learned at a threshold, scans only probed lists."""
import numpy as np
import pytest

import native

import vecstore
from vecstore import BinaryQuantization, CollectionConfig, IVFConfig, SparseQuantization
from vecstore.engine.codecs.binary import BinaryCodec
from vecstore.engine.persist import decode_chunks
from vecstore.engine.postings import Postings

from synthetic import clustered, recall_at_k


@pytest.fixture(scope="module")
def data():
    return clustered(8000, 128, nq=100, n_clusters=32, seed=31)


def check_lists(col):
    """Every live slot is in exactly one list, the one its stored chunk in LMDB
    names (writes read old lists from there); nothing else is listed."""
    if not isinstance(col, vecstore.Collection):
        return  # gRPC mode: the server's engine internals are out of the client's sight
    seg = col._seg
    live = np.flatnonzero(seg.alive[: seg.n])
    list_of = seg.lists_by_slot()
    assert (list_of[live] >= 0).all()
    assert (list_of[seg.alive[: seg.n] == 0] == -1).all()
    listed = np.concatenate([seg.lists.region(l) for l in range(seg.ivf.nlist)])
    assert sorted(listed.tolist()) == live.tolist()
    with col._storage.read() as txn:
        chunks = list(txn.cursor(db=col._dbs["chunks"]))
    persisted = seg.code_bytes if seg.codec.persist_codes else 0
    stored_ids, stored_codes, stored_lists = decode_chunks(chunks, persisted, True)
    np.testing.assert_array_equal(stored_ids, seg.ids[: len(stored_ids)])
    np.testing.assert_array_equal(stored_lists[live], list_of[live])
    assert (stored_lists[stored_ids < 0] == -1).all()
    # each listed entry carries its point's code: the encoding of its stored vector
    if not seg.code_bytes:
        return  # sparse codes live in their own postings
    slots = np.flatnonzero(seg.alive[: seg.n])
    vectors = col.get(seg.ids[slots], with_payloads=False).vectors
    want = seg.codec.encode(col._prepare(vectors, "vector"))
    np.testing.assert_array_equal(seg.take_codes(slots), want)
    if persisted:
        np.testing.assert_array_equal(stored_codes[slots], want)
    got = seg.lists.rows_of(list_of[slots], slots)
    assert not got[:, seg.code_bytes :].any()  # the padding to whole words stays zero


def test_ivf_config_validation_and_round_trip():
    cfg = IVFConfig(nlist=64, nprobe=4, train_size=1000)
    assert cfg.threshold == 1000 and IVFConfig(nlist=10).threshold == 390
    col = CollectionConfig(name="c", dim=8, ivf=cfg)
    assert CollectionConfig.from_dict(col.to_dict()) == col
    assert CollectionConfig.from_dict(CollectionConfig(name="c", dim=8).to_dict()).ivf is None
    assert CollectionConfig(name="c", dim=8, ivf={"nlist": 8, "nprobe": 2}).ivf == IVFConfig(nlist=8, nprobe=2)
    for bad, message in [
        (dict(nlist=0), "nlist"),
        (dict(nlist=8, nprobe=0), "nprobe"),
        (dict(nlist=8, train_size=4), "train_size"),
        (dict(nlist=8, nprobes=2), "bad parameters for ivf"),
    ]:
        with pytest.raises(vecstore.InvalidConfigError, match=message):
            CollectionConfig(name="c", dim=8, ivf=bad)
    with pytest.raises(vecstore.InvalidConfigError, match="ivf must be"):
        CollectionConfig(name="c", dim=8, ivf="ivf")


def test_exact_until_trained_then_probes(db, data):
    col = db.create_collection("c", dim=128, quantization="none", ivf=IVFConfig(nlist=32, nprobe=1, train_size=5000))
    col.upsert(data.ids[:4000], data.xb[:4000])
    assert col.info().extra["ivf_trained"] is False
    flat = db.create_collection("flat", dim=128, quantization="none")
    flat.upsert(data.ids[:4000], data.xb[:4000])
    np.testing.assert_array_equal(col.search(data.xq, k=10).ids, flat.search(data.xq, k=10).ids)
    col.upsert(data.ids[4000:], data.xb[4000:])
    assert col.info().extra["ivf_trained"] is True
    check_lists(col)
    flat.upsert(data.ids[4000:], data.xb[4000:])
    truth = flat.search(data.xq, k=10).ids
    one = recall_at_k(col.search(data.xq, k=10).ids, truth, 10)
    every = col.search(data.xq, k=10, nprobe=32).ids
    np.testing.assert_array_equal(every, truth)  # all lists probed: the exact answer
    assert one < 0.97, one


def test_recall_grows_with_nprobe_and_default_floor(db):
    # more topics than lists, so a query's neighbours spread over several lists
    # (with one list per topic, the nearest list alone holds them all)
    data = clustered(8000, 128, nq=100, n_clusters=400, seed=31)
    col = db.create_collection("c", dim=128, quantization=BinaryQuantization(train_size=1000, oversampling=16),
                               ivf=IVFConfig(nlist=32, nprobe=8, train_size=4000))
    col.upsert(data.ids, data.xb)
    truth = data.ground_truth(10)
    recalls = [recall_at_k(col.search(data.xq, k=10, nprobe=p).ids, truth, 10) for p in (1, 2, 8, 32)]
    assert recalls == sorted(recalls) and recalls[-1] - recalls[0] > 0.03, recalls
    assert recall_at_k(col.search(data.xq, k=10).ids, truth, 10) >= 0.93
    # the rerank improves on the raw code ranking with IVF too
    assert recall_at_k(col.search(data.xq, k=10, rescore=False).ids, truth, 10) < recalls[2] - 0.1


def test_scan_visits_only_the_probed_lists(engine_db, data, monkeypatch):
    """The asymmetric scan reads the probed lists in place; Hamming scoring
    scans a copy of their rows. Either way nothing else is scanned."""
    asym = engine_db.create_collection("a", dim=128, quantization=BinaryQuantization(train_size=1000),
                                       ivf=IVFConfig(nlist=32, nprobe=2, train_size=4000))
    ham = engine_db.create_collection("h", dim=128, quantization=BinaryQuantization(train_size=1000, scoring="hamming"),
                                      ivf=IVFConfig(nlist=32, nprobe=2, train_size=4000))
    for col in (asym, ham):
        col.upsert(data.ids, data.xb)
    in_place, copied = [], []
    real_regions, real_search = native.bitplane_estimate_search_regions, BinaryCodec.search

    def spy_regions(pool, slots, starts, lengths, lists, *args, **kwargs):
        in_place.append(int(lengths[lists].sum()))
        return real_regions(pool, slots, starts, lengths, lists, *args, **kwargs)

    def spy_search(self, codes, alive, q, n_cand):
        copied.append(len(alive))  # rows scanned
        return real_search(self, codes, alive, q, n_cand)

    monkeypatch.setattr(native, "bitplane_estimate_search_regions", spy_regions)
    monkeypatch.setattr(BinaryCodec, "search", spy_search)
    for col, seen in ((asym, in_place), (ham, copied)):
        col.search(data.xq[:10], k=10)
        seg = col._seg
        probes = seg.ivf.probe(col._prepare(data.xq[:10], "query"), 2)
        assert seen == [int(seg.lists.lengths[p].sum()) for p in probes]
        assert max(seen) < len(data.ids) // 4


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_updates_and_deletes_keep_lists_exact(db, data, metric):
    col = db.create_collection("c", dim=128, metric=metric, quantization=BinaryQuantization(train_size=500),
                               ivf=IVFConfig(nlist=16, nprobe=1, train_size=2000))
    col.upsert(data.ids[:3000], data.xb[:3000])
    rng = np.random.default_rng(5)
    for _ in range(5):
        gone = rng.choice(data.ids[:3000], 200, replace=False)
        col.delete(gone)
        moved = rng.choice(data.ids[:3000], 50, replace=False)
        new = data.xb[rng.integers(0, 8000, 50)] + rng.standard_normal((50, 128)).astype(np.float32) * 0.05
        col.upsert(moved, new)  # same ids, vectors (most likely) of other clusters
        fresh = rng.choice(data.ids[3000:], 150, replace=False)
        col.upsert(fresh, data.xb[rng.integers(0, 8000, 150)] + rng.standard_normal((150, 128)).astype(np.float32) * 0.05)
        check_lists(col)
    live = col.get(data.ids).ids
    res = col.search(col.get(live[:50]).vectors, k=1, nprobe=1)
    if metric == "l2":  # its own vector is a point's unique nearest, and it sits in the list probed first
        assert res.ids[:, 0].tolist() == live[:50].tolist()
    all_res = col.search(data.xq, k=20, nprobe=16)
    assert np.isin(all_res.ids[all_res.ids >= 0], live).all()


def test_reopen_keeps_lists(tmp_path, data):
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("c", dim=128, quantization=BinaryQuantization(train_size=500),
                                   ivf=IVFConfig(nlist=16, nprobe=3, train_size=2000))
        col.upsert(data.ids, data.xb)
        col.delete(data.ids[:100])
        before = col.search(data.xq, k=10)
        coarse = col.search(data.xq, k=10, rescore=False)
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("c")
        assert col.info().extra["ivf_trained"] and col.config.ivf.nprobe == 3
        check_lists(col)
        np.testing.assert_array_equal(col.search(data.xq, k=10).ids, before.ids)
        np.testing.assert_array_equal(col.search(data.xq, k=10, rescore=False).ids, coarse.ids)


_EVERY_KIND = {
    "binary": lambda: BinaryQuantization(train_size=500),
    "residual_binary": lambda: vecstore.ResidualBinaryQuantization(train_size=500),
    "pq": lambda: vecstore.ProductQuantization(m=16, train_size=1000),
    "scalar": lambda: vecstore.ScalarQuantization(train_size=500),
    "sparse": lambda: SparseQuantization(expansion_dim=1024, active=16, train_size=500),
}


@pytest.mark.parametrize("kind", sorted(_EVERY_KIND))
def test_every_kind_keeps_lists_through_writes_and_reopen(tmp_path, data, kind):
    """The lists hold each code once and RAM has no slot -> list map: every
    replace and delete finds a point's old list in its stored chunk. After
    deletes, moves and fresh points, and again after a reopen, every live point
    is listed once, where its stored chunk says, and searches agree."""
    rng = np.random.default_rng(11)
    with vecstore.open(tmp_path / "db") as db:
        col = db.create_collection("c", dim=128, quantization=_EVERY_KIND[kind](),
                                   ivf=IVFConfig(nlist=16, nprobe=4, train_size=2000))
        col.upsert(data.ids[:4000], data.xb[:4000])
        assert col.info().extra["ivf_trained"]
        for _ in range(3):
            col.delete(rng.choice(data.ids[:4000], 150, replace=False))
            moved = rng.choice(data.ids[:6000], 80, replace=False)  # live, deleted and never-seen ids alike
            col.upsert(moved, data.xb[rng.integers(0, 8000, 80)] + 0.05 * rng.standard_normal((80, 128)).astype(np.float32))
            check_lists(col)
        col.delete(filter=None, ids=data.ids[4000:4010])
        live = np.sort(col.get(data.ids, with_vectors=False, with_payloads=False).ids)
        before = col.search(data.xq, k=10)
    with vecstore.open(tmp_path / "db") as db:
        col = db.get_collection("c")
        check_lists(col)
        assert col.count() == len(live)
        np.testing.assert_array_equal(col.search(data.xq, k=10).ids, before.ids)
        assert np.isin(before.ids[before.ids >= 0], live).all()
        # writes after the reopen still find the old lists (read from the chunks again)
        col.delete(live[:100])
        col.upsert(live[100:200], data.xb[:100])
        check_lists(col)


def test_ivf_over_sparse_codes(engine_db, data):
    col = engine_db.create_collection("c", dim=128, quantization=SparseQuantization(expansion_dim=1024, active=16, train_size=500),
                                      ivf=IVFConfig(nlist=16, nprobe=4, train_size=2000))
    col.upsert(data.ids, data.xb)
    check_lists(col)
    truth = data.ground_truth(10)
    wide = recall_at_k(col.search(data.xq, k=10, nprobe=16).ids, truth, 10)
    narrow = recall_at_k(col.search(data.xq, k=10, nprobe=1).ids, truth, 10)
    # narrow probes can even help sparse codes: the lists filter out far points
    assert wide >= 0.9 and narrow >= 0.75, (narrow, wide)
    # candidates come only from the probed lists
    probes = col._seg.ivf.probe(col._prepare(data.xq[:5], "query"), 1)
    res = col.search(data.xq[:5], k=10, nprobe=1, rescore=False)
    slots = {int(i): s for s, i in enumerate(col._seg.ids[: col._seg.n]) if i >= 0}
    for row, p in zip(res.ids, probes):
        list_of = col._seg.lists_by_slot()
        assert all(list_of[slots[int(i)]] == p[0] for i in row if i >= 0)


def test_optimize_with_fewer_points_than_lists(db, rng):
    col = db.create_collection("c", dim=8, quantization=BinaryQuantization(train_size=5), ivf=IVFConfig(nlist=50))
    col.upsert(np.arange(20), rng.standard_normal((20, 8)))
    col.optimize()
    assert col.info().trained and not col.info().extra["ivf_trained"]
    assert (col.search(rng.standard_normal(8), k=5).ids >= 0).all()
    col.upsert(np.arange(20, 80), rng.standard_normal((60, 8)))
    col.optimize()  # explicit: nlist points are enough
    assert col.info().extra["ivf_trained"]
    check_lists(col)


def test_nprobe_argument_checks(db, rng):
    plain = db.create_collection("plain", dim=4, quantization="none")
    plain.upsert([1], rng.standard_normal((1, 4)))
    with pytest.raises(vecstore.InvalidQueryError, match="no IVF"):
        plain.search(np.ones(4), nprobe=2)
    col = db.create_collection("c", dim=4, quantization="none", ivf=IVFConfig(nlist=8, nprobe=2))
    col.upsert([1], rng.standard_normal((1, 4)))
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(vecstore.InvalidQueryError, match="nprobe must be a positive integer"):
            col.search(np.ones(4), nprobe=bad)
    assert col.search(np.ones(4), k=1, nprobe=8).ids[0, 0] == 1  # untrained: accepted, exact
    assert col.search(np.ones(4), k=1, nprobe=100).ids[0, 0] == 1  # above nlist: every list


def test_k_hits_whenever_k_points_qualify_even_with_one_probe(db):
    """Lists are probed beyond nprobe until they hold enough eligible points,
    so small lists or a selective filter never cut a result below k."""
    rng = np.random.default_rng(3)
    col = db.create_collection("few", dim=32, quantization=vecstore.BinaryQuantization(train_size=500),
                               ivf=IVFConfig(nlist=64, nprobe=1))
    x = rng.standard_normal((5000, 32)).astype(np.float32)
    col.upsert(np.arange(5000), x, [{"t": int(i % 10)} for i in range(5000)])
    assert ((col.search(x[:5], k=200).ids >= 0).sum(axis=1) == 200).all()
    res = col.search(x[:5], k=50, filter={"t": 3})
    assert ((res.ids >= 0).sum(axis=1) == 50).all()
    assert (res.ids % 10 == 3).all()


def test_list_pool_keeps_little_slack_while_growing():
    """IVF lists carry a code per entry, so their pool's spare room is RAM per
    vector: batches spread over many lists must not leave it far above the
    entries (a slot-only pool may keep up to ~2x)."""
    rng = np.random.default_rng(0)
    pool = Postings(4096, row_bytes=8)
    worst = 0.0
    for b in range(100):
        keys = rng.integers(0, 4096, 2000)
        pool.add(keys, np.arange(2000 * b, 2000 * (b + 1)), rows=np.zeros((2000, 8), np.uint8))
        if pool.entries > 100_000:  # past the smallest pool that compacts
            worst = max(worst, len(pool.slots) / pool.entries)
    assert 1.0 < worst <= 1.4, worst
    assert sorted(np.concatenate([pool.region(k) for k in range(4096)]).tolist()) == list(range(200_000))


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_single_query_probe_reads_centroid_codes_first(metric):
    """With many lists a single query's probe ranks 1-bit centroid codes, then a
    shortlist exactly: nearly the lists a batch (exact, through BLAS) probes."""
    from vecstore.engine import ivf as ivf_mod

    rng = np.random.default_rng(41)
    centers = rng.standard_normal((40, 128)).astype(np.float32)
    c = centers[rng.integers(0, 40, 1024)] + 0.3 * rng.standard_normal((1024, 128)).astype(np.float32)
    if metric == "cosine":
        c /= np.linalg.norm(c, axis=1, keepdims=True)
    index = ivf_mod.IVF(c, metric)
    assert index._sketch is not None  # 1,024 lists: the sketch pays at nprobe 16
    q = (c[rng.integers(0, 1024, 40)] + 0.2 * rng.standard_normal((40, 128))).astype(np.float32)
    exact = index.probe(q, 16)  # 40 queries: the BLAS path, every centroid scored exactly
    score = lambda i, lists: c[lists] @ q[i] - (0.5 * (c[lists] ** 2).sum(1) if metric == "l2" else 0)
    found = []
    for i in range(len(q)):
        got = index.probe(q[i : i + 1], 16)[0]
        assert len(set(got.tolist())) == 16
        assert (np.diff(score(i, got)) <= 1e-5).all()  # best first
        assert got[0] == exact[i, 0]
        found.append(np.isin(got, exact[i]).mean())
    assert np.mean(found) >= 0.9
    assert index.probe(q[:1], 200).shape == (1, 200)  # a shortlist too long for the sketch: the float16 pass
