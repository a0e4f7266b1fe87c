"""Settings from environment variables (and an optional `.env`), validated at start.

Nothing here does I/O at import: `load_settings()` reads the environment when a
process starts and turns any bad value into one `ConfigError` that names the
variable, says what is wrong, and never echoes a secret.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.allow_list import allow_list_key, allow_list_keys
from app.domain.client_address import TrustedProxies, parse_trusted_proxies

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


class AppEnv(StrEnum):
    """The seeds' environments (seed 000, section 8)."""

    DEVELOPMENT = "Development"
    STAGING = "Staging"
    PRODUCTION = "Production"


class AiProvider(StrEnum):
    """Who answers the built-in AI capability handlers."""

    SIMULATED = "simulated"
    OPENAI = "openai"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is meant for the operator."""


class Settings(BaseSettings):
    """Every knob of the service. Environment variable = field name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    app_env: AppEnv = AppEnv.DEVELOPMENT
    database_url: SecretStr | None = None
    amqp_url: SecretStr = SecretStr(DEFAULT_AMQP_URL)
    log_dir: Path = Path("logs")
    log_level: str = "INFO"
    # Human-readable console output next to the JSON files; on by default in Development.
    log_console: bool | None = None

    # Embedded Postgres (`assistente dev` without DATABASE_URL); never in Production.
    embedded_db_dir: Path = Path(".data/pgserver")

    # A fixed API key for local work; Production refuses to start with one.
    dev_api_key: SecretStr | None = None

    db_pool_min_size: int = Field(default=1, ge=1, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=500)
    # How long a request or job waits for a database connection before failing.
    db_pool_wait_seconds: float = Field(default=5.0, gt=0, le=300)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    # Connections the kernel queues for the API before it accepts them (listen backlog).
    # Hypercorn's own default is 100; a burst of new connections above it loses SYNs.
    api_backlog: int = Field(default=1024, ge=1, le=65535)
    max_payload_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Requests per second per API key (bursts up to API_RATE_LIMIT_BURST); 0 turns it off.
    # One API process serves about 250 a second on 2 cores: one key gets a fifth of that,
    # so a key at its limit leaves the rest to other tenants (docs/limits.md).
    api_rate_limit_per_second: float = Field(default=50.0, ge=0, le=1_000_000)
    api_rate_limit_burst: float = Field(default=100.0, ge=1, le=1_000_000)
    # Requests one API key may have in progress at once in a process; 0 turns it off.
    api_max_in_flight_per_key: int = Field(default=8, ge=0, le=100_000)
    # A 429 for a key's pace (or an address's failed keys) is sent this many seconds late,
    # for up to 256 requests per caller at once: a client looping on 429s idles instead
    # of spending the CPU other tenants need. 0 answers at once.
    api_refusal_hold_seconds: float = Field(default=1.0, ge=0, le=30)
    # Unknown keys from one client address: this many a second, bursts up to the burst;
    # past it they get 429 instead of 401. A key that authenticates is never refused.
    api_failed_auth_per_second: float = Field(default=2.0, gt=0, le=1_000_000)
    api_failed_auth_burst: float = Field(default=20.0, ge=1, le=1_000_000)
    # GET /health answers from a check at most this old, shared by concurrent callers.
    # Tasks a second per API key that POST may queue (a batch counts each of its tasks),
    # bursts up to API_TASKS_BURST; 0 turns it off.
    api_tasks_per_second: float = Field(default=2000.0, ge=0, le=10_000_000)
    api_tasks_burst: float = Field(default=2000.0, ge=1, le=10_000_000)
    # Signals a second per tenant (POST /api/v1/signals, all its keys together), bursts
    # up to API_SIGNALS_BURST; 0 turns it off. Each signal is a transaction that may
    # resume many tasks: one tenant's flood is refused before it reaches the database.
    api_signals_per_second: float = Field(default=100.0, ge=0, le=1_000_000)
    api_signals_burst: float = Field(default=200.0, ge=1, le=1_000_000)
    # How long a signal is kept when its sender does not say (retentionSeconds): a wait
    # registered within it is answered by the newest live signal of its name and key.
    signal_retention_seconds: int = Field(default=86_400, ge=1, le=30 * 86_400)
    # Requests a second per client address to what needs no key (/health, /openapi.json,
    # /docs); 0 turns it off. Keyed calls never count against it.
    api_anonymous_per_second: float = Field(default=10.0, ge=0, le=1_000_000)
    api_anonymous_burst: float = Field(default=30.0, ge=1, le=1_000_000)
    # Reverse proxies (comma-separated addresses or CIDRs) whose X-Forwarded-For or
    # Forwarded header names the client, for the per-address limits above. Empty: the
    # TCP peer is the client and those headers are ignored (nobody can spoof them).
    api_trusted_proxies: str = ""
    health_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    # Open SSE streams (GET /api/v1/events, /tasks/{id}/events) per API key, per tenant
    # and per API process; past any of them, 429.
    sse_max_streams_per_key: int = Field(default=20, ge=1, le=100_000)
    sse_max_streams_per_tenant: int = Field(default=50, ge=1, le=100_000)
    sse_max_streams: int = Field(default=500, ge=1, le=100_000)
    # Requests waiting for a task (POST /api/v1/tasks with `Prefer: wait=N` or an
    # executionType of Sync; GET /api/v1/tasks/{id} with a wait): a Sync task posted
    # without a wait waits API_SYNC_WAIT_SECONDS; no wait lasts over API_MAX_WAIT_SECONDS.
    # At most API_MAX_WAITING_PER_KEY per API key and API_MAX_WAITING per process wait at
    # once (they do not count among the key's requests in progress); past either cap a
    # POST answers 202 at once, a GET is a 429.
    api_sync_wait_seconds: int = Field(default=10, ge=0, le=600)
    api_max_wait_seconds: int = Field(default=60, ge=0, le=600)
    api_max_waiting_per_key: int = Field(default=100, ge=1, le=100_000)
    api_max_waiting: int = Field(default=1000, ge=1, le=100_000)

    worker_id: str | None = Field(default=None, max_length=100)
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    worker_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    worker_poll_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # Tasks leased ahead of free slots; unset: about 20 ms of work (WORKER_CONCURRENCY to
    # 100) while tasks take milliseconds, none once they take longer. 0 turns it off.
    worker_prefetch: int | None = Field(default=None, ge=0, le=1000)
    worker_shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=3600)
    # JOB_TIMEOUT in seed 002: 15 minutes.
    job_timeout_seconds: float = Field(default=900.0, gt=0, le=86_400)
    default_max_attempts: int = Field(default=3, ge=1, le=100)
    # Built-in demo.* task types; on by default in Development only.
    demo_tasks_enabled: bool | None = None

    relay_exchange: str = Field(default="assistente.events", min_length=1, max_length=255)
    # Outbox messages per relay read (each holds the events of one statement).
    relay_batch_size: int = Field(default=100, ge=1, le=10_000)
    relay_visibility_timeout_seconds: int = Field(default=60, ge=1, le=3600)
    # Prometheus metrics of the relay on 127.0.0.1:<port>/metrics; 0 keeps them off.
    relay_metrics_port: int = Field(default=0, ge=0, le=65535)

    # AI provider of the built-in capability handlers. Unset: "simulated" (offline,
    # deterministic) in Development, "openai" (any OpenAI-compatible API) elsewhere.
    ai_provider: AiProvider | None = None
    ai_base_url: str = "https://api.openai.com/v1"
    ai_api_key: SecretStr | None = None
    # Header that carries the key: "Authorization" sends "Bearer <key>"; Azure OpenAI
    # wants "api-key". Extra query parameters (Azure: "api-version=2024-10-21").
    ai_auth_header: str = Field(default="Authorization", min_length=1, max_length=100)
    ai_query_params: str = ""
    # Default model per capability; a task may name its own in payload.model.
    ai_model_generation: str = "gpt-4o-mini"
    ai_model_reasoning: str = "o3-mini"
    ai_model_classification: str = "gpt-4o-mini"
    ai_model_vision: str = "gpt-4o-mini"
    ai_model_embedding: str = "text-embedding-3-small"
    ai_timeout_seconds: float = Field(default=120.0, gt=0, le=3600)
    ai_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    # Prices per model (JSON: {"model": {"input": USD per 1M tokens, "output": ...}}),
    # merged over the built-in table of app/domain/pricing.py.
    ai_pricing_file: Path | None = None
    # The simulated provider: its delay per call and the share of calls that fail (5xx).
    simulated_ai_latency_ms: float = Field(default=20.0, ge=0, le=60_000)
    simulated_ai_failure_rate: float = Field(default=0.0, ge=0, le=1)
    # Largest image (decoded bytes) a vision task may carry inline.
    vision_max_image_bytes: int = Field(default=4 * 1_048_576, ge=1024, le=64 * 1_048_576)
    # Images by URL are fetched by the provider; turn them off when it is self-hosted
    # inside your network (it would fetch whatever internal URL a task names).
    vision_image_urls: bool = True
    # ExternalIntegration: the only hosts it may call (comma-separated; `host` or
    # `host:port` allow https only, `http://host[:port]` plain http to that host and
    # port; empty refuses every call), its timeout, and the largest response it reads.
    integration_allowed_hosts: str = ""
    integration_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    integration_max_response_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # Outputs above the inline limit go to the artifact store (a local folder).
    artifact_dir: Path = Path(".data/artifacts")
    artifact_inline_max_bytes: int = Field(default=65_536, ge=0, le=16 * 1_048_576)

    # Finished tasks older than this are pruned by the maintenance loop; dead letters
    # wait longer for an operator.
    retention_days: float = Field(default=7.0, gt=0, le=3650)
    dead_letter_retention_days: float = Field(default=30.0, gt=0, le=3650)
    # A schedule's tick younger than this is started however late (a leader change takes
    # seconds); older ticks were missed and follow its `missed` policy.
    schedule_catch_up_seconds: float = Field(default=60.0, ge=1, le=86_400)

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"postgres", "postgresql"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp_url(cls, value: SecretStr) -> SecretStr:
        if urlsplit(value.get_secret_value()).scheme not in {"amqp", "amqps"}:
            raise ValueError("must be an amqp:// or amqps:// URL")
        return value

    @field_validator("ai_base_url")
    @classmethod
    def _ai_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("integration_allowed_hosts")
    @classmethod
    def _allowed_hosts(cls, value: str) -> str:
        problems = []
        for entry in _split_hosts(value):
            try:
                allow_list_key(entry)
            except ValueError as error:
                problems.append(redact_url(str(error)))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("api_trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        parse_trusted_proxies(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _environment_rules(self) -> Self:
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        if self.app_env is AppEnv.PRODUCTION:
            problems = []
            if self.database_url is None:
                problems.append("DATABASE_URL is required (no embedded database in Production)")
            if self.dev_api_key is not None:
                problems.append("DEV_API_KEY must not be set in Production")
            if _has_default_credentials(self.amqp_url.get_secret_value()):
                problems.append("AMQP_URL must not use the default guest:guest credentials")
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def is_development(self) -> bool:
        return self.app_env is AppEnv.DEVELOPMENT

    @property
    def console_logs(self) -> bool:
        return self.is_development if self.log_console is None else self.log_console

    @property
    def ai(self) -> AiProvider:
        if self.ai_provider is not None:
            return self.ai_provider
        return AiProvider.SIMULATED if self.is_development else AiProvider.OPENAI

    @property
    def allowed_integration_hosts(self) -> frozenset[str]:
        """The allow-list as keys: "https://api.example.com:443", "http://127.0.0.1:8080"."""
        return allow_list_keys(_split_hosts(self.integration_allowed_hosts))

    @property
    def trusted_proxies(self) -> TrustedProxies:
        """API_TRUSTED_PROXIES as networks."""
        return parse_trusted_proxies(self.api_trusted_proxies)

    @property
    def demo_tasks(self) -> bool:
        return self.is_development if self.demo_tasks_enabled is None else self.demo_tasks_enabled


def _split_hosts(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def _has_default_credentials(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.username, parts.password) in {("guest", "guest"), (None, None)}


_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def redact_url(text: str) -> str:
    """Hide the password part of any URL in `text`."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def load_settings(**overrides: Any) -> Settings:
    """Read and validate settings, or raise `ConfigError` with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            where = "_".join(str(part) for part in problem["loc"]).upper() or "settings"
            message = problem["msg"].removeprefix("Value error, ")
            shown = "" if _is_secret(where) else _shown_input(problem.get("input"))
            lines.append(f"{where}: {message}{shown}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def _is_secret(name: str) -> bool:
    return any(word in name for word in ("URL", "KEY", "PASSWORD", "SECRET", "TOKEN"))


def _shown_input(value: object) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return f" (got {redact_url(str(value))!r})"
    return ""
