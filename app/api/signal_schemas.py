"""Bodies of /api/v1/signals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, JsonValue, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

from app.api.input_types import Output, RequestBody, SafeText, check_json_value, whole_number
from app.application.signals import MAX_RETENTION_SECONDS
from app.domain.waits import MAX_KEY

# Any text a waiting handler can name (ctx.wait_for_signal takes the same): 1 to 200
# characters, no NUL. Not the visible-ASCII rule of Idempotency-Key: a key is often a
# business value (an order number, an address), and a sender refused what a handler
# may wait for would leave that task waiting for ever.
SignalText = Annotated[SafeText, StringConstraints(min_length=1, max_length=MAX_KEY)]

DATA_EXAMPLE: dict[str, JsonValue] = {"amountEur": 120, "provider": "acme-pay"}
EXAMPLE: dict[str, JsonValue] = {
    "name": "payment.settled",
    "key": "order-7",
    "data": DATA_EXAMPLE,
    "id": "0193a4f2-7c1e-7b4a-9f3d-2a6c8e1b5d40",
    "retentionSeconds": 3600,
}


class SendSignalRequest(RequestBody):
    """A signal: resumes every task of the caller's tenant waiting for `name` and `key`
    (`ctx.wait_for_signal(name, key)` or a task created to wait for it), and is kept
    `retentionSeconds` so that a wait registered meanwhile is answered at once."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=True,
        json_schema_extra={"examples": [EXAMPLE]},
    )

    name: SignalText = Field(description="What happened, e.g. `payment.settled`.")
    key: SignalText = Field(description="To what: which waits it answers, e.g. an order id.")
    data: Any = Field(
        default=None, description="Any JSON, handed to the resumed handlers as it is."
    )
    id: uuid.UUID | None = Field(
        default=None,
        strict=False,
        description="Makes retries safe: the same id with the same body answers the first "
        "delivery again (200, `Idempotent-Replayed: true`); with another body it is a 422. "
        "Without one, the server makes one. Remembered as long as the signal is kept.",
    )
    retention_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RETENTION_SECONDS,
        description="How long the signal is kept for waits registered after it "
        "(default SIGNAL_RETENTION_SECONDS, 86400).",
    )

    _whole_numbers = field_validator("retention_seconds", mode="before")(whole_number)

    @field_validator("data")
    @classmethod
    def _storable_data(cls, data: Any) -> Any:
        check_json_value(data)
        return data


SIGNAL_EXAMPLE: dict[str, JsonValue] = {
    "id": EXAMPLE["id"],
    "name": "payment.settled",
    "key": "order-7",
    "receivedAt": "2026-12-03T16:00:00Z",
    "expiresAt": "2026-12-03T17:00:00Z",
    "resumed": 1,
}


class SignalBody(Output):
    """A signal as kept."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        json_schema_extra={"examples": [SIGNAL_EXAMPLE]},
    )

    id: uuid.UUID
    name: str
    key: str
    received_at: datetime
    expires_at: datetime = Field(
        description="Until then a wait registered for its name and key is answered by it "
        "(the newest live one, if several)."
    )
    resumed: int = Field(description="Waiting tasks it resumed when it arrived.")


class SignalDetail(SignalBody):
    """A signal as kept, with its data."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        json_schema_extra={"examples": [{**SIGNAL_EXAMPLE, "data": DATA_EXAMPLE}]},
    )

    data: Any = None
