"""Checks a command makes before it announces itself, each failing with one line that
names the setting to change: the API port, the database, the broker, the embedded
Postgres of `assistente dev`."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable
from pathlib import Path

import pika
import pika.exceptions

from app.adapters.postgres.embedded import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    find_running,
    start_embedded_postgres,
)
from app.adapters.postgres.migrator import MigrationReport, migrate
from app.adapters.postgres.reachability import DatabaseUnreachable, wait_for_database
from app.adapters.rabbitmq.tail import tail_events
from app.config import Settings
from app.logging import redact_text

__all__ = [
    "EmbeddedPostgres",
    "Unavailable",
    "check_broker",
    "check_port_free",
    "find_embedded_database",
    "migrate_when_reachable",
    "start_embedded_database",
    "tail_events_or_fail",
]


class Unavailable(Exception):
    """Something the command needs is not there; the message is the one line to show."""


def check_port_free(host: str, port: int) -> None:
    """Raise Unavailable unless the API could listen on host:port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        # As the server will: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as error:
            raise Unavailable(f"API_HOST {host!r} is not an address: {error.strerror}") from error
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise Unavailable(
                    f"API_PORT {port} is in use on {host}: stop what listens there, "
                    "or pick another port with --port or API_PORT"
                ) from error
            raise Unavailable(
                f"cannot listen on API_HOST {host} API_PORT {port}: {error.strerror}"
            ) from error


async def migrate_when_reachable(url: str, wait_seconds: float = 0.0) -> MigrationReport:
    """Wait up to `wait_seconds` for the database to answer, then migrate it."""
    try:
        await wait_for_database(url, wait_seconds)
    except DatabaseUnreachable as error:
        waited = f" after waiting {wait_seconds:g}s" if wait_seconds else ""
        raise Unavailable(
            f"cannot reach Postgres at DATABASE_URL={redact_text(url)}{waited}: "
            f"{redact_text(str(error))}"
        ) from error
    return await migrate(url)


def check_broker(settings: Settings) -> None:
    """Raise Unavailable unless RabbitMQ accepts our login at AMQP_URL."""
    url = settings.amqp_url.get_secret_value()
    quiet = logging.getLogger("pika")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # pika logs each failed step, traceback included
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPConnectionError as error:
        raise _broker_unavailable(url, error) from error
    finally:
        quiet.setLevel(level)


def tail_events_or_fail(settings: Settings, routing_key: str, emit: Callable[[str], None]) -> None:
    """`tail_events` over AMQP_URL; an unreachable broker is one Unavailable line."""
    url = settings.amqp_url.get_secret_value()
    try:
        tail_events(url, settings.relay_exchange, routing_key, emit)
    except pika.exceptions.AMQPConnectionError as error:
        raise _broker_unavailable(url, error) from error


def _broker_unavailable(url: str, error: Exception) -> Unavailable:
    # pika nests the cause: AMQPConnectionError((AMQPConnectorSocketConnectError(...),)).
    cause = error.args[0] if error.args else error
    reason = " ".join((str(cause) or repr(cause)).split())
    return Unavailable(
        f"cannot reach RabbitMQ at AMQP_URL={redact_text(url)}: {redact_text(reason)}"
    )


def start_embedded_database(settings: Settings) -> EmbeddedPostgres:
    """Start (or reuse) the embedded Postgres under EMBEDDED_DB_DIR."""
    try:
        return start_embedded_postgres(Path(settings.embedded_db_dir))
    except EmbeddedPostgresError as error:
        raise Unavailable(str(error)) from error


def find_embedded_database(settings: Settings) -> str | None:
    """The URL of the embedded Postgres a running `assistente dev` serves, if any."""
    return find_running(Path(settings.embedded_db_dir))


async def check_database(url: str) -> None:
    """Raise Unavailable, with the driver's reason on one line, unless `url` answers now."""
    try:
        await wait_for_database(url)
    except DatabaseUnreachable as error:
        raise Unavailable(
            f"cannot reach Postgres at DATABASE_URL={redact_text(url)}: {redact_text(str(error))}"
        ) from error
