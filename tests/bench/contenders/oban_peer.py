"""Oban for Python (oban 0.7.0, oban-bg/oban-py) draining no-op async jobs, embedded, on
uvloop as its CLI runs (`oban/cli.py` runs on uvloop's `run` when it is installed).

Oban needs Python >= 3.12 (its `type` statements; `Requires-Python: >=3.12`) and the
project's venv may be 3.11, so this module runs Oban under its own interpreter: the
current one if it is >= 3.12 and has oban, else BENCH_OBAN_PYTHON, else `.venv/oban`,
which `install` creates (`pip install` of the pin in pyproject.toml's `bench` extra) from
the first Python >= 3.12 it finds. The child re-executes itself there (same pid, so the
harness's wait4 accounting holds); install and enqueue run there as subprocesses.

Settings (`--set key=value`), Oban's defaults but the queue's `limit` = --concurrency:
- `limit`: "the maximum number of concurrent jobs" of a queue (docs/defining_queues.md,
  "Basic Queue Configuration"); per node, so one process runs 10.
- `debounce_interval` (default 0.005 s, oban/_producer.py `Producer.__init__`): the
  queue's "dispatch cooldown ... between job fetching" (docs/defining_queues.md,
  "Advanced Queue Options", whose example sets 0.05). A completed job wakes the producer,
  which waits out the cooldown, then acks every finished job in one statement and fetches
  up to `limit` minus running in another (`Producer._produce`). Swept: 0.001, 0.005
  (default), 0.05 (the docs' example).
- The connection pool stays at its default, max 10: "The default of `10` is comfortable
  for most deployments" (docs/production.md, "Sizing the Connection Pool").
- Pruner (1 day), lifeline, stager: defaults (docs/production.md "Configure Job
  Maintenance"); none acts inside a drain, and jobs stay as `completed` rows.
Enqueue: `Oban.enqueue_many` (oban/oban.py), 1 000 jobs a call, client mode.
`verify` checks per job: n rows, each `completed` at attempt 1."""

from __future__ import annotations

import argparse
import asyncio
import functools
import glob
import json
import logging
import os
import shutil
import subprocess
import sys
import tomllib
from typing import Any

from tests.bench.harness import ROOT, StatementSizes, TimedWindow, parse_sets

MODULE = "tests.bench.contenders.oban_peer"
QUEUE = "bench"
WORKER = f"{MODULE}.Noop"
VENV = ROOT / ".venv" / "oban"
DEFAULT_DEBOUNCE = 0.005
STATE: dict[str, Any] = {}

try:  # only under Python >= 3.12 with oban installed
    import uvloop
    from oban import Job, Oban, worker
    from oban._query import Query
    from oban.schema import install as install_schema

    HAS_OBAN = True
except (ImportError, SyntaxError):
    HAS_OBAN = False

if HAS_OBAN:

    @worker(queue=QUEUE)
    class Noop:
        async def process(self, job: Job) -> None:
            STATE["window"].started()
            STATE["executed"] += 1
            if STATE["executed"] == STATE["tasks"]:
                STATE["all_ran"].set()


def pinned() -> str:
    """The oban requirement pinned in pyproject.toml's `bench` extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    bench = project["project"]["optional-dependencies"]["bench"]
    return next(r.split(";")[0].strip() for r in bench if r.startswith("oban=="))


def _runs(python: str, code: str) -> bool:
    try:
        return subprocess.run([python, "-c", code], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _new_enough(python: str) -> bool:
    return _runs(python, "import sys; sys.exit(sys.version_info < (3, 12))")


@functools.cache
def python(create: bool = False) -> str | None:
    """An interpreter that runs oban, or None; with `create`, build `.venv/oban` if needed."""
    if HAS_OBAN:
        return sys.executable
    if explicit := os.environ.get("BENCH_OBAN_PYTHON"):
        return explicit
    own = VENV / "bin" / "python"
    version = pinned().split("==", 1)[1]
    check = f"import importlib.metadata as m, sys; sys.exit(m.version('oban') != {version!r})"
    if own.exists() and _runs(str(own), check):
        return str(own)
    candidates = [shutil.which(f"python3.{minor}") for minor in range(12, 16)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    base = next((c for c in candidates if c and _new_enough(c)), None)
    if base is None or not create:
        return None if base is None else str(own)
    print(f"  (creating {VENV} for Oban from {base})", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(own), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # Away from the work tree and PYTHONPATH, which hold this project's own metadata.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [*pip, pinned()], cwd=VENV, env=clean, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"installing {pinned()} into {VENV} failed:\n{done.stderr}")
    return str(own)


def _on_oban(*args: str) -> None:
    interpreter = python(create=True)
    if interpreter is None:
        raise RuntimeError("Oban needs Python >= 3.12: set BENCH_OBAN_PYTHON")
    subprocess.run([interpreter, "-m", MODULE, *args], cwd=ROOT, check=True)


async def install(dsn: str) -> None:
    if not HAS_OBAN:
        return _on_oban("--dsn", dsn, "--install")
    pool = await Oban.create_pool(dsn)
    try:
        await install_schema(pool)
    finally:
        await pool.close()


async def enqueue(dsn: str, n: int, chunk: int = 1000) -> None:
    if not HAS_OBAN:
        return _on_oban("--dsn", dsn, "--enqueue", str(n))
    pool = await Oban.create_pool(dsn)
    try:
        oban = Oban(pool=pool)  # client mode: no queues, no leadership
        for start in range(0, n, chunk):
            size = min(chunk, n - start)
            await oban.enqueue_many([Job(worker=WORKER, queue=QUEUE) for _ in range(size)])
    finally:
        await pool.close()


def count_statements() -> tuple[StatementSizes, StatementSizes]:
    """Count the jobs each fetch and each ack statement carries."""
    claims, finishes = StatementSizes(), StatementSizes()
    fetch, ack = Query.fetch_jobs, Query.ack_jobs

    async def counted_fetch(self: Query, *args: Any, **kwargs: Any) -> Any:
        jobs = await fetch(self, *args, **kwargs)
        claims.add(len(jobs))
        return jobs

    async def counted_ack(self: Query, acks: list[Any]) -> Any:
        finishes.add(len(acks))
        return await ack(self, acks)

    Query.fetch_jobs = counted_fetch  # type: ignore[method-assign]
    Query.ack_jobs = counted_ack  # type: ignore[method-assign]
    return claims, finishes


async def drain(dsn: str, concurrency: int, tasks: int, settings: dict[str, Any]) -> dict[str, Any]:
    window = TimedWindow()
    STATE.update(window=window, executed=0, tasks=tasks, all_ran=asyncio.Event())
    debounce = float(settings.get("debounce_interval", DEFAULT_DEBOUNCE))
    claims, finishes = count_statements()
    pool = await Oban.create_pool(dsn)
    queue = {"limit": concurrency, "debounce_interval": debounce}
    oban = Oban(pool=pool, queues={QUEUE: queue})
    try:
        await oban.start()
        await STATE["all_ran"].wait()
        await oban.stop()  # waits for running jobs and flushes the last acks
        result = window.result(
            executed=STATE["executed"],
            claims=claims.as_dict(),
            finishes=finishes.as_dict(),
            settings={"limit": concurrency, "debounce_interval": debounce, "loop": "uvloop"},
        )
    finally:
        await pool.close()
    if STATE["executed"] != tasks:
        raise RuntimeError(f"{STATE['executed']} job calls for {tasks} jobs")
    return result


def verify(dsn: str, n: int) -> str | None:
    """Every job completed, at its first attempt."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        total, done, once = conn.execute(  # type: ignore[misc]
            "SELECT count(*), count(*) FILTER (WHERE state = 'completed'),"
            " count(*) FILTER (WHERE state = 'completed' AND attempt = 1) FROM oban_jobs"
        ).fetchone()
    if (total, done, once) == (n, n, n):
        return None
    return f"{total} jobs for {n}: {done} completed, {once} completed at the first attempt"


def main() -> None:
    if not HAS_OBAN:  # re-run under Oban's interpreter, keeping this process id
        interpreter = python(create=True)
        if interpreter is None:
            raise SystemExit("Oban needs Python >= 3.12: set BENCH_OBAN_PYTHON")
        os.execv(interpreter, [interpreter, "-m", MODULE, *sys.argv[1:]])
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--tasks", type=int, default=None)
    parser.add_argument("--set", action="append", default=[], dest="sets")
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--enqueue", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)  # to stderr: stdout is the JSON line
    if args.install:
        return uvloop.run(install(args.dsn))
    if args.enqueue is not None:
        return uvloop.run(enqueue(args.dsn, args.enqueue))
    if args.tasks is None:
        parser.error("--tasks is required")
    settings = parse_sets(args.sets)
    print(json.dumps(uvloop.run(drain(args.dsn, args.concurrency, args.tasks, settings))))


if __name__ == "__main__":
    # Run the imported module, not __main__, so the worker's import path (WORKER) finds STATE.
    from tests.bench.contenders.oban_peer import main as imported_main

    imported_main()
