"""The gateway answers only under the names it is served by (GATEWAY_ALLOWED_HOSTS).

A web page can rebind its own name to 127.0.0.1 and script an open local gateway as if it
were its own origin; the browser still sends the page's name as ``Host``. These tests
build the real app (no lifespan: the Host check must answer before anything touches the
database) and send requests with chosen ``Host`` headers.
"""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import ValidationError

from services.gateway.app import create_app
from services.gateway.fastpath import SubmitFastPath
from shared.settings import Settings

REBOUND = "rebind.attacker.example"
SUBMISSION = json.dumps({"repo_url": "https://github.com/a/b", "description": "an app"})


async def _send(
    settings: Settings,
    method: str,
    path: str,
    host: str,
    *,
    content: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, int]:
    """One request with ``Host: host``; the answer and how many the fast path served."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        response = await client.request(
            method, path, content=content, headers={**(headers or {}), "host": host}
        )
    layer = app.middleware_stack
    while not isinstance(layer, SubmitFastPath):
        layer = layer.app  # type: ignore[union-attr]
    return response, layer.served


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8000", "localhost:8000", "localhost", "[::1]:8000", "gateway:8000"]
)
async def test_the_default_names_are_answered(host: str) -> None:
    response, _ = await _send(Settings(), "GET", "/healthz", host)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", ["/healthz", "/list", "/"])
async def test_a_foreign_host_gets_400_naming_the_setting(path: str) -> None:
    response, _ = await _send(Settings(), "GET", path, REBOUND)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert REBOUND in detail and "GATEWAY_ALLOWED_HOSTS" in detail


async def test_the_submit_fast_path_refuses_a_foreign_host_too() -> None:
    # A well-formed submission would take the fast path, which skips FastAPI's layers.
    response, served = await _send(
        Settings(),
        "POST",
        "/request",
        REBOUND,
        content=SUBMISSION,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert "GATEWAY_ALLOWED_HOSTS" in response.json()["detail"]
    assert served == 0, "the fast path answered a request from a foreign host"


async def test_a_request_without_host_is_refused() -> None:
    response, _ = await _send(Settings(), "GET", "/healthz", "")
    assert response.status_code == 400


async def test_configured_names_and_wildcards() -> None:
    settings = Settings(gateway_allowed_hosts="deploy.example.com, *.internal.example")
    for host, status in [
        ("deploy.example.com", 200),
        ("api.internal.example:8443", 200),
        ("localhost:8000", 400),
        ("internal.example.attacker.example", 400),
    ]:
        response, _ = await _send(settings, "GET", "/healthz", host)
        assert response.status_code == status, host


async def test_a_star_turns_the_check_off() -> None:
    response, _ = await _send(Settings(gateway_allowed_hosts="*"), "GET", "/healthz", REBOUND)
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["", "example.*", "a*.example.com"])
def test_a_malformed_setting_is_refused_at_start(value: str) -> None:
    with pytest.raises(ValidationError, match="GATEWAY_ALLOWED_HOSTS"):
        Settings(gateway_allowed_hosts=value)


async def test_one_app_keeps_refusing_foreign_hosts_between_accepted_ones() -> None:
    # The middleware remembers the Host values it accepted; that must not let others in.
    app = create_app(Settings(gateway_allowed_hosts="*.internal.example"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        statuses = []
        for i, host in enumerate(["a.internal.example", REBOUND, "a.internal.example"] * 40):
            name = host if host == REBOUND else f"n{i}.{host}"  # more names than it keeps
            response = await client.get("/healthz", headers={"host": name})
            statuses.append((name == REBOUND, response.status_code))
    assert {s for foreign, s in statuses if foreign} == {400}
    assert {s for foreign, s in statuses if not foreign} == {200}
