"""Named SQL blocks: parsed by name, described, and refused when ambiguous."""

from __future__ import annotations

import pytest

from app.adapters.postgres.queries import load_queries, parse_queries

TEXT = """
-- name: task_get
-- Fetch one task.
SELECT * FROM tasks WHERE id = %(id)s;

-- name: task_count
-- Count them.
SELECT count(*) FROM tasks;
"""


def test_blocks_are_split_by_name_with_their_description() -> None:
    queries = parse_queries(TEXT, "tasks.sql")
    assert list(queries) == ["task_get", "task_count"]
    assert queries["task_get"].description == "Fetch one task."
    assert queries["task_get"].text == "SELECT * FROM tasks WHERE id = %(id)s;"


def test_a_name_used_twice_is_an_error() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries(TEXT + "\n-- name: task_get\nSELECT 1;", "tasks.sql")


def test_an_empty_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="has no SQL"):
        parse_queries("-- name: nothing\n-- just a comment\n", "x.sql")


def test_the_project_queries_load_and_each_has_a_description() -> None:
    queries = load_queries()
    assert "schema_migration_lock" in queries
    assert all(q.description for q in queries.values())
