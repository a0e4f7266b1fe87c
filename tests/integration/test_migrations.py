"""`assistente migrate`: idempotent, safe when run twice at once, loud about drift."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from app.adapters.postgres.migrator import (
    MigrationError,
    discover_migrations,
    migrate,
)
from app.adapters.postgres.queries import sql_dir

MIGRATIONS = sql_dir() / "migrations"
EXPECTED_TABLES = {
    "tenants",
    "api_keys",
    "tasks",
    "task_attempts",
    "task_artifacts",
    "task_events",
    "task_statuses",
    "task_status_transitions",
    "schema_migrations",
}
EXPECTED_VIEWS = {"outbox_messages", "queue_overview", "expired_leases", "tenant_backlog"}


def schema_of(url: str) -> dict[str, object]:
    """Tables, views, columns and migration records: enough to compare two schemas."""
    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        }
        views = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
            )
        }
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        records = conn.execute(
            "SELECT version, name, state FROM schema_migrations ORDER BY version"
        ).fetchall()
        queues = conn.execute("SELECT queue_name FROM pgmq.meta").fetchall()
    return {
        "tables": tables,
        "views": views,
        "columns": columns,
        "records": records,
        "queues": queues,
    }


def copy_migrations(tmp_path: Path) -> Path:
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder)
    return folder


async def test_migrate_builds_the_whole_schema(empty_database_url: str) -> None:
    report = await migrate(empty_database_url)
    assert report.applied[0].startswith("0000_pgmq_sql_")
    assert report.applied[1:] == [m.label for m in discover_migrations()]
    schema = schema_of(empty_database_url)
    assert schema["tables"] >= EXPECTED_TABLES  # type: ignore[operator]
    assert schema["views"] >= EXPECTED_VIEWS  # type: ignore[operator]
    assert schema["queues"] == [("outbox",)]


async def test_migrating_twice_changes_nothing(empty_database_url: str) -> None:
    await migrate(empty_database_url)
    before = schema_of(empty_database_url)
    second = await migrate(empty_database_url)
    assert second.applied == []
    assert second.already_applied == len(discover_migrations()) + 1
    assert schema_of(empty_database_url) == before


async def test_two_migrations_at_once_leave_one_correct_schema(empty_database_url: str) -> None:
    first, second = await asyncio.gather(migrate(empty_database_url), migrate(empty_database_url))
    # The advisory lock lets one apply everything and the other find it done.
    assert sorted([len(first.applied), len(second.applied)]) == [0, len(discover_migrations()) + 1]
    schema = schema_of(empty_database_url)
    assert len(schema["records"]) == len(discover_migrations()) + 1  # type: ignore[arg-type]


@pytest.mark.slow
def test_two_cli_processes_migrating_at_once_both_succeed(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "DATABASE_URL": empty_database_url, "LOG_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "app.cli", "migrate"]
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    assert all("schema up to date" in out for out, _ in outputs)
    schema = schema_of(empty_database_url)
    assert [r[2] for r in schema["records"]] == ["applied"] * (len(discover_migrations()) + 1)  # type: ignore[union-attr]


async def test_an_edited_migration_stops_the_run(empty_database_url: str, tmp_path: Path) -> None:
    folder = copy_migrations(tmp_path)
    await migrate(empty_database_url, folder)
    target = folder / "0003_dba_views.sql"
    target.write_text(target.read_text() + "\n-- an edit after landing\n")
    with pytest.raises(MigrationError, match="0003_dba_views was changed after it was applied"):
        await migrate(empty_database_url, folder)


async def test_a_migration_unknown_to_this_code_stops_the_run(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = copy_migrations(tmp_path)
    (folder / "0099_from_the_future.sql").write_text("CREATE TABLE future (id int);")
    await migrate(empty_database_url, folder)
    with pytest.raises(MigrationError, match="0099_from_the_future, which this code does not know"):
        await migrate(empty_database_url)


async def test_a_half_applied_migration_stops_the_next_run(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = copy_migrations(tmp_path)
    (folder / "0050_index_concurrently.sql").write_text(
        "-- migrate: no-transaction\nCREATE INDEX CONCURRENTLY missing_idx ON no_such_table (id);\n"
    )
    with pytest.raises(MigrationError, match="0050_index_concurrently failed"):
        await migrate(empty_database_url, folder)
    with pytest.raises(
        MigrationError, match=r"0050_index_concurrently started at .* never finished"
    ):
        await migrate(empty_database_url, folder)


async def test_a_failing_migration_leaves_nothing_behind(
    empty_database_url: str, tmp_path: Path
) -> None:
    folder = copy_migrations(tmp_path)
    (folder / "0050_broken.sql").write_text(
        "CREATE TABLE half_done (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(MigrationError, match="0050_broken failed"):
        await migrate(empty_database_url, folder)
    schema = schema_of(empty_database_url)
    assert "half_done" not in schema["tables"]  # type: ignore[operator]
    assert 50 not in [r[0] for r in schema["records"]]  # type: ignore[union-attr]
    # Fixing the file lets the next run go through.
    (folder / "0050_broken.sql").write_text("CREATE TABLE half_done (id int);\n")
    assert (await migrate(empty_database_url, folder)).applied == ["0050_broken"]


def test_migration_files_must_be_numbered_and_unique(tmp_path: Path) -> None:
    folder = copy_migrations(tmp_path)
    (folder / "7_bad_name.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"named NNNN_lower_snake_name.sql"):
        discover_migrations(folder)
    (folder / "7_bad_name.sql").unlink()
    (folder / "0003_again.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="two migrations share version 0003"):
        discover_migrations(folder)


def test_pgmq_comes_from_the_pgmq_package(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        name = conn.execute("SELECT name FROM schema_migrations WHERE version = 0").fetchone()
        sent = conn.execute("SELECT pgmq.send('outbox', '{\"eventType\": \"TaskQueued\"}')")
        assert sent.fetchone() is not None
    assert name is not None and name[0].startswith("pgmq_sql_")
