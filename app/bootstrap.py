"""The composition root: the only module that names concrete adapters.

Processes (API, worker, relay, dev) ask this module for what they need; it
wires settings to adapters and adapters to use cases. Nothing connects at
import time: pools are created closed and opened when a process starts serving.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from psycopg_pool import AsyncConnectionPool
from quart import Quart

from app.adapters.postgres.embedded import start_embedded_postgres
from app.adapters.postgres.health_check import PgHealthCheck
from app.adapters.postgres.migrator import MigrationError, MigrationReport, migrate
from app.adapters.postgres.pool import create_pool, open_pool
from app.api import create_app
from app.config import ConfigError, Settings

__all__ = [
    "ConfigError",
    "MigrationError",
    "MigrationReport",
    "Services",
    "build_api",
    "build_services",
    "database_url",
    "embedded_database_url",
    "rabbitmq_reachable",
    "run_migrations",
]


@dataclass(slots=True)
class Services:
    """The adapters one process uses, wired and ready to start."""

    settings: Settings
    pool: AsyncConnectionPool

    async def start(self, *, wait: bool = True) -> None:
        await open_pool(self.pool, wait=wait)

    async def start_in_background(self) -> None:
        """Open the pool without waiting: the API starts even while Postgres is down."""
        await self.start(wait=False)

    async def stop(self) -> None:
        await self.pool.close()


def database_url(settings: Settings) -> str:
    """The configured database URL, or a clear error when there is none."""
    if settings.database_url is None:
        raise ConfigError(
            "DATABASE_URL is not set. Set it to a postgresql:// URL, or use `assistente dev`, "
            "which starts an embedded Postgres when DATABASE_URL is unset."
        )
    return settings.database_url.get_secret_value()


def embedded_database_url(settings: Settings) -> str:
    """Start the embedded Postgres under EMBEDDED_DB_DIR and return its URL."""
    return start_embedded_postgres(Path(settings.embedded_db_dir))


async def run_migrations(url: str) -> MigrationReport:
    """Apply pending migrations to the database at `url`."""
    return await migrate(url)


def build_services(settings: Settings, *, process: str, url: str | None = None) -> Services:
    """Wire the adapters for one process."""
    pool = create_pool(
        url or database_url(settings),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        name=process,
    )
    return Services(settings=settings, pool=pool)


def build_api(services: Services) -> Quart:
    """The Quart app over `services`; the pool opens when serving starts."""
    return create_app(
        health_checks=[PgHealthCheck(services.pool)],
        on_startup=[services.start_in_background],
        on_shutdown=[services.stop],
        max_payload_bytes=services.settings.max_payload_bytes,
    )


def rabbitmq_reachable(settings: Settings, *, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at AMQP_URL's host and port."""
    parts = urlsplit(settings.amqp_url.get_secret_value())
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False
