"""A worker records, as it starts, the task types it handles and the capabilities whose
built-in handler its app replaced, so the API knows which payloads to check at POST."""

from __future__ import annotations

import asyncio
from typing import Any

from app.adapters.postgres.handler_directory import PgHandlerDirectory
from app.adapters.postgres.lease_store import PgLeaseStore
from app.adapters.postgres.task_signals import PgTaskSignals
from app.application.capabilities import CapabilityLimits, capability_handlers
from app.application.handlers import HandledTypes, HandlerRegistry
from app.application.worker import Worker, WorkerConfig
from app.bootstrap import Services
from app.domain.enums import CapabilityType
from app.domain.pricing import PriceTable


def registry() -> HandlerRegistry:
    app = HandlerRegistry()

    @app.handler("invoice.read")
    async def read_invoice(ctx: object) -> dict[str, Any]:
        return {}

    @app.handler("invoice.file")
    def file_invoice(ctx: object) -> None:
        return None

    async def my_search(ctx: object) -> dict[str, Any]:
        return {}

    app.register_capability(CapabilityType.EMBEDDING_SEARCH, my_search)
    builtin = capability_handlers(
        ai=None,  # type: ignore[arg-type]  # never called: no task runs
        prices=PriceTable.defaults(),
        integration=None,  # type: ignore[arg-type]
        artifacts=None,  # type: ignore[arg-type]
        limits=CapabilityLimits(),
    )
    app.include(builtin)  # the built-in handlers come after the app's, as in a worker
    return app


async def test_a_starting_worker_records_its_types_and_replaced_capabilities(
    services: Services,
) -> None:
    directory = PgHandlerDirectory(services.pool)
    worker = Worker(
        registry(),
        store=PgLeaseStore(services.pool),
        signals=PgTaskSignals(services.url),
        config=WorkerConfig(worker_id="worker-a", poll_interval=0.2),
        directory=directory,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        for _ in range(100):
            if (await directory.handled()).types:
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=15)
    assert await directory.handled() == HandledTypes(
        types=frozenset({"invoice.read", "invoice.file"}),
        capabilities=frozenset({CapabilityType.EMBEDDING_SEARCH}),
    )


async def test_recording_again_keeps_one_row_per_type(services: Services) -> None:
    directory = PgHandlerDirectory(services.pool)
    await directory.record("worker-a", ["invoice.read"], [])
    await directory.record("worker-b", ["invoice.read", "invoice.file"], [])
    async with services.pool.connection() as conn:
        cursor = await conn.execute("SELECT name, worker_id FROM task_handlers ORDER BY name")
        rows = await cursor.fetchall()
    assert rows == [("invoice.file", "worker-b"), ("invoice.read", "worker-b")]
