"""A regular install: the built wheel in a fresh virtual environment, away from the checkout.

The Docker image installs this same wheel, so what works here works there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
# What the Dockerfile's build stage copies: the wheel must need nothing else.
SOURCES = ("pyproject.toml", "README.md", "app", "workers", "sql")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def run(
    command: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel` builds from a copy of the sources (no stale build/ folder)."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, source])
    (built,) = out.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel and its dependencies from the registry."""
    path = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", path])
    run([path / "bin" / "python", "-m", "pip", "install", "--quiet", wheel])
    return path


def outside_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who has only the install: nothing points at the checkout."""
    dropped = {"DATABASE_URL", "APP_ENV", "AMQP_URL", "SQL_DIR", "PYTHONPATH", "VIRTUAL_ENV"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    return {**env, "LOG_DIR": str(tmp_path / "logs"), **extra}


def test_the_wheel_holds_every_module_and_the_sql(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {
        path.relative_to(ROOT).as_posix()
        for package in ("app", "workers")
        for path in (ROOT / package).rglob("*.py")
    }
    sql = {
        f"app/_sql/{path.relative_to(ROOT / 'sql').as_posix()}"
        for path in (ROOT / "sql").rglob("*.sql")
    }
    assert modules - names == set()
    assert sql - names == set()
    assert not any(name.startswith("sql/") for name in names)


def test_migrate_from_a_wheel_install_builds_the_schema(
    venv: Path, empty_database_url: str, tmp_path: Path
) -> None:
    result = run(
        [venv / "bin" / "assistente", "migrate"],
        cwd=tmp_path,
        env=outside_env(tmp_path, DATABASE_URL=empty_database_url),
    )
    migrations = sorted((ROOT / "sql" / "migrations").glob("*.sql"))
    assert f"applied {migrations[-1].stem}" in result.stdout
    with psycopg.connect(empty_database_url) as conn:
        (applied,) = conn.execute("SELECT count(*) FROM schema_migrations").fetchone() or (0,)
        (tasks,) = conn.execute("SELECT to_regclass('public.tasks')::text").fetchone() or (None,)
    assert applied == len(migrations) + 1  # and the PGMQ install, step 0000
    assert tasks == "tasks"


def test_a_regular_install_leaves_the_embedded_postgres_to_its_extra(venv: Path) -> None:
    probe = "import importlib.util; print(importlib.util.find_spec('pgserver') is None)"
    result = run([venv / "bin" / "python", "-c", probe])
    assert result.stdout.strip() == "True"


def test_the_image_dependencies_install_on_linux_arm64(wheel: Path, tmp_path: Path) -> None:
    # What `docker build --platform linux/arm64` installs, resolved without installing it:
    # python:3.11-slim is Debian 12 (glibc 2.36), which runs manylinux wheels up to 2_36.
    platforms = [f"--platform=manylinux_2_{glibc}_aarch64" for glibc in range(17, 37)]
    arm64 = [*platforms, "--python-version=3.11", "--implementation=cp", "--only-binary=:all:"]
    dry_run: list[str | Path] = [
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--target",
        tmp_path / "arm64",
    ]
    run([sys.executable, "-m", "pip", "install", *dry_run, *arm64, wheel])
