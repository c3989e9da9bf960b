"""Input checks for the public API. Every rejection names what was wrong and
what was expected, and happens before anything is written."""
from __future__ import annotations

import json
import math
import re
from typing import Any, Sequence

import numpy as np

from ..config import MAX_OVERSAMPLING, CollectionConfig, IVFConfig
from ..errors import (
    DimensionMismatchError,
    EmptyBatchError,
    InvalidConfigError,
    InvalidIdError,
    InvalidPayloadError,
    InvalidQueryError,
    InvalidSparseError,
    InvalidVectorError,
    LengthMismatchError,
)
from .sparse_rows import SparseRows

MAX_K = 10_000
MAX_QUERIES = 10_000  # queries in one search call
MAX_RESULTS = 1_000_000  # nq x k: ~12 MB of hits
MAX_CANDIDATES = 16_000_000  # nq x ceil(k x oversampling): ~200 MB of (slot, score) pairs
#: dot and l2 vectors: with |a|, |b| <= 1e18, |a.b| <= 1e36 and |a - b|^2 <= 4e36,
#: so every score (and the codecs' sums of squares) stays far inside float32
MAX_NORM = 1e18
MAX_PAYLOAD_BYTES = 1 << 20
MAX_PAYLOAD_DEPTH = 64  # nesting of objects and arrays in one payload
MAX_SPARSE_NNZ = 1 << 16  # entries in one user sparse code


def check_ids(ids: Any, *, allow_empty: bool = False) -> np.ndarray:
    """int64 (n,) array of non-negative ids."""
    try:
        arr = np.asarray(ids)
    except Exception as exc:  # ragged or otherwise unconvertible input
        raise InvalidIdError(f"ids must be a 1-d sequence of integers: {exc}") from None
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidIdError(f"ids must be 1-d, got shape {arr.shape}")
    if arr.size == 0:
        if allow_empty:
            return np.zeros(0, dtype=np.int64)
        raise EmptyBatchError("ids is empty: expected at least one id")
    if arr.dtype == object:
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in arr):
            raise InvalidIdError("ids must be integers")
        if any(not 0 <= int(v) < 2**63 for v in arr):
            raise InvalidIdError("ids must be in [0, 2**63 - 1]")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "u":
        if arr.max() >= 2**63:
            raise InvalidIdError(f"id {int(arr.max())} is out of range: expected [0, 2**63 - 1]")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind != "i":
        raise InvalidIdError(f"ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if (arr < 0).any():
        raise InvalidIdError(f"negative id {int(arr[arr < 0][0])}: ids must be >= 0")
    return np.ascontiguousarray(arr)


def check_unique(ids: np.ndarray) -> None:
    uniq, counts = np.unique(ids, return_counts=True)
    if len(uniq) != len(ids):
        raise InvalidIdError(f"duplicate id {int(uniq[counts > 1][0])} in one batch: ids must be unique")


def check_vectors(vectors: Any, dim: int, *, what: str = "vector", collection: str = "") -> np.ndarray:
    """float32 C-contiguous (n, dim), finite. A single (dim,) vector becomes (1, dim)."""
    whats = what[:-1] + "ies" if what.endswith("y") else what + "s"  # "queries", "vectors"
    try:
        arr = np.asarray(vectors)
    except Exception as exc:
        raise InvalidVectorError(f"{whats} must be a numeric (n, {dim}) array: {exc}") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise InvalidVectorError(f"{whats} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidVectorError(f"{whats} must be 2-d (n, {dim}), got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise EmptyBatchError(f"no {whats} given: expected at least one")
    if arr.shape[1] != dim:
        where = f"collection '{collection}' expects" if collection else "expected"
        raise DimensionMismatchError(f"{what} dim {arr.shape[1]}, {where} {dim}")
    if arr.dtype == np.float32:
        out = np.ascontiguousarray(arr)  # no cast, nothing can overflow
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():  # one reduction on the common path; the row only on failure
        finite = np.isfinite(out).all(axis=1)
        row = int(np.flatnonzero(~finite)[0])
        if np.isfinite(np.asarray(arr[row], dtype=np.float64)).all():
            raise InvalidVectorError(f"{what} {row} overflows float32 (values must fit in +-3.4e38)")
        raise InvalidVectorError(f"{what} {row} contains NaN or Inf: values must be finite")
    return out


def check_lengths(n_ids: int, n_vectors: int) -> None:
    if n_ids != n_vectors:
        raise LengthMismatchError(f"{n_ids} ids but {n_vectors} vectors: expected one vector per id")


def check_payloads(payloads: Sequence[Any] | None, n: int) -> list[bytes | None] | None:
    """JSON-encode payloads (dicts or None); None for the whole batch means no payloads."""
    if payloads is None:
        return None
    if isinstance(payloads, (str, bytes, dict)) or not hasattr(payloads, "__len__"):
        raise InvalidPayloadError("payloads must be a list of dicts (or None), one per id")
    if len(payloads) != n:
        raise LengthMismatchError(f"{n} ids but {len(payloads)} payloads: expected one payload per id")
    out: list[bytes | None] = []
    for i, p in enumerate(payloads):
        if p is None:
            out.append(None)
            continue
        out.append(encode_payload(p, f"payload {i}"))
    return out


def encode_payload(p: Any, what: str = "payload") -> bytes:
    """The stored form of one payload dict: compact UTF-8 JSON, at most MAX_PAYLOAD_BYTES."""
    if not isinstance(p, dict):
        raise InvalidPayloadError(f"{what} must be a dict or None, got {type(p).__name__}")
    check_payload_depth(p, what)
    try:
        raw = json.dumps(p, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidPayloadError(f"{what} is not JSON-serializable: {exc}") from None
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidPayloadError(f"{what} is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    return raw


def check_payload_depth(p: Any, what: str = "payload") -> None:
    """Refuse objects/arrays nested deeper than MAX_PAYLOAD_DEPTH, without
    recursion (json.dumps would raise RecursionError, or crash, far deeper)."""
    stack = [(p, 1)]
    seen = 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_PAYLOAD_DEPTH:
            raise InvalidPayloadError(f"{what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels of objects and arrays")
        children = value.values() if isinstance(value, dict) else value
        for child in children:
            if isinstance(child, (dict, list, tuple)):
                stack.append((child, depth + 1))
        seen += 1
        if seen > MAX_PAYLOAD_BYTES:  # each container takes >= 2 bytes of JSON: too big anyway
            raise InvalidPayloadError(f"{what} holds more than {MAX_PAYLOAD_BYTES} objects and arrays; the limit is {MAX_PAYLOAD_BYTES} bytes")


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def check_payload_bytes(raw: bytes, what: str = "payload") -> None:
    """The same bounds on JSON bytes before they are parsed (json.loads recurses
    per level): at most MAX_PAYLOAD_BYTES, nested at most MAX_PAYLOAD_DEPTH."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise InvalidPayloadError(f"{what} is {len(raw)} bytes; the limit is {MAX_PAYLOAD_BYTES}")
    if raw.count(b"{") + raw.count(b"[") <= MAX_PAYLOAD_DEPTH:
        return  # too few brackets to be too deep: the common case, no scan
    # brackets inside strings do not nest: drop the strings, then a running depth
    text = np.frombuffer(_JSON_STRING.sub(b'""', raw), dtype=np.uint8)
    step = np.isin(text, (ord("{"), ord("["))).astype(np.int32) - np.isin(text, (ord("}"), ord("]")))
    if len(step) and int(np.cumsum(step).max()) > MAX_PAYLOAD_DEPTH:
        raise InvalidPayloadError(f"{what} is nested deeper than {MAX_PAYLOAD_DEPTH} levels of objects and arrays")


def check_norms(x: np.ndarray, metric: str, *, what: str = "vector") -> None:
    """dot and l2 scores are sums of products: refuse vectors whose norm could
    overflow them in float32. Cosine needs no bound (vectors are normalised
    in float64 when their squares would overflow float32)."""
    if metric == "cosine":
        return
    with np.errstate(over="ignore"):
        sq = np.einsum("ij,ij->i", x, x)  # float32; inf where it overflows, caught below
    bad = ~(sq <= MAX_NORM * MAX_NORM)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        norm = float(np.linalg.norm(x[row].astype(np.float64)))
        raise InvalidVectorError(
            f"{what} {row} has norm {norm:.3g}: metric {metric!r} takes vectors of norm at most {MAX_NORM:g} "
            "(larger ones would overflow float32 scores)"
        )


def check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidQueryError(f"k must be a positive integer, got {k!r}")
    if not 1 <= k <= MAX_K:
        raise InvalidQueryError(f"k must be in [1, {MAX_K}], got {int(k)}")
    return int(k)


def check_by_id_k(k: Any) -> int:
    """k of search_by_id: one more hit is searched (the query's own point, then cut)."""
    k = check_k(k)
    if k >= MAX_K:
        raise InvalidQueryError(f"k must be in [1, {MAX_K - 1}] for search_by_id (one more hit is "
                                f"searched, the query's own point), got {k}")
    return k


def check_oversampling_arg(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
        raise InvalidQueryError(f"oversampling must be a finite number >= 1, got {value!r}")
    if value > MAX_OVERSAMPLING:
        raise InvalidQueryError(f"oversampling must be at most {MAX_OVERSAMPLING:g}, got {value!r}")
    return float(value)


def candidates_per_query(k: int, oversampling: float, rescore: bool, config: CollectionConfig) -> int:
    """The coarse scan's candidates per query (k when nothing is reranked)."""
    if config.quantization.kind == "none" or not rescore:
        return k
    return max(k, math.ceil(k * oversampling))


def check_search_size(nq: int, k: int, n_cand: int) -> None:
    """Bound a search's work before it starts: queries, hits and candidates."""
    if nq > MAX_QUERIES:
        raise InvalidQueryError(f"{nq} queries in one search; the limit is {MAX_QUERIES}: split them into batches")
    if nq * k > MAX_RESULTS:
        raise InvalidQueryError(
            f"{nq} queries x k={k} = {nq * k} results; the limit is {MAX_RESULTS}: use fewer queries per call or a smaller k"
        )
    if nq * n_cand > MAX_CANDIDATES:
        raise InvalidQueryError(
            f"{nq} queries x {n_cand} candidates (k x oversampling) = {nq * n_cand}; the limit is {MAX_CANDIDATES}: "
            "use fewer queries per call, a smaller k or a smaller oversampling"
        )


def check_rescore_arg(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise InvalidQueryError(f"rescore must be True, False or None, got {value!r}")


def round_to_float16(x: np.ndarray) -> np.ndarray:
    """The values a float16 collection stores, as float32; rejects values float16 cannot hold."""
    with np.errstate(over="ignore"):
        half = x.astype(np.float16)
    finite = np.isfinite(half).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InvalidVectorError(
            f"vector {row} overflows float16 (values must fit in +-65504): this collection stores vectors as float16"
        )
    return half.astype(np.float32)


def check_margin_arg(value: Any, config: CollectionConfig) -> float | None:
    """A search's rerank margin override: only for binary codes scored asymmetrically."""
    if value is None:
        return None
    q = config.quantization
    if q.kind != "binary" or q.scoring != "asymmetric":
        raise InvalidQueryError(
            f"margin given, but collection '{config.name}' does not take one: it applies to "
            f"quantization 'binary' with scoring 'asymmetric' (this one is {q.kind!r})"
        )
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value) or value < 0:
        raise InvalidQueryError(f"margin must be a finite number >= 0 (0: rerank every candidate), got {value!r}")
    return float(value)


def check_nprobe_arg(value: Any, ivf: IVFConfig | None, collection: str) -> int | None:
    if value is None:
        return None
    if ivf is None:
        raise InvalidQueryError(f"nprobe given, but collection '{collection}' has no IVF partitioning")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidQueryError(f"nprobe must be a positive integer, got {value!r}")
    return int(value)  # above nlist means every list


def check_user_sparse(value: Any, n: int, config: CollectionConfig, *, what: str) -> SparseRows | None:
    """The `sparse` / `sparse_queries` argument of a call on a collection with
    this config: required (and checked) for user sparse codes, refused otherwise."""
    q = config.quantization
    if not (q.kind == "sparse" and q.user_codes):
        if value is not None:
            raise InvalidSparseError(
                f"{what} given, but collection '{config.name}' does not take user sparse codes "
                "(create it with quantization=SparseQuantization(user_codes=True, ...))"
            )
        return None
    if value is None:
        owner = "point" if what == "sparse" else "query"
        raise InvalidSparseError(
            f"collection '{config.name}' takes user sparse codes: pass {what}=[...] with one code per {owner}"
        )
    return check_sparse(value, n, dim=q.expansion_dim, weighted=q.weighted, what=what)


def check_sparse(value: Any, n: int, *, dim: int, weighted: bool, what: str) -> SparseRows:
    """User sparse codes, one per point (or query): each a sequence of distinct
    indices in [0, dim), or (indices, weights), or {"indices": ..., "weights": ...}.
    Weights (positive, finite) only for weighted collections, where they default to 1.
    Rows come back sorted by index."""
    owner = "point" if what == "sparse" else "query"
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__"):
        raise InvalidSparseError(f"{what} must be a list with one sparse code per {owner}, got {type(value).__name__}")
    if len(value) != n:
        raise LengthMismatchError(f"{n} {owner}s but {len(value)} sparse codes in {what}: expected one per {owner}")
    indices, weights = [], []
    for i, entry in enumerate(value):
        idx, w = _split_sparse_entry(entry, f"{what}[{i}]")
        idx, w = _check_sparse_row(idx, w, dim=dim, weighted=weighted, where=f"{what}[{i}]")
        indices.append(idx)
        weights.append(w)
    return SparseRows.from_lists(indices, weights if weighted else None)


def _split_sparse_entry(entry: Any, where: str) -> tuple[Any, Any]:
    if isinstance(entry, dict):
        unknown = set(entry) - {"indices", "weights"}
        if unknown or "indices" not in entry:
            raise InvalidSparseError(f"{where}: a dict code needs 'indices' and optionally 'weights', got keys {sorted(entry)}")
        return entry["indices"], entry.get("weights")
    if isinstance(entry, tuple) and len(entry) == 2 and all(np.ndim(part) == 1 for part in entry):
        return entry
    return entry, None


def _check_sparse_row(idx: Any, w: Any, *, dim: int, weighted: bool, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        arr = np.asarray(idx)
    except Exception as exc:
        raise InvalidSparseError(f"{where}: indices must be a 1-d sequence of integers: {exc}") from None
    if arr.size == 0:
        arr = np.zeros(0, np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise InvalidSparseError(f"{where}: indices must be a 1-d sequence of integers, got dtype {arr.dtype}, shape {arr.shape}")
    if len(arr) > MAX_SPARSE_NNZ:
        raise InvalidSparseError(f"{where}: {len(arr)} indices; the limit is {MAX_SPARSE_NNZ}")
    if len(arr) and (arr.min() < 0 or arr.max() >= dim):
        bad = int(arr[(arr < 0) | (arr >= dim)][0])
        raise InvalidSparseError(f"{where}: index {bad} is outside [0, {dim})")
    arr = arr.astype(np.int64)
    order = np.argsort(arr, kind="stable")
    arr = arr[order]
    if len(arr) > 1 and (np.diff(arr) == 0).any():
        raise InvalidSparseError(f"{where}: index {int(arr[1:][np.diff(arr) == 0][0])} repeats: indices must be distinct")
    if w is None:
        return arr, np.ones(len(arr), np.float32) if weighted else None
    if not weighted:
        raise InvalidSparseError(
            f"{where}: weights given, but this collection's sparse codes are unweighted "
            "(create it with SparseQuantization(user_codes=True, weighted=True) to use weights)"
        )
    try:
        wa = np.asarray(w, dtype=np.float64)
    except Exception as exc:
        raise InvalidSparseError(f"{where}: weights must be numbers: {exc}") from None
    if wa.shape != (len(arr),):
        raise InvalidSparseError(f"{where}: {wa.size} weights for {len(arr)} indices: expected one weight per index")
    with np.errstate(over="ignore", under="ignore"):
        w32 = wa[order].astype(np.float32)
    if not (np.isfinite(w32).all() and (w32 > 0).all()):
        raise InvalidSparseError(f"{where}: weights must be positive finite float32 numbers")
    return arr, w32


def check_delete_selector(ids: Any, filter: Any) -> None:
    """delete takes ids or a filter: exactly one of them."""
    if filter is not None and ids is not None:
        raise InvalidQueryError("delete takes ids or filter=, not both")
    if filter is None and ids is None:
        raise InvalidQueryError("delete needs ids or filter=")


MAX_SCROLL_LIMIT = 10_000


def check_limit(limit: Any) -> int:
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or not 1 <= limit <= MAX_SCROLL_LIMIT:
        raise InvalidQueryError(f"limit must be an integer in [1, {MAX_SCROLL_LIMIT}], got {limit!r}")
    return int(limit)


def check_cursor(after: Any) -> int | None:
    """A scroll cursor: None (from the start) or the last id of the previous page."""
    if after is None:
        return None
    if isinstance(after, bool) or not isinstance(after, (int, np.integer)) or not 0 <= after < 2**63:
        raise InvalidQueryError(f"after must be None or a point id (integer in [0, 2**63 - 1]), got {after!r}")
    return int(after)


#: shards of one collection at most (a cluster's virtual shards: cluster/routing.py), and replicas of each
MAX_SHARDS = 256
MAX_REPLICAS = 16


def check_layout(shards: Any, replicas: Any) -> tuple[int, int]:
    """create_collection's shards and replicas: integers, 1 keeps a collection whole."""
    for what, value, top in (("shards", shards, MAX_SHARDS), ("replicas", replicas, MAX_REPLICAS)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
            raise InvalidConfigError(f"{what} must be an integer in [1, {top}], got {value!r}")
    return int(shards), int(replicas)
