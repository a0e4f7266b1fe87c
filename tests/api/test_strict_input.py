"""Strict input at the door: a number is a number, a key is visible ASCII, a JSON
object names each key once. Each case here was accepted (and stored) before."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from quart.typing import TestClientProtocol as InProcessClient

from app.application.capabilities.catalogue import PAYLOAD_EXAMPLES
from app.bootstrap import build_api, build_services
from app.config import load_settings
from app.domain.enums import CapabilityType
from tests.api.conftest import Caller, assert_problem, new_caller

TASK: dict[str, Any] = {"type": "demo.noop", "payload": {"seconds": 1}}
TOMORROW = int(time.time()) + 86_400


async def total(caller: Caller) -> int:
    return int((await caller.http.get("/api/v1/tasks")).headers["x-total-count"])


def fields(problem: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in problem["errors"]}


async def post_raw(caller: Caller, path: str, body: str) -> httpx.Response:
    return await caller.http.post(
        path, content=body.encode(), headers={"Content-Type": "application/json"}
    )


# -- numbers and booleans -------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", True),  # was stored as priority 1, the highest
        ("priority", "5"),
        ("priority", 2.5),
        ("maxAttempts", True),
        ("maxAttempts", "3"),
        ("timeoutSeconds", True),
        ("timeoutSeconds", "60"),
        ("delaySeconds", True),
        ("delaySeconds", "5"),
        ("scheduledAt", TOMORROW),  # was read as Unix time
        ("scheduledAt", str(TOMORROW)),
    ],
)
async def test_a_field_of_the_wrong_json_type_is_refused(
    acme: Caller, field: str, value: object
) -> None:
    response = await acme.http.post("/api/v1/tasks", json={**TASK, field: value})
    problem = assert_problem(response, 422)
    assert list(fields(problem)) == [field]
    assert await total(acme) == 0


async def test_a_retry_policy_number_given_as_a_boolean_is_refused_in_a_batch(
    acme: Caller,
) -> None:
    batch = {"tasks": [TASK, {**TASK, "retryPolicy": {"maxSeconds": False}}]}
    problem = assert_problem(await acme.http.post("/api/v1/tasks/batch", json=batch), 422)
    assert list(fields(problem)) == ["tasks.1.retryPolicy.maxSeconds"]
    assert await total(acme) == 0


async def test_numbers_enums_and_times_in_their_json_form_are_accepted(acme: Caller) -> None:
    next_year = datetime.now(UTC).year + 1
    body = {
        **TASK,
        "priority": 2.0,  # an integer in JSON Schema's sense
        "maxAttempts": 4,
        "timeoutSeconds": 60,
        "scheduledAt": f"{next_year}-01-01T09:30:00+02:00",
        "capabilityType": "RuleEngine",
        "domainType": "DataAnalysis",
        "executionType": "Batch",
        "retryPolicy": {"baseSeconds": 1, "factor": 2.5, "maxSeconds": 60},
    }
    body["payload"] = PAYLOAD_EXAMPLES[CapabilityType.RULE_ENGINE]
    response = await acme.http.post("/api/v1/tasks", json=body)
    assert response.status_code == 202, response.text
    task = response.json()
    assert (task["priority"], task["maxAttempts"], task["capabilityType"]) == (2, 4, "RuleEngine")
    assert task["scheduledAt"].startswith(f"{next_year}-01-01T07:30:00")
    delayed = await acme.http.post("/api/v1/tasks", json={**TASK, "delaySeconds": 1.5})
    assert delayed.status_code == 202, delayed.text


# -- query strings ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["true", "+2", "1.0", "1_0", " 2", "\uff12"])
async def test_a_page_number_must_be_written_in_digits(acme: Caller, page: str) -> None:
    problem = assert_problem(await acme.http.get("/api/v1/tasks", params={"page": page}), 422)
    assert "page" in fields(problem)


async def test_a_page_number_in_digits_still_pages(acme: Caller) -> None:
    response = await acme.http.get("/api/v1/tasks", params={"page": "2", "pageSize": "05"})
    assert response.status_code == 200, response.text
    assert (response.json()["page"], response.json()["pageSize"]) == (2, 5)


@pytest.mark.parametrize("flag", ["1", "yes", "on", "True"])
async def test_all_tenants_is_true_or_false(admin: Caller, flag: str) -> None:
    response = await admin.http.get("/api/v1/queue/stats", params={"allTenants": flag})
    assert "allTenants" in fields(assert_problem(response, 422))


# -- Idempotency-Key ----------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"two words", b"tab\there", b"caf\xc3\xa9", b"k" * 256, b'""'])
async def test_an_idempotency_key_must_be_visible_ascii(acme: Caller, key: bytes) -> None:
    response = await acme.http.post("/api/v1/tasks", json=TASK, headers={"Idempotency-Key": key})
    problem = assert_problem(response, 400)
    assert "Idempotency-Key" in problem["detail"]
    assert "visible ASCII" in problem["detail"]
    assert list(fields(problem)) == ["Idempotency-Key"]
    assert await total(acme) == 0


async def test_a_quoted_or_longest_idempotency_key_is_accepted(acme: Caller) -> None:
    quoted = await acme.http.post("/api/v1/tasks", json=TASK, headers={"Idempotency-Key": '"o-7"'})
    bare = await acme.http.post("/api/v1/tasks", json=TASK, headers={"Idempotency-Key": "o-7"})
    assert quoted.status_code == 202 and bare.status_code == 202, (quoted.text, bare.text)
    assert quoted.json()["id"] == bare.json()["id"]
    longest = await acme.http.post(
        "/api/v1/tasks", json=TASK, headers={"Idempotency-Key": "k" * 255}
    )
    assert longest.status_code == 202, longest.text


async def test_an_idempotency_key_sent_twice_is_refused(acme: Caller) -> None:
    headers = [("Idempotency-Key", "first"), ("Idempotency-Key", "second")]
    response = await acme.http.post("/api/v1/tasks", json=TASK, headers=headers)
    problem = assert_problem(response, 400)
    assert fields(problem) == {"Idempotency-Key": "must be sent once"}
    assert await total(acme) == 0


async def test_a_batch_items_idempotency_key_must_be_visible_ascii(acme: Caller) -> None:
    batch = {"tasks": [{**TASK, "idempotencyKey": "tab\there"}]}
    problem = assert_problem(await acme.http.post("/api/v1/tasks/batch", json=batch), 422)
    assert "visible ASCII" in fields(problem)["tasks.0.idempotencyKey"]


@pytest.fixture
async def in_process(
    database_url: str, tmp_path: Any
) -> AsyncIterator[tuple[InProcessClient, str]]:
    """The app without an HTTP server in front: headers reach it byte for byte, as they
    would through a server or proxy that lets control characters through."""
    settings = load_settings(log_dir=tmp_path, log_console=False)
    app = build_api(build_services(settings, process="api", url=database_url))
    caller = await new_caller(database_url, "http://in-process", "acme")
    await caller.http.aclose()
    async with app.test_app():
        yield app.test_client(), caller.key


@pytest.mark.parametrize("key", ["k\x01", "k\x7f", "\x1b[31mred\x1b[0m", "a\tb", "k\x00"])
async def test_control_characters_in_an_idempotency_key_are_refused(
    in_process: tuple[InProcessClient, str], key: str
) -> None:
    client, api_key = in_process
    response = await client.post(
        "/api/v1/tasks",
        json=TASK,
        headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": key},
    )
    assert response.status_code == 400, await response.get_data(as_text=True)
    problem = await response.get_json()
    assert problem["errors"] == [
        {"field": "Idempotency-Key", "message": problem["errors"][0]["message"]}
    ]
    assert "visible ASCII" in problem["detail"]


# -- repeated keys --------------------------------------------------------------------------


async def test_a_repeated_key_is_a_400_naming_it_and_nothing_is_stored(acme: Caller) -> None:
    body = '{"type": "demo.noop", "type": "demo.fail"}'
    problem = assert_problem(await post_raw(acme, "/api/v1/tasks", body), 400)
    assert problem["detail"].startswith('The body repeats the key "type" at the top level')
    assert fields(problem) == {"type": "appears more than once in its object"}
    assert await total(acme) == 0


async def test_a_repeated_key_deep_in_a_batch_is_named_with_its_path(acme: Caller) -> None:
    body = (
        '{"tasks": [{"type": "a"}, {"type": "b", "payload": '
        '{"list": [{"x": 1}, {"y": 1, "y": 2}]}}]}'
    )
    problem = assert_problem(await post_raw(acme, "/api/v1/tasks/batch", body), 400)
    assert '"y" in the object at tasks.1.payload.list.1' in problem["detail"]
    assert list(fields(problem)) == ["tasks.1.payload.list.1.y"]
    assert await total(acme) == 0


async def test_the_same_key_in_different_objects_is_fine(acme: Caller) -> None:
    body = '{"type": "demo.noop", "payload": {"type": 1, "inner": {"type": 2}}}'
    assert (await post_raw(acme, "/api/v1/tasks", body)).status_code == 202


async def test_malformed_json_still_says_where(acme: Caller) -> None:
    problem = assert_problem(await post_raw(acme, "/api/v1/tasks", '{"type": "a",\n "x": }'), 400)
    assert "line 2, column 7" in problem["detail"]


# -- stream resume points --------------------------------------------------------------


@pytest.mark.parametrize("resume", ["+5", " 5", "5_0", "5.0", "1" * 19, "-1"])
async def test_a_resume_point_is_digits_only(acme: Caller, resume: str) -> None:
    response = await acme.http.get("/api/v1/events", params={"lastEventId": resume})
    problem = assert_problem(response, 400)
    assert "digits 0-9" in problem["detail"]
