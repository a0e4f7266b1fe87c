"""docker-compose.yml brings up what a laptop needs, with healthchecks and ordering."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]  # type: ignore[no-any-return]


def test_the_stack_has_servers_migrate_and_every_process(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "rabbitmq", "migrate", "api", "worker", "relay"}
    assert services["postgres"]["image"] == "postgres:16"
    assert "management" in services["rabbitmq"]["image"]


def test_servers_and_api_have_healthchecks(services: dict[str, Any]) -> None:
    for name in ("postgres", "rabbitmq", "api"):
        assert services[name]["healthcheck"]["test"], name


def test_processes_start_after_a_successful_migration(services: dict[str, Any]) -> None:
    assert services["migrate"]["command"] == ["assistente", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "relay"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_the_worker_is_scalable(services: dict[str, Any]) -> None:
    # A fixed container name or host port would stop `--scale worker=N`.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


def test_compose_itself_accepts_the_file() -> None:
    tool = shutil.which("docker-compose")
    command = [tool, "config", "--quiet"] if tool else ["docker", "compose", "config", "--quiet"]
    if not tool and not shutil.which("docker"):
        pytest.fail("neither docker-compose nor docker is installed to validate the file")
    result = subprocess.run(
        command, cwd=COMPOSE.parent, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
