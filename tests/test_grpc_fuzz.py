"""Random protobuf bytes to every RPC: the server answers each with a
documented status (never INTERNAL or UNKNOWN), keeps serving, and loses no data.

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


def send(channel: grpc.Channel, method: str, streaming: bool, data: bytes) -> grpc.StatusCode:
    """Raw bytes in, status out (OK when the call succeeded)."""
    try:
        if streaming:
            # a stream of one message, then one of two (the second one random)
            channel.stream_unary(method)(iter([data, data]), timeout=30)
        else:
            channel.unary_unary(method)(data, timeout=30)
    except grpc.RpcError as err:
        return err.code()
    return grpc.StatusCode.OK


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
    with grpc.insecure_channel(served) as channel:
        for method, streaming, message in methods:
            inputs = random_inputs(rng)
            for seed in seeds[method]:
                inputs += [seed] + [mutate(seed, rng) for _ in range(MUTANTS_PER_SEED)]
            # Bytes that are not a valid message never reach vecstore code: grpc
            # answers them itself (INTERNAL, see the xfail test below; on a
            # stream they even hang shutdown), so only decodable ones go here.
            for data in (d for d in inputs if decodes(message, d)):
                status = send(channel, method, streaming, data)
                if status not in ALLOWED:
                    bad.append((method, status, data[:64]))
    assert not bad, f"{len(bad)} calls got an undocumented status, e.g. {bad[:5]}"

    # still serving, and the protected collection is exactly as it was
    assert protected.count() == 50
    after = protected.search(px[:5], k=3)
    np.testing.assert_array_equal(after.ids, before.ids)
    np.testing.assert_array_equal(after.scores, before.scores)
    got = protected.get(np.arange(50))
    assert got.vectors.tobytes() == px.tobytes()
    assert got.payloads == [{"i": i} for i in range(50)]
    client.close()


@pytest.mark.xfail(strict=True, reason="known bug: grpc's default deserializer answers undecodable "
                   "bytes with INTERNAL 'Exception deserializing request!'; rpc/server.py should map "
                   "DecodeError to INVALID_ARGUMENT")
def test_undecodable_bytes_are_invalid_argument(served):
    with grpc.insecure_channel(served) as channel:
        undecodable = b"\xff\xff"  # a field tag with an unterminated varint
        assert not decodes(pb.CountRequest, undecodable)
        assert send(channel, "/vecstore.v1.Points/Count", False, undecodable) == grpc.StatusCode.INVALID_ARGUMENT


def test_mutate_changes_bytes_and_is_seeded():
    seed = pb.SearchRequest(k=3).SerializeToString() * 4
    first = [mutate(seed, np.random.default_rng(7)) for _ in range(5)]
    again = [mutate(seed, np.random.default_rng(7)) for _ in range(5)]
    assert first == again
    many = [mutate(seed, np.random.default_rng(s)) for s in range(20)]
    assert sum(m != seed for m in many) >= 15
