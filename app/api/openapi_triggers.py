"""What the OpenAPI document says of /api/v1/triggers beyond what the models say: the
examples of a trigger, the 204 of a delete, the 409 of a name already used."""

from __future__ import annotations

from typing import Any

CREATE_TRIGGER = "/api/v1/triggers"
ONE_TRIGGER = "/api/v1/triggers/{trigger_id}"
TRIGGER_ERRORS = {"404": "No such trigger for this tenant."}

EXAMPLES: dict[str, dict[str, Any]] = {
    "chain": {
        "summary": "When an ocr task succeeds, summarize its text",
        "value": {
            "name": "summarize-after-ocr",
            "on": {"eventTypes": ["TaskSucceeded"], "taskTypes": ["ocr"]},
            "task": {
                "type": "summarize",
                "payload": {
                    "text": {"$from": "result.text"},
                    "document": {"$from": "task.payload.documentId"},
                    "ocrTask": {"$from": "event.taskId"},
                },
            },
        },
    },
    "alert": {
        "summary": "When any task is dead-lettered, raise an alert",
        "value": {
            "name": "alert-on-dead-letter",
            "on": {"statuses": ["DeadLetter"]},
            "task": {
                "type": "alert",
                "priority": 1,
                "payload": {
                    "taskId": {"$from": "event.taskId"},
                    "taskType": {"$from": "event.taskType"},
                    "errorCode": {"$from": "event.detail.errorCode"},
                },
            },
        },
    },
    "signal": {
        "summary": "When signal document.uploaded arrives, run ocr on it",
        "value": {
            "name": "ocr-on-upload",
            "on": {"signal": "document.uploaded"},
            "task": {
                "type": "ocr",
                "payload": {
                    "documentId": {"$from": "signal.key"},
                    "url": {"$from": "signal.data.url"},
                },
            },
        },
    },
}


def document_triggers(paths: dict[str, Any]) -> None:
    """Examples of POST /api/v1/triggers, its 409, and DELETE's 204."""
    create = paths.get(CREATE_TRIGGER, {}).get("post")
    if create is not None:
        create["requestBody"]["content"]["application/json"]["examples"] = EXAMPLES
        create["responses"][409] = {
            "description": "The tenant has a trigger of that name already, or as many "
            "triggers as it may have.",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
    delete = paths.get(ONE_TRIGGER, {}).get("delete")
    if delete is not None:
        delete.setdefault("responses", {}).pop(200, None)
        delete["responses"][204] = {"description": "Deleted."}
