"""The generator's handlers over a fake job store: the bundle or site a job gets, or why not.

No PostgreSQL, RabbitMQ, Docker or LLM: the analysis comes from the analyzer's pure core
on a small app written here, and without an LLM the site is the labelled placeholder.
"""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest

from services.analyzer.detect import analyze_repository
from services.generator.handlers import handle_analyzed, handle_repair
from services.generator.site import NO_LLM
from services.generator.tasks import handle_task_planned, handle_task_repair
from shared.analysis import Analysis
from shared.events import (
    JobAnalyzed,
    JobGenerated,
    JobRepairRequested,
    JobRequest,
    TaskGenerated,
    TaskPlanned,
    TaskRepairRequested,
    TaskRequest,
)
from shared.jobstore import StoredAttachment
from shared.settings import Settings
from shared.stage import PermanentError
from tests.support.fixtures_web import FLASK_ROOT_APP
from tests.support.jobstore import FakeJobStore, fake_context


def _analysis(tmp_path: Path) -> Analysis:
    for name, text in FLASK_ROOT_APP.items():
        (tmp_path / name).write_text(text)
    analysis = analyze_repository(tmp_path, description="orders", commit_sha="a" * 40)
    assert analysis.verdict == "http-service" and analysis.framework == "flask"
    return analysis


def _settings() -> Settings:
    return Settings(_env_file=None, openai_api_key=None)


def _analyzed(tmp_path: Path, mode: str = "deploy") -> JobAnalyzed:
    return JobAnalyzed(
        job_id=uuid4(),
        request=JobRequest(
            repo_url="https://example.com/o/orders.git", description="orders", mode=mode
        ),
        analysis=_analysis(tmp_path),
    )


async def test_a_plan_job_stops_at_the_validated_bundle(tmp_path: Path) -> None:
    event = _analyzed(tmp_path, mode="plan")
    ctx, log = fake_context(_settings(), FakeJobStore(), job_id=event.job_id, service="generator")

    outcome = await handle_analyzed(event, ctx)

    assert outcome.status == "planned" and outcome.next_event is None
    assert outcome.artifacts is not None and "compose.yaml" in outcome.artifacts
    assert any(path.startswith("Dockerfile") for path in outcome.artifacts)
    assert outcome.message == "generator: plan ready; nothing applied (mode=plan)"
    assert "generator: bundle validated" in log.text


async def test_a_deploy_job_hands_the_bundle_to_the_provisioner(tmp_path: Path) -> None:
    event = _analyzed(tmp_path)
    ctx, _ = fake_context(_settings(), FakeJobStore(), job_id=event.job_id, service="generator")

    outcome = await handle_analyzed(event, ctx)

    assert outcome.status == "provisioning" and outcome.stage == "provisioner"
    assert isinstance(outcome.next_event, JobGenerated) and outcome.artifacts is not None
    assert outcome.next_event.artifact_paths == sorted(outcome.artifacts)


def _repair(tmp_path: Path, *, detected_port: int | None) -> JobRepairRequested:
    analyzed = _analyzed(tmp_path)
    return JobRepairRequested(
        job_id=analyzed.job_id,
        request=analyzed.request,
        analysis=analyzed.analysis,
        attempt=2,
        cause="the app exited: ModuleNotFoundError: No module named 'orders'",
        detected_port=detected_port,
    )


async def test_a_repair_with_nothing_to_fix_fails_with_the_cause(tmp_path: Path) -> None:
    event = _repair(tmp_path, detected_port=None)
    ctx, _ = fake_context(_settings(), FakeJobStore(), job_id=event.job_id, service="generator")

    with pytest.raises(PermanentError, match="no automatic fix for: the app exited: Module"):
        await handle_repair(event, ctx)


async def test_a_repair_moves_the_bundle_to_the_port_the_app_said(tmp_path: Path) -> None:
    event = _repair(tmp_path, detected_port=8123)
    ctx, _ = fake_context(_settings(), FakeJobStore(), job_id=event.job_id, service="generator")

    outcome = await handle_repair(event, ctx)

    assert outcome.status == "provisioning" and outcome.artifact_attempt == 2
    assert isinstance(outcome.next_event, JobGenerated)
    assert outcome.next_event.analysis.port is not None
    assert outcome.next_event.analysis.port.value == 8123
    assert outcome.artifacts is not None and "8123" in outcome.artifacts["compose.yaml"]


def _task(round: int = 1) -> TaskRequest:
    return TaskRequest(
        email="student@example.com",
        task="sum-of-sales",
        round=round,
        nonce="ab12",
        brief="Show the total of the sales in data.csv",
        checks=["the page shows the total"],
        evaluation_url="http://127.0.0.1:9/notify",
        attachments=["data.csv"],
    )


async def test_without_an_llm_round_two_publishes_the_labelled_placeholder(
    tmp_path: Path,
) -> None:
    earlier, job_id = uuid4(), uuid4()
    store = FakeJobStore(
        artifacts={earlier: {"notes.txt": "kept from round 1\n"}},
        attachments={job_id: [StoredAttachment("data.csv", "text/csv", b"region,sales\nn,3\n")]},
    )
    event = TaskPlanned(
        job_id=job_id, task=_task(round=2), target="git-preview", previous_job_id=earlier
    )
    ctx, _ = fake_context(_settings(), store, job_id=job_id, service="generator")

    outcome = await handle_task_planned(event, ctx)

    assert outcome.status == "provisioning" and outcome.result == {"placeholder": NO_LLM}
    assert isinstance(outcome.next_event, TaskGenerated)
    assert outcome.next_event.placeholder == NO_LLM
    files = outcome.artifacts
    assert files is not None and files["data.csv"] == b"region,sales\nn,3\n"
    assert files["notes.txt"] == b"kept from round 1\n"
    assert NO_LLM.encode() in files["index.html"]


async def test_a_repair_that_gives_nothing_better_keeps_the_checked_site(tmp_path: Path) -> None:
    job_id = uuid4()
    site = {"index.html": b"<h1>Total: 3</h1>\n", "logo.png": b"\x89PNG\r\n\x1a\n"}
    store = FakeJobStore(artifacts={job_id: dict(site)})
    event = TaskRepairRequested(
        job_id=job_id,
        task=_task(),
        target="git-preview",
        repo={"full_name": "sites/sum-of-sales", "clone_url": "http://127.0.0.1:9/s.git"},
        failures=["the page shows the total: no total"],
        attempt=2,
    )
    ctx, log = fake_context(_settings(), store, job_id=job_id, service="generator")

    outcome = await handle_task_repair(event, ctx)

    assert outcome.status == "provisioning" and outcome.artifacts == site
    assert outcome.artifact_attempt == 2 and isinstance(outcome.next_event, TaskGenerated)
    assert "keeping the site as it was" in log.text
