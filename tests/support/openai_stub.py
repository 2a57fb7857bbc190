"""A local OpenAI-compatible Chat Completions server with scripted answers, for tests.

It speaks ``POST /v1/chat/completions`` with the documented response shape, so the real
``openai`` client talks to it unchanged. Each request takes the next item of a script:
an answer (``Reply``), an HTTP error (``Status``, e.g. 429 with Retry-After or 500), a raw
body (``Raw``, for garbage that is not even JSON) or a ``Delay`` longer than the client's
timeout. Every request is recorded (headers and parsed body) so tests can assert on the
prompts the product sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Delay", "OpenAIStub", "Raw", "Recorded", "Reply", "Status", "json_reply"]


@dataclass(frozen=True)
class Reply:
    """A successful chat completion whose message content is ``content``."""

    content: str
    prompt_tokens: int = 11
    completion_tokens: int = 7
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Status:
    """An HTTP error answer, in the OpenAI error body shape."""

    code: int
    message: str = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Raw:
    """Any body at all (garbage that is not a chat completion)."""

    body: bytes
    code: int = 200
    content_type: str = "application/json"


@dataclass(frozen=True)
class Delay:
    """Wait this long before answering with ``then`` (the client gives up first)."""

    seconds: float
    then: Reply | Status | Raw = field(default_factory=lambda: Reply("{}"))


Item = Reply | Status | Raw | Delay


def json_reply(obj: object, **kwargs: Any) -> Reply:
    """A Reply whose content is ``obj`` as JSON."""
    return Reply(json.dumps(obj), **kwargs)


@dataclass
class Recorded:
    """One request the stub received."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any
    at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request ([] if it had none)."""
        if isinstance(self.body, dict) and isinstance(self.body.get("messages"), list):
            return list(self.body["messages"])
        return []

    def text(self, role: str | None = None) -> str:
        """All message contents (of one role, if given) joined with newlines."""
        return "\n".join(
            str(m.get("content", "")) for m in self.messages if role is None or m["role"] == role
        )


class OpenAIStub:
    """A threaded HTTP server on 127.0.0.1:<free port> that plays a script of answers."""

    def __init__(self, script: Iterable[Item] = (), *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self._script: deque[Item] = deque(script)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._count = 0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

            def do_POST(self) -> None:
                stub._handle(self)

            def do_GET(self) -> None:
                stub._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """The base URL to give the openai client (ends in /v1)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> OpenAIStub:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut short any scripted delay."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, *items: Item) -> None:
        """Append answers to the script."""
        with self._lock:
            self._script.extend(items)

    @property
    def remaining(self) -> int:
        """Script items not yet served."""
        with self._lock:
            return len(self._script)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                Recorded(
                    method=h.command,
                    path=h.path,
                    headers={k.lower(): v for k, v in h.headers.items()},
                    raw=raw,
                    body=body,
                    at=time.monotonic(),
                )
            )
            self._count += 1
            number = self._count
            item: Item | None = self._script.popleft() if self._script else None

        if h.command != "POST" or h.path.rstrip("/") != "/v1/chat/completions":
            self._send_error(h, Status(404, f"no route {h.command} {h.path}"))
            return
        if self.api_key is not None and h.headers.get("Authorization") != f"Bearer {self.api_key}":
            self._send_error(h, Status(401, "Incorrect API key provided"))
            return
        if item is None:
            self._send_error(h, Status(500, "the stub's script is exhausted"))
            return
        if isinstance(item, Delay):
            if self._stopping.wait(item.seconds):
                return
            item = item.then
        try:
            if isinstance(item, Reply):
                model = body.get("model", "stub") if isinstance(body, dict) else "stub"
                self._send(h, 200, _completion(item, number, str(model)))
            elif isinstance(item, Status):
                self._send_error(h, item)
            else:
                self._send(h, item.code, item.body, item.content_type)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and went away, which is what a Delay is for

    def _send_error(self, h: BaseHTTPRequestHandler, status: Status) -> None:
        body = json.dumps(
            {
                "error": {
                    "message": status.message,
                    "type": "rate_limit_error" if status.code == 429 else "server_error",
                    "param": None,
                    "code": None,
                }
            }
        ).encode()
        self._send(h, status.code, body, headers=status.headers)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        code: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        h.send_response(code)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()


def _completion(reply: Reply, number: int, model: str) -> bytes:
    return json.dumps(
        {
            "id": f"chatcmpl-stub-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }
    ).encode()
