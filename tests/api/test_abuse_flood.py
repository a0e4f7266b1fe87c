"""One tenant flooding cheap GETs leaves another tenant's latency near its idle figure.

The API runs as its own process with default settings (the limits under test are the
defaults); a flooder child sends tenant A's GET /api/v1/tasks/{id} as fast as 128
keep-alive connections allow while tenant B reads its own task 40 times a second.
"""

from __future__ import annotations

import asyncio
import time

from tests.bench.door import new_task, new_tenant
from tests.bench.flood import Flooder, probe, served_api

# Tenant B's p99 under the flood, in ms. Measured on the 2-core dev machine: about 60
# with the default limits; 490 to 889 with the former ones (200/s, burst 400, no cap on
# requests in progress, 429s sent at once). 250 leaves 4x room for a machine busy
# with other work, and still fails well below what the former limits allowed.
B_P99_BOUND_MS = 250.0


def test_a_tenant_flooding_cheap_gets_leaves_room_for_another(database_url: str) -> None:
    key_a, key_b = new_tenant(database_url, "tenant-a"), new_tenant(database_url, "tenant-b")
    with served_api(database_url) as url:
        path_a, path_b = new_task(url, key_a), new_task(url, key_b)
        flooder = Flooder(url, "cheap_gets", 7.0, 128, key_a, path_a)
        time.sleep(1.5)  # the flood is at full speed
        seen = asyncio.run(probe(url, path_b, key_b, 5.0))
        flood = flooder.result()
    assert seen.statuses == {200: len(seen.samples_ms)}  # B is never refused
    assert flood.get("429", 0) > flood.get("200", 0)  # A is: it floods
    assert seen.p99 < B_P99_BOUND_MS, f"B p50 {seen.p50:.0f} ms, p99 {seen.p99:.0f} ms"
