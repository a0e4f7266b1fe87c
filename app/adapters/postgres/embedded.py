"""Embedded Postgres (the `pgserver` package) for `assistente dev` on a laptop with no database."""

from __future__ import annotations

import warnings
from pathlib import Path


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a Postgres under `data_dir` and return its connection URL.

    The server stops when this process exits.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # pgserver's use of platformdirs warns about XDG_RUNTIME_DIR: not ours to fix.
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data_dir.resolve(), cleanup_mode="stop")
    return str(server.get_uri())
