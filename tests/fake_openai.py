"""FakeOpenAI: a real OpenAI-compatible HTTP server on 127.0.0.1, for tests.

It runs on a thread of its own (ThreadingHTTPServer), so it answers whatever the
test's event loop is doing, and any client (ours, httpx, the openai SDK) can talk
to it over loopback.

    with FakeOpenAI() as fake:                       # or fake.start() ... fake.stop()
        client = OpenAICompatibleClient(base_url=fake.base_url, ...)  # http://127.0.0.1:PORT/v1
        fake.script_chat(FakeReply(status=429, headers={"Retry-After": "3"}))
        fake.script_chat(FakeReply(text="hello", tokens_in=12, tokens_out=5))
        ...
        fake.chat_requests[-1].json["messages"]      # what the client sent

Endpoints: POST {base_url}/chat/completions and POST {base_url}/embeddings; any
other path answers 404 in OpenAI's error shape.

Scripting: `script_chat(*replies)` / `script_embeddings(*replies)` queue replies
that the next requests to that endpoint get, one each, in order. With nothing
queued a request gets the default answer:
- chat: "echo: <text of the last user message>", the requested model,
  finish_reason "stop", usage with words-in and words-out as token counts;
- embeddings: one 27-dimension bag-of-letters vector per input (letters a-z and
  one slot for everything else), normalized, so similar texts score higher; usage
  prompt_tokens = words in all inputs.

A `FakeReply` changes the default answer field by field:
- `status` (default 200); for status >= 400 the body is OpenAI's error shape,
  {"error": {"message", "type", "code"}} from `error_message`/`error_type`/`error_code`;
- `text`, `tokens_in`, `tokens_out`, `model`, `finish_reason` for chat;
  `vectors` for embeddings (indexes in order);
- `headers`: extra response headers (e.g. Retry-After);
- `delay`: seconds to wait before answering (to test timeouts; cut short by stop());
- `body`: the raw answer (bytes or str as is, anything else as JSON), for
  malformed or hand-made answers; it replaces everything above but status and headers.

Recording: `requests` lists every request as a `RecordedRequest` (method, path
without the query, query dict, headers with lower-case names, raw body, parsed
JSON or None); `chat_requests` and `embedding_requests` filter it.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CHAT_PATH = "/chat/completions"
EMBEDDINGS_PATH = "/embeddings"


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer; unset fields keep the default answer's value."""

    status: int = 200
    text: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    model: str | None = None
    finish_reason: str = "stop"
    vectors: list[list[float]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: Any = None
    error_message: str | None = None
    error_type: str = "invalid_request_error"
    error_code: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: Any


class FakeOpenAI:
    """The server; see the module docstring for its API."""

    def __init__(self, prefix: str = "/v1") -> None:
        self.prefix = prefix.rstrip("/")
        self.requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[FakeReply]] = {CHAT_PATH: deque(), EMBEDDINGS_PATH: deque()}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake OpenAI server is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == self.prefix + CHAT_PATH]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == self.prefix + EMBEDDINGS_PATH]

    def script_chat(self, *replies: FakeReply) -> None:
        with self._lock:
            self._scripts[CHAT_PATH].extend(replies)

    def script_embeddings(self, *replies: FakeReply) -> None:
        with self._lock:
            self._scripts[EMBEDDINGS_PATH].extend(replies)

    def start(self) -> FakeOpenAI:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.fake = self  # type: ignore[attr-defined]
        # Handler threads are joined on stop, so none outlives the test.
        server.daemon_threads = False
        self._server = server
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes delayed answers
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _next_reply(self, endpoint: str) -> FakeReply:
        with self._lock:
            queue = self._scripts[endpoint]
            return queue.popleft() if queue else FakeReply()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeOpenAI/1"
    timeout = 10  # a client that never sends its body cannot hold stop() forever

    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        fake._record(RecordedRequest("POST", url.path, query, headers, raw, parsed))
        endpoint = url.path.removeprefix(fake.prefix)
        if endpoint not in (CHAT_PATH, EMBEDDINGS_PATH) or not url.path.startswith(fake.prefix):
            self._send(404, _error_body("Unknown path", "invalid_request_error", None), {})
            return
        if not isinstance(parsed, dict):
            self._send(
                400, _error_body("The body is not a JSON object", "invalid_request_error", None), {}
            )
            return
        reply = fake._next_reply(endpoint)
        if reply.delay and fake._stopping.wait(reply.delay):
            return  # stopping: drop the connection unanswered
        if reply.body is not None:
            body = reply.body
        elif reply.status >= 400:
            message = reply.error_message or f"fake error {reply.status}"
            body = _error_body(message, reply.error_type, reply.error_code)
        elif endpoint == CHAT_PATH:
            body = _chat_answer(parsed, reply)
        else:
            body = _embeddings_answer(parsed, reply)
        self._send(reply.status, body, reply.headers)

    def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
        if isinstance(body, str):
            data = body.encode()
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read `requests`, not stderr


def _error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _words(text: str) -> int:
    return len(text.split())


def _message_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _chat_answer(request: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
    messages = request.get("messages") or []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    text = (
        reply.text
        if reply.text is not None
        else f"echo: {_message_text(users[-1] if users else {})}"
    )
    tokens_in = reply.tokens_in
    if tokens_in is None:
        tokens_in = sum(_words(_message_text(m)) for m in messages)
    tokens_out = reply.tokens_out if reply.tokens_out is not None else _words(text)
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": reply.model or request.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": tokens_in,
            "completion_tokens": tokens_out,
            "total_tokens": tokens_in + tokens_out,
        },
    }


def _embeddings_answer(request: dict[str, Any], reply: FakeReply) -> dict[str, Any]:
    texts = request.get("input")
    texts = [texts] if isinstance(texts, str) else list(texts or [])
    vectors = reply.vectors if reply.vectors is not None else [letter_vector(t) for t in texts]
    tokens = reply.tokens_in if reply.tokens_in is not None else sum(_words(str(t)) for t in texts)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "model": reply.model or request.get("model"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def letter_vector(text: str) -> list[float]:
    """The default embedding: counts of a-z and of everything else (no spaces), normalized."""
    counts = [0.0] * 27
    for char in str(text).lower():
        if "a" <= char <= "z":
            counts[ord(char) - ord("a")] += 1
        elif not char.isspace():
            counts[26] += 1
    norm = math.sqrt(sum(c * c for c in counts)) or 1.0
    return [c / norm for c in counts]
