"""How every `assistente` subcommand starts and fails: settings and logging loaded for its
process, or an `error:` line on stderr and an exit code."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from app.bootstrap import ConfigError
from app.config import Settings, load_settings
from app.logging import configure_logging

EXIT_CONFIG = 2
EXIT_FAILED = 1


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def start(process: str) -> Settings:
    """Load settings and logging for `process`, or exit with the reason."""
    try:
        settings = load_settings()
    except ConfigError as error:
        fail(str(error), EXIT_CONFIG)
    try:
        configure_logging(
            process,
            log_dir=settings.log_dir,
            level=settings.log_level,
            console=settings.console_logs,
        )
    except OSError as error:
        fail(f"LOG_DIR={settings.log_dir} is not writable: {error.strerror}", EXIT_CONFIG)
    return settings
