"""What the API needs from the rest of the service, handed in by the composition root."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from quart import current_app

from app.application.artifact_store import ArtifactStore
from app.application.auth import PrincipalCache, TenantRepository
from app.application.batches import BatchStore
from app.application.decisions import WaitStore
from app.application.handlers import HandlerDirectory
from app.application.health import HealthCheck, SharedHealth
from app.application.key_lookup import KeyLookup
from app.application.sagas import SagaStore
from app.application.schedules import ScheduleStore
from app.application.signal_store import SignalStore
from app.application.task_repository import TaskQueries, TaskRepository
from app.application.tasks import TaskResults
from app.application.triggers import TriggerStore
from app.application.waiting import WaitPolicy
from app.application.worker_registry import WorkerDirectory
from app.domain.client_address import TrustedProxies
from app.domain.inflight import InFlight
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
    # Requests in progress per API key; past its cap, 429.
    in_flight: InFlight | None = None
    # A 429 for pace (rate, requests in progress, failed keys) goes out after this many
    # seconds, for at most `held_refusals.limit` requests per caller at once.
    refusal_hold_seconds: float = 0.0
    held_refusals: InFlight | None = None
    # Unknown keys per client address: past the budget they get 429, not 401. Only keys
    # that fail to authenticate are counted or refused.
    failed_auth_limiter: RateLimiter | None = None
    # Tasks queued per API key (a batch charges one per task).
    task_limiter: RateLimiter | None = None
    # Requests per client address to what needs no key (/health, the document, /docs).
    anonymous_limiter: RateLimiter | None = None
    # Reverse proxies whose forwarding headers name the client (API_TRUSTED_PROXIES);
    # empty: the TCP peer is the client.
    trusted_proxies: TrustedProxies = ()
    # Recent successful key lookups (KEY_CACHE_SECONDS): no database query per request.
    principals: PrincipalCache | None = field(default_factory=PrincipalCache)
    # Where artifacts too large for their row are kept; their content is served from it.
    artifacts: ArtifactStore | None = None
    # GET /health answers from a check at most this old (HEALTH_CACHE_SECONDS).
    health_cache_seconds: float = 1.0
    # Where workers record the task types they handle: a task for a built-in capability
    # whose type no worker handles has its payload checked at POST. None: no check.
    handler_directory: HandlerDirectory | None = None
    # How long requests may wait for a task, and how many at once (app.api.waiting).
    waiting: WaitPolicy = field(default_factory=WaitPolicy)
    # Batches (POST/GET /api/v1/batches); None: the routes answer 503.
    batches: BatchStore | None = None
    # Sagas (POST/GET /api/v1/sagas); None: the routes answer 503.
    sagas: SagaStore | None = None
    # Schedules (/api/v1/schedules); None: the routes answer 503.
    schedules: ScheduleStore | None = None
    # Waits and decisions (POST /api/v1/tasks/{id}/decision, waitingFor); None: the
    # decision route answers 503 and tasks show no waitingFor.
    waits: WaitStore | None = None
    # Triggers (/api/v1/triggers); None: the routes answer 503.
    triggers: TriggerStore | None = None
    # Signals (POST/GET /api/v1/signals); None: the routes answer 503. Their budget per
    # tenant (API_SIGNALS_PER_SECOND), and how long one is kept unless its sender says.
    signals: SignalStore | None = None
    signal_limiter: RateLimiter | None = None
    signal_retention_seconds: float = 86_400
    # The worker registry (GET /api/v1/workers, admin keys); None: the route answers 503.
    workers: WorkerDirectory | None = None
    # Built from the fields above: key lookups with remembered answers (live and unknown)
    # and a bound on queries at once; GET /health's shared, briefly cached check.
    key_lookup: KeyLookup = field(init=False)
    health: SharedHealth = field(init=False)

    def __post_init__(self) -> None:
        # frozen: set once here, as the generated __init__ would
        object.__setattr__(self, "key_lookup", KeyLookup(self.tenants, cache=self.principals))
        health = SharedHealth(self.health_checks, max_age=self.health_cache_seconds)
        object.__setattr__(self, "health", health)


def deps() -> ApiDependencies:
    """The dependencies of the app serving the current request."""
    found: ApiDependencies = current_app.extensions["assistente"]
    return found
