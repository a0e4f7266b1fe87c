"""OpenAPI links: where each id a response returns leads (the task, batch, saga and signal
operations it names), for clients and for stateful testers that follow them."""

from __future__ import annotations

from typing import Any


def _link(operation_id: str, description: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters, "description": description}


TASK_LINKS = {
    "GetTask": ("get_get_task", "The task as it is now."),
    "CancelTask": ("post_cancel", "Cancel it."),
    "RequeueTask": ("post_requeue", "Put it back in the queue once it has failed."),
    "ListAttempts": ("get_attempts", "Its attempts."),
    "ListArtifacts": ("get_artifacts", "Its outputs."),
    "ListEvents": ("get_events", "Its timeline."),
    "Decide": ("post_decide", "Decide on it while it waits for a person (HumanInLoop)."),
}


BATCH_LINKS = {
    "GetBatch": ("get_show_batch", "The batch as it is now."),
    "ListChildren": ("get_batch_children", "Its tasks, page by page."),
    "CancelBatch": ("post_cancel_batch", "Cancel it and its waiting tasks."),
}

SAGA_LINKS = {
    "GetSaga": ("get_show_saga", "The saga, its steps and timeline."),
    "CancelSaga": ("post_saga_cancel", "Cancel it: stop its step and compensate."),
}

SIGNAL_LINKS = {"GetSignal": ("get_show_signal", "The signal as kept, with its data.")}


def document_links(paths: dict[str, Any]) -> None:
    """OpenAPI links: where each returned id leads (clients and stateful testers follow)."""

    def links(at: str) -> dict[str, Any]:
        return {
            name: _link(operation_id, description, task_id=at)
            for name, (operation_id, description) in TASK_LINKS.items()
        }

    sources = (
        ("/api/v1/tasks", "post", 202, "$response.body#/id"),
        ("/api/v1/tasks", "post", 200, "$response.body#/id"),
        ("/api/v1/tasks/batch", "post", 202, "$response.body#/tasks/0/id"),
        ("/api/v1/tasks/{task_id}", "get", 200, "$response.body#/id"),
        ("/api/v1/tasks/{task_id}/cancel", "post", 200, "$response.body#/task/id"),
        ("/api/v1/tasks/{task_id}/requeue", "post", 200, "$response.body#/id"),
    )
    for path, method, status, at in sources:
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["links"] = links(at)
    batch_links = {
        name: _link(operation_id, description, batch_id="$response.body#/id")
        for name, (operation_id, description) in BATCH_LINKS.items()
    }
    for status in (200, 201):
        response = paths.get("/api/v1/batches", {}).get("post", {}).get("responses", {})
        if status in response:
            response[status]["links"] = batch_links
    shown = paths.get("/api/v1/batches/{batch_id}", {}).get("get")
    if shown is not None:
        shown["responses"][200]["links"] = batch_links
    saga_links = {
        name: _link(operation_id, description, saga_id="$response.body#/id")
        for name, (operation_id, description) in SAGA_LINKS.items()
    }
    for path, method, statuses in (
        ("/api/v1/sagas", "post", (200, 201)),
        ("/api/v1/sagas/{saga_id}", "get", (200,)),
    ):
        responses = paths.get(path, {}).get(method, {}).get("responses", {})
        for status in statuses:
            if status in responses:
                responses[status]["links"] = saga_links
    signal_links = {
        name: _link(operation_id, description, signal_id="$response.body#/id")
        for name, (operation_id, description) in SIGNAL_LINKS.items()
    }
    responses = paths.get("/api/v1/signals", {}).get("post", {}).get("responses", {})
    for status in (200, 201):
        if status in responses:
            responses[status]["links"] = signal_links
    listing = paths.get("/api/v1/tasks/{task_id}/artifacts", {}).get("get")
    if listing is not None:
        listing["responses"][200]["links"] = {
            "GetArtifactContent": _link(
                "get_artifact_content",
                "The first artifact's content.",
                task_id="$request.path.task_id",
                artifact_id="$response.body#/items/0/id",
            )
        }
