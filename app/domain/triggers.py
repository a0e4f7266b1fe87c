"""Triggers: when a task event (or a signal) matches, start a task whose payload is a
template filled in from the event.

The database fires them (sql/migrations/0017_triggers.sql, in the transaction of the
event); these are the rules a trigger is checked against before it is stored, and the
template syntax they both follow (docs/design/triggers.md).

A template is any JSON; an object `{"$from": "<root>.<field>…"}` anywhere in it is
replaced, when the trigger fires, by the value at that path (null when there is none).
Nothing is evaluated: a path only names a value.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.domain.enums import TaskStatus

REFERENCE_KEY = "$from"

# A chain of triggers (A's event starts B, B's starts C …) stops here: a task whose depth
# would be above this is not started (sql: trigger_max_depth()).
MAX_TRIGGER_DEPTH = 8
# Each active trigger of a tenant is matched against each of its events: a bound.
MAX_TRIGGERS = 100


class TriggerKind(StrEnum):
    """What a trigger waits for (task_triggers.on_kind)."""

    EVENT = "event"
    SIGNAL = "signal"


# The fields of each root a template may name; a field in OPEN_FIELDS holds any JSON, so
# paths go on below it unchecked (`event.detail.errorCode`, `task.payload.pages.0`).
ROOT_FIELDS: dict[str, frozenset[str]] = {
    "event": frozenset(
        {"id", "taskId", "type", "status", "taskType", "sequence", "detail", "occurredAt"}
    ),
    "task": frozenset({"id", "type", "payload", "correlationId", "traceId"}),
    "signal": frozenset({"id", "name", "key", "data"}),
}
OPEN_FIELDS = frozenset({"event.detail", "task.payload", "signal.data"})
# `result` is the source task's result: any JSON, checked no further.
RESULT_ROOT = "result"
ROOTS: dict[TriggerKind, frozenset[str]] = {
    TriggerKind.EVENT: frozenset({"event", "task", RESULT_ROOT}),
    TriggerKind.SIGNAL: frozenset({"signal"}),
}
# The events whose status can be Succeeded: the only ones that come with a result.
SUCCESS_EVENT_TYPES = frozenset({"TaskSucceeded", "BatchCompleted", "SagaCompleted"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a trigger: the field (a dotted path in the request) and why."""

    field: str
    message: str


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events fire a trigger: each list given must contain the event's value (its
    type, the status it left its task in, its task's type); None matches any."""

    event_types: Sequence[str] | None = None
    statuses: Sequence[TaskStatus] | None = None
    task_types: Sequence[str] | None = None

    def given(self) -> bool:
        return any(f is not None for f in (self.event_types, self.statuses, self.task_types))

    def can_succeed(self) -> bool:
        """Whether a matching event can be a success (and so carry a result)."""
        if self.statuses is not None and TaskStatus.SUCCEEDED not in self.statuses:
            return False
        return self.event_types is None or bool(SUCCESS_EVENT_TYPES & set(self.event_types))


def references(template: Any, at: str) -> Iterator[tuple[str, Any]]:
    """Every `$from` object in a template: (where it is, as a dotted path, the object)."""
    if isinstance(template, Mapping):
        if REFERENCE_KEY in template:
            yield at, template
            return
        for key, value in template.items():
            yield from references(value, f"{at}.{key}")
    elif isinstance(template, list | tuple):
        for index, value in enumerate(template):
            yield from references(value, f"{at}.{index}")


def reference_problem(
    path: Any, kind: TriggerKind, events: EventFilter | None = None
) -> str | None:
    """None when `path` names a value the trigger's events (or signals) have; else why
    not. Checked as far as the fields are known: below an open field, anything goes."""
    if not isinstance(path, str) or not path:
        return f"{REFERENCE_KEY} must be a dotted path such as 'event.taskId' or 'result'"
    parts = path.split(".")
    if any(not part for part in parts):
        return f"{path!r} has an empty step"
    root, rest = parts[0], parts[1:]
    roots = ROOTS[kind]
    if root not in roots:
        known = ", ".join(sorted(roots))
        return f"{path!r}: a {kind.value} trigger knows no {root!r}; it knows {known}"
    if root == RESULT_ROOT:
        if events is not None and not events.can_succeed():
            return (
                f"{path!r}: the result is there only when the event is a success "
                "(TaskSucceeded), and this trigger's filters never match one"
            )
        return None
    if not rest:
        return f"{path!r}: name a field of {root}: {', '.join(sorted(ROOT_FIELDS[root]))}"
    field = rest[0]
    if field not in ROOT_FIELDS[root]:
        known = ", ".join(sorted(ROOT_FIELDS[root]))
        return f"{path!r}: {root} has no field {field!r}; it has {known}"
    if len(rest) > 1 and f"{root}.{field}" not in OPEN_FIELDS:
        return f"{path!r}: {root}.{field} is a single value, with no fields of its own"
    return None


def template_problems(
    payload: Any, kind: TriggerKind, events: EventFilter | None = None, *, at: str
) -> list[Problem]:
    """What is wrong with a payload template (`at` names it in the request), if anything."""
    if isinstance(payload, Mapping) and REFERENCE_KEY in payload:
        return [
            Problem(
                f"{at}.{REFERENCE_KEY}",
                "the payload must be an object: put the reference under a key of it",
            )
        ]
    found = []
    for where, reference in references(payload, at):
        if set(reference) != {REFERENCE_KEY}:
            extra = ", ".join(sorted(str(k) for k in reference if k != REFERENCE_KEY))
            found.append(Problem(where, f"a {REFERENCE_KEY} object has no other keys ({extra})"))
            continue
        problem = reference_problem(reference[REFERENCE_KEY], kind, events)
        if problem is not None:
            found.append(Problem(f"{where}.{REFERENCE_KEY}", problem))
    return found


def filter_problems(
    kind: TriggerKind, events: EventFilter, known_event_types: frozenset[str], *, at: str
) -> list[Problem]:
    """What is wrong with what an event trigger waits for: it names at least one filter
    (a trigger on every event would fire on its own tasks' events too), no list is
    empty, and every event type is one the service writes."""
    if kind is not TriggerKind.EVENT:
        return []
    if not events.given():
        return [
            Problem(at, "an event trigger needs eventTypes, statuses or taskTypes (or a signal)")
        ]
    found = []
    for name, values in (
        ("eventTypes", events.event_types),
        ("statuses", events.statuses),
        ("taskTypes", events.task_types),
    ):
        if values is not None and not values:
            found.append(Problem(f"{at}.{name}", "give at least one value, or leave it out"))
    for index, event_type in enumerate(events.event_types or ()):
        if event_type not in known_event_types:
            found.append(
                Problem(f"{at}.eventTypes.{index}", f"{event_type!r} is not an event type")
            )
    return found


def resolve(template: Any, context: Mapping[str, Any]) -> Any:
    """The template with each `$from` replaced by the value at its path in `context`
    (null when there is none): what trigger_resolve does in the database."""
    if isinstance(template, Mapping):
        if REFERENCE_KEY in template:
            value: Any = context
            for step in str(template[REFERENCE_KEY]).split("."):
                if isinstance(value, Mapping):
                    value = value.get(step)
                elif isinstance(value, list) and step.lstrip("-").isdigit():
                    index = int(step)
                    value = value[index] if -len(value) <= index < len(value) else None
                else:
                    return None
            return value
        return {key: resolve(value, context) for key, value in template.items()}
    if isinstance(template, list | tuple):
        return [resolve(value, context) for value in template]
    return template
