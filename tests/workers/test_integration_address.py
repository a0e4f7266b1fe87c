"""A worker refuses an ExternalIntegration whose allowed name leads inside the network.

The service inside is a fake HTTP server on loopback, allowed by the name `localhost`
rather than by its address: the task dead-letters at once, nothing reaches the
service, and neither the task's error nor the log holds the URL's path or query.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from app.domain.enums import CapabilityType
from tests.fake_openai import FakeOpenAI
from tests.workers.conftest import Enqueue, StartWorker, wait_for_status


@pytest.fixture
def inside() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


async def test_an_allowed_name_that_resolves_to_loopback_dead_letters_without_a_call(
    start_worker: StartWorker, enqueue: Enqueue, conn: Any, inside: FakeOpenAI
) -> None:
    port = inside.base_url.split("/")[2].rsplit(":", 1)[1]
    await start_worker(integration_allowed_hosts=f"http://localhost:{port}")
    url = f"http://localhost:{port}/v1/embeddings?token=s3cret"
    with capture_logs() as logs:
        [task_id] = await enqueue(
            "call",
            capability_type=CapabilityType.EXTERNAL_INTEGRATION,
            payload={"request": {"method": "POST", "url": url, "json": {"input": ["x"]}}},
            max_attempts=3,
        )
        await wait_for_status(conn, [task_id], {"DeadLetter"})
    cursor = await conn.execute(
        "SELECT error_code, error_detail FROM task_attempts WHERE task_id = %s", (task_id,)
    )
    [(code, detail)] = await cursor.fetchall()  # one attempt: not retried
    assert code == "AddressNotAllowed"
    assert detail.startswith(f"POST localhost:{port}: localhost resolves to ")
    assert "a loopback address no allowed host names" in detail
    assert inside.requests == []
    assert not any("s3cret" in str(entry) or "embeddings" in str(entry) for entry in logs)
