"""Failed calls become the exception classes the engine raises."""
import grpc

from vecstore.errors import DimensionMismatchError, InternalError, UnavailableError
from vecstore.rpc.status import ERROR_CODE_KEY, error_from_rpc


class FailedCall(grpc.RpcError):
    def __init__(self, status, details, metadata=()):
        self._status, self._details, self._metadata = status, details, metadata

    def code(self):
        return self._status

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._metadata


def test_vecstore_code_wins_over_the_status():
    err = error_from_rpc(FailedCall(grpc.StatusCode.INVALID_ARGUMENT, "dim 3, expected 4",
                                    ((ERROR_CODE_KEY, DimensionMismatchError.code),)))
    assert type(err) is DimensionMismatchError and err.message == "dim 3, expected 4"


def test_grpc_failures_name_the_server():
    err = error_from_rpc(FailedCall(grpc.StatusCode.UNAVAILABLE, "connection refused"), "localhost:1")
    assert isinstance(err, UnavailableError) and "localhost:1" in err.message
    assert type(error_from_rpc(FailedCall(grpc.StatusCode.DATA_LOSS, "?"))) is InternalError


def test_a_call_cancelled_by_the_server_is_retryable():
    """A shutdown's grace ran out: the client never cancels its own calls."""
    err = error_from_rpc(FailedCall(grpc.StatusCode.CANCELLED, "Cancelled"))
    assert isinstance(err, UnavailableError)
