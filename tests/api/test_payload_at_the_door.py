"""A task that would run a built-in capability handler is checked at POST: a payload
that handler refuses is a 422 naming the field, not a 202 and then a dead letter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.adapters.postgres.handler_directory import PgHandlerDirectory
from app.api import bodies
from app.application.capabilities.catalogue import PAYLOAD_EXAMPLES
from app.bootstrap import running_services
from app.config import load_settings
from app.domain.enums import CapabilityType
from tests.api.conftest import Caller, assert_problem

SEARCH: dict[str, Any] = {
    "type": "search",
    "capabilityType": "Embedding_Search",
    "payload": {"query": "reset my password", "documents": ["Change password", "Billing"]},
}


@pytest.fixture
async def directory(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[PgHandlerDirectory]:
    """The directory workers record their types in, read by the API under test
    (read directly, not through the API's short cache, so a test sees what it records)."""
    settings = load_settings(database_url=database_url, log_console=False)
    async with running_services(settings, process="test") as services:
        found = PgHandlerDirectory(services.pool)
        monkeypatch.setattr(bodies, "handler_directory", lambda: found)
        yield found


async def total(caller: Caller) -> int:
    return int((await caller.http.get("/api/v1/tasks")).headers["x-total-count"])


def fields(problem: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in problem["errors"]}


async def test_the_api_as_built_checks_payloads_against_the_directory(acme: Caller) -> None:
    """No fixture in between: the composition root hands the API the directory."""
    assert_problem(await acme.http.post("/api/v1/tasks", json=SEARCH), 422)
    assert await total(acme) == 0


async def test_a_wrong_payload_for_a_built_in_capability_is_a_422_naming_the_field(
    acme: Caller, directory: PgHandlerDirectory
) -> None:
    problem = assert_problem(await acme.http.post("/api/v1/tasks", json=SEARCH), 422)
    assert fields(problem) == {
        "payload.candidates": "is required",
        "payload.documents": "is not a known field",
    }
    assert "built-in Embedding_Search handler" in problem["detail"]
    assert "payload.candidates: is required" in problem["detail"]
    assert await total(acme) == 0


async def test_the_same_payload_is_accepted_once_a_worker_handles_the_type(
    acme: Caller, directory: PgHandlerDirectory
) -> None:
    await directory.record("worker-1", ["search"], [])
    response = await acme.http.post("/api/v1/tasks", json=SEARCH)
    assert response.status_code == 202, response.text


async def test_the_same_payload_is_accepted_when_an_app_replaced_the_capability(
    acme: Caller, directory: PgHandlerDirectory
) -> None:
    await directory.record("worker-1", [], [CapabilityType.EMBEDDING_SEARCH])
    response = await acme.http.post("/api/v1/tasks", json=SEARCH)
    assert response.status_code == 202, response.text


async def test_a_batch_names_the_index_and_field_and_saves_nothing(
    acme: Caller, directory: PgHandlerDirectory
) -> None:
    fine = {**SEARCH, "payload": PAYLOAD_EXAMPLES[CapabilityType.EMBEDDING_SEARCH]}
    batch = {"tasks": [fine, SEARCH, {"type": "demo.noop", "payload": {"documents": 1}}]}
    problem = assert_problem(await acme.http.post("/api/v1/tasks/batch", json=batch), 422)
    assert fields(problem) == {
        "tasks.1.payload.candidates": "is required",
        "tasks.1.payload.documents": "is not a known field",
    }
    assert problem["detail"].startswith("tasks[1]: ")
    assert await total(acme) == 0


async def test_every_capabilitys_example_payload_is_accepted(
    acme: Caller, directory: PgHandlerDirectory
) -> None:
    batch = {
        "tasks": [
            {"type": "any.task", "capabilityType": capability.value, "payload": example}
            for capability, example in PAYLOAD_EXAMPLES.items()
        ]
    }
    response = await acme.http.post("/api/v1/tasks/batch", json=batch)
    assert response.status_code == 202, response.text
    assert len(response.json()["tasks"]) == len(CapabilityType)
