"""Small HTTP servers for tests, run on a thread of their own."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import HTTPServer
from typing import TypeVar

Server = TypeVar("Server", bound=HTTPServer)


@contextlib.contextmanager
def serving(httpd: Server) -> Iterator[Server]:
    """`httpd` answering on a daemon thread until the block ends."""
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
