"""What requests waiting for their tasks cost one API process.

`PYTHONPATH=. .venv/bin/python -m tests.bench.waiting [--waits 500] [--keys 5]
[--json PATH]`

Starts one API process (default settings) and one worker (`demo.sleep`, concurrency
as many as there are waits) on a scratch database. Each of `--keys` API keys of one
tenant queues its share of the tasks, each sleeping about HOLD seconds (their ends
spread over SPREAD seconds). Once every task runs, it samples the API process's CPU
and resident memory for WINDOW seconds with no request waiting, then opens one long
poll per task (GET /api/v1/tasks/{id} with `Prefer: wait=60`, one connection each,
paced under the per-key rate limit), samples again while they all wait, and last
measures, for each, the time from the task's `finishedAt` to the moment its answer
arrived (the same machine's clock on both sides).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from app.bootstrap import run_migrations
from app.config import Settings
from tests.bench.api_server import _command, _status_value, free_port, process_cpu_s
from tests.bench.door import git, new_tenant_keys, post, uncommitted
from tests.bench.flood import Connection, _wait_healthy
from tests.bench.harness import machine_description, percentile, scratch_database

HOLD = 18.0  # seconds each task sleeps, at least
SPREAD = 2.0  # their ends are spread over this many seconds
WINDOW = 4.0  # CPU is sampled over this long, idle and waiting
WAIT = 60  # Prefer: wait=N of each long poll


@contextmanager
def process(role: str, dsn: str, **settings: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`assistente <role>` with default settings but `settings`; its output file."""
    with tempfile.TemporaryDirectory(prefix=f"waiting-{role}-") as workdir:
        env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
        env.update(
            APP_ENV="Staging",
            DATABASE_URL=dsn,
            LOG_DIR=str(Path(workdir) / "logs"),
            LOG_LEVEL="WARNING",
            LOG_CONSOLE="false",
            **{name.upper(): value for name, value in settings.items()},
        )
        output = Path(workdir) / "output.txt"
        with output.open("wb") as sink:
            child = subprocess.Popen(
                [*_command(), role], cwd=workdir, env=env, stdout=sink, stderr=subprocess.STDOUT
            )
        try:
            yield child, output
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def sample(pid: int, seconds: float) -> dict[str, float]:
    """The process's CPU (share of one core) over `seconds`, and its RSS at the end."""
    cpu, started = process_cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    share = (process_cpu_s(pid) - cpu) / (time.monotonic() - started)
    return {
        "cpu_percent": round(share * 100, 1),
        "rss_mb": round(_status_value(pid, "VmRSS") or 0, 1),
    }


def queue_tasks(url: str, keys: list[str], waits: int) -> list[tuple[str, str]]:
    """(key, task path) of `waits` sleeping tasks, queued in one batch per key."""
    queued: list[tuple[str, str]] = []
    for number, key in enumerate(keys):
        share = range(number, waits, len(keys))
        tasks = [
            {"type": "demo.sleep", "payload": {"seconds": round(HOLD + SPREAD * n / waits, 3)}}
            for n in share
        ]
        answer = post(url, key, "/api/v1/tasks/batch", {"tasks": tasks})
        queued += [(key, f"/api/v1/tasks/{task['id']}") for task in answer["tasks"]]
    return queued


async def all_running(url: str, key: str, total: int, within: float = 30.0) -> float:
    """Seconds until `total` tasks of the tenant run."""
    started = time.monotonic()
    connection = Connection(url)
    try:
        while time.monotonic() - started < within:
            _, body = await connection.request(
                "GET", "/api/v1/tasks?status=Running&pageSize=1", {"Authorization": f"Bearer {key}"}
            )
            if json.loads(body)["total"] >= total:
                return time.monotonic() - started
            await asyncio.sleep(0.2)
    finally:
        connection.close()
    raise TimeoutError(f"not all {total} tasks ran within {within} s")


async def long_polls(url: str, queued: list[tuple[str, str]], pid: int) -> dict[str, Any]:
    """Open a long poll per task, sample the API while they wait, time their answers."""
    answers: list[tuple[int, float, dict[str, Any]]] = []

    async def one(key: str, path: str, delay: float) -> None:
        await asyncio.sleep(delay)
        connection = Connection(url)
        try:
            headers = {"Authorization": f"Bearer {key}", "Prefer": f"wait={WAIT}"}
            status, body = await connection.request("GET", path, headers)
            answers.append((status, time.time(), json.loads(body)))
        finally:
            connection.close()

    keys = sorted({key for key, _ in queued})
    # Each key opens its polls 40 a second: under its rate limit (50/s, bursts of 100).
    per_key = {key: 0 for key in keys}
    polls = []
    for key, path in queued:
        polls.append(asyncio.create_task(one(key, path, per_key[key] / 40)))
        per_key[key] += 1
    opening = max(per_key.values()) / 40 + 1.0
    await asyncio.sleep(opening)
    early = len(answers)
    waiting = await asyncio.to_thread(sample, pid, WINDOW)
    await asyncio.gather(*polls)
    latencies = [
        (received - datetime.fromisoformat(body["finishedAt"]).timestamp()) * 1000
        for status, received, body in answers
        if status == 200 and body.get("finishedAt")
    ]
    statuses: dict[str, int] = {}
    for status, _, _ in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "opened_seconds": round(opening, 1),
        "answered_before_sampling": early,
        "while_waiting": waiting,
        "statuses": statuses,
        "finish_to_answer_ms": {
            "count": len(latencies),
            "p50": round(percentile(latencies, 50), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies), 1) if latencies else None,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.waiting")
    parser.add_argument("--waits", type=int, default=500, help="long polls open at once")
    parser.add_argument("--keys", type=int, default=5, help="API keys of the one tenant")
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "command": " ".join(["python -m tests.bench.waiting", *sys.argv[1:]]),
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted": uncommitted(),
        "machine": machine_description(),
        "waits": args.waits,
        "keys": args.keys,
        "task_seconds": [HOLD, HOLD + SPREAD],
        "window_seconds": WINDOW,
    }
    with scratch_database("waiting") as dsn:
        asyncio.run(run_migrations(dsn))
        keys = new_tenant_keys(dsn, "waiting", args.keys)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        api_settings = {"api_host": "127.0.0.1", "api_port": str(port)}
        with process("api", dsn, **api_settings) as (api, api_output):
            _wait_healthy(url, api, api_output)
            report["idle_before"] = sample(api.pid, 1.0)
            worker = {
                "worker_concurrency": str(min(1000, args.waits)),
                "demo_tasks_enabled": "true",
                "ai_provider": "simulated",
            }
            with process("worker", dsn, **worker) as (_, worker_output):
                queued = queue_tasks(url, keys, args.waits)
                try:
                    until_running = asyncio.run(all_running(url, keys[0], args.waits))
                except TimeoutError:
                    print(worker_output.read_text()[-3000:], file=sys.stderr)
                    raise
                report["seconds_until_all_run"] = round(until_running, 1)
                report["running_no_waits"] = sample(api.pid, WINDOW)
                report.update(asyncio.run(long_polls(url, queued, api.pid)))
    extra_kb = (report["while_waiting"]["rss_mb"] - report["running_no_waits"]["rss_mb"]) * 1024
    report["rss_kb_per_wait"] = round(extra_kb / args.waits, 1)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
