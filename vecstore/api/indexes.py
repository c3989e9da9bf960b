"""Payload index declarations: which keys and kinds a caller may ask to index.

The engine builds the indexes (engine/payload_index.py); the checks live here so
the client rejects a bad declaration before it leaves the process.
"""
from __future__ import annotations

from typing import Any

from ..errors import InvalidConfigError
from .filters import check_key

INDEX_KINDS = ("keyword", "integer", "float")


def check_index_key(key: Any) -> str:
    try:
        return check_key(key, "payload index")
    except ValueError as exc:
        raise InvalidConfigError(str(exc)) from None


def check_index(key: Any, kind: Any) -> tuple[str, str]:
    check_index_key(key)
    if not isinstance(kind, str) or kind not in INDEX_KINDS:
        raise InvalidConfigError(f"unknown payload index kind {kind!r}; expected one of {list(INDEX_KINDS)}")
    return key, kind
