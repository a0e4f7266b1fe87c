"""The rule engine and external integration handlers: matched rules, allowed hosts, HTTP results."""

from __future__ import annotations

import pytest

from app.application.capabilities import CapabilityLimits
from app.domain.enums import CapabilityType
from tests.fakes import FakeIntegrationClient, json_response
from tests.workers.capability_kit import Conn, Kit, last_error, result_of, run, usage_of
from tests.workers.conftest import Enqueue, StartWorker


async def test_rule_engine_reports_the_matching_rules(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit()
    payload = {
        "rules": [
            {"name": "big", "when": {"field": "order.total", "op": "gt", "value": 100}, "then": 1},
            {"name": "eu", "when": {"field": "order.country", "op": "in", "value": ["PT", "ES"]}},
            {"name": "odd", "when": {"field": "order.total", "op": "lt", "value": 0}},
        ],
        "data": {"order": {"total": 150, "country": "PT"}},
    }
    task_id = await run(kit, enqueue, start_worker, conn, CapabilityType.RULE_ENGINE, payload)
    assert await result_of(conn, task_id) == {
        "matched": ["big", "eu"],
        "results": [{"name": "big", "then": 1}, {"name": "eu", "then": None}],
        "first": 1,
    }


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://internal.example.com/admin", "https://internal.example.com is not in the"),
        # Listed by name means https only: the Authorization header never goes in clear.
        ("http://api.example.com/orders", "http://api.example.com is not allowed: only https"),
    ],
)
async def test_an_integration_to_a_host_not_allowed_is_refused_before_any_call(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker, url: str, message: str
) -> None:
    kit = Kit(limits=CapabilityLimits(allowed_hosts=frozenset({"api.example.com"})))
    request = {"method": "POST", "url": url, "headers": {"Authorization": "Bearer t0ken"}}
    task_id = await run(
        kit,
        enqueue,
        start_worker,
        conn,
        CapabilityType.EXTERNAL_INTEGRATION,
        {"request": request},
        until={"DeadLetter"},
    )
    [attempt] = await usage_of(conn, task_id)
    assert attempt[:2] == ("Failed", "HostNotAllowed")
    assert (await last_error(conn, task_id)).startswith(f"payload.request.url: {message}")
    assert kit.integration.calls == []


async def test_an_integration_returns_the_status_and_parsed_json(
    conn: Conn, enqueue: Enqueue, start_worker: StartWorker
) -> None:
    kit = Kit(
        integration=FakeIntegrationClient(json_response(201, {"id": 9}, {"x-secret": "s"})),
        limits=CapabilityLimits(allowed_hosts=frozenset({"api.example.com"})),
    )
    request = {
        "method": "POST",
        "url": "https://api.example.com/orders",
        "headers": {"Authorization": "Bearer t0ken"},
        "json": {"sku": "A-1"},
    }
    task_id = await run(
        kit, enqueue, start_worker, conn, CapabilityType.EXTERNAL_INTEGRATION, {"request": request}
    )
    assert await result_of(conn, task_id) == {
        "status": 201,
        "headers": {"content-type": "application/json"},
        "body": {"id": 9},
    }
    [call] = kit.integration.calls
    assert (call.method, call.url, call.json_body, call.body) == (
        "POST",
        "https://api.example.com/orders",
        {"sku": "A-1"},
        None,
    )
    assert call.timeout == kit.limits.integration_timeout_seconds
