"""Prices per model: known models cost their list price, unknown ones cost None."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.application.ports import Usage
from app.domain.pricing import ModelPrice, PriceTable, prices_from_mapping


def test_a_known_model_costs_its_price_per_million_tokens() -> None:
    table = PriceTable({"m": ModelPrice(Decimal("1.00"), Decimal("4.00"))})
    assert table.cost("m", 1_000, 500) == Decimal("0.003")


def test_an_unknown_model_has_no_cost_rather_than_a_guess() -> None:
    assert PriceTable.defaults().cost("my-local-llama", 1_000, 1_000) is None
    assert not PriceTable.defaults().knows("my-local-llama")


def test_a_dated_snapshot_costs_its_own_listed_price_or_nothing_known() -> None:
    table = PriceTable.defaults()
    assert table.cost("gpt-4o-2024-05-13", 1_000_000, 0) == Decimal(5)
    assert table.cost("gpt-4o", 1_000_000, 0) == Decimal("2.5")
    # Not listed: unknown, rather than the family's price.
    assert table.cost("gpt-4o-mini-2099-01-01", 1_000, 0) is None


def test_model_names_are_case_insensitive() -> None:
    table = PriceTable.defaults()
    assert table.cost("GPT-4o-mini", 10, 10) == table.cost("gpt-4o-mini", 10, 10)


def test_simulated_models_are_free_only_where_the_simulated_provider_is_used() -> None:
    assert PriceTable.defaults().cost("simulated:gpt-4o", 10_000, 10_000) is None
    table = PriceTable.defaults().with_free_prefix("simulated:")
    assert table.cost("simulated:anything", 10_000, 10_000) == 0
    assert table.merged({}).cost("simulated:x", 1, 1) == 0


def test_a_pricing_file_overrides_and_extends_the_defaults() -> None:
    overrides = prices_from_mapping(
        {"gpt-4o-mini": {"input": 1, "output": "2"}, "llama3": {"input": 0, "output": 0}}
    )
    table = PriceTable.defaults().merged(overrides)
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == Decimal(3)
    assert table.cost("llama3", 5, 5) == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "JSON object"),
        ({"m": 3}, "m: expected an object"),
        ({"m": {"input": 1}}, "m.output: expected a number"),
        ({"m": {"input": -1, "output": 1}}, "m.input: must be a finite number >= 0"),
        ({"m": {"input": "NaN", "output": 1}}, "m.input: must be a finite number"),
        ({"m": {"input": "cheap", "output": 1}}, "m.input: 'cheap' is not a number"),
        ({"m": {"input": True, "output": 1}}, "m.input: expected a number"),
    ],
)
def test_a_bad_pricing_table_names_the_model_and_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        prices_from_mapping(data)  # type: ignore[arg-type]


def test_usage_of_several_calls_adds_up_and_an_unknown_cost_stays_unknown() -> None:
    first = Usage().plus(Usage("a", 10, 5, 0.5, 100))
    both = first.plus(Usage("b", 20, None, 0.25, 50))
    assert both == Usage("b", 30, 5, 0.75, 150, calls=2)
    assert both.plus(Usage("c", 1, 1, None, 1)).cost is None
