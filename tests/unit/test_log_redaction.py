"""Logs are JSON lines in logs/<process>.log, and secrets and customer data never reach them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from app.logging import REDACTED, configure_logging, redact_text

SECRETS = [
    "Summarise the merger memo for ACME",  # a prompt
    "customer-ssn-123-45-6789",  # payload data
    "atk_9fQ2mZk3LrT7vXw1yB8cD4eF",  # one of our API keys
    "sk-live-abcdefghijklmnop1234",  # a provider key
    "hunter2-db-password",
    "mq-pass-77",
    "eyJhbGciOiJIUzI1NiJ9.bearer-token",
]


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = configure_logging("worker", log_dir=tmp_path, level="DEBUG", console=False)
    yield path
    for handler in logging.getLogger().handlers:
        handler.flush()


def read_lines(path: Path) -> list[dict[str, object]]:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_process_writes_json_lines_to_its_own_file(log_file: Path) -> None:
    structlog.get_logger("test").info("task_started", attempt=1)
    assert log_file.name == "worker.log"
    [line] = read_lines(log_file)
    assert line["event"] == "task_started"
    assert line["level"] == "info"
    assert line["process"] == "worker"
    assert "timestamp" in line


def test_lines_about_a_task_carry_its_ids(log_file: Path) -> None:
    with structlog.contextvars.bound_contextvars(
        task_id="t-1", tenant_id="tenant-9", trace_id="trace-abc"
    ):
        structlog.get_logger("test").info("task_progress", progress=50)
    structlog.get_logger("test").info("idle")
    about_task, idle = read_lines(log_file)
    assert (about_task["task_id"], about_task["tenant_id"], about_task["trace_id"]) == (
        "t-1",
        "tenant-9",
        "trace-abc",
    )
    assert "task_id" not in idle


def test_secrets_and_payloads_never_reach_the_file(log_file: Path) -> None:
    log = structlog.get_logger("test")
    log.info(
        "task_received",
        payload={"prompt": SECRETS[0], "context": SECRETS[1]},
        prompt=SECRETS[0],
        api_key=SECRETS[2],
        headers={"Authorization": f"Bearer {SECRETS[6]}"},
        password=SECRETS[4],
    )
    log.info("connecting", url=f"postgresql://app:{SECRETS[4]}@db:5432/x")
    log.info(f"provider said: invalid key {SECRETS[3]} for amqp://app:{SECRETS[5]}@mq/")
    log.warning("dsn", detail=f"host=db user=app password={SECRETS[4]} dbname=x")
    # Library loggers go through the same chain.
    logging.getLogger("psycopg").error("auth failed for key %s", SECRETS[2])
    try:
        raise RuntimeError(f"upstream rejected {SECRETS[3]}")
    except RuntimeError:
        log.exception("call_failed")

    text = log_file.read_text()
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the log"
    lines = read_lines(log_file)
    assert lines[0]["payload"] == REDACTED
    assert lines[0]["api_key"] == REDACTED
    assert len(lines) == 6  # every record still logged, only masked


def test_redact_text_keeps_the_harmless_parts() -> None:
    assert redact_text("postgresql://app:pw@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_text("Bearer abcdefghijkl") == "Bearer ***"
    assert redact_text("task 42 done") == "task 42 done"
