"""GET /health's checks run at most once per max_age, however many callers ask."""

from __future__ import annotations

import asyncio

import pytest

from app.application.health import CheckResult, SharedHealth


class CountingCheck:
    name = "postgres"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.runs = 0

    async def check(self) -> CheckResult:
        self.runs += 1
        await asyncio.sleep(self.delay)
        return CheckResult(ok=True, info={"run": self.runs})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_callers_at_the_same_time_share_one_run() -> None:
    check = CountingCheck(delay=0.05)
    health = SharedHealth([check], max_age=1.0)
    reports = await asyncio.gather(*(health.report() for _ in range(100)))
    assert check.runs == 1
    assert all(report is reports[0] for report in reports)


async def test_a_report_is_reused_until_it_is_max_age_old() -> None:
    check, clock = CountingCheck(), Clock()
    health = SharedHealth([check], max_age=1.0, clock=clock)
    first = await health.report()
    clock.now += 0.9
    assert await health.report() is first
    assert health.age() == pytest.approx(0.9)
    clock.now += 0.1
    fresh = await health.report()
    assert fresh.checks["postgres"]["run"] == 2
    assert check.runs == 2


async def test_a_caller_that_leaves_does_not_cancel_the_run_others_wait_for() -> None:
    check = CountingCheck(delay=0.05)
    health = SharedHealth([check])
    leaving = asyncio.ensure_future(health.report())
    staying = asyncio.ensure_future(health.report())
    await asyncio.sleep(0.01)
    leaving.cancel()
    assert (await staying).ok
    assert check.runs == 1
