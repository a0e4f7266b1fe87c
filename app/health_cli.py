"""`assistente health`: is this installation well? Postgres answers, every migration is
applied, the outbox lag, a maintenance leader is there. Exit 0 when all are, 1 otherwise."""

from __future__ import annotations

import asyncio

import click

from app.application.health import HealthReport, check_health
from app.bootstrap import ConfigError, build_services, operator_health_checks
from app.cli_startup import EXIT_CONFIG, EXIT_FAILED, fail, start
from app.config import Settings
from app.operator_output import emit_json, emit_table


async def _report(settings: Settings) -> HealthReport:
    services = build_services(settings, process="cli")
    # Not waiting for the pool: an unreachable database is a check's answer, not a hang.
    await services.start(wait=False)
    try:
        return await check_health(operator_health_checks(services))
    finally:
        await services.stop()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
def health(as_json: bool) -> None:
    """Check Postgres, migrations, the outbox lag and the maintenance leader; exit 1 if any
    check fails."""
    settings = start("cli")
    try:
        report = asyncio.run(_report(settings))
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    if as_json:
        emit_json({"status": "ok" if report.ok else "unavailable", "checks": report.checks})
    else:
        rows = [
            {
                "check": name,
                "status": entry["status"],
                "detail": entry.get("detail")
                or ", ".join(f"{k}={v}" for k, v in entry.items() if k not in {"status", "detail"}),
            }
            for name, entry in report.checks.items()
        ]
        emit_table("health", ("check", "status", "detail"), rows, empty="")
        click.echo("healthy" if report.ok else "unhealthy")
    if not report.ok:
        raise SystemExit(EXIT_FAILED)
