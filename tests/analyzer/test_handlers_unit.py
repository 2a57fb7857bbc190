"""The analyzer's handlers over a fake job store: what the user sees of a job's analysis.

No PostgreSQL, RabbitMQ or Docker: the repository is a bare repo in tmp_path served by
git's own smart-HTTP backend on loopback (allow-listed as GIT_ALLOWED_HOSTS would be).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from services.analyzer.handlers import handle_requested
from services.analyzer.tasks import handle_task_requested
from shared.capabilities.git import first_clone_dir
from shared.events import (
    JobAnalyzed,
    JobRequest,
    JobRequested,
    TaskPlanned,
    TaskRequest,
    TaskRequested,
)
from shared.settings import Settings
from shared.stage import PermanentError
from tests.support.fixtures_web import FLASK_ROOT_APP
from tests.support.gitserver import GitServer
from tests.support.jobstore import FakeJobStore, TaskRound, fake_context


@pytest.fixture
def git(tmp_path: Path) -> Iterator[GitServer]:
    server = GitServer(tmp_path / "git").start()
    yield server
    server.stop()


def _settings(tmp_path: Path, git: GitServer | None = None, **values: Any) -> Settings:
    return Settings(
        _env_file=None,
        workspace_dir=str(tmp_path / "work"),
        git_allowed_hosts=git.host if git else "",
        openai_api_key=None,
        **values,
    )


def _job(url: str, **values: Any) -> JobRequested:
    return JobRequested(
        job_id=uuid4(), request=JobRequest(repo_url=url, description="orders", **values)
    )


async def test_a_flask_repository_is_analysed_and_handed_to_the_generator(
    tmp_path: Path, git: GitServer
) -> None:
    event = _job(git.create_repo("orders", FLASK_ROOT_APP))
    ctx, log = fake_context(
        _settings(tmp_path, git), FakeJobStore(), job_id=event.job_id, service="analyzer"
    )

    outcome = await handle_requested(event, ctx)

    assert outcome.status == "generating" and outcome.stage == "generator"
    assert isinstance(outcome.next_event, JobAnalyzed)
    analysis = outcome.next_event.analysis
    assert (analysis.language, analysis.framework) == ("python", "flask")
    assert analysis.target == "local" and analysis.port is not None
    assert outcome.analysis == analysis.model_dump(mode="json")
    assert "flask app in '.'" in outcome.message
    assert "analyzer: cloned commit" in log.text
    # The work tree is gone; the bare clone stays for the job's app to adopt.
    assert [p.name for p in (tmp_path / "work").iterdir()] == ["kept"]
    assert (first_clone_dir(tmp_path / "work", event.job_id) / "HEAD").exists()


async def test_a_repository_with_no_server_is_rejected_with_the_reason(
    tmp_path: Path, git: GitServer
) -> None:
    event = _job(git.create_repo("notes", {"README.md": "# Notes\n\nJust words.\n"}))
    ctx, _ = fake_context(
        _settings(tmp_path, git), FakeJobStore(), job_id=event.job_id, service="analyzer"
    )

    outcome = await handle_requested(event, ctx)

    assert outcome.status == "rejected" and outcome.next_event is None
    assert outcome.error is not None and outcome.error.startswith("not an HTTP service: ")
    assert not first_clone_dir(tmp_path / "work", event.job_id).exists()  # no app adopts it


async def test_a_private_address_not_allowed_is_refused_before_any_clone(tmp_path: Path) -> None:
    event = _job("http://127.0.0.1:9/someone/app.git")
    ctx, log = fake_context(
        _settings(tmp_path), FakeJobStore(), job_id=event.job_id, service="analyzer"
    )

    with pytest.raises(PermanentError, match="GIT_ALLOWED_HOSTS"):
        await handle_requested(event, ctx)
    assert "cloned commit" not in log.text


def _task(round: int) -> TaskRequested:
    return TaskRequested(
        job_id=uuid4(),
        task=TaskRequest(
            email="student@example.com",
            task="sum-of-sales",
            round=round,
            nonce="ab12",
            brief="Show the total of the sales in data.csv",
            checks=["the page shows the total"],
            evaluation_url="http://127.0.0.1:9/notify",
            attachments=[],
        ),
    )


async def test_round_two_revises_the_latest_published_earlier_round(tmp_path: Path) -> None:
    first, again, elsewhere = uuid4(), uuid4(), uuid4()
    repo = {"full_name": "someone/sum-of-sales-1", "html_url": "http://git.test/sum-1"}
    store = FakeJobStore(
        rounds=[
            TaskRound(first, "sum-of-sales", "student@example.com", 1, {"full_name": "old"}),
            TaskRound(again, "sum-of-sales", "student@example.com", 1, repo),
            TaskRound(elsewhere, "sum-of-sales", "other@example.com", 1, {"full_name": "x"}),
        ]
    )
    event = _task(round=2)
    settings = _settings(tmp_path, pages_git_remote="http://127.0.0.1:9/sites")
    ctx, log = fake_context(settings, store, job_id=event.job_id, service="analyzer")

    outcome = await handle_task_requested(event, ctx)

    assert outcome.status == "generating" and outcome.result == {"target": "git-preview"}
    assert isinstance(outcome.next_event, TaskPlanned)
    assert outcome.next_event.repo == repo and outcome.next_event.previous_job_id == again
    assert "round 2 revises http://git.test/sum-1" in log.text


async def test_round_two_with_no_earlier_round_here_says_so_and_starts_afresh(
    tmp_path: Path,
) -> None:
    event = _task(round=2)
    settings = _settings(tmp_path, pages_git_remote="http://127.0.0.1:9/sites")
    ctx, log = fake_context(settings, FakeJobStore(), job_id=event.job_id, service="analyzer")

    outcome = await handle_task_requested(event, ctx)

    assert isinstance(outcome.next_event, TaskPlanned)
    assert outcome.next_event.repo is None and outcome.next_event.previous_job_id is None
    assert "has no published earlier round of it here" in log.text


async def test_a_task_with_nowhere_to_publish_is_refused_with_what_to_set(tmp_path: Path) -> None:
    event = _task(round=1)
    ctx, _ = fake_context(
        _settings(tmp_path, github_token=None, pages_git_remote=""),
        FakeJobStore(),
        job_id=event.job_id,
        service="analyzer",
    )

    with pytest.raises(
        PermanentError, match=r"set GITHUB_TOKEN \(GitHub Pages\) or PAGES_GIT_REMOTE"
    ):
        await handle_task_requested(event, ctx)
