"""The keeper against real Postgres: one task per tick, named in its first event; missed
policies; two keepers at once (two leaders overlapping) still start each tick once."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

from app.adapters.postgres.schedule_store import PgScheduleStore
from app.application.schedule_keeper import KeeperConfig, ScheduleKeeper
from app.bootstrap import Services, build_services
from tests.schedules.conftest import Conn, MakeSchedule, set_next_run, ticks_of
from tests.workers.conftest import fast_settings

HOUR = timedelta(hours=1)


def keeper(store: PgScheduleStore, catch_up: float = 6 * 3600) -> ScheduleKeeper:
    return ScheduleKeeper(store, KeeperConfig(catch_up_seconds=catch_up))


async def test_each_due_tick_starts_one_task_named_in_its_first_event(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    schedule = await make_schedule("0 * * * *")
    start = await set_next_run(conn, schedule.id, "date_trunc('hour', now()) - interval '2 hours'")

    assert await keeper(store).run_once() == 3

    assert await ticks_of(conn, schedule.id) == [start, start + HOUR, start + 2 * HOUR]
    cursor = await conn.execute(
        "SELECT t.id, t.type, t.status::text, t.payload, e.sequence, e.detail"
        " FROM tasks t JOIN task_events e ON e.task_id = t.id"
        " WHERE t.scheduled_at = %s",
        (start,),
    )
    [(task_id, task_type, status, payload, sequence, detail)] = await cursor.fetchall()
    assert (task_type, status, sequence) == ("demo.noop", "Queued", 1)
    assert payload == {"from": "schedule"}
    assert detail["schedule"] == {"id": str(schedule.id), "tick": start.isoformat()}
    # The id a DBA can compute: md5(schedule id || ':' || the tick in UTC)::uuid.
    cursor = await conn.execute(
        "SELECT md5(%s || ':' || to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        " || '+00:00')::uuid",
        (str(schedule.id), start),
    )
    assert await cursor.fetchone() == (task_id,)
    now = await store.get(schedule.tenant_id, schedule.id)
    assert now is not None
    assert (now.last_tick_at, now.next_run_at) == (start + 2 * HOUR, start + 3 * HOUR)


async def test_a_second_round_starts_nothing_more(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    schedule = await make_schedule("0 * * * *")
    await set_next_run(conn, schedule.id, "date_trunc('hour', now()) - interval '1 hour'")
    assert await keeper(store).run_once() == 2
    assert await keeper(store).run_once() == 0
    assert len(await ticks_of(conn, schedule.id)) == 2


async def test_a_tick_started_already_is_not_started_again_by_a_keeper_that_is_behind(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    """The second guard: a keeper that read an old next_run_at (two leaders overlapping)
    inserts nothing for ticks that have their task."""
    schedule = await make_schedule("0 * * * *")
    sql = "date_trunc('hour', now()) - interval '2 hours'"
    await set_next_run(conn, schedule.id, sql)
    assert await keeper(store).run_once() == 3
    await set_next_run(conn, schedule.id, sql)  # as if the advance had never happened
    assert await keeper(store).run_once() == 0
    assert len(await ticks_of(conn, schedule.id)) == 3


async def test_two_keepers_at_once_start_each_tick_once(
    conn: Conn, database_url: str, tmp_path: object, make_schedule: MakeSchedule
) -> None:
    schedules = [await make_schedule("* * * * *") for _ in range(40)]
    for schedule in schedules:
        await set_next_run(conn, schedule.id, "date_trunc('minute', now()) - interval '9 minutes'")
    pools: list[Services] = []
    for _ in range(2):
        services = build_services(fast_settings(log_dir=tmp_path), process="t", url=database_url)
        await services.start()
        pools.append(services)
    try:
        config = KeeperConfig(batch_size=7, catch_up_seconds=600)
        keepers = [ScheduleKeeper(PgScheduleStore(s.pool), config) for s in pools]
        started = await asyncio.gather(*(k.run_once() for k in keepers))
    finally:
        for services in pools:
            await services.stop()
    total = 0
    for schedule in schedules:
        ticks = await ticks_of(conn, schedule.id)
        assert len(ticks) in {10, 11}  # 11 if a minute turned meanwhile
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(ticks))
        total += len(ticks)
    assert sum(started) == total
    assert all(started)  # both keepers took part


async def test_skip_starts_no_task_for_ticks_missed_while_nothing_ran(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    schedule = await make_schedule("0 0 1 1 *", missed="skip")  # each 1 January
    await set_next_run(conn, schedule.id, "date_trunc('year', now()) - interval '2 years'")
    assert await keeper(store, catch_up=60).run_once() == 0
    after = await store.get(schedule.tenant_id, schedule.id)
    assert after is not None
    cursor = await conn.execute("SELECT date_trunc('year', now()) + interval '1 year'")
    assert await cursor.fetchone() == (after.next_run_at,)
    assert after.last_tick_at is None


async def test_run_once_starts_one_task_for_the_newest_missed_tick(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    schedule = await make_schedule("0 0 1 1 *", missed="runOnce")
    await set_next_run(conn, schedule.id, "date_trunc('year', now()) - interval '2 years'")
    assert await keeper(store, catch_up=60).run_once() == 1
    cursor = await conn.execute("SELECT date_trunc('year', now())")
    assert await ticks_of(conn, schedule.id) == [(await cursor.fetchone() or [None])[0]]


async def test_a_paused_schedule_starts_nothing(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule
) -> None:
    schedule = await make_schedule("0 * * * *", paused=True)
    await set_next_run(conn, schedule.id, "now() - interval '3 hours'")
    assert await keeper(store).run_once() == 0


async def test_the_leaders_rounds_start_the_ticks(
    conn: Conn, store: PgScheduleStore, make_schedule: MakeSchedule, start_worker: object
) -> None:
    """Wired in the worker's maintenance loop: an every-second schedule ticks on its own."""
    schedule = await make_schedule("* * * * * *")
    await start_worker()  # type: ignore[operator]
    deadline = asyncio.get_running_loop().time() + 15
    while len(await ticks_of(conn, schedule.id)) < 3:
        assert asyncio.get_running_loop().time() < deadline, "no ticks from the leader"
        await asyncio.sleep(0.1)
    ticks = await ticks_of(conn, schedule.id)
    assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(ticks))
