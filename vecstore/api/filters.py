"""Mongo-style filters: validated once, compiled to a small tree, evaluated on payloads.

A filter is a plain JSON-like dict (the same shape travels over gRPC):

    {"tenant": 42}                                   equality
    {"year": {"$gte": 2020, "$lt": 2024}}            operators on one field (all must hold)
    {"$or": [{"lang": "en"}, {"lang": {"$in": ["de", "fr"]}}]}
    {"$and": [...]}, {"$not": {...}}                 combinators
    {"a": 1, "b.c": "x"}                             several keys: all must hold
    {"price": {"$not": {"$gt": 10}}}                 field-level $not

Operators: $eq $ne $in $nin $gt $gte $lt $lte $exists. Semantics follow MongoDB:

- a dotted key walks nested objects; a list met on the way is walked element
  by element, so "authors.name" reaches the names in a list of author objects;
- when the field holds a list, a condition holds if any element satisfies it;
- $ne, $nin and $not also match points where the field is missing;
- equality is typed: numbers compare by value (1 == 1.0), booleans equal only
  booleans, strings only strings;
- $gt/$gte/$lt/$lte compare numbers with numbers and strings with strings
  (code-point order); values of other types never satisfy them;
- {"$exists": true} holds when the key is present, even with a null value.

A payload key that itself contains a dot cannot be named (dots always split).

Values are scalars: str, bool, int (64-bit) or finite float. A null, a list or
an object as an equality value is rejected with a hint, as is anything else
malformed; the message names the offending part, e.g. `filter["$or"][1]["lang"]`.

The compiled tree has four node types: Condition (one operator on one key),
And, Or, Not; All matches everything ({}). `$ne`/`$nin` compile to
Not(Condition), so evaluators only implement $eq $in $gt $gte $lt $lte $exists.
`to_dict()` gives back a canonical dict (one operator per condition) that maps
one-to-one onto typed protocol messages.
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import InvalidFilterError

COMBINATORS = ("$and", "$or", "$not")
VALUE_OPERATORS = ("$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists")
RANGE_OPERATORS = ("$gt", "$gte", "$lt", "$lte")
MAX_DEPTH = 32  # nesting of combinators and operator objects
MAX_TERMS = 65_536  # conditions plus $in values in one filter
MAX_KEY_LENGTH = 256
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


# -- the compiled tree -----------------------------------------------------------------
class Node:
    def matches(self, payload: dict | None) -> bool:
        raise NotImplementedError

    def conditions(self) -> Iterable["Condition"]:
        """Every Condition leaf under this node."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class All(Node):
    """Matches every point: the empty filter {}."""

    def matches(self, payload):
        return True

    def conditions(self):
        return ()

    def to_dict(self):
        return {}


@dataclass(frozen=True)
class Condition(Node):
    """One operator on one key. op is $eq $in $gt $gte $lt $lte or $exists;
    operand is a scalar, a tuple of scalars for $in, a bool for $exists."""

    key: str
    op: str
    operand: Any
    # derived once: the key split at dots, and a test of one value
    parts: tuple[str, ...] = field(init=False, repr=False, compare=False)
    accepts: Callable[[Any], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.key.split(".")))
        object.__setattr__(self, "accepts", _value_test(self.op, self.operand))

    def matches(self, payload):
        if len(self.parts) == 1:  # the common case, without the general walk
            if payload is None or self.key not in payload:
                return self.op == "$exists" and not self.operand
            if self.op == "$exists":
                return self.operand
            value = payload[self.key]
            return self.test_values(value if isinstance(value, list) else (value,))
        found = resolve(payload, self.parts)
        if self.op == "$exists":
            return bool(found) == self.operand
        return self.test_values(flatten(found))

    def test_values(self, values: Sequence[Any]) -> bool:
        """Whether any of the values present at the key satisfies the operator
        (not for $exists, which depends on presence, not values)."""
        return any(map(self.accepts, values))

    def conditions(self):
        return (self,)

    def to_dict(self):
        operand = list(self.operand) if self.op == "$in" else self.operand
        return {self.key: {self.op: operand}}


@dataclass(frozen=True)
class And(Node):
    children: tuple[Node, ...]

    def matches(self, payload):
        return all(c.matches(payload) for c in self.children)

    def conditions(self):
        for c in self.children:
            yield from c.conditions()

    def to_dict(self):
        return {"$and": [c.to_dict() for c in self.children]}


@dataclass(frozen=True)
class Or(Node):
    children: tuple[Node, ...]

    def matches(self, payload):
        return any(c.matches(payload) for c in self.children)

    def conditions(self):
        for c in self.children:
            yield from c.conditions()

    def to_dict(self):
        return {"$or": [c.to_dict() for c in self.children]}


@dataclass(frozen=True)
class Not(Node):
    child: Node

    def matches(self, payload):
        return not self.child.matches(payload)

    def conditions(self):
        return self.child.conditions()

    def to_dict(self):
        c = self.child
        if isinstance(c, Condition) and c.op == "$eq":
            return {c.key: {"$ne": c.operand}}
        if isinstance(c, Condition) and c.op == "$in":
            return {c.key: {"$nin": list(c.operand)}}
        return {"$not": c.to_dict()}


# -- value semantics shared by every evaluator ---------------------------------------------
def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def equality_key(v: Any) -> tuple | None:
    """Typed equality as a hashable key: 1 and 1.0 share a key, True and 1 do not.
    Lists, objects and null never equal a filter value (None)."""
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, (int, float)):
        return ("n", v)
    return None


_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _value_test(op: str, operand: Any) -> Callable[[Any], bool]:
    """A predicate on one payload value, specialised to the operator and the operand's type."""
    if op == "$exists":
        return lambda v: True  # presence is checked by the caller
    if op == "$in":
        wanted = frozenset(equality_key(o) for o in operand)
        return lambda v: equality_key(v) in wanted
    if op == "$eq":
        want = equality_key(operand)
        return lambda v: equality_key(v) == want
    order = _ORDER[op]
    if isinstance(operand, str):
        return lambda v: isinstance(v, str) and order(v, operand)
    return lambda v: is_number(v) and order(v, operand)


def resolve(payload: dict | None, parts: Sequence[str]) -> list[Any]:
    """The values stored at a dotted key; lists on the way are walked element by element."""
    current: list[Any] = [payload if payload is not None else {}]
    for part in parts:
        nxt = []
        for node in current:
            if isinstance(node, dict):
                if part in node:
                    nxt.append(node[part])
            elif isinstance(node, list):
                nxt.extend(el[part] for el in node if isinstance(el, dict) and part in el)
        if not nxt:
            return nxt
        current = nxt
    return current


def flatten(found: list[Any]) -> list[Any]:
    """Values a condition tests: a list value stands for its elements."""
    out: list[Any] = []
    for v in found:
        if isinstance(v, list):
            out.extend(v)
        else:
            out.append(v)
    return out


# -- parsing ---------------------------------------------------------------------------------
def compile_filter(spec: Any) -> Node | None:
    """Validate a filter dict and compile it. None means "no filter"; {} matches everything."""
    if spec is None:
        return None
    return _Parser().parse(spec)


def normalize_filter(spec: Any) -> dict[str, Any] | None:
    """The canonical dict of a filter (one operator per condition, explicit $and)."""
    node = compile_filter(spec)
    return None if node is None else node.to_dict()


def check_key(key: Any, where: str = "key") -> str:
    """A payload key a filter or an index may name: dotted, no empty or $-parts."""
    if not isinstance(key, str):
        raise InvalidFilterError(f"{where}: keys must be strings, got {type(key).__name__} {key!r}")
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidFilterError(f"{where}: key must be 1-{MAX_KEY_LENGTH} characters, got {key!r}")
    for part in key.split("."):
        if not part:
            raise InvalidFilterError(f"{where}: key {key!r} has an empty part; expected names joined by single dots")
        if part.startswith("$"):
            raise InvalidFilterError(
                f"{where}: {part!r} is not a field name (names starting with '$' are operators); "
                f"combinators {list(COMBINATORS)} go at the top of a filter, "
                f"operators {list(VALUE_OPERATORS)} inside a field's object"
            )
    return key


def _where(path: tuple) -> str:
    return "filter" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in path)


class _Parser:
    def __init__(self) -> None:
        self.terms = 0

    def _count(self, n: int, path: tuple) -> None:
        self.terms += n
        if self.terms > MAX_TERMS:
            raise InvalidFilterError(f"{_where(path)}: filter too large, more than {MAX_TERMS} conditions and values")

    def parse(self, spec: Any, path: tuple = ()) -> Node:
        if len(path) > MAX_DEPTH:
            raise InvalidFilterError(f"{_where(path)}: filter nested deeper than {MAX_DEPTH} levels")
        if not isinstance(spec, dict):
            raise InvalidFilterError(
                f"{_where(path)}: expected a filter object (dict) such as {{'field': value}}, got {type(spec).__name__}"
            )
        nodes: list[Node] = []
        for key, value in spec.items():
            here = path + (key,)
            if isinstance(key, str) and key.startswith("$"):
                nodes.append(self._combinator(key, value, here))
            else:
                check_key(key, _where(here))
                nodes.extend(self._field(key, value, here))
        if not nodes:
            return All()
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def _combinator(self, op: str, value: Any, path: tuple) -> Node:
        if op == "$not":
            return Not(self.parse(value, path))
        if op in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise InvalidFilterError(f"{_where(path)}: {op} takes a non-empty list of filter objects, got {value!r:.80}")
            children = tuple(self.parse(v, path + (i,)) for i, v in enumerate(value))
            return And(children) if op == "$and" else Or(children)
        if op in VALUE_OPERATORS:
            raise InvalidFilterError(
                f"{_where(path)}: {op} needs a field: write {{'field': {{{op!r}: ...}}}}"
            )
        raise InvalidFilterError(
            f"{_where(path)}: unknown operator {op!r}; expected a field name or one of {list(COMBINATORS)}"
        )

    def _field(self, key: str, value: Any, path: tuple) -> list[Node]:
        if isinstance(value, dict):
            if not value:
                raise InvalidFilterError(f"{_where(path)}: empty operator object; expected e.g. {{'$eq': value}}")
            ops = [k for k in value if isinstance(k, str) and k.startswith("$")]
            if len(ops) != len(value):
                if ops:
                    raise InvalidFilterError(
                        f"{_where(path)}: mixes operators and field names; expected only operators such as '$gt'"
                    )
                raise InvalidFilterError(
                    f"{_where(path)}: an object is not a valid value; to filter on nested fields use "
                    f"dotted keys such as {key + '.' + str(next(iter(value)))!r}"
                )
            if len(path) > MAX_DEPTH:
                raise InvalidFilterError(f"{_where(path)}: filter nested deeper than {MAX_DEPTH} levels")
            return [self._operator(key, op, operand, path + (op,)) for op, operand in value.items()]
        return [self._operator(key, "$eq", value, path)]

    def _operator(self, key: str, op: str, operand: Any, path: tuple) -> Node:
        self._count(1, path)
        if op == "$not":
            inner = self._field(key, operand, path) if isinstance(operand, dict) else None
            if inner is None:
                raise InvalidFilterError(
                    f"{_where(path)}: $not on a field takes an operator object such as {{'$gt': 5}}, got {operand!r:.80}"
                )
            return Not(inner[0] if len(inner) == 1 else And(tuple(inner)))
        if op in ("$eq", "$ne"):
            cond = Condition(key, "$eq", _scalar(operand, path))
            return cond if op == "$eq" else Not(cond)
        if op in ("$in", "$nin"):
            if not isinstance(operand, (list, tuple, set, frozenset, np.ndarray)):
                raise InvalidFilterError(f"{_where(path)}: {op} takes a list of values, got {type(operand).__name__}")
            values = list(operand)
            self._count(len(values), path)
            cond = Condition(key, "$in", tuple(_scalar(v, path + (i,)) for i, v in enumerate(values)))
            return cond if op == "$in" else Not(cond)
        if op in RANGE_OPERATORS:
            v = _scalar(operand, path)
            if isinstance(v, bool):
                raise InvalidFilterError(f"{_where(path)}: {op} compares numbers or strings, got a bool")
            return Condition(key, op, v)
        if op == "$exists":
            if not isinstance(operand, (bool, np.bool_)):
                raise InvalidFilterError(f"{_where(path)}: $exists takes true or false, got {operand!r:.80}")
            return Condition(key, "$exists", bool(operand))
        raise InvalidFilterError(
            f"{_where(path)}: unknown operator {op!r}; expected one of {list(VALUE_OPERATORS) + ['$not']}"
        )


def _scalar(v: Any, path: tuple) -> Any:
    """A filter value: str, bool, 64-bit int or finite float (numpy scalars accepted)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (str, bool)):
        return v
    if isinstance(v, int):
        if not _INT64_MIN <= v <= _INT64_MAX:
            raise InvalidFilterError(f"{_where(path)}: integer {v} does not fit in 64 bits")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InvalidFilterError(f"{_where(path)}: {v} is not a finite number")
        return v
    if v is None:
        raise InvalidFilterError(
            f"{_where(path)}: null is not a filter value; use {{'$exists': false}} for a missing field"
        )
    if isinstance(v, (list, tuple)):
        raise InvalidFilterError(f"{_where(path)}: a list is not a value here; use {{'$in': [...]}} to match any of several")
    raise InvalidFilterError(
        f"{_where(path)}: expected a string, number or bool, got {type(v).__name__}"
    )
