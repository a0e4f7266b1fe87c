"""`assistente events tail`: the task events integrations receive, printed as they come
from a temporary queue bound to the events exchange."""

from __future__ import annotations

import contextlib

import click

from app.bootstrap.preflight import Unavailable, check_broker, tail_events_or_fail
from app.cli_startup import fail, start


@click.group()
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
    settings = start("cli")
    try:
        check_broker(settings)
        click.echo(
            f"listening on {settings.relay_exchange} for {routing_key} (Ctrl+C stops)", err=True
        )
        with contextlib.suppress(KeyboardInterrupt):
            tail_events_or_fail(settings, routing_key, click.echo)
    except Unavailable as error:
        fail(str(error))
