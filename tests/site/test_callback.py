"""The evaluation callback against a real local HTTP receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.verifier.callback import (
    CallbackUrlError,
    check_callback_url,
    evaluation_payload,
    send_callback,
)

LOOPBACK = ("127.0.0.1",)
PAYLOAD = evaluation_payload(
    email="student@example.com",
    task="sum-of-sales",
    round=1,
    nonce="ab12-cd34",
    repo_url="https://github.com/someone/sum-of-sales-a1b2c3",
    commit_sha="0123456789abcdef0123456789abcdef01234567",
    pages_url="https://someone.github.io/sum-of-sales-a1b2c3/",
)


@dataclass
class Hit:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next scripted status (the last one repeats)."""

    statuses: list[int]
    redirect_to: str = ""
    hits: list[Hit] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(statuses=[200])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.hits.append(
                Hit(
                    time.monotonic(),
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
            )
            n = len(state.hits)
            code = state.statuses[min(n, len(state.statuses)) - 1]
            self.send_response(code)
            if code in (307, 308):
                self.send_header("Location", state.redirect_to)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/notify"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


async def test_500_twice_then_200_is_three_attempts_with_doubling_delays(
    receiver: Receiver,
) -> None:
    receiver.statuses = [500, 500, 200]
    seen: list[tuple[int, int | str, float | None]] = []

    async def on_attempt(n: int, outcome: int | str, delay: float | None) -> None:
        seen.append((n, outcome, delay))

    attempts = await send_callback(
        receiver.url,
        PAYLOAD,
        deadline_s=10,
        first_delay_s=0.05,
        on_attempt=on_attempt,
        allowed_hosts=LOOPBACK,
    )
    assert seen == [(1, 500, 0.05), (2, 500, 0.1), (3, 200, None)]
    assert [(a.attempt, a.status, a.ok) for a in attempts] == [
        (1, 500, False), (2, 500, False), (3, 200, True)
    ]  # fmt: skip
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:], strict=False)]
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1
    assert 1.5 <= gaps[1] / gaps[0] <= 3.0  # the delay doubles

    for hit in receiver.hits:
        assert hit.path == "/notify"
        assert hit.headers["content-type"] == "application/json"
        body = json.loads(hit.body)
        assert body == {
            "email": "student@example.com",
            "task": "sum-of-sales",
            "round": 1,
            "nonce": "ab12-cd34",
            "repo_url": "https://github.com/someone/sum-of-sales-a1b2c3",
            "commit_sha": "0123456789abcdef0123456789abcdef01234567",
            "pages_url": "https://someone.github.io/sum-of-sales-a1b2c3/",
        }
        assert list(body) == [
            "email",
            "task",
            "round",
            "nonce",
            "repo_url",
            "commit_sha",
            "pages_url",
        ]


async def test_the_deadline_is_respected_when_200_never_comes(receiver: Receiver) -> None:
    receiver.statuses = [503]
    seen: list[tuple[int, int | str, float | None]] = []
    started = time.monotonic()
    attempts = await send_callback(
        receiver.url,
        PAYLOAD,
        deadline_s=0.5,
        first_delay_s=0.05,
        on_attempt=lambda n, o, d: seen.append((n, o, d)),  # a plain function works too
        allowed_hosts=LOOPBACK,
    )
    took = time.monotonic() - started
    # 0.05 + 0.1 + 0.2 = 0.35 s of waiting; a further 0.4 s wait would pass the deadline.
    assert [a.status for a in attempts] == [503, 503, 503, 503]
    assert [d for _, _, d in seen] == [0.05, 0.1, 0.2, None]
    assert took < 0.5
    assert not attempts[-1].ok and len(receiver.hits) == 4


async def test_connection_errors_are_retried_and_recorded() -> None:
    attempts = await send_callback(
        "http://127.0.0.1:9/notify",  # the discard port: nothing listens
        PAYLOAD,
        deadline_s=0.3,
        first_delay_s=0.05,
        allowed_hosts=LOOPBACK,
    )
    assert len(attempts) >= 2
    assert all(a.status is None and a.error and "Connect" in a.error for a in attempts)


async def test_redirects_to_private_addresses_are_not_followed(receiver: Receiver) -> None:
    receiver.statuses = [307]
    receiver.redirect_to = "https://10.0.0.5/steal"
    attempts = await send_callback(
        receiver.url, PAYLOAD, deadline_s=5, first_delay_s=0.05, allowed_hosts=LOOPBACK
    )
    assert len(attempts) == 1 and len(receiver.hits) == 1
    assert attempts[0].error == (
        "refused the redirect to https://10.0.0.5/steal: "
        "evaluation_url points at a non-public address (10.0.0.5); "
        "add the host to CALLBACK_ALLOWED_HOSTS if this is your own server"
    )
    assert attempts[0].delay_s is None  # permanent: no retry


async def test_a_redirect_to_an_allowed_host_is_followed_with_the_body(
    receiver: Receiver,
) -> None:
    receiver.statuses = [308, 200]
    receiver.redirect_to = "/moved"
    attempts = await send_callback(
        receiver.url, PAYLOAD, deadline_s=5, first_delay_s=0.05, allowed_hosts=LOOPBACK
    )
    assert [a.status for a in attempts] == [200]
    assert [h.path for h in receiver.hits] == ["/notify", "/moved"]
    assert json.loads(receiver.hits[1].body) == PAYLOAD


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/notify", "plain http"),
        ("https://127.0.0.1/notify", "non-public address"),
        ("https://2130706433/notify", "non-public address (127.0.0.1)"),
        ("https://[::1]/notify", "non-public address"),
        ("https://169.254.169.254/latest", "non-public address"),
        ("https://localhost/notify", "localhost"),
        ("https://user:pw@example.com/notify", "credentials"),
        ("ftp://example.com/notify", "https://"),
        ("", "empty"),
    ],
)
async def test_unsafe_evaluation_urls_are_refused_before_any_request(url: str, reason: str) -> None:
    with pytest.raises(CallbackUrlError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        await send_callback(url, PAYLOAD, deadline_s=1)


def test_public_https_urls_pass_the_shape_check() -> None:
    assert check_callback_url("https://eval.example.com/notify") == "eval.example.com"
    assert check_callback_url("http://127.0.0.1:8080/x", ["127.0.0.1"]) == "127.0.0.1"
