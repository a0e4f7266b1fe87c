"""DBOS Transact (dbos 3.4.0) queues draining no-op async workflows.

Each job is a DBOS async workflow whose body does nothing, enqueued on a queue
declared with `DBOS.register_queue` (docs.dbos.dev/python/reference/queues: "Register
a queue with DBOS.register_queue"; the same call in dbos/_dbos.py). The system
database is the run's database (`system_database_url`, docs.dbos.dev/python/reference/
configuration); `install` runs the migrations `dbos migrate` runs
(dbos/cli/migration.py `run_dbos_database_migrations`).

Settings (`--set key=value`):
- `polling_interval` (default 1.0 s): the queue's `polling_interval_sec`, "the interval
  at which DBOS polls the database for new workflows on this queue"
  (docs/python/reference/queues.md in dbos-inc/dbos-docs, `polling_interval_sec: float
  = 1.0`; `DEFAULT_QUEUE_POLLING_INTERVAL_SEC` in dbos/_queue.py). The queue thread
  sleeps one interval before every dequeue and claims at most `worker_concurrency`
  minus what is running (dbos/_queue.py `queue_worker_thread`), so at the default a
  1-process drain runs at about `worker_concurrency` jobs/s. The docs recommend no
  value and only require it be positive (`_validate_queue`); the bench reports the
  default and sweeps 0.1, 0.01 and 0.001 s, 0.001 s being the floor DBOS documents for
  its own internal queues (`kafka_queue_polling_interval_sec`: "Minimum value is
  0.001", DBOSConfig in dbos/_dbos_config.py).
- `worker_concurrency` = --concurrency (10): "the maximum number of functions from this
  queue that may run concurrently on a single DBOS process", with a unique
  `executor_id` per process as the same page requires.
- Enqueue: DBOS has no batch enqueue; `DBOSClient.enqueue_in_transaction`
  (docs.dbos.dev/python/reference/client), one transaction per 1 000 workflows.
Per job DBOS writes one `dbos.workflow_status` row: ENQUEUED, then PENDING at the
claim (which counts `recovery_attempts`), then SUCCESS with its output. `verify`
checks per workflow: SUCCESS, claimed exactly once."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import uuid
from typing import Any

import psycopg
import sqlalchemy as sa
from dbos import DBOS, DBOSClient, EnqueueOptions
from dbos.cli.migration import run_dbos_database_migrations

from tests.bench.harness import StatementSizes, TimedWindow, parse_sets

QUEUE, WORKFLOW, APP, VERSION = "bench", "bench_noop", "bench", "bench"
OPTIONS: EnqueueOptions = {"queue_name": QUEUE, "workflow_name": WORKFLOW, "app_version": VERSION}
DEFAULT_POLLING_INTERVAL = 1.0
DONE_SQL = "SELECT count(*) FROM dbos.workflow_status WHERE queue_name = %s AND status = 'SUCCESS'"


async def install(dsn: str) -> None:
    await asyncio.to_thread(run_dbos_database_migrations, system_database_url=dsn, schema="dbos")


def _enqueue(dsn: str, n: int, chunk: int) -> None:
    client = DBOSClient(system_database_url=dsn, application_name=APP)
    engine = sa.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        for start in range(0, n, chunk):
            with engine.begin() as conn:
                for _ in range(min(chunk, n - start)):
                    client.enqueue_in_transaction(conn, OPTIONS)
    finally:
        engine.dispose()
        client.destroy()


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    await asyncio.to_thread(_enqueue, dsn, n, chunk)


def count_claims(dbos: DBOS) -> StatementSizes:
    """Count the workflows each claim (`start_queued_workflows`, one transaction) carries."""
    claims = StatementSizes()
    sys_db = dbos._sys_db
    claim = sys_db.start_queued_workflows

    def counted(*args: Any, **kwargs: Any) -> Any:
        claimed, stop_reason = claim(*args, **kwargs)
        claims.add(len(claimed))
        return claimed, stop_reason

    sys_db.start_queued_workflows = counted  # type: ignore[method-assign]
    return claims


async def drain(dsn: str, concurrency: int, tasks: int, settings: dict[str, Any]) -> dict[str, Any]:
    window = TimedWindow()
    executed = 0
    all_ran = asyncio.Event()

    @DBOS.workflow(name=WORKFLOW)
    async def noop() -> None:
        nonlocal executed
        window.started()
        executed += 1
        if executed == tasks:
            all_ran.set()

    polling_interval = float(settings.get("polling_interval", DEFAULT_POLLING_INTERVAL))
    dbos = DBOS(
        config={
            "name": APP,
            "system_database_url": dsn,
            "executor_id": f"bench-{uuid.uuid4().hex[:12]}",
            "application_version": VERSION,
            "log_level": "WARNING",
            "run_migrations": False,
        }
    )
    DBOS.launch()  # inside the running loop: async workflows run on it
    claims = count_claims(dbos)
    await DBOS.register_queue_async(
        QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=polling_interval,
        on_conflict="always_update",
    )
    await all_ran.wait()
    # The last SUCCESS rows are written after the workflow bodies return.
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        while (await (await conn.execute(DONE_SQL, (QUEUE,))).fetchone())[0] < tasks:  # type: ignore[index]
            await asyncio.sleep(0.002)
    await asyncio.to_thread(DBOS.destroy)  # stopped: inside the window, as the others
    result = window.result(
        executed=executed,
        claims=claims.as_dict(),
        settings={"worker_concurrency": concurrency, "polling_interval_sec": polling_interval},
    )
    if executed != tasks:
        raise RuntimeError(f"{executed} workflow bodies ran for {tasks} jobs")
    return result


def verify(dsn: str, n: int) -> str | None:
    """Every workflow SUCCESS and claimed exactly once."""
    with psycopg.connect(dsn) as conn:
        total, done, once = conn.execute(  # type: ignore[misc]
            "SELECT count(*), count(*) FILTER (WHERE status = 'SUCCESS'),"
            " count(*) FILTER (WHERE status = 'SUCCESS' AND recovery_attempts = 1)"
            " FROM dbos.workflow_status WHERE queue_name = %s",
            (QUEUE,),
        ).fetchone()
    if (total, done, once) == (n, n, n):
        return None
    return f"{total} workflows for {n}: {done} SUCCESS, {once} of them claimed exactly once"


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
    main()
