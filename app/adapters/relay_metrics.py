"""Prometheus metrics of the relay: outbox pending count and lag, published and failed
totals, and its health: its state and whether it reaches the broker and the database."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, start_http_server

from app.application.relay import Outbox, Relay

STATES = ["starting", "standby", "publishing", "broker_unavailable", "database_unavailable"]


class RelayMetrics:
    """Scrapeable at http://<host>:<port>/metrics while the relay runs."""

    def __init__(self, relay: Relay, outbox: Outbox) -> None:
        self._relay = relay
        self._outbox = outbox
        self.registry = CollectorRegistry()
        self.pending = Gauge(
            "assistente_outbox_pending", "Events waiting in the outbox", registry=self.registry
        )
        self.lag = Gauge(
            "assistente_outbox_lag_seconds",
            "Age of the oldest event waiting in the outbox",
            registry=self.registry,
        )
        self.published = Counter(
            "assistente_relay_published", "Events RabbitMQ confirmed", registry=self.registry
        )
        self.failed = Counter(
            "assistente_relay_failed",
            "Events RabbitMQ refused (retried later, or set aside)",
            registry=self.registry,
        )
        self.broker_up = Gauge(
            "assistente_relay_broker_up",
            "1 while the relay is connected to RabbitMQ (checked every round, idle or not)",
            registry=self.registry,
        )
        self.database_up = Gauge(
            "assistente_relay_database_up",
            "1 while the relay reaches Postgres",
            registry=self.registry,
        )
        self.state = Enum(
            "assistente_relay_state",
            "What the relay is doing",
            states=STATES,
            registry=self.registry,
        )
        self._seen_published = 0
        self._seen_failed = 0

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)

    async def refresh(self) -> None:
        relay = self._relay
        self.state.state(relay.state if relay.state in STATES else "starting")
        self.broker_up.set(1 if relay.broker_up else 0)
        self.database_up.set(1 if relay.database_up else 0)
        pending, lag = await self._outbox.lag()
        self.pending.set(pending)
        self.lag.set(lag)
        totals = self._relay.totals
        failed = totals.refused + totals.set_aside
        self.published.inc(totals.published - self._seen_published)
        self.failed.inc(failed - self._seen_failed)
        self._seen_published, self._seen_failed = totals.published, failed

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):  # metrics must never stop the relay
                await self.refresh()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
