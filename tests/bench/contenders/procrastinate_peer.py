"""Procrastinate draining no-op jobs: run_worker_async(wait=False) with `concurrency`.

Its documented way to scale is `concurrency` and more worker processes
(docs: howto/production/concurrency); it fetches one job per statement
(`procrastinate_fetch_job_v2 ... LIMIT 1`), so no batch setting exists to sweep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from typing import Any

import procrastinate
import psycopg

from tests.bench.harness import TimedWindow

TASK_NAME = "bench_noop"
window = TimedWindow()


def make_app(dsn: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name=TASK_NAME)
    async def noop() -> None:
        window.started()

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


async def drain(dsn: str, concurrency: int) -> dict[str, Any]:
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = make_app(dsn)
    async with app.open_async():
        await app.run_worker_async(
            concurrency=concurrency, wait=False, install_signal_handlers=False
        )
    return window.result(settings={"concurrency": concurrency})


def verify(dsn: str, n: int) -> str | None:
    """Every job succeeded, each on its first attempt."""
    with psycopg.connect(dsn) as conn:
        done, retried = conn.execute(  # type: ignore[misc]
            "SELECT count(*) FILTER (WHERE status = 'succeeded'),"
            "       count(*) FILTER (WHERE attempts > 1)"
            "  FROM procrastinate_jobs"
        ).fetchone()
    return None if (done, retried) == (n, 0) else f"{done} of {n} succeeded, {retried} retried"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(drain(args.dsn, args.concurrency))))


if __name__ == "__main__":
    main()
