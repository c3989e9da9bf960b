"""The gRPC daemon: vecstore.v1 services over one embedded Database, or
over a cluster of them (`serve --ray`: a vecstore.cluster ClusterDatabase).
The servicers use only the Database/Collection interface (api/interface.py)
and each collection's `cid`, so either serves unchanged.

The servicers only convert (vecstore.rpc.convert) and call the engine; the
engine validates, locks and opens its own LMDB transaction per call, so
searches run concurrently on the worker threads (Numba kernels release the
GIL) and writes are serialized inside the engine. Nothing here holds a lock
or a transaction between calls.

Lifecycle (`serve`): open the database, bind, print the address, warm up the
kernels, report SERVING; on SIGTERM or SIGINT report NOT_SERVING, let calls in
flight finish within the grace period, then close the database.

Every call passes `observe.RequestObserver` (one debug log line; request
metrics when `metrics_port` is given, served by `metrics.py` over HTTP).
"""
from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, TextIO

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..api.interface import Collection, Database
from ..engine import open as open_db
from ..config import check_name
from ..errors import (
    AlreadyExistsError,
    CollectionNotFoundError,
    FailedPreconditionError,
    InternalError,
    InvalidConfigError,
    InvalidPayloadError,
    ResourceExhaustedError,
    UnavailableError,
    VecstoreError,
)
from ..api import validate as V
from ..types import SearchResult
from . import convert as C
from .auth import ApiKeyInterceptor
from .defaults import DEFAULT_MAX_MESSAGE_BYTES
from .gate import CallGate
from .handlers import add_service
from .observe import RequestObserver
from .status import abort
from .v1 import vecstore_pb2 as pb
from .v1 import vecstore_pb2_grpc as pb_grpc

log = logging.getLogger("vecstore.server")

DEFAULT_WORKERS = 16
DEFAULT_GRACE_SECONDS = 10.0
#: how long stop() waits beyond the grace period for cancelled calls to end
STOP_MARGIN_SECONDS = 2.0
#: once the vecstore calls have finished, how long grpc's stop lets the rest
#: (refusals being sent, health watches) run before cancelling them
STOP_SETTLE_SECONDS = 0.5

SERVICE_NAMES = tuple(s.full_name for s in pb.DESCRIPTOR.services_by_name.values())


def _method(service: str, name: str) -> str:
    return f"/vecstore.v1.{service}/{name}"


#: methods a read-only API key may not call; every vecstore.v1 method is in
#: exactly one of these two sets (tests/test_grpc_auth.py checks it)
WRITE_METHODS = frozenset({
    _method("Collections", "CreateCollection"),
    _method("Collections", "DropCollection"),
    _method("Collections", "OptimizeCollection"),
    _method("Collections", "CreatePayloadIndex"),
    _method("Collections", "DropPayloadIndex"),
    _method("Collections", "CreateSnapshot"),  # writes to the server's disk
    _method("Points", "Upsert"),
    _method("Points", "UpsertStream"),
    _method("Points", "Delete"),
    _method("Points", "SetPayload"),
    _method("Points", "OverwritePayload"),
    _method("Points", "DeletePayloadKeys"),
})
READ_METHODS = frozenset({
    _method("Collections", "GetCollection"),
    _method("Collections", "ListCollections"),
    _method("Collections", "GetCollectionInfo"),
    _method("Collections", "ListPayloadIndexes"),
    _method("Points", "Get"),
    _method("Points", "Count"),
    _method("Points", "Search"),
    _method("Points", "SearchById"),
    _method("Points", "Scroll"),
})


def _rpc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn exceptions into statuses: vecstore errors as themselves, anything
    else as INTERNAL with the traceback in the server log, not on the wire."""

    @functools.wraps(fn)
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except VecstoreError as exc:
            error: VecstoreError = exc
        except Exception:  # noqa: BLE001 - every failure must become a status
            if not context.is_active():
                return None  # the client cancelled or its deadline passed: nobody to tell
            log.exception("unexpected error in %s", fn.__name__)
            error = InternalError(f"internal error in {fn.__name__}; the server log has the details")
        abort(context, error)

    return handler


class _Base:
    def __init__(self, db: Database, snapshot_dir: str | None = None) -> None:
        self._db = db
        self._snapshot_dir = snapshot_dir

    def _collection(self, ref: pb.CollectionRef) -> Collection:
        try:
            col = self._db.get_collection(ref.name)
        except CollectionNotFoundError:
            if not ref.collection_id:
                raise
            col = None
        if ref.collection_id and (col is None or ref.collection_id != col.cid):
            # the client's handle is for a collection since dropped: say what
            # the engine says to a stale embedded handle
            raise CollectionNotFoundError(f"collection '{ref.name}' was dropped")
        return col


class CollectionsService(_Base, pb_grpc.CollectionsServicer):
    @_rpc
    def CreateCollection(self, request, context):
        layout = {"shards": request.shards if request.HasField("shards") else 1,
                  "replicas": request.replicas if request.HasField("replicas") else 1}
        col = self._db.create_collection(**C.config_from_proto(request.config), **layout)
        return pb.CreateCollectionResponse(collection=C.description_to_proto(col.config, col.cid))

    @_rpc
    def GetCollection(self, request, context):
        col = self._db.get_collection(request.name)
        return pb.GetCollectionResponse(collection=C.description_to_proto(col.config, col.cid))

    @_rpc
    def ListCollections(self, request, context):
        return pb.ListCollectionsResponse(names=self._db.list_collections())

    @_rpc
    def DropCollection(self, request, context):
        self._db.drop_collection(request.name)
        return pb.DropCollectionResponse()

    @_rpc
    def GetCollectionInfo(self, request, context):
        col = self._collection(request.collection)
        return pb.GetCollectionInfoResponse(info=C.info_to_proto(col.info(), col.cid))

    @_rpc
    def CreateSnapshot(self, request, context):
        if self._snapshot_dir is None:
            raise FailedPreconditionError("snapshots are off on this server: start it with --snapshot-dir DIR")
        dest = os.path.join(self._snapshot_dir, check_name(request.name, "snapshot"))
        if os.path.exists(dest):
            raise AlreadyExistsError(f"snapshot '{request.name}' already exists")
        return pb.CreateSnapshotResponse(path=self._db.snapshot(dest))

    @_rpc
    def OptimizeCollection(self, request, context):
        self._collection(request.collection).optimize()
        return pb.OptimizeCollectionResponse()

    @_rpc
    def CreatePayloadIndex(self, request, context):
        col = self._collection(request.collection)
        col.create_payload_index(request.key, C.index_kind_from_proto(request.kind))
        return pb.CreatePayloadIndexResponse()

    @_rpc
    def DropPayloadIndex(self, request, context):
        return pb.DropPayloadIndexResponse(dropped=self._collection(request.collection).drop_payload_index(request.key))

    @_rpc
    def ListPayloadIndexes(self, request, context):
        return C.payload_indexes_to_proto(self._collection(request.collection).payload_indexes())


@dataclass(frozen=True)
class SearchLimits:
    """What one Search call may ask of this server, checked before any work:
    queries per call, nq x k hits, and an answer that fits one message (hits
    counted at the client's worst case, 15 bytes each, plus 4 x dim with their
    vectors; payloads are sized once the answer is made). Beyond them the call
    gets RESOURCE_EXHAUSTED: the request is well-formed, this server just will
    not spend that much on it (the engine's own bounds, which no server can
    raise, stay INVALID_ARGUMENT)."""

    max_queries: int = V.MAX_QUERIES
    max_results: int = V.MAX_RESULTS
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        for name, top in (("max_queries", V.MAX_QUERIES), ("max_results", V.MAX_RESULTS)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InvalidConfigError(f"search limit {name} must be an integer in [1, {top}], got {value!r}")

    def check(self, request: pb.SearchRequest) -> None:
        dim = request.queries.dim
        nq = len(request.queries.data) // (4 * dim) if dim else 0
        if C.sparse_only(request):  # sparse retrieval alone: one query per sparse vector
            nq = len(request.sparse_query.lengths)
        # a sparse-only search has no dim here, so its vectors are not counted: the
        # answer's own size check after the search still refuses one too big
        self.check_size(nq, request.k, dim if request.with_vectors else 0)

    def check_size(self, nq: int, k: int, vector_dim: int = 0) -> None:
        """nq queries of k hits, each with a vector of vector_dim floats (0: none)."""
        k = V.check_k(k)
        V.check_search_size(nq, k, k)  # the engine's bounds first, INVALID_ARGUMENT as embedded
        if nq > self.max_queries:
            raise ResourceExhaustedError(
                f"{nq} queries in one Search; this server takes at most {self.max_queries} (--max-search-queries)")
        if nq * k > self.max_results:
            raise ResourceExhaustedError(
                f"{nq} queries x k={k} = {nq * k} results in one Search; this server returns at most "
                f"{self.max_results} (--max-search-results)")
        answer = nq * ((_HIT_BYTES + 4 * vector_dim) * k + 16)
        if answer > self.max_message_bytes:
            raise ResourceExhaustedError(
                f"the answer to {nq} queries x k={k} could take {answer} bytes, above this server's "
                f"{self.max_message_bytes}-byte message limit (--max-message-mb): split the queries")


_HIT_BYTES = 15  # one hit on the wire at most: varint id (<= 10) + float score + tags


class PointsService(_Base, pb_grpc.PointsServicer):
    def __init__(self, db: Database, limits: SearchLimits | None = None) -> None:
        super().__init__(db)
        self._limits = limits or SearchLimits()

    def _upsert(self, request: pb.UpsertRequest) -> int:
        col = self._collection(request.collection)
        vectors = C.vectors_from_proto(request.vectors)
        payloads = C.payloads_from_proto(request.payloads)
        return col.upsert(C.ids_from_request(request), vectors, payloads, sparse=C.optional_sparse(request, "sparse"),
                          sparse_vectors=C.optional_sparse(request, "sparse_vectors"))

    @_rpc
    def Upsert(self, request, context):
        return pb.UpsertResponse(written=self._upsert(request))

    @_rpc
    def UpsertStream(self, request_iterator: Iterator[pb.UpsertRequest], context):
        written = done = 0
        try:
            for request in request_iterator:  # raises at a message that does not decode
                written += self._upsert(request)
                done += 1
        except VecstoreError as exc:
            # same class, so the client raises what the engine raised; the
            # message adds what a resumed import needs to know
            raise type(exc)(f"{exc.message} (stream message {done}; the {written} points "
                            f"of earlier messages were written)") from None
        return pb.UpsertResponse(written=written)

    @_rpc
    def Get(self, request, context):
        col = self._collection(request.collection)
        with_vectors = request.with_vectors if request.HasField("with_vectors") else True
        with_payloads = request.with_payloads if request.HasField("with_payloads") else True
        points = col.get(C.ids_from_request(request), with_vectors=with_vectors, with_payloads=with_payloads)
        return C.points_to_proto(points, col.dim, with_vectors, with_payloads)

    @_rpc
    def Delete(self, request, context):
        col = self._collection(request.collection)
        flt = C.optional_filter(request)
        if flt is None:
            deleted = col.delete(C.ids_from_request(request))
        else:  # the engine rejects ids and a filter together
            deleted = col.delete(C.ids_from_request(request) if C.has_ids(request) else None, filter=flt)
        return pb.DeleteResponse(deleted=deleted)

    @_rpc
    def Count(self, request, context):
        col = self._collection(request.collection)
        return pb.CountResponse(count=col.count(filter=C.optional_filter(request)))

    @_rpc
    def Search(self, request, context):
        self._limits.check(request)  # before anything is decoded or scanned
        col = self._collection(request.collection)
        result = col.search(
            None if C.sparse_only(request) else C.vectors_from_proto(request.queries, "queries"),
            k=request.k,
            filter=C.optional_filter(request),
            oversampling=request.oversampling if request.HasField("oversampling") else None,
            rescore=request.rescore if request.HasField("rescore") else None,
            nprobe=request.nprobe if request.HasField("nprobe") else None,
            sparse_queries=C.optional_sparse(request, "sparse_queries"),
            margin=request.margin if request.HasField("margin") else None,
            **C.hybrid_args(request),
            with_payloads=request.with_payloads,
            with_vectors=request.with_vectors,
        )
        return self._answer(result)

    @_rpc
    def SearchById(self, request, context):
        col = self._collection(request.collection)
        ids = C.ids_from_request(request)
        self._limits.check_size(len(ids), request.k, col.dim if request.with_vectors else 0)
        result = col.search_by_id(
            ids,
            k=request.k,
            filter=C.optional_filter(request),
            oversampling=request.oversampling if request.HasField("oversampling") else None,
            rescore=request.rescore if request.HasField("rescore") else None,
            nprobe=request.nprobe if request.HasField("nprobe") else None,
            margin=request.margin if request.HasField("margin") else None,
            with_payloads=request.with_payloads,
            with_vectors=request.with_vectors,
        )
        return self._answer(result)

    def _answer(self, result: SearchResult) -> pb.SearchResponse:
        """The response; with payloads (whose size no check before the search
        can know) refused when over the message limit, so the client splits."""
        msg = C.search_result_to_proto(result)
        sized = result.payloads is not None or result.vectors is not None or result.ids.dtype == object
        size = msg.ByteSize() if sized else 0  # str ids: up to 256 bytes a hit, beyond the check before
        if size > self._limits.max_message_bytes:
            raise ResourceExhaustedError(
                f"the answer takes {size} bytes, above this server's "
                f"{self._limits.max_message_bytes}-byte message limit (--max-message-mb): split the queries")
        return msg

    @_rpc
    def Scroll(self, request, context):
        col = self._collection(request.collection)
        with_vectors = request.with_vectors if request.HasField("with_vectors") else False
        with_payloads = request.with_payloads if request.HasField("with_payloads") else True
        page = col.scroll(
            request.limit,
            after=C.cursor_from_request(request),
            filter=C.optional_filter(request),
            with_vectors=with_vectors,
            with_payloads=with_payloads,
        )
        return C.scroll_page_to_proto(page, col.dim, with_vectors, with_payloads)

    @_rpc
    def SetPayload(self, request, context):
        col = self._collection(request.collection)
        if not request.payload:  # a merge needs an object; empty bytes mean "none" elsewhere
            raise InvalidPayloadError("SetPayloadRequest.payload is empty: expected a JSON object such as {\"tag\": 1}")
        payload = C.payload_from_bytes(request.payload)
        return pb.SetPayloadResponse(changed=col.set_payload(C.ids_from_request(request), payload))

    @_rpc
    def OverwritePayload(self, request, context):
        col = self._collection(request.collection)
        payload = C.payload_from_bytes(request.payload)
        return pb.OverwritePayloadResponse(changed=col.overwrite_payload(C.ids_from_request(request), payload))

    @_rpc
    def DeletePayloadKeys(self, request, context):
        col = self._collection(request.collection)
        changed = col.delete_payload_keys(C.ids_from_request(request), list(request.keys))
        return pb.DeletePayloadKeysResponse(changed=changed)


@dataclass(frozen=True)
class TlsFiles:
    cert_chain: bytes  # PEM
    private_key: bytes  # PEM

    @classmethod
    def read(cls, cert_path: str, key_path: str) -> "TlsFiles":
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            return cls(cert_chain=c.read(), private_key=k.read())


class RpcServer:
    """A bound (not yet started) gRPC server over `db`; the caller owns `db`.

    Health reports NOT_SERVING until `set_serving()`: start, warm up, then
    set_serving, so load balancers only route to a server with warm kernels.

    metrics_port: serve Prometheus metrics over HTTP on metrics_host:metrics_port
    (0 picks a free port; `metrics_url` says which); None: no metrics.
    """

    def __init__(
        self,
        db: Database,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] = (),
        read_only_api_keys: Iterable[str] = (),
        tls: TlsFiles | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        workers: int = DEFAULT_WORKERS,
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        snapshot_dir: str | None = None,
        max_search_queries: int = V.MAX_QUERIES,
        max_search_results: int = V.MAX_RESULTS,
    ) -> None:
        api_keys, read_only_api_keys = list(api_keys), list(read_only_api_keys)
        limits = SearchLimits(max_queries=max_search_queries, max_results=max_search_results,
                              max_message_bytes=max_message_bytes)
        metrics = None
        if metrics_port is not None:
            from .metrics import ServerMetrics  # prometheus-client only when asked for

            metrics = ServerMetrics(db)
        # first, so that it also sees the calls the key check refuses
        interceptors: list[grpc.ServerInterceptor] = [RequestObserver(metrics)]
        if api_keys or read_only_api_keys:
            interceptors.append(ApiKeyInterceptor(api_keys, read_only_api_keys, WRITE_METHODS))
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vecstore-rpc"),
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", max_message_bytes),
                ("grpc.max_receive_message_length", max_message_bytes),
                ("grpc.so_reuseport", 0),  # a taken port must fail, not be shared
            ],
        )
        # not the generated add_*_to_server: see handlers.py for why
        self._gate = CallGate()
        services = pb.DESCRIPTOR.services_by_name
        add_service(self._server, CollectionsService(db, snapshot_dir), services["Collections"], self._gate)
        add_service(self._server, PointsService(db, limits), services["Points"], self._gate)
        # Watch streams run on their own small pool, not the workers'.
        self.health = health.HealthServicer(
            experimental_non_blocking=True,
            experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="vecstore-health"),
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            self._server,
        )
        bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                self.port = self._server.add_insecure_port(bind)
            else:
                creds = grpc.ssl_server_credentials([(tls.private_key, tls.cert_chain)])
                self.port = self._server.add_secure_port(bind, creds)
        except RuntimeError as exc:
            raise UnavailableError(f"cannot listen on {bind}: {exc} (port in use, or host not local?)") from None
        if not self.port:
            raise UnavailableError(f"cannot listen on {bind} (port in use, or host not local?)")
        self.host = host
        self.tls = tls is not None
        self._metrics_http = None
        if metrics is not None:
            try:
                self._metrics_http = metrics.serve_http(metrics_host, metrics_port)
            except BaseException:
                self._server.stop(None)  # release the bound port
                raise

    @property
    def metrics_url(self) -> str | None:
        return self._metrics_http.url if self._metrics_http is not None else None

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> "RpcServer":
        self._server.start()
        return self

    def set_serving(self) -> None:
        for name in ("", *SERVICE_NAMES):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def stop(self, grace: float | None = DEFAULT_GRACE_SECONDS) -> bool:
        """Shut down; True when every call ended.

        1. From now on new vecstore calls get UNAVAILABLE (the server still
           answers, so clients get that status, not a dropped call); health
           NOT_SERVING.
        2. Calls in flight get up to `grace` seconds to finish.
        3. grpc stops: it refuses connections and cancels what is left (calls
           still past the grace, health watches), allowing a moment
           (STOP_SETTLE_SECONDS, within the grace) for refusals being sent.
        4. Cancelled handlers get STOP_MARGIN_SECONDS more to return.

        So this returns within grace + STOP_MARGIN_SECONDS whatever the
        handlers do. Python threads cannot be stopped: if a handler is still
        running then, or grpc still has a call open, this logs a warning and
        returns False. The database is then still in use by that handler:
        `Database.close()` waits for its transaction, if it holds one, and its
        later engine calls fail with DatabaseClosedError."""
        grace = 0.0 if grace is None else max(0.0, grace)  # grpc's stop(None) waits without a limit
        start = time.monotonic()
        self._gate.close()  # before health flips: a client that sees NOT_SERVING is refused
        self.health.enter_graceful_shutdown()
        self._gate.wait_idle(grace)
        left = max(0.0, grace - (time.monotonic() - start))
        ended = self._server.stop(min(left, STOP_SETTLE_SECONDS)).wait(left + STOP_MARGIN_SECONDS)
        idle = self._gate.wait_idle(max(0.0, start + grace + STOP_MARGIN_SECONDS - time.monotonic()))
        if self._metrics_http is not None:
            self._metrics_http.stop()
        if not idle:
            log.warning("shutdown: %d handler(s) still running %.1f s after the grace period; going on without them",
                        self._gate.running, STOP_MARGIN_SECONDS)
        if not ended:
            log.warning("shutdown: grpc still has calls open %.1f s after the grace period; going on without them",
                        STOP_MARGIN_SECONDS)
        return ended and idle


def serve(
    data_dir: str,
    *,
    host: str = "127.0.0.1",
    port: int = 50051,
    api_keys: Iterable[str] = (),
    read_only_api_keys: Iterable[str] = (),
    tls: TlsFiles | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    workers: int = DEFAULT_WORKERS,
    grace: float = DEFAULT_GRACE_SECONDS,
    sync: bool = True,
    warm: bool = True,
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    snapshot_dir: str | None = None,
    max_search_queries: int = V.MAX_QUERIES,
    max_search_results: int = V.MAX_RESULTS,
    ray_address: str | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit code: 0, or 1
    when calls were still running at the end of shutdown (`RpcServer.stop`).

    ray_address: serve a ClusterDatabase (vecstore.cluster) on that Ray
    cluster ("local": a private one) with data_dir as the router's
    directory, instead of the embedded database in data_dir."""
    from ..warmup import warm_up

    api_keys, read_only_api_keys = list(api_keys), list(read_only_api_keys)
    stop = threading.Event()
    if ray_address is not None:
        from .. import cluster

        # before our signal handlers: Ray's start installs handlers of its own
        db_context: Any = cluster.connect(ray_address, data_dir)
        warm = False  # the kernels run in the shard actors, not here
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ray_address is None:
            db_context = open_db(data_dir, sync=sync)
        with db_context as db:
            server = RpcServer(db, host=host, port=port, api_keys=api_keys, read_only_api_keys=read_only_api_keys,
                               tls=tls, max_message_bytes=max_message_bytes, workers=workers,
                               metrics_port=metrics_port, metrics_host=metrics_host,
                               snapshot_dir=snapshot_dir, max_search_queries=max_search_queries,
                               max_search_results=max_search_results).start()
            scheme = "TLS" if server.tls else "plaintext"
            auth = "API keys required" if api_keys or read_only_api_keys else "no API key"
            where = f"data dir {data_dir}" if ray_address is None else f"Ray cluster {ray_address}, router dir {data_dir}"
            print(f"vecstore: listening on {server.address} ({scheme}, {auth}), {where}", file=out, flush=True)
            if server.metrics_url:
                print(f"vecstore: Prometheus metrics at {server.metrics_url}", file=out, flush=True)
            if warm and not stop.is_set():
                print(f"vecstore: kernels warmed up in {warm_up():.1f} s", file=out, flush=True)
            server.set_serving()
            print("vecstore: serving (health SERVING); SIGTERM or Ctrl-C stops", file=out, flush=True)
            while not stop.wait(0.5):
                pass
            print(f"vecstore: shutting down (grace {grace:g} s)", file=out, flush=True)
            clean = server.stop(grace)
        if not clean:
            print("vecstore: storage closed with calls still running (see the log); exit 1", file=out, flush=True)
            return 1
        print("vecstore: storage closed, bye", file=out, flush=True)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
