"""Retry policy: exponential backoff with full jitter, capped.

Pure: the caller passes the random source, so tests and the engine agree on
what a given draw means.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before attempt `n + 1` after attempt `n` failed."""

    base_seconds: float = 2.0
    factor: float = 2.0
    max_seconds: float = 300.0
    # Share of the delay drawn at random, so retries of a burst spread out.
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("backoff seconds must not be negative")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
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
            return retry_after
        return delay
