"""Embedded Postgres (the optional `pgserver` package) for `assistente dev` with no database.

pgserver keeps the pids of the processes using a server in `<data dir>/.handle_pids.json`
and stops the server at exit of the last one, from an `atexit` hook. A process killed
by a signal never runs that hook: its pid stays in the file, and the server, seeing a
holder that is not there, is never stopped again. So here:

- dead pids are pruned from the file before pgserver reads it, and a server that no
  live process holds is reported as left over (and reused: we become its holder);
- a small guard process (`python -m app.adapters.postgres.embedded_guard`) waits for
  the starting process to end, however it ends, and stops the server if no live
  holder remains.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

PIDS_FILE = ".handle_pids.json"
MISSING_EXTRA = (
    "embedded Postgres needs the extra: pip install 'assistente-tasks[embedded]' "
    "(or set DATABASE_URL)"
)


class EmbeddedPostgresError(Exception):
    """The embedded Postgres cannot be started; the message says what to do."""


@dataclass(frozen=True, slots=True)
class EmbeddedPostgres:
    """A running embedded server: its password-free URL and what was found at start."""

    url: str
    data_dir: Path
    # Set when a server left running by an earlier, killed process was found and reused.
    left_over_pid: int | None = None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    try:  # a killed process its parent has not reaped yet is dead too
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in {"Z", "X"}


def postmaster(data_dir: Path) -> tuple[int, str] | None:
    """(pid, URL) of the server running on `data_dir` and ready, else None."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready" or not lines[0].strip().isdigit():
        return None
    pid, port, socket_dir = int(lines[0]), lines[3].strip(), lines[4].strip()
    if not pid_alive(pid) or not socket_dir:
        return None
    return pid, f"postgresql://postgres:@/postgres?host={socket_dir}&port={port}"


def live_holders(data_dir: Path) -> list[int]:
    """Drop dead pids from pgserver's holder list and return the live ones."""
    path = data_dir / PIDS_FILE
    try:
        pids = [int(pid) for pid in json.loads(path.read_text())]
    except (FileNotFoundError, ValueError, TypeError):
        return []
    alive = [pid for pid in pids if pid_alive(pid)]
    if alive != pids:
        path.write_text(json.dumps(alive))
    return alive


def find_running(data_dir: Path) -> str | None:
    """The URL of an embedded server already running on `data_dir`, else None."""
    found = postmaster(data_dir.expanduser().resolve())
    return found[1] if found else None


def start_embedded_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Start (or reuse) a Postgres under `data_dir`; it stops when this process ends."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    running = postmaster(data_dir)
    left_over = running[0] if running and not live_holders(data_dir) else None
    if running is None:
        live_holders(data_dir)
    with warnings.catch_warnings():
        # pgserver's use of platformdirs warns about XDG_RUNTIME_DIR: not ours to fix.
        warnings.simplefilter("ignore")
        try:
            import pgserver  # type: ignore[import-untyped,unused-ignore]
        except ImportError as error:
            raise EmbeddedPostgresError(MISSING_EXTRA) from error
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    _start_guard(data_dir)
    return EmbeddedPostgres(str(server.get_uri()), data_dir, left_over)


_guards: list[subprocess.Popen[bytes]] = []  # kept: a collected Popen warns while it runs


def _start_guard(data_dir: Path) -> None:
    # Its own session: Ctrl+C in the terminal reaches the dev process, not the guard.
    with contextlib.suppress(OSError):
        guard = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-m",
                "app.adapters.postgres.embedded_guard",
                str(os.getpid()),
                str(data_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _guards.append(guard)
