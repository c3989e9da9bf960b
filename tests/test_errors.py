"""Every bad input gets a specific exception class, and nothing is written."""
import numpy as np
import pytest

import vecstore
from vecstore import errors as E


@pytest.fixture
def col(db, rng):
    c = db.create_collection("docs", dim=8, quantization=vecstore.BinaryQuantization(train_size=4))
    c.upsert(np.arange(10), rng.standard_normal((10, 8)), [{"i": i} for i in range(10)])
    return c


def unchanged(col):
    assert col.count() == 10
    assert col.get(np.arange(10)).payloads == [{"i": i} for i in range(10)]


BAD_UPSERTS = [
    ("wrong dim", dict(ids=[20], vectors=np.ones((1, 7))), E.DimensionMismatchError, "dim 7, collection 'docs' expects 8"),
    ("nan", dict(ids=[20, 21], vectors=np.array([[1.0] * 8, [np.nan] * 8])), E.InvalidVectorError, "NaN"),
    ("inf", dict(ids=[20], vectors=np.full((1, 8), np.inf)), E.InvalidVectorError, "NaN or Inf"),
    ("float32 overflow", dict(ids=[20], vectors=np.full((1, 8), 1e300)), E.InvalidVectorError, "overflows float32"),
    ("zero vector under cosine", dict(ids=[20], vectors=np.zeros((1, 8))), E.InvalidVectorError, "all zeros"),
    ("empty batch", dict(ids=[], vectors=np.zeros((0, 8))), E.EmptyBatchError, "empty"),
    ("length mismatch", dict(ids=[20, 21, 22], vectors=np.ones((2, 8))), E.LengthMismatchError, "3 ids but 2 vectors"),
    ("negative id", dict(ids=[20, -1], vectors=np.ones((2, 8))), E.InvalidIdError, "negative id -1"),
    ("duplicate ids", dict(ids=[20, 20], vectors=np.ones((2, 8))), E.InvalidIdError, "duplicate id 20"),
    ("float ids", dict(ids=[1.5], vectors=np.ones((1, 8))), E.InvalidIdError, "integers"),
    ("huge id", dict(ids=np.array([2**64 - 1], dtype=np.uint64), vectors=np.ones((1, 8))), E.InvalidIdError, "out of range"),
    ("string vectors", dict(ids=[20], vectors=[["a"] * 8]), E.InvalidVectorError, "numeric"),
    ("3-d vectors", dict(ids=[20], vectors=np.ones((1, 1, 8))), E.InvalidVectorError, "2-d"),
    ("payload count", dict(ids=[20, 21], vectors=np.ones((2, 8)), payloads=[{}]), E.LengthMismatchError, "payloads"),
    ("payload type", dict(ids=[20], vectors=np.ones((1, 8)), payloads=["x"]), E.InvalidPayloadError, "dict"),
    ("payload not json", dict(ids=[20], vectors=np.ones((1, 8)), payloads=[{"x": object()}]), E.InvalidPayloadError, "JSON"),
    ("payload nan", dict(ids=[20], vectors=np.ones((1, 8)), payloads=[{"x": float("nan")}]), E.InvalidPayloadError, "JSON"),
]


@pytest.mark.parametrize("case,kwargs,exc,message", BAD_UPSERTS, ids=[c[0] for c in BAD_UPSERTS])
def test_bad_upserts_are_rejected_whole(col, case, kwargs, exc, message):
    with pytest.raises(exc, match=message):
        col.upsert(**kwargs)
    assert issubclass(exc, ValueError)  # usable as the matching builtin
    unchanged(col)


BAD_SEARCHES = [
    ("k zero", dict(k=0), E.InvalidQueryError, "k must be"),
    ("k negative", dict(k=-3), E.InvalidQueryError, "k must be"),
    ("k float", dict(k=2.5), E.InvalidQueryError, "k must be"),
    ("k huge", dict(k=10**9), E.InvalidQueryError, "k must be"),
    ("oversampling < 1", dict(oversampling=0.5), E.InvalidQueryError, "oversampling"),
    ("oversampling nan", dict(oversampling=float("nan")), E.InvalidQueryError, "oversampling"),
    ("rescore not bool", dict(rescore="yes"), E.InvalidQueryError, "rescore"),
    ("query dim", dict(queries=np.ones((2, 9))), E.DimensionMismatchError, "query dim 9"),
    ("query nan", dict(queries=np.full((1, 8), np.nan)), E.InvalidVectorError, "NaN"),
    ("query zero", dict(queries=np.zeros(8)), E.InvalidVectorError, "all zeros"),
    ("no queries", dict(queries=np.zeros((0, 8))), E.EmptyBatchError, "no queries given"),
]


@pytest.mark.parametrize("case,kwargs,exc,message", BAD_SEARCHES, ids=[c[0] for c in BAD_SEARCHES])
def test_bad_searches(col, case, kwargs, exc, message):
    kwargs = {"queries": np.ones((1, 8)), **kwargs}
    with pytest.raises(exc, match=message):
        col.search(**kwargs)


def test_collection_errors(db):
    db.create_collection("docs", dim=4)
    with pytest.raises(E.CollectionExistsError, match="already exists"):
        db.create_collection("docs", dim=4)
    with pytest.raises(E.CollectionNotFoundError, match="nope"):
        db.get_collection("nope")
    with pytest.raises(KeyError):  # usable as the builtin
        db.get_collection("nope")
    with pytest.raises(E.CollectionNotFoundError):
        db.drop_collection("nope")


@pytest.mark.parametrize("name", ["", "a" * 65, "../etc", "a/b", ".hidden", "with space", "caf\u00e9", 42, None])
def test_invalid_names(db, name):
    with pytest.raises(E.InvalidNameError):
        db.create_collection(name, dim=4)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(dim=0), "dim"),
        (dict(dim=-1), "dim"),
        (dict(dim=2.5), "dim"),
        (dict(dim=4, metric="hamming"), "metric"),
        (dict(dim=4, quantization="pq9"), "unknown quantization kind 'pq9'"),
        (dict(dim=4, quantization={"kind": "binary", "bits": 3}), "bad parameters"),
        (dict(dim=4, quantization={"kind": "binary", "oversampling": 0}), "oversampling"),
        (dict(dim=4, quantization={"kind": "binary", "train_size": 0}), "train_size"),
        (dict(dim=4, quantization=3), "quantization must be"),
        (dict(dim=4, quantization={"kind": "binary", "scoring": "cosine"}), "scoring"),
        (dict(dim=4, quantization={"kind": "binary", "query_bits": 9}), "query_bits"),
        (dict(dim=4, vector_dtype="int8"), "vector_dtype"),
    ],
)
def test_invalid_collection_configs(db, kwargs, message):
    with pytest.raises(E.InvalidConfigError, match=message):
        db.create_collection("docs", **kwargs)
    assert db.list_collections() == []


def test_every_error_class_has_a_unique_code_and_a_status():
    statuses = {"INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED",
                "UNAUTHENTICATED", "PERMISSION_DENIED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "DATA_LOSS"}
    classes = list(E.ERRORS_BY_CODE.values())
    assert len({c.code for c in classes}) == len(classes)
    assert {c.status for c in classes} <= statuses
    assert E.ERRORS_BY_CODE["COLLECTION_NOT_FOUND"] is E.CollectionNotFoundError
