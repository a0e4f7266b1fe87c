"""Growth: drain throughput and claim time with 1,000,000 finished tasks (and their
attempts and events) in the tables, against the same work on empty tables; the
claim must stay on its partial index whatever the history.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import psycopg

from app.adapters.postgres.queries import query
from tests.bench.contenders import ours
from tests.bench.harness import Report, Summary, scratch_database, start_child, wait_child

TARGET_COST = 0.10

# Finished history, written straight in SQL: the engine would take minutes.
HISTORY_SQL = """
INSERT INTO tenants (name) VALUES ('history') ON CONFLICT DO NOTHING;
INSERT INTO tasks (id, tenant_id, type, status, payload, attempt_count, version, created_at,
                   updated_at, started_at, finished_at, scheduled_at, progress)
SELECT gen_random_uuid(), (SELECT id FROM tenants WHERE name = 'history'), 'bench.history',
       'Succeeded', '{"prompt": "summarise the quarterly report"}', 1, 3,
       now() - interval '2 days' + n * interval '1 ms', now(), now(), now(), now(), 100
  FROM generate_series(1, %(rows)s) AS n;
INSERT INTO task_attempts (task_id, attempt_no, worker_id, status, started_at, ended_at, latency_ms)
SELECT id, 1, 'history', 'Succeeded', started_at, finished_at, 5
  FROM tasks WHERE type = 'bench.history';
INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, occurred_at)
SELECT t.id, t.tenant_id, s.sequence, s.event_type, s.status::task_status, t.finished_at
  FROM tasks t
 CROSS JOIN (VALUES (1, 'TaskQueued', 'Queued'), (2, 'TaskRunning', 'Running'),
                    (3, 'TaskSucceeded', 'Succeeded')) AS s(sequence, event_type, status)
 WHERE t.type = 'bench.history';
"""


def add_history(dsn: str, rows: int) -> float:
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.transaction():
            for statement in HISTORY_SQL.split(";\n"):
                if statement.strip():
                    conn.execute(statement, {"rows": rows})
        conn.execute("VACUUM ANALYZE")
        # Writing the history filled the WAL: checkpoint now, so the checkpoint it
        # forces does not land inside the drains that follow.
        conn.execute("CHECKPOINT")
    return time.monotonic() - started


def claim_timing(dsn: str, samples: int = 200) -> tuple[float, str]:
    """Median time of the claim statement (rolled back each time) and its plan."""
    claim = query("task_lease_available")
    params = {"worker_id": "growth", "limit": 10, "lease_seconds": 30}
    times = []
    with psycopg.connect(dsn) as conn:
        plan = "\n".join(
            row[0]
            for row in conn.execute("EXPLAIN " + claim, params).fetchall()  # type: ignore[operator]
        )
        conn.rollback()
        for _ in range(samples):
            started = time.perf_counter()
            conn.execute(claim, params).fetchall()
            times.append(time.perf_counter() - started)
            conn.rollback()
    return statistics.median(times) * 1000, plan


def drain_rate(dsn: str, tasks: int) -> float:
    asyncio.run(ours.enqueue(dsn, tasks))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE tasks")
    result = wait_child(start_child(ours.__name__, "--dsn", dsn, "--concurrency", "10"))
    return tasks / (result.output["end"] - result.output["first"])


def run(report: Report, quick: bool) -> None:
    history, tasks, repeats = (100_000, 5_000, 1) if quick else (1_000_000, 20_000, 2)
    with scratch_database("empty") as empty, scratch_database("grown") as grown:
        for dsn in (empty, grown):
            asyncio.run(ours.install(dsn))
        seconds = add_history(grown, history)
        print(f"    {history:,} finished tasks written in {seconds:.0f} s", flush=True)
        rates: dict[str, list[float]] = {"empty": [], "grown": []}
        claims: dict[str, list[float]] = {"empty": [], "grown": []}
        plans: dict[str, str] = {}
        for round_no in range(repeats):
            order = [("empty", empty), ("grown", grown)]
            for label, dsn in order if round_no % 2 == 0 else order[::-1]:
                asyncio.run(ours.enqueue(dsn, 1000))
                claim_ms, plans[label] = claim_timing(dsn)
                with psycopg.connect(dsn, autocommit=True) as conn:  # back to a clean queue
                    conn.execute("DELETE FROM tasks WHERE status = 'Queued'")
                claims[label].append(claim_ms)
                rates[label].append(drain_rate(dsn, tasks))
                print(
                    f"    growth {label}: {rates[label][-1]:,.0f} tasks/s, claim {claim_ms:.2f} ms",
                    flush=True,
                )
    empty_rate, grown_rate = Summary.of(rates["empty"]), Summary.of(rates["grown"])
    cost = 1 - grown_rate.median / empty_rate.median
    on_index = all("tasks_claim_idx" in plan for plan in plans.values())
    report.data["growth"] = {
        "finished_tasks": history,
        "drain_tasks": tasks,
        "rates": {k: Summary.of(v).as_dict() for k, v in rates.items()},
        "claim_ms": {k: Summary.of(v).as_dict() for k, v in claims.items()},
        "plans": plans,
    }
    report.add(
        "Growth",
        f"drain with {history:,} finished tasks vs empty tables",
        f"{grown_rate.median:,.0f} vs {empty_rate.median:,.0f} tasks/s ({cost:+.0%} cost)"
        if cost >= 0
        else f"{grown_rate.median:,.0f} vs {empty_rate.median:,.0f} tasks/s (no cost)",
        "< 10 % cost",
        cost < TARGET_COST,
    )
    report.add(
        "Growth",
        "claim of 10 (median): grown vs empty",
        f"{Summary.of(claims['grown']).median:.2f} vs {Summary.of(claims['empty']).median:.2f} ms",
        "plan on tasks_claim_idx",
        on_index,
    )
