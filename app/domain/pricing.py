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
# The simulated provider names its models "simulated:<model>"; the composition root
# prices them at 0 when (and only when) that provider is the one configured.
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


FREE = ModelPrice(Decimal(0), Decimal(0))


def _price(input_per_million: str, output_per_million: str) -> ModelPrice:
    return ModelPrice(Decimal(input_per_million), Decimal(output_per_million))


# List prices in USD per 1M tokens (standard tier, as published in 2025). Override or
# extend them with AI_PRICING_FILE; a price list goes stale, so check yours.
DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": _price("2.50", "10.00"),
    "gpt-4o-2024-11-20": _price("2.50", "10.00"),
    "gpt-4o-2024-08-06": _price("2.50", "10.00"),
    "gpt-4o-2024-05-13": _price("5.00", "15.00"),
    "gpt-4o-mini": _price("0.15", "0.60"),
    "gpt-4o-mini-2024-07-18": _price("0.15", "0.60"),
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

    def __init__(
        self, prices: Mapping[str, ModelPrice], *, free_prefixes: tuple[str, ...] = ()
    ) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        self._free_prefixes = free_prefixes

    @classmethod
    def defaults(cls) -> PriceTable:
        return cls(DEFAULT_PRICES)

    def merged(self, overrides: Mapping[str, ModelPrice]) -> PriceTable:
        """This table with `overrides` taking precedence."""
        return PriceTable(
            {**self._prices, **{k.lower(): v for k, v in overrides.items()}},
            free_prefixes=self._free_prefixes,
        )

    def with_free_prefix(self, prefix: str) -> PriceTable:
        """This table, with every model named `prefix…` costing nothing."""
        return PriceTable(self._prices, free_prefixes=(*self._free_prefixes, prefix.lower()))

    def knows(self, model: str) -> bool:
        return self._lookup(model) is not None

    def cost(self, model: str, tokens_in: int | None, tokens_out: int | None) -> Decimal | None:
        """USD for one call, or None when the model has no price."""
        price = self._lookup(model)
        return None if price is None else price.cost(tokens_in, tokens_out)

    def _lookup(self, model: str) -> ModelPrice | None:
        # Exact names only: a dated snapshot may not cost what its family costs
        # (gpt-4o-2024-05-13 lists at twice gpt-4o's price), so it is listed or unknown.
        name = model.lower()
        if name.startswith(self._free_prefixes):
            return FREE
        return self._prices.get(name)


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
