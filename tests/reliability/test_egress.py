"""Issue 21 point 4: outbound connections go only where they were vetted to go.

A git server that redirects to a second, private one; DNS that answers slowly, or
"public" to the check and "private" to the connection. The private side is a real server
on loopback that records what reaches it: it must see nothing.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.verifier.callback import send_callback
from services.verifier.health import check_health
from shared.capabilities.git import CloneLimits, clone_repository
from shared.stage import PermanentError
from tests.support.fakedns import FakeDns, Slow
from tests.support.fixtures_web import STATIC_SITE
from tests.support.gitserver import GitServer

PUBLIC_V6 = "2a00:1450::1"  # global unicast; this machine has no IPv6 route out
TOKEN = "tok-egress-0123456789abcdef"


@pytest.fixture
def private_git(tmp_path: Path) -> Iterator[GitServer]:
    """The "internal" server: not allow-listed, holds a repository nobody may fetch."""
    server = GitServer(tmp_path / "private").start()
    server.create_repo("internal", {**STATIC_SITE, "SECRET.txt": "internal only\n"})
    yield server
    server.stop()


@pytest.fixture
def redirecting_git(tmp_path: Path, private_git: GitServer) -> Iterator[GitServer]:
    """The "public" server: allow-listed, answers every request with a 302 to the private one."""
    server = GitServer(tmp_path / "public", redirect_to=private_git.base_url).start()
    yield server
    server.stop()


class _Listener:
    """A TCP port on loopback that counts the connections made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


@pytest.fixture
def private_listener() -> Iterator[_Listener]:
    listener = _Listener()
    yield listener
    listener.sock.close()


@pytest.mark.e2e
def test_a_redirect_to_a_private_git_server_fails_the_job_and_it_sees_nothing(
    make_stack, redirecting_git: GitServer, private_git: GitServer
) -> None:
    stack = make_stack(("gateway", "analyzer", "generator"), GIT_ALLOWED_HOSTS=redirecting_git.host)
    job_id = stack.submit(
        repo_url=redirecting_git.url("internal"),
        description="deploy it",
        mode="plan",
        github_token=TOKEN,
    )
    job = stack.wait_job(job_id, timeout=60)
    assert job["status"] == "failed", job
    assert "redirect" in job["error"] and "not followed" in job["error"]
    assert redirecting_git.requests, "the public server was never asked"
    assert private_git.requests == [], "the redirect target was contacted"
    assert "internal only" not in str(stack.sql("SELECT a::text FROM artifacts a"))


@pytest.mark.integration
@pytest.mark.parametrize("dot", ["", "."], ids=["name", "name-with-trailing-dot"])
async def test_git_connects_to_the_address_that_was_vetted(
    monkeypatch: pytest.MonkeyPatch, private_git: GitServer, tmp_path: Path, dot: str
) -> None:
    # The name exists only in this process's resolver: git can reach it only by being
    # handed the vetted address, never by looking the name up again itself.
    dns = FakeDns().install(monkeypatch)
    dns.script("git.pinned.test", ["127.0.0.1"])
    port = private_git.host.rsplit(":", 1)[1]
    sha = await clone_repository(
        f"http://git.pinned.test{dot}:{port}/internal.git",
        tmp_path / "clone",
        token=None,
        allowed_hosts=[f"git.pinned.test:{port}"],
        limits=CloneLimits(timeout_s=30),
    )
    assert len(sha) == 40 and (tmp_path / "clone" / "SECRET.txt").exists()
    assert dns.lookups == ["git.pinned.test"]


@pytest.mark.integration
async def test_slow_dns_refuses_the_clone(
    monkeypatch: pytest.MonkeyPatch, private_git: GitServer, tmp_path: Path
) -> None:
    dns = FakeDns().install(monkeypatch)
    dns.script("slow.test", Slow(4.0, ("127.0.0.1",)))
    with pytest.raises(PermanentError, match=r"could not resolve slow\.test within 3s"):
        await clone_repository(
            f"https://slow.test:{private_git.host.rsplit(':', 1)[1]}/internal.git",
            tmp_path / "clone",
            token=TOKEN,
            allowed_hosts=[],
            limits=CloneLimits(timeout_s=30),
        )
    assert private_git.requests == []


@pytest.mark.integration
@pytest.mark.parametrize(
    "answers",
    [
        # A first answer past the deadline, then a private one at once for whoever asks again.
        pytest.param((Slow(1.5, ("127.0.0.1",)), ["127.0.0.1"]), id="slow"),
        pytest.param(([PUBLIC_V6], ["127.0.0.1"]), id="rebinding"),
    ],
)
async def test_callbacks_never_reach_a_private_address_through_dns(
    monkeypatch: pytest.MonkeyPatch, private_listener: _Listener, answers: tuple
) -> None:
    dns = FakeDns().install(monkeypatch)
    dns.script("eval.test", *answers)
    attempts = await send_callback(
        f"https://eval.test:{private_listener.port}/notify",
        {"nonce": "n"},
        deadline_s=3.0,
        first_delay_s=0.2,
        request_timeout_s=1.0,
    )
    assert not attempts[-1].ok
    assert private_listener.connections == 0, attempts
    assert any(
        "non-public" in (a.error or "") or "could not resolve" in (a.error or "") for a in attempts
    ), attempts


@pytest.mark.integration
async def test_a_health_check_reaches_its_host_through_the_pinned_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A deployment named by host name: the health check resolves it once per attempt
    # and connects there, with the Host header the app expects.
    import http.server

    hosts: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hosts.append(self.headers.get("Host"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dns = FakeDns().install(monkeypatch)
        dns.script("app.deploy.test", ["127.0.0.1"])
        port = server.server_address[1]
        report = await check_health(f"http://app.deploy.test:{port}/healthz", deadline_s=5)
    finally:
        server.shutdown()
        server.server_close()
    assert report.healthy, report
    assert hosts == [f"app.deploy.test:{port}"]
