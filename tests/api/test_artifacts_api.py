"""Artifacts kept in the artifact store are listed with their uri and size and served by the API."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from app.adapters.artifacts.local import LocalArtifactStore
from tests.api.conftest import Caller, assert_problem

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40


@pytest.fixture
def artifact_dir(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def api_overrides(artifact_dir: Path) -> dict[str, Any]:
    return {"artifact_dir": artifact_dir}


async def new_task(caller: Caller) -> str:
    response = await caller.http.post("/api/v1/tasks", json={"type": "demo.noop"})
    assert response.status_code == 202, response.text
    task_id: str = response.json()["id"]
    return task_id


def insert_artifact(
    database_url: str, task_id: str, uri: str, *, content_type: str, size: int | None = None
) -> str:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO task_artifacts (task_id, kind, name, content_type, uri, size_bytes) "
            "VALUES (%s, 'file', 'report.pdf', %s, %s, %s) RETURNING id",
            (task_id, content_type, uri, size),
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_a_stored_artifact_is_listed_and_served_with_its_content_type(
    acme: Caller, database_url: str, artifact_dir: Path
) -> None:
    task_id = await new_task(acme)
    uri = await LocalArtifactStore(artifact_dir).put(uuid.UUID(task_id), "report.pdf", PDF)
    artifact_id = insert_artifact(
        database_url, task_id, uri, content_type="application/pdf", size=len(PDF)
    )

    [listed] = (await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts")).json()["items"]
    response = await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}")

    assert (listed["uri"], listed["sizeBytes"], listed["contentType"]) == (
        uri,
        len(PDF),
        "application/pdf",
    )
    assert listed["contentUrl"] == f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}"
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]


async def test_a_stored_artifact_whose_file_is_gone_is_a_404_problem(
    acme: Caller, database_url: str, artifact_dir: Path
) -> None:
    task_id = await new_task(acme)
    uri = await LocalArtifactStore(artifact_dir).put(uuid.UUID(task_id), "report.pdf", PDF)
    for file in (artifact_dir / task_id).iterdir():
        file.unlink()
    artifact_id = insert_artifact(database_url, task_id, uri, content_type="application/pdf")

    response = await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}")

    assert "missing" in assert_problem(response, 404)["detail"]


async def test_a_store_uri_cannot_reach_outside_the_store(
    acme: Caller, database_url: str, artifact_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "secret.txt").write_text("do not serve")
    task_id = await new_task(acme)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    uri = f"artifact://local/{task_id}/../../secret.txt"
    artifact_id = insert_artifact(database_url, task_id, uri, content_type="text/plain")

    response = await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}")

    assert_problem(response, 404)


async def test_another_tenants_stored_artifact_is_a_404(
    acme: Caller, globex: Caller, database_url: str, artifact_dir: Path
) -> None:
    task_id = await new_task(acme)
    uri = await LocalArtifactStore(artifact_dir).put(uuid.UUID(task_id), "report.pdf", PDF)
    artifact_id = insert_artifact(database_url, task_id, uri, content_type="application/pdf")

    response = await globex.http.get(f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}")

    assert_problem(response, 404)


@pytest.mark.parametrize(
    ("uri", "status"),
    [("https://files.example.com/report.pdf", 302), ("s3://bucket/report.pdf", 404)],
)
async def test_other_uris_are_redirected_when_http_else_404(
    acme: Caller, database_url: str, uri: str, status: int
) -> None:
    task_id = await new_task(acme)
    artifact_id = insert_artifact(database_url, task_id, uri, content_type="application/pdf")

    response = await acme.http.get(f"/api/v1/tasks/{task_id}/artifacts/{artifact_id}")

    assert response.status_code == status
    if status == 302:
        assert response.headers["location"] == uri
    else:
        assert_problem(response, status)


async def test_a_row_pointing_at_another_tasks_file_does_not_serve_it(
    acme: Caller, globex: Caller, database_url: str, artifact_dir: Path
) -> None:
    theirs = await new_task(globex)
    uri = await LocalArtifactStore(artifact_dir).put(uuid.UUID(theirs), "report.pdf", PDF)
    mine = await new_task(acme)
    # A handler of acme's task recorded a URI it was given instead of one it stored.
    artifact_id = insert_artifact(database_url, mine, uri, content_type="application/pdf")

    response = await acme.http.get(f"/api/v1/tasks/{mine}/artifacts/{artifact_id}")

    assert_problem(response, 404)
    assert PDF not in response.content
