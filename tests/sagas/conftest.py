"""Fixtures for saga tests: the engine fixtures (workers, services, a tenant) and a saga
factory at the store level."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from app.adapters.postgres.saga_store import PgSagaStore
from app.application.sagas import CreateSaga, SagaRecord, SagaStep, create_saga
from app.application.task_repository import EnqueueTask
from app.bootstrap import Services
from tests.workers.conftest import services, start_worker, tenant  # noqa: F401 (fixtures)

MakeSaga = Callable[..., Awaitable[SagaRecord]]


@pytest.fixture
def make_saga(services: Services, tenant: uuid.UUID) -> MakeSaga:  # noqa: F811
    """make_saga(steps=3, undo="demo.noop", max_attempts=1, **CreateSaga fields)."""

    async def make(
        steps: int = 3, *, undo: str | None = "demo.noop", max_attempts: int = 1, **fields: Any
    ) -> SagaRecord:
        def task(task_type: str) -> EnqueueTask:
            return EnqueueTask(tenant_id=tenant, type=task_type, max_attempts=max_attempts)

        command = CreateSaga(
            tenant_id=tenant,
            steps=[SagaStep(task("demo.noop"), task(undo) if undo else None) for _ in range(steps)],
            **fields,
        )
        return (await create_saga(command, sagas=PgSagaStore(services.pool))).saga

    return make
