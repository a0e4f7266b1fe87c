"""Celery (celery 5.7.0, kombu 5.7.0) on the local RabbitMQ draining no-op tasks.

The child is the worker: `app.Worker(...).start()`, what `celery worker` runs, with
`-c` = --concurrency; with the prefork pool its 10 pool processes are its children.

Settings (`--set key=value`; defaults are Celery's, docs.celeryq.dev/en/stable/userguide/
configuration.html):
- `pool`: `prefork` (the default, "#worker-pool") or `threads`. A no-op task needs no
  process isolation and the threads pool skips the pipe to the pool processes; both run.
- `prefetch_multiplier`: worker_prefetch_multiplier, default 4 ("#worker-prefetch-
  multiplier"). The Optimizing guide ("Prefetch Limits", userguide/optimizing.html):
  "If you have many short-running tasks, and throughput/round trip latency is important
  to you, this number should be large ... Values like 50 or 150 might make sense ... Say
  64, or 128." Run: 4 and 128.
- `results`: `none` = task_ignore_result=True ("#task-ignore-result"), the fast path, as
  the other contenders keep no result payload either; or `postgres` = the SQLAlchemy
  database result backend on the run's database, `db+postgresql+psycopg://...`
  ("#database-backend-settings"): one celery_taskmeta row per task. That backend opens a
  new engine and connection for every result unless the process was forked after it was
  set up (celery/backends/database/session.py `SessionManager.get_engine`, NullPool),
  which the worker never arranges (celery/celery#3032), so it runs at a smaller N.
- task_acks_late stays False (the default: ack before running, "#task-acks-late");
  queues stay durable and messages persistent, as Celery creates them (the guide's
  transient queues would lose tasks on a broker restart).
- Not run: librabbitmq, the C client the guide suggests for RabbitMQ; its last release
  (2.0.0, 2018) has no wheel for this Python.
Celery has no batch publish: `enqueue` sends each message through one producer.

`verify`: the queue is empty (every message acked); the worker counted exactly n
executions (a counter the task writes, in shared memory across the pool processes)
and no redelivered message; with `results=postgres`, n distinct SUCCESS rows. It
then deletes the run's queue and exchange, named after the run's database."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from celery import Celery, signals

from tests.bench.harness import AMQP_URL, CLOCK_TICKS, high_water_mb, parse_sets

TASK_NAME = "bench_noop"
DEFAULTS: dict[str, Any] = {"pool": "prefork", "prefetch_multiplier": 4, "results": "none"}
SHARED: dict[str, Any] = {}  # counters in shared memory, made before the pool forks


def queue_name(dsn: str) -> str:
    return "celery_" + dsn.rsplit("/", 1)[1]


def tally_path(dsn: str) -> Path:
    return Path(tempfile.gettempdir()) / f"{queue_name(dsn)}.json"


def make_app(dsn: str, results: str = "none") -> Celery:
    app = Celery("bench", broker=AMQP_URL, set_as_current=False)
    app.conf.update(
        task_default_queue=queue_name(dsn),
        task_ignore_result=results == "none",
        worker_redirect_stdouts=False,
        worker_hijack_root_logger=False,
    )
    if results == "postgres":
        app.conf.result_backend = "db+postgresql+psycopg://" + dsn.split("://", 1)[1]

    @app.task(name=TASK_NAME, bind=True, shared=False)
    def noop(self: Any) -> None:
        if not SHARED:
            return
        if not SHARED["first"].value:
            with SHARED["first"].get_lock():
                if not SHARED["first"].value:
                    SHARED["first"].value = time.time()
                    SHARED["started"].set()
        if (self.request.delivery_info or {}).get("redelivered"):
            with SHARED["redelivered"].get_lock():
                SHARED["redelivered"].value += 1

    return app


async def install(dsn: str) -> None:
    app = make_app(dsn, "postgres")
    with app.connection_for_write() as conn:
        app.amqp.queues[queue_name(dsn)].bind(conn.default_channel).declare()
    app.backend.ResultSession().close()  # creates celery_taskmeta, empty unless results=postgres


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    app = make_app(dsn)
    task = app.tasks[TASK_NAME]
    with app.producer_or_acquire() as producer:
        for _ in range(n):
            # ignore_result=None: the worker's task_ignore_result decides.
            task.apply_async(producer=producer, ignore_result=None)


def pool_cpu() -> float:
    """CPU seconds of this process's live children (the prefork pool)."""
    total, me = 0.0, str(os.getpid())
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def reaped_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drain(dsn: str, concurrency: int, tasks: int, settings: dict[str, Any]) -> dict[str, Any]:
    app = make_app(dsn, settings["results"])
    SHARED.update(
        first=multiprocessing.Value("d", 0.0),
        done=multiprocessing.Value("i", 0),
        redelivered=multiprocessing.Value("i", 0),
        started=multiprocessing.Event(),
        finished=multiprocessing.Event(),
    )
    marks: dict[str, float] = {}

    @signals.task_postrun.connect(weak=False)
    def counted(**_: object) -> None:  # after the result, if any, is stored
        with SHARED["done"].get_lock():
            SHARED["done"].value += 1
            if SHARED["done"].value == tasks:
                SHARED["finished"].set()

    def watch() -> None:
        SHARED["started"].wait()
        marks["cpu_first"] = time.process_time() + pool_cpu() + reaped_cpu()
        SHARED["finished"].wait()
        os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown

    threading.Thread(target=watch, daemon=True).start()
    app.Worker(
        hostname=f"{queue_name(dsn)}@%h",
        pool_cls=settings["pool"],
        concurrency=concurrency,
        prefetch_multiplier=int(settings["prefetch_multiplier"]),
        queues=[queue_name(dsn)],
        loglevel="WARNING",
        quiet=True,
    ).start()
    # The pool processes have exited and been reaped: their CPU is in RUSAGE_CHILDREN.
    end, cpu_end = time.time(), time.process_time() + reaped_cpu()
    executed, redelivered = SHARED["done"].value, SHARED["redelivered"].value
    tally = {"executed": executed, "redelivered": redelivered, "results": settings["results"]}
    tally_path(dsn).write_text(json.dumps(tally))
    return {
        "first": SHARED["first"].value or end,
        "end": end,
        "cpu_first": marks.get("cpu_first", cpu_end),
        "cpu_end": cpu_end,
        "peak_rss_mb": high_water_mb(),  # the main process only, not its pool processes
        "executed": executed,
        "settings": {"concurrency": concurrency, **settings, "task_acks_late": False},
    }


def verify(dsn: str, n: int) -> str | None:
    app, queue = make_app(dsn), queue_name(dsn)
    with app.connection_for_write() as conn:
        channel = conn.default_channel
        _, left, _ = channel.queue_declare(queue, passive=True)
        channel.queue_delete(queue)
        channel.exchange_delete(queue)
    path = tally_path(dsn)
    tally = json.loads(path.read_text()) if path.exists() else {}
    path.unlink(missing_ok=True)
    with psycopg.connect(dsn) as db:
        stored = db.execute(  # type: ignore[index]
            "SELECT count(DISTINCT task_id) FROM celery_taskmeta WHERE status = 'SUCCESS'"
        ).fetchone()[0]
    problems = [f"{left} messages left in the queue"] if left else []
    if tally.get("executed") != n or tally.get("redelivered"):
        problems.append(f"worker tally {tally or 'missing'} for {n} tasks")
    if stored != (n if tally.get("results") == "postgres" else 0):
        problems.append(f"{stored} results stored for {n} tasks")
    return "; ".join(problems) or None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    args = parser.parse_args()
    settings = {**DEFAULTS, **parse_sets(args.sets)}
    if unknown := settings.keys() - DEFAULTS.keys():
        parser.error(f"unknown settings {sorted(unknown)}")
    result = drain(args.dsn, args.concurrency, args.tasks, settings)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
