"""Schemathesis hooks of the contract run (loaded through SCHEMATHESIS_HOOKS).

JSON Schema cannot state a rule that ties two values together, or one that moves
with the clock. The document states these rules in words (see docs/contract.md), and
the API refuses a request that breaks one with a 422 naming it. A "schema-valid
request rejected" (ST202) is dropped only when every error of that 422 is one of these
rules: any other refusal, and every other check, still fails the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core.failures import Failure

from app.domain.prefer import parse_prefer

TENANT_HEADER = "X-Tenant-Id"
# Where after_call notes what was reached (the run's working directory).
REACHED = "reached.txt"

# The rule's words in the 422's `errors[].message`, and the field it names.
UNSTATABLE_RULES = {
    # GET /api/v1/usage: a relation between two query parameters, and today's date.
    ("to", "from..to may span at most 366 days"),
    ("to", "must not be before from (to defaults to today)"),
    # Bodies: relative to now, or across two fields or two tasks of a batch.
    ("scheduledAt", "must be between 2000-01-01 and one year from now"),
    ("", "give scheduledAt or delaySeconds, not both"),
    ("", "each idempotencyKey may appear only once in a batch"),
    # POST /api/v1/batches: the tasks' names and dependsOn must form a DAG of the batch.
    ("", "is given twice"),
    ("", "dependsOn names no task of the batch: *"),
    ("", "depends on itself"),
    ("", "dependsOn has a cycle through task *"),
    # POST /api/v1/schedules: what croniter reads as a cron expression (the document
    # states the shape, 5 or 6 fields or an @alias, and says the rest in words).
    ("cron", "is not a valid cron expression*"),
    ("cron", "never fires"),
    # POST /api/v1/tasks: an approval goes with executionType HumanInLoop (both ways),
    # and a task waits for one thing at creation (approval or waitFor).
    ("approval", "only with executionType HumanInLoop"),
    ("approval", "required with executionType HumanInLoop"),
    ("waitFor", "not with an approval: a task waits for one thing at creation"),
    # POST /api/v1/triggers: a template's `$from` paths against what the trigger waits
    # for (its kind and filters), and the filters among themselves.
    ("$from", " trigger knows no *"),
    ("$from", " has no field *"),
    ("$from", "name a field of *"),
    ("$from", "has an empty step"),
    ("$from", "must be a dotted path such as 'event.taskId' or 'result'"),
    ("$from", "this trigger's filters never match one"),
    ("$from", "is a single value, with no fields of its own"),
    ("$from", "the payload must be an object: put the reference under a key of it"),
    ("", "a $from object has no other keys *"),
    ("on", "an event trigger needs eventTypes, statuses or taskTypes (or a signal)"),
    ("on", "give a signal, or event filters, not both"),
    ("executionType", "a trigger starts an Async or EventDriven task"),
    # POST /api/v1/tasks: an approval's `schema` must itself be a valid JSON Schema (the
    # document says so in words; stating the metaschema would not be checked either).
    ("schema", "is not a valid JSON Schema*"),
}


# An Idempotency-Key (or a batch item's idempotencyKey) sent before with another body:
# the IETF Idempotency-Key draft's 422, which depends on what was sent before.
KEY_REUSED = "/problems/idempotency-key-reused"
# A decision's input checked against the JSON Schema its task's question declared:
# it depends on the task the decision is for.
INPUT_MISMATCH = "/problems/input-does-not-match"


def breaks_only_unstatable_rules(problem: dict[str, Any]) -> bool:
    """Whether a 422 problem's errors are all rules JSON Schema cannot state."""
    if str(problem.get("type", "")).endswith((KEY_REUSED, INPUT_MISMATCH)):
        return True
    errors = problem.get("errors") or []
    return bool(errors) and all(_unstatable(error) for error in errors)


def _unstatable(error: dict[str, Any]) -> bool:
    field = str(error.get("field", "")).rsplit(".", 1)[-1]
    message = str(error.get("message", ""))
    return any(
        _says(message, rule) and (not name or field == name) for name, rule in UNSTATABLE_RULES
    )


def _says(message: str, rule: str) -> bool:
    """Whether `message` ends with `rule`; a rule ending in `*` names a value after it."""
    if rule.endswith("*"):
        return rule[:-1] in message
    return message.endswith(rule)


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: Failure,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    """Keep every failure but a 413 (a body over the byte limit is refused, whatever it
    holds: no JSON Schema states a size in bytes) and an ST202 whose 422 names only
    unstatable rules."""
    if response.status_code == 413 and failure.code in {"ST201", "ST202"}:
        return False
    if failure.code != "ST202" or response.status_code != 422:
        return True
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    return not (isinstance(problem, dict) and breaks_only_unstatable_rules(problem))


@schemathesis.hook
def before_process_path(
    context: schemathesis.HookContext, path: str, methods: dict[str, Any]
) -> None:
    """Leave X-Tenant-Id out of the run: its key is not an admin's, so any id sent there is
    a 403 (documented; tests/api/test_abuse_auth.py covers it) and the request would test
    nothing else. Without this, about half of all cases end at that 403."""
    for operation in methods.values():
        if isinstance(operation, dict) and "parameters" in operation:
            operation["parameters"] = [
                p for p in operation["parameters"] if p.get("name") != TENANT_HEADER
            ]


@schemathesis.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response
) -> None:
    """Note each operation and status reached, for the test to check what the run covered."""
    with Path(REACHED).open("a") as reached:
        reached.write(f"{case.operation.label} {response.status_code}\n")


# A request may wait for its task (Prefer: wait=N up to 60 s, a Sync task 10 s by
# default, GET ?waitSeconds=N): the run's requests time out after 20 s and a wait per
# case would slow every phase. Waits are tested in tests/api/test_sync_*.py; here each
# lasts at most WAIT_CAP seconds, still through the documented header and parameter.
WAIT_CAP = 1
API_SYNC_WAIT = 10
CREATE = ("POST", "/api/v1/tasks")
GET = ("GET", "/api/v1/tasks/{task_id}")


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, **kwargs: Any) -> None:
    """Cut every wait the case asks for (or a Sync task's default one) to WAIT_CAP."""
    operation = (case.operation.method.upper(), case.operation.path)
    if operation not in {CREATE, GET}:
        return
    prefer = case.headers.get("Prefer")
    sync = isinstance(case.body, dict) and case.body.get("executionType") == "Sync"
    preferences = parse_prefer([prefer] if isinstance(prefer, str) else [])
    # A Sync task without a readable wait waits API_SYNC_WAIT_SECONDS (10).
    default = API_SYNC_WAIT if operation == CREATE and sync else 0
    wait = default if preferences.wait is None else preferences.wait
    if not preferences.respond_async and wait > WAIT_CAP:
        # The first wait sent is the one that counts (RFC 7240).
        case.headers["Prefer"] = f"wait={WAIT_CAP}, {prefer}" if prefer else f"wait={WAIT_CAP}"
    query = case.query if isinstance(case.query, dict) else None
    seconds = query.get("waitSeconds") if query is not None else None
    if query is not None and isinstance(seconds, int) and WAIT_CAP < seconds <= 60:
        query["waitSeconds"] = WAIT_CAP
