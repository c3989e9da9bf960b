"""Every conversion between vecstore values and vecstore.v1 messages.

The server and the client both convert through this module only, so a
config, a batch or a result means the same thing on both sides.

Configs convert generically. A quantization kind's field in the
`Quantization` oneof is named after the kind, and its message has the
config class's field names, so `to_dict()` fills it and
`quantization_from_dict()` (the engine's one serialization) reads it back:
a new kind needs its proto message and nothing here, unless a parameter has
a type the generic code does not know (a case then goes in `_fill`/`_read`).
Enums map by name: METRIC_COSINE <-> "cosine". IVF settings fill their
nested `IVFConfig` message the same way (an unset message: no IVF).

User sparse codes travel per batch in CSR form (`SparseCodes`); the engine's
`check_sparse` validates them on both sides.

Filters travel in the engine's canonical form (`normalize_filter`): each
object is one combinator or one `{key: {op: value}}` condition, and maps onto
one `Filter` message. The server turns a message back into that dict and the
engine validates it as it validates any filter.
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

import numpy as np
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message

from ..config import CollectionConfig, IVFConfig, QuantizationConfig, quantization_from_dict
from ..api.sparse_rows import SparseRows
from ..api.validate import check_payload_bytes
from ..errors import (InternalError, InvalidConfigError, InvalidFilterError, InvalidIdError, InvalidPayloadError,
                      InvalidQueryError, InvalidSparseError, InvalidVectorError)
from ..types import CollectionInfo, Points, ScrollPage, SearchResult
from .v1 import vecstore_pb2 as pb

FLOAT32_LE = np.dtype("<f4")
UINT32_LE = np.dtype("<u4")


# -- enums --------------------------------------------------------------------
def _enum_prefix(enum: EnumDescriptor) -> str:
    """"VectorDtype" -> "VECTOR_DTYPE_": the prefix every value name carries."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"


def enum_choices(enum: EnumDescriptor) -> list[str]:
    prefix = _enum_prefix(enum)
    return [v.name[len(prefix) :].lower() for v in enum.values if v.number != 0]


def enum_to_proto(enum: EnumDescriptor, value: str, what: str) -> int:
    found = enum.values_by_name.get(_enum_prefix(enum) + str(value).upper())
    if found is None or found.number == 0:
        raise InvalidConfigError(
            f"{what} {value!r} has no value in the vecstore.v1 protocol; expected one of {enum_choices(enum)}"
        )
    return found.number


def enum_from_proto(enum: EnumDescriptor, number: int, what: str) -> str | None:
    """The engine's lower-case name, or None for the *_UNSPECIFIED zero value."""
    if number == 0:
        return None
    found = enum.values_by_number.get(number)
    if found is None:
        raise InvalidConfigError(f"unknown {what} value {number}; expected one of {enum_choices(enum)}")
    return found.name[len(_enum_prefix(enum)) :].lower()


# -- generic message <-> dict (config parameters) ------------------------------
def _fill(msg: Message, values: dict[str, Any]) -> None:
    fields = msg.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            raise InvalidConfigError(
                f"parameter {name!r} cannot travel in vecstore.v1.{msg.DESCRIPTOR.name}: "
                "the protocol lacks that field (update proto/vecstore/v1/vecstore.proto)"
            )
        if value is None:
            continue  # unset: the engine's default applies
        if field.message_type is not None:
            sub = getattr(msg, name)
            sub.SetInParent()
            _fill(sub, value)
        elif field.enum_type is not None:
            setattr(msg, name, enum_to_proto(field.enum_type, value, name))
        elif field.is_repeated:
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)


def _read(msg: Message) -> dict[str, Any]:
    """The fields that are set (proto3 `optional` gives every parameter presence)."""
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        if field.message_type is not None:
            out[field.name] = _read(value)
        elif field.enum_type is not None:
            name = enum_from_proto(field.enum_type, value, field.name)
            if name is not None:  # *_UNSPECIFIED: the engine's default
                out[field.name] = name
        elif field.is_repeated:
            out[field.name] = list(value)
        else:
            out[field.name] = value
    return out


# -- collection configs ---------------------------------------------------------
QUANTIZATION_ONEOF = "kind"


def wire_kinds() -> list[str]:
    """Quantization kinds this protocol version can carry."""
    return [f.name for f in pb.Quantization.DESCRIPTOR.oneofs_by_name[QUANTIZATION_ONEOF].fields]


def quantization_to_proto(config: QuantizationConfig) -> pb.Quantization:
    if config.kind not in wire_kinds():
        raise InvalidConfigError(
            f"quantization kind {config.kind!r} cannot travel over vecstore.v1 yet; it carries {wire_kinds()}"
        )
    msg = pb.Quantization()
    sub = getattr(msg, config.kind)
    sub.SetInParent()
    params = config.to_dict()
    params.pop("kind")
    _fill(sub, params)
    return msg


def quantization_from_proto(msg: pb.Quantization) -> QuantizationConfig:
    kind = msg.WhichOneof(QUANTIZATION_ONEOF)
    if kind is None:
        raise InvalidConfigError(f"quantization is required: set one of {wire_kinds()}")
    return quantization_from_dict({"kind": kind, **_read(getattr(msg, kind))})


def config_to_proto(config: CollectionConfig) -> pb.CollectionConfig:
    msg = pb.CollectionConfig(
        name=config.name,
        dim=config.dim,
        metric=enum_to_proto(pb.Metric.DESCRIPTOR, config.metric, "metric"),
        quantization=quantization_to_proto(config.quantization),
        vector_dtype=dtype_to_proto(config.vector_dtype),
        vectors_in_ram=config.vectors_in_ram,
        id_type=enum_to_proto(pb.IdType.DESCRIPTOR, config.id_type, "id_type"),
    )
    if config.ivf is not None:
        msg.ivf.SetInParent()  # present even when every field keeps its default
        _fill(msg.ivf, config.ivf.to_dict())
    if config.sparse_vectors is not None:
        msg.sparse_vectors.SetInParent()
        _fill(msg.sparse_vectors, config.sparse_vectors.to_dict())
    return msg


def dtype_to_proto(dtype: str) -> int:
    return enum_to_proto(pb.VectorDtype.DESCRIPTOR, dtype, "vector_dtype")


def dtype_from_proto(number: int) -> str:
    return enum_from_proto(pb.VectorDtype.DESCRIPTOR, number, "vector_dtype") or "float32"


def config_from_proto(msg: pb.CollectionConfig) -> dict[str, Any]:
    """Keyword arguments of `create_collection` (the engine validates them)."""
    metric = enum_from_proto(pb.Metric.DESCRIPTOR, msg.metric, "metric")
    if metric is None:
        raise InvalidConfigError(f"metric is required: expected one of {enum_choices(pb.Metric.DESCRIPTOR)}")
    if not msg.HasField("quantization"):
        raise InvalidConfigError(f"quantization is required: set one of {wire_kinds()}")
    return {
        "name": msg.name,
        "dim": msg.dim,
        "metric": metric,
        "quantization": quantization_from_proto(msg.quantization),
        "vector_dtype": dtype_from_proto(msg.vector_dtype),
        "ivf": IVFConfig.from_dict(_read(msg.ivf)) if msg.HasField("ivf") else None,
        "vectors_in_ram": msg.vectors_in_ram,
        "sparse_vectors": _read(msg.sparse_vectors) if msg.HasField("sparse_vectors") else None,
        "id_type": enum_from_proto(pb.IdType.DESCRIPTOR, msg.id_type, "id_type") or "int",
    }


def description_to_proto(config: CollectionConfig, collection_id: int) -> pb.CollectionDescription:
    return pb.CollectionDescription(config=config_to_proto(config), collection_id=collection_id)


def description_from_proto(msg: pb.CollectionDescription) -> tuple[CollectionConfig, int]:
    return CollectionConfig(**config_from_proto(msg.config)), msg.collection_id


def info_to_proto(info: CollectionInfo, collection_id: int) -> pb.CollectionInfo:
    return pb.CollectionInfo(
        collection=description_to_proto(info.config, collection_id),
        count=info.count,
        trained=info.trained,
        ram_bytes=info.ram_bytes,
        disk_bytes=info.disk_bytes,
        extra_json=json.dumps(info.extra, default=_json_number).encode(),
    )


def info_from_proto(msg: pb.CollectionInfo) -> CollectionInfo:
    config, _ = description_from_proto(msg.collection)
    return CollectionInfo(
        config=config,
        count=msg.count,
        trained=msg.trained,
        ram_bytes=msg.ram_bytes,
        disk_bytes=msg.disk_bytes,
        extra=json.loads(msg.extra_json) if msg.extra_json else {},
    )


def _json_number(value: Any) -> Any:
    """numpy scalars in `info().extra` as plain JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


# -- batches ----------------------------------------------------------------------
def ref_to_proto(name: str, collection_id: int = 0) -> pb.CollectionRef:
    return pb.CollectionRef(name=name, collection_id=collection_id)


def ids_from_proto(ids: Sequence[int]) -> np.ndarray:
    return np.array(ids, dtype=np.int64)


# Ids travel in the original `repeated int64 ids` field (int ids; what older
# clients send) or in `point_ids`, the oneof of int and str ids (see the proto).
def ids_from_request(request: Message) -> np.ndarray:
    """A request's ids, of whichever type it sent (the engine checks the type)."""
    if not request.HasField("point_ids"):
        return ids_from_proto(request.ids)
    if len(request.ids):
        raise InvalidIdError("set ids or point_ids, not both")
    return ids_from_message(request.point_ids)


def has_ids(request: Message) -> bool:
    return bool(len(request.ids)) or request.HasField("point_ids")


def ids_from_message(msg: pb.Ids) -> np.ndarray:
    kind = msg.WhichOneof("kind")
    if kind == "strs":
        out = np.empty(len(msg.strs.values), dtype=object)
        out[:] = list(msg.strs.values)
        return out
    return ids_from_proto(msg.ints.values if kind == "ints" else ())


def id_fields(ids: np.ndarray) -> dict[str, Any]:
    """The fields carrying ids, in requests and responses alike: `ids` for
    int ids (what every version reads), `point_ids.strs` for str ids."""
    if ids.dtype == object:
        return {"point_ids": pb.Ids(strs=pb.StringIds(values=ids.tolist()))}
    return {"ids": ids.tolist()}


def cursor_from_request(request: pb.ScrollRequest) -> Any:
    if request.HasField("after_id"):
        if request.HasField("after"):
            raise InvalidQueryError("set after or after_id, not both")
        kind = request.after_id.WhichOneof("kind")
        return None if kind is None else getattr(request.after_id, kind)
    return request.after if request.HasField("after") else None


def cursor_fields(after: Any) -> dict[str, Any]:
    if isinstance(after, str):
        return {"after_id": pb.PointId(str_id=after)}
    return {"after": after}


def _valid(ids: np.ndarray) -> np.ndarray:
    """Where a result's ids are hits, not padding (-1, or None for str ids)."""
    return np.not_equal(ids, None) if ids.dtype == object else ids >= 0


def vectors_to_proto(x: np.ndarray) -> pb.Vectors:
    """x: a validated (n, dim) float32 array."""
    return pb.Vectors(dim=x.shape[1], data=np.ascontiguousarray(x, dtype=FLOAT32_LE).tobytes())


def vectors_from_proto(msg: pb.Vectors, what: str = "vectors") -> np.ndarray:
    """(n, dim) read-only float32 view of the bytes; the engine checks dim and values."""
    dim, data = msg.dim, msg.data
    if dim == 0:
        if data:
            raise InvalidVectorError(f"{what}.dim is 0 but {len(data)} bytes of data were sent: expected dim >= 1")
        return np.zeros((0, 0), dtype=np.float32)
    if len(data) % (4 * dim):
        raise InvalidVectorError(
            f"{what}.data holds {len(data)} bytes, not a whole number of rows of dim {dim} "
            f"(expected a multiple of 4 * dim = {4 * dim} bytes)"
        )
    return np.frombuffer(data, dtype=FLOAT32_LE).reshape(-1, dim)


def payloads_to_proto(encoded: Sequence[bytes | None] | None) -> list[bytes]:
    """The engine's JSON encodings (from validate.check_payloads); b"" for none."""
    if encoded is None:
        return []
    return [raw or b"" for raw in encoded]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def payload_from_bytes(raw: bytes, what: str = "payload") -> dict[str, Any] | None:
    """One payload off the wire: a JSON object, or None for empty bytes."""
    if not raw:
        return None
    check_payload_bytes(raw, what)  # before json.loads, which recurses per level
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayloadError(f"{what} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidPayloadError(f"{what} must be a JSON object or empty, got {type(value).__name__}")
    return value


def payloads_from_proto(raw: Sequence[bytes]) -> list[dict[str, Any] | None] | None:
    """Dicts for the engine; None for the whole batch when no payloads were sent."""
    if not len(raw):
        return None
    return [payload_from_bytes(item, f"payload {i}") for i, item in enumerate(raw)]


def payload_to_bytes(payload: dict[str, Any] | None) -> bytes:
    if payload is None:
        return b""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sparse_to_proto(rows: SparseRows | None) -> pb.SparseCodes | None:
    """Codes already checked by the engine's `check_sparse` (None: not sent)."""
    if rows is None:
        return None
    return pb.SparseCodes(
        lengths=rows.lengths().tolist(),
        indices=rows.indices.astype(UINT32_LE).tobytes(),
        weights=b"" if rows.weights is None else rows.weights.astype(FLOAT32_LE).tobytes(),
    )


def sparse_from_proto(msg: pb.SparseCodes, what: str) -> list[Any]:
    """One entry per code, in the form `check_sparse` takes: an index array, or
    (indices, weights) when weights were sent. The engine checks the values."""
    lengths = np.array(msg.lengths, dtype=np.int64)
    nnz = int(lengths.sum())
    if len(msg.indices) != 4 * nnz:
        raise InvalidSparseError(
            f"{what}.indices holds {len(msg.indices)} bytes; lengths add up to {nnz} entries, "
            f"so expected {4 * nnz} bytes (little-endian uint32)"
        )
    if msg.weights and len(msg.weights) != 4 * nnz:
        raise InvalidSparseError(
            f"{what}.weights holds {len(msg.weights)} bytes; expected none or {4 * nnz} "
            f"(one little-endian float32 per index)"
        )
    if not len(lengths):
        return []  # no codes (np.split would make one empty code of them)
    cuts = np.cumsum(lengths)[:-1]
    indices = np.split(np.frombuffer(msg.indices, dtype=UINT32_LE).astype(np.int64), cuts)
    if not msg.weights:
        return indices
    weights = np.split(np.frombuffer(msg.weights, dtype=FLOAT32_LE), cuts)
    return list(zip(indices, weights))


def optional_sparse(request: Message, field: str) -> list[Any] | None:
    """A request's sparse codes field as the engine takes it: None when unset."""
    return sparse_from_proto(getattr(request, field), field) if request.HasField(field) else None


def sparse_only(request: pb.SearchRequest) -> bool:
    """A SearchRequest for sparse retrieval alone: a sparse_query and no queries."""
    return not request.HasField("queries") and request.HasField("sparse_query")


def hybrid_args(request: pb.SearchRequest) -> dict[str, Any]:
    """A SearchRequest's hybrid search fields as engine keywords (unset: left out, the engine's defaults)."""
    out: dict[str, Any] = {}
    if request.HasField("sparse_query"):
        out["sparse_query"] = sparse_from_proto(request.sparse_query, "sparse_query")
    for name in ("fusion", "rrf_k", "dense_weight"):
        if request.HasField(name):
            out[name] = getattr(request, name)
    return out


# -- filters ------------------------------------------------------------------------
#: canonical operator -> FieldCondition field
_OPERATOR_FIELDS = {"$eq": "eq", "$ne": "ne", "$in": "is_in", "$nin": "not_in",
                    "$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$exists": "exists"}
_FIELD_OPERATORS = {field: op for op, field in _OPERATOR_FIELDS.items()}
#: canonical combinator -> Filter field (a FilterList)
_LIST_FIELDS = {"$and": "all", "$or": "any"}
_LIST_COMBINATORS = {field: op for op, field in _LIST_FIELDS.items()}
_VALUE_CASES = ("string_value", "integer_value", "float_value", "bool_value")


def filter_to_proto(canonical: dict[str, Any]) -> pb.Filter:
    """A filter already in canonical form (`normalize_filter`), as a message."""
    msg = pb.Filter()
    _fill_filter(msg, canonical)
    return msg


def _fill_filter(msg: pb.Filter, spec: dict[str, Any]) -> None:
    if not spec:
        return  # {}: no case set
    ((key, value),) = spec.items()
    if key in _LIST_FIELDS:
        children = getattr(msg, _LIST_FIELDS[key])
        children.SetInParent()
        for child in value:
            _fill_filter(children.filters.add(), child)
    elif key == "$not":
        msg.negate.SetInParent()  # even when the negated filter is {}
        _fill_filter(msg.negate, value)
    else:
        ((op, operand),) = value.items()
        cond = msg.condition
        cond.key = key
        field = _OPERATOR_FIELDS[op]
        if op == "$exists":
            cond.exists = operand
        elif op in ("$in", "$nin"):
            values = getattr(cond, field)
            values.SetInParent()  # an empty list is a valid operand
            for v in operand:
                _fill_value(values.values.add(), v)
        else:
            _fill_value(getattr(cond, field), operand)


def _fill_value(msg: pb.Value, v: Any) -> None:
    if isinstance(v, bool):  # before int: bool is an int in Python
        msg.bool_value = v
    elif isinstance(v, int):
        msg.integer_value = v
    elif isinstance(v, float):
        msg.float_value = v
    elif isinstance(v, str):
        msg.string_value = v
    else:
        raise InvalidFilterError(f"filter value {v!r:.80} has no vecstore.v1 Value case; expected str, int, float or bool")


def filter_from_proto(msg: pb.Filter, where: str = "filter") -> dict[str, Any]:
    """The canonical dict of a message; the engine validates it like any filter.
    Only what the dict cannot say (an unset case) is rejected here."""
    kind = msg.WhichOneof("kind")
    if kind is None:
        return {}
    if kind in _LIST_COMBINATORS:
        children = getattr(msg, kind).filters
        return {_LIST_COMBINATORS[kind]: [filter_from_proto(c, f"{where}.{kind}[{i}]") for i, c in enumerate(children)]}
    if kind == "negate":
        return {"$not": filter_from_proto(msg.negate, f"{where}.negate")}
    cond = msg.condition
    field = cond.WhichOneof("op")
    if field is None:
        raise InvalidFilterError(
            f"{where}.condition (key {cond.key!r}) has no operator set; expected one of {list(_FIELD_OPERATORS)}"
        )
    op = _FIELD_OPERATORS[field]
    here = f"{where}.condition.{field}"
    if op == "$exists":
        operand: Any = cond.exists
    elif op in ("$in", "$nin"):
        operand = [_value_from_proto(v, f"{here}[{i}]") for i, v in enumerate(getattr(cond, field).values)]
    else:
        operand = _value_from_proto(getattr(cond, field), here)
    return {cond.key: {op: operand}}


def _value_from_proto(msg: pb.Value, where: str) -> Any:
    case = msg.WhichOneof("kind")
    if case is None:
        raise InvalidFilterError(f"{where}: Value has no case set; expected one of {list(_VALUE_CASES)}")
    return getattr(msg, case)


def optional_filter(request: Message) -> dict[str, Any] | None:
    """A request's `filter` field as the engine takes it: None when unset."""
    return filter_from_proto(request.filter) if request.HasField("filter") else None


# -- payload indexes -----------------------------------------------------------------
def index_kind_to_proto(kind: str) -> int:
    return enum_to_proto(pb.PayloadIndexKind.DESCRIPTOR, kind, "payload index kind")


def index_kind_from_proto(number: int) -> str:
    kind = enum_from_proto(pb.PayloadIndexKind.DESCRIPTOR, number, "payload index kind")
    if kind is None:
        raise InvalidConfigError(
            f"payload index kind is required: expected one of {enum_choices(pb.PayloadIndexKind.DESCRIPTOR)}"
        )
    return kind


def payload_indexes_to_proto(declared: dict[str, str]) -> pb.ListPayloadIndexesResponse:
    return pb.ListPayloadIndexesResponse(
        indexes=[pb.PayloadIndex(key=key, kind=index_kind_to_proto(kind)) for key, kind in sorted(declared.items())]
    )


def payload_indexes_from_proto(msg: pb.ListPayloadIndexesResponse) -> dict[str, str]:
    return {index.key: index_kind_from_proto(index.kind) for index in msg.indexes}


# -- results ----------------------------------------------------------------------
def points_to_proto(points: Points, dim: int, with_vectors: bool, with_payloads: bool,
                    message: type[Message] = pb.GetResponse) -> Message:
    """A GetResponse, or any message with the same ids/vectors/payloads fields."""
    return message(
        **id_fields(points.ids),
        vectors=vectors_to_proto(points.vectors) if with_vectors else pb.Vectors(dim=dim),
        payloads=[payload_to_bytes(p) for p in points.payloads] if with_payloads else [],
        stored_dtype=dtype_to_proto(points.stored_dtype),
    )


def points_from_proto(msg: Message, dim: int, with_vectors: bool, with_payloads: bool) -> Points:
    ids = ids_from_message(msg.point_ids) if msg.HasField("point_ids") else ids_from_proto(msg.ids)
    if with_vectors:
        vectors = vectors_from_proto(msg.vectors).astype(np.float32)  # a writable copy, like the engine's
    else:
        vectors = np.zeros((len(ids), 0), dtype=np.float32)
    payloads = [json.loads(p) if p else None for p in msg.payloads] if with_payloads else []
    if len(vectors) != len(ids) or (with_payloads and len(payloads) != len(ids)):
        raise InternalError(f"server sent {len(ids)} ids, {len(vectors)} vectors and {len(payloads)} payloads")
    return Points(ids=ids, vectors=vectors, payloads=payloads, stored_dtype=dtype_from_proto(msg.stored_dtype))


def scroll_page_to_proto(page: ScrollPage, dim: int, with_vectors: bool, with_payloads: bool) -> pb.ScrollResponse:
    msg = points_to_proto(page.points, dim, with_vectors, with_payloads, pb.ScrollResponse)
    if isinstance(page.next_cursor, str):
        msg.next_id.str_id = page.next_cursor
    elif page.next_cursor is not None:
        msg.next_cursor = page.next_cursor
    return msg


def scroll_page_from_proto(msg: pb.ScrollResponse, dim: int, with_vectors: bool, with_payloads: bool) -> ScrollPage:
    return ScrollPage(
        points=points_from_proto(msg, dim, with_vectors, with_payloads),
        next_cursor=(msg.next_id.str_id if msg.HasField("next_id") and msg.next_id.HasField("str_id")
                     else msg.next_cursor if msg.HasField("next_cursor") else None),
    )


def search_result_to_proto(result: SearchResult) -> pb.SearchResponse:
    """Padding (id -1, score NaN) stays off the wire: each query sends its real
    hits, with their payloads and vectors when the result has them."""
    msg = pb.SearchResponse(partial=result.partial)
    valid = _valid(result.ids)
    counts = valid.sum(axis=1)
    # whole-array tolist() is much cheaper than per-row conversions (hot path)
    ids, scores = result.ids.tolist(), result.scores.tolist()
    strs = result.ids.dtype == object
    if (valid == (np.arange(valid.shape[1]) < counts[:, None])).all():  # padding only at the ends
        if strs:
            for row_ids, row_scores, n in zip(ids, scores, counts.tolist()):
                msg.results.add(point_ids=pb.Ids(strs=pb.StringIds(values=row_ids[:n])), scores=row_scores[:n])
        else:
            for row_ids, row_scores, n in zip(ids, scores, counts.tolist()):
                msg.results.add(ids=row_ids[:n], scores=row_scores[:n])
    else:
        for row_ids, row_scores, keep in zip(ids, scores, valid.tolist()):
            kept = [i for i, v in zip(row_ids, keep) if v]
            msg.results.add(**id_fields(np.array(kept, dtype=object if strs else np.int64)),
                            scores=[x for x, v in zip(row_scores, keep) if v])
    if result.payloads is not None:
        for hits, row, keep in zip(msg.results, result.payloads, valid.tolist()):
            hits.payloads.extend([payload_to_bytes(p) for p, v in zip(row, keep) if v])
    if result.vectors is not None:
        for hits, rows, keep in zip(msg.results, result.vectors, valid):
            hits.vectors.CopyFrom(vectors_to_proto(rows[keep]))
    return msg


def search_result_from_proto(msg: pb.SearchResponse, k: int, dim: int = 0, with_payloads: bool = False,
                             with_vectors: bool = False, id_type: str = "int") -> SearchResult:
    """id_type: the collection's, which says the ids' container (and padding)
    even when no query has a hit."""
    nq = len(msg.results)
    strs = id_type == "str"
    ids = np.full((nq, k), None, dtype=object) if strs else np.full((nq, k), -1, dtype=np.int64)
    scores = np.full((nq, k), np.nan, dtype=np.float32)
    payloads = [[None] * k for _ in range(nq)] if with_payloads else None
    vectors = np.full((nq, k, dim), np.nan, dtype=np.float32) if with_vectors else None
    for i, hits in enumerate(msg.results):
        # lists convert faster than containers
        row_ids = list(hits.point_ids.strs.values) if strs else list(hits.ids)
        row_scores = list(hits.scores)
        n = len(row_ids)
        if n > k or len(row_scores) != n:
            raise InternalError(f"server sent {n} ids and {len(row_scores)} scores for query {i} with k={k}")
        if n:
            ids[i, :n] = row_ids
            scores[i, :n] = row_scores
        if with_payloads:
            if len(hits.payloads) != n:
                raise InternalError(f"server sent {n} ids and {len(hits.payloads)} payloads for query {i}")
            payloads[i][:n] = [json.loads(p) if p else None for p in hits.payloads]
        if with_vectors and n:
            rows = vectors_from_proto(hits.vectors)
            if rows.shape != (n, dim):
                raise InternalError(f"server sent {n} ids and vectors of shape {rows.shape} for query {i}")
            vectors[i, :n] = rows
    return SearchResult(ids=ids, scores=scores, payloads=payloads, vectors=vectors, partial=msg.partial)
