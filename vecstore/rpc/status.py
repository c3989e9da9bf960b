"""Errors on the wire: one mapping, used by the server and the client.

The server sends every vecstore error as the gRPC status its class names
(`.status`) plus its stable `.code` in the trailing metadata key
`vecstore-error-code`; the client raises `ERRORS_BY_CODE[code]` with the same
message. A status without a code (a transport failure, a deadline, a message
over the size limit) becomes the base class of that status, whose code is
the status name (`UnavailableError`, `DeadlineExceededError`, ...).
"""
from __future__ import annotations

import grpc

from ..errors import ERRORS_BY_CODE, InternalError, UnavailableError, VecstoreError

ERROR_CODE_KEY = "vecstore-error-code"


def status_code(error: VecstoreError) -> grpc.StatusCode:
    return grpc.StatusCode[error.status]


def abort(context: grpc.ServicerContext, error: VecstoreError) -> None:
    """End the call with `error`'s status, code and message (raises)."""
    context.set_trailing_metadata(((ERROR_CODE_KEY, error.code),))
    context.abort(status_code(error), error.message)


def error_code_of(rpc_error: grpc.RpcError) -> str | None:
    for key, value in rpc_error.trailing_metadata() or ():
        if key == ERROR_CODE_KEY:
            return value
    return None


def error_from_rpc(rpc_error: grpc.RpcError, target: str = "") -> VecstoreError:
    """The exception the server raised, rebuilt from a failed call."""
    status = rpc_error.code()
    details = rpc_error.details() or ""
    code = error_code_of(rpc_error)
    cls = ERRORS_BY_CODE.get(code) if code else None
    if cls is not None:
        return cls(details)
    # No vecstore code: gRPC itself failed the call. Name the server, since
    # these are usually about reaching it.
    cls = ERRORS_BY_CODE.get(status.name, InternalError) if status is not None else InternalError
    if status == grpc.StatusCode.CANCELLED:
        # the client never cancels its own calls: grpc cancelled this one on
        # the server's side, at the end of a shutdown's grace; worth a retry
        cls = UnavailableError
    where = f" (server {target})" if target else ""
    return cls(f"{status.name if status else 'UNKNOWN'}: {details}{where}")
