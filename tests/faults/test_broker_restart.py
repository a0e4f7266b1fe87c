"""The relay rides out a RabbitMQ restart: seen through a proxy that drops every
connection and refuses new ones for a while, it reconnects, declares its topology
again (idle or not), says so in its health, and publishes everything in order."""

from __future__ import annotations

import re
import time

import httpx
import pika
import pika.exceptions
import psycopg
import pytest

from tests.faults.conftest import Processes, free_port, wait_until
from tests.faults.proxy import TcpProxy
from tests.faults.recorder import Recorder
from tests.relay.conftest import AMQP_URL

TASKS = 200


def broker_up(metrics_port: int) -> float | None:
    """The relay's assistente_relay_broker_up gauge, None while it does not answer."""
    try:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=2).text
    except httpx.TransportError:
        return None
    found = re.search(r"^assistente_relay_broker_up (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def exchange_exists(name: str) -> bool:
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    try:
        connection.channel().exchange_declare(name, passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()


def delete_exchanges(name: str) -> None:
    """As a broker that came back without its definitions (a new node, say) looks."""
    connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
    channel = connection.channel()
    channel.exchange_delete(name)
    channel.exchange_delete(f"{name}.unroutable")
    connection.close()


def sequences(url: str) -> dict[str, list[int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT task_id::text, array_agg(sequence ORDER BY sequence) FROM task_events"
            " GROUP BY task_id"
        ).fetchall()
    return dict(rows)


def all_succeeded(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM tasks WHERE status = 'Succeeded'").fetchone()
    return row == (TASKS,)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_relay_reconnects_redeclares_and_publishes_everything_after_a_broker_restart(
    database_url: str, exchange: str, processes: Processes
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5672))
    metrics_port = free_port()
    relay = processes.start(
        "relay",
        DATABASE_URL=database_url,
        AMQP_URL=f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F",
        RELAY_EXCHANGE=exchange,
        RELAY_METRICS_PORT=str(metrics_port),
    )
    try:
        wait_until(lambda: broker_up(metrics_port) == 1, timeout=20, what="the relay is up")
        # An idle relay: nothing to publish, yet it notices the broker going and coming.
        proxy.cut()
        wait_until(lambda: broker_up(metrics_port) == 0, timeout=10, what="health says down")
        delete_exchanges(exchange)
        time.sleep(2)
        proxy.restore()
        wait_until(lambda: exchange_exists(exchange), timeout=15, what="exchange declared again")
        wait_until(lambda: broker_up(metrics_port) == 1, timeout=10, what="health says up")

        recorder = Recorder(exchange)
        worker = processes.start("worker", "--concurrency", "20", DATABASE_URL=database_url)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "WITH t AS (INSERT INTO tenants (name) VALUES ('mq') RETURNING id)"
                " INSERT INTO tasks (tenant_id, type, payload)"
                " SELECT t.id, 'demo.sleep', '{\"seconds\": 0.2}' FROM t, generate_series(1, %s)",
                (TASKS,),
            )
        time.sleep(1.0)  # tasks running, events flowing
        cut_at = time.time()
        proxy.cut()
        time.sleep(3.0)  # the broker is away: connections refused
        proxy.restore()
        back = time.time()
        wait_until(lambda: all_succeeded(database_url), timeout=60, what="every task succeeded")
        expected = sequences(database_url)
        wait_until(
            lambda: recorder.first_deliveries() == expected,
            timeout=60,
            what="every task's events reached the queue, in order",
        )
        recorder.close()
    finally:
        proxy.close()
    assert relay.popen.poll() is None and worker.popen.poll() is None
    states = [entry["state"] for entry in relay.events("relay_state")]
    assert states.count("broker_unavailable") == 2, states  # once per outage, not per retry
    delays = recorder.delays()
    held = [d for occurred, d in delays if occurred >= cut_at - 1]
    print(
        f"\nbroker outage 3 s: {len(delays)} events (+{recorder.redeliveries()} redelivered),"
        f" max delay {max(held, default=0):.2f}s for events written from 1 s before the cut;"
        f" first event {min(o + d for o, d in delays if o + d > back) - back:.2f}s after the"
        f" broker came back; relay states {states}"
    )
