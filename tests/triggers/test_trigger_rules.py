"""The rules a trigger is checked against (app/domain/triggers.py): pure, no database."""

from __future__ import annotations

import pytest

from app.application.triggers import EVENT_TYPE_NAMES
from app.domain.enums import TaskStatus
from app.domain.triggers import (
    EventFilter,
    Problem,
    TriggerKind,
    filter_problems,
    reference_problem,
    resolve,
    template_problems,
)

EVENT = TriggerKind.EVENT
SIGNAL = TriggerKind.SIGNAL


@pytest.mark.parametrize(
    "path",
    ["event.taskId", "event.detail.errorCode.deep", "task.payload.a.0", "result", "result.x.1"],
)
def test_paths_an_event_has_are_accepted(path: str) -> None:
    assert reference_problem(path, EVENT) is None


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("event.colour", "event has no field 'colour'"),
        ("event.taskId.x", "single value"),
        ("signal.key", "knows no 'signal'"),
        ("event", "name a field of event"),
        ("", "dotted path"),
        ("a..b", "empty step"),
    ],
)
def test_paths_an_event_cannot_have_say_why(path: str, says: str) -> None:
    problem = reference_problem(path, EVENT)
    assert problem is not None and says in problem


def test_a_signal_trigger_knows_only_the_signal() -> None:
    assert reference_problem("signal.data.anything", SIGNAL) is None
    assert reference_problem("result", SIGNAL) is not None


def test_the_result_needs_filters_that_can_match_a_success() -> None:
    assert EventFilter(task_types=["ocr"]).can_succeed()
    assert EventFilter(event_types=["TaskSucceeded", "TaskFailed"]).can_succeed()
    assert not EventFilter(event_types=["TaskFailed"]).can_succeed()
    assert not EventFilter(statuses=[TaskStatus.DEAD_LETTER]).can_succeed()
    failed = EventFilter(event_types=["TaskFailed"])
    assert reference_problem("result.text", EVENT, failed) is not None


def test_every_problem_of_a_template_is_named_by_its_path() -> None:
    template = {"a": [{"$from": "event.nope"}], "b": {"c": {"$from": "x"}}, "d": {"$from": 1}}
    assert [p.field for p in template_problems(template, EVENT, at="task.payload")] == [
        "task.payload.a.0.$from",
        "task.payload.b.c.$from",
        "task.payload.d.$from",
    ]


def test_an_event_trigger_needs_a_filter_and_known_event_types() -> None:
    assert filter_problems(EVENT, EventFilter(), EVENT_TYPE_NAMES, at="on") == [
        Problem("on", "an event trigger needs eventTypes, statuses or taskTypes (or a signal)")
    ]
    found = filter_problems(
        EVENT, EventFilter(event_types=["TaskQueued", "Nope"]), EVENT_TYPE_NAMES, at="on"
    )
    assert [p.field for p in found] == ["on.eventTypes.1"]
    assert filter_problems(SIGNAL, EventFilter(), EVENT_TYPE_NAMES, at="on") == []


def test_resolving_replaces_references_and_keeps_the_rest() -> None:
    context = {"event": {"taskId": "t1"}, "result": {"pages": [1, 2]}}
    template = {"id": {"$from": "event.taskId"}, "last": {"$from": "result.pages.-1"}, "k": [1]}
    assert resolve(template, context) == {"id": "t1", "last": 2, "k": [1]}
    assert resolve({"x": {"$from": "result.pages.5"}}, context) == {"x": None}
