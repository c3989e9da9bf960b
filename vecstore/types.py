"""Result types shared by the embedded engine and the gRPC client."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import CollectionConfig


@dataclass(frozen=True)
class SearchResult:
    """ids (nq, k) int64 and scores (nq, k) float32, best first; for
    id_type="str" collections ids is an object array of Python str.

    Rows with fewer than k hits are padded with id -1 (None for str ids) and score NaN.
    Scores are similarities for cosine and dot (higher is better) and
    Euclidean distances for l2 (lower is better). With rescore=False they are
    code-space estimates, documented as approximate.

    payloads: None unless the search asked `with_payloads`; then one list per
    query of k entries, each the hit's payload dict or None (no payload, or
    padding). vectors: None unless it asked `with_vectors`; then float32
    (nq, k, dim), the stored rows (float16 ones upcast, as `get` returns
    them), NaN rows for padding.

    partial is True when some shard of a cluster collection had no live
    replica: the hits are the best of the shards that answered.
    """

    ids: np.ndarray
    scores: np.ndarray
    payloads: list[list[dict[str, Any] | None]] | None = None
    vectors: np.ndarray | None = None
    partial: bool = False

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Points:
    """What `get` returns: the points found, in request order.

    Missing ids are left out; compare `ids` with what you asked for.
    vectors are float32: the stored rows byte-exact when `stored_dtype` is
    "float32", the stored float16 rows upcast (exactly) when it is "float16".
    """

    ids: np.ndarray
    vectors: np.ndarray
    payloads: list[dict[str, Any] | None] = field(default_factory=list)
    #: how the collection keeps vectors on disk ("float32" or "float16")
    stored_dtype: str = "float32"

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ScrollPage:
    """One page of `scroll`: points in id order, and the cursor of the next page.

    next_cursor is the last id of this page when more points may follow (pass
    it as `after=`), None when the scroll is complete.
    """

    points: Points
    next_cursor: int | str | None

    def __len__(self) -> int:
        return len(self.points)


@dataclass(frozen=True)
class CollectionInfo:
    config: CollectionConfig
    count: int
    trained: bool
    ram_bytes: int
    disk_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name
