"""REST API v1 over real HTTP (Hypercorn) and a real Postgres."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import psycopg

from tests.api.conftest import Caller, assert_problem

TASK = {
    "type": "demo.sleep",
    "domainType": "CustomerSupport",
    "capabilityType": "LLM_Generation",
    "executionType": "Async",
    "priority": 3,
    "payload": {"prompt": "Summarise the ticket", "context": {"ticket": 42}},
}


async def create(
    caller: Caller, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return await caller.http.post("/api/v1/tasks", json=body or TASK, headers=headers)


async def test_a_created_task_is_accepted_with_its_location_and_body(acme: Caller) -> None:
    response = await create(acme)
    assert response.status_code == 202, response.text
    task = response.json()
    assert response.headers["location"] == f"/api/v1/tasks/{task['id']}"
    assert task["status"] == "Queued"
    assert task["tenantId"] == str(acme.tenant_id)
    assert (task["domainType"], task["capabilityType"], task["priority"]) == (
        "CustomerSupport",
        "LLM_Generation",
        3,
    )
    assert task["payload"] == TASK["payload"]
    assert task["traceId"] == response.headers["x-trace-id"]
    assert task["createdAt"].endswith(("Z", "+00:00"))
    fetched = await acme.http.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json()["id"] == task["id"]


async def test_the_trace_id_of_the_request_is_stored_on_the_task(acme: Caller) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = await create(acme, traceparent=f"00-{trace}-00f067aa0ba902b7-01")
    assert response.json()["traceId"] == trace


async def test_validation_errors_name_each_field(acme: Caller) -> None:
    body = {**TASK, "priority": 11, "domainType": "Marketing", "payload": "text", "extra": 1}
    del body["type"]
    problem = assert_problem(await create(acme, body), 422)
    fields = {error["field"] for error in problem["errors"]}
    assert {"type", "priority", "domainType", "payload", "extra"} <= fields


async def test_schedule_fields_are_exclusive(acme: Caller) -> None:
    body = {**TASK, "scheduledAt": "2026-01-01T00:00:00Z", "delaySeconds": 5}
    problem = assert_problem(await create(acme, body), 422)
    assert "scheduledAt or delaySeconds" in str(problem["errors"])


async def test_a_non_json_body_is_415(acme: Caller) -> None:
    response = await acme.http.post(
        "/api/v1/tasks", content=b"type=demo", headers={"Content-Type": "text/plain"}
    )
    assert_problem(response, 415)


async def test_malformed_json_is_400(acme: Caller) -> None:
    response = await acme.http.post(
        "/api/v1/tasks", content=b'{"type": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400)


async def test_a_body_that_is_not_utf8_is_400(acme: Caller) -> None:
    for body in (b'{"type": "demo\xff"}', b"\xff\xfe{}", b'{"type": "\xed\xa0\x80"}'):
        response = await acme.http.post(
            "/api/v1/tasks", content=body, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400)


async def test_a_body_over_the_limit_is_413(acme: Caller) -> None:
    body = {**TASK, "payload": {"blob": "x" * (70 * 1024)}}
    assert_problem(await create(acme, body), 413)


async def test_no_key_or_a_wrong_key_is_401(anonymous: httpx.AsyncClient) -> None:
    problem = assert_problem(await anonymous.get("/api/v1/tasks"), 401)
    assert "Bearer" in problem["detail"]
    wrong = await anonymous.get("/api/v1/tasks", headers={"Authorization": "Bearer atk_nope"})
    assert_problem(wrong, 401)
    assert wrong.headers["www-authenticate"].startswith("Bearer")


async def test_another_tenants_task_is_a_404_never_a_403(acme: Caller, globex: Caller) -> None:
    task_id = (await create(acme)).json()["id"]
    for path in ("", "/attempts", "/artifacts", "/events"):
        assert_problem(await globex.http.get(f"/api/v1/tasks/{task_id}{path}"), 404)
    assert_problem(await globex.http.post(f"/api/v1/tasks/{task_id}/cancel"), 404)
    listed = await globex.http.get("/api/v1/tasks")
    assert listed.json()["items"] == []


async def test_only_admin_keys_may_act_for_another_tenant(
    acme: Caller, globex: Caller, admin: Caller
) -> None:
    task_id = (await create(acme)).json()["id"]
    header = {"X-Tenant-Id": str(acme.tenant_id)}
    assert_problem(await globex.http.get(f"/api/v1/tasks/{task_id}", headers=header), 403)
    seen = await admin.http.get(f"/api/v1/tasks/{task_id}", headers=header)
    assert seen.status_code == 200


async def test_the_same_idempotency_key_and_body_returns_the_same_task(acme: Caller) -> None:
    first = await create(acme, **{"Idempotency-Key": "order-7"})
    again = await create(acme, **{"Idempotency-Key": "order-7"})
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert (await acme.http.get("/api/v1/tasks")).headers["x-total-count"] == "1"


async def test_the_same_key_with_another_body_is_a_422(acme: Caller) -> None:
    await create(acme, **{"Idempotency-Key": "order-7"})
    problem = assert_problem(
        await create(acme, {**TASK, "priority": 9}, **{"Idempotency-Key": "order-7"}), 422
    )
    assert problem["type"].endswith("/idempotency-key-reused")


async def test_two_concurrent_first_requests_with_one_key_make_one_task(acme: Caller) -> None:
    responses = await asyncio.gather(
        *(create(acme, **{"Idempotency-Key": "race"}) for _ in range(6))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    assert (await acme.http.get("/api/v1/tasks")).headers["x-total-count"] == "1"


async def test_keys_are_scoped_per_tenant(acme: Caller, globex: Caller) -> None:
    a = await create(acme, **{"Idempotency-Key": "k"})
    b = await create(globex, **{"Idempotency-Key": "k"})
    assert a.json()["id"] != b.json()["id"]


async def test_a_batch_is_created_in_one_transaction(acme: Caller) -> None:
    items = [{"type": "demo.noop", "idempotencyKey": f"b-{n}"} for n in range(3)]
    response = await acme.http.post("/api/v1/tasks/batch", json={"tasks": items})
    assert response.status_code == 202
    assert len(response.json()["tasks"]) == 3
    bad = [{"type": "demo.noop"}, {"type": "demo.noop", "priority": 0}]
    problem = assert_problem(await acme.http.post("/api/v1/tasks/batch", json={"tasks": bad}), 422)
    assert problem["errors"][0]["field"] == "tasks.1.priority"
    assert (await acme.http.get("/api/v1/tasks")).headers["x-total-count"] == "3"


async def test_listing_pages_with_total_and_links(acme: Caller) -> None:
    items = [{"type": "demo.noop"} for _ in range(5)]
    await acme.http.post("/api/v1/tasks/batch", json={"tasks": items})
    await create(acme)
    page = await acme.http.get(
        "/api/v1/tasks", params={"pageSize": 2, "page": 2, "type": "demo.noop"}
    )
    assert page.status_code == 200
    assert page.headers["x-total-count"] == "5"
    assert 'rel="next"' in page.headers["link"] and 'rel="prev"' in page.headers["link"]
    assert "type=demo.noop" in page.headers["link"]
    body = page.json()
    assert (body["page"], body["pageSize"], body["total"], len(body["items"])) == (2, 2, 5, 2)
    everything = (await acme.http.get("/api/v1/tasks", params={"pageSize": 200})).json()["items"]
    assert [t["createdAt"] for t in everything] == sorted(
        (t["createdAt"] for t in everything), reverse=True
    )
    assert_problem(await acme.http.get("/api/v1/tasks", params={"pageSize": 500}), 422)
    assert_problem(await acme.http.get("/api/v1/tasks", params={"status": "Done"}), 422)


async def test_cancel_a_queued_task_then_it_is_finished(acme: Caller) -> None:
    task_id = (await create(acme)).json()["id"]
    response = await acme.http.post(f"/api/v1/tasks/{task_id}/cancel")
    assert response.status_code == 200
    assert response.json()["outcome"] == "cancelled"
    assert response.json()["task"]["status"] == "Cancelled"
    problem = assert_problem(await acme.http.post(f"/api/v1/tasks/{task_id}/cancel"), 409)
    assert "Cancelled" in problem["detail"]


async def test_requeue_brings_a_dead_letter_back(acme: Caller, database_url: str) -> None:
    task_id = (await create(acme)).json()["id"]
    assert_problem(await acme.http.post(f"/api/v1/tasks/{task_id}/requeue"), 409)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE tasks SET status = 'DeadLetter', finished_at = now(), attempt_count = 3 "
            "WHERE id = %s",
            (task_id,),
        )
    response = await acme.http.post(f"/api/v1/tasks/{task_id}/requeue")
    assert response.status_code == 200
    requeued = response.json()
    # Three fresh attempts, numbered on from the three it used.
    assert (requeued["status"], requeued["attemptCount"], requeued["maxAttempts"]) == (
        "Queued",
        3,
        6,
    )
    events = (await acme.http.get(f"/api/v1/tasks/{task_id}/events")).json()["items"]
    assert events[-1]["eventType"] == "TaskRequeued"


async def test_unknown_paths_and_methods_are_problems(acme: Caller) -> None:
    assert_problem(await acme.http.get("/api/v1/nothing"), 404)
    assert_problem(await acme.http.get(f"/api/v1/tasks/{uuid.uuid4()}"), 404)
    response = await acme.http.delete("/api/v1/tasks")
    assert_problem(response, 405)


async def test_queue_stats_count_the_callers_tasks(
    acme: Caller, globex: Caller, admin: Caller
) -> None:
    await acme.http.post("/api/v1/tasks/batch", json={"tasks": [{"type": "demo.noop"}] * 3})
    await create(globex, {"type": "demo.noop", "delaySeconds": 600})
    mine = (await acme.http.get("/api/v1/queue/stats")).json()
    assert (mine["waiting"], mine["scheduled"], mine["scope"]) == (3, 0, str(acme.tenant_id))
    assert_problem(await acme.http.get("/api/v1/queue/stats", params={"allTenants": "true"}), 403)
    everyone = (await admin.http.get("/api/v1/queue/stats", params={"allTenants": "true"})).json()
    assert (everyone["waiting"], everyone["scheduled"], everyone["scope"]) == (3, 1, "all")
