"""Rotating a tenant's API key without downtime: `assistente tenants add-key` gives it a
second key, live beside the first; callers move over; `revoke-key` retires the old one,
refused within the key cache's bound while the new one keeps working."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from app.application.auth import KEY_CACHE_SECONDS
from app.cli import main
from app.domain.api_keys import visible_prefix
from tests.api.conftest import Caller, assert_problem


async def cli(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {"DATABASE_URL": database_url, "LOG_DIR": str(tmp_path), "LOG_CONSOLE": "false"}
    return await asyncio.to_thread(CliRunner().invoke, main, ["tenants", *args], env=env)


async def status_with(base_url: str, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        return (await http.get("/api/v1/tasks")).status_code


async def test_two_keys_live_at_once_then_the_old_one_is_revoked(
    acme: Caller, base_url: str, database_url: str, tmp_path: Path
) -> None:
    key_a = acme.key
    assert await status_with(base_url, key_a) == 200  # A is now in the key cache

    added = await cli(database_url, tmp_path, "add-key", str(acme.tenant_id), "--name", "2026-12")
    assert added.exit_code == 0, added.output
    assert "shown once" in added.output
    key_b = added.output.strip().splitlines()[-1]
    assert key_b.startswith("atk_") and key_b != key_a

    # During the rotation both keys authenticate, for the same tenant.
    assert await status_with(base_url, key_a) == 200
    assert await status_with(base_url, key_b) == 200
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {key_b}"}, timeout=10
    ) as b:
        created = await b.post("/api/v1/tasks", json={"type": "demo.echo", "payload": {}})
        assert created.status_code in {201, 202}, created.text
        seen_by_a = await acme.http.get(f"/api/v1/tasks/{created.json()['id']}")
        assert seen_by_a.status_code == 200

    revoked = await cli(database_url, tmp_path, "revoke-key", visible_prefix(key_a))
    assert revoked.exit_code == 0, revoked.output
    revoked_at = time.monotonic()

    # A is refused within the key cache's bound (bounded polling); B keeps working.
    while (status := await status_with(base_url, key_a)) == 200:
        assert time.monotonic() - revoked_at < KEY_CACHE_SECONDS + 1.0
        await asyncio.sleep(0.1)
    assert status == 401
    problem = assert_problem(await acme.http.get("/api/v1/tasks"), 401)
    assert "revoked" in problem["detail"]
    assert await status_with(base_url, key_b) == 200


async def test_a_key_is_added_only_to_a_tenant_that_exists(
    database_url: str, tmp_path: Path
) -> None:
    missing = uuid.uuid4()
    result = await cli(database_url, tmp_path, "add-key", str(missing))
    assert result.exit_code == 1
    assert f"no enabled tenant {missing}" in result.output
    assert "atk_" not in result.output


async def test_a_key_name_is_a_short_label(acme: Caller, database_url: str, tmp_path: Path) -> None:
    result = await cli(database_url, tmp_path, "add-key", str(acme.tenant_id), "--name", "a b")
    assert result.exit_code == 1
    assert "not a valid key name" in result.output


async def test_an_added_admin_key_acts_for_another_tenant(
    acme: Caller, globex: Caller, base_url: str, database_url: str, tmp_path: Path
) -> None:
    added = await cli(database_url, tmp_path, "add-key", str(acme.tenant_id), "--admin")
    assert added.exit_code == 0, added.output
    assert "(admin)" in added.output
    admin_key = added.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {admin_key}", "X-Tenant-Id": str(globex.tenant_id)}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as http:
        assert (await http.get("/api/v1/tasks")).status_code == 200
    # The tenant's first key is still not an admin key.
    named = await acme.http.get("/api/v1/tasks", headers={"X-Tenant-Id": str(globex.tenant_id)})
    assert named.status_code == 403
