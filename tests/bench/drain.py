"""Drain: N no-op tasks inserted up front, then worker processes work them off.

Tasks/s is measured from the first handler call to the moment the last worker
process has written every outcome and returned. Each run gets a new database; each
round runs every configuration once, in an order that rotates round by round, so
drift in the machine hits all alike. Ratios are paired within a round (ours ÷ the
peer's best configuration, both from the same round), then summarised over rounds.

Every run also records, for the timed window only, the CPU of the worker processes
and of their Postgres backends, the tasks per claim and finish statement, and what
the drain wrote: heap rows, index entries and WAL bytes per task (write_cost.py).
"""

from __future__ import annotations

import asyncio
import importlib
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg

from tests.bench import write_cost
from tests.bench.harness import (
    CpuSampler,
    Report,
    Summary,
    scratch_database,
    start_child,
    wait_child,
)
from tests.bench.peers import EQUAL_CLAIM_PAIRS, OURS, Config, drain_configs


@dataclass(frozen=True, slots=True)
class DrainRun:
    key: str
    tasks: int
    workers: int
    rate: float
    peak_rss_mb: float
    worker_cpu_us: float  # worker processes' CPU per task, timed window only
    backend_cpu_us: float  # their Postgres backends' CPU per task, timed window only
    claims: dict[str, float] = field(default_factory=dict)
    finishes: dict[str, float] = field(default_factory=dict)
    writes: dict[str, Any] = field(default_factory=dict)
    # Ours only: Reserved -> Running moves written apart from the finish.
    starts: dict[str, float] = field(default_factory=dict)


def drain_once(config: Config, tasks: int, workers: int, concurrency: int) -> DrainRun:
    module = importlib.import_module(config.module)
    with scratch_database(config.family) as dsn:
        asyncio.run(module.install(dsn))
        asyncio.run(module.enqueue(dsn, tasks))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")  # no checkpoint of the enqueue inside the drain
        before = write_cost.snapshot(dsn)
        args = ["--dsn", dsn, "--concurrency", str(concurrency), "--tasks", str(tasks)]
        for pair in config.sets:
            args += ["--set", pair]
        with CpuSampler(dsn.rsplit("/", 1)[1]) as sampler:
            children = [start_child(config.module, *args) for _ in range(workers)]
            results = [wait_child(child) for child in children]
        after = write_cost.snapshot(dsn)
        # Read the WAL now: dropping the database checkpoints and may recycle it.
        costs = write_cost.cost(before, after, tasks)
        problem = module.verify(dsn, tasks)
        if problem:
            raise AssertionError(f"{config.key} drain is wrong: {problem}")
    outputs = [r.output for r in results]
    first = min(o["first"] for o in outputs)
    end = max(o["end"] for o in outputs)
    worker_cpu = sum(o["cpu_end"] - o["cpu_first"] for o in outputs)
    costs.pop("wal_records", None)
    return DrainRun(
        config.key,
        tasks,
        workers,
        tasks / (end - first),
        max(r.peak_rss_mb for r in results),
        worker_cpu / tasks * 1e6,
        sampler.window(first, end) / tasks * 1e6,
        _merged_sizes([o.get("claims") for o in outputs]),
        _merged_sizes([o.get("finishes") for o in outputs]),
        costs,
        _merged_sizes([o.get("starts") for o in outputs]),
    )


def _merged_sizes(parts: list[dict[str, float] | None]) -> dict[str, float]:
    known = [p for p in parts if p and p.get("statements")]
    if not known:
        return {}
    statements = sum(p["statements"] for p in known)
    items = sum(p["mean"] * p["statements"] for p in known)
    return {
        "statements": statements,
        "mean": round(items / statements, 1),
        "max": max(p["max"] for p in known),
    }


def drain_rounds(
    configs: list[Config], tasks: int, workers: int, concurrency: int, rounds: int
) -> list[dict[str, DrainRun]]:
    """`rounds` rounds; each runs every configuration once, in a rotating order."""
    done: list[dict[str, DrainRun]] = []
    for round_no in range(rounds):
        shift = round_no % len(configs)
        this_round: dict[str, DrainRun] = {}
        for config in configs[shift:] + configs[:shift]:
            run = drain_once(config, config.tasks or tasks, workers, concurrency)
            claims = run.claims.get("mean", "?")
            if config.family == OURS.family:
                apart = run.starts.get("statements", 0) * run.starts.get("mean", 0) / run.tasks
                print(f"      starts written apart from their finish: {apart:.1%} of tasks")
            print(
                f"    round {round_no + 1} x{workers} {config.key}: {run.rate:,.0f} tasks/s "
                f"(claim {claims}/stmt, CPU {run.worker_cpu_us:.0f}+{run.backend_cpu_us:.0f} "
                f"µs/task, WAL {run.writes['wal_bytes_per_task']:,.0f} B/task)",
                flush=True,
            )
            this_round[config.key] = run
        done.append(this_round)
    return done


def best_of(family: str, configs: list[Config], rounds: list[dict[str, DrainRun]]) -> Config:
    """The family's configuration with the highest median rate."""
    members = [c for c in configs if c.family == family]
    return max(members, key=lambda c: statistics.median(r[c.key].rate for r in rounds))


def paired(ours: Config, peer: Config, rounds: list[dict[str, DrainRun]]) -> Summary:
    """Ours ÷ peer, one ratio per round."""
    return Summary.of([r[ours.key].rate / r[peer.key].rate for r in rounds])


def _median(rounds: list[dict[str, DrainRun]], key: str, pick: Any) -> float:
    return statistics.median(pick(r[key]) for r in rounds)


TARGET_1_WORKER = 1.5
TARGET_MORE_WORKERS = 1.3
TARGET_WAL_VS_PGQUEUER = 2.0


def run(report: Report, quick: bool) -> None:
    concurrency = 10
    tasks = 10_000 if quick else 50_000
    rounds = 2 if quick else 5
    configs = drain_configs(quick)
    data: dict[str, Any] = {"concurrency": concurrency, "tasks": tasks, "rounds": rounds}
    report.data["drain"] = data
    data["configs"] = {c.key: asdict(c) for c in configs}
    one = drain_rounds(configs, tasks, 1, concurrency, rounds)
    data["runs_1_worker"] = [{k: asdict(v) for k, v in r.items()} for r in one]
    families = sorted({c.family for c in configs} - {"assistente"})
    best = {family: best_of(family, configs, one) for family in families}
    data["best"] = {family: config.key for family, config in best.items()}
    for config in configs:
        rate = Summary.of([r[config.key].rate for r in one])
        report.add(
            "Drain",
            f"{config.key}, 1 worker x{concurrency} ({config.tasks or tasks:,} tasks)",
            f"{rate.median:,.0f} tasks/s ({rate.low:,.0f}-{rate.high:,.0f}); claim "
            f"{_median(one, config.key, lambda r: r.claims.get('mean', 0)):.0f}/finish "
            f"{_median(one, config.key, lambda r: r.finishes.get('mean', 0)):.0f} per stmt; "
            f"CPU {_median(one, config.key, lambda r: r.worker_cpu_us):.0f} worker + "
            f"{_median(one, config.key, lambda r: r.backend_cpu_us):.0f} Postgres µs/task",
        )
        report.add(
            "Write cost",
            f"{config.key} per task",
            _writes(one, config.key),
        )
    for family, peer in best.items():
        ratio = paired(OURS, peer, one)
        target = TARGET_1_WORKER if family != "procrastinate" else None
        report.add(
            "Drain",
            f"Assistente ÷ best {family} ({peer.name}), 1 worker, paired per round",
            f"{ratio.median:.2f}x (range {ratio.low:.2f}-{ratio.high:.2f}, {ratio.runs} rounds)",
            f"≥ {target:g}x" if target else "",
            ratio.median >= target if target else None,
        )
    if "pgqueuer" in best:
        _equal_claims(report, one)
        _wal_target(report, one, best["pgqueuer"])
        if not quick:
            _more_workers(report, data, best["pgqueuer"], tasks, concurrency, rounds)
    for config in (OURS, best.get("pgqueuer")):
        if config is not None:
            report.add(
                "Memory",
                f"{config.key} worker peak RSS during the drain",
                f"{max(r[config.key].peak_rss_mb for r in one):.0f} MB",
            )


def _writes(rounds: list[dict[str, DrainRun]], key: str) -> str:
    def pick(name: str, unit: str, digits: int) -> str:
        values = [r[key].writes.get(name) for r in rounds]
        known = [v for v in values if v is not None]
        if not known:  # pg_waldump could not read the WAL (another host, recycled segments)
            return f"n/a {unit}"
        return f"{statistics.median(known):,.{digits}f} {unit}"

    return ", ".join(
        (
            pick("heap_rows_per_task", "heap rows", 1),
            pick("index_entries_per_task", "index entries", 1),
            pick("wal_bytes_per_task", "WAL bytes", 0),
        )
    )


def _equal_claims(report: Report, rounds: list[dict[str, DrainRun]]) -> None:
    """Ours against PGQueuer (one connection) with about the same claim per statement."""
    for ours, peer in EQUAL_CLAIM_PAIRS:
        if ours.key in rounds[0] and peer.key in rounds[0]:
            ratio = paired(ours, peer, rounds)
            report.add(
                "Drain",
                f"Equal claim size (at most {ours.claim_limit} vs {peer.claim_limit}): "
                f"{ours.key} ÷ {peer.key}",
                f"{ratio.median:.2f}x (range {ratio.low:.2f}-{ratio.high:.2f})",
            )


def _wal_target(report: Report, rounds: list[dict[str, DrainRun]], peer: Config) -> None:
    ours = _median(rounds, OURS.key, lambda r: r.writes["wal_bytes_per_task"])
    theirs = _median(rounds, peer.key, lambda r: r.writes["wal_bytes_per_task"])
    report.add(
        "Write cost",
        f"WAL per task, Assistente ÷ {peer.key}",
        f"{ours / theirs:.2f}x ({ours:,.0f} vs {theirs:,.0f} B)",
        f"≤ {TARGET_WAL_VS_PGQUEUER:g}x",
        ours / theirs <= TARGET_WAL_VS_PGQUEUER,
    )


def _more_workers(
    report: Report, data: dict[str, Any], peer: Config, tasks: int, concurrency: int, rounds: int
) -> None:
    for workers in (2, 4):
        done = drain_rounds([OURS, peer], tasks, workers, concurrency, rounds)
        data[f"runs_{workers}_workers"] = [{k: asdict(v) for k, v in r.items()} for r in done]
        for config in (OURS, peer):
            rate = Summary.of([r[config.key].rate for r in done])
            report.add(
                "Drain",
                f"{config.key}, {workers} workers x{concurrency}",
                f"{rate.median:,.0f} tasks/s ({rate.low:,.0f}-{rate.high:,.0f})",
            )
        ratio = paired(OURS, peer, done)
        report.add(
            "Drain",
            f"Assistente ÷ {peer.key}, {workers} workers, paired per round",
            f"{ratio.median:.2f}x (range {ratio.low:.2f}-{ratio.high:.2f})",
            f"≥ {TARGET_MORE_WORKERS:g}x",
            ratio.median >= TARGET_MORE_WORKERS,
        )
