"""What the OpenAPI document says of /api/v1/schedules beyond what quart-schema derives:
its errors (404, 409), the 204 of a delete, and links between the operations."""

from __future__ import annotations

from typing import Any

SCHEDULES = "/api/v1/schedules"
ONE = "/api/v1/schedules/{schedule_id}"
PROBLEM = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
}
NOT_FOUND = {"description": "No such schedule for this tenant.", **PROBLEM}
CONFLICTS = {
    ("post", SCHEDULES): "The tenant has a schedule of that name already.",
    ("post", f"{ONE}/resume"): "A code schedule its code no longer declares stays paused.",
    ("delete", ONE): "A schedule declared in code: change the code, or pause it.",
}
LINKS = {
    "GetSchedule": ("get_show_schedule", "The schedule and its next ticks."),
    "PauseSchedule": ("post_pause", "Pause it."),
    "ResumeSchedule": ("post_resume", "Resume it from its next tick after now."),
    "DeleteSchedule": ("delete_remove", "Delete it."),
}


def document_schedules(paths: dict[str, Any]) -> None:
    """Errors, the delete's 204 and links of the schedule operations."""
    for path, operations in paths.items():
        if not path.startswith(SCHEDULES):
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if "{schedule_id}" in path:
                responses[404] = NOT_FOUND
            conflict = CONFLICTS.get((method, path))
            if conflict is not None:
                responses[409] = {"description": conflict, **PROBLEM}
    delete = paths.get(ONE, {}).get("delete")
    if delete is not None:
        delete["responses"].pop(200, None)
        delete["responses"][204] = {"description": "Deleted; the tasks it started stay."}
    links = {
        name: {
            "operationId": operation_id,
            "parameters": {"schedule_id": "$response.body#/id"},
            "description": description,
        }
        for name, (operation_id, description) in LINKS.items()
    }
    for path, method, status in (
        (SCHEDULES, "post", 201),
        (ONE, "get", 200),
        (f"{ONE}/pause", "post", 200),
        (f"{ONE}/resume", "post", 200),
    ):
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response["links"] = links
