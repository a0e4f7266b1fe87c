"""Prometheus metrics of the relay: outbox pending count and lag, published and failed totals."""

from __future__ import annotations

import asyncio
import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from app.application.relay import Outbox, Relay


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
        self._seen_published = 0
        self._seen_failed = 0

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)

    async def refresh(self) -> None:
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
