"""The pure rules of dependsOn: a DAG over the batch's tasks, or what is wrong with it."""

from __future__ import annotations

import pytest

from app.domain.dependencies import dependency_error


@pytest.mark.parametrize(
    "depends_on",
    [{}, {1: [0]}, {1: [0], 2: [1]}, {3: [0, 1, 2]}, {1: [0], 2: [0], 3: [1, 2]}, {2: [0, 0]}],
)
def test_a_dag_is_accepted(depends_on: dict[int, list[int]]) -> None:
    assert dependency_error(4, depends_on) is None


@pytest.mark.parametrize(
    ("depends_on", "problem"),
    [
        ({0: [0]}, "task 0 depends on itself"),
        ({0: [1], 1: [0]}, "dependsOn has a cycle through task 0"),
        ({1: [0], 2: [3], 3: [2]}, "dependsOn has a cycle through task 2"),
        ({1: [4]}, "dependsOn names a task that is not in the batch"),
        ({5: [0]}, "dependsOn names a task that is not in the batch"),
    ],
)
def test_what_is_not_a_dag_is_named(depends_on: dict[int, list[int]], problem: str) -> None:
    assert dependency_error(4, depends_on) == problem
