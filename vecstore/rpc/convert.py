"""Every conversion between vecstore values and vecstore.v1 messages.

The server and the client both convert through this module only, so a
config, a batch or a result means the same thing on both sides.

Configs convert generically. A quantization kind's field in the
`Quantization` oneof is named after the kind, and its message has the
config class's field names, so `to_dict()` fills it and
`quantization_from_dict()` (the engine's one serialization) reads it back:
a new kind needs its proto message and nothing here, unless a parameter has
a type the generic code does not know (a case then goes in `_fill`/`_read`).
Enums map by name: METRIC_COSINE <-> "cosine".
"""
from __future__ import annotations

import json
import re
from typing import Any, Sequence

import numpy as np
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message

from ..config import CollectionConfig, QuantizationConfig, quantization_from_dict
from ..errors import InternalError, InvalidConfigError, InvalidPayloadError, InvalidVectorError
from ..types import CollectionInfo, Points, SearchResult
from .v1 import vecstore_pb2 as pb

FLOAT32_LE = np.dtype("<f4")


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
    return pb.CollectionConfig(
        name=config.name,
        dim=config.dim,
        metric=enum_to_proto(pb.Metric.DESCRIPTOR, config.metric, "metric"),
        quantization=quantization_to_proto(config.quantization),
        vector_dtype=enum_to_proto(pb.VectorDtype.DESCRIPTOR, config.vector_dtype, "vector_dtype"),
    )


def config_from_proto(msg: pb.CollectionConfig) -> dict[str, Any]:
    """Keyword arguments of `create_collection` (the engine validates them)."""
    metric = enum_from_proto(pb.Metric.DESCRIPTOR, msg.metric, "metric")
    if metric is None:
        raise InvalidConfigError(f"metric is required: expected one of {enum_choices(pb.Metric.DESCRIPTOR)}")
    if not msg.HasField("quantization"):
        raise InvalidConfigError(f"quantization is required: set one of {wire_kinds()}")
    dtype = enum_from_proto(pb.VectorDtype.DESCRIPTOR, msg.vector_dtype, "vector_dtype")
    return {
        "name": msg.name,
        "dim": msg.dim,
        "metric": metric,
        "quantization": quantization_from_proto(msg.quantization),
        "vector_dtype": dtype or "float32",
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


def payloads_from_proto(raw: Sequence[bytes]) -> list[dict[str, Any] | None] | None:
    """Dicts for the engine; None for the whole batch when no payloads were sent."""
    if not len(raw):
        return None
    out: list[dict[str, Any] | None] = []
    for i, item in enumerate(raw):
        if not item:
            out.append(None)
            continue
        try:
            value = json.loads(item, parse_constant=_reject_constant)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidPayloadError(f"payload {i} is not valid UTF-8 JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidPayloadError(f"payload {i} must be a JSON object or empty, got {type(value).__name__}")
        out.append(value)
    return out


def payload_to_bytes(payload: dict[str, Any] | None) -> bytes:
    if payload is None:
        return b""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# -- results ----------------------------------------------------------------------
def points_to_proto(points: Points, dim: int, with_vectors: bool, with_payloads: bool) -> pb.GetResponse:
    return pb.GetResponse(
        ids=points.ids.tolist(),
        vectors=vectors_to_proto(points.vectors) if with_vectors else pb.Vectors(dim=dim),
        payloads=[payload_to_bytes(p) for p in points.payloads] if with_payloads else [],
    )


def points_from_proto(msg: pb.GetResponse, dim: int, with_vectors: bool, with_payloads: bool) -> Points:
    ids = ids_from_proto(msg.ids)
    if with_vectors:
        vectors = vectors_from_proto(msg.vectors).astype(np.float32)  # a writable copy, like the engine's
    else:
        vectors = np.zeros((len(ids), 0), dtype=np.float32)
    payloads = [json.loads(p) if p else None for p in msg.payloads] if with_payloads else []
    if len(vectors) != len(ids) or (with_payloads and len(payloads) != len(ids)):
        raise InternalError(f"server sent {len(ids)} ids, {len(vectors)} vectors and {len(payloads)} payloads")
    return Points(ids=ids, vectors=vectors, payloads=payloads)


def search_result_to_proto(result: SearchResult) -> pb.SearchResponse:
    """Padding (id -1, score NaN) stays off the wire: each query sends its real hits."""
    msg = pb.SearchResponse()
    valid = result.ids >= 0
    counts = valid.sum(axis=1)
    # whole-array tolist() is much cheaper than per-row conversions (hot path)
    ids, scores = result.ids.tolist(), result.scores.tolist()
    if (valid == (np.arange(valid.shape[1]) < counts[:, None])).all():  # padding only at the ends
        for row_ids, row_scores, n in zip(ids, scores, counts.tolist()):
            msg.results.add(ids=row_ids[:n], scores=row_scores[:n])
    else:
        for row_ids, row_scores, keep in zip(ids, scores, valid.tolist()):
            msg.results.add(ids=[i for i, v in zip(row_ids, keep) if v], scores=[x for x, v in zip(row_scores, keep) if v])
    return msg


def search_result_from_proto(msg: pb.SearchResponse, k: int) -> SearchResult:
    nq = len(msg.results)
    ids = np.full((nq, k), -1, dtype=np.int64)
    scores = np.full((nq, k), np.nan, dtype=np.float32)
    for i, hits in enumerate(msg.results):
        row_ids, row_scores = list(hits.ids), list(hits.scores)  # lists convert faster than containers
        n = len(row_ids)
        if n > k or len(row_scores) != n:
            raise InternalError(f"server sent {n} ids and {len(row_scores)} scores for query {i} with k={k}")
        if n:
            ids[i, :n] = row_ids
            scores[i, :n] = row_scores
    return SearchResult(ids=ids, scores=scores)
