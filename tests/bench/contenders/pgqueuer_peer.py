"""PGQueuer on no-op jobs, in its fastest documented setup (asyncpg on uvloop, as its
own CLI runs). `--seconds` serves that long instead of draining (pickup latency)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import asyncpg
import psycopg
import uvloop
from pgqueuer import QueueManager
from pgqueuer.db import PsycopgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from tests.bench.harness import high_water_mb

ENTRYPOINT = "bench_noop"


async def install(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await Queries(PsycopgDriver(conn)).install()


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


async def work(dsn: str, concurrency: int, *, seconds: float | None, record: Path | None) -> dict:
    first: list[float] = []
    starts: list[tuple[int, float]] = []
    conn = await asyncpg.connect(dsn)
    try:
        manager = QueueManager(Queries.from_asyncpg_connection(conn))

        @manager.entrypoint(ENTRYPOINT)
        async def noop(job: Job) -> None:
            now = time.time()
            if not first:
                first.append(now)
            if record is not None:
                starts.append((job.id, now))

        if seconds is None:
            await manager.run(batch_size=concurrency, mode=QueueExecutionMode.drain)
        else:
            asyncio.get_running_loop().call_later(seconds, manager.shutdown.set)
            if record is not None:
                record.with_suffix(".ready").touch()
            await manager.run(batch_size=concurrency)
    finally:
        await conn.close()
    end = time.time()
    if record is not None:
        record.write_text("".join(f"{job_id} {at}\n" for job_id, at in starts))
    return {"first": first[0] if first else end, "end": end, "peak_rss_mb": high_water_mb()}


def verify(dsn: str, n: int) -> str | None:
    with psycopg.connect(dsn) as conn:
        left = conn.execute("SELECT count(*) FROM pgqueuer").fetchone()[0]  # type: ignore[index]
        done = conn.execute(  # type: ignore[index]
            "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'"
        ).fetchone()[0]
    return None if (left, done) == (0, n) else f"{left} jobs left, {done} logged successful of {n}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=None, help="serve this long")
    parser.add_argument("--record", type=Path, default=None)
    args = parser.parse_args()
    result = uvloop.run(work(args.dsn, args.concurrency, seconds=args.seconds, record=args.record))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
