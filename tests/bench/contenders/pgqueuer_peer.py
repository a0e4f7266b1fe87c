"""PGQueuer on no-op jobs, on uvloop with asyncpg as its own CLI runs it.

Settings (`--set key=value`), each from PGQueuer's own documentation:
- `batch_size` (default 10, QueueManager.run's default): jobs dequeued per statement.
  docs/guides/performance-tuning.md, "Batch Size": "Increase `batch_size` when jobs
  are short-lived (< 1 s)". The bench sweeps it.
- `driver`: `connection` (one asyncpg connection, `AsyncpgDriver`, what its
  QueueManager examples use) or `pool` (`AsyncpgPoolDriver`, which the same guide
  suggests "for high-throughput deployments").
- Table tuning: `install` applies `Queries.optimize_autovacuum()`, which is what
  `pgq autovac` runs (docs/guides/performance-tuning.md, "Database Tuning"; the
  production checklist), as our own migrations tune our tables.
- Durability stays `durable` (its default): logged tables, as ours are.
`--seconds` serves that long instead of draining (pickup latency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import uvloop
from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver, AsyncpgPoolDriver, PsycopgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from tests.bench.harness import StatementSizes, TimedWindow, count_sizes, parse_sets

ENTRYPOINT = "bench_noop"


async def install(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        await queries.install()
        await queries.optimize_autovacuum()


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            await queries.enqueue([ENTRYPOINT] * size, [None] * size, [0] * size)


class Enqueuer:
    """One job at a time, for the pickup-latency benchmark."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def __aenter__(self) -> Enqueuer:
        self._conn = await psycopg.AsyncConnection.connect(self._dsn, autocommit=True)
        self._queries = Queries(PsycopgDriver(self._conn))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._conn.close()

    async def one(self) -> str:
        [job_id] = await self._queries.enqueue(ENTRYPOINT, None)
        return str(job_id)


def count_statements(queries: Queries) -> tuple[StatementSizes, StatementSizes]:
    """Wrap this Queries' dequeue and log_jobs to count the jobs each statement carries."""
    claims, finishes = StatementSizes(), StatementSizes()
    count_sizes(queries, "dequeue", claims)
    count_sizes(queries, "log_jobs", finishes, argument=0)
    return claims, finishes


async def work(
    dsn: str,
    concurrency: int,
    settings: dict[str, Any],
    *,
    seconds: float | None,
    record: Path | None,
) -> dict[str, Any]:
    batch_size = int(settings.get("batch_size", 10))
    driver_kind = settings.get("driver", "connection")
    window = TimedWindow()
    starts: list[tuple[int, float]] = []
    if driver_kind == "pool":
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=max(2, concurrency // 2))
        driver: Any = AsyncpgPoolDriver(pool)
        closing: Any = pool
    else:
        conn = await asyncpg.connect(dsn)
        driver, closing = AsyncpgDriver(conn), conn
    try:
        queries = Queries(driver)
        claims, finishes = count_statements(queries)
        manager = QueueManager(queries)

        @manager.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            window.started()
            if record is not None:
                starts.append((job.id, time.time()))

        if seconds is None:
            await manager.run(batch_size=batch_size, mode=QueueExecutionMode.drain)
        else:
            asyncio.get_running_loop().call_later(seconds, manager.shutdown.set)
            if record is not None:
                record.with_suffix(".ready").touch()
            await manager.run(batch_size=batch_size)
    finally:
        await closing.close()
    if record is not None:
        record.write_text("".join(f"{job_id} {at}\n" for job_id, at in starts))
    return window.result(
        claims=claims.as_dict(),
        finishes=finishes.as_dict(),
        settings={"batch_size": batch_size, "driver": driver_kind, "autovac": True},
    )


def verify(dsn: str, n: int) -> str | None:
    """Every job left the queue and was logged successful exactly once."""
    with psycopg.connect(dsn) as conn:
        left = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()[0]  # type: ignore[index]
        wrong = conn.execute(  # type: ignore[index]
            "SELECT count(*) FROM (SELECT job_id FROM pgqueuer_log WHERE status = 'successful'"
            " GROUP BY job_id HAVING count(*) <> 1) AS w"
        ).fetchone()[0]
        done = conn.execute(  # type: ignore[index]
            "SELECT count(DISTINCT job_id) FROM pgqueuer_log WHERE status = 'successful'"
        ).fetchone()[0]
    if (left, done, wrong) == (0, n, 0):
        return None
    return f"{left} jobs left, {done} of {n} logged successful, {wrong} logged more than once"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--seconds", type=float, default=None, help="serve this long")
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    result = uvloop.run(
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
