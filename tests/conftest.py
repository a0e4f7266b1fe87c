"""Shared fixtures: real Postgres, one database per test cloned from a migrated template.

Tests never share rows: each gets its own database. A missing service is an
error, never a skip, and any skipped test fails the run (see the hooks below).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from app.adapters.postgres.embedded import start_embedded_postgres
from app.adapters.postgres.migrator import migrate

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parents[1]
_admin_url: list[str] = []


def admin_url() -> str:
    """The server tests create their databases on (resolved once per session)."""
    if not _admin_url:
        _admin_url.append(_resolve_admin_url())
    return _admin_url[0]


def _resolve_admin_url() -> str:
    explicit = os.environ.get("TEST_DATABASE_URL")
    url = explicit or DEFAULT_ADMIN_URL
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return url
    except psycopg.OperationalError as error:
        if explicit:
            pytest.fail(f"PostgreSQL is not reachable at TEST_DATABASE_URL ({error})")
    # A laptop with no Postgres: run the suite on an embedded one (a real server all the same).
    return start_embedded_postgres(ROOT / ".data" / "test-pgserver")


def url_for(database: str) -> str:
    """The admin URL pointed at another database on the same server."""
    return urlsplit(admin_url())._replace(path=f"/{database}").geturl()


def _admin(statement: sql.Composable) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(statement)


def create_database(template: str | None = None) -> str:
    """A new, uniquely named database (cloned from `template` if given); returns its name."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
    _admin(statement)
    return name


def drop_database(name: str) -> None:
    _admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_available() -> str:
    """The admin URL of a reachable server; fails the tests (never skips) when there is none."""
    return admin_url()


@pytest.fixture(scope="session")
def template_database(postgres_available: str) -> Iterator[str]:
    """A database migrated once per session; per-test databases are cloned from it."""
    name = create_database()
    asyncio.run(migrate(url_for(name)))
    yield name
    drop_database(name)


@pytest.fixture
def database_url(template_database: str) -> Iterator[str]:
    """A fresh, fully migrated database of this test's own."""
    name = create_database(template=template_database)
    yield url_for(name)
    drop_database(name)


@pytest.fixture
def empty_database_url(postgres_available: str) -> Iterator[str]:
    """A fresh database with nothing in it, for migration tests."""
    name = create_database()
    yield url_for(name)
    drop_database(name)


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[psycopg.AsyncConnection[tuple[object, ...]]]:
    """An autocommit connection to this test's migrated database."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        yield connection


# A skipped test hides a missing service or an unfinished feature: fail the run instead.
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skipped:
        terminalreporter.write_line(
            f"FAILED: {len(_skipped)} test(s) skipped; skips are not allowed in this suite",
            red=True,
        )
