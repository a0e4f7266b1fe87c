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

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.bootstrap import build_worker, run_migrations
from app.config import Settings, load_settings
from app.logging import configure_logging
from app.queue import EnqueueTask, Queue
from tests.bench.harness import RESULTS_DIR, high_water_mb
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


async def work(dsn: str, concurrency: int, *, seconds: float | None, record: Path | None) -> dict:
    registry = HandlerRegistry()
    first: list[float] = []
    starts: list[tuple[uuid.UUID, float]] = []

    @registry.handler(TASK_TYPE)
    async def noop(ctx: TaskContext) -> None:
        now = time.time()
        if not first:
            first.append(now)
        if record is not None:
            starts.append((ctx.task_id, now))

    settings = settings_for(dsn)
    configure_logging("bench-worker", log_dir=RESULTS_DIR / "logs", level="WARNING", console=False)
    process = build_worker(settings, registry, concurrency=concurrency, burst=seconds is None)
    stop = asyncio.Event()
    if seconds is not None:
        asyncio.get_running_loop().call_later(seconds, stop.set)
        if record is not None:
            record.with_suffix(".ready").touch()
    await process.run(stop)
    end = time.time()
    if record is not None:
        record.write_text("".join(f"{task_id} {at}\n" for task_id, at in starts))
    return {"first": first[0] if first else end, "end": end, "peak_rss_mb": high_water_mb()}


def verify(dsn: str, n: int) -> str | None:
    """Every task succeeded once, with its attempt, its events and their outbox messages."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT (SELECT count(*) FROM tasks WHERE status = 'Succeeded'),
                      (SELECT count(*) FROM task_attempts WHERE status = 'Succeeded'),
                      (SELECT count(*) FROM task_events),
                      (SELECT count(*) FROM pgmq.q_outbox)"""
        ).fetchone()
    expected = (n, n, 3 * n, 3 * n)
    if row == expected:
        return None
    return f"(succeeded, attempts, events, outbox) = {row}, not {expected}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=None, help="serve this long")
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    # The event loop `assistente worker` runs on.
    result = run_event_loop(
        work(args.dsn, args.concurrency, seconds=args.seconds, record=args.record)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
