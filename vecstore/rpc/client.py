"""The gRPC client: the embedded API, served by a `vecstore serve` daemon.

`Client` mirrors `Database` and `RemoteCollection` mirrors `Collection`:
same methods, parameters, return types and exception classes. Each method
also takes a keyword-only `timeout` (seconds; default: the one given to
`connect`), sent as the call's gRPC deadline.

Inputs go through the engine's own validators before they are encoded, so
a bad batch raises the same error as in embedded mode without a round trip,
and values the wire cannot carry (float ids, ragged arrays) never reach it.
Filters are normalized by the engine's parser first, so a malformed one
raises InvalidFilterError naming the caller's own keys, and the canonical
form travels. The server validates again, for clients in other languages.

Batches larger than the message limit are split. For `upsert` that means
streaming: the batch is validated whole first, so a bad batch still writes
nothing, but a server-side failure part-way (a full disk) leaves the parts
before it written, as the error message says. Payload edits of more ids than
fit one message are likewise several transactions; a scroll page too large
for one message is fetched as consecutive smaller pages.

Each method is written once, as a plan: a generator that checks its input,
yields the calls it needs (`_Call`) one at a time, is sent each response (or
has each error thrown into it, to split and retry) and returns the result.
`Client` runs plans with blocking calls; `aio_client.AsyncClient` awaits the
same plans on `grpc.aio`, so both clients validate, split and decode alike.
"""
from __future__ import annotations

import functools
import os
from types import ModuleType
from typing import Any, Callable, Generator, Iterable, Iterator, NamedTuple, Sequence, TypeVar

import grpc
import numpy as np

from ..config import CollectionConfig, check_name
from ..api import ids as I
from ..api import interface
from ..api import payloads as P
from ..api import validate as V
from ..api.filters import normalize_filter
from ..api.indexes import check_index, check_index_key
from ..api.fusion import check_fusion
from ..api.sparse_rows import SparseRows
from ..api.sparse_vectors import check_sparse_vectors
from ..errors import DatabaseClosedError, InvalidArgumentError, ResourceExhaustedError, VecstoreError
from ..types import CollectionInfo, Points, ScrollPage, SearchResult
from . import convert as C
from .defaults import DEFAULT_MAX_MESSAGE_BYTES
from .status import error_from_rpc
from .v1 import vecstore_pb2 as pb
from .v1 import vecstore_pb2_grpc as pb_grpc

DEFAULT_TIMEOUT = 60.0
# A large upsert is streamed in messages of about this size, each one durable
# commit: large enough that fsyncs are few, small enough to pipeline.
STREAM_CHUNK_BYTES = 16 << 20
_ID_BYTES = 11  # a varint int64 id plus its share of framing, rounded up
_HIT_BYTES = 15  # one search hit: varint id + float score
_PAYLOAD_GUESS = 64  # bytes per payload when sizing a read (too small a guess: halve and retry)
_UINT32_MAX = 2**32 - 1


def connect(
    target: str,
    api_key: str | None = None,
    *,
    tls: bool = False,
    root_certificates: bytes | str | os.PathLike | None = None,
    server_name: str | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> "Client":
    """Connect to a `vecstore serve` daemon at "host:port".

    api_key: sent as `authorization: Bearer <key>` when given.
    tls: use TLS; implied by root_certificates (PEM bytes or a file path,
    for servers whose certificate the system does not trust, e.g. self-signed).
    server_name: the name to check the certificate against, when it differs
    from the host in `target`.
    timeout: default deadline of each call in seconds (None: no deadline).
    max_message_bytes: the largest message sent or accepted; keep it equal
    to the server's (both default to 64 MiB). Larger batches are split.
    """
    return Client(target, api_key, tls=tls, root_certificates=root_certificates, server_name=server_name,
                  timeout=timeout, max_message_bytes=max_message_bytes)


def _read_pem(value: bytes | str | os.PathLike | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


# -- plans ---------------------------------------------------------------------------
class _Call(NamedTuple):
    """One RPC a plan asks for: `method` of the `service` stub ("collections" or
    "points"); `request` is an iterator of requests for a client stream."""

    service: str
    method: str
    request: Any
    timeout: float | None


T = TypeVar("T")
#: what a method is written as: yields calls, is sent their responses, returns the result
Plan = Generator[_Call, Any, T]


def _blocking(plan: Callable[..., Plan]) -> Callable[..., Any]:
    """The method of the blocking client made of a plan. The plan keeps the
    signature, the docstring and the annotations (of what the method returns);
    `aio_client` wraps the same plan (`__wrapped__`) in a coroutine."""

    @functools.wraps(plan)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._run(plan(self, *args, **kwargs))

    return method


def _drive(plan: Plan, send: Callable[[_Call], Any]) -> Any:
    """Runs a plan with blocking calls: `send` makes one call (raising VecstoreError)."""
    try:
        call = next(plan)
        while True:
            try:
                response = send(call)
            except VecstoreError as exc:
                call = plan.throw(exc)  # the plan may split and retry
            else:
                call = plan.send(response)
    except StopIteration as done:
        return done.value


class _ClientCore:
    """What both clients share: the channel's settings, the stubs, the checks
    before a call. `_channels` is the module that opens channels (grpc or grpc.aio)."""

    _channels: ModuleType = grpc

    def __init__(
        self,
        target: str,
        api_key: str | None = None,
        *,
        tls: bool = False,
        root_certificates: bytes | str | os.PathLike | None = None,
        server_name: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.max_message_bytes = max_message_bytes
        # what one request may hold: room left for framing and small fields
        self._budget = max(1024, max_message_bytes - max(256, max_message_bytes // 16))
        self._chunk_bytes = min(self._budget, STREAM_CHUNK_BYTES)
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or root_certificates is not None:
            creds = grpc.ssl_channel_credentials(root_certificates=_read_pem(root_certificates))
            self._channel = self._channels.secure_channel(target, creds, options=options)
        else:
            self._channel = self._channels.insecure_channel(target, options=options)
        self._metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
        self._collections = pb_grpc.CollectionsStub(self._channel)
        self._points = pb_grpc.PointsStub(self._channel)
        self._closed = False

    def _invocation(self, call: _Call) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The stub method of a call and its keyword arguments."""
        if self._closed:
            raise DatabaseClosedError(f"client for {self.target} is closed")
        method = getattr(getattr(self, "_" + call.service), call.method)
        return method, {"timeout": self.timeout if call.timeout is None else call.timeout, "metadata": self._metadata}

    def _collection(self, description: pb.CollectionDescription) -> Any:
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target!r})"


class Client(_ClientCore, interface.Database):
    """What `vecstore.connect` returns: the `Database` interface over gRPC. Thread-safe."""

    def _run(self, plan: Plan) -> Any:
        return _drive(plan, self._send)

    def _send(self, call: _Call) -> Any:
        method, kwargs = self._invocation(call)
        if isinstance(call.request, _RememberingAsyncIterator):
            raise InvalidArgumentError("an async iterable of batches needs the async client (vecstore.connect_async)")
        try:
            return method(call.request, **kwargs)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, self.target) from None

    def _collection(self, description: pb.CollectionDescription) -> "RemoteCollection":
        return RemoteCollection(self, *C.description_from_proto(description))

    # -- the Database interface ------------------------------------------------------
    @_blocking
    def create_collection(
        self,
        name: str,
        *,
        dim: int,
        metric: str = "cosine",
        quantization: Any = "binary",
        vector_dtype: str = "float32",
        ivf: Any = None,
        vectors_in_ram: bool = False,
        sparse_vectors: Any = None,
        id_type: str = "int",
        shards: int = 1,
        replicas: int = 1,
        timeout: float | None = None,
    ) -> "RemoteCollection":
        """Create a collection. quantization: a kind name ("none", "binary",
        "sparse") or a config object such as `BinaryQuantization(oversampling=8)`.
        vector_dtype: how vectors are kept on disk, "float32" or "float16".
        ivf: None, or an IVFConfig (or dict) to partition the codes.
        vectors_in_ram: also keep the vectors in RAM and rerank from there
        (dim * 2 or 4 more bytes of RAM per vector, no disk reads per search).
        sparse_vectors: True (or a SparseVectorsConfig / dict) to give points a
        user sparse vector beside the dense one, for hybrid search.
        id_type: "int" (non-negative int64 ids) or "str" (UTF-8 ids of 1 to
        256 bytes, UUIDs included); every call then takes and returns that type.
        shards / replicas: split the collection (servers started with
        `vecstore serve --ray` only; others accept 1)."""
        shards, replicas = V.check_layout(shards, replicas)
        config = CollectionConfig(name=name, dim=dim, metric=metric, quantization=quantization,
                                  vector_dtype=vector_dtype, ivf=ivf, vectors_in_ram=vectors_in_ram,
                                  sparse_vectors=sparse_vectors, id_type=id_type)
        request = pb.CreateCollectionRequest(config=C.config_to_proto(config), shards=shards, replicas=replicas)
        response = yield _Call("collections", "CreateCollection", request, timeout)
        return self._collection(response.collection)

    @_blocking
    def get_collection(self, name: str, *, timeout: float | None = None) -> "RemoteCollection":
        check_name(name)
        response = yield _Call("collections", "GetCollection", pb.GetCollectionRequest(name=name), timeout)
        return self._collection(response.collection)

    @_blocking
    def list_collections(self, *, timeout: float | None = None) -> list[str]:
        response = yield _Call("collections", "ListCollections", pb.ListCollectionsRequest(), timeout)
        return list(response.names)

    @_blocking
    def snapshot(self, dest: str, *, timeout: float | None = None) -> str:
        """Have the server write a consistent copy of the whole database while
        writes go on. Over gRPC `dest` is the snapshot's name in the server's
        --snapshot-dir (a plain name, not a path); returns the server's path."""
        check_name(dest, "snapshot")
        return (yield _Call("collections", "CreateSnapshot", pb.CreateSnapshotRequest(name=dest), timeout)).path

    @_blocking
    def drop_collection(self, name: str, *, timeout: float | None = None) -> None:
        """Delete a collection and all its points."""
        check_name(name)
        yield _Call("collections", "DropCollection", pb.DropCollectionRequest(name=name), timeout)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        """Close the channel. Idempotent."""
        if not self._closed:
            self._closed = True
            self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _CollectionCore(interface.NamedByConfig):
    """What both clients' collections share: the pinned config, and the
    checks, sizing and encoding the plans of `RemoteCollection` use."""

    def __init__(self, client: _ClientCore, config: CollectionConfig, cid: int) -> None:
        self._client = client
        self.config = config
        self.cid = cid
        self._ref = C.ref_to_proto(config.name, cid)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.name!r}, dim={self.dim}, metric={self.metric!r}, "
                f"quantization={self.config.quantization.kind!r}, server={self._client.target!r})")

    def _run(self, plan: Plan) -> Any:
        return self._client._run(plan)

    # -- ids ------------------------------------------------------------------------
    def _check_ids(self, ids: Any, *, allow_empty: bool = False) -> np.ndarray:
        """The engine's id checks for this collection's id_type."""
        return I.check_ids_of(self.config.id_type, ids, self.name, allow_empty=allow_empty)

    def _id_bytes(self, ids: np.ndarray | None = None) -> int:
        """What one id may take on the wire: the longest of ids for str ids
        (the longest allowed when ids is None)."""
        if self.config.id_type != "str":
            return _ID_BYTES
        if ids is None or not len(ids):
            return I.MAX_STR_ID_BYTES + 3
        return max(len(v.encode("utf-8")) for v in ids.tolist()) + 3  # bytes, length varint, tag

    # -- batches ------------------------------------------------------------------
    def _check_batch(self, ids: Any, vectors: Any, payloads: Any = None, sparse: Any = None,
                     sparse_vectors: Any = None) -> "_Batch":
        """The engine's own checks, in the engine's order."""
        ids = self._check_ids(ids)
        I.check_unique_ids(ids)
        x = V.check_vectors(vectors, self.dim, collection=self.name)
        V.check_norms(x, self.config.metric)
        V.check_lengths(len(ids), len(x))
        encoded = V.check_payloads(payloads, len(ids))
        if self.config.vector_dtype == "float16":
            V.round_to_float16(x)  # only for its checks: the server rounds the float32 rows itself
        return _Batch(ids, x, encoded, V.check_user_sparse(sparse, len(ids), self.config, what="sparse"),
                      check_sparse_vectors(sparse_vectors, len(ids), self.config))

    def _row_bytes(self, batch: "_Batch") -> np.ndarray:
        sizes = np.full(len(batch.x), 4 * batch.x.shape[1] + _ID_BYTES, dtype=np.int64)
        if batch.ids.dtype == object:
            sizes += np.fromiter((len(v.encode("utf-8")) + 3 for v in batch.ids.tolist()), dtype=np.int64,
                                 count=len(batch.ids))
        if batch.encoded is not None:
            sizes += np.fromiter((len(p or b"") + 3 for p in batch.encoded), dtype=np.int64, count=len(batch.encoded))
        if batch.sparse is not None:
            sizes += _sparse_row_bytes(batch.sparse)
        if batch.sparse_vectors is not None:
            sizes += _sparse_row_bytes(batch.sparse_vectors)
        return sizes

    def _upsert_request(self, batch: "_Batch") -> pb.UpsertRequest:
        return pb.UpsertRequest(collection=self._ref, **C.id_fields(batch.ids), vectors=C.vectors_to_proto(batch.x),
                                payloads=C.payloads_to_proto(batch.encoded), sparse=C.sparse_to_proto(batch.sparse),
                                sparse_vectors=C.sparse_to_proto(batch.sparse_vectors))

    def _import_requests(self, batches: Iterable[tuple]) -> "_RememberingIterator | _RememberingAsyncIterator":
        """The requests of an import stream, made as gRPC pulls them: from a
        plain iterable of batches, or an async one (async client only)."""
        if hasattr(batches, "__aiter__"):
            async def pulled() -> Any:
                async for batch in batches:  # type: ignore[union-attr]
                    for request in self._batch_requests(batch):
                        yield request
            return _RememberingAsyncIterator(pulled())
        return _RememberingIterator(request for batch in batches for request in self._batch_requests(batch))

    def _batch_requests(self, batch: Any) -> list[pb.UpsertRequest]:
        if not isinstance(batch, tuple) or len(batch) not in (2, 3):
            raise InvalidArgumentError(f"each batch must be (ids, vectors) or (ids, vectors, payloads), got {type(batch).__name__}")
        checked = self._check_batch(*batch)
        # the caller chose the batch size (= the commit size): split only
        # what would not fit in one message
        return [self._upsert_request(checked.part(lo, hi))
                for lo, hi in _chunk_bounds(self._row_bytes(checked), self._client._budget)]

    def _id_parts(self, ids: np.ndarray, other_bytes: int = 0) -> list[np.ndarray]:
        """ids in parts that fit one message beside `other_bytes` of other fields;
        at least one part, so that even an empty call reaches the server (which
        says whether the collection still exists)."""
        step = max(1, (self._client._budget - other_bytes) // self._id_bytes(ids))
        return [ids[lo : lo + step] for lo in range(0, max(len(ids), 1), step)]

    # -- parts of plans -------------------------------------------------------------
    def _answer_bytes(self, k: int, with_payloads: bool, with_vectors: bool) -> int:
        """What one query's answer may take on the wire (payloads: a guess)."""
        per_hit = _HIT_BYTES + (4 * self.dim if with_vectors else 0) + (_PAYLOAD_GUESS if with_payloads else 0)
        if self.config.id_type == "str":
            per_hit += self._id_bytes()
        return per_hit * k

    def _searches(self, method: str, sizes: np.ndarray, flt: pb.Filter | None, request: Callable[[int, int], Any],
                  k: int, with_payloads: bool, with_vectors: bool, timeout: float | None) -> Plan[SearchResult]:
        """One search split into calls of consecutive queries whose requests and
        answers (sizes: the larger, per query) fit one message each."""
        room = max(1, self._client._budget - (flt.ByteSize() if flt is not None else 0))
        parts = []
        for lo, hi in _chunk_bounds(sizes, room):
            parts.append((yield from self._search_part(method, request, lo, hi, k, with_payloads, with_vectors,
                                                       timeout)))
        return _concat_results(parts)

    def _search_part(self, method: str, request: Callable[[int, int], Any], lo: int, hi: int, k: int,
                     with_payloads: bool, with_vectors: bool, timeout: float | None) -> Plan[SearchResult]:
        try:
            response = yield _Call("points", method, request(lo, hi), timeout)
        except ResourceExhaustedError as exc:
            # payloads larger than guessed made the answer too big (the server
            # refuses it exactly as the base class): ask for halves
            if not with_payloads or type(exc) is not ResourceExhaustedError or hi - lo < 2:
                raise
            mid = (lo + hi) // 2
            first = yield from self._search_part(method, request, lo, mid, k, with_payloads, with_vectors, timeout)
            second = yield from self._search_part(method, request, mid, hi, k, with_payloads, with_vectors, timeout)
            return _concat_results([first, second])
        return C.search_result_from_proto(response, k, self.dim, with_payloads, with_vectors, self.config.id_type)

    def _edit(self, message: type, method: str, ids: Any, timeout: float | None, **fields: Any) -> Plan[int]:
        # unique first, as the engine does, so that a split never counts a point twice
        ids = np.unique(self._check_ids(ids, allow_empty=True))
        size = message(**fields).ByteSize()
        changed = 0
        for part in self._id_parts(ids, size):
            request = message(collection=self._ref, **C.id_fields(part), **fields)
            changed += (yield _Call("points", method, request, timeout)).changed
        return changed

    def _get_part(self, ids: np.ndarray, with_vectors: bool, with_payloads: bool, timeout: float | None) -> Plan[Points]:
        request = pb.GetRequest(collection=self._ref, **C.id_fields(ids), with_vectors=with_vectors,
                                with_payloads=with_payloads)
        try:
            response = yield _Call("points", "Get", request, timeout)
        except ResourceExhaustedError as exc:
            # exactly the base class: gRPC's message size limit, not an engine
            # error; payloads made the answer too big, so ask for halves
            if type(exc) is not ResourceExhaustedError or len(ids) < 2:
                raise
            half = len(ids) // 2
            first = yield from self._get_part(ids[:half], with_vectors, with_payloads, timeout)
            second = yield from self._get_part(ids[half:], with_vectors, with_payloads, timeout)
            return _concat_points([first, second], self.dim if with_vectors else 0, with_payloads)
        return C.points_from_proto(response, self.dim, with_vectors, with_payloads)


class RemoteCollection(_CollectionCore, interface.Collection):
    """The `Collection` interface of one collection on the server.

    Pinned to the collection it was made from: after a drop, its calls raise
    CollectionNotFoundError even if a new collection takes the same name.
    """

    # -- writes -------------------------------------------------------------------
    @_blocking
    def upsert(self, ids: Any, vectors: Any, payloads: Sequence[dict | None] | None = None, *,
               sparse: Any = None, sparse_vectors: Any = None, timeout: float | None = None) -> int:
        """Insert or replace points; returns once the batch is durable.

        A replaced point takes the new vector and the new payload (None clears
        it). `sparse`: one sparse code per point, required by (and only
        accepted by) collections with SparseQuantization(user_codes=True).
        `sparse_vectors`: for collections created with sparse_vectors, one
        user sparse vector (or None) per point, for hybrid search.
        Returns the number of points written.
        """
        batch = self._check_batch(ids, vectors, payloads, sparse, sparse_vectors)
        sizes = self._row_bytes(batch)
        if int(sizes.sum()) <= self._client._budget:
            return (yield _Call("points", "Upsert", self._upsert_request(batch), timeout)).written
        requests = (self._upsert_request(batch.part(lo, hi)) for lo, hi in _chunk_bounds(sizes, self._client._chunk_bytes))
        return (yield _Call("points", "UpsertStream", requests, timeout)).written

    @_blocking
    def import_batches(self, batches: Iterable[tuple], *, timeout: float | None = None) -> int:
        """Bulk import over one stream: each batch ((ids, vectors) or (ids, vectors,
        payloads)) is committed on its own as it arrives, so memory stays bounded
        and a failure keeps the batches before it. Returns the points written.
        gRPC only; in embedded mode call `upsert` per batch. The async client
        also takes an async iterable of batches."""
        source = self._import_requests(batches)
        try:
            return (yield _Call("points", "UpsertStream", source, timeout)).written
        except VecstoreError:
            if source.error is not None:
                raise source.error from None  # a bad batch, not a server failure
            raise

    @_blocking
    def delete(self, ids: Any = None, *, filter: dict | None = None, timeout: float | None = None) -> int:
        """Delete points by id, or every point matching `filter`; ids that do
        not exist are ignored. Returns how many went."""
        V.check_delete_selector(ids, filter)
        if filter is not None:  # one call: selected and deleted in one transaction
            request = pb.DeleteRequest(collection=self._ref, filter=_filter_to_proto(filter))
            return (yield _Call("points", "Delete", request, timeout)).deleted
        ids = self._check_ids(ids, allow_empty=True)
        deleted = 0
        for part in self._id_parts(ids):
            request = pb.DeleteRequest(collection=self._ref, **C.id_fields(part))
            deleted += (yield _Call("points", "Delete", request, timeout)).deleted
        return deleted

    # -- payload edits --------------------------------------------------------------
    @_blocking
    def set_payload(self, ids: Any, payload: dict, *, timeout: float | None = None) -> int:
        """Merge payload's top-level keys into each point's payload; vectors are
        untouched. Unknown ids are ignored; returns how many points changed."""
        raw = V.encode_payload(payload)
        return (yield from self._edit(pb.SetPayloadRequest, "SetPayload", ids, timeout, payload=raw))

    @_blocking
    def overwrite_payload(self, ids: Any, payload: dict | None, *, timeout: float | None = None) -> int:
        """Replace each point's payload (None removes it); vectors are untouched."""
        raw = b"" if payload is None else V.encode_payload(payload)
        return (yield from self._edit(pb.OverwritePayloadRequest, "OverwritePayload", ids, timeout, payload=raw))

    @_blocking
    def delete_payload_keys(self, ids: Any, keys: Sequence[str], *, timeout: float | None = None) -> int:
        """Remove keys (dotted keys reach nested fields) from each point's payload."""
        keys = P.check_keys(keys)
        return (yield from self._edit(pb.DeletePayloadKeysRequest, "DeletePayloadKeys", ids, timeout, keys=keys))

    # -- payload indexes --------------------------------------------------------------
    @_blocking
    def create_payload_index(self, key: str, kind: str, *, timeout: float | None = None) -> None:
        """Index a payload key in RAM ("keyword", "integer" or "float") so
        filters on it are decided without reading payloads. Declaring it again
        with another kind replaces it. Kept across reopen."""
        key, kind = check_index(key, kind)
        request = pb.CreatePayloadIndexRequest(collection=self._ref, key=key, kind=C.index_kind_to_proto(kind))
        yield _Call("collections", "CreatePayloadIndex", request, timeout)

    @_blocking
    def drop_payload_index(self, key: str, *, timeout: float | None = None) -> bool:
        """Forget a payload index; returns whether there was one."""
        request = pb.DropPayloadIndexRequest(collection=self._ref, key=check_index_key(key))
        return (yield _Call("collections", "DropPayloadIndex", request, timeout)).dropped

    @_blocking
    def payload_indexes(self, *, timeout: float | None = None) -> dict[str, str]:
        """Declared payload indexes: key -> kind."""
        request = pb.ListPayloadIndexesRequest(collection=self._ref)
        return C.payload_indexes_from_proto((yield _Call("collections", "ListPayloadIndexes", request, timeout)))

    @_blocking
    def optimize(self, *, timeout: float | None = None) -> None:
        """Learn the codec again from the current vectors and re-encode all of them."""
        yield _Call("collections", "OptimizeCollection", pb.OptimizeCollectionRequest(collection=self._ref), timeout)

    # -- reads --------------------------------------------------------------------
    @_blocking
    def count(self, *, filter: dict | None = None, timeout: float | None = None) -> int:
        """Points in the collection, or those matching `filter`."""
        request = pb.CountRequest(collection=self._ref, filter=_filter_to_proto(filter))
        return (yield _Call("points", "Count", request, timeout)).count

    @_blocking
    def info(self, *, timeout: float | None = None) -> CollectionInfo:
        request = pb.GetCollectionInfoRequest(collection=self._ref)
        return C.info_from_proto((yield _Call("collections", "GetCollectionInfo", request, timeout)).info)

    @_blocking
    def get(self, ids: Any, *, with_vectors: bool = True, with_payloads: bool = True,
            timeout: float | None = None) -> Points:
        """Stored vectors (byte-exact float32) and payloads of the ids that exist, in request order."""
        ids = self._check_ids(ids, allow_empty=True)
        with_vectors, with_payloads = bool(with_vectors), bool(with_payloads)
        per_id = self._id_bytes(ids) + (4 * self.dim if with_vectors else 0) + (64 if with_payloads else 0)
        step = max(1, self._client._budget // per_id)
        parts = []
        for lo in range(0, max(len(ids), 1), step):
            parts.append((yield from self._get_part(ids[lo : lo + step], with_vectors, with_payloads, timeout)))
        return _concat_points(parts, self.dim if with_vectors else 0, with_payloads)

    @_blocking
    def search(self, queries: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
               rescore: bool | None = None, nprobe: int | None = None, sparse_queries: Any = None,
               margin: float | None = None, sparse_query: Any = None, fusion: str = "rrf", rrf_k: float = 60,
               dense_weight: float = 0.5, with_payloads: bool = False, with_vectors: bool = False,
               timeout: float | None = None) -> SearchResult:
        """Top-k per query: coarse scan of RAM codes, then an exact rerank from LMDB.

        queries (nq, dim) or (dim,). oversampling / rescore / margin default to
        the collection's quantization settings (margin: binary codes scored
        asymmetrically only), nprobe to its IVF setting (only
        for collections with IVF). rescore=False returns code-space scores,
        which are approximate. sparse_queries: one sparse code per query, for
        collections with SparseQuantization(user_codes=True) (the dense
        queries still rerank).

        filter: only points matching it are searched; k hits come back
        whenever k points match.

        sparse_query (collections with sparse_vectors): hybrid search, the
        dense hits fused with exact sparse dot-product hits by `fusion`
        ("rrf" with rrf_k, or "weighted" with dense_weight; README "Hybrid
        search"); with queries=None, sparse retrieval alone.

        with_payloads / with_vectors: also return the hits' payloads / stored
        vectors (`SearchResult.payloads` / `.vectors`, see SearchResult).
        """
        if sparse_query is not None or queries is None:
            from .hybrid_client import search_plan  # here: it builds on this module's helpers
            return (yield from search_plan(
                self, queries, k, filter=filter, oversampling=oversampling, rescore=rescore, nprobe=nprobe,
                sparse_queries=sparse_queries, margin=margin, sparse_query=sparse_query, fusion=fusion,
                rrf_k=rrf_k, dense_weight=dense_weight, with_payloads=with_payloads, with_vectors=with_vectors,
                timeout=timeout))
        check_fusion(fusion, rrf_k, dense_weight)
        q = V.check_vectors(queries, self.dim, what="query", collection=self.name)
        V.check_norms(q, self.config.metric, what="query")
        k = V.check_k(k)
        oversampling = V.check_oversampling_arg(oversampling)
        rescore = V.check_rescore_arg(rescore)
        qcfg = self.config.quantization  # the whole call's size, as the engine bounds it
        V.check_search_size(len(q), k, V.candidates_per_query(
            k, qcfg.oversampling if oversampling is None else oversampling,
            qcfg.rescore if rescore is None else rescore, self.config))
        nprobe = V.check_nprobe_arg(nprobe, self.config.ivf, self.name)
        margin = V.check_margin_arg(margin, self.config)
        if nprobe is not None:
            # above nlist already means every list: clamp into the wire's uint32
            nprobe = min(nprobe, _UINT32_MAX)
        q_rows = V.check_user_sparse(sparse_queries, len(q), self.config, what="sparse_queries")
        flt = _filter_to_proto(filter)
        with_payloads, with_vectors = bool(with_payloads), bool(with_vectors)
        per_query = np.full(len(q), max(4 * self.dim, self._answer_bytes(k, with_payloads, with_vectors)) + 16,
                            dtype=np.int64)
        if q_rows is not None:
            per_query += _sparse_row_bytes(q_rows)

        def request(lo: int, hi: int) -> pb.SearchRequest:
            return pb.SearchRequest(collection=self._ref, queries=C.vectors_to_proto(q[lo:hi]), k=k,
                                    filter=flt, oversampling=oversampling, rescore=rescore, nprobe=nprobe,
                                    sparse_queries=C.sparse_to_proto(_rows_part(q_rows, lo, hi)), margin=margin,
                                    with_payloads=with_payloads, with_vectors=with_vectors)

        return (yield from self._searches("Search", per_query, flt, request, k, with_payloads, with_vectors, timeout))

    @_blocking
    def search_by_id(self, ids: Any, k: int = 10, *, filter: dict | None = None, oversampling: float | None = None,
                     rescore: bool | None = None, nprobe: int | None = None, margin: float | None = None,
                     with_payloads: bool = False, with_vectors: bool = False,
                     timeout: float | None = None) -> SearchResult:
        """Top-k per stored point ("more like these"): each point's stored vector
        (and, with user sparse codes, its stored code) is the query, and the point
        itself is left out of its own hits. Result shape (len(ids), k); other
        arguments as in `search`. An unknown id raises PointNotFoundError."""
        ids = self._check_ids(ids)
        k = V.check_by_id_k(k)
        oversampling = V.check_oversampling_arg(oversampling)
        rescore = V.check_rescore_arg(rescore)
        qcfg = self.config.quantization  # the engine searches k + 1: its own point, then cut
        V.check_search_size(len(ids), k + 1, V.candidates_per_query(
            k + 1, qcfg.oversampling if oversampling is None else oversampling,
            qcfg.rescore if rescore is None else rescore, self.config))
        nprobe = V.check_nprobe_arg(nprobe, self.config.ivf, self.name)
        margin = V.check_margin_arg(margin, self.config)
        if nprobe is not None:
            nprobe = min(nprobe, _UINT32_MAX)
        flt = _filter_to_proto(filter)
        with_payloads, with_vectors = bool(with_payloads), bool(with_vectors)
        per_id = np.full(len(ids), max(self._id_bytes(ids), self._answer_bytes(k, with_payloads, with_vectors)) + 16,
                         dtype=np.int64)

        def request(lo: int, hi: int) -> pb.SearchByIdRequest:
            return pb.SearchByIdRequest(collection=self._ref, **C.id_fields(ids[lo:hi]), k=k, filter=flt,
                                        oversampling=oversampling, rescore=rescore, nprobe=nprobe, margin=margin,
                                        with_payloads=with_payloads, with_vectors=with_vectors)

        return (yield from self._searches("SearchById", per_id, flt, request, k, with_payloads, with_vectors, timeout))

    @_blocking
    def scroll(self, limit: int = 100, *, after: int | str | None = None, filter: dict | None = None,
               with_vectors: bool = False, with_payloads: bool = True, timeout: float | None = None) -> ScrollPage:
        """Up to `limit` points in id order, those with ids above `after`,
        optionally only those matching `filter`. Pass the page's `next_cursor`
        as `after` to get the next page; it is None after the last page.
        str ids (id_type="str") come in UTF-8 byte order, and `after` is a str."""
        limit = V.check_limit(limit)
        after = I.check_cursor_of(self.config.id_type, after, self.name)
        flt = _filter_to_proto(filter)
        with_vectors, with_payloads = bool(with_vectors), bool(with_payloads)
        per_point = self._id_bytes() + (4 * self.dim if with_vectors else 0) + (_PAYLOAD_GUESS if with_payloads else 0)
        step = max(1, min(limit, self._client._budget // per_point))
        # consecutive pages make up the one asked for: page i+1 starts after page i's last id
        parts: list[Points] = []
        got, cursor = 0, after
        while True:
            ask = min(step, limit - got)
            request = pb.ScrollRequest(collection=self._ref, limit=ask, **C.cursor_fields(cursor), filter=flt,
                                       with_vectors=with_vectors, with_payloads=with_payloads)
            try:
                response = yield _Call("points", "Scroll", request, timeout)
            except ResourceExhaustedError as exc:
                # exactly the base class: the answer exceeded the message limit
                if type(exc) is not ResourceExhaustedError or ask < 2:
                    raise
                step = ask // 2
                continue
            page = C.scroll_page_from_proto(response, self.dim, with_vectors, with_payloads)
            parts.append(page.points)
            got += len(page)
            cursor = page.next_cursor
            if cursor is None or got >= limit:
                break
        return ScrollPage(points=_concat_points(parts, self.dim if with_vectors else 0, with_payloads),
                          next_cursor=cursor)


def _filter_to_proto(filter: Any) -> pb.Filter | None:
    """The engine's canonical form of a filter, as a message (None: no filter).
    Normalizing here raises the engine's InvalidFilterError, naming the caller's keys."""
    canonical = normalize_filter(filter)
    return None if canonical is None else C.filter_to_proto(canonical)


def _chunk_bounds(sizes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) row ranges of at most `budget` bytes (at least one row each)."""
    ends = np.cumsum(sizes)
    bounds, lo = [], 0
    while lo < len(sizes):
        start = int(ends[lo - 1]) if lo else 0
        hi = max(int(np.searchsorted(ends, start + budget, side="right")), lo + 1)
        bounds.append((lo, hi))
        lo = hi
    return bounds


def _concat_results(parts: list[SearchResult]) -> SearchResult:
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return SearchResult(
        ids=np.vstack([p.ids for p in parts]),
        scores=np.vstack([p.scores for p in parts]),
        payloads=None if first.payloads is None else [row for p in parts for row in p.payloads],
        vectors=None if first.vectors is None else np.concatenate([p.vectors for p in parts]),
        partial=any(p.partial for p in parts),
    )


def _concat_points(parts: list[Points], dim: int, with_payloads: bool) -> Points:
    if len(parts) == 1:
        return parts[0]
    return Points(
        ids=np.concatenate([p.ids for p in parts]),
        vectors=np.concatenate([p.vectors.reshape(len(p.ids), dim) for p in parts]),
        payloads=[x for p in parts for x in p.payloads] if with_payloads else [],
        stored_dtype=parts[0].stored_dtype,
    )


class _Batch(NamedTuple):
    """One checked upsert batch: ids, float32 rows, JSON payloads, sparse codes."""

    ids: np.ndarray
    x: np.ndarray
    encoded: list[bytes | None] | None
    sparse: SparseRows | None
    sparse_vectors: SparseRows | None = None  # hybrid search's, an empty row for a point without one

    def part(self, lo: int, hi: int) -> "_Batch":
        return _Batch(self.ids[lo:hi], self.x[lo:hi], None if self.encoded is None else self.encoded[lo:hi],
                      _rows_part(self.sparse, lo, hi), _rows_part(self.sparse_vectors, lo, hi))


def _rows_part(rows: SparseRows | None, lo: int, hi: int) -> SparseRows | None:
    if rows is None or (lo == 0 and hi == len(rows)):
        return rows
    return rows.take(np.arange(lo, hi))


def _sparse_row_bytes(rows: SparseRows) -> np.ndarray:
    """Wire bytes of each code: 4 per index, 4 more per weight, a varint length."""
    return rows.lengths() * (8 if rows.weighted else 4) + 5


class _RememberingIterator:
    """Wraps a request generator: gRPC turns an exception raised while it pulls
    requests into a bare CANCELLED, so keep the exception to raise it instead."""

    def __init__(self, source: Iterator[Any]) -> None:
        self._source = source
        self.error: BaseException | None = None

    def __iter__(self) -> "_RememberingIterator":
        return self

    def __next__(self) -> Any:
        try:
            return next(self._source)
        except StopIteration:
            raise
        except BaseException as exc:
            self.error = exc
            raise


class _RememberingAsyncIterator:
    """The same for an async request generator (grpc.aio cancels the call)."""

    def __init__(self, source: Any) -> None:
        self._source = source
        self.error: BaseException | None = None

    def __aiter__(self) -> "_RememberingAsyncIterator":
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._source.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            self.error = exc
            raise
