"""A plain, slow, independent reading of the filter semantics, plus seeded random
payloads and filters to hold the engine against it.

The rules (README "Filters"): dotted keys walk objects, and lists of objects on
the way; a list value stands for its elements (any element may satisfy a
condition); equality is typed (1 == 1.0, True != 1); ranges compare numbers
with numbers and strings with strings; $ne/$nin/$not match missing fields;
$exists is about the key, whatever its value.
"""
from __future__ import annotations

import random


def _kind(v):
    if type(v) is bool:
        return "bool"
    if type(v) in (int, float):
        return "number"
    if type(v) is str:
        return "string"
    return "other"


def _equal(a, b) -> bool:
    return _kind(a) == _kind(b) != "other" and a == b


def _lookup(doc, parts):
    """(key present?, the values a condition looks at)."""
    if not parts:
        return True, (list(doc) if type(doc) is list else [doc])
    head, rest = parts[0], parts[1:]
    if type(doc) is dict:
        return _lookup(doc[head], rest) if head in doc else (False, [])
    if type(doc) is list:
        present, values = False, []
        for el in doc:
            if type(el) is dict and head in el:
                p, v = _lookup(el[head], rest)
                present, values = present or p, values + v
        return present, values
    return False, []


def _test(op, operand, present, values) -> bool:
    if op == "$eq":
        return any(_equal(v, operand) for v in values)
    if op == "$ne":
        return not _test("$eq", operand, present, values)
    if op == "$in":
        return any(_equal(v, o) for v in values for o in operand)
    if op == "$nin":
        return not _test("$in", operand, present, values)
    if op == "$exists":
        return present == operand
    for v in values:
        if _kind(v) == _kind(operand) and _kind(v) in ("number", "string"):
            if (op == "$gt" and v > operand) or (op == "$gte" and v >= operand) or \
               (op == "$lt" and v < operand) or (op == "$lte" and v <= operand):
                return True
    return False


def _field(payload, key, spec) -> bool:
    present, values = _lookup(payload if payload is not None else {}, key.split("."))
    if type(spec) is dict:
        for op, operand in spec.items():
            if op == "$not":
                if _field(payload, key, operand):
                    return False
            elif not _test(op, operand, present, values):
                return False
        return True
    return _test("$eq", spec, present, values)


def reference_match(payload, flt) -> bool:
    for key, spec in flt.items():
        if key == "$and":
            ok = all(reference_match(payload, f) for f in spec)
        elif key == "$or":
            ok = any(reference_match(payload, f) for f in spec)
        elif key == "$not":
            ok = not reference_match(payload, spec)
        else:
            ok = _field(payload, key, spec)
        if not ok:
            return False
    return True


# -- random data ---------------------------------------------------------------------------
WORDS = ["en", "de", "fr", "it", "zz", "a", "b"]
BIG = [2**53, 2**53 + 1, 2**62, -(2**62), 2**70]  # exact only as ints; 2**70 exceeds int64


def _number(r: random.Random, big=BIG):
    c = r.random()
    if c < 0.6:
        return r.randint(-3, 12)
    if c < 0.8:
        return r.randint(-6, 24) / 2  # x.0 and x.5 floats
    if c < 0.9:
        return float(r.randint(0, 10))
    return r.choice(big + [float(2**53)])


def _value(r: random.Random, main: str):
    """Mostly the field's main type, sometimes anything else."""
    c = r.random()
    if c < 0.65:
        return _number(r) if main == "number" else r.choice(WORDS)
    if c < 0.78:
        return [(_number(r) if main == "number" else r.choice(WORDS)) for _ in range(r.randint(0, 3))]
    return r.choice([True, False, None, "5", 5, 2.5, {"x": 1}, ["a", 3], "en", [[1]]])


def random_payload(r: random.Random):
    if r.random() < 0.08:
        return None
    p = {}
    for key, main in (("i", "number"), ("f", "number"), ("s", "string"), ("b", "string")):
        if r.random() < 0.8:
            p[key] = _value(r, main)
    if r.random() < 0.7:
        p["n"] = {"a": _value(r, "number")} if r.random() < 0.85 else r.choice([3, [{"a": 1}, {"a": 7}]])
    if r.random() < 0.5:
        p["people"] = [{"name": r.choice(WORDS), "age": r.randint(1, 9)} for _ in range(r.randint(0, 3))]
    return p


KEYS = {"i": "number", "f": "number", "s": "string", "b": "string", "n.a": "number",
        "people.name": "string", "people.age": "number", "missing": "number"}


def _operand(r: random.Random, main: str):
    c = r.random()
    if c < 0.8:  # filter values are 64-bit at most
        return _number(r, BIG[:-1]) if main == "number" else r.choice(WORDS)
    return r.choice([True, False, "5", 5, 2.5, "en", 2**63 - 1, -(2**63), float(2**53)])


def _condition(r: random.Random, key: str):
    main = KEYS[key]
    op = r.choice(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$not", "implicit"])
    if op == "implicit":
        return _operand(r, main)
    if op in ("$in", "$nin"):
        return {op: [_operand(r, main) for _ in range(r.randint(0, 4))]}
    if op == "$exists":
        return {op: r.random() < 0.5}
    if op == "$not":
        return {"$not": _condition_object(r, key)}
    operand = _operand(r, main)
    if op in ("$gt", "$gte", "$lt", "$lte") and type(operand) is bool:
        operand = 3
    return {op: operand}


def _condition_object(r: random.Random, key: str):
    while True:
        c = _condition(r, key)
        if type(c) is dict:
            if r.random() < 0.3:  # several operators on one field
                extra = _condition(r, key)
                if type(extra) is dict:
                    c = {**c, **extra}
            return c


def random_filter(r: random.Random, depth: int = 0) -> dict:
    c = r.random()
    if depth < 3 and c < 0.3:
        op = r.choice(["$and", "$or"])
        return {op: [random_filter(r, depth + 1) for _ in range(r.randint(1, 3))]}
    if depth < 3 and c < 0.4:
        return {"$not": random_filter(r, depth + 1)}
    keys = r.sample(sorted(KEYS), r.randint(1, 2))
    return {key: _condition(r, key) for key in keys}
