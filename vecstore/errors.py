"""One exception hierarchy for every surface of vecstore.

Each class names the gRPC status it travels as (`status`, a plain string so the
engine never imports grpc) and a stable machine-readable `code`. Each class is
also the matching builtin (ValueError, KeyError, ...) so plain `except` clauses
keep working. The gRPC client re-raises the same class from `code`.
"""
from __future__ import annotations


class VecstoreError(Exception):
    """Base class of every error vecstore raises on purpose."""

    status = "INTERNAL"
    code = "VECSTORE_ERROR"

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise print the repr
        return self.message


# -- INVALID_ARGUMENT ---------------------------------------------------------
class InvalidArgumentError(VecstoreError, ValueError):
    status = "INVALID_ARGUMENT"
    code = "INVALID_ARGUMENT"


class DimensionMismatchError(InvalidArgumentError):
    code = "DIMENSION_MISMATCH"


class InvalidVectorError(InvalidArgumentError):
    """NaN, Inf, a zero vector under cosine, or a vector that is not numeric."""

    code = "INVALID_VECTOR"


class InvalidIdError(InvalidArgumentError):
    """Negative, non-integer, duplicate-in-batch or out-of-range ids."""

    code = "INVALID_ID"


class EmptyBatchError(InvalidArgumentError):
    code = "EMPTY_BATCH"


class LengthMismatchError(InvalidArgumentError):
    code = "LENGTH_MISMATCH"


class InvalidNameError(InvalidArgumentError):
    code = "INVALID_NAME"


class InvalidConfigError(InvalidArgumentError):
    """Unknown quantization kind, bad parameter, unknown metric."""

    code = "INVALID_CONFIG"


class InvalidPayloadError(InvalidArgumentError):
    code = "INVALID_PAYLOAD"


class InvalidQueryError(InvalidArgumentError):
    """k <= 0, bad oversampling, a bad scroll limit or cursor, malformed request parameters."""

    code = "INVALID_QUERY"


class InvalidSparseError(InvalidArgumentError):
    """User-supplied sparse codes that are malformed, out of range, or given
    to a collection that does not take them (or missing where it does)."""

    code = "INVALID_SPARSE"


class InvalidFilterError(InvalidArgumentError):
    """A malformed filter; the message names the offending part."""

    code = "INVALID_FILTER"


# -- NOT_FOUND ----------------------------------------------------------------
class NotFoundError(VecstoreError, KeyError):
    status = "NOT_FOUND"
    code = "NOT_FOUND"


class CollectionNotFoundError(NotFoundError):
    code = "COLLECTION_NOT_FOUND"


class PointNotFoundError(NotFoundError):
    """A call that needs stored points (search_by_id) named ids that do not exist."""

    code = "POINT_NOT_FOUND"


# -- ALREADY_EXISTS -----------------------------------------------------------
class AlreadyExistsError(VecstoreError, ValueError):
    status = "ALREADY_EXISTS"
    code = "ALREADY_EXISTS"


class CollectionExistsError(AlreadyExistsError):
    code = "COLLECTION_EXISTS"


# -- FAILED_PRECONDITION ------------------------------------------------------
class FailedPreconditionError(VecstoreError, RuntimeError):
    status = "FAILED_PRECONDITION"
    code = "FAILED_PRECONDITION"


class DatabaseClosedError(FailedPreconditionError):
    code = "DATABASE_CLOSED"


class DatabaseLockedError(FailedPreconditionError):
    """Another process (or another handle in this one) has the directory open."""

    code = "DATABASE_LOCKED"


class FormatVersionError(FailedPreconditionError):
    code = "FORMAT_VERSION"


class ReadOnlyError(FailedPreconditionError):
    code = "READ_ONLY"


# -- RESOURCE_EXHAUSTED -------------------------------------------------------
class ResourceExhaustedError(VecstoreError, RuntimeError):
    status = "RESOURCE_EXHAUSTED"
    code = "RESOURCE_EXHAUSTED"


class StorageFullError(ResourceExhaustedError, OSError):
    code = "STORAGE_FULL"


# -- DATA_LOSS ----------------------------------------------------------------
class CorruptDatabaseError(VecstoreError, OSError):
    """A database's files are missing, truncated or hold what vecstore did not
    write; the message names the file (or catalog key) and what is wrong."""

    status = "DATA_LOSS"
    code = "CORRUPT_DATABASE"


# -- UNAVAILABLE ---------------------------------------------------------------
class StorageError(VecstoreError, OSError):
    """A write failed in the storage layer for a reason other than space (an
    I/O error of the disk, say); nothing of the batch was written."""

    status = "UNAVAILABLE"
    code = "STORAGE_ERROR"


# -- auth and transport (raised by the server and client layers) -------------
class UnauthenticatedError(VecstoreError, PermissionError):
    status = "UNAUTHENTICATED"
    code = "UNAUTHENTICATED"


class PermissionDeniedError(VecstoreError, PermissionError):
    status = "PERMISSION_DENIED"
    code = "PERMISSION_DENIED"


class UnavailableError(VecstoreError, ConnectionError):
    status = "UNAVAILABLE"
    code = "UNAVAILABLE"


class DeadlineExceededError(VecstoreError, TimeoutError):
    status = "DEADLINE_EXCEEDED"
    code = "DEADLINE_EXCEEDED"


class InternalError(VecstoreError, RuntimeError):
    status = "INTERNAL"
    code = "INTERNAL"


def _all_error_classes() -> list[type[VecstoreError]]:
    out, todo = [], [VecstoreError]
    while todo:
        cls = todo.pop()
        out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


#: stable error code -> class, used by the client to raise what the engine raised
ERRORS_BY_CODE: dict[str, type[VecstoreError]] = {c.code: c for c in _all_error_classes()}
