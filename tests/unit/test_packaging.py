"""pyproject.toml: what a regular install brings, and what the extras add."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text())["project"]  # type: ignore[no-any-return]


def names(requirements: list[str]) -> set[str]:
    return {requirement.split("[")[0].split(">")[0].split("=")[0] for requirement in requirements}


def test_embedded_postgres_is_an_extra_the_dev_tools_bring(project: dict[str, Any]) -> None:
    # pgserver has no Linux aarch64 wheel: a base dependency would stop the arm64 image.
    extras = project["optional-dependencies"]
    assert "pgserver" not in names(project["dependencies"])
    assert names(extras["embedded"]) == {"pgserver"}
    # The tests fall back to an embedded Postgres on a laptop without one.
    assert "assistente-tasks[embedded]" in extras["dev"]


def test_the_compose_schema_check_has_its_validator(project: dict[str, Any]) -> None:
    # A runtime dependency too (a decision's input schema): the tests have it either way.
    assert "jsonschema" in names(project["dependencies"])
