"""The OpenAPI document is built once per process and says what the service does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from openapi_spec_validator import validate
from quart import Quart

from app.application.capabilities.catalogue import PAYLOAD_EXAMPLES, PAYLOAD_MODELS
from app.bootstrap import build_api, build_services
from app.config import load_settings
from app.domain.enums import CapabilityType


@pytest.fixture
def app(database_url: str, tmp_path: Any) -> Quart:
    # The document needs no database connection: the app is built, never started.
    settings = load_settings(log_dir=tmp_path, log_console=False, database_url=database_url)
    return build_api(build_services(settings, process="api", url=database_url))


def count_calls(target: Callable[[], dict[str, Any]], calls: list[int]) -> Callable[[], Any]:
    def counted() -> dict[str, Any]:
        calls.append(1)
        return target()

    return counted


async def document_of(app: Quart) -> dict[str, Any]:
    response = await app.test_client().get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = await response.get_json()
    return body


async def test_the_document_is_built_once_and_served_as_the_same_bytes(app: Quart) -> None:
    provider = app.extensions["QUART_SCHEMA"].openapi_provider
    builds: list[int] = []
    provider.schema = count_calls(provider.schema, builds)
    client = app.test_client()

    bodies = [await (await client.get("/openapi.json")).get_data() for _ in range(5)]

    assert len(builds) == 1
    assert len(set(bodies)) == 1


async def test_path_ids_are_uuids_and_health_and_artifact_content_are_documented(
    app: Quart,
) -> None:
    document = await document_of(app)
    validate(document)
    paths = document["paths"]

    content = paths["/api/v1/tasks/{task_id}/artifacts/{artifact_id}"]["get"]
    ids = {p["name"]: p["schema"] for p in content["parameters"] if p["in"] == "path"}
    assert ids == {
        "task_id": {"type": "string", "format": "uuid"},
        "artifact_id": {"type": "string", "format": "uuid"},
    }
    assert {"200", "302", "404"} <= set(content["responses"])
    health = paths["/health"]["get"]
    assert {"200", "503"} <= set(health["responses"])
    assert health["security"] == []


async def test_limits_are_stated_where_a_client_reads_them(app: Quart) -> None:
    document = await document_of(app)
    create = document["paths"]["/api/v1/tasks"]["post"]
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    usage = document["paths"]["/api/v1/usage"]["get"]
    correlation = create["requestBody"]["content"]["application/json"]["schema"]["properties"][
        "correlationId"
    ]

    assert key["schema"]["maxLength"] == 255
    assert key["schema"]["pattern"] == "^[\\x21-\\x7e]{1,255}$"
    assert all("366 days" in p["description"] for p in usage["parameters"] if p["in"] == "query")
    assert {"pattern": "^[^\\u0000]*$"}.items() <= correlation["anyOf"][0].items()
    assert create["requestBody"]["required"] is True


async def test_event_streams_name_the_schema_of_their_events(app: Quart) -> None:
    document = await document_of(app)

    for path in ("/api/v1/events", "/api/v1/tasks/{task_id}/events"):
        stream = document["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"]
        assert stream["x-event-data"] == {"$ref": "#/components/schemas/EventBody"}
        assert "data: " in stream["schema"]["description"]


async def test_each_capability_publishes_its_payload_schema_and_an_example(app: Quart) -> None:
    document = await document_of(app)
    schemas = document["components"]["schemas"]
    body = document["paths"]["/api/v1/tasks"]["post"]["requestBody"]["content"]["application/json"]
    payload = body["schema"]["properties"]["payload"]

    for capability in CapabilityType:
        model = PAYLOAD_MODELS[capability].__name__
        assert model in schemas
        assert payload["x-capability-payloads"][capability.value] == {
            "$ref": f"#/components/schemas/{model}"
        }
        example = body["examples"][capability.value]["value"]
        assert example["capabilityType"] == capability.value
        assert example["payload"] == PAYLOAD_EXAMPLES[capability]


async def test_links_lead_from_a_new_task_to_its_cancel_requeue_and_artifacts(app: Quart) -> None:
    document = await document_of(app)
    paths = document["paths"]
    created = paths["/api/v1/tasks"]["post"]["responses"]["202"]["links"]
    listing = paths["/api/v1/tasks/{task_id}/artifacts"]["get"]["responses"]["200"]["links"]
    operation_ids = {op["operationId"] for ops in paths.values() for op in ops.values()}

    assert {link["operationId"] for link in created.values()} >= {
        "post_cancel",
        "post_requeue",
        "get_artifacts",
    }
    assert all(link["parameters"] == {"task_id": "$response.body#/id"} for link in created.values())
    assert (
        listing["GetArtifactContent"]["parameters"]["artifact_id"] == "$response.body#/items/0/id"
    )
    assert {link["operationId"] for link in created.values()} <= operation_ids
