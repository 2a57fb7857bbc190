"""An app's proxy against a real engine and database: revisions switch in request order."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.verifier.apps import promote
from shared import db
from shared.events import JobProvisioned
from shared.jobstore import PostgresJobStore
from shared.logs import JobLog
from shared.proxy import REVISION_HEADER, ProxyError, proxy_from_settings
from shared.settings import Settings
from shared.stage import StageContext
from tests.support.stack import Isolated

pytestmark = [pytest.mark.docker, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def _serve(body: str) -> ThreadingHTTPServer:
    """A revision stand-in: a loopback HTTP server answering ``body``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
async def iso() -> AsyncIterator[Isolated]:
    # In a worker thread: Isolated runs its SQL with asyncio.run, which would clear the
    # main thread's event loop that pytest-asyncio's session runs on.
    iso = await asyncio.to_thread(Isolated.create)
    yield iso
    await asyncio.to_thread(iso.drop)  # removes the app's proxy too


async def _revision(pool: Any, app_id: UUID) -> UUID:
    job_id = uuid4()
    await pool.execute(
        "INSERT INTO jobs (id, kind, status, request, app_id) "
        "VALUES ($1, 'repository', 'verifying', '{}'::jsonb, $2)",
        job_id,
        app_id,
    )
    return job_id


async def _promote(pool: Any, settings: Settings, job_id: UUID, port: int) -> dict[str, Any]:
    # Only the deployment matters to the switch; the analysis is not read.
    event = JobProvisioned.model_construct(
        job_id=job_id,
        deployment={"target": "local", "url": f"http://127.0.0.1:{port}", "host_port": port},
    )
    log = JobLog(pool, job_id=job_id, service="verifier")
    ctx = StageContext(
        settings=settings, store=PostgresJobStore(pool), log=log, job={}, attempt=1, delivery=1
    )
    result = await promote(event, ctx)
    assert result is not None
    return result


async def test_an_older_revision_finishing_last_never_takes_the_url_back(iso: Isolated) -> None:
    settings = Settings(
        database_url=iso.database_url,
        base_image_overrides=str(ROOT / "deploy/base-images/overrides.json"),
    )
    pool = await db.create_pool(iso.database_url)
    servers = {name: _serve(f"revision {name}") for name in ("old", "new")}
    try:
        app_id = uuid4()
        await pool.execute(
            "INSERT INTO apps (id, name, repo_url, target) VALUES ($1, 'order', 'x', 'local')",
            app_id,
        )
        old, new = await _revision(pool, app_id), await _revision(pool, app_id)
        ports = {name: s.server_address[1] for name, s in servers.items()}

        first = await _promote(pool, settings, old, ports["old"])
        assert first["serving"] and httpx.get(first["url"]).text == "revision old"

        second = await _promote(pool, settings, new, ports["new"])
        assert second["serving"] and second["url"] == first["url"]
        answer = httpx.get(second["url"])
        assert answer.text == "revision new" and answer.headers[REVISION_HEADER] == str(new)
        retired = await pool.fetchrow("SELECT status FROM jobs WHERE id = $1", old)
        assert retired["status"] == "destroying"
        assert await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE job_id = $1 AND routing_key = 'job.teardown'", old
        )

        # The old revision's verification delivered again, late: it does not take the URL.
        late = await _promote(pool, settings, old, ports["old"])
        assert late["serving"] is False
        assert httpx.get(second["url"]).text == "revision new"
        current = await pool.fetchval("SELECT current_job_id FROM apps WHERE id = $1", app_id)
        assert current == new
    finally:
        for server in servers.values():
            server.shutdown()
        await pool.close()


def test_a_failed_switch_puts_the_previous_config_back() -> None:
    settings = Settings(base_image_overrides=str(ROOT / "deploy/base-images/overrides.json"))
    proxy = proxy_from_settings(settings)
    app_id = str(uuid4())
    server = _serve("revision one")
    try:
        port = proxy.ensure(app_id=app_id, name="revert", port=None)
        proxy.switch(
            app_id=app_id,
            port=port,
            upstream=f"127.0.0.1:{server.server_address[1]}",
            revision="r1",
        )
        with pytest.raises(ProxyError, match="nginx -t"):
            proxy.switch(app_id=app_id, port=port, upstream="127.0.0.1:no-port", revision="r2")
        assert httpx.get(f"http://127.0.0.1:{port}/").text == "revision one"
        # Even a restarted proxy reads a config that works: the broken one did not stay.
        container = proxy.client.containers.get(f"autodeploy-app-revert-{app_id[:8]}")
        container.restart(timeout=0)
        proxy.ensure(app_id=app_id, name="revert", port=port)
        for _ in range(100):
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert answer.text == "revision one" and answer.headers[REVISION_HEADER] == "r1"
    finally:
        server.shutdown()
        proxy.remove(app_id=app_id)


def test_a_first_revision_starts_the_proxy_on_its_own_config() -> None:
    settings = Settings(base_image_overrides=str(ROOT / "deploy/base-images/overrides.json"))
    proxy = proxy_from_settings(settings)
    app_id = str(uuid4())
    server = _serve("first revision")
    upstream = f"127.0.0.1:{server.server_address[1]}"
    try:
        port = proxy.serve_first(
            app_id=app_id, name="first", port=None, upstream=upstream, revision="r1"
        )
        assert port is not None
        answer = httpx.get(f"http://127.0.0.1:{port}/")
        assert answer.text == "first revision" and answer.headers[REVISION_HEADER] == "r1"
        # With a proxy running, the next revision switches it instead.
        again = proxy.serve_first(
            app_id=app_id, name="first", port=port, upstream=upstream, revision="r2"
        )
        assert again is None
    finally:
        proxy.remove(app_id=app_id)
        server.shutdown()


def test_once_a_switch_returns_every_new_connection_reaches_the_new_revision() -> None:
    # Right after nginx's reload an old worker may still accept a connection; the switch
    # must not return before none can, or a client sees the old revision after "serving".
    settings = Settings(base_image_overrides=str(ROOT / "deploy/base-images/overrides.json"))
    proxy = proxy_from_settings(settings)
    app_id = str(uuid4())
    servers = [_serve("even"), _serve("odd")]
    try:
        port = proxy.ensure(app_id=app_id, name="settle", port=None)
        for n in range(6):
            server = servers[n % 2]
            proxy.switch(
                app_id=app_id,
                port=port,
                upstream=f"127.0.0.1:{server.server_address[1]}",
                revision=f"r{n}",
            )
            seen = {
                httpx.get(f"http://127.0.0.1:{port}/", headers={"Connection": "close"}).headers[
                    REVISION_HEADER
                ]
                for _ in range(20)
            }
            assert seen == {f"r{n}"}, f"switch {n}: new connections reached {sorted(seen)}"
    finally:
        proxy.remove(app_id=app_id)
        for server in servers:
            server.shutdown()
