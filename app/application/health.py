"""Health: each dependency answers a check; the service is healthy when all do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One dependency's answer."""

    ok: bool
    detail: str | None = None
    # Figures worth showing beside the status (the outbox lag, for instance).
    info: dict[str, object] = field(default_factory=dict)


class HealthCheck(Protocol):
    """A dependency that can say whether it works right now."""

    name: str

    async def check(self) -> CheckResult:
        """Answer within a bounded time; never raise."""
        ...


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The service's health: ok only when every check is."""

    ok: bool
    checks: dict[str, dict[str, object]] = field(default_factory=dict)


async def check_health(checks: Sequence[HealthCheck]) -> HealthReport:
    """Run every check at once and collect the answers."""

    async def timed(check: HealthCheck) -> tuple[str, CheckResult, float]:
        started = time.perf_counter()
        result = await check.check()
        return check.name, result, (time.perf_counter() - started) * 1000

    answers = await asyncio.gather(*(timed(check) for check in checks))
    report: dict[str, dict[str, object]] = {}
    for name, result, elapsed_ms in answers:
        entry: dict[str, object] = {
            "status": "up" if result.ok else "down",
            "latencyMs": round(elapsed_ms, 1),
        }
        if result.detail:
            entry["detail"] = result.detail
        entry.update(result.info)
        report[name] = entry
    return HealthReport(ok=all(result.ok for _, result, _ in answers), checks=report)


class SharedHealth:
    """The checks' report, shared: at most one run at a time, reused for `max_age` s.

    Callers arriving while a run is under way wait for that run; a report younger than
    `max_age` (counted from when its run started) is answered without running anything,
    so any number of callers cost at most one run of the checks per `max_age`.
    """

    def __init__(
        self,
        checks: Sequence[HealthCheck],
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.checks = checks
        self.max_age = max_age
        self._clock = clock
        self._last: HealthReport | None = None
        self._started = 0.0
        self._running: asyncio.Future[HealthReport] | None = None

    def age(self) -> float:
        """Seconds since the run behind the latest report started."""
        return max(0.0, self._clock() - self._started) if self._last is not None else 0.0

    async def report(self) -> HealthReport:
        """A report at most `max_age` seconds old."""
        if self._last is not None and self._clock() - self._started < self.max_age:
            return self._last
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # Shielded: a caller that goes away does not cancel the run the others wait for.
        return await asyncio.shield(self._running)

    async def _run(self) -> HealthReport:
        started = self._clock()
        try:
            report = await check_health(self.checks)
        finally:
            self._running = None
        self._last, self._started = report, started
        return report
