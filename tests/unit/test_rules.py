"""The RuleEngine's rule language: checking rules, and evaluating them on JSON data."""

from __future__ import annotations

from typing import Any

import pytest

from app.domain.rules import (
    RuleError,
    compile_condition,
    compile_rules,
    holds,
    json_equal,
    matching_rules,
    resolve,
)

ORDER = {
    "customer": {"name": "Ana Lima", "tier": "gold", "tags": ["vip", "beta"], "age": 41},
    "total": 250.5,
    "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
    "coupon": None,
    "paid": True,
}


def check(condition: dict[str, Any], data: Any = ORDER) -> bool:
    return holds(compile_condition(condition, path="when", max_depth=8), data)


def compile_one(condition: Any, max_depth: int = 8) -> None:
    compile_rules([{"name": "r", "when": condition}], max_rules=10, max_depth=max_depth)


def field(path: str, op: str, value: Any = None, *, with_value: bool = True) -> dict[str, Any]:
    test: dict[str, Any] = {"field": path, "op": op}
    if with_value:
        test["value"] = value
    return test


# -- paths --------------------------------------------------------------------------------


def test_a_dotted_path_reaches_into_objects_and_lists() -> None:
    assert resolve(ORDER, ("items", "1", "sku")) == "B-7"
    assert resolve(ORDER, ("customer", "tags", "0")) == "vip"


def test_a_path_past_the_end_of_a_list_is_missing() -> None:
    assert check(field("items.5.sku", "missing", with_value=False))
    assert not check(field("items.5.sku", "eq", "A-1"))


def test_a_path_through_a_scalar_is_missing() -> None:
    assert check(field("total.amount", "missing", with_value=False))


def test_null_is_present_not_missing() -> None:
    assert check(field("coupon", "exists", with_value=False))
    assert check(field("coupon", "eq", None))
    assert not check(field("coupon", "missing", with_value=False))


# -- operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (field("customer.tier", "eq", "gold"), True),
        (field("customer.tier", "eq", "Gold"), False),
        (field("customer.age", "eq", 41.0), True),
        (field("customer.tier", "ne", "silver"), True),
        (field("customer.tier", "ne", "gold"), False),
        (field("total", "gt", 250), True),
        (field("total", "gte", 250.5), True),
        (field("total", "lt", 250.5), False),
        (field("total", "lte", 250.5), True),
        (field("customer.name", "gt", "Ana"), True),
        (field("customer.tier", "in", ["gold", "platinum"]), True),
        (field("customer.tier", "notIn", ["gold", "platinum"]), False),
        (field("customer.tags", "contains", "vip"), True),
        (field("customer.tags", "contains", "staff"), False),
        (field("customer.name", "contains", "Lim"), True),
        (field("customer.name", "startsWith", "Ana"), True),
        (field("customer.name", "endsWith", "Lima"), True),
        (field("customer.name", "endsWith", "Ana"), False),
        (field("items", "contains", {"sku": "B-7", "qty": 1}), True),
        (field("customer.email", "exists", with_value=False), False),
        (field("customer.email", "missing", with_value=False), True),
    ],
)
def test_each_operator(condition: dict[str, Any], expected: bool) -> None:
    assert check(condition) is expected


@pytest.mark.parametrize(
    "condition",
    [
        field("total", "gt", "100"),
        field("customer.name", "lt", 5),
        field("paid", "gt", 0),
        field("paid", "eq", 1),
        field("customer.age", "eq", "41"),
        field("customer.tags", "startsWith", "vip"),
        field("customer.age", "contains", 4),
        field("customer", "gte", {"name": "Ana Lima"}),
        field("items", "lt", []),
    ],
)
def test_comparisons_across_types_are_false_not_errors(condition: dict[str, Any]) -> None:
    assert check(condition) is False


def test_ne_holds_for_a_present_value_of_another_type() -> None:
    # ne is "eq does not hold" on a field that is there.
    assert check(field("coupon", "ne", "SAVE10"))
    assert check(field("customer.age", "ne", "41"))


def test_value_operators_are_false_on_a_missing_field() -> None:
    for op, value in [("eq", None), ("ne", 1), ("notIn", [1]), ("lt", 5)]:
        assert not check(field("nowhere", op, value)), op


def test_json_equality_is_deep_and_keeps_true_apart_from_one() -> None:
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal([True], [1])
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal(float("nan"), float("nan"))


def test_json_equality_copes_with_deep_nesting() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    assert json_equal(deep, deep)


# -- combinators -------------------------------------------------------------------------


def test_all_any_and_not_combine() -> None:
    gold_big = {"all": [field("customer.tier", "eq", "gold"), field("total", "gt", 100)]}
    assert check(gold_big)
    assert check({"any": [field("total", "gt", 1000), field("paid", "eq", True)]})
    assert not check({"not": gold_big})
    assert check({"not": {"any": [field("total", "gt", 1000), field("coupon", "ne", None)]}})


# -- evaluating a rule set ----------------------------------------------------------------


RULES = [
    {"name": "vip", "when": field("customer.tags", "contains", "vip"), "then": {"queue": "vip"}},
    {"name": "large", "when": field("total", "gt", 1000), "then": "review"},
    {"name": "paid", "when": field("paid", "eq", True)},
]


def test_all_mode_reports_every_match_in_order() -> None:
    rules = compile_rules(RULES, max_rules=10, max_depth=8)
    assert [r.name for r in matching_rules(rules, ORDER, mode="all")] == ["vip", "paid"]


def test_first_mode_stops_at_the_first_match() -> None:
    rules = compile_rules(RULES, max_rules=10, max_depth=8)
    [first] = matching_rules(rules, ORDER, mode="first")
    assert (first.name, first.then) == ("vip", {"queue": "vip"})


def test_a_rule_without_then_answers_null() -> None:
    [*_, paid] = compile_rules(RULES, max_rules=10, max_depth=8)
    assert paid.then is None


# -- refusing bad rules, naming the path -----------------------------------------------------


def test_an_unknown_operator_is_named_with_its_path() -> None:
    rules = [RULES[0], RULES[1], {"name": "x", "when": field("a", "regex", ".*")}]
    with pytest.raises(RuleError) as caught:
        compile_rules(rules, path="payload.rules", max_rules=10, max_depth=8)
    assert str(caught.value) == "payload.rules[2].when.op: unknown operator 'regex'"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("yes", "rules[0].when: must be an object"),
        ({}, "rules[0].when: must have one of the keys all, any, not or field"),
        ({"all": []}, "rules[0].when.all: must be a non-empty list of conditions"),
        ({"any": "x"}, "rules[0].when.any: must be a non-empty list of conditions"),
        ({"not": 5}, "rules[0].when.not: must be an object"),
        ({"all": [field("a", "eq", 1)], "x": 1}, "rules[0].when.x: is not a known key here"),
        ({"field": "a..b", "op": "eq", "value": 1}, "rules[0].when.field: 'a..b' has an empty"),
        ({"field": 3, "op": "eq", "value": 1}, "rules[0].when.field: must be a non-empty"),
        ({"field": "a", "value": 1}, "rules[0].when.op: is required"),
        ({"field": "a", "op": "eq"}, "rules[0].when.value: is required by 'eq'"),
        ({"field": "a", "op": "in", "value": "x"}, "rules[0].when.value: must be a list"),
        ({"field": "a", "op": "exists", "value": False}, "rules[0].when.value: is not used"),
        ({"any": [{"not": {"field": "a"}}]}, "rules[0].when.any[0].not.op: is required"),
    ],
)
def test_malformed_conditions_are_refused_with_their_path(condition: Any, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_one(condition)
    assert str(caught.value).startswith(message)


def test_conditions_deeper_than_the_limit_are_refused() -> None:
    condition: dict[str, Any] = field("a", "exists", with_value=False)
    for _ in range(4):
        condition = {"not": condition}
    compile_one(condition, max_depth=5)
    with pytest.raises(RuleError, match="nest deeper than 4 levels"):
        compile_one(condition, max_depth=4)


def test_more_rules_than_the_limit_are_refused() -> None:
    rules = [{"name": f"r{i}", "when": field("a", "exists", with_value=False)} for i in range(3)]
    with pytest.raises(RuleError, match=r"^rules: must list at most 2 rules$"):
        compile_rules(rules, max_rules=2, max_depth=8)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({}, "rules: must be a list of rules"),
        ([], "rules: must list at least one rule"),
        (["r"], "rules[0]: must be an object"),
        ([{"when": {"field": "a", "op": "exists"}}], "rules[0].name: must be a non-empty string"),
        ([{"name": "r"}], "rules[0].when: is required"),
        ([{"name": "r", "when": {"field": "a", "op": "exists"}, "else": 1}], "rules[0].else"),
        (
            [{"name": "r", "when": {"field": "a", "op": "exists"}}] * 2,
            "rules[1].name: duplicate rule name 'r'",
        ),
    ],
)
def test_malformed_rule_lists_are_refused_with_their_path(rules: Any, message: str) -> None:
    with pytest.raises(RuleError) as caught:
        compile_rules(rules, max_rules=10, max_depth=8)
    assert str(caught.value).startswith(message)
