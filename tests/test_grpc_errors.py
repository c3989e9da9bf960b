"""Errors over the wire: status code + stable code, the same class on the client.

tests/test_errors.py already runs every bad input through the client; these
tests cover what only the wire has: raw messages from other clients, the
mapping of every error class, internal errors, transport failures, streams.
"""
import logging
import socket
import threading

import grpc
import numpy as np
import pytest

import vecstore
from vecstore import errors as E
from vecstore.rpc import convert as C
from vecstore.rpc.status import ERROR_CODE_KEY
from vecstore.rpc.v1 import vecstore_pb2 as pb
from vecstore.rpc.v1 import vecstore_pb2_grpc as pb_grpc

from conftest import serving


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path / "db") as address:
        ctx = serving_context(address)
        yield ctx
        ctx.client.close()
        ctx.channel.close()


class serving_context:
    def __init__(self, address):
        self.address = address
        self.client = vecstore.connect(address)
        self.channel = grpc.insecure_channel(address)
        self.collections = pb_grpc.CollectionsStub(self.channel)
        self.points = pb_grpc.PointsStub(self.channel)


def wire_error(call, request):
    """(status, vecstore code, details) of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=30)
    err = info.value
    return err.code(), dict(err.trailing_metadata() or ()).get(ERROR_CODE_KEY), err.details()


@pytest.mark.parametrize("cls", sorted(E.ERRORS_BY_CODE.values(), key=lambda c: c.code), ids=lambda c: c.__name__)
def test_every_error_class_travels_as_itself(tmp_path, monkeypatch, cls):
    def raise_it(self):
        raise cls(f"made-up {cls.code} failure")

    # the engine call behind ListCollections raises the class under test
    monkeypatch.setattr(vecstore.Database, "list_collections", raise_it)
    with serving(tmp_path / "db") as address:
        with vecstore.connect(address) as client:
            with pytest.raises(cls) as info:
                client.list_collections()
        assert type(info.value) is cls
        assert str(info.value) == f"made-up {cls.code} failure"
        channel = grpc.insecure_channel(address)
        status, code, _ = wire_error(pb_grpc.CollectionsStub(channel).ListCollections, pb.ListCollectionsRequest())
        channel.close()
    assert status == grpc.StatusCode[cls.status] and code == cls.code


def test_unexpected_errors_are_internal_without_leaking_details(served, monkeypatch, caplog):
    def boom(self):
        raise RuntimeError("secret path /etc/shadow")

    monkeypatch.setattr(vecstore.Database, "list_collections", boom)
    with caplog.at_level(logging.ERROR, logger="vecstore.server"):
        with pytest.raises(E.InternalError) as info:
            served.client.list_collections()
    assert "secret" not in str(info.value) and "Traceback" not in str(info.value)
    assert "server log" in str(info.value)
    assert "secret path" in caplog.text  # the operator still sees it
    status, code, _ = wire_error(served.collections.ListCollections, pb.ListCollectionsRequest())
    assert status == grpc.StatusCode.INTERNAL and code == "INTERNAL"


def test_raw_create_requests_are_validated_by_the_server(served):
    good = C.config_to_proto(vecstore.CollectionConfig(name="docs", dim=4))
    cases = []
    bad = pb.CollectionConfig()
    bad.CopyFrom(good)
    bad.metric = pb.METRIC_UNSPECIFIED
    cases.append((bad, "INVALID_CONFIG", "metric is required"))
    bad = pb.CollectionConfig()
    bad.CopyFrom(good)
    bad.ClearField("quantization")
    cases.append((bad, "INVALID_CONFIG", "quantization is required"))
    bad = pb.CollectionConfig()
    bad.CopyFrom(good)
    bad.dim = 0
    cases.append((bad, "INVALID_CONFIG", "dim"))
    bad = pb.CollectionConfig()
    bad.CopyFrom(good)
    bad.name = "../etc"
    cases.append((bad, "INVALID_NAME", "invalid collection name"))
    bad = pb.CollectionConfig()
    bad.CopyFrom(good)
    bad.quantization.binary.oversampling = 0.25
    cases.append((bad, "INVALID_CONFIG", "oversampling"))
    for config, want_code, want_text in cases:
        status, code, details = wire_error(served.collections.CreateCollection, pb.CreateCollectionRequest(config=config))
        assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, want_code), details
        assert want_text in details
    assert served.client.list_collections() == []


def test_raw_point_requests_are_validated_by_the_server(served):
    col = served.client.create_collection("docs", dim=4, quantization="none")
    col.upsert([1, 2], np.ones((2, 4)), [{"a": 1}, None])
    ref = C.ref_to_proto("docs")
    vec = lambda rows: pb.Vectors(dim=4, data=np.asarray(rows, dtype="<f4").tobytes())  # noqa: E731
    cases = [
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[3], vectors=pb.Vectors(dim=4, data=b"\0" * 15)),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_VECTOR"),
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[3], vectors=vec([[np.nan] * 4])),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_VECTOR"),
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[-3], vectors=vec([[1] * 4])),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ID"),
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[3, 4], vectors=vec([[1] * 4])),
         grpc.StatusCode.INVALID_ARGUMENT, "LENGTH_MISMATCH"),
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[3], vectors=vec([[1] * 4]), payloads=[b"[]"]),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAYLOAD"),
        (served.points.Upsert, pb.UpsertRequest(collection=ref, ids=[3], vectors=pb.Vectors(dim=3, data=b"\0" * 12)),
         grpc.StatusCode.INVALID_ARGUMENT, "DIMENSION_MISMATCH"),
        (served.points.Search, pb.SearchRequest(collection=ref, queries=vec([[1] * 4])),  # k unset
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
        (served.points.Search, pb.SearchRequest(collection=ref, queries=vec([[1] * 4]), k=1, oversampling=float("nan")),
         grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUERY"),
        (served.points.Search, pb.SearchRequest(collection=ref, k=1),  # no queries
         grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_BATCH"),
        (served.points.Count, pb.CountRequest(collection=C.ref_to_proto("nope")),
         grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND"),
        (served.points.Count, pb.CountRequest(collection=C.ref_to_proto("docs", col.cid + 1)),
         grpc.StatusCode.NOT_FOUND, "COLLECTION_NOT_FOUND"),
        (served.collections.CreateCollection,
         pb.CreateCollectionRequest(config=C.config_to_proto(col.config)),
         grpc.StatusCode.ALREADY_EXISTS, "COLLECTION_EXISTS"),
    ]
    for call, request, want_status, want_code in cases:
        status, code, details = wire_error(call, request)
        assert (status, code) == (want_status, want_code), (request, details)
    # nothing was written by any rejected batch
    assert col.count() == 2
    assert col.get([1, 2]).payloads == [{"a": 1}, None]


def test_raw_payload_filter_and_scroll_requests_are_validated_by_the_server(served):
    col = served.client.create_collection("docs", dim=4, quantization="none")
    col.upsert([1, 2], np.ones((2, 4)), [{"a": 1}, {"a": 2}])
    col.create_payload_index("a", "integer")
    ref = C.ref_to_proto("docs")
    match_a1 = C.filter_to_proto({"a": {"$eq": 1}})
    no_op = pb.Filter(condition=pb.FieldCondition(key="a"))
    bad_key = pb.Filter(condition=pb.FieldCondition(key="a.$b", eq=pb.Value(integer_value=1)))
    P, Cs = served.points, served.collections
    cases = [
        (P.Delete, pb.DeleteRequest(collection=ref, ids=[2], filter=match_a1), "INVALID_QUERY", "not both"),
        (P.Delete, pb.DeleteRequest(collection=ref, filter=no_op), "INVALID_FILTER", "no operator set"),
        (P.Count, pb.CountRequest(collection=ref, filter=bad_key), "INVALID_FILTER", "'$b' is not a field name"),
        (P.Search, pb.SearchRequest(collection=ref, k=1, queries=pb.Vectors(dim=4, data=b"\0\0\x80?" * 4),
                                    filter=pb.Filter(all=pb.FilterList())), "INVALID_FILTER", "non-empty list"),
        (P.Scroll, pb.ScrollRequest(collection=ref), "INVALID_QUERY", "limit"),  # limit unset
        (P.Scroll, pb.ScrollRequest(collection=ref, limit=5, after=-1), "INVALID_QUERY", "after"),
        (P.SetPayload, pb.SetPayloadRequest(collection=ref, ids=[1]), "INVALID_PAYLOAD", "expected a JSON object"),
        (P.SetPayload, pb.SetPayloadRequest(collection=ref, ids=[1], payload=b"[1]"), "INVALID_PAYLOAD", "JSON object"),
        (P.SetPayload, pb.SetPayloadRequest(collection=ref, ids=[-1], payload=b"{}"), "INVALID_ID", "negative"),
        (P.OverwritePayload, pb.OverwritePayloadRequest(collection=ref, ids=[1], payload=b"{bad"), "INVALID_PAYLOAD", "not valid"),
        (P.DeletePayloadKeys, pb.DeletePayloadKeysRequest(collection=ref, ids=[1]), "INVALID_PAYLOAD", "non-empty list"),
        (Cs.CreatePayloadIndex, pb.CreatePayloadIndexRequest(collection=ref, key="b"), "INVALID_CONFIG", "kind is required"),
        (Cs.CreatePayloadIndex, pb.CreatePayloadIndexRequest(collection=ref, key="b", kind=99), "INVALID_CONFIG", "unknown"),
        (Cs.CreatePayloadIndex, pb.CreatePayloadIndexRequest(collection=ref, key="", kind=pb.PAYLOAD_INDEX_KIND_KEYWORD),
         "INVALID_CONFIG", "key must be"),
        (Cs.DropPayloadIndex, pb.DropPayloadIndexRequest(collection=ref, key="a..b"), "INVALID_CONFIG", "empty part"),
    ]
    for call, request, want_code, want_text in cases:
        status, code, details = wire_error(call, request)
        assert (status, code) == (grpc.StatusCode.INVALID_ARGUMENT, want_code), (request, details)
        assert want_text in details, details
    # nothing changed
    assert col.count() == 2 and col.get([1, 2]).payloads == [{"a": 1}, {"a": 2}]
    assert col.payload_indexes() == {"a": "integer"}
    # and the valid forms work on the raw wire too
    assert P.Delete(pb.DeleteRequest(collection=ref, filter=match_a1), timeout=30).deleted == 1
    assert P.Count(pb.CountRequest(collection=ref, filter=pb.Filter()), timeout=30).count == 1
    assert P.Delete(pb.DeleteRequest(collection=ref), timeout=30).deleted == 0  # no ids, no filter: nothing


def test_stale_handle_after_drop_and_recreate(db):
    """Both modes: a handle from before a drop keeps failing, even when the name is reused."""
    old = db.create_collection("docs", dim=4)
    db.drop_collection("docs")
    new = db.create_collection("docs", dim=8)
    with pytest.raises(E.CollectionNotFoundError, match="was dropped"):
        old.count()
    with pytest.raises(E.CollectionNotFoundError, match="was dropped"):
        old.search(np.ones(4), k=1)
    assert new.count() == 0 and db.get_collection("docs").dim == 8


def test_stream_errors_name_what_was_written(served):
    col = served.client.create_collection("docs", dim=4, quantization="none")
    rng = np.random.default_rng(0)
    good = (np.arange(10), rng.standard_normal((10, 4)))
    # a zero vector under cosine is caught by the server only (it is well-formed)
    server_side_bad = (np.arange(10, 12), np.zeros((2, 4)))
    with pytest.raises(E.InvalidVectorError, match="the 10 points of earlier messages were written"):
        col.import_batches([good, server_side_bad, (np.arange(20, 30), rng.standard_normal((10, 4)))])
    assert col.count() == 10
    # a batch the client can check fails as itself, not as a cancelled stream
    client_side_bad = (np.arange(30, 32), np.ones((2, 3)))
    with pytest.raises(E.DimensionMismatchError, match="vector dim 3, collection 'docs' expects 4"):
        col.import_batches([(np.arange(40, 45), rng.standard_normal((5, 4))), client_side_bad])
    with pytest.raises(E.InvalidArgumentError, match="each batch must be"):
        col.import_batches([np.ones((2, 4))])
    assert col.count() in (10, 15)  # the batch before the bad one may have been committed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_unavailable():
    with vecstore.connect(f"127.0.0.1:{free_port()}", timeout=10) as client:
        with pytest.raises(E.UnavailableError) as info:
            client.list_collections()
    assert isinstance(info.value, ConnectionError)


def test_deadline_exceeded(served, monkeypatch):
    release = threading.Event()
    real_count = vecstore.Collection.count
    monkeypatch.setattr(vecstore.Collection, "count", lambda self, **kw: release.wait(10) and real_count(self, **kw))
    col = served.client.create_collection("docs", dim=4)
    try:
        with pytest.raises(E.DeadlineExceededError) as info:
            col.count(timeout=0.2)
        assert isinstance(info.value, TimeoutError)
    finally:
        release.set()


def test_closed_client_raises_like_a_closed_database(served):
    client = vecstore.connect(served.address)
    client.close()
    client.close()  # idempotent
    assert client.closed
    with pytest.raises(E.DatabaseClosedError):
        client.list_collections()
