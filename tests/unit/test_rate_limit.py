"""The token bucket behind 429 answers."""

from __future__ import annotations

import pytest

from app.domain.rate_limit import RateLimiter


def test_a_burst_is_allowed_then_the_rate_applies() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.check("k", 10.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.check("k", 10.0) == pytest.approx(0.5)
    assert limiter.check("k", 10.5) == 0  # one token came back after half a second


def test_callers_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.check("a", 0.5) == 0
    assert limiter.check("b", 0.5) == 0
    assert limiter.check("a", 0.5) > 0


def test_waiting_looks_without_spending() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.waiting("k", 0.0) == 0  # never seen
    limiter.check("k", 0.0)
    assert limiter.waiting("k", 0.5) == pytest.approx(0.5)
    assert limiter.waiting("k", 0.5) == pytest.approx(0.5)  # unchanged by looking
    assert limiter.waiting("k", 1.0) == 0
