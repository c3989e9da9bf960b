"""Every vecstore.v1 call observed once: status, latency, peer; one debug log
line and, when metrics are on, the request counters.

`RequestObserver` is the first server interceptor, so it also sees calls that
the API key check refuses. It runs the handler inside the engine's
`logged_by_caller()`, so a request served over gRPC is one line on the
`vecstore.requests` logger, written here with the fields only the server
knows, instead of the engine's line:

    rpc=Points/Search collection=docs status=OK ms=1.93 peer=ipv4:127.0.0.1:50112 filtered=True

A failed call adds `error=` with the stable vecstore error code
(`INVALID_FILTER`, `COLLECTION_NOT_FOUND`, ...). The same fields are in
`record.vecstore`. With DEBUG off the log costs one level check per call.
"""
from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

import grpc
from google.protobuf.message import Message

from ..engine.oplog import logged_by_caller
from .status import ERROR_CODE_KEY

if TYPE_CHECKING:
    from .metrics import ServerMetrics

log = logging.getLogger("vecstore.requests")
PACKAGE_PREFIX = "/vecstore.v1."


class RequestObserver(grpc.ServerInterceptor):
    def __init__(self, metrics: "ServerMetrics | None" = None) -> None:
        self._metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(PACKAGE_PREFIX):
            return handler  # unknown methods, health and reflection are not requests to count
        rpc = method[len(PACKAGE_PREFIX) :]  # "Points/Search"
        if handler.request_streaming and handler.response_streaming:
            return handler._replace(stream_stream=self._wrap_streaming(rpc, handler.stream_stream, True))
        if handler.request_streaming:
            return handler._replace(stream_unary=self._wrap(rpc, handler.stream_unary, True))
        if handler.response_streaming:
            return handler._replace(unary_stream=self._wrap_streaming(rpc, handler.unary_stream, False))
        return handler._replace(unary_unary=self._wrap(rpc, handler.unary_unary, False))

    def _wrap(self, rpc: str, behaviour: Callable[..., Any], request_streaming: bool) -> Callable[..., Any]:
        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            call = _Call(rpc, request, request_streaming)
            failed = True
            try:
                with logged_by_caller():
                    response = behaviour(call.request, context)
                failed = False
                return response
            finally:
                self._finish(call, context, failed)

        return observed

    def _wrap_streaming(self, rpc: str, behaviour: Callable[..., Any], request_streaming: bool) -> Callable[..., Any]:
        def observed(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            call = _Call(rpc, request, request_streaming)
            failed = True
            try:
                with logged_by_caller():
                    yield from behaviour(call.request, context)
                failed = False
            finally:
                self._finish(call, context, failed)

        return observed

    def _finish(self, call: "_Call", context: grpc.ServicerContext, failed: bool) -> None:
        seconds = time.perf_counter() - call.start
        code = context.code()
        if code is not None and code != grpc.StatusCode.OK:
            status = code.name
        elif failed:
            status = "UNKNOWN"  # an exception the handler did not turn into a status
        elif not context.is_active():
            status = "CANCELLED"  # the client went away (or its deadline passed)
        else:
            status = "OK"
        if self._metrics is not None:
            self._metrics.observe(call.rpc, status, seconds)
        if log.isEnabledFor(logging.DEBUG):
            fields = {
                "rpc": call.rpc,
                "collection": call.collection or "-",
                "status": status,
                "ms": round(seconds * 1000, 3),
                "peer": context.peer(),
                "filtered": call.filtered,
            }
            if status != "OK":
                fields["error"] = _error_code(context) or status
            log.debug(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"vecstore": fields})


class _Call:
    """What one call is about, read from its (first) request message."""

    def __init__(self, rpc: str, request: Any, request_streaming: bool) -> None:
        self.rpc = rpc
        self.start = time.perf_counter()
        self.collection: str | None = None
        self.filtered = False
        if request_streaming:
            self.request: Any = self._peek(request)
        else:
            self.request = request
            self._describe(request)

    def _peek(self, requests: Iterator[Any]) -> Iterator[Any]:
        for i, request in enumerate(requests):
            if i == 0:
                self._describe(request)
            yield request

    def _describe(self, request: Any) -> None:
        if not isinstance(request, Message):
            return  # bytes that did not decode (handlers.Undecodable): nothing to read
        fields = request.DESCRIPTOR.fields_by_name
        if "collection" in fields:
            self.collection = request.collection.name
        elif "name" in fields:
            self.collection = request.name
        elif "config" in fields:
            self.collection = request.config.name
        self.filtered = "filter" in fields and request.HasField("filter")


def _error_code(context: grpc.ServicerContext) -> str | None:
    for key, value in context.trailing_metadata() or ():
        if key == ERROR_CODE_KEY:
            return value
    return None
