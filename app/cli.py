"""`assistente`: one console script, one subcommand per process kind."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import click
from pydantic import SecretStr

from app.api.server import freeze_startup_objects, serve_api
from app.application.auth import IssuedKey, create_tenant
from app.application.batches import BatchRecord, iterate_children
from app.application.ports import TaskRecord
from app.bootstrap import (
    ConfigError,
    MigrationError,
    batch_store,
    build_api,
    build_relay,
    build_services,
    build_worker,
    database_url,
    rabbitmq_reachable,
    running_services,
    saga_store,
    tenant_repository,
    trigger_store,
    wait_store,
)
from app.bootstrap.preflight import (
    Unavailable,
    check_broker,
    check_port_free,
    migrate_when_reachable,
    tail_events_or_fail,
)
from app.config import Settings, load_settings
from app.dev_setup import dev_database, worker_child
from app.domain.errors import DomainError
from app.logging import configure_logging
from app.saga_tree import saga_tree
from app.schedule_cli import schedules
from app.trigger_table import trigger_lines
from app.waiting_list import waiting_lines
from workers.signals import run_event_loop, run_until_signalled
from workers.worker import load_registry, run_worker

EXIT_CONFIG = 2
LOCAL_DEV_KEY = "atk_local_development_only"
EXIT_FAILED = 1


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _start(process: str) -> Settings:
    """Load settings and logging for `process`, or exit with the reason."""
    try:
        settings = load_settings()
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    try:
        configure_logging(
            process,
            log_dir=settings.log_dir,
            level=settings.log_level,
            console=settings.console_logs,
        )
    except OSError as error:
        _fail(f"LOG_DIR={settings.log_dir} is not writable: {error.strerror}", EXIT_CONFIG)
    return settings


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    # A second Ctrl+C during shutdown ends the process without a traceback.
    with contextlib.suppress(KeyboardInterrupt):
        run_event_loop(coroutine)


def _migrate_or_exit(url: str, wait_seconds: float = 0.0) -> None:
    try:
        report = asyncio.run(migrate_when_reachable(url, wait_seconds))
    except (MigrationError, Unavailable) as error:
        _fail(str(error))
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
    settings = _start("migrate")
    try:
        url = database_url(settings)
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    _migrate_or_exit(url, wait_seconds)


def _port_free_or_exit(host: str, port: int) -> None:
    try:
        check_port_free(host, port)
    except Unavailable as error:
        _fail(str(error), EXIT_CONFIG)


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
    settings = _start("api")
    host, port = host or settings.api_host, port or settings.api_port
    try:
        services = build_services(settings, process="api")
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
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
    settings = _start("worker")
    try:
        registry = load_registry(app_spec) if app_spec else None
        process = build_worker(
            settings, registry, worker_id=worker_id, concurrency=concurrency, burst=burst
        )
    except (ConfigError, ValueError, ImportError) as error:
        _fail(str(error), EXIT_CONFIG)
    _run(run_until_signalled(lambda stop: run_worker(process, stop, parent_pid=parent_pid)))


@main.command()
def relay() -> None:
    """Publish outbox events to RabbitMQ until SIGTERM/SIGINT (one relay active at a time)."""
    settings = _start("relay")
    try:
        process = build_relay(settings)
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    _run(run_until_signalled(process.run))


@main.command()
@_host_port
def dev(host: str | None, port: int | None) -> None:
    """Run everything for local work: embedded Postgres if DATABASE_URL is unset,
    migrations, the API, a worker (restarted if it dies) and the relay (it publishes to
    RabbitMQ at AMQP_URL, waiting for it if it does not answer yet)."""
    settings = _start("dev")
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    _port_free_or_exit(bind_host, bind_port)
    try:
        url = dev_database(settings, click.echo)
    except (ConfigError, Unavailable) as error:
        _fail(str(error), EXIT_CONFIG)
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
        _fail(str(error), EXIT_CONFIG)
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


@main.group()
def events() -> None:
    """Look at the task events integrations receive."""


@events.command("tail")
@click.option(
    "--routing-key",
    default="task.#",
    show_default=True,
    help="Which events: task.queued, task.*, task.# ...",
)
def events_tail(routing_key: str) -> None:
    """Bind a temporary queue to the events exchange and print events as they come."""
    settings = _start("cli")
    try:
        check_broker(settings)
        click.echo(
            f"listening on {settings.relay_exchange} for {routing_key} (Ctrl+C stops)", err=True
        )
        with contextlib.suppress(KeyboardInterrupt):
            tail_events_or_fail(settings, routing_key, click.echo)
    except Unavailable as error:
        _fail(str(error))


@main.group()
def tenants() -> None:
    """Manage tenants and their API keys."""


@tenants.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="The key sees and manages every tenant.")
def tenants_create(name: str, admin: bool) -> None:
    """Create tenant NAME and print its first API key (shown once)."""
    settings = _start("cli")

    async def create() -> IssuedKey:
        async with running_services(settings, process="cli") as services:
            return await create_tenant(name, tenants=tenant_repository(services), admin=admin)

    try:
        issued = asyncio.run(create())
    except (ConfigError, DomainError) as error:
        _fail(str(error), EXIT_CONFIG)
    click.echo(f"tenant {name} created: {issued.tenant_id}")
    click.echo(f"API key{' (admin)' if admin else ''}, shown once; store it now:")
    click.echo(issued.key)


@tenants.command("revoke-key")
@click.argument("key_id_or_prefix")
def tenants_revoke_key(key_id_or_prefix: str) -> None:
    """Revoke an API key by its id or its printed prefix (atk_…)."""
    settings = _start("cli")

    async def revoke() -> str | None:
        async with running_services(settings, process="cli") as services:
            return await tenant_repository(services).revoke(key_id_or_prefix)

    try:
        revoked = asyncio.run(revoke())
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    if revoked is None:
        _fail(f"no live API key matches {key_id_or_prefix!r}")
    click.echo(f"revoked key {revoked}…")


main.add_command(schedules)


@main.group()
def tasks() -> None:
    """Look at tasks."""


@tasks.command("show")
@click.argument("task_id", type=click.UUID)
@click.option("--tenant", "tenant_id", type=click.UUID, required=True, help="The task's tenant id.")
@click.option("--limit", default=50, show_default=True, help="Children shown under a batch.")
def tasks_show(task_id: uuid.UUID, tenant_id: uuid.UUID, limit: int) -> None:
    """Show task TASK_ID; a batch as a tree (its tasks, then its callback), a saga as a
    tree (its steps in order, each with its compensation)."""
    settings = _start("cli")

    async def show() -> list[str]:
        async with running_services(settings, process="cli") as services:
            task = await services.tasks.get(tenant_id, task_id)
            if task is None:
                return []
            saga = await saga_store(services).get(tenant_id, task_id)
            if saga is not None:
                return saga_tree(saga)
            batches = batch_store(services)
            batch = await batches.get(tenant_id, task_id)
            if batch is None:
                return [_task_line(task)]
            children = []
            async for child in iterate_children(tenant_id, task_id, batches=batches):
                children.append(child)
                if len(children) >= limit:
                    break
            callback = None
            if batch.callback_task_id is not None:
                callback = await services.tasks.get(tenant_id, batch.callback_task_id)
            return batch_tree(batch, children, callback)

    try:
        lines = asyncio.run(show())
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    if not lines:
        _fail(f"no task {task_id} for tenant {tenant_id}")
    for line in lines:
        click.echo(line)


@tasks.command("waiting")
@click.option("--tenant", "tenant_id", type=click.UUID, default=None, help="Only this tenant.")
@click.option("--limit", default=100, show_default=True, help="Tasks shown.")
def tasks_waiting(tenant_id: uuid.UUID | None, limit: int) -> None:
    """List parked tasks, the longest waiting first: what each waits for (a person's
    approval or input, a signal, its children, its dependencies) and since when."""
    settings = _start("cli")

    async def parked() -> list[str]:
        async with running_services(settings, process="cli") as services:
            return waiting_lines(await wait_store(services).parked(tenant_id, limit=limit))

    try:
        lines = asyncio.run(parked())
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    for line in lines or ["no task is waiting"]:
        click.echo(line)


@main.group()
def triggers() -> None:
    """Look at triggers (create and change them with the API: /api/v1/triggers)."""


@triggers.command("list")
@click.option("--tenant", "tenant_id", type=click.UUID, required=True, help="The tenant's id.")
def triggers_list(tenant_id: uuid.UUID) -> None:
    """List a tenant's triggers: what each waits for, what it starts, how often it fired."""
    settings = _start("cli")

    async def listed() -> list[str]:
        async with running_services(settings, process="cli") as services:
            return trigger_lines(await trigger_store(services).list(tenant_id))

    try:
        lines = asyncio.run(listed())
    except ConfigError as error:
        _fail(str(error), EXIT_CONFIG)
    for line in lines:
        click.echo(line)


def _task_line(task: TaskRecord) -> str:
    error = f"  ({task.last_error[:60]})" if task.last_error else ""
    return f"{task.id}  {task.type}  {task.status.value}{error}"


def batch_tree(
    batch: BatchRecord, children: list[TaskRecord], callback: TaskRecord | None
) -> list[str]:
    """A batch as lines of a tree: itself and its counts, its tasks, its callback."""
    lines = [
        f"batch {batch.id}  {batch.status.value}  {batch.done}/{batch.total} ended"
        f"  (succeeded {batch.succeeded}, dead-lettered {batch.dead_lettered},"
        f" cancelled {batch.cancelled})  {batch.failure_policy.value},"
        f" generation {batch.generation}"
    ]
    rows = [f"task {_task_line(child)}" for child in children]
    if batch.total > len(children):
        rows.append(f"… {batch.total - len(children)} more (--limit)")
    if batch.on_complete is not None:
        rows.append(
            f"onComplete {_task_line(callback)}" if callback else "onComplete (not queued yet)"
        )
    for n, row in enumerate(rows):
        lines.append(("└─ " if n == len(rows) - 1 else "├─ ") + row)
    return lines


if __name__ == "__main__":  # pragma: no cover
    main()
