"""Message limits: the server enforces them, the client splits batches below them."""
import grpc
import numpy as np
import pytest

import vecstore
from vecstore.rpc import convert as C
from vecstore.rpc.client import _chunk_bounds
from vecstore.rpc.v1 import vecstore_pb2 as pb
from vecstore.rpc.v1 import vecstore_pb2_grpc as pb_grpc

from conftest import serving

LIMIT = 128 << 10  # 128 KiB: small, so modest test batches must be split


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A client and server both limited to LIMIT bytes per message, and a count
    of the batches the engine received."""
    batches = []
    real_upsert = vecstore.Collection.upsert

    def counting_upsert(self, ids, *args, **kwargs):
        batches.append(len(ids))
        return real_upsert(self, ids, *args, **kwargs)

    monkeypatch.setattr(vecstore.Collection, "upsert", counting_upsert)
    with serving(tmp_path / "db", max_message_bytes=LIMIT) as address:
        with vecstore.connect(address, max_message_bytes=LIMIT) as client:
            yield address, client, batches


def test_the_server_refuses_messages_over_its_limit(small):
    address, client, _ = small
    client.create_collection("docs", dim=64, quantization="none")
    big = np.ones((LIMIT // 256 + 10, 64), dtype=np.float32)  # > LIMIT bytes of vectors
    wide = [("grpc.max_send_message_length", 1 << 30), ("grpc.max_receive_message_length", 1 << 30)]
    with grpc.insecure_channel(address, options=wide) as channel:
        request = pb.UpsertRequest(collection=C.ref_to_proto("docs"), ids=list(range(len(big))),
                                   vectors=C.vectors_to_proto(big))
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.PointsStub(channel).Upsert(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_large_upsert_get_search_delete_are_split(small):
    _, client, batches = small
    rng = np.random.default_rng(0)
    n, dim = 2000, 64  # 512 KiB of vectors: 4x the limit
    x = rng.standard_normal((n, dim)).astype(np.float32)
    ids = rng.permutation(10 * n)[:n]
    col = client.create_collection("docs", dim=dim, quantization="none")
    assert col.upsert(ids, x, [{"i": int(i)} for i in range(n)]) == n
    assert len(batches) > 4 and sum(batches) == n  # streamed in messages under the limit
    assert col.count() == n

    got = col.get(ids[::-1])
    assert got.ids.tolist() == ids[::-1].tolist()
    assert got.vectors.tobytes() == x[::-1].tobytes()
    assert got.payloads == [{"i": int(i)} for i in range(n)][::-1]

    queries = rng.standard_normal((1500, dim)).astype(np.float32)  # 384 KiB of queries
    whole = col.search(queries, k=5)
    parts = [col.search(queries[lo : lo + 100], k=5) for lo in range(0, 1500, 100)]
    np.testing.assert_array_equal(whole.ids, np.vstack([p.ids for p in parts]))
    # float32 matmuls of different batch shapes may round the last bit differently
    np.testing.assert_allclose(whole.scores, np.vstack([p.scores for p in parts]), rtol=1e-5, atol=1e-6)
    assert whole.ids.shape == (1500, 5)

    doomed = np.concatenate([ids[:500], np.arange(10**9, 10**9 + 30_000)])  # ~330 KiB of ids
    assert col.delete(doomed) == 500
    assert col.count() == n - 500


def test_small_upserts_are_one_atomic_call(small):
    _, client, batches = small
    col = client.create_collection("docs", dim=8, quantization="none")
    col.upsert(np.arange(100), np.ones((100, 8)))
    assert batches == [100]


def test_get_answer_over_the_limit_is_fetched_in_parts(small):
    """Payloads make answers larger than the client can predict; it halves and retries."""
    _, client, _ = small
    col = client.create_collection("docs", dim=4, quantization="none")
    blob = "x" * 20_000
    col.upsert(np.arange(30), np.ones((30, 4)), [{"blob": blob, "i": i} for i in range(30)])  # ~600 KB of payloads
    got = col.get(np.arange(30))
    assert got.ids.tolist() == list(range(30))
    assert [p["i"] for p in got.payloads] == list(range(30))


def test_chunk_bounds_cover_every_row_once():
    sizes = np.array([5, 5, 5, 20, 1, 1, 1, 9])
    bounds = _chunk_bounds(sizes, 10)
    assert bounds[0] == (0, 2) and bounds[-1][1] == len(sizes)
    assert all(hi > lo for lo, hi in bounds)
    assert [i for lo, hi in bounds for i in range(lo, hi)] == list(range(len(sizes)))
    # every chunk fits, except a single row that alone is larger than the budget
    assert all(sizes[lo:hi].sum() <= 10 or hi - lo == 1 for lo, hi in bounds)


def test_import_keeps_the_callers_batches_as_commits(tmp_path, monkeypatch):
    """Each batch that fits a message is one commit, however large (5 MB here)."""
    batches = []
    real_upsert = vecstore.Collection.upsert
    monkeypatch.setattr(vecstore.Collection, "upsert",
                        lambda self, ids, *a, **kw: batches.append(len(ids)) or real_upsert(self, ids, *a, **kw))
    x = np.random.default_rng(0).standard_normal((15_000, 256)).astype(np.float32)
    with serving(tmp_path / "db") as address, vecstore.connect(address) as client:
        col = client.create_collection("docs", dim=256, quantization="none")
        written = col.import_batches((np.arange(lo, lo + 5000), x[lo : lo + 5000]) for lo in range(0, 15_000, 5000))
    assert written == 15_000 and batches == [5000, 5000, 5000]


def test_import_splits_batches_over_the_limit(small):
    _, client, batches = small
    col = client.create_collection("docs", dim=64, quantization="none")
    x = np.ones((1000, 64), dtype=np.float32)  # 256 KiB: twice the limit
    assert col.import_batches([(np.arange(1000), x)]) == 1000
    assert len(batches) > 1 and sum(batches) == 1000


def test_scroll_pages_over_the_limit_are_fetched_as_consecutive_pages(small, monkeypatch):
    _, client, _ = small
    calls = []
    real_scroll = vecstore.Collection.scroll
    monkeypatch.setattr(vecstore.Collection, "scroll",
                        lambda self, limit=100, **kw: calls.append(limit) or real_scroll(self, limit, **kw))
    rng = np.random.default_rng(1)
    n, dim = 2000, 64
    ids = np.sort(rng.permutation(10 * n)[:n])
    x = rng.standard_normal((n, dim)).astype(np.float32)
    blob = "x" * 20_000  # a few large payloads: answers larger than the client predicts
    payloads = [{"i": i, "blob": blob} if i % 100 == 7 else {"i": i} for i in range(n)]
    col = client.create_collection("docs", dim=dim, quantization="none")
    col.upsert(ids, x, payloads)

    page = col.scroll(1500, after=int(ids[10]), with_vectors=True)
    assert len(calls) > 2  # 1500 rows of 256 B vectors do not fit in 128 KiB
    assert page.points.ids.tolist() == ids[11:1511].tolist()
    assert page.points.vectors.tobytes() == x[11:1511].tobytes()
    assert [p["i"] for p in page.points.payloads] == list(range(11, 1511))
    assert page.next_cursor == ids[1510]

    calls.clear()
    rest = col.scroll(10_000, after=page.next_cursor, filter={"i": {"$gte": 1900}})
    assert rest.points.ids.tolist() == ids[1900:].tolist() and rest.next_cursor is None

    calls.clear()
    huge = col.scroll(900)  # 9 blobs of 20 KB: the one call the client plans is refused, then halved
    assert calls[0] == 900 and len(calls) > 2
    assert huge.points.ids.tolist() == ids[:900].tolist() and huge.next_cursor == ids[899]
    assert sum(p.get("blob") == blob for p in huge.points.payloads) == 9


def test_payload_edits_of_many_ids_are_split(small, monkeypatch):
    _, client, _ = small
    edits = []
    real_set = vecstore.Collection.set_payload
    monkeypatch.setattr(vecstore.Collection, "set_payload",
                        lambda self, ids, payload: edits.append(len(ids)) or real_set(self, ids, payload))
    col = client.create_collection("docs", dim=4, quantization="none")
    col.upsert(np.arange(100), np.ones((100, 4)))
    many = np.concatenate([np.arange(100), np.arange(10**9, 10**9 + 30_000), np.arange(50)])  # ~330 KiB, duplicates
    assert col.set_payload(many, {"seen": True}) == 100  # each point counted once
    assert len(edits) > 1
    assert col.count(filter={"seen": True}) == 100


def test_user_sparse_upserts_and_searches_are_split_with_their_codes(small):
    from vecstore import SparseQuantization

    _, client, batches = small
    rng = np.random.default_rng(4)
    n, dim, nnz = 1500, 16, 40  # ~64 B of vector and ~320 B of weighted code per point: ~4.5x the limit
    x = rng.standard_normal((n, dim)).astype(np.float32)
    codes = [(rng.choice(5000, nnz, replace=False), rng.random(nnz).astype(np.float32) + 0.1) for _ in range(n)]
    col = client.create_collection("u", dim=dim, metric="dot",
                                   quantization=SparseQuantization(user_codes=True, weighted=True, expansion_dim=5000))
    assert col.upsert(np.arange(n), x, sparse=codes) == n
    assert len(batches) > 4 and sum(batches) == n
    whole = col.search(x, k=3, rescore=False, sparse_queries=codes)
    # each point's own code shares every index with its query: its score is the sum of squared weights
    own = np.array([float((w.astype(np.float64) ** 2).sum()) for _, w in codes])
    assert (whole.scores[:, 0] >= own * (1 - 1e-5)).all()
    parts = [col.search(x[lo : lo + 100], k=3, rescore=False, sparse_queries=codes[lo : lo + 100]) for lo in range(0, n, 100)]
    np.testing.assert_array_equal(whole.ids, np.vstack([p.ids for p in parts]))
