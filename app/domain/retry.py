"""Retry policy: exponential backoff with full jitter, capped.

Pure: the caller passes the random source, so tests and the engine agree on
what a given draw means.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# No retry waits longer than this, whatever a policy or a server's retry-after says.
MAX_DELAY_SECONDS = 30 * 86_400.0
# A server's Retry-After is trusted up to an hour: a broken or hostile server asking
# for 10^9 seconds must not park a task for the 30 days a policy may choose.
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before attempt `n + 1` after attempt `n` failed."""

    base_seconds: float = 2.0
    factor: float = 2.0
    max_seconds: float = 300.0
    # Share of the delay drawn at random, so retries of a burst spread out.
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not all(map(math.isfinite, (self.base_seconds, self.factor, self.max_seconds))):
            raise ValueError("backoff values must be finite numbers")
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        if self.base_seconds > MAX_DELAY_SECONDS or self.max_seconds > MAX_DELAY_SECONDS:
            raise ValueError("backoff seconds must not exceed 30 days")
        if self.factor < 1 or self.factor > 100:
            raise ValueError("backoff factor must be between 1 and 100")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")

    def ceiling(self, attempt_no: int) -> float:
        """The delay before jitter after attempt `attempt_no` (1-based) failed."""
        exponent = max(attempt_no - 1, 0)
        # Cap the exponent first so a large attempt number cannot overflow a float.
        raw = self.base_seconds * self.factor ** min(exponent, 64)
        return min(raw, self.max_seconds)

    def delay(
        self,
        attempt_no: int,
        *,
        retry_after: float | None = None,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait; a server's retry-after wins when it asks for longer."""
        ceiling = self.ceiling(attempt_no)
        draw = (rng or random).random()
        delay = ceiling * (1 - self.jitter) + ceiling * self.jitter * draw
        if retry_after is not None and retry_after > delay:
            delay = retry_after
        return min(delay, MAX_DELAY_SECONDS)


def policy_from_mapping(values: Mapping[str, object], base: RetryPolicy) -> RetryPolicy:
    """A policy from `{"baseSeconds", "factor", "maxSeconds"}`, the rest taken from `base`.

    Raises ValueError for unknown keys or values that are not sensible numbers.
    """
    unknown = set(values) - {"baseSeconds", "factor", "maxSeconds"}
    if unknown:
        raise ValueError(f"unknown retry policy fields: {', '.join(sorted(unknown))}")

    def number(key: str, default: float) -> float:
        value = values.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"retry policy {key} must be a number")
        return float(value)

    return RetryPolicy(
        base_seconds=number("baseSeconds", base.base_seconds),
        factor=number("factor", base.factor),
        max_seconds=number("maxSeconds", base.max_seconds),
        jitter=base.jitter,
    )


def retry_after_from_headers(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Seconds a server asks us to wait: `retry-after-ms` (OpenAI's), else `Retry-After`
    as seconds or an HTTP date; None when absent or unreadable; at most
    MAX_RETRY_AFTER_SECONDS. `headers` is looked up by lower-case names."""
    seconds: float | None = None
    milliseconds = (headers.get("retry-after-ms") or "").strip()
    if milliseconds:
        seconds = _number(milliseconds)
        seconds = seconds / 1000 if seconds is not None else None
    if seconds is None:
        value = (headers.get("retry-after") or "").strip()
        if not value:
            return None
        seconds = _number(value)
        if seconds is None:
            try:
                when = parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
