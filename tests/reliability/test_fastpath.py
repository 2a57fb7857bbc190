"""`services.gateway.fastpath`: POST /request answers exactly as the FastAPI route alone does.

Two gateway apps on one real database and broker: one as served, one with the fast path
taken out. Every request goes to both; the answers must match (job ids aside), the jobs
stored must match, and the fast path must have answered the well-formed submissions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.fastpath import SubmitFastPath
from shared.settings import Settings

pytestmark = pytest.mark.integration

HOST = "git.fastpath.invalid"  # allow-listed: no DNS lookup
GOOD = {"repo_url": f"https://{HOST}/team/app", "description": "deploy this Flask app"}
JSON = {"content-type": "application/json"}


def _body(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


# (name, headers, raw body, answered by the fast path?)
CASES: list[tuple[str, dict[str, str], bytes, bool]] = [
    ("minimal", JSON, _body(), True),
    ("target and mode", JSON, _body(target="local", mode="plan"), True),
    ("charset", {"content-type": "application/json; charset=utf-8"}, _body(), True),
    # The endpoint itself refuses these: its exception goes to the app's handler.
    ("loopback", JSON, _body(repo_url="https://127.0.0.1/a/b"), True),
    ("token, no key", JSON, _body(github_token="ghp_secret"), True),
    # FastAPI answers these.
    ("file:// URL", JSON, _body(repo_url="file:///etc"), False),
    ("missing field", JSON, json.dumps({"description": "x"}).encode(), False),
    ("unknown field", JSON, _body(colour="blue"), False),
    ("wrong type", JSON, _body(description=42), False),
    ("bad token type", JSON, _body(github_token=12345), False),
    ("not JSON", JSON, b"{not json", False),
    ("a JSON list", JSON, b"[1, 2]", False),
    ("nested too deep", JSON, b"[" * 5000 + b"]" * 5000, False),
    ("empty body", JSON, b"", False),
    ("text/plain", {"content-type": "text/plain"}, _body(), False),
    ("no content type", {}, _body(), False),
    ("idempotency key", {**JSON, "idempotency-key": "k-1"}, _body(), False),
    # The Host check (GATEWAY_ALLOWED_HOSTS) answers before either.
    ("foreign Host", {**JSON, "host": "rebind.attacker.example"}, _body(), False),
]


def _without_fast_path(app: FastAPI) -> FastAPI:
    app.user_middleware = [m for m in app.user_middleware if m.cls is not SubmitFastPath]
    return app


def _fast_path(app: FastAPI) -> SubmitFastPath:
    layer: Any = app.middleware_stack
    while not isinstance(layer, SubmitFastPath):
        layer = layer.app
    return layer


@pytest.fixture
async def apps() -> AsyncIterator[tuple[FastAPI, FastAPI, Any]]:
    from tests.support.stack import Isolated

    iso = await asyncio.to_thread(Isolated.create)
    settings = Settings(
        database_url=iso.database_url, amqp_url=iso.amqp_url, git_allowed_hosts=HOST
    )
    fast, plain = create_app(settings), _without_fast_path(create_app(settings))
    try:
        async with fast.router.lifespan_context(fast), plain.router.lifespan_context(plain):
            yield fast, plain, iso
    finally:
        await asyncio.to_thread(iso.drop)


async def _post(app: FastAPI, headers: dict[str, str], body: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        return await client.post("/request", headers=headers, content=body)


def _answer(response: httpx.Response) -> tuple[int, Any, str | None]:
    data = response.json()
    if isinstance(data, dict) and "job_id" in data:
        data = {**data, "job_id": "<id>"}
    return response.status_code, data, response.headers.get("content-type")


async def test_the_fast_path_answers_as_the_route_does(apps) -> None:
    fast, plain, iso = apps
    expected = 0
    for name, headers, body, fast_path in CASES:
        answers = [await _post(fast, headers, body)]
        expected += fast_path
        assert _fast_path(fast).served == expected, name  # the path it was meant to take
        answers.append(await _post(plain, headers, body))
        assert _answer(answers[0]) == _answer(answers[1]), name
        if answers[0].status_code == 202:
            ids = [UUID(a.json()["job_id"]) for a in answers]
            stored = [
                (await asyncio.to_thread(iso.sql, "SELECT request FROM jobs WHERE id = $1", i))[0]
                for i in ids
            ]
            assert stored[0] == stored[1], name


async def test_a_submission_it_answers_is_stored_and_queued(apps) -> None:
    fast, _, iso = apps
    response = await _post(fast, JSON, _body())
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    rows = await asyncio.to_thread(
        iso.sql, "SELECT status, request FROM jobs WHERE id = $1", UUID(job_id)
    )
    assert rows[0]["status"] == "queued"
    assert json.loads(rows[0]["request"])["repo_url"] == GOOD["repo_url"]
    assert _fast_path(fast).served == 1
