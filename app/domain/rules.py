"""A small rule language over JSON data, for the RuleEngine capability. Pure: no I/O.

A rule is `{"name": str, "when": condition, "then": any JSON}`; a condition is one of

    {"all": [condition, ...]}       every one holds
    {"any": [condition, ...]}       at least one holds
    {"not": condition}              it does not hold
    {"field": "a.b.0.c", "op": "eq", "value": ...}

`field` is a dotted path; a segment of digits indexes a list. Operators: eq, ne, gt,
gte, lt, lte, in, notIn, contains, startsWith, endsWith, exists, missing.

Nothing here executes code, evaluates expressions or compiles patterns: a rule is
data compared with data. A comparison between values of different JSON types is
false, never an error, so a rule set written for one shape of data cannot crash on
another. Rules are checked once (`compile_rules`), with errors that name the path of
the offending part, and then evaluated (`matching_rules`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from app.domain.errors import DomainError

Mode = Literal["first", "all"]
Ordered = TypeVar("Ordered", float, str)

# Operators that compare the field with `value`, and those that only look for the field.
VALUE_OPERATORS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "notIn", "contains", "startsWith", "endsWith"}
)
PRESENCE_OPERATORS = frozenset({"exists", "missing"})
OPERATORS = VALUE_OPERATORS | PRESENCE_OPERATORS
MAX_NAME_LENGTH = 200
MAX_FIELD_SEGMENTS = 64


class RuleError(DomainError):
    """A rule set that cannot be evaluated; the message starts with the offending path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AllOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    condition: Condition


@dataclass(frozen=True, slots=True)
class FieldTest:
    field: tuple[str, ...]
    op: str
    value: object = None


Condition = AllOf | AnyOf | Not | FieldTest


@dataclass(frozen=True, slots=True)
class Rule:
    """A named condition and what to answer when it holds."""

    name: str
    when: Condition
    then: object = None


# -- checking ---------------------------------------------------------------------------


def compile_rules(
    raw: object, *, path: str = "rules", max_rules: int, max_depth: int
) -> tuple[Rule, ...]:
    """Check a list of rules and turn it into `Rule`s; raises RuleError naming the path."""
    if not isinstance(raw, list):
        raise RuleError(path, "must be a list of rules")
    if not raw:
        raise RuleError(path, "must list at least one rule")
    if len(raw) > max_rules:
        raise RuleError(path, f"must list at most {max_rules} rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        rule = _compile_rule(item, f"{path}[{index}]", max_depth)
        # Matches are reported by name, so two rules with one name would be ambiguous.
        if rule.name in seen:
            raise RuleError(f"{path}[{index}].name", f"duplicate rule name {rule.name!r}")
        seen.add(rule.name)
        rules.append(rule)
    return tuple(rules)


def _compile_rule(raw: object, path: str, max_depth: int) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleError(path, "must be an object with name, when and then")
    _refuse_unknown_keys(raw, {"name", "when", "then"}, path)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{path}.name", "must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise RuleError(f"{path}.name", f"must be at most {MAX_NAME_LENGTH} characters")
    if "when" not in raw:
        raise RuleError(f"{path}.when", "is required")
    when = compile_condition(raw["when"], path=f"{path}.when", max_depth=max_depth)
    return Rule(name, when, raw.get("then"))


def compile_condition(raw: object, *, path: str, max_depth: int, depth: int = 1) -> Condition:
    """Check one condition (and those inside it) no deeper than `max_depth` levels."""
    if depth > max_depth:
        raise RuleError(path, f"conditions nest deeper than {max_depth} levels")
    if not isinstance(raw, Mapping):
        raise RuleError(path, "must be an object (all, any, not, or field and op)")
    if "all" in raw or "any" in raw:
        key = "all" if "all" in raw else "any"
        _refuse_unknown_keys(raw, {key}, path)
        items = raw[key]
        if not isinstance(items, list) or not items:
            raise RuleError(f"{path}.{key}", "must be a non-empty list of conditions")
        inner = tuple(
            compile_condition(item, path=f"{path}.{key}[{i}]", max_depth=max_depth, depth=depth + 1)
            for i, item in enumerate(items)
        )
        return AllOf(inner) if key == "all" else AnyOf(inner)
    if "not" in raw:
        _refuse_unknown_keys(raw, {"not"}, path)
        return Not(
            compile_condition(raw["not"], path=f"{path}.not", max_depth=max_depth, depth=depth + 1)
        )
    if "field" in raw:
        return _compile_field_test(raw, path)
    raise RuleError(path, "must have one of the keys all, any, not or field")


def _compile_field_test(raw: Mapping[str, object], path: str) -> FieldTest:
    _refuse_unknown_keys(raw, {"field", "op", "value"}, path)
    field = raw["field"]
    if not isinstance(field, str) or not field:
        raise RuleError(f"{path}.field", "must be a non-empty dotted path such as 'a.b.0.c'")
    segments = tuple(field.split("."))
    if any(not segment for segment in segments):
        raise RuleError(f"{path}.field", f"{field!r} has an empty segment")
    if len(segments) > MAX_FIELD_SEGMENTS:
        raise RuleError(f"{path}.field", f"must have at most {MAX_FIELD_SEGMENTS} segments")
    op = raw.get("op")
    if not isinstance(op, str):
        raise RuleError(f"{path}.op", "is required: one of " + ", ".join(sorted(OPERATORS)))
    if op not in OPERATORS:
        raise RuleError(f"{path}.op", f"unknown operator {op!r}")
    if op in PRESENCE_OPERATORS:
        # {"op": "exists", "value": false} reads as "does not exist": refuse the ambiguity.
        if "value" in raw:
            raise RuleError(f"{path}.value", f"is not used by {op!r}")
        return FieldTest(segments, op)
    if "value" not in raw:
        raise RuleError(f"{path}.value", f"is required by {op!r}")
    value = raw["value"]
    if op in {"in", "notIn"} and not isinstance(value, list):
        raise RuleError(f"{path}.value", f"must be a list for {op!r}")
    return FieldTest(segments, op, value)


def _refuse_unknown_keys(raw: Mapping[str, object], allowed: set[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise RuleError(f"{path}.{key}", "is not a known key here")


# -- evaluating -------------------------------------------------------------------------


def matching_rules(rules: Sequence[Rule], data: object, *, mode: Mode = "all") -> list[Rule]:
    """The rules whose condition holds for `data`, in order; only the first in "first" mode."""
    matched: list[Rule] = []
    for rule in rules:
        if holds(rule.when, data):
            matched.append(rule)
            if mode == "first":
                break
    return matched


def holds(condition: Condition, data: object) -> bool:
    """Whether `condition` is true of `data` (never raises on any JSON data)."""
    if isinstance(condition, AllOf):
        return all(holds(c, data) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(holds(c, data) for c in condition.conditions)
    if isinstance(condition, Not):
        return not holds(condition.condition, data)
    return _test(condition, data)


class _Missing:
    """The value of a path that leads nowhere (distinct from JSON null)."""


MISSING = _Missing()


def resolve(data: object, path: Sequence[str]) -> object:
    """The value at `path` in `data`, or MISSING."""
    current = data
    for segment in path:
        if isinstance(current, Mapping):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit():
            index = int(segment)
            if index >= len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def _test(test: FieldTest, data: object) -> bool:
    actual = resolve(data, test.field)
    if test.op == "exists":
        return actual is not MISSING
    if test.op == "missing":
        return actual is MISSING
    if actual is MISSING:
        return False
    expected = test.value
    match test.op:
        case "eq":
            return json_equal(actual, expected)
        case "ne":
            # The negation of eq on a field that is there: "status ne 'closed'" holds for a
            # null status, which is what the rule's author means.
            return not json_equal(actual, expected)
        case "in":
            return isinstance(expected, list) and any(json_equal(actual, v) for v in expected)
        case "notIn":
            return isinstance(expected, list) and not any(json_equal(actual, v) for v in expected)
        case "contains":
            if isinstance(actual, str):
                return isinstance(expected, str) and expected in actual
            return isinstance(actual, list) and any(json_equal(item, expected) for item in actual)
        case "startsWith":
            return (
                isinstance(actual, str)
                and isinstance(expected, str)
                and actual.startswith(expected)
            )
        case "endsWith":
            return (
                isinstance(actual, str) and isinstance(expected, str) and actual.endswith(expected)
            )
        case _:
            return _ordered(test.op, actual, expected)


def _ordered(op: str, actual: object, expected: object) -> bool:
    """gt/gte/lt/lte between two numbers or two strings; any other pair is false."""
    a, b = _number(actual), _number(expected)
    if a is not None and b is not None:
        return _compare(op, a, b)
    if isinstance(actual, str) and isinstance(expected, str):
        return _compare(op, actual, expected)
    return False


def _compare(op: str, a: Ordered, b: Ordered) -> bool:
    match op:
        case "gt":
            return a > b
        case "gte":
            return a >= b
        case "lt":
            return a < b
        case _:
            return a <= b


def _number(value: object) -> int | float | None:
    # Ints stay ints: comparing them with floats is exact, converting them is not.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def _kind(value: object) -> str:
    # bool before number: True is an int to Python but not a number to JSON.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def json_equal(a: object, b: object) -> bool:
    """Equality as JSON means it: 1 equals 1.0, true does not equal 1, deep for lists/objects.

    Iterative, so deeply nested data cannot exhaust the stack.
    """
    pending: list[tuple[object, object]] = [(a, b)]
    while pending:
        x, y = pending.pop()
        kind = _kind(x)
        if kind != _kind(y) or kind == "other":
            return False
        if isinstance(x, list | tuple) and isinstance(y, list | tuple):
            if len(x) != len(y):
                return False
            pending.extend(zip(x, y, strict=True))
        elif isinstance(x, Mapping) and isinstance(y, Mapping):
            if x.keys() != y.keys():
                return False
            pending.extend((x[key], y[key]) for key in x)
        elif x != y:
            return False
    return True
