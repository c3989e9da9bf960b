"""Registering the vecstore.v1 servicers, built from the service descriptors.

The generated `add_*Servicer_to_server` functions decode requests with
`FromString`. When that raises, grpc answers INTERNAL "Exception deserializing
request!" itself, and on a client stream it also ends the handler's request
iterator as if the stream were complete: the handler then returns normally,
grpc sends a second status for the already-failed call, that send never
completes, and the call stays open forever, so `server.stop()` never returns
(seen with grpcio 1.85; tests/test_grpc_shutdown.py guards against it).

Here the deserializer never raises: bytes that do not decode become an
`Undecodable` value, and the handler wrapper ends the call with
INVALID_ARGUMENT itself (on a stream, when the iterator reaches that
message), so grpc sends exactly one status.

The wrapper also runs every call through the server's `CallGate`
(gate.py), which shutdown closes, and within the client's deadline
(api/deadline.py): a layer that waits on others for the call (the cluster
router) stops waiting in time to send what it has.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass

from ..api import deadline
from ..errors import InvalidArgumentError
from .gate import CallGate
from .status import abort


class Undecodable:
    """Request bytes that are not a valid message of the method's request type."""

    __slots__ = ("type_name", "reason")

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name, self.reason = type_name, reason

    def error(self) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"request bytes are not a valid {self.type_name} ({self.reason or 'cannot be parsed'}); "
            "send a serialized message of the method's request type"
        )


def lenient_deserializer(message_class: type) -> Callable[[bytes], Any]:
    type_name = message_class.DESCRIPTOR.full_name

    def deserialize(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception as exc:  # noqa: BLE001 - DecodeError mostly; any failure here is the sender's bytes
            return Undecodable(type_name, str(exc))

    return deserialize


def _checked(requests: Iterator[Any]) -> Iterator[Any]:
    """The stream's messages; raises at the first one that did not decode (the
    servicer turns the error into a status, like any other it raises)."""
    for request in requests:
        if isinstance(request, Undecodable):
            raise request.error()
        yield request


#: of the time a client's deadline leaves, what the answer keeps for its
#: way back (converting, sending): this fraction, at most ANSWER_MARGIN_MAX s
ANSWER_MARGIN = 0.1
ANSWER_MARGIN_MAX = 0.25


def _within_deadline(context: grpc.ServicerContext) -> Any:
    """The call's deadline for the layers below, less the answer's margin."""
    left = context.time_remaining()
    if left is None:
        return deadline.within(None)
    return deadline.within(max(1e-3, left - min(ANSWER_MARGIN_MAX, ANSWER_MARGIN * left)))


def _handler(behaviour: Callable[..., Any], method: MethodDescriptor, gate: CallGate) -> grpc.RpcMethodHandler:
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    options = {"request_deserializer": lenient_deserializer(request_class),
               "response_serializer": response_class.SerializeToString}
    if method.server_streaming:
        # the gate would count the call as ended when the handler returns its
        # iterator, not when the last response is sent; vecstore.v1 has none
        raise NotImplementedError(f"{method.full_name}: server-streaming methods are not supported here")

    if method.client_streaming:
        def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            with gate.admitted(context), _within_deadline(context):
                return behaviour(_checked(requests), context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **options)

    def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
        with gate.admitted(context), _within_deadline(context):
            if isinstance(request, Undecodable):
                abort(context, request.error())
            return behaviour(request, context)

    return grpc.unary_unary_rpc_method_handler(unary_unary, **options)


def add_service(server: grpc.Server, servicer: Any, service: ServiceDescriptor, gate: CallGate) -> None:
    """Register every method of `service`, implemented by `servicer`'s method of the same name."""
    handlers = {m.name: _handler(getattr(servicer, m.name), m, gate) for m in service.methods}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
