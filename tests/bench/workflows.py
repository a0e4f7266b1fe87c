"""Workflows (issue 15): a 10 000-child batch and 1 000 three-step sagas on our worker.

* Creation: one 10 000-child batch through `Queue.enqueue_batch` (one statement, one
  transaction) and through `POST /api/v1/batches` (the real API process).
* Drain: the same no-op tasks as plain tasks and as one batch's children, one worker
  process x10 in burst mode (tests/bench/contenders/ours.py, as the drain bench runs
  it), paired per round in alternating order; and plain tasks at BASE_COMMIT (the
  commit before the dependency mechanism, from `git archive`) against plain tasks now,
  paired the same way.
* Sagas (tests/bench/workflow_sagas.py): 1 000 sagas of 3 no-op steps queued up front,
  then one worker x10: steps/s, and the delay from a step's end to the next step's
  start (p50, p99). Then 100 sagas queued 20 a second on a running worker: the same
  delay with no backlog in front of a step.

`--quick` (CI): the batch created once through the library, one round of the batch
drain, 200 sagas; no HTTP, no base commit, no paced sagas.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from app.bootstrap import run_migrations
from app.queue import EnqueueTask, Queue
from tests.bench import workflow_sagas
from tests.bench.api_server import ApiServer, issue_api_key
from tests.bench.contenders import ours
from tests.bench.harness import (
    ROOT,
    Report,
    Summary,
    scratch_database,
    wait_child,
)

# The parent of 0431ae9 ("One dependency mechanism"): the engine just before it.
BASE_COMMIT = os.environ.get("BENCH_WORKFLOWS_BASE", "0301796")
# The repository BASE_COMMIT is read from (set it when the suite runs from an export).
GIT_REPO = os.environ.get("BENCH_GIT_REPO", str(ROOT))
CONCURRENCY = 10
WORKER = [sys.executable, "-m", "tests.bench.contenders.ours"]
CHILDREN = 10_000
TARGET_LOSS = 0.05  # issue 15: the plain drain loses at most 5 %

# Run in a child with the tree's own code: migrate, then N plain tasks as the drain does.
_SETUP_PLAIN = (
    "import asyncio, sys\n"
    "from tests.bench.contenders import ours\n"
    "asyncio.run(ours.install(sys.argv[1]))\n"
    "asyncio.run(ours.enqueue(sys.argv[1], int(sys.argv[2])))\n"
)


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def _tasks(tenant: Any, n: int) -> list[EnqueueTask]:
    return [EnqueueTask(tenant_id=tenant, type=ours.TASK_TYPE, payload={}) for _ in range(n)]


async def _create_batch(dsn: str, n: int) -> float:
    """Seconds one `enqueue_batch` of n children takes (the list built beforehand)."""
    async with Queue.connect(dsn, settings=ours.settings_for(dsn)) as queue:
        tenant = await queue.ensure_tenant("bench")
        tasks = _tasks(tenant, n)
        began = time.perf_counter()
        await queue.enqueue_batch(tenant, tasks)
        return time.perf_counter() - began


def _post_batch(server: ApiServer, key: str, n: int) -> float:
    body = json.dumps({"tasks": [{"type": ours.TASK_TYPE} for _ in range(n)]}).encode()
    request = urllib.request.Request(
        server.url + "/api/v1/batches",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    began = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        if response.status != 201:
            raise AssertionError(f"POST /api/v1/batches answered {response.status}")
    return time.perf_counter() - began


def creation(report: Report, data: dict[str, Any], runs: int, http: bool) -> None:
    library, over_http = [], []
    with scratch_database("wf_create") as dsn:
        asyncio.run(run_migrations(dsn))
        for _ in range(runs):
            library.append(asyncio.run(_create_batch(dsn, CHILDREN)))
        if http:
            key = issue_api_key(dsn)
            with ApiServer(dsn) as server:
                over_http = [_post_batch(server, key, CHILDREN) for _ in range(runs)]
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM tasks WHERE parent_id IS NOT NULL").fetchone()
        if row is None or row[0] != CHILDREN * (len(library) + len(over_http)):
            raise AssertionError(f"batches created {row} children")
    data["create_library_s"], data["create_http_s"] = library, over_http
    for label, values in (("Queue.enqueue_batch", library), ("POST /api/v1/batches", over_http)):
        if values:
            s = Summary.of(values)
            report.add(
                "Workflows",
                f"create one {CHILDREN:,}-child batch: {label}",
                f"{s.median:.2f} s = {CHILDREN / s.median:,.0f} children/s "
                f"({s.low:.2f}-{s.high:.2f} s, {s.runs} runs)",
            )


# -- drains --------------------------------------------------------------------------


def _drain_once(kind: str, n: int, tree: Path = ROOT) -> float:
    """Tasks/s of one worker process x10 (burst) over n no-op tasks, plain or one batch."""
    with scratch_database(f"wf_{kind}") as dsn:
        if kind == "batch":
            asyncio.run(ours.install(dsn))
            asyncio.run(_create_batch(dsn, n))
        else:
            subprocess.run(
                [sys.executable, "-c", _SETUP_PLAIN, dsn, str(n)],
                cwd=tree,
                env=_env(tree),
                check=True,
                capture_output=True,
            )
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            conn.execute("CHECKPOINT")
        child = subprocess.Popen(
            [*WORKER, "--dsn", dsn, "--concurrency", str(CONCURRENCY)],
            cwd=tree,
            env=_env(tree),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        output = wait_child(child).output
        problem = _verify_batch(dsn, n) if kind == "batch" else ours.verify(dsn, n)
        if problem:
            raise AssertionError(f"{kind} drain at {tree} is wrong: {problem}")
    return float(n / (output["end"] - output["first"]))


def _verify_batch(dsn: str, n: int) -> str | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            """SELECT count(*) FILTER (WHERE t.parent_id IS NOT NULL AND t.status = 'Succeeded'),
                      count(*) FILTER (WHERE t.parent_id IS NULL AND t.status = 'Succeeded'
                                         AND g.remaining = 0 AND g.succeeded = %s)
                 FROM tasks t LEFT JOIN task_groups g ON g.parent_id = t.id""",
            (n,),
        ).fetchone()
    return None if row == (n, 1) else f"(children succeeded, batch done) = {row}, want ({n}, 1)"


def paired_drains(
    a: tuple[str, Path], b: tuple[str, Path], n: int, rounds: int
) -> list[dict[str, float]]:
    """`rounds` rounds of (a, b), the order alternating; each round's rates and a ÷ b."""
    done = []
    for round_no in range(rounds):
        order = [a, b] if round_no % 2 == 0 else [b, a]
        rates = {f"{kind}@{tree.name}": _drain_once(kind, n, tree) for kind, tree in order}
        ra, rb = rates[f"{a[0]}@{a[1].name}"], rates[f"{b[0]}@{b[1].name}"]
        done.append({"a": ra, "b": rb, "ratio": ra / rb})
        print(f"    round {round_no + 1}: {ra:,.0f} vs {rb:,.0f} tasks/s = {ra / rb:.3f}")
    return done


def _report_pair(
    report: Report,
    label: str,
    rounds: list[dict[str, float]],
    *,
    target: bool,
    section: str = "Workflows",
) -> None:
    ratio = Summary.of([r["ratio"] for r in rounds])
    a, b = Summary.of([r["a"] for r in rounds]), Summary.of([r["b"] for r in rounds])
    each = ", ".join(f"{r['ratio']:.2f}" for r in rounds)
    report.add(
        section,
        label,
        f"{ratio.median:.3f}x (rounds: {each}; median {a.median:,.0f} vs {b.median:,.0f} tasks/s)",
        f"≥ {1 - TARGET_LOSS:.2f}x" if target else "",
        ratio.median >= 1 - TARGET_LOSS if target else None,
    )


def batch_drain(report: Report, data: dict[str, Any], rounds: int) -> None:
    plain, batch = ("plain", ROOT), ("batch", ROOT)
    done = paired_drains(batch, plain, CHILDREN, rounds)
    data["batch_vs_plain"] = done
    label = f"drain of {CHILDREN:,} tasks, 1 worker x{CONCURRENCY}: batch children ÷ plain"
    _report_pair(report, label, done, target=False)


def exported_tree(commit: str, folder: Path) -> Path:
    """The code of `commit` (from `git archive`) in a folder of `folder`."""
    tree = folder / f"base-{commit}"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", GIT_REPO, "archive", commit], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def drain_vs_commit(
    report: Report, commit: str, rounds: int, label: str, section: str = "Workflows"
) -> list[dict[str, float]]:
    """Plain tasks now ÷ plain tasks at `commit`, same worker settings, paired per round."""
    with tempfile.TemporaryDirectory(prefix="bench-base-") as folder:
        tree = exported_tree(commit, Path(folder))
        done = paired_drains(("plain", ROOT), ("plain", tree), CHILDREN, rounds)
    _report_pair(report, label, done, target=True, section=section)
    return done


def base_drain(report: Report, data: dict[str, Any], rounds: int) -> None:
    """Plain tasks now ÷ plain tasks at BASE_COMMIT, same worker settings."""
    label = f"drain of {CHILDREN:,} plain tasks: now ÷ {BASE_COMMIT} (before dependencies)"
    done = drain_vs_commit(report, BASE_COMMIT, rounds, label)
    data["base_commit"], data["now_vs_base"] = BASE_COMMIT, done


def run(report: Report, quick: bool) -> None:
    data: dict[str, Any] = {"children": CHILDREN, "concurrency": CONCURRENCY, "quick": quick}
    report.data["workflows"] = data
    creation(report, data, runs=1 if quick else 3, http=not quick)
    batch_drain(report, data, rounds=1 if quick else 6)
    if not quick:
        base_drain(report, data, rounds=8)
    count = 200 if quick else 1_000
    workflow_sagas.run(report, data, count, rounds=1 if quick else 3, paced=0 if quick else 100)
