"""HttpxIntegrationClient against a real HTTP server on the loopback interface."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from app.adapters.http.integration_client import HttpxIntegrationClient
from app.domain.errors import NonRetryableError, RetryableError
from tests.http_servers import serving

MAX_BYTES = 1000


class LoopbackServer(ThreadingHTTPServer):
    """Records every request it receives; never prints a traceback for a closed socket."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Routes)
        self.seen: list[tuple[str, str]] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client gave up on /slow and closed its end: expected


class Routes(BaseHTTPRequestHandler):
    server: LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.seen.append((self.command, self.path))
        route = getattr(self, "route_" + self.path.strip("/").split("/")[0], None)
        if route is None:
            self.reply(404, b"no such route")
        else:
            route()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def reply(
        self, status: int, body: bytes, content_type: str = "text/plain", **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def route_json(self) -> None:
        self.reply(200, b'{"ok": true}', "application/json")

    def route_echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        echoed = {
            "method": self.command,
            "contentType": self.headers.get("Content-Type"),
            "cookie": self.headers.get("Cookie"),
            "body": body.decode(),
        }
        self.reply(200, json.dumps(echoed).encode(), "application/json")

    def route_redirect(self) -> None:
        self.reply(302, b"", Location="http://127.0.0.1:9/elsewhere")

    def route_cookie(self) -> None:
        self.reply(200, b"set", Set_Cookie="session=abc; Path=/")

    def route_big(self) -> None:
        self.reply(200, b"x" * (MAX_BYTES + 1))

    def route_stream(self) -> None:
        # No Content-Length: the body ends when the connection closes (HTTP/1.0).
        self.send_response(200)
        self.end_headers()
        for _ in range(20):
            self.wfile.write(b"y" * 100)

    def route_gzip(self) -> None:
        # A server compressing although the client asked for identity: 1 KiB that
        # would expand to far more than the limit.
        bomb = gzip.compress(b"\0" * (MAX_BYTES * 100))
        self.reply(
            200,
            bomb,
            Content_Encoding="gzip",
            Accept_Encoding_Seen=self.headers.get("Accept-Encoding", ""),
        )

    def route_slow(self) -> None:
        time.sleep(1.5)
        self.reply(200, b"late")

    def route_status(self) -> None:
        self.reply(int(self.path.rsplit("/", 1)[1]), b"status", Retry_After="3")


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with serving(LoopbackServer()) as httpd:
        yield httpd


def allowed(server: LoopbackServer) -> frozenset[str]:
    # The loopback server speaks plain http, which a bare host:port entry would refuse.
    return frozenset({f"http://127.0.0.1:{server.server_address[1]}"})


@pytest.fixture
async def client(server: LoopbackServer) -> AsyncIterator[HttpxIntegrationClient]:
    http = HttpxIntegrationClient(allowed(server), timeout=0.5, max_response_bytes=MAX_BYTES)
    yield http
    await http.aclose()


async def test_a_json_answer_comes_back_whole(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    response = await client.request("GET", f"{server.base}/json", headers={}, timeout=2)
    assert (response.status, response.body) == (200, b'{"ok": true}')
    assert response.headers["content-type"] == "application/json"
    assert response.latency_ms >= 0


async def test_a_json_body_and_a_text_body_are_sent_with_their_content_types(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    sent = await client.request(
        "POST", f"{server.base}/echo", headers={}, json_body={"a": 1}, timeout=2
    )
    echoed = json.loads(sent.body)
    assert (echoed["method"], echoed["contentType"]) == ("POST", "application/json")
    assert json.loads(echoed["body"]) == {"a": 1}
    sent = await client.request("PUT", f"{server.base}/echo", headers={}, body="hé", timeout=2)
    echoed = json.loads(sent.body)
    assert (echoed["contentType"], echoed["body"]) == ("text/plain; charset=utf-8", "hé")


async def test_an_error_status_is_an_answer_not_an_exception(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    response = await client.request("DELETE", f"{server.base}/status/429", headers={}, timeout=2)
    assert (response.status, response.headers["retry-after"]) == (429, "3")


async def test_redirects_are_returned_not_followed(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    response = await client.request("GET", f"{server.base}/redirect", headers={}, timeout=2)
    assert (response.status, response.headers["location"]) == (302, "http://127.0.0.1:9/elsewhere")
    assert server.seen == [("GET", "/redirect")]


@pytest.mark.parametrize("route", ["big", "stream"])
async def test_a_response_past_the_limit_is_refused(
    server: LoopbackServer, client: HttpxIntegrationClient, route: str
) -> None:
    with pytest.raises(NonRetryableError) as caught:
        await client.request("GET", f"{server.base}/{route}", headers={}, timeout=2)
    assert caught.value.code == "ResponseTooLarge"
    port = server.server_address[1]
    assert str(caught.value) == (
        f"GET 127.0.0.1:{port}: the response is larger than {MAX_BYTES} bytes"
    )


async def test_a_compressed_answer_is_refused_without_being_expanded(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    with pytest.raises(NonRetryableError) as caught:
        await client.request("GET", f"{server.base}/gzip", headers={}, timeout=2)
    assert caught.value.code == "ResponseEncoded"


async def test_a_slow_server_times_out_as_a_retryable_error(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        await client.request("GET", f"{server.base}/slow", headers={}, timeout=0.3)
    assert caught.value.code == "IntegrationTimeout"
    assert time.monotonic() - started < 1.2


async def test_a_host_nobody_listens_on_is_unreachable_and_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpxIntegrationClient(frozenset({f"http://127.0.0.1:{port}"}), 1.0, MAX_BYTES)
    try:
        with pytest.raises(RetryableError) as caught:
            await http.request("GET", f"http://127.0.0.1:{port}/", headers={}, timeout=1)
    finally:
        await http.aclose()
    assert caught.value.code == "IntegrationUnreachable"


@pytest.mark.parametrize(
    ("template", "code"),
    [
        ("http://localhost:{port}/json", "HostNotAllowed"),
        ("http://127.0.0.1:{other}/json", "HostNotAllowed"),
        # An http:// entry allows plain http to that port, not https to it.
        ("https://127.0.0.1:{port}/json", "HostNotAllowed"),
        # Parsers disagree on this one; whatever httpx makes of it, no request is sent.
        ("http://127.0.0.1:{port}\\@evil.test/json", None),
        ("http://user:pw@127.0.0.1:{port}/json", "BadPayload"),
        ("file:///etc/passwd", "BadPayload"),
    ],
)
async def test_the_client_itself_refuses_hosts_outside_its_allow_list(
    server: LoopbackServer, client: HttpxIntegrationClient, template: str, code: str | None
) -> None:
    port = server.server_address[1]
    url = template.format(port=port, other=port + 1)
    with pytest.raises(NonRetryableError) as caught:
        await client.request("GET", url, headers={}, timeout=2)
    if code is not None:
        assert caught.value.code == code
    assert server.seen == []


async def test_a_host_listed_without_http_is_not_called_over_plain_http(
    server: LoopbackServer,
) -> None:
    port = server.server_address[1]
    http = HttpxIntegrationClient(frozenset({f"127.0.0.1:{port}"}), 1.0, MAX_BYTES)
    try:
        with pytest.raises(NonRetryableError) as caught:
            await http.request(
                "POST", f"{server.base}/echo", headers={"Authorization": "Bearer t0ken"}, timeout=1
            )
    finally:
        await http.aclose()
    assert caught.value.code == "HostNotAllowed"
    assert str(caught.value) == (
        f"http://127.0.0.1:{port} is not allowed: only https is listed for 127.0.0.1"
    )
    assert server.seen == []


async def test_cookies_set_by_one_call_are_never_sent_on_another(
    server: LoopbackServer, client: HttpxIntegrationClient
) -> None:
    await client.request("GET", f"{server.base}/cookie", headers={}, timeout=2)
    response = await client.request("POST", f"{server.base}/echo", headers={}, timeout=2)
    assert json.loads(response.body)["cookie"] is None


async def test_proxy_settings_in_the_environment_are_ignored(
    server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    http = HttpxIntegrationClient(allowed(server), timeout=1, max_response_bytes=MAX_BYTES)
    try:
        response = await http.request("GET", f"{server.base}/json", headers={}, timeout=2)
    finally:
        await http.aclose()
    assert response.status == 200
