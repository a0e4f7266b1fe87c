"""Settings: sane defaults, one clear message per bad value, Production refuses insecure ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import AppEnv, ConfigError, load_settings

SETTINGS_VARS = [
    "APP_ENV",
    "DATABASE_URL",
    "AMQP_URL",
    "DEV_API_KEY",
    "LOG_DIR",
    "LOG_LEVEL",
    "WORKER_CONCURRENCY",
    "DB_POOL_MIN_SIZE",
    "DB_POOL_MAX_SIZE",
    "DEMO_TASKS_ENABLED",
    "LOG_CONSOLE",
    "INTEGRATION_ALLOWED_HOSTS",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTINGS_VARS:
        monkeypatch.delenv(name, raising=False)
    # No stray .env from the developer's checkout.
    monkeypatch.chdir(tmp_path)


PRODUCTION = {
    "APP_ENV": "Production",
    "DATABASE_URL": "postgresql://app:s3cret-db@db.internal:5432/assistente",
    "AMQP_URL": "amqp://app:s3cret-mq@mq.internal:5672/%2F",
}


def test_defaults_are_a_working_development_setup() -> None:
    settings = load_settings()
    assert settings.app_env is AppEnv.DEVELOPMENT
    assert settings.database_url is None
    assert settings.console_logs and settings.demo_tasks
    assert settings.worker_concurrency == 10
    assert settings.job_timeout_seconds == 900  # seed 002: 15 minutes


def test_an_unknown_environment_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APP_ENV", "prod")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert "APP_ENV" in message
    assert "'Development', 'Staging' or 'Production'" in message
    assert "'prod'" in message


def test_a_non_number_where_a_number_belongs_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_CONCURRENCY", "lots")
    with pytest.raises(ConfigError, match=r"WORKER_CONCURRENCY: .*integer.*'lots'"):
        load_settings()


def test_out_of_range_values_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    with pytest.raises(ConfigError, match=r"WORKER_CONCURRENCY: .*greater than or equal to 1"):
        load_settings()


def test_every_bad_value_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    monkeypatch.setenv("DATABASE_URL", "mysql://root@localhost/db")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "LOG_LEVEL" in str(raised.value)
    assert "DATABASE_URL: must be a postgresql:// URL" in str(raised.value)


def test_a_bad_url_is_reported_without_echoing_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMQP_URL", "http://user:hunter2-secret@mq:5672/")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "AMQP_URL" in str(raised.value)
    assert "hunter2-secret" not in str(raised.value)


def test_pool_bounds_must_be_ordered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "20")
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "5")
    with pytest.raises(ConfigError, match="DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE"):
        load_settings()


def test_integration_hosts_are_https_only_unless_an_entry_says_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "INTEGRATION_ALLOWED_HOSTS",
        "API.example.com, hooks.example.com:8443, https://[::1]:9000,"
        "http://127.0.0.1:8080, http://legacy.example.com",
    )
    settings = load_settings()
    assert settings.allowed_integration_hosts == {
        "https://api.example.com:443",
        "https://hooks.example.com:8443",
        "https://[::1]:9000",
        "http://127.0.0.1:8080",
        "http://legacy.example.com:80",
    }
    # The setting itself stays the string it was given.
    assert settings.integration_allowed_hosts.startswith("API.example.com, ")


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("ftp://files.example.com", "only http:// and https:// entries are allowed"),
        ("https://api.example.com/v1", "an entry is a host and port, with no path, query or user"),
        ("http://u@api.example.com", "an entry is a host and port, with no path, query or user"),
        ("api.example.com:70000", "is not host, host:port, https://host[:port] or http://host"),
        ("[::1::2]:8080", "[::1::2] is not an IPv6 address"),
    ],
)
def test_a_bad_integration_host_is_reported_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch, entry: str, reason: str
) -> None:
    monkeypatch.setenv("INTEGRATION_ALLOWED_HOSTS", f"api.example.com, {entry}")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert f"INTEGRATION_ALLOWED_HOSTS: {entry!r}" in str(raised.value)
    assert reason in str(raised.value)


def test_a_password_in_an_integration_host_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEGRATION_ALLOWED_HOSTS", "https://hook:hunter2-secret@api.example.com")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "INTEGRATION_ALLOWED_HOSTS: 'https://hook:***@api.example.com': " in str(raised.value)
    assert "hunter2-secret" not in str(raised.value)


def test_production_with_explicit_settings_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PRODUCTION.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.app_env is AppEnv.PRODUCTION
    assert not settings.console_logs and not settings.demo_tasks


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is required (no embedded database in Production)"),
        ({"DEV_API_KEY": "atk_devdevdevdevdevdevdev"}, "DEV_API_KEY must not be set in Production"),
        (
            {"AMQP_URL": "amqp://guest:guest@mq:5672/%2F"},
            "AMQP_URL must not use the default guest:guest credentials",
        ),
    ],
)
def test_production_refuses_insecure_defaults(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, str], complaint: str
) -> None:
    for name, value in {**PRODUCTION, **change}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert complaint in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_dot_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("APP_ENV=Staging\nWORKER_CONCURRENCY=32\n")
    settings = load_settings()
    assert settings.app_env is AppEnv.STAGING
    assert settings.worker_concurrency == 32


def test_the_environment_wins_over_dot_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("WORKER_CONCURRENCY=32\n")
    monkeypatch.setenv("WORKER_CONCURRENCY", "4")
    assert load_settings().worker_concurrency == 4


def test_trusted_proxies_are_addresses_or_cidrs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TRUSTED_PROXIES", "10.0.0.0/8, ::1")
    assert [str(network) for network in load_settings().trusted_proxies] == [
        "10.0.0.0/8",
        "::1/128",
    ]
    monkeypatch.setenv("API_TRUSTED_PROXIES", "10.0.0.1, proxy.internal")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "API_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or CIDR" in str(raised.value)


def test_by_default_no_proxy_is_trusted() -> None:
    assert load_settings().trusted_proxies == ()
