"""TaskContext: progress is coalesced in memory and checked before it can break a write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from app.application.context import TaskCancelled, TaskContext
from tests.factories import bare_context


def context() -> TaskContext:
    return bare_context()


def test_updates_coalesce_into_the_latest_values() -> None:
    ctx = context()
    ctx.update(state="a", progress=10, metadata={"x": 1})
    ctx.update(progress=20, metadata={"y": 2})
    pending = ctx.take_progress()
    assert pending is not None
    assert (pending.state, pending.progress, pending.metadata) == ("a", 20, {"x": 1, "y": 2})
    assert ctx.take_progress() is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"progress": 101},
        {"state": "x" * 201},
        {"state": "nul\x00"},
        {"metadata": {"when": datetime.now(UTC)}},
        {"metadata": {"text": "nul\x00"}},
    ],
)
def test_values_the_database_would_refuse_are_refused_at_once(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        context().update(**kwargs)


def test_cancellation_is_visible_to_the_handler() -> None:
    ctx = context()
    ctx.raise_if_cancelled()
    ctx.mark_cancelled()
    assert ctx.cancelled
    with pytest.raises(TaskCancelled):
        ctx.raise_if_cancelled()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content": "inline text is measured when stored", "size_bytes": 3},
        {"uri": "artifact://local/x", "size_bytes": -1},
    ],
)
async def test_a_size_is_taken_only_for_a_uri_and_never_negative(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="size_bytes"):
        await context().add_artifact("file", **kwargs)
