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

class IdType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ID_TYPE_UNSPECIFIED: _ClassVar[IdType]
    ID_TYPE_INT: _ClassVar[IdType]
    ID_TYPE_STR: _ClassVar[IdType]

class VectorDtype(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VECTOR_DTYPE_UNSPECIFIED: _ClassVar[VectorDtype]
    VECTOR_DTYPE_FLOAT32: _ClassVar[VectorDtype]
    VECTOR_DTYPE_FLOAT16: _ClassVar[VectorDtype]

class BinaryScoring(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BINARY_SCORING_UNSPECIFIED: _ClassVar[BinaryScoring]
    BINARY_SCORING_ASYMMETRIC: _ClassVar[BinaryScoring]
    BINARY_SCORING_HAMMING: _ClassVar[BinaryScoring]

class ScoringMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCORING_MODE_UNSPECIFIED: _ClassVar[ScoringMode]
    SCORING_MODE_ADC: _ClassVar[ScoringMode]
    SCORING_MODE_SDC: _ClassVar[ScoringMode]

class PayloadIndexKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYLOAD_INDEX_KIND_UNSPECIFIED: _ClassVar[PayloadIndexKind]
    PAYLOAD_INDEX_KIND_KEYWORD: _ClassVar[PayloadIndexKind]
    PAYLOAD_INDEX_KIND_INTEGER: _ClassVar[PayloadIndexKind]
    PAYLOAD_INDEX_KIND_FLOAT: _ClassVar[PayloadIndexKind]
METRIC_UNSPECIFIED: Metric
METRIC_COSINE: Metric
METRIC_DOT: Metric
METRIC_L2: Metric
ID_TYPE_UNSPECIFIED: IdType
ID_TYPE_INT: IdType
ID_TYPE_STR: IdType
VECTOR_DTYPE_UNSPECIFIED: VectorDtype
VECTOR_DTYPE_FLOAT32: VectorDtype
VECTOR_DTYPE_FLOAT16: VectorDtype
BINARY_SCORING_UNSPECIFIED: BinaryScoring
BINARY_SCORING_ASYMMETRIC: BinaryScoring
BINARY_SCORING_HAMMING: BinaryScoring
SCORING_MODE_UNSPECIFIED: ScoringMode
SCORING_MODE_ADC: ScoringMode
SCORING_MODE_SDC: ScoringMode
PAYLOAD_INDEX_KIND_UNSPECIFIED: PayloadIndexKind
PAYLOAD_INDEX_KIND_KEYWORD: PayloadIndexKind
PAYLOAD_INDEX_KIND_INTEGER: PayloadIndexKind
PAYLOAD_INDEX_KIND_FLOAT: PayloadIndexKind

class Vectors(_message.Message):
    __slots__ = ("dim", "data")
    DIM_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    dim: int
    data: bytes
    def __init__(self, dim: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class Ids(_message.Message):
    __slots__ = ("ints", "strs")
    INTS_FIELD_NUMBER: _ClassVar[int]
    STRS_FIELD_NUMBER: _ClassVar[int]
    ints: IntIds
    strs: StringIds
    def __init__(self, ints: _Optional[_Union[IntIds, _Mapping]] = ..., strs: _Optional[_Union[StringIds, _Mapping]] = ...) -> None: ...

class IntIds(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, values: _Optional[_Iterable[int]] = ...) -> None: ...

class StringIds(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, values: _Optional[_Iterable[str]] = ...) -> None: ...

class PointId(_message.Message):
    __slots__ = ("int_id", "str_id")
    INT_ID_FIELD_NUMBER: _ClassVar[int]
    STR_ID_FIELD_NUMBER: _ClassVar[int]
    int_id: int
    str_id: str
    def __init__(self, int_id: _Optional[int] = ..., str_id: _Optional[str] = ...) -> None: ...

class SparseCodes(_message.Message):
    __slots__ = ("lengths", "indices", "weights")
    LENGTHS_FIELD_NUMBER: _ClassVar[int]
    INDICES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    lengths: _containers.RepeatedScalarFieldContainer[int]
    indices: bytes
    weights: bytes
    def __init__(self, lengths: _Optional[_Iterable[int]] = ..., indices: _Optional[bytes] = ..., weights: _Optional[bytes] = ...) -> None: ...

class NoQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ...) -> None: ...

class BinaryQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "center", "train_size", "scoring", "query_bits", "margin")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    CENTER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    SCORING_FIELD_NUMBER: _ClassVar[int]
    QUERY_BITS_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    center: bool
    train_size: int
    scoring: BinaryScoring
    query_bits: int
    margin: float
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., center: _Optional[bool] = ..., train_size: _Optional[int] = ..., scoring: _Optional[_Union[BinaryScoring, str]] = ..., query_bits: _Optional[int] = ..., margin: _Optional[float] = ...) -> None: ...

class ResidualBinaryQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "bits", "mode", "query_bits", "train_size")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    QUERY_BITS_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    bits: int
    mode: ScoringMode
    query_bits: int
    train_size: int
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., bits: _Optional[int] = ..., mode: _Optional[_Union[ScoringMode, str]] = ..., query_bits: _Optional[int] = ..., train_size: _Optional[int] = ...) -> None: ...

class ProductQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "m", "nbits", "mode", "train_size")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    NBITS_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    m: int
    nbits: int
    mode: ScoringMode
    train_size: int
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., m: _Optional[int] = ..., nbits: _Optional[int] = ..., mode: _Optional[_Union[ScoringMode, str]] = ..., train_size: _Optional[int] = ...) -> None: ...

class ScalarQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "train_size")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    train_size: int
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., train_size: _Optional[int] = ...) -> None: ...

class SparseQuantization(_message.Message):
    __slots__ = ("oversampling", "rescore", "expansion_dim", "active", "query_active", "seed", "center", "train_size", "user_codes", "weighted")
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    EXPANSION_DIM_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    QUERY_ACTIVE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CENTER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    USER_CODES_FIELD_NUMBER: _ClassVar[int]
    WEIGHTED_FIELD_NUMBER: _ClassVar[int]
    oversampling: float
    rescore: bool
    expansion_dim: int
    active: int
    query_active: int
    seed: int
    center: bool
    train_size: int
    user_codes: bool
    weighted: bool
    def __init__(self, oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., expansion_dim: _Optional[int] = ..., active: _Optional[int] = ..., query_active: _Optional[int] = ..., seed: _Optional[int] = ..., center: _Optional[bool] = ..., train_size: _Optional[int] = ..., user_codes: _Optional[bool] = ..., weighted: _Optional[bool] = ...) -> None: ...

class Quantization(_message.Message):
    __slots__ = ("none", "binary", "residual_binary", "pq", "scalar", "sparse")
    NONE_FIELD_NUMBER: _ClassVar[int]
    BINARY_FIELD_NUMBER: _ClassVar[int]
    RESIDUAL_BINARY_FIELD_NUMBER: _ClassVar[int]
    PQ_FIELD_NUMBER: _ClassVar[int]
    SCALAR_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    none: NoQuantization
    binary: BinaryQuantization
    residual_binary: ResidualBinaryQuantization
    pq: ProductQuantization
    scalar: ScalarQuantization
    sparse: SparseQuantization
    def __init__(self, none: _Optional[_Union[NoQuantization, _Mapping]] = ..., binary: _Optional[_Union[BinaryQuantization, _Mapping]] = ..., residual_binary: _Optional[_Union[ResidualBinaryQuantization, _Mapping]] = ..., pq: _Optional[_Union[ProductQuantization, _Mapping]] = ..., scalar: _Optional[_Union[ScalarQuantization, _Mapping]] = ..., sparse: _Optional[_Union[SparseQuantization, _Mapping]] = ...) -> None: ...

class IVFConfig(_message.Message):
    __slots__ = ("nlist", "nprobe", "train_size", "rebalance", "rebalance_error", "rebalance_imbalance")
    NLIST_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    TRAIN_SIZE_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_ERROR_FIELD_NUMBER: _ClassVar[int]
    REBALANCE_IMBALANCE_FIELD_NUMBER: _ClassVar[int]
    nlist: int
    nprobe: int
    train_size: int
    rebalance: bool
    rebalance_error: float
    rebalance_imbalance: float
    def __init__(self, nlist: _Optional[int] = ..., nprobe: _Optional[int] = ..., train_size: _Optional[int] = ..., rebalance: _Optional[bool] = ..., rebalance_error: _Optional[float] = ..., rebalance_imbalance: _Optional[float] = ...) -> None: ...

class CollectionConfig(_message.Message):
    __slots__ = ("name", "dim", "metric", "quantization", "vector_dtype", "ivf", "vectors_in_ram", "sparse_vectors", "id_type")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    QUANTIZATION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_DTYPE_FIELD_NUMBER: _ClassVar[int]
    IVF_FIELD_NUMBER: _ClassVar[int]
    VECTORS_IN_RAM_FIELD_NUMBER: _ClassVar[int]
    SPARSE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    ID_TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dim: int
    metric: Metric
    quantization: Quantization
    vector_dtype: VectorDtype
    ivf: IVFConfig
    vectors_in_ram: bool
    sparse_vectors: SparseVectorsConfig
    id_type: IdType
    def __init__(self, name: _Optional[str] = ..., dim: _Optional[int] = ..., metric: _Optional[_Union[Metric, str]] = ..., quantization: _Optional[_Union[Quantization, _Mapping]] = ..., vector_dtype: _Optional[_Union[VectorDtype, str]] = ..., ivf: _Optional[_Union[IVFConfig, _Mapping]] = ..., vectors_in_ram: _Optional[bool] = ..., sparse_vectors: _Optional[_Union[SparseVectorsConfig, _Mapping]] = ..., id_type: _Optional[_Union[IdType, str]] = ...) -> None: ...

class SparseVectorsConfig(_message.Message):
    __slots__ = ("vocab_size",)
    VOCAB_SIZE_FIELD_NUMBER: _ClassVar[int]
    vocab_size: int
    def __init__(self, vocab_size: _Optional[int] = ...) -> None: ...

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

class Filter(_message.Message):
    __slots__ = ("condition", "all", "any", "negate")
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    NEGATE_FIELD_NUMBER: _ClassVar[int]
    condition: FieldCondition
    all: FilterList
    any: FilterList
    negate: Filter
    def __init__(self, condition: _Optional[_Union[FieldCondition, _Mapping]] = ..., all: _Optional[_Union[FilterList, _Mapping]] = ..., any: _Optional[_Union[FilterList, _Mapping]] = ..., negate: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class FilterList(_message.Message):
    __slots__ = ("filters",)
    FILTERS_FIELD_NUMBER: _ClassVar[int]
    filters: _containers.RepeatedCompositeFieldContainer[Filter]
    def __init__(self, filters: _Optional[_Iterable[_Union[Filter, _Mapping]]] = ...) -> None: ...

class FieldCondition(_message.Message):
    __slots__ = ("key", "eq", "ne", "is_in", "not_in", "gt", "gte", "lt", "lte", "exists")
    KEY_FIELD_NUMBER: _ClassVar[int]
    EQ_FIELD_NUMBER: _ClassVar[int]
    NE_FIELD_NUMBER: _ClassVar[int]
    IS_IN_FIELD_NUMBER: _ClassVar[int]
    NOT_IN_FIELD_NUMBER: _ClassVar[int]
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    key: str
    eq: Value
    ne: Value
    is_in: ValueList
    not_in: ValueList
    gt: Value
    gte: Value
    lt: Value
    lte: Value
    exists: bool
    def __init__(self, key: _Optional[str] = ..., eq: _Optional[_Union[Value, _Mapping]] = ..., ne: _Optional[_Union[Value, _Mapping]] = ..., is_in: _Optional[_Union[ValueList, _Mapping]] = ..., not_in: _Optional[_Union[ValueList, _Mapping]] = ..., gt: _Optional[_Union[Value, _Mapping]] = ..., gte: _Optional[_Union[Value, _Mapping]] = ..., lt: _Optional[_Union[Value, _Mapping]] = ..., lte: _Optional[_Union[Value, _Mapping]] = ..., exists: _Optional[bool] = ...) -> None: ...

class Value(_message.Message):
    __slots__ = ("string_value", "integer_value", "float_value", "bool_value")
    STRING_VALUE_FIELD_NUMBER: _ClassVar[int]
    INTEGER_VALUE_FIELD_NUMBER: _ClassVar[int]
    FLOAT_VALUE_FIELD_NUMBER: _ClassVar[int]
    BOOL_VALUE_FIELD_NUMBER: _ClassVar[int]
    string_value: str
    integer_value: int
    float_value: float
    bool_value: bool
    def __init__(self, string_value: _Optional[str] = ..., integer_value: _Optional[int] = ..., float_value: _Optional[float] = ..., bool_value: _Optional[bool] = ...) -> None: ...

class ValueList(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, values: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class PayloadIndex(_message.Message):
    __slots__ = ("key", "kind")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    key: str
    kind: PayloadIndexKind
    def __init__(self, key: _Optional[str] = ..., kind: _Optional[_Union[PayloadIndexKind, str]] = ...) -> None: ...

class CreateSnapshotRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CreateSnapshotResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("config", "shards", "replicas")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    config: CollectionConfig
    shards: int
    replicas: int
    def __init__(self, config: _Optional[_Union[CollectionConfig, _Mapping]] = ..., shards: _Optional[int] = ..., replicas: _Optional[int] = ...) -> None: ...

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

class CreatePayloadIndexRequest(_message.Message):
    __slots__ = ("collection", "key", "kind")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    key: str
    kind: PayloadIndexKind
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., key: _Optional[str] = ..., kind: _Optional[_Union[PayloadIndexKind, str]] = ...) -> None: ...

class CreatePayloadIndexResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DropPayloadIndexRequest(_message.Message):
    __slots__ = ("collection", "key")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    key: str
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., key: _Optional[str] = ...) -> None: ...

class DropPayloadIndexResponse(_message.Message):
    __slots__ = ("dropped",)
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    dropped: bool
    def __init__(self, dropped: _Optional[bool] = ...) -> None: ...

class ListPayloadIndexesRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ...) -> None: ...

class ListPayloadIndexesResponse(_message.Message):
    __slots__ = ("indexes",)
    INDEXES_FIELD_NUMBER: _ClassVar[int]
    indexes: _containers.RepeatedCompositeFieldContainer[PayloadIndex]
    def __init__(self, indexes: _Optional[_Iterable[_Union[PayloadIndex, _Mapping]]] = ...) -> None: ...

class UpsertRequest(_message.Message):
    __slots__ = ("collection", "ids", "vectors", "payloads", "sparse", "sparse_vectors", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    SPARSE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_VECTORS_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: Vectors
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    sparse: SparseCodes
    sparse_vectors: SparseCodes
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., sparse: _Optional[_Union[SparseCodes, _Mapping]] = ..., sparse_vectors: _Optional[_Union[SparseCodes, _Mapping]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class UpsertResponse(_message.Message):
    __slots__ = ("written",)
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    written: int
    def __init__(self, written: _Optional[int] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "ids", "with_vectors", "with_payloads", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    with_vectors: bool
    with_payloads: bool
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., with_vectors: _Optional[bool] = ..., with_payloads: _Optional[bool] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("ids", "vectors", "payloads", "stored_dtype", "point_ids")
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    STORED_DTYPE_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: Vectors
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    stored_dtype: VectorDtype
    point_ids: Ids
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., stored_dtype: _Optional[_Union[VectorDtype, str]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "ids", "filter", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    filter: Filter
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("collection", "filter")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    filter: Filter
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "queries", "k", "oversampling", "rescore", "filter", "nprobe", "sparse_queries", "margin", "with_payloads", "with_vectors", "sparse_query", "fusion", "rrf_k", "dense_weight")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    SPARSE_QUERIES_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    SPARSE_QUERY_FIELD_NUMBER: _ClassVar[int]
    FUSION_FIELD_NUMBER: _ClassVar[int]
    RRF_K_FIELD_NUMBER: _ClassVar[int]
    DENSE_WEIGHT_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    queries: Vectors
    k: int
    oversampling: float
    rescore: bool
    filter: Filter
    nprobe: int
    sparse_queries: SparseCodes
    margin: float
    with_payloads: bool
    with_vectors: bool
    sparse_query: SparseCodes
    fusion: str
    rrf_k: float
    dense_weight: float
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., queries: _Optional[_Union[Vectors, _Mapping]] = ..., k: _Optional[int] = ..., oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., nprobe: _Optional[int] = ..., sparse_queries: _Optional[_Union[SparseCodes, _Mapping]] = ..., margin: _Optional[float] = ..., with_payloads: _Optional[bool] = ..., with_vectors: _Optional[bool] = ..., sparse_query: _Optional[_Union[SparseCodes, _Mapping]] = ..., fusion: _Optional[str] = ..., rrf_k: _Optional[float] = ..., dense_weight: _Optional[float] = ...) -> None: ...

class SearchByIdRequest(_message.Message):
    __slots__ = ("collection", "ids", "k", "oversampling", "rescore", "filter", "nprobe", "margin", "with_payloads", "with_vectors", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    OVERSAMPLING_FIELD_NUMBER: _ClassVar[int]
    RESCORE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    k: int
    oversampling: float
    rescore: bool
    filter: Filter
    nprobe: int
    margin: float
    with_payloads: bool
    with_vectors: bool
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., k: _Optional[int] = ..., oversampling: _Optional[float] = ..., rescore: _Optional[bool] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., nprobe: _Optional[int] = ..., margin: _Optional[float] = ..., with_payloads: _Optional[bool] = ..., with_vectors: _Optional[bool] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class QueryHits(_message.Message):
    __slots__ = ("ids", "scores", "payloads", "vectors", "point_ids")
    IDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    scores: _containers.RepeatedScalarFieldContainer[float]
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    vectors: Vectors
    point_ids: Ids
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., scores: _Optional[_Iterable[float]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results", "partial")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[QueryHits]
    partial: bool
    def __init__(self, results: _Optional[_Iterable[_Union[QueryHits, _Mapping]]] = ..., partial: _Optional[bool] = ...) -> None: ...

class ScrollRequest(_message.Message):
    __slots__ = ("collection", "limit", "after", "filter", "with_vectors", "with_payloads", "after_id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    WITH_PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    AFTER_ID_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    limit: int
    after: int
    filter: Filter
    with_vectors: bool
    with_payloads: bool
    after_id: PointId
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., limit: _Optional[int] = ..., after: _Optional[int] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., with_vectors: _Optional[bool] = ..., with_payloads: _Optional[bool] = ..., after_id: _Optional[_Union[PointId, _Mapping]] = ...) -> None: ...

class ScrollResponse(_message.Message):
    __slots__ = ("ids", "vectors", "payloads", "next_cursor", "stored_dtype", "point_ids", "next_id")
    IDS_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    PAYLOADS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    STORED_DTYPE_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ID_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[int]
    vectors: Vectors
    payloads: _containers.RepeatedScalarFieldContainer[bytes]
    next_cursor: int
    stored_dtype: VectorDtype
    point_ids: Ids
    next_id: PointId
    def __init__(self, ids: _Optional[_Iterable[int]] = ..., vectors: _Optional[_Union[Vectors, _Mapping]] = ..., payloads: _Optional[_Iterable[bytes]] = ..., next_cursor: _Optional[int] = ..., stored_dtype: _Optional[_Union[VectorDtype, str]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ..., next_id: _Optional[_Union[PointId, _Mapping]] = ...) -> None: ...

class SetPayloadRequest(_message.Message):
    __slots__ = ("collection", "ids", "payload", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    payload: bytes
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., payload: _Optional[bytes] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class SetPayloadResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: int
    def __init__(self, changed: _Optional[int] = ...) -> None: ...

class OverwritePayloadRequest(_message.Message):
    __slots__ = ("collection", "ids", "payload", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    payload: bytes
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., payload: _Optional[bytes] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class OverwritePayloadResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: int
    def __init__(self, changed: _Optional[int] = ...) -> None: ...

class DeletePayloadKeysRequest(_message.Message):
    __slots__ = ("collection", "ids", "keys", "point_ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    POINT_IDS_FIELD_NUMBER: _ClassVar[int]
    collection: CollectionRef
    ids: _containers.RepeatedScalarFieldContainer[int]
    keys: _containers.RepeatedScalarFieldContainer[str]
    point_ids: Ids
    def __init__(self, collection: _Optional[_Union[CollectionRef, _Mapping]] = ..., ids: _Optional[_Iterable[int]] = ..., keys: _Optional[_Iterable[str]] = ..., point_ids: _Optional[_Union[Ids, _Mapping]] = ...) -> None: ...

class DeletePayloadKeysResponse(_message.Message):
    __slots__ = ("changed",)
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    changed: int
    def __init__(self, changed: _Optional[int] = ...) -> None: ...
