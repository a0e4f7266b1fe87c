"""Relay: events/s from the outbox to RabbitMQ (publisher confirms on), and the
outbox lag while a worker drains at full speed with the relay running beside it.

The real `assistente relay` process publishes to a scratch exchange; an event
counts as published when the relay has archived it (RabbitMQ confirmed it).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pika
import psycopg

from app.adapters.postgres.queries import query
from tests.bench.contenders import ours
from tests.bench.harness import (
    AMQP_URL,
    ROOT,
    Report,
    Summary,
    high_water_mb,
    percentile,
    poll_child,
    scratch_database,
    start_child,
    wait_child,
)

TARGET_LAG_SECONDS = 1.0
POLL_SECONDS = 0.05


def outbox_counts(conn: psycopg.Connection) -> tuple[int, float]:
    """(pending events, age of the oldest in seconds)."""
    row = conn.execute(query("outbox_lag")).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def start_relay(dsn: str, exchange: str, log_dir: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "AMQP_URL": AMQP_URL,
        "RELAY_EXCHANGE": exchange,
        "LOG_DIR": log_dir,
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "assistente"), "relay"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_relay(relay: subprocess.Popen[str]) -> float:
    """Stop the relay; its peak RSS (VmHWM, read on the way out)."""
    peak = high_water_mb(relay.pid) or float("nan")
    relay.send_signal(signal.SIGTERM)
    wait_child(relay, timeout=60)
    return peak


def delete_exchange(exchange: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        channel = connection.channel()
        channel.exchange_delete(exchange)
        channel.exchange_delete(f"{exchange}.unroutable")
        channel.queue_delete(f"{exchange}.unroutable")
    finally:
        connection.close()


def publish_rate(events: int) -> tuple[float, float]:
    """events/s for a backlog of `events` TaskQueued events, and the relay's peak RSS.

    Timed in the database, from the relay's first read of a message to its last archive,
    so the relay's start (imports, connecting) is not counted."""
    exchange = f"bench.{uuid.uuid4().hex[:8]}"
    with scratch_database("relay") as dsn, tempfile.TemporaryDirectory() as logs:
        asyncio.run(ours.install(dsn))
        asyncio.run(ours.enqueue(dsn, events))
        relay = start_relay(dsn, exchange, logs)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                deadline = time.monotonic() + 300
                while outbox_counts(conn)[0] and time.monotonic() < deadline:
                    time.sleep(POLL_SECONDS)
                published, seconds = conn.execute(  # type: ignore[misc]
                    "SELECT coalesce(sum(jsonb_array_length(message -> 'events')), 0),"
                    " extract(epoch FROM max(archived_at) - min(last_read_at))::float8"
                    " FROM pgmq.a_outbox"
                ).fetchone()
        finally:
            peak = stop_relay(relay)
            delete_exchange(exchange)
    if published != events:
        raise AssertionError(f"relay published {published} of {events} events")
    return events / seconds, peak


def lag_during_drain(tasks: int) -> dict[str, float]:
    """Relay running while one worker drains `tasks`: the outbox lag, sampled."""
    exchange = f"bench.{uuid.uuid4().hex[:8]}"
    lags: list[float] = []
    with scratch_database("relaylag") as dsn, tempfile.TemporaryDirectory() as logs:
        asyncio.run(ours.install(dsn))
        asyncio.run(ours.enqueue(dsn, tasks))
        relay = start_relay(dsn, exchange, logs)
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                while outbox_counts(conn)[0] > 0:  # the TaskQueued backlog goes out first
                    time.sleep(POLL_SECONDS)
                worker = start_child(ours.__name__, "--dsn", dsn, "--concurrency", "10")
                while (drained := poll_child(worker)) is None:
                    lags.append(outbox_counts(conn)[1])
                    time.sleep(POLL_SECONDS)
                caught_up_at = time.monotonic()
                while outbox_counts(conn)[0] > 0:
                    lags.append(outbox_counts(conn)[1])
                    time.sleep(POLL_SECONDS)
                catch_up = time.monotonic() - caught_up_at
        finally:
            stop_relay(relay)
            delete_exchange(exchange)
    rate = tasks / (drained.output["end"] - drained.output["first"])
    return {
        "drain_tasks_per_second": rate,
        "lag_max_seconds": max(lags),
        "lag_p95_seconds": percentile(lags, 95),
        "lag_p99_seconds": percentile(lags, 99),
        "catch_up_seconds": catch_up,
    }


def run(report: Report, quick: bool) -> None:
    events, tasks, repeats = (20_000, 5_000, 1) if quick else (50_000, 20_000, 3)
    rates, rss = [], []
    for _ in range(repeats):
        rate, peak = publish_rate(events)
        print(
            f"    relay: {rate:,.0f} events/s ({events} events, peak RSS {peak:.0f} MB)", flush=True
        )
        rates.append(rate)
        rss.append(peak)
    lag_runs = []
    for _ in range(repeats):
        figures = lag_during_drain(tasks)
        rate = figures["drain_tasks_per_second"]
        print(
            f"    relay beside a draining worker ({rate:,.0f} tasks/s): "
            f"lag max {figures['lag_max_seconds']:.2f} s, p99 {figures['lag_p99_seconds']:.2f} s",
            flush=True,
        )
        lag_runs.append(figures)
    rate_summary = Summary.of(rates)
    lag_max = Summary.of([f["lag_max_seconds"] for f in lag_runs])
    lag_p99 = Summary.of([f["lag_p99_seconds"] for f in lag_runs])
    drain_rate = Summary.of([f["drain_tasks_per_second"] for f in lag_runs])
    report.data["relay"] = {
        "events": events,
        "events_per_second": rate_summary.as_dict(),
        "peak_rss_mb": max(rss),
        "lag_during_drain": lag_runs,
    }
    report.add(
        "Relay",
        f"outbox → RabbitMQ with confirms ({events:,} events)",
        f"{rate_summary.median:,.0f} events/s (±{rate_summary.spread_pct:.0f}%)",
    )
    report.add(
        "Relay",
        "outbox lag while one worker drains at full speed (p99 / max, sampled every 50 ms)",
        f"{lag_p99.median:.2f} s / {lag_max.median:.2f} s at {drain_rate.median:,.0f} tasks/s",
        "p99 < 1 s",
        lag_p99.median < TARGET_LAG_SECONDS,
    )
    report.add("Memory", "relay peak RSS", f"{max(rss):.0f} MB")
