"""How operator commands print: a `rich` table on a terminal (plain text, no colour codes,
when stdout is a pipe or a file), or JSON with `--json`, for scripts."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def console() -> Console:
    """A console on the current stdout: colour only on a terminal; wide off one, so a
    pipe gets whole UUIDs rather than folded ones."""
    terminal = sys.stdout.isatty()
    return Console(file=sys.stdout, width=None if terminal else 250, no_color=not terminal)


def plain(value: Any) -> Any:
    """A value as JSON shows it (times as ISO 8601, ids as strings)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def emit_json(document: Any) -> None:
    """Print `document` as one JSON document."""
    click.echo(json.dumps(plain(document), indent=2))


def emit_table(
    title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, empty: str
) -> None:
    """Print rows (camelCase keys as in --json) under their column headers."""
    if not rows:
        click.echo(empty)
        return
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    text = str(value)
    return text if len(text) <= 60 else text[:59] + "…"


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 instant, or a duration before now like `30m`, `2h`, `7d`."""
    match = _DURATION.match(text.strip())
    now = now or datetime.now(UTC)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither an ISO 8601 instant nor a duration like 2h", param_hint="--since"
        ) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
