"""What `assistente dev` sets up around its API: the database and the worker child."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

import structlog

from app.bootstrap import ConfigError, database_url, embedded_database_url
from app.config import Settings
from workers.supervisor import RestartPolicy, supervise


def dev_database(settings: Settings, echo: Callable[[str], None]) -> str:
    """DATABASE_URL, or the embedded Postgres (started or reused) when it is unset.

    Raises ConfigError, or Unavailable when the embedded Postgres cannot start.
    """
    if settings.database_url is not None:
        return database_url(settings)
    if not settings.is_development:
        raise ConfigError("`assistente dev` without DATABASE_URL is for APP_ENV=Development")
    echo(f"DATABASE_URL is not set: starting embedded Postgres in {settings.embedded_db_dir}")
    embedded = embedded_database_url(settings)
    if embedded.left_over_pid is not None:
        echo(
            f"found an embedded Postgres (pid {embedded.left_over_pid}) left running by an"
            " `assistente dev` that was killed: reusing it; it stops when this dev stops"
        )
    structlog.get_logger("app.dev").info(
        "embedded_postgres_started",
        data_dir=str(embedded.data_dir),
        reused_pid=embedded.left_over_pid,
    )
    echo(f"embedded Postgres at {embedded.url} (migrate and tenants find it while dev runs)")
    return embedded.url


def worker_child(settings: Settings, url: str) -> Callable[[asyncio.Event], Awaitable[None]]:
    """`run(stop)`: keep an `assistente worker` child running on `url` until `stop`.

    A handler that kills its process (demo.crash) takes down that child only, and it
    is started again; the child stops by itself if this process disappears.
    """
    argv = [sys.executable, "-m", "app.cli", "worker", "--parent-pid", str(os.getpid())]
    env = {**os.environ, "DATABASE_URL": url}
    policy = RestartPolicy(stop_timeout=settings.worker_shutdown_grace_seconds + 5)

    async def run(stop: asyncio.Event) -> None:
        await supervise("worker", argv, stop, env=env, policy=policy)

    return run
