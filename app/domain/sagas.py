"""Sagas: ordered steps, each released once the step before it succeeded, with
compensations run newest first when a step does not succeed (or the saga is cancelled).

The database moves a saga on (saga_advance, in the transaction of each step's ending);
these are the rules it follows, and the checks made on a saga before it is created.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

# A step's payload may name an earlier step's result: {"$fromStep": <name or position>,
# "path": "a.b"} anywhere in it is replaced by that result (or the value at `path`),
# when the step is released.
REFERENCE_KEY = "$fromStep"

MAX_SAGA_STEPS = 100


class SagaPhase(StrEnum):
    """Where a saga is (task_groups.phase)."""

    RUNNING = "running"
    COMPENSATING = "compensating"
    COMPLETED = "completed"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


def references(value: Any) -> Iterator[Any]:
    """Every `$fromStep` target named anywhere in a payload."""
    if isinstance(value, Mapping):
        if REFERENCE_KEY in value:
            yield value[REFERENCE_KEY]
            return
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from references(item)


def _reference_ok(value: Any, path: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool) and isinstance(path, str)


def malformed_reference(value: Any) -> bool:
    """True when a `$fromStep` object is not {"$fromStep": name|position, "path"?: str}."""
    if isinstance(value, Mapping):
        if REFERENCE_KEY in value:
            extra = set(value) - {REFERENCE_KEY, "path"}
            return bool(extra) or not _reference_ok(value[REFERENCE_KEY], value.get("path", ""))
        return any(malformed_reference(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(malformed_reference(v) for v in value)
    return False


def saga_error(
    names: Sequence[str | None],
    payloads: Sequence[Any],
    compensation_payloads: Sequence[Any | None],
) -> str | None:
    """None when the steps can run as given; else what is wrong, in words. A step may
    name only steps before it; a compensation, its own step and those before it."""
    if not 1 <= len(names) <= MAX_SAGA_STEPS:
        return f"a saga needs 1 to {MAX_SAGA_STEPS} steps"
    position: dict[str, int] = {}
    for index, name in enumerate(names):
        if name is not None:
            if name in position or name.isdigit():
                return f"step name {name!r} is given twice or is a number"
            position[name] = index
    for index, (payload, compensation) in enumerate(
        zip(payloads, compensation_payloads, strict=True)
    ):
        for where, value, limit in (
            (f"steps[{index}].payload", payload, index - 1),
            (f"steps[{index}].compensation.payload", compensation, index),
        ):
            if malformed_reference(value):
                return f"{where}: a {REFERENCE_KEY} reference is malformed"
            for target in references(value):
                at = position.get(target) if isinstance(target, str) else target
                if at is None or not 0 <= at <= limit:
                    return f"{where} refers to {target!r}, which is not an earlier step"
    return None


def compensated_steps(
    succeeded: Sequence[bool],
    has_compensation: Sequence[bool],
    *,
    failed_step: int | None,
    failed_step_ran: bool,
    compensate_failed_step: bool,
) -> list[int]:
    """The steps whose compensations run, in the order they run (newest first): those
    that succeeded, and the failed step itself if it ran at least once and
    `compensate_failed_step` (mirrors saga_advance)."""
    chosen = [
        i
        for i, ok in enumerate(succeeded)
        if has_compensation[i]
        and (ok or (compensate_failed_step and i == failed_step and failed_step_ran))
    ]
    return sorted(chosen, reverse=True)
