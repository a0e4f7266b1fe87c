"""What a worker holds ahead when its event loop is busy: a task waiting to start is not
a long task."""

from __future__ import annotations

import time
import uuid

from app.application.execution import RunningAttempt
from app.application.handlers import HandlerRegistry
from app.application.ports import LeasedTask
from app.application.worker import Worker, WorkerConfig
from tests.factories import bare_context


def leased(attempt_id: int) -> LeasedTask:
    return LeasedTask(
        uuid.uuid4(), uuid.uuid4(), "t", None, {}, attempt_id, 1, 3, None, None, None, None
    )


def worker_with_short_tasks() -> Worker:
    worker = Worker(
        HandlerRegistry(),
        store=None,  # type: ignore[arg-type]  # nothing here writes
        signals=None,  # type: ignore[arg-type]
        config=WorkerConfig(worker_id="w", concurrency=2),
    )
    worker._ahead.observe(0.001)  # tasks take a millisecond: hold work ahead
    worker._ready.extend([leased(10), leased(11)])
    return worker


def running(attempt_id: int, *, entered: bool, seconds_ago: float) -> RunningAttempt:
    attempt = RunningAttempt(leased(attempt_id), bare_context())
    attempt.entered = entered
    attempt.started = time.monotonic() - seconds_ago
    return attempt


def test_a_task_waiting_for_a_busy_loop_to_start_it_hands_nothing_back() -> None:
    worker = worker_with_short_tasks()
    worker._running[1] = running(1, entered=False, seconds_ago=1.0)
    worker._notice_long_tasks()
    assert len(worker._ready) == 2
    assert len(worker._outcomes) == 0


def test_a_handler_that_has_ended_but_is_not_yet_cleared_away_hands_nothing_back() -> None:
    worker = worker_with_short_tasks()
    attempt = running(1, entered=True, seconds_ago=1.0)
    attempt.ended = attempt.started + 0.0001
    worker._running[1] = attempt
    worker._notice_long_tasks()
    assert len(worker._ready) == 2
    assert len(worker._outcomes) == 0


def test_a_handler_running_long_hands_back_what_is_held_beyond_free_slots() -> None:
    worker = worker_with_short_tasks()
    worker._running[1] = running(1, entered=True, seconds_ago=1.0)
    worker._notice_long_tasks()
    assert len(worker._ready) == 1  # two slots, one busy: one held task is kept
    assert len(worker._outcomes) == 1  # the other goes back to the queue (Released)
