"""Drain: N no-op tasks inserted up front, then worker processes work them off.

Tasks/s is measured from the first handler call to the moment the last worker
process has written every outcome and returned. Each run gets a new database,
and the contenders alternate run by run so drift in the machine hits all alike.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass

import psycopg

from tests.bench.harness import Report, Summary, scratch_database, start_child, wait_child

CONTENDERS = {
    "assistente": "tests.bench.contenders.ours",
    "pgqueuer": "tests.bench.contenders.pgqueuer_peer",
    "procrastinate": "tests.bench.contenders.procrastinate_peer",
}


@dataclass(frozen=True, slots=True)
class DrainRun:
    contender: str
    tasks: int
    workers: int
    rate: float
    peak_rss_mb: float
    cpu_us_per_task: float  # the worker processes' own CPU time, per task


def drain_once(contender: str, tasks: int, workers: int, concurrency: int) -> DrainRun:
    module_name = CONTENDERS[contender]
    module = importlib.import_module(module_name)
    with scratch_database(contender) as dsn:
        asyncio.run(module.install(dsn))
        asyncio.run(module.enqueue(dsn, tasks))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        children = [
            start_child(module_name, "--dsn", dsn, "--concurrency", str(concurrency))
            for _ in range(workers)
        ]
        results = [wait_child(child) for child in children]
        problem = module.verify(dsn, tasks)
        if problem:
            raise AssertionError(f"{contender} drain is wrong: {problem}")
    first = min(r.output["first"] for r in results)
    end = max(r.output["end"] for r in results)
    return DrainRun(
        contender,
        tasks,
        workers,
        tasks / (end - first),
        max(r.peak_rss_mb for r in results),
        sum(r.cpu_seconds for r in results) / tasks * 1e6,
    )


def drain_series(
    contenders: list[str], tasks: dict[str, int], workers: int, concurrency: int, repeats: int
) -> dict[str, list[DrainRun]]:
    """`repeats` rounds; each round runs every contender once, in a rotating order."""
    runs: dict[str, list[DrainRun]] = {name: [] for name in contenders}
    for round_no in range(repeats):
        order = contenders[round_no % len(contenders) :] + contenders[: round_no % len(contenders)]
        for name in order:
            run = drain_once(name, tasks[name], workers, concurrency)
            print(
                f"    drain {name} x{workers}: {run.rate:,.0f} tasks/s "
                f"({run.tasks} tasks, peak RSS {run.peak_rss_mb:.0f} MB)",
                flush=True,
            )
            runs[name].append(run)
    return runs


def rates(runs: list[DrainRun]) -> Summary:
    return Summary.of([run.rate for run in runs])


TARGET_VS_PGQUEUER = 1.5
TARGET_VS_PROCRASTINATE = 10.0
TARGET_SHARE_OF_CEILING = 0.5


def run(report: Report, quick: bool) -> None:
    concurrency = 10
    if quick:
        tasks = {"assistente": 10_000, "pgqueuer": 10_000, "procrastinate": 2_000}
        plans = [(1, 1)]
    else:
        # Procrastinate drains a few hundred jobs a second: 50 000 would take minutes a run.
        tasks = {"assistente": 50_000, "pgqueuer": 50_000, "procrastinate": 10_000}
        plans = [(1, 3), (2, 2)]
    contenders = list(CONTENDERS)
    report.data["drain"] = {"concurrency": concurrency, "tasks": tasks, "runs": {}}
    for workers, repeats in plans:
        runs = drain_series(contenders, tasks, workers, concurrency, repeats)
        summaries = {name: rates(runs[name]) for name in contenders}
        report.data["drain"]["runs"][f"{workers}_worker"] = {
            name: {
                "tasks_per_second": summaries[name].as_dict(),
                "peak_rss_mb": max(r.peak_rss_mb for r in runs[name]),
                "cpu_us_per_task": Summary.of([r.cpu_us_per_task for r in runs[name]]).median,
            }
            for name in contenders
        }
        ours = summaries["assistente"]
        label = f"{workers} worker{'s' if workers > 1 else ''} x concurrency {concurrency}"
        for name in contenders:
            summary = summaries[name]
            report.add(
                "Drain",
                f"{name}, {label} ({tasks[name]:,} no-op tasks)",
                f"{summary.median:,.0f} tasks/s (±{summary.spread_pct:.0f}%, "
                f"{Summary.of([r.cpu_us_per_task for r in runs[name]]).median:.0f} µs CPU/task "
                f"in the worker)",
            )
        for peer, target in (
            ("pgqueuer", TARGET_VS_PGQUEUER),
            ("procrastinate", TARGET_VS_PROCRASTINATE),
        ):
            ratio = ours.median / summaries[peer].median
            report.add(
                "Drain",
                f"Assistente ÷ {peer}, {label}",
                f"{ratio:.2f}x",
                f"≥ {target:g}x",
                ratio >= target,
            )
        if workers == 1:
            for name in contenders:
                report.add(
                    "Memory",
                    f"{name} worker peak RSS during the drain",
                    f"{max(r.peak_rss_mb for r in runs[name]):.0f} MB",
                )
            ceiling = report.data.get("ceiling", {})
            for key, what in (("ours_batch50", "our SQL"), ("minimal_batch50", "a bare queue")):
                figure = ceiling.get(key, {}).get("median")
                if figure:
                    share = ours.median / figure
                    report.add(
                        "Drain",
                        f"Assistente share of the batched SQL ceiling ({what}, pgbench)",
                        f"{share:.0%}",
                        "≥ 50 %",
                        share >= TARGET_SHARE_OF_CEILING,
                    )
