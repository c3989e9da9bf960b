"""Payload edits that leave the vector alone: merge keys, replace, remove keys.

Pure functions from the stored payload (a dict, or None when the point has
none) to the new one; the collection runs them inside one write transaction.
"""
from __future__ import annotations

import copy
import json
from typing import Any, Callable, Sequence

from ..errors import InvalidFilterError, InvalidPayloadError
from .filters import check_key
from .validate import encode_payload

Edit = Callable[[dict | None], dict | None]


def set_keys(payload: Any) -> Edit:
    """Merge payload's top-level keys into the stored payload (a key given replaces its value)."""
    fresh = _checked(payload)
    return lambda old: {**(old or {}), **fresh}


def overwrite(payload: Any) -> Edit:
    """Replace the stored payload; None removes it."""
    fresh = None if payload is None else _checked(payload)
    return lambda old: fresh  # encoded right away, so points may share the dict


def check_keys(keys: Any) -> list[str]:
    """The key names of `delete_keys`: a non-empty list of (dotted) keys."""
    if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys:
        raise InvalidPayloadError(f"keys must be a non-empty list of key names, got {keys!r:.80}")
    out = []
    for i, key in enumerate(keys):
        try:
            out.append(check_key(key, f"keys[{i}]"))
        except InvalidFilterError as exc:
            raise InvalidPayloadError(str(exc)) from None
    return out


def delete_keys(keys: Any) -> Edit:
    """Remove keys; a dotted key removes a nested field. Missing keys are ignored."""
    paths = [key.split(".") for key in check_keys(keys)]

    def edit(old: dict | None) -> dict | None:
        if old is None:
            return None
        new = copy.deepcopy(old)
        for path in paths:
            _remove(new, path)
        return new

    return edit


def _remove(doc: dict, path: list[str]) -> None:
    for part in path[:-1]:
        doc = doc.get(part)
        if not isinstance(doc, dict):
            return
    doc.pop(path[-1], None)


def _checked(payload: Any) -> dict:
    """A private copy of a payload dict, as it will be stored (JSON round trip)."""
    return json.loads(encode_payload(payload))
