"""docker-compose.yml brings up what a laptop needs, with healthchecks and ordering.

The file is checked without Docker: against the Compose Specification's JSON Schema
(vendored in compose_spec/, see its README) and by the cross-references compose itself
resolves. Where a working `docker compose` exists, it checks the file too.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).resolve().parent / "compose_spec" / "compose-spec.json"
# ${NAME}, ${NAME:-default}, ${NAME-default}; `$$` is a literal dollar.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """The file as compose reads it with no variables set: every `${…}` at its default."""
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: "$" if m.group(0) == "$$" else (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    return value


def compose_problems(document: Any) -> list[str]:
    """What compose would refuse in this file: schema errors, then broken references."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    problems = [
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in validator.iter_errors(interpolate(document))
    ]
    if problems:
        return problems
    services: dict[str, Any] = document.get("services") or {}
    volumes = set(document.get("volumes") or {})
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        for other in depends_on:
            if other not in services:
                problems.append(f"{name}: depends on undefined service {other!r}")
            elif isinstance(depends_on, dict):
                healthy = depends_on[other].get("condition") == "service_healthy"
                if healthy and "healthcheck" not in services[other]:
                    problems.append(f"{name}: waits for {other} to be healthy, which has no check")
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                problems.append(f"{name}: mounts undefined volume {source!r}")
    return problems


def working_compose() -> list[str] | None:
    """`docker-compose` or `docker compose`, if this machine has one that runs."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(document: dict[str, Any]) -> dict[str, Any]:
    return interpolate(document["services"])  # type: ignore[no-any-return]


def test_the_compose_file_follows_the_compose_specification(document: dict[str, Any]) -> None:
    assert compose_problems(document) == []
    compose = working_compose()
    if compose:  # the real thing too, where there is one (CI does not install it)
        result = subprocess.run(
            [*compose, "config", "--quiet"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stderr


def _misspelled_key(doc: dict[str, Any]) -> None:
    doc["services"]["api"]["comand"] = doc["services"]["api"].pop("command")


def _wrong_type(doc: dict[str, Any]) -> None:
    doc["services"]["postgres"]["ports"] = "5432:5432"


def _unknown_condition(doc: dict[str, Any]) -> None:
    doc["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_finished"


def _undefined_service(doc: dict[str, Any]) -> None:
    doc["services"]["relay"]["depends_on"]["rabbit"] = {"condition": "service_healthy"}


def _undefined_volume(doc: dict[str, Any]) -> None:
    doc["services"]["postgres"]["volumes"] = ["pg-data:/var/lib/postgresql/data"]


def _healthy_without_a_check(doc: dict[str, Any]) -> None:
    del doc["services"]["postgres"]["healthcheck"]


@pytest.mark.parametrize(
    "breakage",
    [
        _misspelled_key,
        _wrong_type,
        _unknown_condition,
        _undefined_service,
        _undefined_volume,
        _healthy_without_a_check,
    ],
)
def test_a_file_compose_would_refuse_is_caught(
    document: dict[str, Any], breakage: Callable[[dict[str, Any]], None]
) -> None:
    broken = copy.deepcopy(document)
    breakage(broken)
    assert compose_problems(broken) != []


def test_the_stack_has_servers_migrate_and_every_process(services: dict[str, Any]) -> None:
    assert set(services) == {"postgres", "rabbitmq", "migrate", "api", "worker", "relay"}
    assert services["postgres"]["image"] == "postgres:16"
    assert "management" in services["rabbitmq"]["image"]


def test_servers_and_api_have_healthchecks(services: dict[str, Any]) -> None:
    for name in ("postgres", "rabbitmq", "api"):
        assert services[name]["healthcheck"]["test"], name


def test_postgres_counts_as_healthy_only_once_it_accepts_tcp(services: dict[str, Any]) -> None:
    # The image's first-start setup server listens on the Unix socket only.
    check = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in check
    assert "-h 127.0.0.1" in check


def test_processes_start_after_a_successful_migration(services: dict[str, Any]) -> None:
    # Healthy is not yet reachable for every client: migrate keeps trying for a minute.
    assert services["migrate"]["command"] == ["assistente", "migrate", "--wait", "60"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "relay"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name


def test_the_worker_is_scalable(services: dict[str, Any]) -> None:
    # A fixed container name or host port would stop `--scale worker=N`.
    assert "container_name" not in services["worker"]
    assert "ports" not in services["worker"]


def test_servers_publish_on_loopback_ports_a_native_server_does_not_hold(
    document: dict[str, Any], services: dict[str, Any]
) -> None:
    published = {name: service.get("ports", []) for name, service in services.items()}
    assert published["postgres"] == ["127.0.0.1:55432:5432"]
    assert "127.0.0.1:55672:5672" in published["rabbitmq"]
    assert all(port.startswith("127.0.0.1:") for ports in published.values() for port in ports)
    raw = document["services"]
    assert raw["postgres"]["ports"] == ["127.0.0.1:${POSTGRES_PORT:-55432}:5432"]
    assert "127.0.0.1:${RABBITMQ_PORT:-55672}:5672" in raw["rabbitmq"]["ports"]


def test_the_image_user_gets_the_uid_that_owns_the_mounted_logs(
    services: dict[str, Any],
) -> None:
    for name in ("migrate", "api", "worker", "relay"):
        service = services[name]
        log_dir = service["environment"]["LOG_DIR"]
        assert f"./logs:{log_dir}" in service["volumes"], name
        assert service["build"]["args"] == {"APP_UID": "1000", "APP_GID": "1000"}, name


def test_every_container_command_is_one_the_cli_accepts(services: dict[str, Any]) -> None:
    # Options are parsed before --help answers: an unknown one (a flag the CLI lost) exits 2.
    from click.testing import CliRunner

    from app.cli import main

    for name in ("migrate", "api", "worker", "relay"):
        program, *arguments = services[name]["command"]
        assert program == "assistente", name
        result = CliRunner().invoke(main, [*arguments, "--help"])
        assert result.exit_code == 0, f"{name}: {result.output}"
