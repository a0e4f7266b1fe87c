"""Waits (issue 16): what parked tasks cost the claim path, and how fast a signal resumes.

* Parked cost: one worker process x10 in burst mode (tests/bench/contenders/ours.py, as
  the drain bench runs it) drains N no-op tasks from a queue holding nothing else, and
  from one also holding 10 000 parked tasks (half waiting for a signal, with a
  deadline; half for a person's approval). Paired per round, the order alternating;
  the target: the drain with parked tasks within 5 % of the empty one.
* Resume latency: 500 tasks whose handler calls `ctx.wait_for_signal` are parked by a
  running worker (tests/bench/resume_worker.py); then their signals are sent one at a
  time, 50 a second, through `Queue.send_signal` and through `POST /api/v1/signals`
  (the real API process). Latency: from just before each send to the handler's start
  on its second run (the run the signal released), p50 and p99.
* Before: plain tasks drained now ÷ at BASE_COMMIT (43ecae4, the engine before waits,
  triggers and schedules: the claim now returns `resume`, events pass one more
  statement trigger), paired as in tests/bench/workflows.py.

`--quick` (CI): one pair of drains of 2 000 tasks (with 10 000 parked), and 100 waits
through the library; no HTTP, no base commit.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg

from app.domain import waits
from app.queue import EnqueueTask, Queue
from tests.bench import resume_worker, workflows
from tests.bench.api_server import ApiServer, issue_api_key
from tests.bench.contenders import ours
from tests.bench.harness import (
    Report,
    Summary,
    percentile,
    scratch_database,
    start_child,
    wait_child,
)

CONCURRENCY = 10
PARKED = 10_000
TARGET_LOSS = 0.05  # issue 16: parked tasks cost the claim path nothing (within 5 %)
RATE = 50.0  # signals a second in the latency runs
# The engine before issue 16 (waits, triggers, schedules): what plain tasks drained at.
BASE_COMMIT = os.environ.get("BENCH_WAITS_BASE", "43ecae4")
DRAIN_WORKER = "tests.bench.contenders.ours"


async def _park(dsn: str, count: int) -> None:
    """`count` parked tasks: half wait for a signal (with a deadline), half for an approval."""
    async with Queue.connect(dsn, settings=ours.settings_for(dsn)) as queue:
        tenant = await queue.ensure_tenant("bench")
        for start in range(0, count, 1000):
            commands = [
                EnqueueTask(
                    tenant_id=tenant,
                    type="bench.parked",
                    wait=waits.signal_wait(
                        "parked", f"k-{n}", timeout_seconds=86_400, on_timeout="cancel"
                    )
                    if n % 2 == 0
                    else waits.approval("Ship it?", deadline_seconds=86_400),
                )
                for n in range(start, min(start + 1000, count))
            ]
            await queue.enqueue_many(commands)


def _verify(dsn: str, n: int, parked: int) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE type = %s AND status = 'Succeeded'),
                      count(*) FILTER (WHERE type = 'bench.parked' AND status = 'Created'
                                         AND attempt_count = 0),
                      (SELECT count(*) FROM task_waits)
                 FROM tasks""",
            (ours.TASK_TYPE,),
        ).fetchone()
    want = (n, parked, parked)
    return None if row == want else f"(succeeded, parked, waits) = {row}, want {want}"


def _drain_once(n: int, parked: int) -> float:
    """Tasks/s of one worker process x10 (burst) over n no-op tasks, beside `parked`."""
    with scratch_database("waits_parked" if parked else "waits_empty") as dsn:
        asyncio.run(ours.install(dsn))
        if parked:
            asyncio.run(_park(dsn, parked))
        asyncio.run(ours.enqueue(dsn, n))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
        child = start_child(DRAIN_WORKER, "--dsn", dsn, "--concurrency", str(CONCURRENCY))
        output = wait_child(child).output
        problem = _verify(dsn, n, parked)
        if problem:
            raise AssertionError(f"drain beside {parked} parked tasks is wrong: {problem}")
    return float(n / (output["end"] - output["first"]))


def parked_drain(report: Report, data: dict[str, Any], n: int, rounds: int) -> None:
    done = []
    for round_no in range(rounds):
        order = [PARKED, 0] if round_no % 2 == 0 else [0, PARKED]
        rates = {parked: _drain_once(n, parked) for parked in order}
        ratio = rates[PARKED] / rates[0]
        done.append({"parked": rates[PARKED], "empty": rates[0], "ratio": ratio})
        print(
            f"    round {round_no + 1}: {rates[PARKED]:,.0f} (with {PARKED:,} parked) vs "
            f"{rates[0]:,.0f} tasks/s (empty) = {ratio:.3f}",
            flush=True,
        )
    data["parked_vs_empty"] = done
    ratio = Summary.of([r["ratio"] for r in done])
    each = ", ".join(f"{r['ratio']:.2f}" for r in done)
    with_parked, empty = (Summary.of([r[k] for r in done]) for k in ("parked", "empty"))
    report.add(
        "Waits",
        f"drain of {n:,} tasks, 1 worker x{CONCURRENCY}: beside {PARKED:,} parked ÷ empty queue",
        f"{ratio.median:.3f}x (rounds: {each}; median {with_parked.median:,.0f} vs "
        f"{empty.median:,.0f} tasks/s)",
        f"≥ {1 - TARGET_LOSS:.2f}x",
        ratio.median >= 1 - TARGET_LOSS,
    )


# -- resume latency -------------------------------------------------------------------


async def _waiters(dsn: str, tenant_name: str, count: int) -> tuple[uuid.UUID, dict[str, str]]:
    """`count` tasks whose handler waits for a signal; (tenant, task id by signal key)."""
    async with Queue.connect(dsn, settings=ours.settings_for(dsn)) as queue:
        tenant = await queue.ensure_tenant(tenant_name)
        keys = [f"order-{n}" for n in range(count)]
        ids = await queue.enqueue_many(
            [
                EnqueueTask(tenant_id=tenant, type=resume_worker.TASK_TYPE, payload={"key": k})
                for k in keys
            ]
        )
    return tenant, {k: str(i) for k, i in zip(keys, ids, strict=True)}


def _wait_parked(dsn: str, count: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT count(*) FROM task_waits WHERE kind = 'signal'").fetchone()
            if row is not None and row[0] >= count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"only {row} of {count} tasks parked in {within} s")
            time.sleep(0.05)


async def _send_by_library(dsn: str, tenant: uuid.UUID, keys: list[str]) -> dict[str, float]:
    sent: dict[str, float] = {}
    async with Queue.connect(dsn, settings=ours.settings_for(dsn)) as queue:
        start = time.monotonic()
        for n, key in enumerate(keys):
            delay = start + n / RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[key] = time.time()
            done = await queue.send_signal(tenant, resume_worker.SIGNAL, key, {"n": n})
            if done.signal.resumed != 1:
                raise AssertionError(f"signal {key} resumed {done.signal.resumed} tasks")
    return sent


def _send_by_http(url: str, api_key: str, keys: list[str]) -> dict[str, float]:
    sent: dict[str, float] = {}
    start = time.monotonic()
    for n, key in enumerate(keys):
        delay = start + n / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        body = json.dumps({"name": resume_worker.SIGNAL, "key": key, "data": {"n": n}}).encode()
        request = urllib.request.Request(
            url + "/api/v1/signals",
            data=body,
            headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            method="POST",
        )
        sent[key] = time.time()
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
            if response.status != 201 or answer["resumed"] != 1:
                raise AssertionError(f"POST /api/v1/signals answered {response.status} {answer}")
    return sent


def resume_once(count: int, *, http: bool) -> list[float]:
    """Latencies in ms from each signal's send to its handler's start."""
    with scratch_database("waits_resume") as dsn, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(ours.install(dsn))
        api_key = issue_api_key(dsn, "bench-api") if http else ""
        tenant, task_of = asyncio.run(_waiters(dsn, "bench-api", count))
        record = Path(tmp) / "resumed.txt"
        serve = 30.0 + count / RATE
        child = start_child(
            "tests.bench.resume_worker",
            *("--dsn", dsn, "--concurrency", str(CONCURRENCY), "--seconds", str(serve)),
            *("--expect", str(count), "--record", str(record)),
        )
        _wait_parked(dsn, count)
        keys = list(task_of)
        if http:
            with ApiServer(dsn) as server:
                sent = _send_by_http(server.url, api_key, keys)
        else:
            sent = asyncio.run(_send_by_library(dsn, tenant, keys))
        wait_child(child, timeout=serve + 60)
        started = dict(line.split() for line in record.read_text().splitlines())
    missing = [k for k in keys if task_of[k] not in started]
    if missing:
        raise AssertionError(f"{len(missing)} signalled tasks never ran again")
    return [(float(started[task_of[k]]) - at) * 1000 for k, at in sent.items()]


def resume_latency(report: Report, data: dict[str, Any], count: int, *, http: bool) -> None:
    for label, over_http in (("Queue.send_signal", False), ("POST /api/v1/signals", True)):
        if over_http and not http:
            continue
        values = resume_once(count, http=over_http)
        p50, p99 = percentile(values, 50), percentile(values, 99)
        data.setdefault("resume_ms", {})[label] = {
            "p50": p50,
            "p99": p99,
            "max": max(values),
            "waits": count,
            "rate_per_second": RATE,
        }
        report.add(
            "Waits",
            f"resume latency, signal sent to handler start ({label}, {count} waits at "
            f"{RATE:g}/s): p50 / p99",
            f"{p50:.1f} / {p99:.1f} ms (max {max(values):.1f})",
        )


def run(report: Report, quick: bool) -> None:
    n = 2_000 if quick else 10_000
    data: dict[str, Any] = {"plain": n, "parked": PARKED, "concurrency": CONCURRENCY}
    report.data["waits"] = data
    parked_drain(report, data, n, rounds=1 if quick else 6)
    resume_latency(report, data, 100 if quick else 500, http=not quick)
    if not quick:
        label = (
            f"drain of {workflows.CHILDREN:,} plain tasks: now ÷ {BASE_COMMIT} "
            "(before waits, triggers and schedules)"
        )
        data["base_commit"] = BASE_COMMIT
        data["now_vs_base"] = workflows.drain_vs_commit(
            report, BASE_COMMIT, 6, label, section="Waits"
        )
