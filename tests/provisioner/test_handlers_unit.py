"""The provisioner's handlers over a fake job store: where a job's files go, or why not.

No PostgreSQL, RabbitMQ or Docker: the paths taken are the plan-only cloud target, a
refused repository, and brief-to-site publishing to the GitHub stand-in (its REST API,
real git remotes in tmp_path and its Pages site, all on loopback).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.provisioner.handlers import handle_generated
from services.provisioner.tasks import handle_task_generated
from shared.analysis import Analysis
from shared.events import JobGenerated, JobRequest, TaskGenerated, TaskPublished, TaskRequest
from shared.settings import Settings
from shared.stage import PermanentError
from tests.support.github_stub import GitHubStub
from tests.support.gitserver import GitServer
from tests.support.jobstore import FakeJobStore, fake_context

TOKEN = "ghp_handlerunit0123456789abcdef0123"


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        workspace_dir=str(tmp_path / "work"),
        aws_access_key_id=None,
        aws_secret_access_key=None,
        **values,
    )


def _generated(target: str, repo_url: str = "https://example.com/o/orders.git") -> JobGenerated:
    return JobGenerated(
        job_id=uuid4(),
        request=JobRequest(repo_url=repo_url, description="orders"),
        analysis=Analysis(commit_sha="a" * 40, language="python", target=target),
        artifact_paths=["Dockerfile.autodeploy", "main.tf"],
    )


async def test_a_cloud_target_without_credentials_stops_at_the_plan(tmp_path: Path) -> None:
    event = _generated("aws-ec2")
    store = FakeJobStore()
    ctx, _ = fake_context(_settings(tmp_path), store, job_id=event.job_id, service="provisioner")

    outcome = await handle_generated(event, ctx)

    assert outcome.status == "planned" and outcome.next_event is None
    assert outcome.result is not None
    assert outcome.result["reason"].startswith(
        "target aws-ec2 needs cloud credentials, and none are configured: nothing was applied"
    )
    assert not store.job_apps  # nothing deployed, so no app revision either


async def test_a_local_job_joins_its_app_then_a_refused_repository_fails_it(
    tmp_path: Path,
) -> None:
    event = _generated("local", repo_url="http://127.0.0.1:9/someone/orders.git")
    store = FakeJobStore()
    ctx, log = fake_context(_settings(tmp_path), store, job_id=event.job_id, service="provisioner")

    with pytest.raises(PermanentError, match="GIT_ALLOWED_HOSTS"):
        await handle_generated(event, ctx)

    app = store.apps[store.job_apps[event.job_id]]
    assert f"provisioner: a revision of app {app['name']}" in log.text
    assert app["target"] == "local" and app["repo_url"].endswith("/someone/orders")


@pytest.fixture
def github(tmp_path: Path) -> Iterator[GitHubStub]:
    git = GitServer(tmp_path / "git").start()
    with GitHubStub(git, tmp_path / "site", token=TOKEN) as stub:
        yield stub
    git.stop()


def _task_generated() -> TaskGenerated:
    return TaskGenerated(
        job_id=uuid4(),
        task=TaskRequest(
            email="student@example.com",
            task="sum-of-sales",
            round=1,
            nonce="ab12",
            brief="Show the total of the sales in data.csv",
            checks=["the page shows the total"],
            evaluation_url="http://127.0.0.1:9/notify",
            attachments=[],
        ),
        target="github-pages",
        repo=None,
    )


async def test_a_site_is_pushed_to_a_new_repository_and_served_on_pages(
    tmp_path: Path, github: GitHubStub
) -> None:
    event = _task_generated()
    page = b"<!doctype html><title>Sales</title><p id='total'>200</p>\n"
    store = FakeJobStore(artifacts={event.job_id: {"index.html": page, ".nojekyll": b""}})
    settings = _settings(tmp_path, github_token=TOKEN, github_api_url=github.base_url)
    job = {"id": event.job_id, "created_at": datetime.now(UTC)}
    ctx, log = fake_context(settings, store, job_id=event.job_id, service="provisioner", job=job)

    outcome = await handle_task_generated(event, ctx)

    assert outcome.status == "verifying" and isinstance(outcome.next_event, TaskPublished)
    published = outcome.next_event
    assert published.not_live is None and outcome.result is not None
    assert outcome.result["pages_live"] is True
    name = published.repo["full_name"].split("/", 1)[1]
    assert published.pages_url == github.pages_url(name)
    shown = subprocess.run(
        [
            "git",
            "--git-dir",
            str(github.bare_path(name)),
            "show",
            f"{published.commit_sha}:index.html",
        ],
        capture_output=True,
        check=True,
    ).stdout
    assert shown == page
    assert f"published at {published.pages_url}" in outcome.message
    assert f"provisioner: pushed commit {published.commit_sha[:12]}" in log.text
    assert not list((tmp_path / "work").iterdir())  # the push's folder is gone


async def test_a_token_github_refuses_fails_the_job_with_github_s_answer(
    tmp_path: Path, github: GitHubStub
) -> None:
    event = _task_generated()
    store = FakeJobStore(artifacts={event.job_id: {"index.html": b"<p>hi</p>\n"}})
    settings = _settings(
        tmp_path, github_token="ghp_revoked000000000000000000000000", github_api_url=github.base_url
    )
    ctx, _ = fake_context(settings, store, job_id=event.job_id, service="provisioner")

    with pytest.raises(PermanentError, match="Bad credentials"):
        await handle_task_generated(event, ctx)
    assert not github.repos
