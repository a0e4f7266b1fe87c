"""What a model call costs: prices per million tokens, per model. Pure: no I/O.

A model the table does not know costs None (unknown), never a guess: the attempt
is recorded with its tokens and a null cost, and the worker logs a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

MILLION = Decimal(1_000_000)
# The simulated provider names its models "simulated:<model>"; they cost nothing.
SIMULATED_PREFIX = "simulated:"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million input and output tokens."""

    input: Decimal
    output: Decimal

    def cost(self, tokens_in: int | None, tokens_out: int | None) -> Decimal:
        return (Decimal(tokens_in or 0) * self.input + Decimal(tokens_out or 0) * self.output) / (
            MILLION
        )


def _price(input_per_million: str, output_per_million: str) -> ModelPrice:
    return ModelPrice(Decimal(input_per_million), Decimal(output_per_million))


# List prices in USD per 1M tokens (standard tier, as published in 2025). Override or
# extend them with AI_PRICING_FILE; a price list goes stale, so check yours.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": _price("2.50", "10.00"),
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4.1": _price("2.00", "8.00"),
    "gpt-4.1-mini": _price("0.40", "1.60"),
    "gpt-4.1-nano": _price("0.10", "0.40"),
    "o3-mini": _price("1.10", "4.40"),
    "o4-mini": _price("1.10", "4.40"),
    "o3": _price("2.00", "8.00"),
    "text-embedding-3-small": _price("0.02", "0"),
    "text-embedding-3-large": _price("0.13", "0"),
    "text-embedding-ada-002": _price("0.10", "0"),
}


class PriceTable:
    """Prices by model name; `cost` is None for a model it does not know."""

    def __init__(self, prices: Mapping[str, ModelPrice]) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}

    @classmethod
    def defaults(cls) -> PriceTable:
        return cls(DEFAULT_PRICES)

    def merged(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """This table with `overrides` taking precedence."""
        return PriceTable({**self._prices, **{k.lower(): v for k, v in overrides.items()}})

    def knows(self, model: str) -> bool:
        return self._lookup(model) is not None

    def cost(self, model: str, tokens_in: int | None, tokens_out: int | None) -> Decimal | None:
        """USD for one call, or None when the model has no price."""
        price = self._lookup(model)
        return None if price is None else price.cost(tokens_in, tokens_out)

    def _lookup(self, model: str) -> ModelPrice | None:
        name = model.lower()
        if name.startswith(SIMULATED_PREFIX):
            return ModelPrice(Decimal(0), Decimal(0))
        price = self._prices.get(name)
        if price is None:
            # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
            family = name.rsplit("-", 3)[0] if _is_dated(name) else None
            price = self._prices.get(family) if family else None
        return price


def _is_dated(name: str) -> bool:
    parts = name.rsplit("-", 3)
    return len(parts) == 4 and all(p.isdigit() for p in parts[1:])


def prices_from_mapping(data: Mapping[str, Any]) -> dict[str, ModelPrice]:
    """Parse {"model": {"input": 0.15, "output": 0.6}} (USD per 1M tokens).

    Raises ValueError naming the model and field that is wrong.
    """
    prices: dict[str, ModelPrice] = {}
    if not isinstance(data, Mapping):
        raise ValueError("the pricing table must be a JSON object of models")
    for model, entry in data.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"{model}: expected an object with input and output prices")
        values = []
        for field in ("input", "output"):
            raw = entry.get(field)
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError(f"{model}.{field}: expected a number (USD per 1M tokens)")
            try:
                value = Decimal(str(raw))
            except ArithmeticError as error:
                raise ValueError(f"{model}.{field}: {raw!r} is not a number") from error
            if not value.is_finite() or value < 0:
                raise ValueError(f"{model}.{field}: must be a finite number >= 0")
            values.append(value)
        prices[str(model)] = ModelPrice(values[0], values[1])
    return prices
