"""How LangChain documents sit in vecstore points, and back.

A document is one point: its id is the point's (string) id, its embedding the
vector, and the payload is

    {"page_content": <text>, "metadata": {<the document's metadata>}}

Metadata is nested under its own key so that no metadata key can collide with
the text. Filters are written against metadata keys, as LangChain users
write them ({"source": "a.txt"}), and `metadata_filter` moves every field key
under "metadata." before vecstore sees the filter; operators and combinators
are vecstore's own (README "Filters").
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator

from langchain_core.documents import Document

from ...errors import InvalidFilterError

PAYLOAD_TEXT = "page_content"
PAYLOAD_METADATA = "metadata"
_PREFIX = PAYLOAD_METADATA + "."


def payload_of(text: str, metadata: dict | None) -> dict[str, Any]:
    """The payload stored for one document; a copy, so the caller's dict is never touched."""
    return {PAYLOAD_TEXT: text, PAYLOAD_METADATA: dict(metadata or {})}


def document_of(point_id: str, payload: dict | None) -> Document:
    """The document a point holds. A point written by other code (no text, or
    no payload) still reads back: empty text, and its payload as metadata."""
    payload = payload or {}
    if PAYLOAD_TEXT not in payload:
        return Document(page_content="", metadata=dict(payload), id=point_id)
    return Document(page_content=payload[PAYLOAD_TEXT], metadata=dict(payload.get(PAYLOAD_METADATA) or {}),
                    id=point_id)


def metadata_filter(filter: dict | None) -> dict | None:
    """A filter on document metadata as a filter on the stored payloads.

    {"source": "a", "$or": [{"year": {"$gte": 2020}}, {"tags": "x"}]} becomes
    {"metadata.source": "a", "$or": [{"metadata.year": {"$gte": 2020}}, {"metadata.tags": "x"}]}.
    Only keys are rewritten; whatever is malformed is left for vecstore to report.
    """
    if filter is None:
        return None
    if not isinstance(filter, dict):
        raise InvalidFilterError(f"filter must be a dict, got {type(filter).__name__}")
    out: dict[str, Any] = {}
    for key, value in filter.items():
        if key in ("$and", "$or") and isinstance(value, list):
            out[key] = [metadata_filter(part) if isinstance(part, dict) else part for part in value]
        elif key == "$not" and isinstance(value, dict):
            out[key] = metadata_filter(value)
        elif isinstance(key, str) and not key.startswith("$"):
            out[_PREFIX + key] = value  # a field: its operators ($gt, field-level $not) stay as they are
        else:
            out[key] = value
    return out


def hits(result: Any, row: int = 0) -> Iterator[tuple[str, float, dict | None, Any]]:
    """(id, score, payload, vector) of each real hit in one row of a SearchResult
    (padding, id None, is left out; payload/vector None unless asked for)."""
    payloads = result.payloads[row] if result.payloads is not None else None
    vectors = result.vectors[row] if result.vectors is not None else None
    for j, point_id in enumerate(result.ids[row]):
        if point_id is None:
            continue
        yield (str(point_id), float(result.scores[row][j]), payloads[j] if payloads is not None else None,
               vectors[j] if vectors is not None else None)


# -- relevance: vecstore's score -> [0, 1], 1 the most relevant ---------------------------
def _cosine(similarity: float) -> float:
    # cosine similarity is in [-1, 1]; the clamp only absorbs float rounding
    return min(1.0, max(0.0, (1.0 + similarity) / 2.0))


def _dot(product: float) -> float:
    # exact for unit-length embeddings (then dot == cosine); longer ones clamp to the ends
    return min(1.0, max(0.0, (1.0 + product) / 2.0))


def _l2(distance: float) -> float:
    # any distance in [0, inf) maps into (0, 1], keeping the order
    return 1.0 / (1.0 + distance) if math.isfinite(distance) else 0.0


RELEVANCE: dict[str, Callable[[float], float]] = {"cosine": _cosine, "dot": _dot, "l2": _l2}
