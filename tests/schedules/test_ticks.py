"""The pure tick logic: which ticks are due, the missed policies, DST, the checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.domain.schedules import (
    InvalidCron,
    InvalidTimezone,
    MissedPolicy,
    check_cron,
    check_timezone,
    next_runs,
    next_tick,
    plan_ticks,
    tick_idempotency_key,
    tick_task_id,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MINUTE = timedelta(minutes=1)
NOON = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def at(*parts: int, zone: ZoneInfo = BERLIN, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=zone, fold=fold)  # type: ignore[misc]


def test_ticks_due_within_the_catch_up_window_all_start() -> None:
    plan = plan_ticks(
        "* * * * * */2",
        BERLIN,
        next_run_at=NOON - timedelta(seconds=6),
        now=NOON,
        missed=MissedPolicy.SKIP,
        catch_up=MINUTE,
    )
    assert [t.astimezone(UTC) for t in plan.ticks] == [
        NOON - timedelta(seconds=6),
        NOON - timedelta(seconds=4),
        NOON - timedelta(seconds=2),
        NOON,
    ]
    assert plan.next_run_at == NOON + timedelta(seconds=2)
    assert not plan.skipped


def test_nothing_is_due_before_the_next_run() -> None:
    later = NOON + timedelta(seconds=5)
    plan = plan_ticks(
        "* * * * *", UTC, next_run_at=later, now=NOON, missed=MissedPolicy.SKIP, catch_up=MINUTE
    )
    assert plan.ticks == []
    assert plan.next_run_at == later


def test_skip_starts_no_task_for_missed_ticks_and_goes_on_from_now() -> None:
    plan = plan_ticks(
        "*/5 * * * *",
        UTC,
        next_run_at=NOON - timedelta(hours=3),
        now=NOON + timedelta(seconds=30),
        missed=MissedPolicy.SKIP,
        catch_up=MINUTE,
    )
    assert plan.ticks == [NOON]  # 30 s old: late only by the round, not missed
    assert plan.next_run_at == NOON + timedelta(minutes=5)
    assert plan.skipped


def test_run_once_starts_one_task_for_the_newest_missed_tick() -> None:
    plan = plan_ticks(
        "*/5 * * * *",
        UTC,
        next_run_at=NOON - timedelta(hours=3),
        now=NOON + timedelta(minutes=2),
        missed=MissedPolicy.RUN_ONCE,
        catch_up=MINUTE,
    )
    assert plan.ticks == [NOON]
    assert plan.next_run_at == NOON + timedelta(minutes=5)
    assert plan.skipped


def test_run_once_with_a_single_missed_tick_skips_nothing() -> None:
    plan = plan_ticks(
        "0 * * * *",
        UTC,
        next_run_at=NOON,
        now=NOON + timedelta(minutes=10),
        missed=MissedPolicy.RUN_ONCE,
        catch_up=MINUTE,
    )
    assert plan.ticks == [NOON]
    assert not plan.skipped


def test_a_schedule_away_for_years_is_planned_without_walking_every_tick() -> None:
    plan = plan_ticks(
        "* * * * * *",  # every second: 63 million missed ticks
        UTC,
        next_run_at=NOON - timedelta(days=730),
        now=NOON,
        missed=MissedPolicy.RUN_ONCE,
        catch_up=timedelta(seconds=2),
    )
    assert [t.astimezone(UTC) for t in plan.ticks] == [
        NOON - timedelta(seconds=3),  # the newest missed
        NOON - timedelta(seconds=2),
        NOON - timedelta(seconds=1),
        NOON,
    ]


def test_one_round_starts_at_most_the_limit_and_goes_on_from_there() -> None:
    plan = plan_ticks(
        "* * * * * *",
        UTC,
        next_run_at=NOON - timedelta(seconds=59),
        now=NOON,
        missed=MissedPolicy.SKIP,
        catch_up=MINUTE,
        limit=10,
    )
    assert len(plan.ticks) == 10
    assert plan.next_run_at == NOON - timedelta(seconds=49)


def test_spring_forward_a_daily_tick_in_the_gap_fires_once_right_after_it() -> None:
    # Europe/Berlin, 2025-03-30: 02:00 +01:00 jumps to 03:00 +02:00; 02:30 never happens.
    runs = next_runs("30 2 * * *", BERLIN, at(2025, 3, 29, 12, 0), 3)
    assert runs == [at(2025, 3, 30, 3, 0), at(2025, 3, 31, 2, 30), at(2025, 4, 1, 2, 30)]
    assert [r.utcoffset() for r in runs[:2]] == [timedelta(hours=2)] * 2


def test_spring_forward_an_hourly_schedule_keeps_one_tick_per_real_hour() -> None:
    runs = next_runs("0 * * * *", BERLIN, at(2025, 3, 30, 0, 30), 3)
    utc = [r.astimezone(UTC) for r in runs]
    assert runs[1] == at(2025, 3, 30, 3, 0)  # no 02:00: it does not exist
    assert utc[1] - utc[0] == timedelta(hours=1)


def test_fall_back_a_tick_in_the_repeated_hour_fires_at_both_instants() -> None:
    # America/New_York, 2025-11-02: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    start = datetime(2025, 11, 2, 4, 0, tzinfo=UTC)  # 00:00 EDT
    plan = plan_ticks(
        "30 1 * * *",
        NEW_YORK,
        next_run_at=next_tick("30 1 * * *", NEW_YORK, start),
        now=datetime(2025, 11, 2, 7, 0, tzinfo=UTC),
        missed=MissedPolicy.SKIP,
        catch_up=timedelta(hours=6),
    )
    assert [t.astimezone(UTC) for t in plan.ticks] == [
        datetime(2025, 11, 2, 5, 30, tzinfo=UTC),  # 01:30 EDT
        datetime(2025, 11, 2, 6, 30, tzinfo=UTC),  # 01:30 EST
    ]
    ids = {tick_task_id(uuid.UUID(int=1), t) for t in plan.ticks}
    assert len(ids) == 2  # two instants, two tasks
    assert plan.next_run_at.astimezone(UTC) == datetime(2025, 11, 3, 6, 30, tzinfo=UTC)


def test_a_ticks_task_id_is_md5_of_the_schedule_and_the_utc_tick() -> None:
    schedule = uuid.UUID("0196a1b2-0000-7000-8000-000000000001")
    tick = at(2025, 1, 1, 13, 0)  # 12:00 UTC
    assert tick_idempotency_key(schedule, tick) == (
        "schedule:0196a1b2-0000-7000-8000-000000000001:2025-01-01T12:00:00+00:00"
    )
    # SELECT md5('0196a1b2-0000-7000-8000-000000000001:2025-01-01T12:00:00+00:00')::uuid
    assert tick_task_id(schedule, tick) == tick_task_id(schedule, tick.astimezone(UTC))
    assert tick_task_id(schedule, tick) != tick_task_id(schedule, tick + MINUTE)


@pytest.mark.parametrize(
    "expression",
    ["", "61 * * * *", "* * *", "* * * * * * *", "0 0 31 2 *", "H * * * *", "every day"],
)
def test_invalid_cron_expressions_are_refused(expression: str) -> None:
    with pytest.raises(InvalidCron):
        check_cron(expression)


def test_cron_expressions_are_normalised() -> None:
    assert check_cron("  */2  * * * *  * ") == "*/2 * * * * *"
    assert check_cron("@hourly") == "@hourly"


@pytest.mark.parametrize("name", ["", "Mars/Olympus", "../etc/passwd", "localtime", "+01:00"])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidTimezone):
        check_timezone(name)


def test_iana_time_zones_are_accepted() -> None:
    assert check_timezone("Europe/Berlin") == BERLIN
    assert check_timezone("UTC") == ZoneInfo("UTC")
