"""Assistente's worker on no-op tasks, full bookkeeping on (attempt rows, events, outbox).

`--mode drain`: burst mode, exits once the queue is empty. `--mode serve`: idle
worker for `--seconds`, writing "task_id handler_start_time" lines to `--record`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from app.adapters.postgres.lease_store import PgLeaseStore
from app.application import outcome_writer
from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.bootstrap import build_worker, run_migrations
from app.config import Settings, load_settings
from app.logging import configure_logging
from app.queue import EnqueueTask, Queue
from tests.bench.harness import (
    RESULTS_DIR,
    StatementSizes,
    TimedWindow,
    count_sizes,
    parse_sets,
)
from workers.signals import run_event_loop

TASK_TYPE = "bench.noop"


def settings_for(dsn: str) -> Settings:
    return load_settings(database_url=dsn, demo_tasks_enabled=False, log_level="WARNING")


async def install(dsn: str) -> None:
    await run_migrations(dsn)


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    """N tasks through the library's enqueue (each with its TaskQueued event)."""
    async with Queue.connect(dsn, settings=settings_for(dsn)) as queue:
        tenant = await queue.ensure_tenant("bench")
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            await queue.enqueue_many(
                [EnqueueTask(tenant_id=tenant, type=TASK_TYPE, payload={}) for _ in range(size)]
            )


class Enqueuer:
    """One task at a time, for the pickup-latency benchmark."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def __aenter__(self) -> Enqueuer:
        self._queue_cm = Queue.connect(self._dsn, settings=settings_for(self._dsn))
        self._queue = await self._queue_cm.__aenter__()
        self._tenant = await self._queue.ensure_tenant("bench")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._queue_cm.__aexit__(None, None, None)

    async def one(self) -> str:
        """Enqueue one task; returns its id once the insert has committed."""
        return str(await self._queue.enqueue(self._tenant, TASK_TYPE, {}))


def count_statements() -> tuple[StatementSizes, StatementSizes, StatementSizes]:
    """Count the tasks each claim, start and finish statement carries (this process
    only). Starts counted here are the Reserved -> Running moves written on their own;
    a task that ends within START_WRITE_SECONDS has its start written by its finish."""
    claims, moves, finishes = StatementSizes(), StatementSizes(), StatementSizes()
    count_sizes(PgLeaseStore, "lease_available", claims)
    count_sizes(PgLeaseStore, "start_attempts", moves, argument=2)  # self, worker, started
    count_sizes(PgLeaseStore, "finish_attempts", finishes, argument=2)  # self, worker, finished
    return claims, moves, finishes


async def work(
    dsn: str,
    concurrency: int,
    options: dict[str, Any],
    *,
    seconds: float | None,
    record: Path | None,
) -> dict[str, Any]:
    registry = HandlerRegistry()
    window = TimedWindow()
    starts: list[tuple[uuid.UUID, float]] = []

    # `--set sleep_ms=N`: the handler waits N ms, as a task waiting on an AI provider does.
    sleep_seconds = float(options.get("sleep_ms", 0)) / 1000

    @registry.handler(TASK_TYPE)
    async def noop(ctx: TaskContext) -> None:
        window.started()
        if record is not None:
            starts.append((ctx.task_id, time.time()))
        if sleep_seconds:
            await asyncio.sleep(sleep_seconds)

    # `--set start_write_ms=N`: hold a handler's Reserved -> Running write N ms (a large
    # N leaves it to the finish: the baseline that measures what the separate write costs).
    if "start_write_ms" in options:
        outcome_writer.START_WRITE_SECONDS = float(options["start_write_ms"]) / 1000
    settings = settings_for(dsn)
    if "prefetch" in options:
        settings = settings.model_copy(update={"worker_prefetch": int(options["prefetch"])})
    configure_logging("bench-worker", log_dir=RESULTS_DIR / "logs", level="WARNING", console=False)
    claims, moves, finishes = count_statements()
    process = build_worker(settings, registry, concurrency=concurrency, burst=seconds is None)
    stop = asyncio.Event()
    if seconds is not None:
        asyncio.get_running_loop().call_later(seconds, stop.set)
        if record is not None:
            record.with_suffix(".ready").touch()
    await process.run(stop)
    result = window.result(
        claims=claims.as_dict(),
        starts=moves.as_dict(),
        finishes=finishes.as_dict(),
        settings={
            "prefetch": settings.worker_prefetch,
            "concurrency": concurrency,
            "sleep_ms": sleep_seconds * 1000,
        },
    )
    if record is not None:
        record.write_text("".join(f"{task_id} {at}\n" for task_id, at in starts))
    return result


def verify(dsn: str, n: int) -> str | None:
    """Per task: Succeeded, one Succeeded attempt, three events (Queued, Running,
    Succeeded) and the event in a pending outbox message."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE t.status <> 'Succeeded'),
                      count(*) FILTER (WHERE a.attempts <> 1 OR a.attempts IS NULL),
                      count(*) FILTER (WHERE e.events <> 3 OR e.events IS NULL),
                      count(*) FILTER (WHERE o.messages <> 3 OR o.messages IS NULL)
                 FROM tasks t
                 LEFT JOIN (SELECT task_id, count(*) AS attempts FROM task_attempts
                             WHERE status = 'Succeeded' GROUP BY task_id) a ON a.task_id = t.id
                 LEFT JOIN (SELECT task_id, count(*) AS events FROM task_events
                             WHERE event_type IN ('TaskQueued', 'TaskRunning', 'TaskSucceeded')
                             GROUP BY task_id) e ON e.task_id = t.id
                 LEFT JOIN (SELECT task_id, count(*) AS messages
                              FROM outbox_messages WHERE status = 'Pending'
                             GROUP BY 1) o ON o.task_id = t.id"""
        ).fetchone()
    assert row is not None
    tasks, not_done, attempts, events, messages = row
    if (tasks, not_done, attempts, events, messages) == (n, 0, 0, 0, 0):
        return None
    return (
        f"{tasks} tasks of {n}: {not_done} not Succeeded, {attempts} without exactly one "
        f"attempt, {events} without their 3 events, {messages} without their 3 outbox messages"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--seconds", type=float, default=None, help="serve this long")
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    # The event loop `assistente worker` runs on.
    result = run_event_loop(
        work(
            args.dsn,
            args.concurrency,
            parse_sets(args.sets),
            seconds=args.seconds,
            record=args.record,
        )
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
