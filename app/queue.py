"""The library entry point: enqueue tasks and run workers from your own Python code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from app.application.batches import BatchRecord, CreateBatch, create_batch, get_batch
from app.application.context import TaskCancelled, TaskContext
from app.application.handlers import HandlerRegistry
from app.application.sagas import CreateSaga, SagaRecord, SagaStep, create_saga, get_saga
from app.application.signals import SendSignal, SignalSent, send_signal
from app.application.task_repository import EnqueueTask, TaskRecord
from app.application.tasks import cancel_task, enqueue_task, enqueue_tasks
from app.bootstrap import (
    Services,
    batch_store,
    build_services,
    build_worker,
    saga_store,
    signal_store,
    tenant_repository,
)
from app.config import Settings, load_settings
from app.domain.dependencies import FailurePolicy
from app.domain.enums import TaskStatus
from app.domain.errors import NonRetryableError, RetryableError
from app.domain.retry import RetryPolicy

__all__ = [
    "BatchRecord",
    "EnqueueTask",
    "FailurePolicy",
    "HandlerRegistry",
    "NonRetryableError",
    "Queue",
    "RetryPolicy",
    "RetryableError",
    "SagaRecord",
    "SagaStep",
    "SignalSent",
    "TaskCancelled",
    "TaskContext",
    "TaskStatus",
]


class Queue:
    """A connection pool to the queue's database and the operations on it."""

    def __init__(self, services: Services) -> None:
        self._services = services

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, database_url: str, *, settings: Settings | None = None
    ) -> AsyncIterator[Queue]:
        """Open a pool to a migrated database (run `assistente migrate` first)."""
        services = build_services(
            settings or load_settings(database_url=database_url),
            process="library",
            url=database_url,
        )
        await services.start()
        try:
            yield cls(services)
        finally:
            await services.stop()

    async def ensure_tenant(self, name: str) -> uuid.UUID:
        """The id of the tenant called `name`, created if new."""
        return await tenant_repository(self._services).ensure(name)

    async def enqueue(
        self,
        tenant_id: uuid.UUID,
        task_type: str,
        payload: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> uuid.UUID:
        """Add one task; `options` are the fields of `EnqueueTask` (priority, max_attempts, …)."""
        command = EnqueueTask(tenant_id=tenant_id, type=task_type, payload=payload or {}, **options)
        return (await enqueue_task(command, tasks=self._services.tasks)).task_id

    async def enqueue_many(self, commands: Sequence[EnqueueTask]) -> list[uuid.UUID]:
        """Add several tasks in one transaction (all or nothing)."""
        return [r.task_id for r in await enqueue_tasks(commands, tasks=self._services.tasks)]

    async def enqueue_batch(
        self,
        tenant_id: uuid.UUID,
        tasks: Sequence[EnqueueTask],
        *,
        on_complete: EnqueueTask | None = None,
        failure_policy: FailurePolicy = FailurePolicy.CONTINUE,
        idempotency_key: str | None = None,
        depends_on: Mapping[int, Sequence[int]] | None = None,
        connection: Any = None,
    ) -> BatchRecord:
        """Create a batch: its tasks (1 to 10 000) in one statement, and `on_complete`
        queued once when every one has ended. `depends_on` maps a task's index to the
        indexes of the tasks it waits for (a DAG). With `connection` (a psycopg
        AsyncConnection of yours), inside your own transaction: it commits, or rolls
        back, with your other writes."""
        command = CreateBatch(
            tenant_id=tenant_id,
            tasks=tasks,
            on_complete=on_complete,
            failure_policy=failure_policy,
            idempotency_key=idempotency_key,
            depends_on=depends_on or {},
        )
        store = batch_store(self._services, connection)
        return (await create_batch(command, batches=store)).batch

    async def get_batch(self, tenant_id: uuid.UUID, batch_id: uuid.UUID) -> BatchRecord:
        """A batch with its counts (TaskNotFound if it is not one of the tenant's)."""
        return await get_batch(tenant_id, batch_id, batches=batch_store(self._services))

    async def enqueue_saga(
        self,
        tenant_id: uuid.UUID,
        steps: Sequence[SagaStep],
        *,
        compensate_failed_step: bool = True,
        idempotency_key: str | None = None,
        connection: Any = None,
    ) -> SagaRecord:
        """Create a saga: its steps run one after another, each once the one before it
        succeeded; if one does not, the compensations of those that succeeded run newest
        first. A step's payload may hold `{"$fromStep": name|position, "path": "a.b"}`,
        filled in from that earlier step's result when the step is released. With
        `connection` (a psycopg AsyncConnection of yours), inside your own transaction."""
        command = CreateSaga(
            tenant_id=tenant_id,
            steps=steps,
            compensate_failed_step=compensate_failed_step,
            idempotency_key=idempotency_key,
        )
        store = saga_store(self._services, connection)
        return (await create_saga(command, sagas=store)).saga

    async def get_saga(self, tenant_id: uuid.UUID, saga_id: uuid.UUID) -> SagaRecord:
        """A saga with its steps and timeline (TaskNotFound if it is not the tenant's)."""
        return await get_saga(tenant_id, saga_id, sagas=saga_store(self._services))

    async def send_signal(
        self,
        tenant_id: uuid.UUID,
        name: str,
        key: str,
        data: Any = None,
        *,
        signal_id: uuid.UUID | None = None,
        retention_seconds: float | None = None,
        connection: Any = None,
    ) -> SignalSent:
        """Send the signal (name, key): every task of the tenant waiting for it is resumed
        now, and it is kept `retention_seconds` (default SIGNAL_RETENTION_SECONDS) for
        waits registered after it. `signal_id` makes retries safe. With `connection`,
        inside your own transaction (resumed when you commit)."""
        command = SendSignal(tenant_id, name, key, data, signal_id, retention_seconds)
        return await send_signal(
            command,
            signals=signal_store(self._services, connection),
            default_retention_seconds=self._services.settings.signal_retention_seconds,
        )

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskRecord | None:
        """A task as stored, or None."""
        return await self._services.tasks.get(tenant_id, task_id)

    async def cancel(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> TaskStatus:
        """Cancel a waiting task now, or ask the worker running it to stop."""
        return await cancel_task(tenant_id, task_id, tasks=self._services.tasks)

    async def run_worker(
        self,
        registry: HandlerRegistry,
        *,
        stop: asyncio.Event,
        concurrency: int | None = None,
        worker_id: str | None = None,
        burst: bool = False,
    ) -> None:
        """Run `registry`'s handlers until `stop` is set, then shut down gracefully.
        With `burst`, return on its own once no task is due and none is running."""
        process = build_worker(
            self._services.settings,
            registry,
            url=self._services.url,
            worker_id=worker_id,
            concurrency=concurrency,
            burst=burst,
        )
        await process.run(stop)
