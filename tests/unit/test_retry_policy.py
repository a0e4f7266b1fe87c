"""Backoff: exponential, capped, jittered, and a server's retry-after wins when later."""

from __future__ import annotations

import random

import pytest

from app.domain.retry import RetryPolicy


def test_ceiling_doubles_per_attempt_until_the_cap() -> None:
    policy = RetryPolicy(base_seconds=1, factor=2, max_seconds=10)
    assert [policy.ceiling(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert RetryPolicy(max_seconds=300).ceiling(10_000) == 300


def test_jitter_keeps_delays_between_half_and_full_ceiling() -> None:
    policy = RetryPolicy(base_seconds=4, factor=2, max_seconds=100, jitter=0.5)
    rng = random.Random(7)
    delays = [policy.delay(3, rng=rng) for _ in range(500)]
    assert min(delays) >= 8 and max(delays) <= 16
    # Spread out, not one value: that is the point of jitter.
    assert max(delays) - min(delays) > 6


def test_no_jitter_gives_the_ceiling_exactly() -> None:
    assert RetryPolicy(base_seconds=3, jitter=0).delay(2) == 6


def test_retry_after_wins_when_it_asks_for_longer() -> None:
    policy = RetryPolicy(base_seconds=1, jitter=0)
    assert policy.delay(1, retry_after=30) == 30


def test_retry_after_shorter_than_backoff_is_ignored() -> None:
    policy = RetryPolicy(base_seconds=10, jitter=0)
    assert policy.delay(1, retry_after=2) == 10


@pytest.mark.parametrize(
    "kwargs",
    [{"base_seconds": -1}, {"max_seconds": -5}, {"factor": 0.5}, {"jitter": 1.5}],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


def test_a_policy_from_a_task_fills_gaps_from_the_base() -> None:
    from app.domain.retry import policy_from_mapping

    policy = policy_from_mapping({"baseSeconds": 1}, RetryPolicy(factor=3, max_seconds=50))
    assert (policy.base_seconds, policy.factor, policy.max_seconds) == (1, 3, 50)


@pytest.mark.parametrize(
    "values",
    [{"baseSeconds": "soon"}, {"factor": True}, {"speed": 2}, {"maxSeconds": float("nan")}],
)
def test_a_bad_task_policy_is_refused(values: dict[str, object]) -> None:
    from app.domain.retry import policy_from_mapping

    with pytest.raises(ValueError):
        policy_from_mapping(values, RetryPolicy())


def test_no_wait_exceeds_thirty_days() -> None:
    assert RetryPolicy(jitter=0).delay(1, retry_after=1e12) == 30 * 86_400
