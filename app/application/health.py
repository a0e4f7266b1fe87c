"""Health: each dependency answers a check; the service is healthy when all do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
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
