"""Whether Postgres answers at a URL, waiting up to a deadline (a container that starts
next to its database runs `assistente migrate --wait 60`)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import structlog

log = structlog.get_logger("app.migrate")

RETRY_SECONDS = 1.0


class DatabaseUnreachable(Exception):
    """No connection to the database could be made; the message is the driver's first line."""


async def wait_for_database(url: str, wait_seconds: float = 0.0) -> None:
    """Return once a connection to `url` opens; retry for up to `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    attempts = 0
    while True:
        attempts += 1
        try:
            timeout = max(1, min(5, int(deadline - time.monotonic()) or 1))
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=timeout)
        except psycopg.OperationalError as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
            if time.monotonic() + RETRY_SECONDS > deadline:
                raise DatabaseUnreachable(reason) from error
            if attempts == 1:
                log.info("database_waiting", wait_seconds=wait_seconds, reason=reason)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        await conn.close()
        return
