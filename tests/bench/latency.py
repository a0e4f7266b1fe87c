"""Pickup latency: an idle worker, tasks posted one at a time at a steady rate;
from the commit of each insert (as its client sees it) to its handler starting.

Every task id is matched between the poster's commit times and the handler start
times the worker wrote, so a task that never ran fails the benchmark.
"""

from __future__ import annotations

import asyncio
import importlib
import tempfile
import time
from pathlib import Path

from tests.bench.harness import (
    Report,
    Summary,
    percentile,
    scratch_database,
    start_child,
    wait_child,
)
from tests.bench.peers import CONTENDER_MODULES as CONTENDERS

LATENCY_CONTENDERS = ("assistente", "pgqueuer")
TARGET_P99_MS = 25.0


async def post_steadily(module: object, dsn: str, count: int, rate: float) -> dict[str, float]:
    """Post `count` tasks at `rate` per second; return id → commit time."""
    committed: dict[str, float] = {}
    async with module.Enqueuer(dsn) as enqueuer:  # type: ignore[attr-defined]
        start = time.monotonic()
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task_id = await enqueuer.one()
            committed[task_id] = time.time()
    return committed


def latency_once(contender: str, count: int, rate: float) -> list[float]:
    """Latencies in ms of `count` tasks posted to an idle worker."""
    module_name = CONTENDERS[contender]
    module = importlib.import_module(module_name)
    serve_seconds = count / rate + 4.0
    with scratch_database(f"lat_{contender}") as dsn, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(module.install(dsn))
        record = Path(tmp) / "starts.txt"
        child = start_child(
            module_name, "--dsn", dsn, "--seconds", str(serve_seconds), "--record", str(record)
        )
        ready = record.with_suffix(".ready")
        deadline = time.monotonic() + 30
        while not ready.exists():
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError(f"{contender} worker did not start")
            time.sleep(0.05)
        time.sleep(1.0)  # listening and idle
        committed = asyncio.run(post_steadily(module, dsn, count, rate))
        wait_child(child, timeout=serve_seconds + 60)
        started = dict(line.split() for line in record.read_text().splitlines())
    missing = set(committed) - set(started)
    if missing:
        raise AssertionError(f"{contender}: {len(missing)} tasks never started")
    return [(float(started[task_id]) - at) * 1000 for task_id, at in committed.items()]


def run(report: Report, quick: bool) -> None:
    count, rate = (200, 50.0) if quick else (1000, 100.0)
    repeats = 1 if quick else 5
    p50: dict[str, list[float]] = {name: [] for name in LATENCY_CONTENDERS}
    p99: dict[str, list[float]] = {name: [] for name in LATENCY_CONTENDERS}
    p95: dict[str, list[float]] = {name: [] for name in LATENCY_CONTENDERS}
    for round_no in range(repeats):
        order = LATENCY_CONTENDERS if round_no % 2 == 0 else LATENCY_CONTENDERS[::-1]
        for name in order:
            values = latency_once(name, count, rate)
            p50[name].append(percentile(values, 50))
            p95[name].append(percentile(values, 95))
            p99[name].append(percentile(values, 99))
            print(
                f"    latency {name}: p50 {p50[name][-1]:.1f} ms, p95 {p95[name][-1]:.1f} ms, "
                f"p99 {p99[name][-1]:.1f} ms ({count} tasks at {rate:g}/s)",
                flush=True,
            )
    ours = {
        k: Summary.of(v[LATENCY_CONTENDERS[0]])
        for k, v in (("p50", p50), ("p95", p95), ("p99", p99))
    }
    peer = {k: Summary.of(v["pgqueuer"]) for k, v in (("p50", p50), ("p95", p95), ("p99", p99))}
    report.data["latency"] = {
        "tasks": count,
        "rate_per_second": rate,
        "assistente": {k: s.as_dict() for k, s in ours.items()},
        "pgqueuer": {k: s.as_dict() for k, s in peer.items()},
    }
    for name, figures in (("Assistente", ours), ("PGQueuer", peer)):
        report.add(
            "Pickup latency",
            f"{name}: p50 / p95 / p99 (ms, median of {repeats})",
            " / ".join(f"{figures[p].median:.1f}" for p in ("p50", "p95", "p99")),
        )
    report.add(
        "Pickup latency",
        "Assistente p99 vs PGQueuer p99",
        f"{ours['p99'].median:.1f} vs {peer['p99'].median:.1f} ms",
        "no worse than PGQueuer (no slack), and < 25 ms",
        ours["p99"].median <= peer["p99"].median and ours["p99"].median < TARGET_P99_MS,
    )
