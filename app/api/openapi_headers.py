"""OpenAPI request headers: X-Tenant-Id on every /api/ operation, Idempotency-Key where
tasks, batches and sagas are created, Last-Event-ID (or lastEventId) where events resume,
and the Server-Sent Events stream those resume."""

from __future__ import annotations

from typing import Any

from app.api.input_types import KEY_PATTERN, KEY_RULE, MAX_KEY_LENGTH
from app.api.streams import MAX_EVENT_ID, MAX_EVENT_ID_DIGITS


def header(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


TENANT_PARAMETER = header(
    "X-Tenant-Id",
    "Admin keys only (any other key gets a 403): act for this tenant, named by its id. "
    "Sent empty, it is as if it were not sent.",
    {"anyOf": [{"type": "string", "format": "uuid"}, {"type": "string", "maxLength": 0}]},
)
IDEMPOTENCY_PARAMETER = header(
    "Idempotency-Key",
    f"Same key and body returns the same task; another body is a 422. {KEY_RULE}.",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN},
)
EVENT_ID = {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID}
RESUME_PARAMETER = header(
    "Last-Event-ID",
    "Streams: resume after this event id (digits; sent empty, it is as if not sent).",
    {
        "anyOf": [
            {"type": "string", "pattern": f"^[0-9]{{1,{MAX_EVENT_ID_DIGITS}}}$"},
            {"type": "string", "maxLength": 0},
        ]
    },
)
RESUME_QUERY = {
    "name": "lastEventId",
    "in": "query",
    "required": False,
    "description": "Streams: resume after this event id (when a client cannot set "
    "Last-Event-ID; the header wins when both are sent).",
    "schema": EVENT_ID,
}
STREAM_ONLY = (
    " Read by the stream only (`Accept: text/event-stream`); the JSON timeline ignores it."
)
SSE_DESCRIPTION = (
    "A live Server-Sent Events stream: first `retry: 2000`, then one frame per event "
    "(`id: <resume id>`, `event: <eventType>`, `data: <one EventBody as JSON>`), and a "
    "`: keep-alive` comment after 15 s without events. The JSON in `data` is the schema "
    "named by `x-event-data`."
)
SSE_CONTENT = {
    "schema": {
        "type": "string",
        "description": SSE_DESCRIPTION,
        "examples": [
            'retry: 2000\n\nid: 42\nevent: TaskSucceeded\ndata: {"id": 42, "taskId": '
            '"0b9c…", "sequence": 4, "eventType": "TaskSucceeded", "status": "Succeeded", '
            '"occurredAt": "2025-01-01T12:00:00Z", "traceId": null, "detail": {}}\n\n'
        ],
    },
    "x-event-data": {"$ref": "#/components/schemas/EventBody"},
}


def document_headers(path: str, operation: dict[str, Any]) -> None:
    """The headers an /api/ operation reads, and the event stream of every /events path."""
    if not path.startswith("/api/"):
        return
    parameters = operation.setdefault("parameters", [])
    parameters.append(TENANT_PARAMETER)
    if path in ("/api/v1/tasks", "/api/v1/batches", "/api/v1/sagas") and "requestBody" in operation:
        parameters.append(IDEMPOTENCY_PARAMETER)
    if path == "/api/v1/events":
        parameters.extend((RESUME_PARAMETER, RESUME_QUERY))
    elif path.endswith("/events"):
        # The JSON timeline reads neither: only its stream resumes.
        parameters.extend(
            {**p, "schema": {"type": "string"}, "description": f"{p['description']}{STREAM_ONLY}"}
            for p in (RESUME_PARAMETER, RESUME_QUERY)
        )
    if path.endswith("/events"):
        responses = operation.setdefault("responses", {})
        ok = responses.setdefault(200, {"description": ""})
        if path == "/api/v1/events":
            ok["description"] = "Every new event of the caller's tasks, as a live stream."
        else:
            ok["description"] = (
                "The task's events: JSON, or with `Accept: text/event-stream` a live stream "
                "that ends once the task has finished and every event was sent."
            )
        ok.setdefault("content", {})["text/event-stream"] = SSE_CONTENT
