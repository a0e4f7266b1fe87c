"""The saga rules checked before a saga is created, and which steps are compensated."""

from __future__ import annotations

from app.domain.sagas import compensated_steps, saga_error


def test_a_step_may_use_the_result_of_an_earlier_step_by_name_or_position() -> None:
    payloads = [{}, {"id": {"$fromStep": "reserve", "path": "id"}}, {"all": [{"$fromStep": 1}]}]
    assert saga_error(["reserve", None, None], payloads, [None] * 3) is None


def test_a_step_may_not_use_its_own_or_a_later_result() -> None:
    problem = saga_error([None, None], [{"x": {"$fromStep": 1}}, {}], [None, None])
    assert problem == "steps[0].payload refers to 1, which is not an earlier step"
    assert saga_error(["a"], [{"x": {"$fromStep": "a"}}], [None]) is not None


def test_a_compensation_may_use_its_own_steps_result() -> None:
    assert saga_error([None], [{}], [{"booking": {"$fromStep": 0, "path": "id"}}]) is None


def test_a_malformed_reference_is_refused() -> None:
    problem = saga_error([None, None], [{}, {"x": {"$fromStep": 0, "extra": 1}}], [None, None])
    assert problem == "steps[1].payload: a $fromStep reference is malformed"


def test_compensations_run_newest_first_and_the_failed_step_only_if_it_ran() -> None:
    done = [True, True, False]
    every = [True, True, True]
    ran = compensated_steps(
        done, every, failed_step=2, failed_step_ran=True, compensate_failed_step=True
    )
    assert ran == [2, 1, 0]
    never_ran = compensated_steps(
        done, every, failed_step=2, failed_step_ran=False, compensate_failed_step=True
    )
    assert never_ran == [1, 0]
    assert compensated_steps(
        done, [False, True, True], failed_step=2, failed_step_ran=True, compensate_failed_step=False
    ) == [1]
