"""GET /api/v1/usage: what the caller's tasks consumed, per UTC day and model."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel
from quart import Blueprint
from quart_schema import validate_querystring, validate_response

from app.api.auth import require_api_key, tenant_scope
from app.api.dependencies import deps
from app.api.input_types import EARLIEST, Output, Schema

blueprint = Blueprint("usage", __name__, url_prefix="/api/v1")
blueprint.before_request(require_api_key)

DEFAULT_DAYS = 30
MAX_SPAN_DAYS = 366
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def today() -> date:
    """The current day in UTC."""
    return datetime.now(UTC).date()


class UsageQuery(Schema):
    """The days of GET /api/v1/usage, both inclusive, in UTC."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    from_: date | None = Field(
        default=None, alias="from", description="First day (YYYY-MM-DD); default `to` - 29 days."
    )
    # Validated even when absent, so the span check below always runs.
    to: date | None = Field(
        default=None, validate_default=True, description="Last day (YYYY-MM-DD); default today."
    )

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> Any:
        # Only YYYY-MM-DD: no timestamps, no datetimes that quietly lose their time.
        if value is not None and not (isinstance(value, str) and _ISO_DATE.match(value)):
            raise ValueError("must be a date as YYYY-MM-DD")
        return value

    @field_validator("from_", "to")
    @classmethod
    def _sensible_day(cls, value: date | None) -> date | None:
        if value is not None and value < EARLIEST.date():
            raise ValueError(f"must be {EARLIEST.date()} or later")
        return value

    @field_validator("to")
    @classmethod
    def _ordered_span(cls, value: date | None, info: ValidationInfo) -> date | None:
        first: date | None = info.data.get("from_")
        if first is None:  # absent (its default always fits) or already refused
            return value
        last = value or today()
        if first > last:
            raise ValueError("must not be before from (to defaults to today)")
        if (last - first).days + 1 > MAX_SPAN_DAYS:
            raise ValueError(f"from..to may span at most {MAX_SPAN_DAYS} days")
        return value

    def days(self) -> tuple[date, date]:
        """The first and last day asked for, defaults applied."""
        last = self.to or today()
        first = self.from_ or max(last - timedelta(days=DEFAULT_DAYS - 1), EARLIEST.date())
        return first, last


class UsageItem(Output):
    """One UTC day and model."""

    day: date
    model: str | None = Field(description="null when the attempts named no model.")
    attempts: int = Field(description="Ended attempts that reported a model, tokens or a cost.")
    tokens_in: int
    tokens_out: int
    cost: float | None = Field(description="Sum of known costs; null when none was priced.")
    unpriced_attempts: int = Field(description="Attempts whose cost is unknown.")
    avg_latency_ms: int | None


class UsageTotals(Output):
    """The whole span."""

    attempts: int
    tokens_in: int
    tokens_out: int
    cost: float | None
    unpriced_attempts: int


class UsageReport(Output):
    from_: date = Field(alias="from")
    to: date
    items: list[UsageItem]
    totals: UsageTotals


@blueprint.get("/usage")
@validate_querystring(UsageQuery)
@validate_response(UsageReport, 200)
async def usage(query_args: UsageQuery) -> UsageReport:
    """Attempts, tokens, cost and latency of the caller's tasks per UTC day and model.

    Days are inclusive; by default the last 30 days ending today, at most 366.
    Pruned tasks still count: their usage is kept when they are deleted.
    """
    first, last = query_args.days()
    rows = await deps().queries.usage_daily(tenant_scope(), first, last)
    items = [usage_item(row) for row in rows]
    costs = [row["cost"] for row in rows if row["cost"] is not None]
    totals = UsageTotals(
        attempts=sum(item.attempts for item in items),
        tokens_in=sum(item.tokens_in for item in items),
        tokens_out=sum(item.tokens_out for item in items),
        # Summed as Decimal, converted once: no float error piling up over the rows.
        cost=float(sum(costs, Decimal(0))) if costs else None,
        unpriced_attempts=sum(item.unpriced_attempts for item in items),
    )
    return UsageReport.model_validate({"from": first, "to": last, "items": items, "totals": totals})


def usage_item(row: dict[str, Any]) -> UsageItem:
    cost = row["cost"]
    return UsageItem.model_validate(
        {
            **row,
            "model": row["model"] or None,
            "cost": float(cost) if cost is not None else None,
        }
    )
