"""Signals past their window are forgotten by the maintenance leader's prune, in batches;
live ones are kept."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from app.adapters.postgres.maintenance_store import PgMaintenanceStore
from app.application.maintenance import Maintenance, MaintenanceConfig
from app.bootstrap import Services
from tests.fakes import FakeArtifactStore
from tests.waits.signal_http import Conn


async def kept_signal(conn: Conn, tenant: uuid.UUID, *, expired: bool) -> uuid.UUID:
    signal_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO signals (tenant_id, id, name, key, data, request_hash, expires_at)"
        " VALUES (%s, %s, 'payment', 'order-1', %s, 'h', now() + %s * interval '1 hour')",
        (tenant, signal_id, Jsonb({}), -1 if expired else 1),
    )
    return signal_id


async def signal_ids(conn: Conn) -> set[Any]:
    cursor = await conn.execute("SELECT id FROM signals")
    return {row[0] for row in await cursor.fetchall()}


async def test_the_prune_deletes_expired_signals_in_batches_and_keeps_live_ones(
    conn: Conn, services: Services, tenant: uuid.UUID
) -> None:
    expired = {await kept_signal(conn, tenant, expired=True) for _ in range(7)}
    live = {await kept_signal(conn, tenant, expired=False) for _ in range(2)}
    maintenance = Maintenance(
        PgMaintenanceStore(services.pool, services.url),
        MaintenanceConfig(batch_size=3),
        artifacts=FakeArtifactStore(),
    )

    counts = await maintenance.run_once(prune=True)

    assert counts.signals_pruned == len(expired)
    assert await signal_ids(conn) == live
