"""The gateway's router modules are all mounted, and its dependencies read ``app.state``.

These build the real app without its lifespan (no database, no broker): a route that
takes the pool or the relay then answers 503 naming what is not connected, which tells
it apart from a path no router serves (404 "Not Found").
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from collections.abc import Iterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, Request
from fastapi.routing import APIRoute

import services.gateway.routes
from services.gateway.app import create_app
from services.gateway.fastpath import SubmitFastPath, dependencies
from services.gateway.routes import jobs
from shared.settings import Settings

HOST = "git.routes.invalid"  # allow-listed: no DNS lookup
JOB_ID = "00000000-0000-4000-8000-000000000000"


def _declared() -> Iterator[tuple[str, str, str]]:
    """(module, method, path) of every route the modules under routes/ declare."""
    for info in pkgutil.iter_modules(services.gateway.routes.__path__):
        module = importlib.import_module(f"services.gateway.routes.{info.name}")
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods):
                yield info.name, method, route.path


def _concrete(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return JOB_ID if name == "job_id" else "some-name"

    return re.sub(r"\{([^}]+)\}", value, path)


async def _call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.request(method, path, **kwargs)


def test_the_router_modules_declare_the_gateway_s_areas() -> None:
    modules = {module for module, _, _ in _declared()}
    assert modules == {"apps", "artifacts", "jobs", "ops", "tasks", "web", "webhooks"}


@pytest.mark.parametrize(("module", "method", "path"), list(_declared()))
async def test_every_declared_route_is_served_by_the_app(
    module: str, method: str, path: str
) -> None:
    response = await _call(create_app(Settings()), method, _concrete(path))
    unrouted = response.status_code in (404, 405) and response.json() == {
        "detail": "Not Found" if response.status_code == 404 else "Method Not Allowed"
    }
    assert not unrouted, f"{method} {path} ({module}.py) is not mounted by create_app"


@pytest.mark.parametrize("path", ["/list", f"/job/{JOB_ID}", "/apps", "/readyz"])
async def test_before_the_lifespan_a_route_needing_a_connection_answers_503(path: str) -> None:
    response = await _call(create_app(Settings()), "GET", path)
    assert response.status_code == 503
    assert "not connected yet" in response.json()["detail"]


@pytest.mark.parametrize("fast", [True, False])
async def test_a_submission_before_the_lifespan_gets_the_same_503_with_or_without_fast_path(
    fast: bool,
) -> None:
    app = create_app(Settings(gateway_fast_path=fast, git_allowed_hosts=HOST))
    body = {"repo_url": f"https://{HOST}/team/app", "description": "a Flask app"}
    response = await _call(
        app,
        "POST",
        "/request",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 503, response.text
    assert response.json() == {
        "detail": "the job store is not connected yet (app.state.pool is unset); try again"
    }
    layer: Any = app.middleware_stack
    while layer is not None and not isinstance(layer, SubmitFastPath):
        layer = getattr(layer, "app", None)
    assert (layer.served if fast else 0) == int(fast)  # the path it was meant to take


def test_the_fast_path_supplies_every_dependency_of_the_submit_route() -> None:
    supplied = set(dependencies(jobs.submit))
    assert supplied == {"settings", "pool", "relay", "inserts"}


def _from_request(request: Request) -> str:
    return request.url.path


async def _async_dependency(request: Request) -> str:
    return request.url.path


def _needs_a_query(q: str) -> str:
    return q


async def _takes_the_request(value: Annotated[str, Depends(_from_request)], other: int = 1) -> Any:
    return value


async def _takes_an_async_one(value: Annotated[str, Depends(_async_dependency)]) -> Any:
    return value


async def _takes_a_query_one(value: Annotated[str, Depends(_needs_a_query)]) -> Any:
    return value


@pytest.mark.parametrize("endpoint", [_takes_an_async_one, _takes_a_query_one])
def test_the_fast_path_refuses_a_dependency_it_cannot_call_as_fastapi_would(
    endpoint: Any,
) -> None:
    with pytest.raises(TypeError, match=r"'value'.*GATEWAY_FAST_PATH=false"):
        dependencies(endpoint)


def test_a_dependency_of_the_request_alone_is_supplied() -> None:
    assert dependencies(_takes_the_request) == {"value": _from_request}
