"""Triggers over real HTTP, Postgres and worker processes: ocr succeeds, summarize starts
with ocr's result, exactly once, even when a worker is SIGKILLed; a loop A -> B -> A
stops at the depth limit."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.api.conftest import Caller
from tests.triggers.conftest import (
    OCR_TO_SUMMARIZE,
    Conn,
    new_trigger,
    post_task,
    tasks_of_type,
    wait_until,
)
from tests.triggers.handlers import registry
from tests.workers.conftest import StartWorker, attempts_of, wait_for_status
from tests.workers.test_processes import spawn_worker

HANDLERS = ("--app", "tests.triggers.handlers:registry")


def worker(database_url: str, tmp_path: Path, name: str) -> subprocess.Popen[str]:
    return spawn_worker(database_url, tmp_path, *HANDLERS, "--worker-id", name)


def kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)  # reaps it and closes its output pipe


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)


async def summaries_done(conn: Conn) -> list[dict[str, Any]]:
    found = await tasks_of_type(conn, "summarize")
    return found if found and all(t["status"] == "Succeeded" for t in found) else []


async def assert_chained_once(conn: Conn, acme: Caller, ocr_id: str, trigger_id: str) -> None:
    """One summarize task, started by the trigger from ocr's success, with its result."""
    [summary] = await tasks_of_type(conn, "summarize")
    assert summary["payload"] == {
        "text": "the text of doc-7",
        "ocrTask": ocr_id,
        "document": "doc-7",
    }
    assert summary["depth"] == 1
    result = (await acme.http.get(f"/api/v1/tasks/{summary['id']}")).json()["result"]
    assert result == {"summary": "the text of "}
    trigger = (await acme.http.get(f"/api/v1/triggers/{trigger_id}")).json()
    assert (trigger["firedCount"], trigger["skippedCount"]) == (1, 0)


@pytest.mark.slow
async def test_a_worker_killed_while_running_ocr_still_chains_one_summarize(
    acme: Caller, conn: Conn, database_url: str, tmp_path: Path
) -> None:
    trigger = await new_trigger(acme, OCR_TO_SUMMARIZE)
    ocr = await post_task(acme, "ocr", payload={"documentId": "doc-7", "seconds": 2})
    doomed = worker(database_url, tmp_path, "doomed")
    try:
        await wait_for_status(conn, [ocr["id"]], {"Running"}, within=20)
        kill(doomed)
        assert await tasks_of_type(conn, "summarize") == []
        # Its lease runs out; the maintenance rescue hands ocr to the survivor, which
        # runs it again and succeeds: the trigger fires in that success's statement.
        survivor = worker(database_url, tmp_path, "survivor")
        try:
            await wait_until(lambda: summaries_done(conn), within=40, what="summarize")
        finally:
            stop(survivor)
    finally:
        kill(doomed)
    attempts = await attempts_of(conn, ocr["id"])
    assert [(a[1], a[5]) for a in attempts] == [("Lost", "doomed"), ("Succeeded", "survivor")]
    await assert_chained_once(conn, acme, ocr["id"], trigger["id"])


FINISH = "query LIKE 'WITH outcome AS%%'"


async def finishing_backends(conn: Conn, *, waiting: bool) -> list[int]:
    """The sessions running a worker's finish statement (task_finish_attempts, known by
    its opening: pg_stat_activity keeps only the first 1 kB); `waiting`: on a lock."""
    cursor = await conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        f" AND state = 'active' AND {FINISH}" + (" AND wait_event_type = 'Lock'" if waiting else "")
    )
    return [row[0] for row in await cursor.fetchall()]


async def ocr_status(conn: Conn, ocr_id: str) -> str:
    cursor = await conn.execute("SELECT status::text FROM tasks WHERE id = %s", (ocr_id,))
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.slow
@pytest.mark.parametrize("connection_dies", [True, False], ids=["connection", "process"])
async def test_a_worker_killed_inside_the_firing_commits_the_success_and_its_task_together(
    acme: Caller, conn: Conn, database_url: str, tmp_path: Path, connection_dies: bool
) -> None:
    trigger = await new_trigger(acme, OCR_TO_SUMMARIZE)
    # Hold the trigger's row: the worker's finish of ocr runs, starts summarize, and then
    # waits to count the firing on the trigger, before its statement can end.
    async with await psycopg.AsyncConnection.connect(database_url) as holder:
        await holder.execute("BEGIN")
        await holder.execute(
            "SELECT 1 FROM task_triggers WHERE id = %s FOR UPDATE", (trigger["id"],)
        )
        ocr = await post_task(acme, "ocr", payload={"documentId": "doc-7"})
        doomed = worker(database_url, tmp_path, "doomed")
        try:
            [backend] = await wait_until(
                lambda: finishing_backends(conn, waiting=True), within=20, what="a blocked finish"
            )
        finally:
            kill(doomed)
        if connection_dies:
            # The worker's connection dies with it (its host went down): the statement
            # is cut in the middle of the firing and rolled back.
            await conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        await holder.execute("ROLLBACK")

    if connection_dies:
        # Neither ocr's success nor the summarize it had started: ocr is still leased.
        assert await ocr_status(conn, ocr["id"]) in {"Reserved", "Running"}
        assert await tasks_of_type(conn, "summarize") == []
    else:
        # A backend whose client died still ends its statement (Postgres notices the
        # client only when it next talks to it): its autocommit statement commits
        # ocr's success and the summarize together.
        async def orphan_done() -> bool:
            return not await finishing_backends(conn, waiting=False)

        await wait_until(orphan_done, what="the orphaned finish statement to end")
        assert await ocr_status(conn, ocr["id"]) == "Succeeded"
        assert [t["status"] for t in await tasks_of_type(conn, "summarize")] == ["Queued"]

    survivor = worker(database_url, tmp_path, "survivor")
    try:
        await wait_until(lambda: summaries_done(conn), within=40, what="summarize")
    finally:
        stop(survivor)
    await assert_chained_once(conn, acme, ocr["id"], trigger["id"])


def ping_pong(name: str, source: str, target: str) -> dict[str, Any]:
    return {
        "name": name,
        "on": {"eventTypes": ["TaskSucceeded"], "taskTypes": [source]},
        "task": {"type": target, "payload": {"from": {"$from": "event.taskId"}}},
    }


async def test_a_loop_of_triggers_stops_at_the_depth_limit(
    acme: Caller, conn: Conn, start_worker: StartWorker
) -> None:
    a_to_b = await new_trigger(acme, ping_pong("a-to-b", "loop.a", "loop.b"))
    b_to_a = await new_trigger(acme, ping_pong("b-to-a", "loop.b", "loop.a"))
    first = await post_task(acme, "loop.a")
    await start_worker(registry)

    async def stopped() -> dict[str, Any] | None:
        found: dict[str, Any] = (await acme.http.get(f"/api/v1/triggers/{a_to_b['id']}")).json()
        return found if found["skippedCount"] else None

    stopped_at = await wait_until(stopped, within=40, what="the depth limit")
    a_tasks, b_tasks = await tasks_of_type(conn, "loop.a"), await tasks_of_type(conn, "loop.b")
    # A (0) -> B (1) -> A (2) … -> A (8): the B it would start next has depth 9.
    assert [t["depth"] for t in a_tasks] == [None, 2, 4, 6, 8]
    assert [t["depth"] for t in b_tasks] == [1, 3, 5, 7]
    assert str(a_tasks[0]["id"]) == first["id"]
    assert {t["status"] for t in a_tasks + b_tasks} == {"Succeeded"}
    # Each started by the one before it.
    chain = sorted(a_tasks + b_tasks, key=lambda t: t["depth"] or 0)
    assert [t["payload"].get("from") for t in chain[1:]] == [str(t["id"]) for t in chain[:-1]]
    assert (stopped_at["firedCount"], stopped_at["skippedCount"]) == (4, 1)
    assert stopped_at["lastError"].startswith("depth limit 8 reached")
    other = (await acme.http.get(f"/api/v1/triggers/{b_to_a['id']}")).json()
    assert (other["firedCount"], other["skippedCount"]) == (4, 0)
    # Nothing more was queued: every task of the chain has ended.
    cursor = await conn.execute("SELECT count(*) FROM tasks WHERE status <> 'Succeeded'")
    assert await cursor.fetchone() == (0,)
