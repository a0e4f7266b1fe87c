"""Parked tasks as lines for `assistente tasks waiting`: what each waits for, since
when, for how long, and what its deadline does (the task_waiting view)."""

from __future__ import annotations

from datetime import timedelta

from app.application.decisions import ParkedTask

QUESTION_SHOWN = 60


def _duration(waited: timedelta) -> str:
    seconds = max(int(waited.total_seconds()), 0)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{days}d {clock}" if days else clock


def _what(task: ParkedTask) -> str:
    if task.kind == "signal":
        return f"signal {task.signal_name}/{task.signal_key}"
    if task.kind in ("approval", "input"):
        question = task.question or ""
        if len(question) > QUESTION_SHOWN:
            question = question[: QUESTION_SHOWN - 1] + "…"
        return f"{task.kind} {question!r}"
    return task.wait_reason or "nothing (held)"


def waiting_lines(tasks: list[ParkedTask]) -> list[str]:
    """One line per parked task, the longest waiting first (as given)."""
    lines = []
    for task in tasks:
        deadline = ""
        if task.deadline_at is not None:
            deadline = f"  deadline {task.deadline_at.isoformat()} -> {task.on_deadline}"
        lines.append(
            f"{task.task_id}  {task.type}  waits for {_what(task)}"
            f"  since {task.since.isoformat()} ({_duration(task.waiting)}){deadline}"
        )
    return lines
