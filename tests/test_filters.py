"""Filters: every operator and combinator against an independent evaluation,
with and without payload indexes; malformed filters; the canonical form."""
import random

import numpy as np
import pytest

import vecstore
from vecstore.api.filters import compile_filter, normalize_filter

from filter_reference import random_filter, random_payload, reference_match

N_POINTS = 400
INDEXES = {"i": "integer", "f": "float", "s": "keyword", "n.a": "integer", "people.name": "keyword", "people.age": "float"}


@pytest.fixture
def points():
    r = random.Random(7)
    return [random_payload(r) for _ in range(N_POINTS)]


def load(db, payloads, name="docs"):
    col = db.create_collection(name, dim=4, quantization="none")
    rng = np.random.default_rng(0)
    col.upsert(np.arange(len(payloads)) * 3, rng.standard_normal((len(payloads), 4)) + 0.1, payloads)
    return col


def expected_ids(payloads, flt):
    return [3 * i for i, p in enumerate(payloads) if reference_match(p, flt)]


def selected(col, flt):
    page = col.scroll(10_000, filter=flt, with_payloads=False)
    assert page.next_cursor is None
    return page.points.ids.tolist()


@pytest.mark.parametrize("indexed", ["none", "some", "all"])
def test_random_filters_match_reference(db, points, indexed):
    col = load(db, points)
    chosen = {"none": {}, "some": {"i": "integer", "s": "keyword"}, "all": INDEXES}[indexed]
    for key, kind in chosen.items():
        col.create_payload_index(key, kind)
    r = random.Random(11)
    nonempty = 0
    for _ in range(250):
        flt = random_filter(r)
        want = expected_ids(points, flt)
        nonempty += 0 < len(want) < N_POINTS
        assert selected(col, flt) == want, flt
        assert col.count(filter=flt) == len(want), flt
    assert nonempty > 100  # the generator makes filters that actually discriminate


OPERATOR_CASES = [
    ({"tenant": 42}, [0, 3]),
    ({"tenant": 42.0}, [0, 3]),  # numbers compare by value
    ({"tenant": {"$ne": 42}}, [1, 2, 4, 5, 6, 7]),  # missing fields count as "not equal"
    ({"tenant": {"$in": [7, 42]}}, [0, 1, 3]),
    ({"tenant": {"$nin": [7, 42]}}, [2, 4, 5, 6, 7]),
    ({"year": {"$gte": 2020, "$lt": 2024}}, [0, 2]),
    ({"year": {"$gt": 2020}}, [2, 3]),
    ({"year": {"$lte": 2019.5}}, [1]),
    ({"lang": {"$gte": "en", "$lte": "fr"}}, [0, 2, 3]),  # strings by code point
    ({"lang": {"$gt": "de", "$lt": "fr"}}, [0, 2]),
    ({"lang": {"$exists": True}}, [0, 1, 2, 3, 6]),
    ({"lang": {"$exists": False}}, [4, 5, 7]),
    ({"tags": "red"}, [0, 1]),  # a list holds a value if any element equals it
    ({"tags": {"$nin": ["red"]}}, [2, 3, 4, 5, 6, 7]),
    ({"meta.score": {"$gt": 0.5}}, [1, 3]),  # dotted keys
    ({"authors.name": "ann"}, [2, 6]),  # lists of objects on the way
    ({"flag": True}, [4]),  # booleans are not numbers
    ({"flag": 1}, [5]),
    ({"$or": [{"lang": "en"}, {"lang": {"$in": ["de", "fr"]}}]}, [0, 1, 2, 3]),
    ({"$and": [{"tenant": 42}, {"year": {"$lt": 2021}}]}, [0]),
    ({"$not": {"tenant": 42}}, [1, 2, 4, 5, 6, 7]),
    ({"year": {"$not": {"$gt": 2020}}}, [0, 1, 4, 5, 6, 7]),
    ({"tenant": 42, "lang": "en"}, [0]),
    ({}, [0, 1, 2, 3, 4, 5, 6, 7]),
]

OPERATOR_PAYLOADS = [
    {"tenant": 42, "year": 2020, "lang": "en", "tags": ["red", "blue"]},
    {"tenant": 7, "year": 2019, "lang": "de", "tags": "red", "meta": {"score": 0.9}},
    {"tenant": "42", "year": 2023, "lang": "en", "meta": {"score": 0.1}, "authors": [{"name": "ann"}, {"name": "bo"}]},
    {"tenant": 42.0, "year": 2024.5, "lang": "fr", "meta": {"score": 0.6}},
    {"flag": True},
    {"flag": 1},
    {"lang": None, "authors": {"name": "ann"}},
    None,
]


@pytest.mark.parametrize("flt,want", OPERATOR_CASES, ids=[str(c[0]) for c in OPERATOR_CASES])
@pytest.mark.parametrize("indexed", [False, True])
def test_each_operator(db, flt, want, indexed):
    col = db.create_collection("docs", dim=2, quantization="none")
    col.upsert(np.arange(8), np.ones((8, 2)), OPERATOR_PAYLOADS)
    if indexed:
        for key, kind in [("tenant", "integer"), ("year", "float"), ("lang", "keyword"), ("tags", "keyword"),
                          ("meta.score", "float"), ("authors.name", "keyword"), ("flag", "integer")]:
            col.create_payload_index(key, kind)
    assert [reference_match(p, flt) for p in OPERATOR_PAYLOADS] == [i in want for i in range(8)]
    assert selected(col, flt) == want
    assert col.count(filter=flt) == len(want)


MALFORMED = [
    ([("lang", "en")], "filter: expected a filter object"),
    ({"$or": []}, "filter['$or']: $or takes a non-empty list"),
    ({"$or": {"a": 1}}, "filter['$or']: $or takes a non-empty list"),
    ({"$or": [{"lang": "en"}, {"lang": {"$inn": ["de"]}}]}, "filter['$or'][1]['lang']['$inn']: unknown operator '$inn'"),
    ({"$xor": [{"a": 1}]}, "filter['$xor']: unknown operator"),
    ({"$gt": 5}, "filter['$gt']: $gt needs a field"),
    ({"a": None}, "filter['a']: null is not a filter value"),
    ({"a": [1, 2]}, "filter['a']: a list is not a value here; use {'$in'"),
    ({"a": {"b": 1}}, "filter['a']: an object is not a valid value; to filter on nested fields use dotted keys such as 'a.b'"),
    ({"a": {"$gt": 1, "b": 2}}, "filter['a']: mixes operators and field names"),
    ({"a": {}}, "filter['a']: empty operator object"),
    ({"a": {"$in": "abc"}}, "filter['a']['$in']: $in takes a list"),
    ({"a": {"$nin": [1, None]}}, "filter['a']['$nin'][1]: null"),
    ({"a": {"$gt": True}}, "filter['a']['$gt']: $gt compares numbers or strings"),
    ({"a": {"$lt": [3]}}, "filter['a']['$lt']: a list is not a value"),
    ({"a": {"$exists": "yes"}}, "filter['a']['$exists']: $exists takes true or false"),
    ({"a": {"$not": 3}}, "filter['a']['$not']: $not on a field takes an operator object"),
    ({"a": float("nan")}, "filter['a']: nan is not a finite number"),
    ({"a": 2**64}, "filter['a']: integer 18446744073709551616 does not fit in 64 bits"),
    ({"a": object()}, "filter['a']: expected a string, number or bool"),
    ({"a..b": 1}, "filter['a..b']: key 'a..b' has an empty part"),
    ({"": 1}, "filter['']: key must be 1-256 characters"),
    ({"a.$b": 1}, "filter['a.$b']: '$b' is not a field name"),
    ({3: 1}, "filter[3]: keys must be strings"),
    ({"$not": [{"a": 1}]}, "filter['$not']: expected a filter object"),
    ({"$and": [{"a": 1}, "b"]}, "filter['$and'][1]: expected a filter object"),
]


@pytest.mark.parametrize("flt,message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_filters_name_the_bad_part(db, flt, message):
    col = db.create_collection("docs", dim=2, quantization="none")
    col.upsert([1, 2], np.ones((2, 2)), [{"a": 1}, {"a": 2}])
    calls = [
        lambda: col.search(np.ones(2), k=1, filter=flt),
        lambda: col.count(filter=flt),
        lambda: col.scroll(10, filter=flt),
        lambda: col.delete(filter=flt),
    ]
    for call in calls:
        with pytest.raises(vecstore.InvalidFilterError) as info:
            call()
        assert message in str(info.value)
        assert isinstance(info.value, vecstore.InvalidArgumentError) and info.value.status == "INVALID_ARGUMENT"
    assert col.count() == 2  # the delete wrote nothing


def test_too_deep_and_too_large_filters_are_rejected():
    deep = {"a": 1}
    for _ in range(40):
        deep = {"$not": deep}
    with pytest.raises(vecstore.InvalidFilterError, match="deeper than 32"):
        compile_filter(deep)
    with pytest.raises(vecstore.InvalidFilterError, match="too large"):
        compile_filter({"a": {"$in": list(range(70_000))}})


def test_numpy_values_are_accepted():
    assert compile_filter({"a": np.int64(3), "b": {"$in": np.array([1, 2])}, "c": np.float32(0.5)}) == compile_filter(
        {"a": 3, "b": {"$in": [1, 2]}, "c": 0.5}
    )


def test_canonical_form_round_trips_and_is_proto_shaped():
    r = random.Random(3)
    for _ in range(200):
        flt = random_filter(r)
        canon = normalize_filter(flt)
        assert compile_filter(canon) == compile_filter(flt)
        assert normalize_filter(canon) == canon
        assert_proto_shaped(canon)
    assert normalize_filter({"year": {"$gte": 2020, "$lt": 2024}, "lang": {"$ne": "en"}}) == {
        "$and": [{"year": {"$gte": 2020}}, {"year": {"$lt": 2024}}, {"lang": {"$ne": "en"}}]
    }
    assert normalize_filter({}) == {} and normalize_filter(None) is None


def assert_proto_shaped(node):
    """Each object is exactly one of: {} | {"$and"/"$or": [...]} | {"$not": {...}} | {key: {op: value}}."""
    assert isinstance(node, dict) and len(node) <= 1
    if not node:
        return
    (key, value), = node.items()
    if key in ("$and", "$or"):
        assert isinstance(value, list) and value
        for child in value:
            assert_proto_shaped(child)
    elif key == "$not":
        assert_proto_shaped(value)
    else:
        (op, operand), = value.items()
        assert op in ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists")
        scalars = operand if op in ("$in", "$nin") else [operand]
        assert all(isinstance(s, (str, int, float, bool)) for s in scalars)


def test_filtered_delete_removes_exactly_the_matches(db, points):
    col = load(db, points)
    col.create_payload_index("s", "keyword")
    flt = {"$or": [{"s": "en"}, {"i": {"$gt": 5}}]}
    want = expected_ids(points, flt)
    assert col.delete(filter=flt) == len(want)
    assert col.count() == N_POINTS - len(want)
    assert col.count(filter=flt) == 0
    assert not np.isin(want, col.scroll(10_000).points.ids).any()


def test_delete_needs_exactly_one_selector(db):
    col = db.create_collection("docs", dim=2, quantization="none")
    col.upsert([1], np.ones((1, 2)))
    with pytest.raises(vecstore.InvalidQueryError, match="not both"):
        col.delete([1], filter={"a": 1})
    with pytest.raises(vecstore.InvalidQueryError, match="needs ids or filter"):
        col.delete()
    assert col.delete(filter={}) == 1  # {} matches every point
    assert col.count() == 0
