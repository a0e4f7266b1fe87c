"""The kit for capability handler tests: a real worker on Postgres, with fake AI and HTTP ports.

Tasks name a type nobody registered a handler for, so the handler chosen by their
capabilityType does the work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from app.application.capabilities import CapabilityLimits, capability_handlers
from app.application.handlers import HandlerRegistry
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable
from tests.fakes import FakeAiClient, FakeArtifactStore, FakeIntegrationClient
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status

Conn = psycopg.AsyncConnection[Any]
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
FAST_RETRY = {"baseSeconds": 0.05, "maxSeconds": 0.1}


@dataclass
class Kit:
    """The fakes behind one registry of capability handlers."""

    ai: FakeAiClient = field(default_factory=FakeAiClient)
    artifacts: FakeArtifactStore = field(default_factory=FakeArtifactStore)
    integration: FakeIntegrationClient = field(default_factory=FakeIntegrationClient)
    limits: CapabilityLimits = field(default_factory=CapabilityLimits)

    @property
    def registry(self) -> HandlerRegistry:
        return capability_handlers(
            ai=self.ai,
            prices=PriceTable.defaults(),
            integration=self.integration,
            artifacts=self.artifacts,
            limits=self.limits,
        )


async def run(
    kit: Kit,
    enqueue: Enqueue,
    start_worker: StartWorker,
    conn: Conn,
    capability: CapabilityType,
    payload: dict[str, Any],
    *,
    until: set[str] | None = None,
    **fields: Any,
) -> uuid.UUID:
    """Enqueue one task of `capability`, run it, and wait until it has finished."""
    [task_id] = await enqueue(
        "customer.task", payload=payload, capability_type=capability, **fields
    )
    await start_worker(kit.registry)
    await wait_for_status(conn, [task_id], until or {"Succeeded"})
    return task_id


async def result_of(conn: Conn, task_id: uuid.UUID) -> Any:
    cursor = await conn.execute(
        "SELECT content FROM task_artifacts WHERE task_id = %s AND kind = 'result'", (task_id,)
    )
    row = await cursor.fetchone()
    assert row is not None
    return json.loads(row[0])


async def usage_of(conn: Conn, task_id: uuid.UUID) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT status::text, error_code, model, tokens_in, tokens_out, cost, latency_ms "
        "FROM task_attempts_current WHERE task_id = %s ORDER BY id",
        (task_id,),
    )
    return await cursor.fetchall()


async def outputs_of(conn: Conn, task_id: uuid.UUID) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(
        "SELECT kind, name, content, uri FROM task_artifacts "
        "WHERE task_id = %s AND kind <> 'result' ORDER BY created_at",
        (task_id,),
    )
    return await cursor.fetchall()


async def last_error(conn: Conn, task_id: uuid.UUID) -> str:
    cursor = await conn.execute("SELECT last_error FROM tasks WHERE id = %s", (task_id,))
    row = await cursor.fetchone()
    assert row is not None
    return str(row[0])
