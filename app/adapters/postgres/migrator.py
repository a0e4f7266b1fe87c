"""Forward-only SQL migrations from `sql/migrations/NNNN_name.sql`.

- Safe to run twice, and twice at once: an advisory lock serialises runners, and
  each migration is applied in its own transaction together with its record.
- A migration that cannot run in a transaction (first line
  `-- migrate: no-transaction`, exactly one statement) is recorded as `started`
  before it runs, so a crash part-way leaves a row that stops the next run with
  a clear message instead of a silently half-built schema.
- A landed migration is never edited: a changed checksum stops the run, and so
  does a recorded migration this code does not know (the database is newer).
- PGMQ's SQL-only install, from the `pgmq` package, runs first as step 0000:
  the outbox (0002) is a PGMQ queue.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import LiteralString

import psycopg
import structlog
from psycopg.rows import dict_row

from app.adapters.postgres.queries import query, sql_dir

log = structlog.get_logger("app.migrate")

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_NO_TRANSACTION = "-- migrate: no-transaction"
PGMQ_VERSION = 0


class MigrationError(Exception):
    """The schema cannot be brought up to date safely; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration step."""

    version: int
    name: str
    sql: LiteralString
    transactional: bool = True
    checksum: str = field(init=False)

    def __post_init__(self) -> None:
        normalised = self.sql.replace("\r\n", "\n").strip()
        object.__setattr__(self, "checksum", hashlib.sha256(normalised.encode()).hexdigest())

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


@dataclass(slots=True)
class MigrationReport:
    """What a run did."""

    applied: list[str] = field(default_factory=list)
    already_applied: int = 0


def pgmq_migration() -> Migration:
    """Step 0000: the PGMQ SQL shipped inside the `pgmq` package."""
    from pgmq.install import get_embedded_install_sql, get_embedded_sql_version

    version = str(get_embedded_sql_version()).replace(".", "_")
    return Migration(PGMQ_VERSION, f"pgmq_sql_{version}", get_embedded_install_sql())


def discover_migrations(folder: Path | None = None) -> list[Migration]:
    """The numbered files under `sql/migrations`, checked for names and gaps in meaning."""
    folder = folder or sql_dir() / "migrations"
    migrations: dict[int, Migration] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_lower_snake_name.sql"
            )
        version = int(match.group(1))
        if version == PGMQ_VERSION:
            raise MigrationError(f"{path.name}: version 0000 is reserved for the PGMQ install")
        if version in migrations:
            raise MigrationError(f"two migrations share version {version:04d}")
        text = path.read_text(encoding="utf-8")
        migrations[version] = Migration(
            version,
            match.group(2),
            text,
            transactional=not text.lstrip().startswith(_NO_TRANSACTION),
        )
    return [migrations[v] for v in sorted(migrations)]


async def migrate(conninfo: str, folder: Path | None = None) -> MigrationReport:
    """Bring the database at `conninfo` up to date; see the module docstring."""
    plan = [pgmq_migration(), *discover_migrations(folder)]
    report = MigrationReport()
    async with await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, row_factory=dict_row
    ) as conn:
        await conn.execute(query("schema_migration_lock"))
        try:
            await conn.execute(query("schema_migration_create_table"))
            cursor = await conn.execute(query("schema_migration_list"))
            recorded = {row["version"]: row for row in await cursor.fetchall()}
            _check_recorded(plan, recorded)
            for migration in plan:
                if migration.version in recorded:
                    report.already_applied += 1
                    continue
                await _apply(conn, migration)
                report.applied.append(migration.label)
        finally:
            await conn.execute(query("schema_migration_unlock"))
    return report


def _check_recorded(plan: list[Migration], recorded: dict[int, dict[str, object]]) -> None:
    known = {m.version: m for m in plan}
    for version, row in recorded.items():
        label = f"{version:04d}_{row['name']}"
        if row["state"] == "started":
            raise MigrationError(
                f"migration {label} started at {row['started_at'] or 'an unknown time'} but "
                "never finished: it runs outside a transaction, so part of it may be in the "
                "database. Inspect the schema, finish or undo that step by hand, then delete "
                f"its row (DELETE FROM schema_migrations WHERE version = {version}) and run "
                "migrate again."
            )
        if version not in known:
            raise MigrationError(
                f"the database has migration {label}, which this code does not know: it was "
                "migrated by a newer release. Run that release (or newer), not this one."
            )
        if version == PGMQ_VERSION:
            if row["checksum"] != known[version].checksum:
                # SQL-only PGMQ has no upgrade path; the installed one keeps working.
                log.warning("pgmq_sql_differs", installed=row["name"], packaged=known[version].name)
            continue
        if row["checksum"] != known[version].checksum:
            raise MigrationError(
                f"migration {label} was changed after it was applied (checksum differs). "
                "Landed migrations are never edited: restore the file and add a new migration."
            )


async def _apply(conn: psycopg.AsyncConnection[dict[str, object]], migration: Migration) -> None:
    params = {"version": migration.version, "name": migration.name, "checksum": migration.checksum}
    started = time.perf_counter()
    if migration.version == PGMQ_VERSION:
        cursor = await conn.execute(query("schema_migration_pgmq_installed"))
        row = await cursor.fetchone()
        if row and row["installed"]:
            # Already there as a server extension (or a previous install): just record it.
            await conn.execute(query("schema_migration_record"), {**params, "duration_ms": 0})
            return
    try:
        if migration.transactional:
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    query("schema_migration_record"), {**params, "duration_ms": _ms(started)}
                )
        else:
            await conn.execute(query("schema_migration_start"), params)
            await conn.execute(migration.sql)
            await conn.execute(
                query("schema_migration_record"), {**params, "duration_ms": _ms(started)}
            )
    except psycopg.Error as error:
        raise MigrationError(f"migration {migration.label} failed: {error}") from error
    log.info("migration_applied", migration=migration.label, duration_ms=_ms(started))


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
