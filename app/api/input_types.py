"""The building blocks of request and response bodies: strict input types, the rules
for text Postgres can store and for idempotency keys, and the camelCase base models."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

MAX_DEPTH = 32
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=365)


def check_json_value(value: Any, depth: int = 0) -> None:
    """Raise ValueError for what Postgres cannot store as jsonb (NUL, lone surrogates,
    non-finite numbers) or nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key))
            check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth + 1)


def check_text(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    if text.isascii():  # the common case, and no surrogate is ASCII: skip the encoding
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from error
    return text


SafeText = Annotated[str, AfterValidator(check_text)]

MAX_KEY_LENGTH = 255
# Visible ASCII (0x21-0x7E): no spaces, tabs, control characters or escape sequences,
# so a key reads the same in every log, proxy and terminal.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
KEY_RULE = f"1 to {MAX_KEY_LENGTH} visible ASCII characters (0x21-0x7E: no spaces or controls)"


def check_key(key: str) -> str:
    """An idempotency key: 1-255 visible ASCII characters, or ValueError saying so."""
    if not (1 <= len(key) <= MAX_KEY_LENGTH and _VISIBLE_ASCII.fullmatch(key)):
        raise ValueError(f"must be {KEY_RULE}")
    return key


IdempotencyKey = Annotated[
    str,
    AfterValidator(check_key),
    Field(
        description=f"Makes retries safe: {KEY_RULE}.",
        # Documented, not enforced: check_key words the error better than a regex would.
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
        examples=["order-7"],
    ),
]


def _iso_time(value: Any) -> Any:
    # JSON has no time type: only an ISO 8601 string, never a number (read as Unix time).
    if not (isinstance(value, str) and _ISO_TIME.match(value)):
        raise ValueError("must be an ISO 8601 date and time with an offset, as a string")
    return value


_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
IsoTime = Annotated[AwareDatetime, BeforeValidator(_iso_time), Field(strict=False)]


def _digits(value: Any) -> Any:
    # A query string arrives as text: decimal digits only (no sign, spaces, "1.0", "1_000",
    # "true"), so a number in a link reads the same to every parser.
    text = value if isinstance(value, str) else str(value)
    if isinstance(value, bool) or not (text.isascii() and text.isdigit()):
        raise ValueError("must be a whole number written with the digits 0-9")
    return value


def _true_or_false(value: Any) -> Any:
    if not (isinstance(value, bool) or value in ("true", "false")):
        raise ValueError("must be true or false")
    return value


QueryInt = Annotated[int, BeforeValidator(_digits)]


def whole_number(value: Any) -> Any:
    """A "before" validator for integer fields: JSON Schema's "integer" includes 8.0;
    strict validation still refuses 8.5, true and "8". (As a field validator, not an
    Annotated type: pydantic then drops an optional field's bounds from its schema.)"""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]


class Schema(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class RequestBody(Schema):
    """A JSON request body, validated strictly: a number is a JSON number (never a
    string or a boolean), an integer has no fraction (8.0 is 8, as in JSON Schema), a
    boolean is true or false. Only enums and times (strings in JSON) are read from text."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


class Output(BaseModel):
    """camelCase on the wire; built from rows, so columns it does not show are ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )
