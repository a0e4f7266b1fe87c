"""API: `POST /api/v1/tasks` under load from `hey`, a real HTTP load generator in
processes of its own, against `assistente api` on loopback with default settings.

Three phases, interleaved round by round so drift in the machine hits all alike:
a fixed 500 requests/s (latency), saturation (closed loop: the most it answers), and
the batch endpoint (500 tasks per request). After each run the rows are counted: every
2xx is one stored task (with its event and outbox message), nothing more; then the
tables are emptied so every run starts alike. The API's peak RSS is its VmHWM.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from app.api.schemas import MAX_BATCH
from app.bootstrap import run_migrations
from tests.bench.api_server import (
    ApiServer,
    HeyRun,
    children_cpu_s,
    hey_command,
    hey_path,
    issue_api_key,
    percentiles_of,
    process_cpu_s,
    run_hey,
)
from tests.bench.harness import Report, Summary, fmt_rate, scratch_database

SECTION = "API"
FIXED_RATE = 500  # requests/s
TARGET_P99_MS = 50.0
TARGET_BATCH_TASKS_PER_S = 10_000
# hey's workers tick in step: `-c 50 -q 10` sends bursts of 50 requests at once every
# 100 ms, which measures the bursts rather than the API. So the fixed rate comes from
# several hey processes started a fraction of a tick apart, each with a few workers:
# bursts of 4 every 8 ms (more processes would cost the machine more CPU).
FIXED_PROCESSES = 5
FIXED_WORKERS = 4  # per process; each worker keeps its pace while latency < 40 ms
SATURATION_CONNECTIONS = 32
BATCH_CONNECTIONS = 4

TASK = {
    "type": "bench.api",
    "payload": {
        "prompt": "Summarise this support ticket in two sentences for the on-call engineer.",
        "context": {"ticket": 4242, "customer": "ACME", "language": "en"},
    },
}


@dataclass(frozen=True, slots=True)
class Plan:
    warmup_s: int
    fixed_s: int
    saturation_s: int
    batch_s: int
    rounds: int


QUICK = Plan(warmup_s=2, fixed_s=4, saturation_s=3, batch_s=3, rounds=1)
FULL = Plan(warmup_s=3, fixed_s=15, saturation_s=10, batch_s=10, rounds=3)


# -- one run of a phase ---------------------------------------------------------------


@dataclass(slots=True)
class PhaseRun:
    """One run, merged over its hey processes."""

    phase: str
    tasks_per_request: int
    seconds: float
    ok: int
    failed: int
    statuses: dict[int, int]
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    api_cpu_ms_per_request: float
    hey_cpu_s: float = 0.0  # the load generator shares the machine: its own CPU time
    stored: dict[str, int] = field(default_factory=dict)

    @property
    def requests_per_s(self) -> float:
        """Answered with a 2xx, per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def tasks_per_s(self) -> float:
        return self.requests_per_s * self.tasks_per_request


def merge(phase: str, runs: list[HeyRun], tasks_per_request: int, cpu_s: float) -> PhaseRun:
    """One figure from hey processes that ran side by side: percentiles over all their
    samples together (or, for a lone process, its own)."""
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    for run in runs:
        statuses.update(run.statuses)
        errors.update(run.errors)
    if len(runs) == 1:
        percentiles = runs[0].percentiles_ms
    else:
        percentiles = percentiles_of([sample for run in runs for sample in run.samples_ms])
    ok = sum(run.ok for run in runs)
    return PhaseRun(
        phase=phase,
        tasks_per_request=tasks_per_request,
        seconds=max(run.seconds for run in runs),
        ok=ok,
        failed=sum(run.failed for run in runs),
        statuses=dict(statuses),
        errors=dict(errors),
        p50_ms=percentiles.get(50, float("nan")),
        p99_ms=percentiles.get(99, float("nan")),
        api_cpu_ms_per_request=1000 * cpu_s / ok if ok else float("nan"),
    )


class Bench:
    """The phases against one running API."""

    def __init__(self, hey: str, api: ApiServer, key: str, dsn: str, workdir: Path) -> None:
        self.hey, self.api, self.key, self.dsn = hey, api, key, dsn
        self.single_url = api.url + "/api/v1/tasks"
        self.batch_file = workdir / "batch.json"
        self.batch_file.write_text(json.dumps({"tasks": [TASK] * MAX_BATCH}))
        self.high_water_mb: dict[str, float | None] = {}

    def fixed_rate(self, seconds: int, label: str = "fixed") -> PhaseRun:
        per_worker = FIXED_RATE / (FIXED_PROCESSES * FIXED_WORKERS)
        args = ["-z", f"{seconds}s", "-c", str(FIXED_WORKERS), "-q", f"{per_worker:g}"]
        # Each request's latency, so the percentiles are over all processes together.
        args += ["-o", "csv", "-d", json.dumps(TASK)]
        command = hey_command(self.hey, self.single_url, self.key, *args)
        return self._measure(label, 1, seconds, [command] * FIXED_PROCESSES, 1 / per_worker)

    def saturation(self, seconds: int) -> PhaseRun:
        args = ["-z", f"{seconds}s", "-c", str(SATURATION_CONNECTIONS), "-d", json.dumps(TASK)]
        command = hey_command(self.hey, self.single_url, self.key, *args)
        return self._measure("saturation", 1, seconds, [command], 0)

    def batch(self, seconds: int) -> PhaseRun:
        args = ["-z", f"{seconds}s", "-c", str(BATCH_CONNECTIONS), "-D", str(self.batch_file)]
        command = hey_command(self.hey, self.single_url + "/batch", self.key, *args)
        return self._measure("batch", MAX_BATCH, seconds, [command], 0)

    def _measure(
        self, phase: str, per_request: int, seconds: int, commands: list[list[str]], tick: float
    ) -> PhaseRun:
        """Run the hey processes side by side, started `tick / n` apart so their bursts
        interleave, then count what was stored."""
        cpu_before, hey_before = process_cpu_s(self.api.pid), children_cpu_s()
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            futures = []
            for command in commands:
                futures.append(pool.submit(run_hey, command, seconds))
                time.sleep(tick / len(commands))
            results = [future.result() for future in futures]
        self.api.check_alive()
        run = merge(phase, results, per_request, process_cpu_s(self.api.pid) - cpu_before)
        run.hey_cpu_s = children_cpu_s() - hey_before
        self.high_water_mb[phase] = self.api.high_water_mb()
        run.stored = self._count_and_empty()
        return run

    def _count_and_empty(self) -> dict[str, int]:
        """Rows the run left (tasks, their events, their outbox messages); then none, so
        the next run starts from the same empty tables."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM task_events),"
                # Events in the outbox (one message per statement lists its events).
                " (SELECT coalesce(sum(jsonb_array_length(message -> 'events')), 0)"
                " FROM pgmq.q_outbox)"
            ).fetchone()
            assert row is not None
            conn.execute("TRUNCATE tasks, task_events, pgmq.q_outbox CASCADE")
        return dict(zip(("tasks", "events", "outbox"), row, strict=True))


def stored_problem(run: PhaseRun) -> str | None:
    """Every 2xx is one stored task with its event and outbox message; nothing more."""
    expected = run.ok * run.tasks_per_request
    wanted = {"tasks": expected, "events": expected, "outbox": expected}
    return None if run.stored == wanted else f"{run.phase}: {run.stored}, not {wanted}"


def describe(run: PhaseRun) -> str:
    return (
        f"{run.requests_per_s:,.0f} req/s ({fmt_rate(run.tasks_per_s)} tasks/s), "
        f"p50 {run.p50_ms:.1f} ms, p99 {run.p99_ms:.1f} ms, {run.failed} errors, "
        f"API CPU {run.api_cpu_ms_per_request:.2f} ms/request, "
        f"hey CPU {100 * run.hey_cpu_s / run.seconds if run.seconds else 0:.0f}%, "
        f"stored {run.stored['tasks']:,}"
    )


def as_data(run: PhaseRun) -> dict[str, Any]:
    return {**asdict(run), "requests_per_s": run.requests_per_s, "tasks_per_s": run.tasks_per_s}


# -- the benchmark --------------------------------------------------------------------


def run(report: Report, quick: bool) -> None:
    plan = QUICK if quick else FULL
    hey = hey_path()
    runs: dict[str, list[PhaseRun]] = {"fixed": [], "saturation": [], "batch": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as workdir,
        scratch_database("api") as dsn,
    ):
        asyncio.run(run_migrations(dsn))
        key = issue_api_key(dsn)
        with ApiServer(dsn) as api:
            started_mb = api.rss_mb()
            bench = Bench(hey, api, key, dsn, Path(workdir))
            warmup = bench.fixed_rate(plan.warmup_s, "warmup")
            print(f"    warm-up: {describe(warmup)}", flush=True)
            phases = (
                (bench.fixed_rate, plan.fixed_s, runs["fixed"]),
                (bench.saturation, plan.saturation_s, runs["saturation"]),
                (bench.batch, plan.batch_s, runs["batch"]),
            )
            for _ in range(plan.rounds):
                for measure, seconds, results in phases:
                    results.append(measure(seconds))
                    print(f"    {results[-1].phase}: {describe(results[-1])}", flush=True)
        # Stopped: its peak RSS was read on the way out.
        peak_mb = api.peak_rss_mb
    every_run = [warmup, *(r for phase_runs in runs.values() for r in phase_runs)]
    problems = [problem for problem in map(stored_problem, every_run) if problem]
    add_rows(report, runs, problems, started_mb, peak_mb)
    report.data["api"] = {
        "plan": asdict(plan),
        "load": {
            "fixed_rate": FIXED_RATE,
            "fixed_processes": FIXED_PROCESSES,
            "fixed_workers_per_process": FIXED_WORKERS,
            "saturation_connections": SATURATION_CONNECTIONS,
            "batch_connections": BATCH_CONNECTIONS,
            "tasks_per_batch": MAX_BATCH,
            "body": TASK,
        },
        "warmup": as_data(warmup),
        "runs": {phase: [as_data(r) for r in phase_runs] for phase, phase_runs in runs.items()},
        "rss_mb": {
            "after_start": started_mb,
            "peak": peak_mb,
            "high_water_after": bench.high_water_mb,
        },
        "api_cpu_seconds": api.cpu_seconds,
        "stored_problems": problems,
    }
    if problems:
        raise AssertionError("the API lost or invented tasks: " + "; ".join(problems))


def add_rows(
    report: Report,
    runs: dict[str, list[PhaseRun]],
    problems: list[str],
    started_mb: float | None,
    peak_mb: float | None,
) -> None:
    fixed, saturation, batch = runs["fixed"], runs["saturation"], runs["batch"]

    p50 = Summary.of([r.p50_ms for r in fixed])
    p99 = Summary.of([r.p99_ms for r in fixed])
    rate = Summary.of([r.requests_per_s for r in fixed])
    errors = sum(r.failed for r in fixed)
    spread = f"; p99 {p99.low:.1f}-{p99.high:.1f} ms over {p99.runs} runs" if p99.runs > 1 else ""
    report.add(
        SECTION,
        f"POST /tasks at {FIXED_RATE} req/s: p50 / p99",
        f"{p50.median:.1f} / {p99.median:.1f} ms ({rate.median:,.0f} req/s answered, "
        f"{errors} errors{spread})",
        f"p99 < {TARGET_P99_MS:.0f} ms",
        met=p99.median < TARGET_P99_MS and rate.median >= 0.95 * FIXED_RATE and errors == 0,
    )

    rate = Summary.of([r.requests_per_s for r in saturation])
    p99 = Summary.of([r.p99_ms for r in saturation])
    errors = sum(r.failed for r in saturation)
    spread = f", spread {rate.spread_pct:.0f}% over {rate.runs} runs" if rate.runs > 1 else ""
    report.add(
        SECTION,
        "POST /tasks saturation: req/s, p99, errors",
        f"{rate.median:,.0f} req/s, p99 {p99.median:.0f} ms, "
        f"{errors} errors ({SATURATION_CONNECTIONS} connections{spread})",
    )

    tasks = Summary.of([r.tasks_per_s for r in batch])
    p99 = Summary.of([r.p99_ms for r in batch])
    errors = sum(r.failed for r in batch)
    spread = f", spread {tasks.spread_pct:.0f}% over {tasks.runs} runs" if tasks.runs > 1 else ""
    report.add(
        SECTION,
        f"POST /tasks/batch ({MAX_BATCH} per request): tasks/s",
        f"{fmt_rate(tasks.median)} tasks/s (p99 {p99.median:.0f} ms per request, {errors} errors, "
        f"{BATCH_CONNECTIONS} connections{spread})",
        f"> {fmt_rate(TARGET_BATCH_TASKS_PER_S)} tasks/s",
        met=tasks.median > TARGET_BATCH_TASKS_PER_S and errors == 0,
    )

    cpu = {
        name: Summary.of([r.api_cpu_ms_per_request for r in rs]).median for name, rs in runs.items()
    }
    report.add(
        SECTION,
        "API CPU per request: fixed / saturation / batch",
        f"{cpu['fixed']:.2f} / {cpu['saturation']:.2f} / {cpu['batch']:.1f} ms "
        f"({cpu['batch'] / MAX_BATCH:.3f} ms per batched task)",
    )
    report.add(
        SECTION,
        "API peak RSS under load: MB",
        f"{peak_mb:.0f} MB (after start {started_mb:.0f} MB)"
        if peak_mb and started_mb
        else "unknown",
    )
    total = sum(r.stored["tasks"] for rs in runs.values() for r in rs)
    report.add(
        SECTION,
        "Stored tasks = 2xx answers (each with its event and outbox message)",
        "; ".join(problems) if problems else f"yes, every run ({total:,} tasks)",
        "every 2xx stored once",
        met=not problems,
    )
