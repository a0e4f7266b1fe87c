"""Fixtures for saga tests: the engine fixtures (workers, services, a tenant)."""

from __future__ import annotations

from tests.workers.conftest import services, start_worker, tenant  # noqa: F401 (fixtures)
