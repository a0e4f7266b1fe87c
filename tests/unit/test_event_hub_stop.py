"""Stopping the API's event hub never hangs on its listener."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from app.api.streams import LISTENER_STOP_SECONDS, EventHub


async def test_a_listener_slow_to_cancel_does_not_hold_the_stop() -> None:
    async def stubborn(_on_tenant: Callable[..., Any], _on_task: Callable[..., Any]) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(30)  # as a query waiting for the server to cancel it

    hub = EventHub(stubborn)
    await hub.start()
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await hub.stop()
    assert time.monotonic() - started < LISTENER_STOP_SECONDS + 1
    assert hub._task is not None
    hub._task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await hub._task
