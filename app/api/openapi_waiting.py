"""The OpenAPI words for waiting requests: `Prefer: wait=N` on POST /api/v1/tasks (and
the 200 it may bring), the long poll of GET /api/v1/tasks/{task_id}."""

from __future__ import annotations

import copy
from typing import Any

from app.api.waiting import APPLIED_HEADER, CHANGED_HEADER, PREFER_HEADER, WAIT_QUERY
from app.application.waiting import WaitPolicy

CREATE = ("/api/v1/tasks", "post")
GET = ("/api/v1/tasks/{task_id}", "get")


def _prefer(policy: WaitPolicy, *, create: bool) -> dict[str, Any]:
    what = (
        "wait up to N seconds for the task to finish: `200` with its result if it does, "
        "else `202` when the time runs out"
        if create
        else "wait up to N seconds for the task's status to change (a long poll)"
    )
    sync = (
        f" A task whose `executionType` is `Sync` waits {policy.sync_default_seconds} s "
        "(API_SYNC_WAIT_SECONDS) when no wait is sent."
        if create
        else ""
    )
    return {
        "name": PREFER_HEADER,
        "in": "header",
        "required": False,
        "description": f"RFC 7240. `wait=N`: {what}; at most {policy.max_seconds} s "
        f"(API_MAX_WAIT_SECONDS: a longer wait is cut to it). `respond-async`: answer at "
        f"once. Preferences it does not know, and a wait it cannot read, are ignored, as "
        f"RFC 7240 says.{sync}",
        "schema": {"type": "string"},
    }


def _headers(policy: WaitPolicy, *, changed: bool) -> dict[str, Any]:
    headers: dict[str, Any] = {
        APPLIED_HEADER: {
            "description": "`wait=N`: the wait asked in `Prefer` was honoured (N as applied, "
            f"at most {policy.max_seconds}).",
            "schema": {"type": "string", "pattern": "^wait=[0-9]+$"},
        },
        "Vary": {"description": "Includes `Prefer`.", "schema": {"type": "string"}},
    }
    if changed:
        headers[CHANGED_HEADER] = {
            "description": "Sent when a wait was asked: `true` once the status differs from "
            "the one the task had when the request came, `false` when the wait ran out "
            "(or the task had already finished: it is answered at once).",
            "schema": {"type": "string", "enum": ["true", "false"]},
        }
    return headers


def document_waiting(paths: dict[str, Any], policy: WaitPolicy) -> None:
    """Add the wait to POST /api/v1/tasks and GET /api/v1/tasks/{task_id}."""
    limits = (
        f" At most {policy.per_key} requests of one key (API_MAX_WAITING_PER_KEY) and "
        f"{policy.per_process} of one server (API_MAX_WAITING) wait at once; they do not "
        "count among the key's requests in progress."
    )
    create = paths.get(CREATE[0], {}).get(CREATE[1])
    if create is not None:
        create.setdefault("parameters", []).append(_prefer(policy, create=True))
        accepted = create["responses"][202]
        accepted.setdefault("headers", {}).update(_headers(policy, changed=False))
        accepted["headers"]["Location"] = {"required": True, "schema": {"type": "string"}}
        finished = copy.deepcopy(accepted)
        finished["description"] = (
            "The task finished within the wait (`Prefer: wait=N`, or `executionType` "
            "`Sync`): it is shown with its result." + limits + " Past a cap the POST is "
            "answered `202` at once, without `Preference-Applied`."
        )
        finished["headers"]["Content-Location"] = {"schema": {"type": "string"}}
        create["responses"][200] = finished
    get = paths.get(GET[0], {}).get(GET[1])
    if get is not None:
        get.setdefault("parameters", []).extend(
            (
                _prefer(policy, create=False),
                {
                    "name": WAIT_QUERY,
                    "in": "query",
                    "required": False,
                    "description": "As `Prefer: wait=N`, for clients that cannot set it "
                    "(it wins when both are sent).",
                    "schema": {"type": "integer", "minimum": 0, "maximum": policy.max_seconds},
                },
            )
        )
        get["responses"][200].setdefault("headers", {}).update(_headers(policy, changed=True))
        too_many = get["responses"].setdefault(429, {})
        too_many["description"] = "Too many requests; or, with a wait, too many waiting." + limits
