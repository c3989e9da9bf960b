"""Input bounds (issue 17): huge-but-finite vectors, deep payloads, oversampling
and search sizes get a correct answer or a typed error, embedded and over gRPC."""
import grpc
import numpy as np
import pytest

import vecstore
from vecstore.api import validate as V
from vecstore.errors import (InvalidConfigError, InvalidPayloadError, InvalidQueryError, InvalidVectorError,
                             ResourceExhaustedError)
from vecstore.rpc import convert as C
from vecstore.rpc.v1 import vecstore_pb2 as pb
from vecstore.rpc.v1 import vecstore_pb2_grpc as pb_grpc

from conftest import serving
from synthetic import clustered

DIM = 32
KINDS = {
    "none": "none",
    "binary": {"kind": "binary", "train_size": 256},
    "residual_binary": {"kind": "residual_binary", "train_size": 256},
    "pq": {"kind": "pq", "nbits": 4, "train_size": 256},
    "scalar": {"kind": "scalar", "train_size": 256},
    "sparse": {"kind": "sparse", "train_size": 256, "expansion_dim": 1024, "active": 16},
}


def _make(db, metric, kind, *, ivf=None):
    return db.create_collection("huge", dim=DIM, metric=metric, quantization=KINDS[kind], ivf=ivf)


# -- vectors whose squares overflow float32 ------------------------------------------
@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("metric,scale", [("cosine", 1e30), ("dot", 9e17), ("l2", 9e17)])
def test_huge_finite_vectors_are_found_with_true_scores(db, metric, scale, kind):
    """Cosine takes any finite vector; dot and l2 any of norm <= MAX_NORM. Each
    kind trains on the huge values (binary mean, PQ/scalar/sparse codecs) and the
    identical vector comes first with its exact score."""
    data = clustered(400, DIM, nq=5, seed=3)
    col = _make(db, metric, kind)
    col.upsert(data.ids, data.xb * np.float32(scale))
    assert col.info().trained if hasattr(col.info(), "trained") else True
    q = data.xb[:5] * np.float32(scale)
    got = col.search(q, k=3)
    assert got.ids[:, 0].tolist() == data.ids[:5].tolist()
    expected = {"cosine": 1.0, "dot": float(np.float32(scale)) ** 2, "l2": 0.0}[metric]
    np.testing.assert_allclose(got.scores[:, 0], expected, rtol=1e-4, atol=1e-3 if metric == "l2" else 0)
    assert np.isfinite(got.scores).all()


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_huge_vectors_with_ivf(db, metric):
    data = clustered(400, DIM, nq=5, seed=4)
    scale = 1e30 if metric == "cosine" else 9e17
    col = db.create_collection("huge", dim=DIM, metric=metric, quantization=KINDS["binary"],
                               ivf={"nlist": 4, "nprobe": 4, "train_size": 256})
    col.upsert(data.ids, data.xb * np.float32(scale))
    got = col.search(data.xb[:5] * np.float32(scale), k=3)
    assert got.ids[:, 0].tolist() == data.ids[:5].tolist()
    assert np.isfinite(got.scores).all()


def test_cosine_identical_huge_and_tiny_vectors_score_one(db):
    col = db.create_collection("c", dim=16, metric="cosine", quantization="none")
    x = np.stack([np.full(16, 1e20), np.full(16, 3e38), np.full(16, 1e-30), np.arange(1, 17) * 1e-44]).astype(np.float32)
    col.upsert([1, 2, 3, 4], x)
    got = col.search(x, k=1)
    assert got.ids[:, 0].tolist() in ([1, 1, 1, 4], [1, 2, 3, 4], [2, 2, 2, 4], [3, 3, 3, 4])
    np.testing.assert_allclose(got.scores[:, 0], 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_dot_and_l2_refuse_vectors_whose_scores_would_overflow(db, metric, kind):
    col = _make(db, metric, kind)
    col.upsert([1], np.ones((1, DIM), np.float32))
    huge = np.full((2, DIM), 1e20, np.float32)
    with pytest.raises(InvalidVectorError, match="norm at most 1e\\+18"):
        col.upsert([2, 3], huge)
    with pytest.raises(InvalidVectorError, match="query 0 has norm"):
        col.search(huge, k=1)
    assert col.count() == 1  # nothing written


def test_norm_bound_is_at_max_norm(db):
    col = db.create_collection("d", dim=4, metric="dot", quantization="none")
    ok = np.full((1, 4), V.MAX_NORM / 2 * 0.999, np.float32)  # norm just under 1e18
    col.upsert([1], ok)
    with pytest.raises(InvalidVectorError):
        col.upsert([2], ok * 1.01)


# -- payload depth ---------------------------------------------------------------------
def _nested(depth):
    doc = {}
    for _ in range(depth - 1):
        doc = {"a": doc}
    return doc


def _nested_lists(depth):
    doc = [0]
    for _ in range(depth - 1):
        doc = [doc, 1]
    return doc


def test_payload_depth_bound(db):
    col = db.create_collection("p", dim=4, quantization="none")
    col.upsert([1], np.ones((1, 4)), [_nested(V.MAX_PAYLOAD_DEPTH)])  # at the bound: fine
    assert col.get([1]).payloads[0] == _nested(V.MAX_PAYLOAD_DEPTH)
    for payload in (_nested(V.MAX_PAYLOAD_DEPTH + 1), _nested(10_000), {"a": _nested_lists(V.MAX_PAYLOAD_DEPTH)}):
        with pytest.raises(InvalidPayloadError, match="nested deeper than 64"):
            col.upsert([2], np.ones((1, 4)), [payload])
        with pytest.raises(InvalidPayloadError, match="nested deeper than 64"):
            col.set_payload([1], payload)
        with pytest.raises(InvalidPayloadError, match="nested deeper than 64"):
            col.overwrite_payload([1], payload)
    assert col.count() == 1 and col.get([1]).payloads[0] == _nested(V.MAX_PAYLOAD_DEPTH)


def _deep_bytes(depth):
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as client:
            client.create_collection("p", dim=4, quantization="none").upsert([1], np.ones((1, 4)))
            with grpc.insecure_channel(address) as channel:
                yield client, pb_grpc.PointsStub(channel)


@pytest.mark.parametrize("depth", [V.MAX_PAYLOAD_DEPTH + 1, 10_000, 150_000])
def test_server_refuses_deep_payload_bytes(served, depth):
    """A client that skips the client's checks: the server bounds the bytes before json.loads."""
    client, stub = served
    ref = C.ref_to_proto("p")
    raw = _deep_bytes(depth)
    calls = [
        (stub.Upsert, pb.UpsertRequest(collection=ref, ids=[2], vectors=C.vectors_to_proto(np.ones((1, 4), np.float32)),
                                       payloads=[raw])),
        (stub.SetPayload, pb.SetPayloadRequest(collection=ref, ids=[1], payload=raw)),
        (stub.OverwritePayload, pb.OverwritePayloadRequest(collection=ref, ids=[1], payload=raw)),
    ]
    for call, request in calls:
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "nested deeper than 64" in info.value.details()
    assert client.get_collection("p").count() == 1


def test_server_accepts_brackets_inside_strings(served):
    client, stub = served
    raw = b'{"s":"' + b"[{" * 5000 + b'\\"}]"}'
    stub.SetPayload(pb.SetPayloadRequest(collection=C.ref_to_proto("p"), ids=[1], payload=raw), timeout=30)
    assert client.get_collection("p").get([1]).payloads[0]["s"].startswith("[{[{")
    ok = _deep_bytes(V.MAX_PAYLOAD_DEPTH)
    stub.OverwritePayload(pb.OverwritePayloadRequest(collection=C.ref_to_proto("p"), ids=[1], payload=ok), timeout=30)
    assert client.get_collection("p").get([1]).payloads[0] == _nested(V.MAX_PAYLOAD_DEPTH)


# -- oversampling ----------------------------------------------------------------------
@pytest.mark.parametrize("value", [1e305, 1e308, V.MAX_OVERSAMPLING + 1])
def test_oversampling_is_bounded_per_query(db, value):
    col = db.create_collection("o", dim=4, quantization="binary")
    col.upsert([1, 2], np.eye(2, 4))
    with pytest.raises(InvalidQueryError, match="oversampling must be at most 1000"):
        col.search(np.ones(4), k=1, oversampling=value)
    assert col.search(np.ones(4), k=1, oversampling=V.MAX_OVERSAMPLING).ids.shape == (1, 1)


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "none"] + ["none"])
def test_oversampling_is_bounded_in_every_quantization_config(db, kind):
    for value in (1e305, 1e308, 1001):
        with pytest.raises(InvalidConfigError, match="oversampling must be at most 1000"):
            db.create_collection("o", dim=4, quantization={"kind": kind, "oversampling": value})
    assert "o" not in [c.name if hasattr(c, "name") else c for c in db.list_collections()]


def test_server_refuses_oversampling_config_from_a_raw_client(served):
    _, _ = served
    with pytest.raises(InvalidConfigError):
        vecstore.config.parse_quantization({"kind": "pq", "oversampling": 1e308})


# -- search size -----------------------------------------------------------------------
def test_search_size_is_bounded_before_any_work(db):
    col = db.create_collection("s", dim=4, quantization="sparse")
    col.upsert([1, 2], np.eye(2, 4))
    q = np.ones((4000, 4), np.float32)
    with pytest.raises(InvalidQueryError, match="results; the limit is 1000000"):
        col.search(q, k=10_000)  # the 128 KB request: refused up front
    with pytest.raises(InvalidQueryError, match="queries in one search; the limit is 10000"):
        col.search(np.ones((V.MAX_QUERIES + 1, 4), np.float32), k=1)
    with pytest.raises(InvalidQueryError, match="candidates"):
        col.search(np.ones((2000, 4), np.float32), k=100, oversampling=100)  # 20M candidates
    with pytest.raises(InvalidQueryError, match="k must be in"):
        col.search(np.ones(4), k=V.MAX_K + 1)


def test_a_full_batch_within_the_limits_works(db):
    col = db.create_collection("s", dim=8, quantization="binary")
    data = clustered(300, 8, nq=V.MAX_QUERIES, seed=5)
    col.upsert(data.ids, data.xb)
    got = col.search(data.xq, k=100)  # nq x k = the 1M result bound
    assert got.ids.shape == (V.MAX_QUERIES, 100)
    np.testing.assert_array_equal(got.ids[:3], col.search(data.xq[:3], k=100).ids)


def test_raw_search_beyond_engine_bounds_is_invalid_argument(served):
    _, stub = served
    request = pb.SearchRequest(collection=C.ref_to_proto("p"), queries=C.vectors_to_proto(np.ones((4000, 4), np.float32)),
                               k=10_000)
    with pytest.raises(grpc.RpcError) as info:
        stub.Search(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "limit is 1000000" in info.value.details()


def test_server_search_limits_are_resource_exhausted(tmp_path):
    with serving(tmp_path / "db", max_search_queries=10, max_search_results=50) as address:
        with vecstore.connect(address) as client:
            col = client.create_collection("p", dim=4, quantization="none")
            col.upsert([1, 2], np.eye(2, 4))
            assert col.search(np.ones((10, 4)), k=5).ids.shape == (10, 5)
            with pytest.raises(ResourceExhaustedError, match="--max-search-queries"):
                col.search(np.ones((11, 4)), k=1)
            with pytest.raises(ResourceExhaustedError, match="--max-search-results"):
                col.search(np.ones((6, 4)), k=10)


def test_server_refuses_an_answer_too_big_for_its_messages(tmp_path):
    limit = 128 << 10
    with serving(tmp_path / "db", max_message_bytes=limit) as address:
        with vecstore.connect(address, max_message_bytes=limit) as client:
            col = client.create_collection("p", dim=4, quantization="none")
            col.upsert(np.arange(2000), np.random.default_rng(0).standard_normal((2000, 4)))
            q = np.random.default_rng(1).standard_normal((100, 4)).astype(np.float32)
            got = col.search(q, k=1000)  # the client splits it into answers that fit
            assert got.ids.shape == (100, 1000) and (got.ids >= 0).all()
            with grpc.insecure_channel(address) as channel:
                request = pb.SearchRequest(collection=C.ref_to_proto("p"), queries=C.vectors_to_proto(q), k=1000)
                with pytest.raises(grpc.RpcError) as info:
                    pb_grpc.PointsStub(channel).Search(request, timeout=30)
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "message limit" in info.value.details()


def test_server_limits_refuse_bad_values(tmp_path):
    with pytest.raises(InvalidConfigError):
        with serving(tmp_path / "db", max_search_queries=V.MAX_QUERIES + 1):
            pass
