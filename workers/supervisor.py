"""Run a process as a child and start it again when it dies, with a growing pause.

`assistente dev` runs its worker this way: a handler that kills its own process
(`demo.crash`, a segfaulting library) takes down the worker, not the API and relay
that share the terminal. The child runs in its own session so that Ctrl+C reaches
only the parent, which then asks the child to stop with SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import structlog

log = structlog.get_logger("app.supervisor")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """Pause before a restart: `first`, doubled per quick death up to `longest`; a child
    that lived `healthy_after` seconds starts the count again."""

    first: float = 1.0
    longest: float = 30.0
    healthy_after: float = 30.0
    # How long a child asked to stop may take before it is killed.
    stop_timeout: float = 15.0


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"exit code {code}"


async def supervise(
    name: str,
    argv: Sequence[str],
    stop: asyncio.Event,
    *,
    env: Mapping[str, str] | None = None,
    policy: RestartPolicy | None = None,
) -> None:
    """Keep `argv` running until `stop` is set; then SIGTERM it and wait for it."""
    policy = policy or RestartPolicy()
    pause = policy.first
    while not stop.is_set():
        started = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            *argv, env=dict(env) if env is not None else None, start_new_session=True
        )
        log.info("child_started", child=name, pid=child.pid)
        exited = asyncio.ensure_future(child.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not exited.done():
            await _stop(child, exited, policy.stop_timeout)
            return
        code = exited.result()
        if stop.is_set():
            return
        if time.monotonic() - started >= policy.healthy_after:
            pause = policy.first
        log.warning(
            "child_restarting", child=name, pid=child.pid, ended=_exit_text(code), pause=pause
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(pause * 2, policy.longest)


async def _stop(
    child: asyncio.subprocess.Process, exited: asyncio.Future[int], grace: float
) -> None:
    with contextlib.suppress(ProcessLookupError):
        child.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(exited), timeout=grace)
    except TimeoutError:
        log.warning("child_killed", pid=child.pid, after_seconds=grace)
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await exited
