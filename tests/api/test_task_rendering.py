"""Task bodies rendered by app.api.bodies are byte for byte what quart-schema rendered."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from app.api import create_app
from app.api.bodies import model_response
from app.api.dependencies import ApiDependencies
from app.api.representation import task_body, task_fields
from app.api.schemas import BatchResult, TaskBody
from app.application.task_repository import TaskRecord
from app.domain.enums import CapabilityType, DomainType, ExecutionType, TaskStatus

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def a_task(**overrides: Any) -> TaskRecord:
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "type": "summarise",
        "status": TaskStatus.SUCCEEDED,
        "priority": 3,
        "payload": {"prompt": 'Résumé ✓ "quoted"', "n": [1, 2.5, 1e20, True, None]},
        "attempt_count": 1,
        "max_attempts": 3,
        "scheduled_at": WHEN,
        "created_at": WHEN.replace(microsecond=0),
        "updated_at": WHEN,
        "version": 4,
        "progress": 100,
        "state": "done",
        "metadata": {"z": 1, "a": {"é": "x"}},
        "domain_type": DomainType.CUSTOMER_SUPPORT,
        "capability_type": CapabilityType.LLM_GENERATION,
        "execution_type": ExecutionType.ASYNC,
        "cancel_requested_at": WHEN,
        "correlation_id": "order-42",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "started_at": WHEN.astimezone(timezone(timedelta(hours=2))),
        "finished_at": WHEN + timedelta(seconds=3),
    }
    return TaskRecord(**{**fields, **overrides})


def app() -> Any:
    """The app with no dependencies: rendering needs none."""
    unused: Any = None
    return create_app(
        ApiDependencies(tasks=unused, queries=unused, tenants=unused, health_checks=[])
    )


async def rendered_both_ways(body: TaskBody | BatchResult) -> tuple[bytes, bytes]:
    """Ours, and quart-schema's: a python-mode dump through the app's JSON provider."""
    api = app()
    async with api.app_context():
        ours = await model_response(body, 202).get_data()
        theirs = api.json.response(body.model_dump(by_alias=True))
        return ours, await theirs.get_data()


def test_task_fields_name_every_field_of_the_task_body() -> None:
    assert set(task_fields(a_task())) == set(TaskBody.model_fields)


async def test_a_task_renders_as_quart_schema_rendered_it() -> None:
    body = task_body(a_task(), result='{"answer": "ü", "score": 0.5}')
    ours, theirs = await rendered_both_ways(body)
    assert ours == theirs
    assert b'"startedAt":"2026-01-02T05:04:05.678901+02:00"' in ours


async def test_a_batch_renders_as_quart_schema_rendered_it() -> None:
    tasks = [a_task(), a_task(domain_type=None, capability_type=None, started_at=None)]
    body = BatchResult.model_validate({"tasks": [task_fields(t) for t in tasks]})
    ours, theirs = await rendered_both_ways(body)
    assert ours == theirs
