"""Procrastinate draining no-op jobs: run_worker_async(wait=False) with concurrency."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time

import procrastinate
import psycopg

from tests.bench.harness import high_water_mb

TASK_NAME = "bench_noop"
first: list[float] = []


def make_app(dsn: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name=TASK_NAME)
    async def noop() -> None:
        if not first:
            first.append(time.time())

    return app


async def install(dsn: str) -> None:
    app = make_app(dsn)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    app = make_app(dsn)
    async with app.open_async():
        task = app.tasks[TASK_NAME]
        for start in range(0, n, chunk):
            await task.batch_defer_async(*([{}] * min(chunk, n - start)))


async def drain(dsn: str, concurrency: int) -> dict[str, float]:
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = make_app(dsn)
    async with app.open_async():
        await app.run_worker_async(
            concurrency=concurrency, wait=False, install_signal_handlers=False
        )
    end = time.time()
    return {"first": first[0] if first else end, "end": end, "peak_rss_mb": high_water_mb()}


def verify(dsn: str, n: int) -> str | None:
    with psycopg.connect(dsn) as conn:
        done = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0]
    return None if done == n else f"{done} of {n} jobs succeeded"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(drain(args.dsn, args.concurrency))))


if __name__ == "__main__":
    main()
