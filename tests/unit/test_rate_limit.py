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


def test_many_new_callers_cannot_reset_a_busy_callers_bucket() -> None:
    limiter = RateLimiter(rate=1, burst=5, max_keys=100)
    flooder_waits = []
    for n in range(1_000):  # ten times as many strangers as the limiter tracks
        limiter.check(f"stranger-{n}", 0.0)
        flooder_waits.append(limiter.check("flooder", 0.0))
    assert flooder_waits[:5] == [0, 0, 0, 0, 0]
    assert all(wait > 0 for wait in flooder_waits[5:])
    assert len(limiter) == 100


def test_the_caller_idle_longest_is_forgotten_first() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=2)
    limiter.check("old", 0.0)
    limiter.check("recent", 0.0)
    limiter.check("old", 0.5)  # asks again: now the most recent
    limiter.check("new", 0.5)  # makes room by forgetting "recent"
    assert limiter.waiting("old", 0.5) > 0
    assert limiter.waiting("recent", 0.5) == 0  # not tracked: a full bucket
    assert len(limiter) == 2


def test_a_request_can_cost_more_than_one_token() -> None:
    limiter = RateLimiter(rate=100, burst=500)
    assert limiter.check("a", now=0.0, cost=400) == 0
    assert limiter.check("a", now=0.0, cost=200) == pytest.approx(1.0)  # 100 short
    assert limiter.check("a", now=1.0, cost=200) == 0


def test_a_cost_above_the_burst_spends_the_whole_burst() -> None:
    limiter = RateLimiter(rate=100, burst=500)
    assert limiter.check("a", now=0.0, cost=2000) == 0
    assert limiter.check("a", now=0.0) > 0
