"""API keys: UNAUTHENTICATED on every RPC but health; read-only keys cannot write."""
import grpc
import numpy as np
import pytest

import vecstore
from vecstore import errors as E
from vecstore.rpc.auth import read_key_file
from vecstore.rpc.client import RemoteCollection
from vecstore.rpc.server import READ_METHODS, WRITE_METHODS
from vecstore.rpc.status import ERROR_CODE_KEY
from vecstore.rpc.v1 import vecstore_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from conftest import serving

KEY, READ_KEY = "s3cret-full", "s3cret-read"


def vecstore_methods():
    """(path, client_streaming, server_streaming) of every vecstore.v1 RPC."""
    return [(f"/{s.full_name}/{m.name}", m.client_streaming, m.server_streaming)
            for s in pb.DESCRIPTOR.services_by_name.values() for m in s.methods]


def test_every_method_is_classified_as_read_or_write():
    paths = {path for path, _, _ in vecstore_methods()}
    assert WRITE_METHODS | READ_METHODS == paths
    assert not WRITE_METHODS & READ_METHODS


@pytest.fixture
def keyed(tmp_path):
    with serving(tmp_path / "db", api_keys=[KEY], read_only_api_keys=[READ_KEY]) as address:
        channel = grpc.insecure_channel(address)
        yield address, channel
        channel.close()


def call_raw(channel, path, client_streaming, server_streaming, key=None):
    """Call `path` with an empty request; returns the RpcError, or None on success."""
    metadata = (("authorization", f"Bearer {key}"),) if key else ()
    try:
        if client_streaming and server_streaming:
            list(channel.stream_stream(path)(iter([b""]), metadata=metadata, timeout=30))
        elif client_streaming:
            channel.stream_unary(path)(iter([b""]), metadata=metadata, timeout=30)
        elif server_streaming:
            list(channel.unary_stream(path)(b"", metadata=metadata, timeout=30))
        else:
            channel.unary_unary(path)(b"", metadata=metadata, timeout=30)
    except grpc.RpcError as err:
        return err
    return None


REFLECTION = (f"/{reflection.SERVICE_NAME}/ServerReflectionInfo", True, True)


@pytest.mark.parametrize("key", [None, "wrong", KEY + "x", KEY[:-1], ""], ids=["missing", "wrong", "longer", "prefix", "empty"])
def test_every_rpc_but_health_needs_a_valid_key(keyed, key):
    _, channel = keyed
    for path, cs, ss in [*vecstore_methods(), REFLECTION]:
        err = call_raw(channel, path, cs, ss, key)
        assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED, path
        assert dict(err.trailing_metadata() or ()).get(ERROR_CODE_KEY) == "UNAUTHENTICATED"
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=30).status == health_pb2.HealthCheckResponse.SERVING
    watch = health.Watch(health_pb2.HealthCheckRequest(service="vecstore.v1.Points"), timeout=30)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_client_without_key_raises_unauthenticated(keyed):
    address, _ = keyed
    with vecstore.connect(address) as client:
        with pytest.raises(E.UnauthenticatedError, match="API key") as info:
            client.list_collections()
    assert isinstance(info.value, PermissionError)
    with vecstore.connect(address, api_key="nope") as client:
        with pytest.raises(E.UnauthenticatedError):
            client.create_collection("docs", dim=4)


def test_full_key_can_do_everything(keyed):
    address, channel = keyed
    with vecstore.connect(address, api_key=KEY) as client:
        col = client.create_collection("docs", dim=4, quantization="none")
        col.upsert([1, 2], np.eye(2, 4))
        assert col.search(np.eye(1, 4), k=1).ids.tolist() == [[1]]
        client.drop_collection("docs")
    err = call_raw(channel, *REFLECTION, key=KEY)
    assert err is None or err.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_read_only_key_reads_but_cannot_write(keyed):
    address, channel = keyed
    with vecstore.connect(address, api_key=KEY) as admin:
        admin.create_collection("docs", dim=4, quantization="none").upsert([1], np.ones((1, 4)))
    for path, cs, ss in vecstore_methods():
        err = call_raw(channel, path, cs, ss, READ_KEY)
        if path in WRITE_METHODS:
            assert err is not None and err.code() == grpc.StatusCode.PERMISSION_DENIED, path
            assert dict(err.trailing_metadata() or ()).get(ERROR_CODE_KEY) == "PERMISSION_DENIED"
        else:  # allowed through: any failure is about the empty request itself
            assert err is None or err.code() not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), path
    with vecstore.connect(address, api_key=READ_KEY) as reader:
        col = reader.get_collection("docs")
        assert col.count() == 1 and len(col.get([1])) == 1
        with pytest.raises(E.PermissionDeniedError, match="read-only"):
            col.upsert([2], np.ones((1, 4)))
        with pytest.raises(E.PermissionDeniedError):
            reader.drop_collection("docs")
        assert col.count() == 1


def test_bearer_scheme_is_case_insensitive(keyed):
    _, channel = keyed
    rpc = channel.unary_unary("/vecstore.v1.Collections/ListCollections")
    assert rpc(b"", metadata=(("authorization", f"bearer {KEY}"),), timeout=30) == b""


def test_key_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text("# team keys\nalpha\n\n  beta  \n#gamma\n")
    assert read_key_file(str(path)) == ["alpha", "beta"]


def payload_calls(col):
    """Every payload, filter and scroll call of the client, as (name, call, writes)."""
    return [
        ("scroll", lambda: col.scroll(10, filter={"tag": "a"}), False),
        ("count filter", lambda: col.count(filter={"tag": "a"}), False),
        ("search filter", lambda: col.search(np.ones(4), k=1, filter={"tag": "a"}), False),
        ("payload_indexes", lambda: col.payload_indexes(), False),
        ("set_payload", lambda: col.set_payload([1], {"tag": "b"}), True),
        ("overwrite_payload", lambda: col.overwrite_payload([2], {"tag": "c"}), True),
        ("delete_payload_keys", lambda: col.delete_payload_keys([1], ["tag"]), True),
        ("create_payload_index", lambda: col.create_payload_index("n", "integer"), True),
        ("drop_payload_index", lambda: col.drop_payload_index("tag"), True),
        ("delete filter", lambda: col.delete(filter={"tag": "a"}), True),
    ]


@pytest.fixture
def tagged(keyed):
    """A collection of two tagged points, made with the full key."""
    address, _ = keyed
    with vecstore.connect(address, api_key=KEY) as admin:
        col = admin.create_collection("docs", dim=4, quantization="none")
        col.upsert([1, 2], np.eye(2, 4), [{"tag": "a"}, {"tag": "a"}])
        col.create_payload_index("tag", "keyword")
    return address


def state(address):
    with vecstore.connect(address, api_key=KEY) as admin:
        col = admin.get_collection("docs")
        return col.get([1, 2]).payloads, col.payload_indexes()


@pytest.mark.parametrize("key", [None, "wrong"], ids=["no key", "wrong key"])
def test_payload_filter_and_scroll_calls_need_a_key(tagged, key):
    before = state(tagged)
    with vecstore.connect(tagged, api_key=KEY) as admin:
        handle = admin.get_collection("docs")  # a handle made with a key, used without one
    with vecstore.connect(tagged, api_key=key) as stranger:
        col = RemoteCollection(stranger, handle.config, handle.cid)
        for name, call, _ in payload_calls(col):
            with pytest.raises(E.UnauthenticatedError):
                call()
    assert state(tagged) == before


def test_read_only_key_reads_payloads_but_cannot_edit_them(tagged):
    before = state(tagged)
    with vecstore.connect(tagged, api_key=READ_KEY) as reader:
        col = reader.get_collection("docs")
        for name, call, writes in payload_calls(col):
            if writes:
                with pytest.raises(E.PermissionDeniedError, match="read-only"):
                    call()
            else:
                call()  # allowed
        assert col.count(filter={"tag": "a"}) == 2
        assert col.scroll(10, filter={"tag": "a"}).points.ids.tolist() == [1, 2]
    assert state(tagged) == before  # no write went through


def test_full_key_edits_payloads_and_indexes(tagged):
    with vecstore.connect(tagged, api_key=KEY) as admin:
        col = admin.get_collection("docs")
        results = {name: call() for name, call, _ in payload_calls(col)}
    assert results["set_payload"] == 1 and results["overwrite_payload"] == 1 and results["delete_payload_keys"] == 1
    assert results["drop_payload_index"] is True
    assert results["delete filter"] == 0  # by then no point is tagged "a"
    assert state(tagged) == ([{}, {"tag": "c"}], {"n": "integer"})
