"""API keys: a server interceptor in front of every RPC but the health check.

Clients send `authorization: Bearer <key>`. A full key may call everything;
a read-only key gets PERMISSION_DENIED on the methods in `write_methods`.
Keys are compared with `hmac.compare_digest`, against every configured key
(no early exit), so timing does not reveal how much of a key matched.
"""
from __future__ import annotations

import hmac
from typing import Callable, Iterable

import grpc

from ..errors import PermissionDeniedError, UnauthenticatedError, VecstoreError
from .status import abort

AUTH_HEADER = "authorization"
BEARER = "bearer "
#: health is exempt so that load balancers and orchestrators can probe without a key
EXEMPT_METHODS = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})


def read_key_file(path: str) -> list[str]:
    """One key per line; blank lines and lines starting with '#' are ignored."""
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]


class ApiKeyInterceptor(grpc.ServerInterceptor):
    def __init__(self, keys: Iterable[str], read_only_keys: Iterable[str], write_methods: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys]
        self._read_only_keys = [k.encode() for k in read_only_keys]
        if not self._keys and not self._read_only_keys:
            raise ValueError("ApiKeyInterceptor needs at least one key")
        self._write_methods = frozenset(write_methods)

    def _access(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
        """'full', 'read', or None for a missing or unknown key."""
        presented = b""
        for key, value in metadata or ():
            if key == AUTH_HEADER and isinstance(value, str) and value[: len(BEARER)].lower() == BEARER:
                presented = value[len(BEARER) :].strip().encode()
        if not presented:
            return None
        full = [hmac.compare_digest(presented, k) for k in self._keys]
        read = [hmac.compare_digest(presented, k) for k in self._read_only_keys]
        if any(full):
            return "full"
        return "read" if any(read) else None

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method in EXEMPT_METHODS:
            return continuation(handler_call_details)
        access = self._access(handler_call_details.invocation_metadata)
        if access == "full" or (access == "read" and method not in self._write_methods):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: UNIMPLEMENTED, as without auth
        if access is None:
            error: VecstoreError = UnauthenticatedError(
                f"missing or invalid API key for {method}: send the metadata 'authorization: Bearer <key>'"
            )
        else:
            error = PermissionDeniedError(f"{method} writes data; this API key is read-only")
        return _refusing_handler(handler, error)


def _refusing_handler(handler: grpc.RpcMethodHandler, error: VecstoreError) -> grpc.RpcMethodHandler:
    """A handler of the same shape as `handler` that fails every call with `error`."""

    def refuse(_request, context):
        abort(context, error)

    make: Callable[..., grpc.RpcMethodHandler]
    if handler.request_streaming and handler.response_streaming:
        make = grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        make = grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        make = grpc.unary_stream_rpc_method_handler
    else:
        make = grpc.unary_unary_rpc_method_handler
    return make(refuse, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
