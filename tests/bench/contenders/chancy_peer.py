"""Chancy (chancy 0.26.0) draining no-op async jobs on its AsyncExecutor.

The queue is `Queue("bench", concurrency=C, executor=Chancy.Executor.Async, ...)`. The
default executor is a process pool (chancy/queue.py `Queue.executor`; docs/guide/
executors.rst: "good isolation and flexibility, albeit with some overhead"), while the
AsyncExecutor "is useful for running large numbers of IO-bound jobs ... without the high
overhead of new processes or threads" (chancy/executors/asyncex.py), so it is the one
run here, with an `async def` job.

Settings (`--set key=value`):
- `eager_polling` (Chancy's default False; the bench runs True): "the worker will
  immediately poll for new jobs after a job completes, rather than waiting for the
  polling interval to elapse ... useful for low-concurrency queues where jobs are expected
  to be continuously available" (chancy/queue.py `Queue.eager_polling`; the wake-up is
  `Worker.on_job_completed`). Without it the queue loop fetches at most C jobs per
  `polling_interval` (chancy/worker.py `Worker._maintain_queue`), so at the default 5 s
  a 1-process drain runs at about 2 jobs/s: that default is not run.
- `polling_interval` (default 5, whole seconds: an INTEGER column in
  chancy/migrations/v1.py): 1, the shortest it stores, as a fallback to eager polling.
Everything else is Chancy's default: completed jobs are written in batches every
`send_outgoing_interval` = 1 s (chancy/worker.py `Worker._maintain_updates`; `stop()`
flushes the rest, inside the timed window), the default plugins (Leadership, Pruner,
Recovery, Metrics, Workflow; chancy/app.py) run, and finished jobs stay as `succeeded`
rows. Enqueue: `Chancy.push_many` in batches of 1 000 (chancy/app.py).
`verify` checks per job: n rows, each `succeeded` at its first attempt."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import uuid
from typing import Any

import psycopg
from chancy import Chancy, Job, Queue, Worker

from tests.bench.harness import StatementSizes, TimedWindow, parse_sets

QUEUE = "bench"
FUNC = "tests.bench.contenders.chancy_peer.noop"
STATE: dict[str, Any] = {}


async def noop() -> None:
    """The job."""
    STATE["window"].started()
    STATE["executed"] += 1
    if STATE["executed"] == STATE["tasks"]:
        STATE["all_ran"].set()


def app(dsn: str) -> Chancy:
    # Chancy logs every job at INFO; keep its logger (to stderr) at WARNING.
    log = logging.getLogger("chancy")
    log.setLevel(logging.WARNING)
    return Chancy(dsn, log=log)


async def install(dsn: str) -> None:
    async with app(dsn) as chancy:
        await chancy.migrate()


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    async with app(dsn) as chancy:
        jobs = [Job(func=FUNC, queue=QUEUE) for _ in range(n)]
        async for _ in chancy.push_many(jobs, batch_size=chunk):
            pass


def count_claims(worker: Worker) -> StatementSizes:
    """Count the jobs each fetch (`Worker.fetch_jobs`, one statement) carries."""
    claims = StatementSizes()
    fetch = worker.fetch_jobs

    async def counted(*args: Any, **kwargs: Any) -> Any:
        jobs = await fetch(*args, **kwargs)
        claims.add(len(jobs))
        return jobs

    worker.fetch_jobs = counted  # type: ignore[method-assign]
    return claims


async def drain(dsn: str, concurrency: int, tasks: int, settings: dict[str, Any]) -> dict[str, Any]:
    window = TimedWindow()
    STATE.update(window=window, executed=0, tasks=tasks, all_ran=asyncio.Event())
    eager = str(settings.get("eager_polling", "false")).lower() in ("1", "true", "yes")
    polling_interval = int(settings.get("polling_interval", 5))
    queue = Queue(
        name=QUEUE,
        concurrency=concurrency,
        executor=Chancy.Executor.Async,
        polling_interval=polling_interval,
        eager_polling=eager,
    )
    async with app(dsn) as chancy:
        await chancy.declare(queue, upsert=True)
        worker = Worker(
            chancy, worker_id=f"bench-{uuid.uuid4().hex[:12]}", register_signal_handlers=False
        )
        claims = count_claims(worker)
        await worker.start()
        await STATE["all_ran"].wait()
        while len(worker.executors.get(QUEUE, ())):  # every completion handed to the writer
            await asyncio.sleep(0.001)
        await worker.stop()  # flushes every pending update and commits it
        result = window.result(
            executed=STATE["executed"],
            claims=claims.as_dict(),
            settings={
                "concurrency": concurrency,
                "executor": "async",
                "eager_polling": eager,
                "polling_interval": polling_interval,
            },
        )
    if STATE["executed"] != tasks:
        raise RuntimeError(f"{STATE['executed']} job calls for {tasks} jobs")
    return result


def verify(dsn: str, n: int) -> str | None:
    """Every job succeeded, at its first attempt."""
    with psycopg.connect(dsn) as conn:
        total, done, once = conn.execute(  # type: ignore[misc]
            "SELECT count(*), count(*) FILTER (WHERE state = 'succeeded'),"
            " count(*) FILTER (WHERE state = 'succeeded' AND attempts = 1"
            " AND completed_at IS NOT NULL) FROM chancy_jobs WHERE queue = %s",
            (QUEUE,),
        ).fetchone()
    if (total, done, once) == (n, n, n):
        return None
    return f"{total} jobs for {n}: {done} succeeded, {once} succeeded at the first attempt"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # to stderr: stdout is the JSON line
    settings = parse_sets(args.sets)
    result = asyncio.run(drain(args.dsn, args.concurrency, args.tasks, settings))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    # Run the imported module, not __main__, so the job's import path (FUNC) finds STATE.
    from tests.bench.contenders.chancy_peer import main as imported_main

    imported_main()
