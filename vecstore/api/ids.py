"""Point ids of either id_type, checked the same way embedded and over gRPC.

A collection declares `id_type="int"` (non-negative int64, the default) or
`"str"` (any UTF-8 string of 1 to MAX_STR_ID_BYTES bytes: UUIDs, slugs,
paths...). Each check names the collection's id_type in its message, so an
int given to a str collection (or the reverse) says what was expected.
Returned str ids are numpy object arrays of Python str.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import EmptyBatchError, InvalidIdError, InvalidQueryError
from . import validate as V

#: longest str id, in UTF-8 bytes (LMDB keys go up to 511)
MAX_STR_ID_BYTES = 256


def _declared(collection: str, id_type: str) -> str:
    return f'collection \'{collection}\' has id_type="{id_type}"'


def check_str_id(value: Any, collection: str, what: str = "id") -> str:
    """One str id, as a Python str; InvalidIdError naming what is wrong."""
    subject = "ids" if what == "id" else what
    if not isinstance(value, str):
        kind = type(value).__name__
        raise InvalidIdError(f"{_declared(collection, 'str')}: {subject} must be str, got {kind} {value!r:.60}")
    if not value:
        raise InvalidIdError(f"{_declared(collection, 'str')}: {subject} must be non-empty strings, got ''")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:  # lone surrogates: no UTF-8 form, nothing to store
        raise InvalidIdError(f"{_declared(collection, 'str')}: {what} {value!r:.60} is not valid UTF-8") from None
    if size > MAX_STR_ID_BYTES:
        raise InvalidIdError(f"{_declared(collection, 'str')}: {what} {value[:40]!r}... is {size} UTF-8 bytes, "
                             f"at most {MAX_STR_ID_BYTES} are allowed")
    return str(value)  # np.str_ -> str


def check_str_ids(ids: Any, collection: str, *, allow_empty: bool = False) -> np.ndarray:
    """(n,) object array of Python str; a single str is one id."""
    if isinstance(ids, (str, bytes)) or ids is None:
        items = [ids]
    elif isinstance(ids, np.ndarray):
        if ids.ndim > 1:
            raise InvalidIdError(f"ids must be 1-d, got shape {ids.shape}")
        items = ids.reshape(-1).tolist()
    else:
        try:
            items = list(ids)
        except TypeError:
            items = [ids]  # a lone int, say: refused below with the type named
    if not items:
        if allow_empty:
            return np.empty(0, dtype=object)
        raise EmptyBatchError("ids is empty: expected at least one id")
    out = np.empty(len(items), dtype=object)
    for i, value in enumerate(items):
        out[i] = check_str_id(value, collection)
    return out


def check_int_ids(ids: Any, collection: str, *, allow_empty: bool = False) -> np.ndarray:
    """validate.check_ids, its refusals naming the collection's id_type."""
    try:
        return V.check_ids(ids, allow_empty=allow_empty)
    except InvalidIdError as exc:
        text = _first_text(ids)
        if text is not None:  # the likely mistake: a str id given to an int collection
            raise InvalidIdError(f"{_declared(collection, 'int')}: ids must be integers, got "
                                 f"{type(text).__name__} {text!r:.60}") from None
        raise InvalidIdError(f"{exc.message} ({_declared(collection, 'int')})") from None


def _first_text(ids: Any) -> Any:
    """The first str or bytes among ids (only called once they were refused)."""
    if isinstance(ids, (str, bytes)):
        return ids
    try:
        items = np.asarray(ids, dtype=object).reshape(-1).tolist()
    except Exception:  # noqa: BLE001 - ragged input: no str to name
        return None
    return next((v for v in items if isinstance(v, (str, bytes))), None)


def check_ids_of(id_type: str, ids: Any, collection: str, *, allow_empty: bool = False) -> np.ndarray:
    if id_type == "str":
        return check_str_ids(ids, collection, allow_empty=allow_empty)
    return check_int_ids(ids, collection, allow_empty=allow_empty)


def check_unique_ids(ids: np.ndarray) -> None:
    """Duplicates within one batch are refused, for both id types."""
    if ids.dtype != object:
        V.check_unique(ids)
        return
    seen: set[str] = set()
    for v in ids.tolist():
        if v in seen:
            raise InvalidIdError(f"duplicate id {v!r} in one batch: ids must be unique")
        seen.add(v)


def check_cursor_of(id_type: str, after: Any, collection: str) -> Any:
    """A scroll cursor: None, or the last id of the previous page, of the collection's id_type."""
    if id_type != "str":
        if isinstance(after, str):
            raise InvalidQueryError(f"{_declared(collection, 'int')}: after must be None or an integer id, "
                                    f"got str {after!r:.60}")
        return V.check_cursor(after)
    if after is None:
        return None
    try:
        return check_str_id(after, collection, what="after")
    except InvalidIdError as exc:
        raise InvalidQueryError(f"after must be None or a str id: {exc.message}") from None
