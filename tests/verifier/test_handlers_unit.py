"""The verifier's handlers over a fake job store: is the deployment up, was the evaluator told.

No PostgreSQL, RabbitMQ, Docker or browser: the deployment and the evaluator are tiny HTTP
servers started here on 127.0.0.1 (the health check does not hold a deployment's own URL
to the public-address rule; the evaluator's host is allow-listed as
CALLBACK_ALLOWED_HOSTS would be).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.verifier.handlers import handle_provisioned
from services.verifier.tasks import handle_task_published
from shared.analysis import Analysis
from shared.events import JobCompleted, JobProvisioned, JobRequest, TaskPublished, TaskRequest
from shared.settings import Settings
from shared.stage import PermanentError
from tests.support.jobstore import FakeJobStore, fake_context


@dataclass
class Server:
    """Answers every request with ``status``; records POST bodies."""

    status: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(status=200)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            body = b"orders up\n"
            self.send_response(state.status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer()

        def do_POST(self) -> None:
            state.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self._answer()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, openai_api_key=None, **values)


def _provisioned(url: str) -> JobProvisioned:
    analysis = Analysis(commit_sha="c" * 40, language="python", health_path="/healthz")
    return JobProvisioned(
        job_id=uuid4(),
        request=JobRequest(repo_url="https://example.com/o/orders.git", description="orders"),
        analysis=analysis,
        deployment={"target": "local", "url": url, "image": "autodeploy/orders:latest"},
    )


async def test_a_deployment_that_answers_completes_the_job_with_its_timings(
    server: Server,
) -> None:
    event = _provisioned(server.url)
    store = FakeJobStore(seconds={event.job_id: {"analyzer": 1.25, "generator": 0.5}})
    ctx, log = fake_context(_settings(), store, job_id=event.job_id, service="verifier")

    outcome = await handle_provisioned(event, ctx)

    assert outcome.status == "completed" and isinstance(outcome.next_event, JobCompleted)
    result = outcome.result
    assert result is not None and outcome.next_event.result == result
    assert result["url"] == server.url and result["commit"] == "c" * 40
    assert result["timings"] == {"analyzer": 1.25, "generator": 0.5}
    assert "app" not in result  # the job is no app's revision
    assert outcome.message.startswith(f"verifier: {server.url}/healthz answered HTTP 200 in ")
    assert f"verifier: checking {server.url}/healthz" in log.text


async def test_a_deployment_that_keeps_failing_fails_the_job_naming_the_url(
    server: Server,
) -> None:
    server.status = 500
    event = _provisioned(server.url)
    ctx, log = fake_context(
        _settings(verify_timeout_s=1.0), FakeJobStore(), job_id=event.job_id, service="verifier"
    )

    with pytest.raises(PermanentError, match=f"health check of {server.url}/healthz failed: "):
        await handle_provisioned(event, ctx)
    assert "error: verifier: attempt 1 failed: " in log.text


def _published(evaluation_url: str) -> TaskPublished:
    return TaskPublished(
        job_id=uuid4(),
        task=TaskRequest(
            email="student@example.com",
            task="sum-of-sales",
            round=1,
            nonce="ab12",
            brief="Show the total of the sales in data.csv",
            checks=["the page shows the total"],
            evaluation_url=evaluation_url,
            attachments=[],
        ),
        target="github-pages",
        repo={"full_name": "bot/sum-of-sales", "html_url": "https://github.test/bot/sum-of-sales"},
        commit_sha="d" * 40,
        pages_url="https://bot.github.test/sum-of-sales/",
        not_live="the Pages build did not finish",
    )


def _job(job_id: Any) -> dict[str, Any]:
    return {"id": job_id, "created_at": datetime.now(UTC)}


async def test_a_page_not_live_is_still_reported_to_the_evaluator(server: Server) -> None:
    event = _published(f"{server.url}/notify")
    settings = _settings(callback_allowed_hosts="127.0.0.1", callback_first_delay_s=0.05)
    ctx, log = fake_context(
        settings, FakeJobStore(), job_id=event.job_id, service="verifier", job=_job(event.job_id)
    )

    outcome = await handle_task_published(event, ctx)

    assert outcome.status == "completed" and outcome.result is not None
    assert outcome.result["callback_delivered"] is True
    assert outcome.result["checks_not_run"].startswith("the page was not live in time")
    assert [(p["nonce"], p["commit_sha"]) for p in server.posts] == [("ab12", "d" * 40)]
    assert "browser checks not run" in log.text


async def test_an_evaluation_url_refused_fails_the_job_saying_why(
    server: Server, tmp_path: Path
) -> None:
    event = _published(f"{server.url}/notify")
    ctx, _ = fake_context(
        _settings(callback_allowed_hosts=""),
        FakeJobStore(),
        job_id=event.job_id,
        service="verifier",
        job=_job(event.job_id),
    )

    outcome = await handle_task_published(event, ctx)

    assert outcome.status == "failed" and not server.posts
    assert outcome.error is not None
    assert outcome.error.startswith(
        f"the evaluation callback to {server.url}/notify was not accepted within "
    )
    assert "last: the evaluation URL is refused: " in outcome.error


async def test_an_older_revision_healthy_last_leaves_the_app_on_the_newer_one(
    server: Server,
) -> None:
    event = _provisioned(server.url)
    event = event.model_copy(update={"deployment": {**event.deployment, "host_port": 8081}})
    newer, app_id = uuid4(), uuid4()
    store = FakeJobStore(
        apps={app_id: {"id": app_id, "name": "orders", "deleted_at": None, "proxy_port": 9000,
                       "current_job_id": newer}},
        job_apps={event.job_id: app_id, newer: app_id},
        job_created={event.job_id: datetime(2026, 1, 1, tzinfo=UTC),
                     newer: datetime(2026, 1, 2, tzinfo=UTC)},
        job_status={newer: "completed"},
    )  # fmt: skip
    ctx, log = fake_context(_settings(), store, job_id=event.job_id, service="verifier")

    outcome = await handle_provisioned(event, ctx)

    assert outcome.status == "completed" and outcome.result is not None
    assert outcome.result["app"] == {
        "name": "orders",
        "revision": str(event.job_id),
        "serving": False,
    }
    assert store.apps[app_id]["current_job_id"] == newer and not store.teardowns
    assert "app orders already serves a newer revision" in log.text
