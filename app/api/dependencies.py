"""What the API needs from the rest of the service, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from quart import current_app

from app.application.artifact_store import ArtifactStore
from app.application.auth import PrincipalCache, TenantRepository
from app.application.health import HealthCheck
from app.application.ports import TaskQueries, TaskRepository
from app.application.tasks import TaskResults
from app.domain.rate_limit import RateLimiter


class TaskReads(TaskQueries, TaskResults, Protocol):
    """The read side the API shows tasks with: queries, and results many at once."""


@dataclass(frozen=True, slots=True)
class ApiDependencies:
    tasks: TaskRepository
    queries: TaskReads
    tenants: TenantRepository
    health_checks: Sequence[HealthCheck]
    default_max_attempts: int = 3
    rate_limiter: RateLimiter | None = None
    # Failed authentications per client address: guessing keys costs the guesser, not us.
    failed_auth_limiter: RateLimiter | None = None
    # Recent successful key lookups (KEY_CACHE_SECONDS): no database query per request.
    principals: PrincipalCache | None = field(default_factory=PrincipalCache)
    # Where artifacts too large for their row are kept; their content is served from it.
    artifacts: ArtifactStore | None = None


def deps() -> ApiDependencies:
    """The dependencies of the app serving the current request."""
    found: ApiDependencies = current_app.extensions["assistente"]
    return found
