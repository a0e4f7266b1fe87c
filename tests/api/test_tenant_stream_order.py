"""The tenant-wide event stream never skips an event that commits after a later-numbered
one (a slow transaction and a fast one at the same instant), live or after a resume."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg

from tests.api.conftest import Caller
from tests.api.test_docs_and_streams import read_events

Conn = psycopg.AsyncConnection[Any]


async def slow_event(database_url: str, tenant_id: uuid.UUID, task_id: str) -> Conn:
    """Open a transaction that has written an event for `task_id` and not committed yet:
    its event id is taken now, lower than any event written after."""
    slow = await psycopg.AsyncConnection.connect(database_url)
    await slow.execute(
        "INSERT INTO task_events (task_id, tenant_id, sequence, event_type, status, detail)"
        " VALUES (%s, %s, 99, 'TaskProgressed', 'Queued', '{\"state\": \"slow\"}')",
        (task_id, tenant_id),
    )
    return slow


async def test_a_late_committing_event_reaches_an_open_tenant_stream(
    acme: Caller, database_url: str
) -> None:
    first = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    reader = asyncio.create_task(read_events(acme.http, "/api/v1/events", 2))
    await asyncio.sleep(0.3)  # the stream is open, from now
    slow = await slow_event(database_url, acme.tenant_id, first)
    fast = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    await asyncio.sleep(0.5)  # the fast event (higher id) has been sent
    await slow.commit()
    await slow.close()
    events = await asyncio.wait_for(reader, timeout=10)
    assert [(e["data"]["taskId"], e["data"]["eventType"]) for e in events] == [
        (fast, "TaskQueued"),
        (first, "TaskProgressed"),
    ]
    assert events[1]["data"]["id"] < events[0]["data"]["id"]  # committed late, sent all the same


async def test_resuming_a_tenant_stream_never_skips_a_late_committing_event(
    acme: Caller, database_url: str
) -> None:
    first = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    [queued] = await read_events(acme.http, "/api/v1/events?lastEventId=0", 1)
    slow = await slow_event(database_url, acme.tenant_id, first)
    fast = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    seen = await asyncio.wait_for(
        read_events(acme.http, "/api/v1/events", 1, {"Last-Event-ID": queued["id"]}), timeout=10
    )
    assert [e["data"]["taskId"] for e in seen] == [fast]
    # The client drops here and resumes from the last id it got, after the slow commit.
    await slow.commit()
    await slow.close()
    resumed = await asyncio.wait_for(
        read_events(acme.http, "/api/v1/events", 2, {"Last-Event-ID": seen[-1]["id"]}),
        timeout=10,
    )
    kinds = {(e["data"]["taskId"], e["data"]["eventType"]) for e in resumed}
    assert (first, "TaskProgressed") in kinds  # never skipped; the fast one may come again


async def test_stream_times_are_written_as_the_rest_api_writes_them(acme: Caller) -> None:
    task_id = (await acme.http.post("/api/v1/tasks", json={"type": "demo.noop"})).json()["id"]
    [streamed] = await read_events(acme.http, f"/api/v1/tasks/{task_id}/events", 1)
    timeline = (await acme.http.get(f"/api/v1/tasks/{task_id}/events")).json()
    items = timeline["items"] if isinstance(timeline, dict) else timeline
    assert streamed["data"]["occurredAt"].endswith("Z")
    assert streamed["data"]["occurredAt"] == items[0]["occurredAt"]
