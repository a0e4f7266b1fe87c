"""Only the drain's 2- and 4-worker rounds (`--only more_workers`), against a PGQueuer
configuration named by BENCH_PGQUEUER (default: the best of the newest committed full
run, docs/benchmarks/), for re-measuring them without the whole 1-worker sweep."""

from __future__ import annotations

import os
from typing import Any

from tests.bench.drain import _more_workers
from tests.bench.harness import Report
from tests.bench.peers import PGQUEUER

DEFAULT_PEER = "batch=200, connection"  # best in docs/benchmarks/2026-12-03-full.json


def run(report: Report, quick: bool) -> None:
    name = os.environ.get("BENCH_PGQUEUER", DEFAULT_PEER)
    peer = next(c for c in PGQUEUER if c.name == name)
    data: dict[str, Any] = {"peer": peer.key}
    report.data["drain"] = data
    _more_workers(report, data, peer, 10_000 if quick else 50_000, 10, 2 if quick else 5)
