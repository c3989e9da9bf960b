from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Metric(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_UNSPECIFIED: _ClassVar[Metric]
    METRIC_COSINE: _ClassVar[Metric]
    METRIC_DOT: _ClassVar[Metric]
    METRIC_L2: _ClassVar[Metric]

class VectorDtype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VECTOR_DTYPE_UNSPECIFIED: _ClassVar[VectorDtype]
    VECTOR_DTYPE_FLOAT32: _ClassVar[VectorDtype]

class BinaryScoring(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BINARY_SCORING_UNSPECIFIED: _ClassVar[BinaryScoring]
    BINARY_SCORING_ASYMMETRIC: _ClassVar[BinaryScoring]
    BINARY_SCORING_HAMMING: _ClassVar[BinaryScoring]
METRIC_UNSPECIFIED: Metric
METRIC_COSINE: Metric
METRIC_DOT: Metric
METRIC_L2: Metric
VECTOR_DTYPE_UNSPECIFIED: VectorDtype
VECTOR_DTYPE_FLOAT32: VectorDtype
BINARY_SCORING_UNSPECIFIED: BinaryScoring
BINARY_SCORING_ASYMMETRIC: BinaryScoring
BINARY_SCORING_HAMMING: BinaryScoring

class Vectors(_message.Message):
    __slots__ = ("dim", "data")
    DIM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dim: int
    data: bytes
    def __init__(self, dim: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class NoQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ...) -> None: ...

class BinaryQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "center", "train_size", "scoring", "query_bits")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    CENTER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    QUERY_BITS_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    center: bool
    train_size: int
    scoring: BinaryScoring
    query_bits: int
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., center: _Optional[bool] = ..., train_size: _Optional[int] = ..., scoring: _Optional[_Union[BinaryScoring, str]] = ..., query_bits: _Optional[int] = ...) -> None: ...

class Quantization(_message.Message):
    __slots__ = ("none", "binary")
    NONE_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    none: NoQuantization
    binary: BinaryQuantization
    def __init__(self, none: _Optional[_Union[NoQuantization, _Mapping]] = ..., binary: _Optional[_Union[BinaryQuantization, _Mapping]] = ...) -> None: ...

class CollectionConfig(_message.Message):
    __slots__ = ("name", "dim", "metric", "quantization", "vector_dtype")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_DTYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    metric: Metric
    quantization: Quantization
    vector_dtype: VectorDtype
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., metric: _Optional[_Union[Metric, str]] = ..., quantization: _Optional[_Union[Quantization, _Mapping]] = ..., vector_dtype: _Optional[_Union[VectorDtype, str]] = ...) -> None: ...

class CollectionRef(_message.Message):
    __slots__ = ("name", "collection_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    collection_id: int
    def __init__(self, name: _Optional[str] = ..., collection_id: _Optional[int] = ...) -> None: ...

class CollectionDescription(_message.Message):
    __slots__ = ("config", "collection_id")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    config: CollectionConfig
    collection_id: int
    def __init__(self, config: _Optional[_Union[CollectionConfig, _Mapping]] = ..., collection_id: _Optional[int] = ...) -> None: ...

class CollectionInfo(_message.Message):
    __slots__ = ("collection", "count", "trained", "ram_bytes", "disk_bytes", "extra_json")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    TRAINED_FIELD_NUMBER: _ClassVar[int]
    RAM_BYTES_FIELD_NUMBER: _ClassVar[int]
    DISK_BYTES_FIELD_NUMBER: _ClassVar[int]
    EXTRA_JSON_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionDescription
    count: int
    trained: bool
    ram_bytes: int
    disk_bytes: int
    extra_json: bytes
    def __init__(self, collection: _Optional[_Union[CollectionDescription, _Mapping]] = ..., count: _Optional[int] = ..., trained: _Optional[bool] = ..., ram_bytes: _Optional[int] = ..., disk_bytes: _Optional[int] = ..., extra_json: _Optional[bytes] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: CollectionConfig
    def __init__(self, config: _Optional[_Union[CollectionConfig, _Mapping]] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionDescription
    def __init__(self, collection: _Optional[_Union[CollectionDescription, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetCollectionResponse(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionDescription
    def __init__(self, collection: _Optional[_Union[CollectionDescription, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("names",)
    NAMES_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, names: _Optional[_Iterable[str]] = ...) -> None: ...

class DropCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DropCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCollectionInfoRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ...) -> None: ...

class GetCollectionInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: CollectionInfo
    def __init__(self, info: _Optional[_Union[CollectionInfo, _Mapping]] = ...) -> None: ...

class OptimizeCollectionRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ...) -> None: ...

class OptimizeCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("collection", "ids", "vectors", "payloads")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: Vectors
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("written",)
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    written: int
    def __init__(self, written: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "ids", "with_vectors", "with_payloads")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    with_vectors: bool
    with_payloads: bool
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., with_vectors: _Optional[bool] = ..., with_payloads: _Optional[bool] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("ids", "vectors", "payloads")
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: Vectors
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "queries", "k", "oversampling", "rescore")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    queries: Vectors
    k: int
    oversampling: float
    rescore: bool
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., queries: _Optional[_Union[Vectors, _Mapping]] = ..., k: _Optional[int] = ..., oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ...) -> None: ...

class QueryHits(_message.Message):
    __slots__ = ("ids", "scores")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    scores: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., scores: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryHits]
    def __init__(self, results: _Optional[_Iterable[_Union[QueryHits, _Mapping]]] = ...) -> None: ...
