"""Schedules, the pure part: cron expressions and time zones checked, ticks computed.

A schedule fires at every instant whose wall-clock time, in the schedule's time zone,
matches its cron expression (croniter, with a zoned datetime). Around daylight saving
changes that means (tests/schedules/test_ticks.py):
- spring forward: a wall time in the gap does not exist. A schedule whose only match
  of the day is in the gap (`30 2 * * *` in Europe/Berlin) fires once, at the first
  instant after the gap (03:00 +02:00); one that also matches after it (`0 * * * *`)
  simply has no tick at 02:00 (an hourly job keeps one tick per real hour).
- fall back: the repeated hour happens twice, and so do its matches: `30 2 * * *` in
  Europe/Berlin fires at 02:30 +02:00 and again at 02:30 +01:00. Ticks are instants,
  so the two are two ticks, each with its own task.

The leader's keeper asks `plan_ticks` which ticks are due; ticks older than the
catch-up window were missed (nothing ran then) and follow the schedule's policy.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

MAX_CRON_LENGTH = 200
MAX_TIMEZONE_LENGTH = 64
NEXT_RUNS_SHOWN = 5
# Ticks one schedule may start in one round; the rest follow in the next rounds.
MAX_TICKS_PER_ROUND = 1_000


class MissedPolicy(enum.StrEnum):
    """What a schedule does with ticks that came and went while nothing ran."""

    SKIP = "skip"  # no task for them; on from the next tick
    RUN_ONCE = "runOnce"  # one task, for the newest of them; then on


class InvalidCron(ValueError):
    """Not a cron expression this service runs."""


class InvalidTimezone(ValueError):
    """Not an IANA time zone name."""


def check_cron(expression: str) -> str:
    """The expression, stripped, if it is a cron expression that fires: five fields
    (minute hour day month weekday), a sixth for seconds, or an alias such as
    `@hourly`. InvalidCron says what is wrong."""
    text = " ".join(expression.split())
    if not text or len(text) > MAX_CRON_LENGTH:
        raise InvalidCron(f"must be 1 to {MAX_CRON_LENGTH} characters")
    if not 1 <= len(text.split()) <= 6 or (len(text.split()) < 5 and not text.startswith("@")):
        raise InvalidCron(
            "must have 5 fields (minute hour day month weekday), or 6 with seconds last"
        )
    if not croniter.is_valid(text):
        raise InvalidCron(f"{text!r} is not a valid cron expression")
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidCron(f"{text!r} never fires") from None
    except (CroniterBadCronError, CroniterError) as error:
        raise InvalidCron(f"{text!r} is not a valid cron expression: {error}") from None
    return text


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone `name` (`Europe/Berlin`, `UTC`); InvalidTimezone otherwise."""
    if not name or len(name) > MAX_TIMEZONE_LENGTH:
        raise InvalidTimezone("must be an IANA time zone name such as Europe/Berlin or UTC")
    if name not in _zone_names():
        raise InvalidTimezone(f"{name!r} is not an IANA time zone name (such as Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTimezone(f"{name!r} is not an IANA time zone name") from None


@cache
def _zone_names() -> frozenset[str]:
    # The names the tz database knows (read once), less the host's own (which moves).
    return (frozenset(available_timezones()) | {"UTC"}) - {"localtime", "posixrules", "Factory"}


def zone_names() -> list[str]:
    """Every time zone name a schedule may use, sorted."""
    return sorted(_zone_names())


def _after(cron: str, zone: ZoneInfo, instant: datetime) -> croniter:
    # croniter walks wall-clock time in the zone of its start: start in the schedule's.
    return croniter(cron, instant.astimezone(zone))


def next_tick(cron: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first tick strictly after `after`, in the schedule's zone."""
    found: datetime = _after(cron, zone, after).get_next(datetime)
    return found


def next_runs(
    cron: str, zone: ZoneInfo, after: datetime, count: int = NEXT_RUNS_SHOWN
) -> list[datetime]:
    """The next `count` ticks after `after`, in the schedule's zone."""
    walker = _after(cron, zone, after)
    return [walker.get_next(datetime) for _ in range(count)]


@dataclass(frozen=True, slots=True)
class TickPlan:
    """What one round does for a schedule: tasks for `ticks` (oldest first), then its
    next run; `skipped` when missed ticks got no task (the skip policy, or all but the
    newest under runOnce)."""

    ticks: list[datetime]
    next_run_at: datetime
    skipped: bool = False


def plan_ticks(
    cron: str,
    zone: ZoneInfo,
    *,
    next_run_at: datetime,
    now: datetime,
    missed: MissedPolicy,
    catch_up: timedelta,
    limit: int = MAX_TICKS_PER_ROUND,
) -> TickPlan:
    """The ticks due from `next_run_at` (itself a tick) up to `now`.

    Ticks within `catch_up` of `now` are late only by the keeper's round (or a leader
    change) and all get their task. Older ticks were missed: `skip` drops them,
    `runOnce` keeps the newest. Never walks the missed ones one by one: a schedule
    away for a year costs what one away for a minute does."""
    # Compared in UTC: two times of one zone compare by wall clock, blind to DST's fold.
    now, next_run_at = now.astimezone(UTC), next_run_at.astimezone(UTC)
    if next_run_at > now:
        return TickPlan([], next_run_at.astimezone(zone))
    cutoff = now - catch_up
    ticks: list[datetime] = []
    skipped = False
    start = next_run_at
    if next_run_at < cutoff:
        newest_missed = _utc(_after(cron, zone, cutoff).get_prev(datetime))
        newest_missed = max(newest_missed, next_run_at)  # next_run_at is a missed tick
        skipped = missed is MissedPolicy.SKIP or newest_missed != next_run_at
        if missed is MissedPolicy.RUN_ONCE:
            ticks.append(newest_missed.astimezone(zone))
        start = _utc(next_tick(cron, zone, newest_missed))
    walker = _after(cron, zone, start)
    tick = start
    while tick <= now and len(ticks) < limit:
        ticks.append(tick.astimezone(zone))
        tick = _utc(walker.get_next(datetime))
    return TickPlan(ticks, tick.astimezone(zone), skipped)


def _utc(instant: datetime) -> datetime:
    return instant.astimezone(UTC)


def tick_key(schedule_id: uuid.UUID, tick: datetime) -> str:
    """The tick as the key names it: the schedule, and the instant in UTC."""
    return f"{schedule_id}:{tick.astimezone(UTC).isoformat()}"


def tick_task_id(schedule_id: uuid.UUID, tick: datetime) -> uuid.UUID:
    """The id of the task a tick starts: `md5(schedule_id || ':' || tick_utc_iso)::uuid`
    as psql would compute it, so one tick can only ever insert one task."""
    digest = hashlib.md5(tick_key(schedule_id, tick).encode(), usedforsecurity=False)
    return uuid.UUID(hex=digest.hexdigest())


def tick_idempotency_key(schedule_id: uuid.UUID, tick: datetime) -> str:
    """The task's idempotency key: the same (schedule, tick) as its id."""
    return f"schedule:{tick_key(schedule_id, tick)}"
