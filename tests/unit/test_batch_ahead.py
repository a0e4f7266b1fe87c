"""How much work a worker holds beyond its free slots, from the durations it sees."""

from __future__ import annotations

from app.domain.batch_ahead import MAX_PREFETCH, BatchAhead


def test_nothing_is_held_ahead_before_any_task_has_ended() -> None:
    assert BatchAhead(concurrency=10).size() == 0


def test_short_tasks_are_held_ahead_for_about_twenty_milliseconds_of_work() -> None:
    ahead = BatchAhead(concurrency=10)
    ahead.observe(0.004)  # 10 slots x 20 ms / 4 ms = 50 tasks
    assert ahead.size() == 50


def test_the_batch_ahead_is_at_least_the_concurrency_and_at_most_the_cap() -> None:
    ahead = BatchAhead(concurrency=10)
    ahead.observe(0.02)
    assert ahead.size() == 10
    instant = BatchAhead(concurrency=10)
    instant.observe(0.00001)
    assert instant.size() == MAX_PREFETCH


def test_long_tasks_hold_nothing_and_the_turn_is_reported_once() -> None:
    ahead = BatchAhead(concurrency=10)
    ahead.observe(0.001)
    assert ahead.observe(0.5, still_running=True) is True
    assert ahead.size() == 0
    assert ahead.observe(0.6, still_running=True) is False


def test_a_mix_near_the_line_does_not_flap() -> None:
    ahead = BatchAhead(concurrency=10)
    ahead.observe(0.06)  # long
    for _ in range(20):
        ahead.observe(0.03)  # below the line, but not below half of it
    assert not ahead.tasks_are_short
    assert ahead.size() < 10  # no batch per slot, only the work of about 20 ms
    for _ in range(100):
        ahead.observe(0.001)
    assert ahead.tasks_are_short
    assert ahead.size() >= 10


def test_many_slots_of_long_tasks_hold_the_work_that_ends_during_a_claim() -> None:
    ahead = BatchAhead(concurrency=500)
    ahead.observe(0.2)  # 500 slots x 20 ms / 200 ms = 50 tasks
    assert ahead.size() == 50
    seconds = BatchAhead(concurrency=500)
    seconds.observe(30.0)  # AI calls of half a minute: nothing held
    assert seconds.size() == 0


def test_a_running_task_shorter_than_the_average_changes_nothing() -> None:
    ahead = BatchAhead(concurrency=10)
    ahead.observe(0.01)
    ahead.observe(0.005, still_running=True)
    assert ahead.average_seconds == 0.01


def test_an_operators_fixed_size_wins() -> None:
    ahead = BatchAhead(concurrency=10, fixed=7)
    ahead.observe(5.0)
    assert ahead.size() == 7


def test_one_stalled_task_does_not_make_short_work_long() -> None:
    ahead = BatchAhead(concurrency=10)
    for _ in range(50):
        ahead.observe(0.001)
    assert ahead.observe(1.5) is False  # a process descheduled for 1.5 s
    assert ahead.tasks_are_short


def test_work_that_really_turns_long_shows_within_a_few_tasks() -> None:
    ahead = BatchAhead(concurrency=10)
    for _ in range(50):
        ahead.observe(0.001)
    turned = [ahead.observe(2.0) for _ in range(30)]
    assert turned.count(True) == 1
    assert not ahead.tasks_are_short
