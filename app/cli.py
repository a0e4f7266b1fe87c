"""`assistente`: one console script, one subcommand per process kind."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import click
from pydantic import SecretStr

from app.api.server import freeze_startup_objects, serve_api
from app.bootstrap import (
    ConfigError,
    MigrationError,
    build_api,
    build_relay,
    build_services,
    build_worker,
    database_url,
    rabbitmq_reachable,
)
from app.bootstrap.preflight import Unavailable, check_port_free, migrate_when_reachable
from app.cli_startup import EXIT_CONFIG, fail, start
from app.dead_letter_cli import dead_letters
from app.dev_setup import dev_database, worker_child
from app.event_cli import events
from app.health_cli import health
from app.prune_cli import prune
from app.schedule_cli import schedules
from app.stats_cli import stats
from app.task_cli import tasks
from app.tenant_cli import tenants
from app.trigger_cli import triggers
from app.worker_cli import workers
from workers.signals import run_event_loop, run_until_signalled
from workers.worker import load_registry, run_worker

LOCAL_DEV_KEY = "atk_local_development_only"


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    # A second Ctrl+C during shutdown ends the process without a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(coroutine)


def _migrate_or_exit(url: str, wait_seconds: float = 0.0) -> None:
    try:
        report = asyncio.run(migrate_when_reachable(url, wait_seconds))
    except (MigrationError, Unavailable) as error:
        fail(str(error))
    for label in report.applied:
        click.echo(f"applied {label}")
    click.echo(
        f"schema up to date ({len(report.applied)} applied, {report.already_applied} already there)"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Assistente Tasks: a Postgres-native task queue for AI work."""


@main.command()
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 3600),
    default=0,
    metavar="SECONDS",
    help="Keep trying an unreachable database this long (default 0: fail at once).",
)
def migrate(wait_seconds: float) -> None:
    """Apply pending SQL migrations to DATABASE_URL (safe to run twice, or twice at once)."""
    settings = start("migrate")
    try:
        url = database_url(settings)
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    _migrate_or_exit(url, wait_seconds)


def _port_free_or_exit(host: str, port: int) -> None:
    try:
        check_port_free(host, port)
    except Unavailable as error:
        fail(str(error), EXIT_CONFIG)


def _host_port(command: Callable[..., None]) -> Callable[..., None]:
    command = click.option("--port", type=int, default=None, help="Port (default API_PORT, 8000).")(
        command
    )
    return click.option(
        "--host", default=None, help="Address to bind (default API_HOST, 127.0.0.1)."
    )(command)


@main.command()
@_host_port
def api(host: str | None, port: int | None) -> None:
    """Serve the REST API with Hypercorn."""
    settings = start("api")
    host, port = host or settings.api_host, port or settings.api_port
    try:
        services = build_services(settings, process="api")
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    _port_free_or_exit(host, port)
    app = build_api(services)
    freeze_startup_objects()
    _run(
        run_until_signalled(
            lambda stop: serve_api(
                app, host=host, port=port, stop=stop, backlog=settings.api_backlog
            )
        )
    )


@main.command()
@click.option(
    "--app",
    "app_spec",
    default=None,
    metavar="MODULE:REGISTRY",
    help="Your handlers: a HandlerRegistry, e.g. mypkg.tasks:registry.",
)
@click.option("--concurrency", type=click.IntRange(1, 1000), default=None, help="Tasks at once.")
@click.option("--worker-id", default=None, help="Name in leases and logs (default host-pid).")
@click.option("--burst", is_flag=True, help="Exit once no task is due and none is running.")
# `assistente dev` runs its worker as a child that stops when dev is gone.
@click.option("--parent-pid", type=int, default=None, hidden=True)
def worker(
    app_spec: str | None,
    concurrency: int | None,
    worker_id: str | None,
    burst: bool,
    parent_pid: int | None,
) -> None:
    """Run tasks leased from Postgres until SIGTERM/SIGINT (a second signal exits at once)."""
    settings = start("worker")
    try:
        registry = load_registry(app_spec) if app_spec else None
        process = build_worker(
            settings, registry, worker_id=worker_id, concurrency=concurrency, burst=burst
        )
    except (ConfigError, ValueError, ImportError) as error:
        fail(str(error), EXIT_CONFIG)
    _run(run_until_signalled(lambda stop: run_worker(process, stop, parent_pid=parent_pid)))


@main.command()
def relay() -> None:
    """Publish outbox events to RabbitMQ until SIGTERM/SIGINT (one relay active at a time)."""
    settings = start("relay")
    try:
        process = build_relay(settings)
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    _run(run_until_signalled(process.run))


@main.command()
@_host_port
def dev(host: str | None, port: int | None) -> None:
    """Run everything for local work: embedded Postgres if DATABASE_URL is unset,
    migrations, the API, a worker (restarted if it dies) and the relay (it publishes to
    RabbitMQ at AMQP_URL, waiting for it if it does not answer yet)."""
    settings = start("dev")
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    _port_free_or_exit(bind_host, bind_port)
    try:
        url = dev_database(settings, click.echo)
    except (ConfigError, Unavailable) as error:
        fail(str(error), EXIT_CONFIG)
    _migrate_or_exit(url)
    if rabbitmq_reachable(settings):
        click.echo("RabbitMQ answers at AMQP_URL: the relay publishes task events to it.")
    else:
        click.echo(
            "RabbitMQ is not reachable at AMQP_URL yet: the relay keeps trying;"
            " events wait in the outbox until it answers."
        )
    if settings.dev_api_key is None:
        # A fixed key for local calls; Production refuses any DEV_API_KEY.
        settings = settings.model_copy(update={"dev_api_key": SecretStr(LOCAL_DEV_KEY)})
    assert settings.dev_api_key is not None
    dev_key = settings.dev_api_key.get_secret_value()
    click.echo(f"API key for local calls (admin of tenant 'dev'): {dev_key}")
    try:
        app = build_api(build_services(settings, process="api", url=url))
        build_worker(settings, url=url)  # a setting the worker refuses stops dev here
        relay_process = build_relay(settings, url=url)
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    click.echo(
        f"API on http://{bind_host}:{bind_port}, worker running with the {settings.ai} AI"
        " provider  (Ctrl+C stops)"
    )
    # The worker runs as a child: a handler that kills its process takes down only it.
    run_worker_child = worker_child(settings, url)

    async def serve_all(stop: asyncio.Event) -> None:
        await asyncio.gather(
            serve_api(app, host=bind_host, port=bind_port, stop=stop, backlog=settings.api_backlog),
            run_worker_child(stop),
            relay_process.run(stop),
        )

    _run(run_until_signalled(serve_all))


main.add_command(events)
main.add_command(tenants)
main.add_command(schedules)
main.add_command(tasks)
main.add_command(triggers)
main.add_command(dead_letters)
main.add_command(health)
main.add_command(workers)
main.add_command(stats)
main.add_command(prune)


if __name__ == "__main__":  # pragma: no cover
    main()
