"""The protocol: generated code is fresh, and every value converts both ways."""
import dataclasses
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vecstore import errors as E
from vecstore.config import METRICS, QUANTIZATION_KINDS, CollectionConfig
from vecstore.rpc import convert as C
from vecstore.rpc.v1 import vecstore_pb2 as pb
from vecstore.types import CollectionInfo, SearchResult

ROOT = Path(__file__).resolve().parent.parent


def test_generated_code_is_fresh(tmp_path):
    """Fails when proto/ changed without `make proto` (or the files were edited)."""
    out = subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("vecstore_pb2.py", "vecstore_pb2.pyi", "vecstore_pb2_grpc.py"):
        fresh = (tmp_path / "vecstore" / "rpc" / "v1" / name).read_bytes()
        committed = (ROOT / "vecstore" / "rpc" / "v1" / name).read_bytes()
        assert fresh == committed, f"vecstore/rpc/v1/{name} is stale: run `make proto`"


def all_enums():
    return list(pb.DESCRIPTOR.enum_types_by_name.values()) + [
        e for m in pb.DESCRIPTOR.message_types_by_name.values() for e in m.enum_types
    ]


def test_enum_zero_values_are_unspecified():
    assert all_enums()
    for enum in all_enums():
        assert enum.values_by_number[0].name.endswith("_UNSPECIFIED"), enum.name


def test_every_engine_metric_has_a_wire_value():
    for metric in METRICS:
        number = C.enum_to_proto(pb.Metric.DESCRIPTOR, metric, "metric")
        assert C.enum_from_proto(pb.Metric.DESCRIPTOR, number, "metric") == metric


def test_every_quantization_kind_has_a_oneof_case():
    """A kind registered in the engine but missing from the proto fails here."""
    assert set(QUANTIZATION_KINDS) <= set(C.wire_kinds())
    for kind, cls in QUANTIZATION_KINDS.items():
        message = pb.Quantization.DESCRIPTOR.fields_by_name[kind].message_type
        for field in dataclasses.fields(cls):
            wire = message.fields_by_name.get(field.name)
            assert wire is not None, f"{message.name} lacks {field.name}"
            # presence, so that "unset" means the engine's default, not zero
            assert wire.has_presence, f"{message.name}.{field.name} must be `optional`"


def candidates(cls, field):
    """Values other than the default to try for one parameter."""
    default = field.default
    if isinstance(default, bool):
        return [not default]
    if isinstance(default, int):
        return [default + 7, default + 1, default - 1]
    if isinstance(default, float):
        return [default + 2.5, default * 2]
    if isinstance(default, str):  # string choices travel as a proto enum: try its other values
        wire = pb.Quantization.DESCRIPTOR.fields_by_name[cls.kind].message_type.fields_by_name[field.name]
        assert wire.enum_type is not None, f"{cls.kind}.{field.name} is a string: the proto should use an enum"
        return [v for v in C.enum_choices(wire.enum_type) if v != default]
    return []


def non_default(cls):
    """A config of `cls` with every parameter changed from its default, where
    the class accepts another value (chosen one parameter at a time)."""
    values = {}
    for field in dataclasses.fields(cls):
        for value in candidates(cls, field):
            try:
                cls(**values, **{field.name: value})
            except E.InvalidConfigError:
                continue
            values[field.name] = value
            break
    return cls(**values)


@pytest.mark.parametrize("kind", sorted(QUANTIZATION_KINDS))
def test_quantization_round_trips(kind):
    cls = QUANTIZATION_KINDS[kind]
    changed = non_default(cls)
    assert changed != cls()
    for config in (cls(), changed):
        msg = C.quantization_to_proto(config)
        assert msg.WhichOneof("kind") == kind
        back = C.quantization_from_proto(pb.Quantization.FromString(msg.SerializeToString()))
        assert back == config and type(back) is cls


def test_unset_parameters_take_engine_defaults():
    msg = pb.Quantization(binary=pb.BinaryQuantization(oversampling=4))
    got = C.quantization_from_proto(msg)
    assert got == QUANTIZATION_KINDS["binary"](oversampling=4)


def test_bad_parameters_are_rejected_by_the_engine_rules():
    with pytest.raises(E.InvalidConfigError, match="oversampling"):
        C.quantization_from_proto(pb.Quantization(binary=pb.BinaryQuantization(oversampling=0.5)))
    with pytest.raises(E.InvalidConfigError, match="train_size"):
        C.quantization_from_proto(pb.Quantization(binary=pb.BinaryQuantization(train_size=0)))


@pytest.mark.parametrize("metric", METRICS)
def test_collection_config_round_trips(metric):
    config = CollectionConfig(name="docs", dim=384, metric=metric, quantization=non_default(QUANTIZATION_KINDS["binary"]))
    msg = pb.CollectionConfig.FromString(C.config_to_proto(config).SerializeToString())
    assert CollectionConfig(**C.config_from_proto(msg)) == config


def test_required_values_are_enforced():
    base = C.config_to_proto(CollectionConfig(name="docs", dim=4))
    no_metric = pb.CollectionConfig()
    no_metric.CopyFrom(base)
    no_metric.metric = pb.METRIC_UNSPECIFIED
    with pytest.raises(E.InvalidConfigError, match="metric is required"):
        C.config_from_proto(no_metric)
    no_quantization = pb.CollectionConfig()
    no_quantization.CopyFrom(base)
    no_quantization.ClearField("quantization")
    with pytest.raises(E.InvalidConfigError, match="quantization is required"):
        C.config_from_proto(no_quantization)
    with pytest.raises(E.InvalidConfigError, match="quantization is required"):
        C.quantization_from_proto(pb.Quantization())
    # vector_dtype is optional: unspecified means float32
    base.vector_dtype = pb.VECTOR_DTYPE_UNSPECIFIED
    assert C.config_from_proto(base)["vector_dtype"] == "float32"
    unknown = pb.CollectionConfig()
    unknown.CopyFrom(base)
    unknown.metric = 99
    with pytest.raises(E.InvalidConfigError, match="unknown metric value 99"):
        C.config_from_proto(unknown)


def test_vectors_are_little_endian_float32_rows():
    x = np.array([[1.5, -2.0, 3.25], [0.0, 1e-3, 7.0]], dtype=np.float32)
    msg = C.vectors_to_proto(x)
    assert msg.dim == 3
    assert msg.data == struct.pack("<6f", *x.ravel().tolist())
    back = C.vectors_from_proto(pb.Vectors.FromString(msg.SerializeToString()))
    assert back.shape == (2, 3) and back.tobytes() == x.tobytes()


@pytest.mark.parametrize("dim,data,message", [
    (3, b"\0" * 13, "not a whole number of rows"),
    (0, b"\0" * 12, "dim is 0"),
])
def test_malformed_vectors_are_rejected(dim, data, message):
    with pytest.raises(E.InvalidVectorError, match=message):
        C.vectors_from_proto(pb.Vectors(dim=dim, data=data))


def test_payloads_convert_and_bad_ones_are_rejected():
    assert C.payloads_from_proto([]) is None
    assert C.payloads_from_proto([b'{"n":1,"big":9007199254740993}', b""]) == [{"n": 1, "big": 9007199254740993}, None]
    for raw, message in [(b"[1]", "JSON object"), (b"{bad", "not valid"), (b'{"x": NaN}', "not valid"),
                         (b"\xff\xfe", "not valid")]:
        with pytest.raises(E.InvalidPayloadError, match=message):
            C.payloads_from_proto([raw])


def test_search_results_drop_padding_on_the_wire_and_restore_it():
    ids = np.array([[4, 2, -1], [7, -1, -1]], dtype=np.int64)
    scores = np.array([[0.9, 0.5, np.nan], [0.25, np.nan, np.nan]], dtype=np.float32)
    msg = C.search_result_to_proto(SearchResult(ids=ids, scores=scores))
    assert [list(h.ids) for h in msg.results] == [[4, 2], [7]]
    back = C.search_result_from_proto(pb.SearchResponse.FromString(msg.SerializeToString()), k=3)
    np.testing.assert_array_equal(back.ids, ids)
    np.testing.assert_array_equal(back.scores, scores)  # NaN == NaN here
    assert back.scores.dtype == np.float32 and back.ids.dtype == np.int64
    with pytest.raises(E.InternalError):
        C.search_result_from_proto(msg, k=1)  # more hits than asked for


def test_search_results_with_padding_inside_a_row_keep_only_real_hits():
    ids = np.array([[-1, 4, 2], [7, 8, 9]], dtype=np.int64)
    scores = np.array([[np.nan, 0.5, 0.25], [3, 2, 1]], dtype=np.float32)
    msg = C.search_result_to_proto(SearchResult(ids=ids, scores=scores))
    assert [list(h.ids) for h in msg.results] == [[4, 2], [7, 8, 9]]
    assert [list(h.scores) for h in msg.results] == [[0.5, 0.25], [3, 2, 1]]


def test_info_round_trips():
    config = CollectionConfig(name="docs", dim=8, metric="l2", quantization="none")
    info = CollectionInfo(config=config, count=3, trained=True, ram_bytes=123, disk_bytes=4096,
                          extra={"code_bytes": np.int64(32), "slots": 3})
    back = C.info_from_proto(pb.CollectionInfo.FromString(C.info_to_proto(info, 9).SerializeToString()))
    assert back == dataclasses.replace(info, extra={"code_bytes": 32, "slots": 3})


def wire_round_trip(canonical):
    msg = C.filter_to_proto(canonical)
    return C.filter_from_proto(pb.Filter.FromString(msg.SerializeToString()))


def test_filters_round_trip_in_canonical_form():
    import random

    from vecstore.api.filters import compile_filter, normalize_filter

    from filter_reference import random_filter

    r = random.Random(17)
    for _ in range(300):
        canonical = normalize_filter(random_filter(r))
        back = wire_round_trip(canonical)
        assert back == canonical
        assert compile_filter(back) == compile_filter(canonical)
    edge = [
        {},
        {"$not": {}},
        {"a": {"$in": []}},
        {"a": {"$nin": [True, 1, 1.0, "1"]}},
        {"a.b": {"$exists": False}},
        {"$or": [{"x": {"$gte": -(2**63)}}, {"x": {"$lte": 2**63 - 1}}, {"y": {"$lt": -0.0}}]},
        {"$and": [{"$not": {"$not": {"z": {"$gt": "2024-03"}}}}, {"k": {"$eq": "ünïcødé"}}]},
    ]
    for canonical in edge:
        assert normalize_filter(canonical) == canonical  # the cases are canonical
        back = wire_round_trip(canonical)
        assert back == canonical
        assert [type(v) for v in _leaves(back)] == [type(v) for v in _leaves(canonical)], canonical  # bool stays bool


def _leaves(spec):
    for key, value in spec.items():
        if key in ("$and", "$or"):
            for child in value:
                yield from _leaves(child)
        elif key == "$not":
            yield from _leaves(value)
        else:
            for operand in value.values():
                yield from (operand if isinstance(operand, list) else [operand])


def test_no_filter_and_the_empty_filter_differ_on_the_wire():
    assert not pb.CountRequest().HasField("filter")
    assert C.optional_filter(pb.CountRequest()) is None
    request = pb.CountRequest.FromString(pb.CountRequest(filter=C.filter_to_proto({})).SerializeToString())
    assert C.optional_filter(request) == {}  # {} matches every point; None is no filter


def test_filter_messages_from_other_clients_are_checked():
    no_value = pb.Filter(condition=pb.FieldCondition(key="a", eq=pb.Value()))
    with pytest.raises(E.InvalidFilterError, match=r"filter\.condition\.eq: Value has no case set"):
        C.filter_from_proto(no_value)
    no_op = pb.Filter(any=pb.FilterList(filters=[pb.Filter(), pb.Filter(condition=pb.FieldCondition(key="lang"))]))
    with pytest.raises(E.InvalidFilterError, match=r"filter\.any\[1\]\.condition \(key 'lang'\) has no operator set"):
        C.filter_from_proto(no_op)
    bad_list = pb.Filter(negate=pb.Filter(condition=pb.FieldCondition(key="a", is_in=pb.ValueList(values=[pb.Value(bool_value=True), pb.Value()]))))
    with pytest.raises(E.InvalidFilterError, match=r"filter\.negate\.condition\.is_in\[1\]"):
        C.filter_from_proto(bad_list)


def test_every_payload_index_kind_has_a_wire_value():
    from vecstore.api.indexes import INDEX_KINDS

    assert sorted(C.enum_choices(pb.PayloadIndexKind.DESCRIPTOR)) == sorted(INDEX_KINDS)
    declared = {kind + "_key": kind for kind in INDEX_KINDS}
    msg = pb.ListPayloadIndexesResponse.FromString(C.payload_indexes_to_proto(declared).SerializeToString())
    assert [i.key for i in msg.indexes] == sorted(declared)
    assert C.payload_indexes_from_proto(msg) == declared
    with pytest.raises(E.InvalidConfigError, match="payload index kind is required"):
        C.index_kind_from_proto(pb.PAYLOAD_INDEX_KIND_UNSPECIFIED)


@pytest.mark.parametrize("next_cursor", [None, 0, 2**63 - 1])
def test_scroll_pages_round_trip(next_cursor):
    from vecstore.types import Points, ScrollPage

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    page = ScrollPage(points=Points(ids=np.array([0, 5]), vectors=x, payloads=[{"a": [1, 2]}, None]), next_cursor=next_cursor)
    msg = pb.ScrollResponse.FromString(C.scroll_page_to_proto(page, 3, True, True).SerializeToString())
    back = C.scroll_page_from_proto(msg, 3, True, True)
    assert back.next_cursor == next_cursor  # 0 is a cursor, not "none"
    assert back.points.ids.tolist() == [0, 5] and back.points.vectors.tobytes() == x.tobytes()
    assert back.points.payloads == [{"a": [1, 2]}, None]
    bare = C.scroll_page_from_proto(C.scroll_page_to_proto(page, 3, False, False), 3, False, False)
    assert bare.points.vectors.shape == (2, 0) and bare.points.payloads == []


@pytest.mark.parametrize("ivf", [None, {}, {"nlist": 64, "nprobe": 3, "train_size": 5000}])
@pytest.mark.parametrize("kind", sorted(QUANTIZATION_KINDS))
def test_collection_config_round_trips_with_ivf_and_float16(kind, ivf):
    config = CollectionConfig(name="docs", dim=48, metric="dot", quantization=non_default(QUANTIZATION_KINDS[kind]),
                              vector_dtype="float16", ivf=ivf)
    msg = pb.CollectionConfig.FromString(C.config_to_proto(config).SerializeToString())
    assert msg.vector_dtype == pb.VECTOR_DTYPE_FLOAT16
    assert msg.HasField("ivf") == (ivf is not None)  # an all-default IVF is still IVF
    assert CollectionConfig(**C.config_from_proto(msg)) == config


def test_every_vector_dtype_has_a_wire_value():
    from vecstore.config import VECTOR_DTYPES

    assert sorted(C.enum_choices(pb.VectorDtype.DESCRIPTOR)) == sorted(VECTOR_DTYPES)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_points_carry_their_stored_dtype(dtype):
    from vecstore.types import Points

    points = Points(ids=np.array([1]), vectors=np.ones((1, 2), np.float32), payloads=[None], stored_dtype=dtype)
    msg = pb.GetResponse.FromString(C.points_to_proto(points, 2, True, True).SerializeToString())
    assert C.points_from_proto(msg, 2, True, True).stored_dtype == dtype


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_codes_round_trip_through_the_engines_checks(weighted):
    from vecstore.api.validate import check_sparse

    codes = [[5, 1, 9], [], [0], list(range(40, 60))]
    if weighted:
        codes = [(c, np.linspace(0.5, 2.0, len(c))) for c in codes]
    rows = check_sparse(codes, 4, dim=100, weighted=weighted, what="sparse")
    msg = pb.SparseCodes.FromString(C.sparse_to_proto(rows).SerializeToString())
    assert list(msg.lengths) == [3, 0, 1, 20] and len(msg.indices) == 4 * 24
    assert len(msg.weights) == (4 * 24 if weighted else 0)
    back = check_sparse(C.sparse_from_proto(msg, "sparse"), 4, dim=100, weighted=weighted, what="sparse")
    np.testing.assert_array_equal(back.indptr, rows.indptr)
    np.testing.assert_array_equal(back.indices, rows.indices)
    if weighted:
        assert back.weights.tobytes() == rows.weights.tobytes()
    assert C.optional_sparse(pb.SearchRequest(), "sparse_queries") is None  # unset: no codes, not zero codes
    empty = pb.SearchRequest(sparse_queries=pb.SparseCodes())
    assert C.optional_sparse(pb.SearchRequest.FromString(empty.SerializeToString()), "sparse_queries") == []


@pytest.mark.parametrize("msg,message", [
    (pb.SparseCodes(lengths=[2], indices=b"\0" * 4), r"sparse\.indices holds 4 bytes.*expected 8"),
    (pb.SparseCodes(lengths=[1], indices=b"\0" * 4, weights=b"\0" * 8), r"sparse\.weights holds 8 bytes"),
])
def test_malformed_sparse_codes_are_rejected(msg, message):
    with pytest.raises(E.InvalidSparseError, match=message):
        C.sparse_from_proto(msg, "sparse")
