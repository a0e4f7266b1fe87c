"""Sagas for the workflows bench (tests/bench/workflows.py): N sagas of SAGA_STEPS no-op
steps, one worker process x10 (this module run as a child: our worker, stopping once
every step's handler has returned). Figures: steps/s over the handlers' window, and
the delay from step n's end to step n+1's start, read two ways: from the rows
(`finished_at` of step n, written by the finish statement that releases step n+1, to
`started_at` of step n+1, the handler's start as the worker reports it) and from the
handlers' own clocks (step n's handler return to step n+1's handler start: this one
also counts the wait before the worker writes step n's outcome)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from app.application.context import TaskContext
from app.application.handlers import HandlerRegistry
from app.bootstrap import build_worker, run_migrations
from app.logging import configure_logging
from app.queue import EnqueueTask, Queue, SagaStep
from tests.bench.contenders import ours
from tests.bench.harness import (
    RESULTS_DIR,
    ROOT,
    Report,
    Summary,
    TimedWindow,
    percentile,
    scratch_database,
    wait_child,
)
from workers.signals import run_event_loop

CONCURRENCY = 10
SAGA_STEPS = 3
WORKER = [sys.executable, "-m", "tests.bench.workflow_sagas"]


async def _create_sagas(dsn: str, count: int, pace: float | None = None) -> float:
    """`count` sagas of SAGA_STEPS no-op steps, one `enqueue_saga` each (`pace` a second)."""
    async with Queue.connect(dsn, settings=ours.settings_for(dsn)) as queue:
        tenant = await queue.ensure_tenant("bench")
        began = time.perf_counter()
        for number in range(count):
            if pace is not None:
                await asyncio.sleep(max(0.0, began + number / pace - time.perf_counter()))
            steps = [
                SagaStep(EnqueueTask(tenant_id=tenant, type=ours.TASK_TYPE, payload={}))
                for _ in range(SAGA_STEPS)
            ]
            await queue.enqueue_saga(tenant, steps)
        return time.perf_counter() - began


def _saga_worker(dsn: str, steps: int, record: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WORKER, "--dsn", dsn, "--steps", str(steps), "--record", str(record)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _delays(dsn: str, record: Path) -> tuple[list[float], list[float], int]:
    """Step n's end to step n+1's start, in ms: from the rows, from the handlers' clocks."""
    clocks = {}
    for line in record.read_text().splitlines():
        task_id, start, end = line.split()
        clocks[task_id] = (float(start), float(end))
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            """SELECT a.task_id::text, b.task_id::text,
                      extract(epoch FROM nxt.started_at - prev.finished_at) * 1000
                 FROM saga_steps a
                 JOIN saga_steps b ON b.saga_id = a.saga_id AND b.position = a.position + 1
                 JOIN tasks prev ON prev.id = a.task_id
                 JOIN tasks nxt ON nxt.id = b.task_id
                WHERE prev.status = 'Succeeded' AND nxt.status = 'Succeeded'"""
        ).fetchall()
        done = conn.execute(
            "SELECT count(*) FROM tasks WHERE execution_type = 'Saga' AND status = 'Succeeded'"
        ).fetchone()
    by_rows = [float(ms) for _, _, ms in rows]
    by_clock = [(clocks[b][0] - clocks[a][1]) * 1000 for a, b, _ in rows]
    return by_rows, by_clock, (done[0] if done else 0)


def _saga_run(count: int, pace: float | None) -> dict[str, Any]:
    steps = count * SAGA_STEPS
    with scratch_database("wf_saga") as dsn, tempfile.TemporaryDirectory() as folder:
        asyncio.run(run_migrations(dsn))
        record = Path(folder) / "steps.txt"
        create_s = 0.0
        if pace is None:
            create_s = asyncio.run(_create_sagas(dsn, count))
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
                conn.execute("CHECKPOINT")
        child = _saga_worker(dsn, steps, record)
        if pace is not None:
            while not record.with_suffix(".ready").exists():
                time.sleep(0.05)
            time.sleep(0.5)  # the worker is listening
            asyncio.run(_create_sagas(dsn, count, pace))
        output = wait_child(child).output
        by_rows, by_clock, done = _delays(dsn, record)
    if done != count or len(by_rows) != count * (SAGA_STEPS - 1):
        raise AssertionError(f"{done} sagas of {count} succeeded, {len(by_rows)} step pairs")
    return {
        "sagas": count,
        "create_s": create_s,
        "steps_per_s": steps / (output["end"] - output["first"]),
        "delay_rows_ms": {p: percentile(by_rows, p) for p in (50, 99)},
        "delay_handlers_ms": {p: percentile(by_clock, p) for p in (50, 99)},
        "delay_rows_max_ms": max(by_rows),
    }


def run(report: Report, data: dict[str, Any], count: int, rounds: int, paced: int) -> None:
    """`rounds` runs of `count` sagas queued up front; then `paced` sagas queued 20 a second."""
    runs = [_saga_run(count, None) for _ in range(rounds)]
    data["sagas"] = runs
    rate = Summary.of([r["steps_per_s"] for r in runs])
    create = statistics.median(r["create_s"] for r in runs)
    report.add(
        "Workflows",
        f"{count:,} sagas x {SAGA_STEPS} no-op steps queued up front, 1 worker x{CONCURRENCY}",
        f"{rate.median:,.0f} steps/s ({rate.low:,.0f}-{rate.high:,.0f}, {rate.runs} runs); "
        f"created in {create:.1f} s ({count / create:,.0f} sagas/s, one enqueue_saga each)",
    )
    _report_delay(report, f"{count:,} sagas up front", runs)
    if paced:
        slow = [_saga_run(paced, 20.0)]
        data["sagas_paced"] = slow
        _report_delay(report, f"{paced} sagas queued 20/s", slow)


def _report_delay(report: Report, label: str, runs: list[dict[str, Any]]) -> None:
    def med(key: str, p: int) -> float:
        return float(statistics.median(r[key][p] for r in runs))

    report.add(
        "Workflows",
        f"step end → next step start, {label} (p50 / p99)",
        f"rows {med('delay_rows_ms', 50):.1f} / {med('delay_rows_ms', 99):.1f} ms; "
        f"handlers {med('delay_handlers_ms', 50):.1f} / {med('delay_handlers_ms', 99):.1f} ms",
    )


# -- the worker (this module, run as a child) -------------------------------------------


async def _work(dsn: str, steps: int, record: Path) -> dict[str, Any]:
    """Our worker on the no-op steps; stops once `steps` handlers have returned."""
    registry = HandlerRegistry()
    window = TimedWindow()
    stop = asyncio.Event()
    clocks: list[tuple[Any, float, float]] = []

    @registry.handler(ours.TASK_TYPE)
    async def noop(ctx: TaskContext) -> None:
        window.started()
        clocks.append((ctx.task_id, time.time(), time.time()))
        if len(clocks) == steps:
            stop.set()  # the claim loop ends; this handler's outcome is still written

    configure_logging("bench-worker", log_dir=RESULTS_DIR / "logs", level="WARNING", console=False)
    process = build_worker(ours.settings_for(dsn), registry, concurrency=CONCURRENCY)
    record.with_suffix(".ready").touch()
    await process.run(stop)
    record.write_text("".join(f"{task} {start} {end}\n" for task, start, end in clocks))
    return window.result()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(run_event_loop(_work(args.dsn, args.steps, args.record))))


if __name__ == "__main__":
    main()
