"""`python -m app.adapters.postgres.embedded_guard PID DATA_DIR`: stop the embedded
Postgres once process PID has ended, however it ended, unless another live process
still uses the server (pgserver's holder list).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from app.adapters.postgres.embedded import live_holders, pid_alive, postmaster

POLL_SECONDS = 0.5
STOP_WAIT_SECONDS = 30.0


def guard(owner: int, data_dir: Path) -> None:
    """Wait for `owner` to end, then stop the server on `data_dir` if nobody holds it."""
    while pid_alive(owner):
        time.sleep(POLL_SECONDS)
    # pgserver's own exit hook runs first when the owner exits normally; give it a moment.
    time.sleep(POLL_SECONDS)
    if live_holders(data_dir):
        return
    running = postmaster(data_dir)
    if running is None:
        return
    pid = running[0]
    os.kill(pid, signal.SIGINT)  # Postgres' "fast" shutdown: roll back, close, checkpoint
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


if __name__ == "__main__":
    guard(int(sys.argv[1]), Path(sys.argv[2]))
