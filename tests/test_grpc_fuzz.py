"""Random protobuf bytes to every RPC: the server answers each with a
documented status (never INTERNAL or UNKNOWN), keeps serving, and loses no data.
Bytes that do not decode as the request type get INVALID_ARGUMENT, on unary
calls and anywhere in a client stream.

Methods are listed from the generated descriptors, so a new RPC is fuzzed
without editing this file. Valid seed requests are recorded from a real client
workload (through a recording channel interceptor) and then mutated; the test
fails if the workload leaves some RPC without a seed, so a new RPC also needs
a line in `exercise_every_rpc`.

The workload runs on a scratch collection; a second collection, `protected`,
is never named by any seed (mutating 'scratch' into 'protected' would take
nine specific byte edits), so its contents must survive the fuzzing unchanged.
"""
import grpc
import numpy as np
import pytest

import vecstore
from vecstore.rpc.v1 import vecstore_pb2 as pb
from vecstore.rpc.v1 import vecstore_pb2_grpc as pb_grpc

from conftest import serving

ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
RANDOM_PER_METHOD = 24  # empty, short and long random strings
MUTANTS_PER_SEED = 80  # ~1 in 10 byte-level mutants still decodes; only those are sent
DIM = 8


def all_methods() -> list[tuple[str, bool, type]]:
    """(full method path, client-streaming?, request class) for every RPC."""
    return [
        (f"/{service.full_name}/{method.name}", bool(method.client_streaming), getattr(pb, method.input_type.name))
        for service in pb.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


class _Recorder(grpc.UnaryUnaryClientInterceptor, grpc.StreamUnaryClientInterceptor):
    """Keeps the serialized bytes of every request the client sends."""

    def __init__(self):
        self.seeds: dict[str, list[bytes]] = {}

    def _keep(self, method, request):
        self.seeds.setdefault(method, []).append(request.SerializeToString())

    def intercept_unary_unary(self, continuation, details, request):
        self._keep(details.method, request)
        return continuation(details, request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        def recording():
            for request in request_iterator:
                self._keep(details.method, request)
                yield request
        return continuation(details, recording())


def recording_client(address: str, recorder: _Recorder) -> "vecstore.rpc.client.Client":
    client = vecstore.connect(address)
    # private fields on purpose: the client has no hook for interceptors
    channel = grpc.intercept_channel(client._channel, recorder)
    client._collections = pb_grpc.CollectionsStub(channel)
    client._points = pb_grpc.PointsStub(channel)
    return client


def exercise_every_rpc(client, rng: np.random.Generator) -> None:
    """One valid call of each RPC, on the scratch collection."""
    col = client.create_collection("scratch", dim=DIM, quantization="none")
    client.get_collection("scratch")
    client.list_collections()
    col.info()
    x = rng.standard_normal((20, DIM)).astype(np.float32)
    col.upsert(np.arange(20), x, [{"tag": "a", "n": i} for i in range(20)])
    col.import_batches([(np.arange(20, 30), x[:10])])  # UpsertStream
    col.create_payload_index("tag", "keyword")
    col.payload_indexes()
    col.optimize()
    col.get([1, 2])
    col.count(filter={"n": {"$gte": 3}})
    col.search(x[:2], k=3, filter={"tag": "a"})
    col.search_by_id([4, 5], k=3)
    col.scroll(limit=5, after=2)
    col.set_payload([1], {"extra": 1.5})
    col.overwrite_payload([2], {"tag": "b"})
    col.delete_payload_keys([1], ["extra"])
    col.delete([3])
    col.drop_payload_index("tag")
    client.snapshot("seed")  # CreateSnapshot, into the server's snapshot directory
    client.drop_collection("scratch")


def mutate(seed: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(seed)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 5))
        at = int(rng.integers(0, len(data) + 1))
        if op == 0 and data:  # flip one byte
            at = min(at, len(data) - 1)
            data[at] = int(rng.integers(0, 256))
        elif op == 1:  # truncate
            del data[at:]
        elif op == 2:  # insert random bytes
            data[at:at] = rng.bytes(int(rng.integers(1, 9)))
        elif op == 3 and data:  # duplicate a slice (repeated / overridden fields)
            lo = int(rng.integers(0, len(data)))
            data[at:at] = data[lo:lo + int(rng.integers(1, 17))]
        else:  # drop a slice
            del data[at:at + int(rng.integers(1, 5))]
    return bytes(data)


def random_inputs(rng: np.random.Generator) -> list[bytes]:
    sizes = [0, 1, 2, 3, 5, 8] + rng.integers(0, 64, RANDOM_PER_METHOD - 8).tolist() + [1000, 20000]
    return [rng.bytes(int(n)) for n in sizes]


def decodes(message: type, data: bytes) -> bool:
    try:
        message.FromString(data)
    except Exception:  # noqa: BLE001 - DecodeError, or a RuntimeWarning-ish oddity
        return False
    return True


def call(channel: grpc.Channel, method: str, streaming: bool, data: bytes | list[bytes]) -> tuple[grpc.StatusCode, str]:
    """Raw bytes in (a list of messages for a stream), (status, details) out."""
    try:
        if streaming:
            messages = data if isinstance(data, list) else [data, data]  # a stream of two by default
            channel.stream_unary(method)(iter(messages), timeout=30)
        else:
            channel.unary_unary(method)(data, timeout=30)
    except grpc.RpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def send(channel: grpc.Channel, method: str, streaming: bool, data: bytes | list[bytes]) -> grpc.StatusCode:
    return call(channel, method, streaming, data)[0]


@pytest.fixture
def served(tmp_path):
    with serving(tmp_path / "db", snapshot_dir=str(tmp_path / "snapshots")) as address:
        yield address


def test_every_rpc_survives_random_bytes(served):
    rng = np.random.default_rng(20261122)
    recorder = _Recorder()
    client = recording_client(served, recorder)
    exercise_every_rpc(client, rng)
    seeds = {method: list(sent) for method, sent in recorder.seeds.items()}  # before 'protected' exists
    methods = all_methods()
    assert set(seeds) == {m for m, _, _ in methods}, "exercise_every_rpc misses an RPC"

    protected = client.create_collection("protected", dim=DIM, quantization="none")
    px = rng.standard_normal((50, DIM)).astype(np.float32)
    protected.upsert(np.arange(50), px, [{"i": i} for i in range(50)])
    before = protected.search(px[:5], k=3)
    client.create_collection("scratch", dim=DIM, quantization="none")  # so mutants find a target

    bad = []
    undecodable = 0
    with grpc.insecure_channel(served) as channel:
        for method, streaming, message in methods:
            inputs = random_inputs(rng)
            for seed in seeds[method]:
                inputs += [seed] + [mutate(seed, rng) for _ in range(MUTANTS_PER_SEED)]
            if streaming:  # a valid first message for streams: scratch made anew, the seed without its id
                first_message = message.FromString(seeds[method][0])
                first_message.collection.ClearField("collection_id")  # the seed's scratch was dropped
                first = first_message.SerializeToString()
                if "scratch" in client.list_collections():
                    client.drop_collection("scratch")
                client.create_collection("scratch", dim=DIM, quantization="none")
                assert send(channel, method, streaming, [first]) == grpc.StatusCode.OK
            for data in inputs:
                allowed = ALLOWED if decodes(message, data) else {grpc.StatusCode.INVALID_ARGUMENT}
                undecodable += allowed is not ALLOWED
                status = send(channel, method, streaming, data)
                if status not in allowed:
                    bad.append((method, status, data[:64]))
                if streaming and allowed is not ALLOWED:
                    # after a valid first message, which the server has acted on
                    status = send(channel, method, streaming, [first, data])
                    if status != grpc.StatusCode.INVALID_ARGUMENT:
                        bad.append((method, status, b"<valid seed>, " + data[:64]))
    assert not bad, f"{len(bad)} calls got an undocumented status, e.g. {bad[:5]}"
    assert undecodable > 1000  # most random bytes and mutants do not decode: they were sent too

    # still serving, and the protected collection is exactly as it was
    assert protected.count() == 50
    after = protected.search(px[:5], k=3)
    np.testing.assert_array_equal(after.ids, before.ids)
    np.testing.assert_array_equal(after.scores, before.scores)
    got = protected.get(np.arange(50))
    assert got.vectors.tobytes() == px.tobytes()
    assert got.payloads == [{"i": i} for i in range(50)]
    client.close()


@pytest.mark.parametrize("method,streaming,message",
                         [pytest.param(*m, id=m[0].removeprefix("/vecstore.v1.")) for m in all_methods()])
def test_undecodable_bytes_are_invalid_argument(served, method, streaming, message):
    undecodable = b"\xff\xff"  # a field tag with an unterminated varint
    assert not decodes(message, undecodable)
    with grpc.insecure_channel(served) as channel:
        status, details = call(channel, method, streaming, undecodable)
        assert status == grpc.StatusCode.INVALID_ARGUMENT
        assert f"not a valid {message.DESCRIPTOR.full_name}" in details
        # the server still answers a valid call
        assert call(channel, "/vecstore.v1.Collections/ListCollections", False, b"")[0] == grpc.StatusCode.OK


def test_undecodable_stream_message_says_what_was_written(served):
    with vecstore.connect(served) as client:
        client.create_collection("docs", dim=DIM, quantization="none")
    valid = pb.UpsertRequest(collection=pb.CollectionRef(name="docs"), ids=[1, 2],
                             vectors=pb.Vectors(dim=DIM, data=np.ones((2, DIM), "<f4").tobytes())).SerializeToString()
    with grpc.insecure_channel(served) as channel:
        status, details = call(channel, "/vecstore.v1.Points/UpsertStream", True, [valid, b"\xff\xff", valid])
    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid vecstore.v1.UpsertRequest" in details
    assert "stream message 1; the 2 points of earlier messages were written" in details
    with vecstore.connect(served) as client:
        assert client.get_collection("docs").count() == 2


def test_mutate_changes_bytes_and_is_seeded():
    seed = pb.SearchRequest(k=3).SerializeToString() * 4
    first = [mutate(seed, np.random.default_rng(7)) for _ in range(5)]
    again = [mutate(seed, np.random.default_rng(7)) for _ in range(5)]
    assert first == again
    many = [mutate(seed, np.random.default_rng(s)) for s in range(20)]
    assert sum(m != seed for m in many) >= 15
