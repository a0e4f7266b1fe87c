"""Triggers as lines for `assistente triggers list`: one each, what it waits for, what it
starts, whether it is active and how often it fired."""

from __future__ import annotations

from collections.abc import Sequence

from app.application.triggers import TriggerRecord
from app.domain.triggers import TriggerKind


def waits_for(trigger: TriggerRecord) -> str:
    """`signal <name>`, or the event filters given (`TaskSucceeded of ocr`)."""
    if trigger.kind is TriggerKind.SIGNAL:
        return f"signal {trigger.signal_name}"
    events = trigger.events
    parts = [",".join(events.event_types or ["any event"])]
    if events.statuses is not None:
        parts.append("to " + ",".join(s.value for s in events.statuses))
    if events.task_types is not None:
        parts.append("of " + ",".join(events.task_types))
    return " ".join(parts)


def trigger_lines(triggers: Sequence[TriggerRecord]) -> list[str]:
    """One line per trigger; a second, indented, for its last error."""
    if not triggers:
        return ["no triggers"]
    lines = []
    for t in triggers:
        state = "active" if t.active else "paused"
        lines.append(
            f"{t.id}  {t.name}  {state}  on {waits_for(t)} -> {t.task.get('type')}"
            f"  fired {t.fired_count}, skipped {t.skipped_count}"
        )
        if t.last_error:
            lines.append(f"    last error: {t.last_error[:120]}")
    return lines
