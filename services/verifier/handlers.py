"""Verifier handlers: prove the deployment answers; mark dead-lettered jobs failed."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from typing import Any
from uuid import UUID

import asyncpg
from aio_pika.abc import AbstractIncomingMessage

from services.verifier import apps
from services.verifier.diagnosis import diagnose
from services.verifier.health import check_health
from services.verifier.tasks import handle_task_published
from shared import db
from shared.analysis import BackingService
from shared.bus import Broker
from shared.capabilities.workspace import local_engine
from shared.contracts.errors import DeployError
from shared.events import JobCompleted, JobFailed, JobProvisioned, JobRepairRequested, TaskPublished
from shared.logs import JobLog
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.stage import Outcome, PermanentError, Route, StageContext
from shared.topology import DEAD_LETTER_BOOKKEEPING_QUEUE

__all__ = ["on_start", "routes", "verify_window"]

logger = logging.getLogger(__name__)

# How many of a failed container's last log lines the diagnosis reads.
DIAGNOSIS_LOG_LINES = 400


def verify_window(settings: Settings, target: str) -> float:
    """How long a deployment on ``target`` may take to answer: local, or a cloud's longer."""
    return settings.verify_timeout_s if target == "local" else settings.cloud_verify_timeout_s


# A container on this machine costs a loopback request to ask, so a local check polls
# as a person at a terminal would: from 20 ms, the gap growing to a tenth of a second (at
# 3 s, a redeploy waited up to a second and a half on an app that already answered; at a
# quarter second, a warm redeploy still lost a tenth of a second on average). Asking the
# engine whether the container still runs costs more than a GET: a quarter second apart.
_LOCAL_FIRST_DELAY_S = 0.02
_LOCAL_MAX_DELAY_S = 0.1
_LOCAL_STATE_EVERY_S = 0.25


async def handle_provisioned(event: JobProvisioned, ctx: StageContext) -> Outcome:
    """Health-check the deployed URL; fail with the container's logs and a likely cause."""
    deployment = event.deployment
    url = str(deployment["url"]).rstrip("/") + (
        event.analysis.description.health_path or event.analysis.health_path or "/"
    )
    engine = local_engine(ctx.settings)
    container_id = str(deployment.get("container_id", ""))

    async def still_running() -> str | None:
        if not container_id:
            return None
        try:
            state = await asyncio.to_thread(engine.state, container_id)
        except DeployError:
            return None
        return None if state.running else f"container {state.status} (exit code {state.exit_code})"

    target = str(deployment.get("target") or "local")
    local = target == "local"
    window = verify_window(ctx.settings, target)
    await ctx.log.info(f"verifier: checking {url} (for up to {window:g} s)")
    report = await check_health(
        url,
        deadline_s=window,
        still_running=still_running,
        first_delay_s=_LOCAL_FIRST_DELAY_S if local else 0.05,
        max_delay_s=_LOCAL_MAX_DELAY_S if local else 3.0,
        state_every_s=_LOCAL_STATE_EVERY_S if local else 0.0,
    )
    evidence: dict[str, Any] = {
        "url": url,
        "attempts": [asdict(a) for a in report.attempts[-20:]],
        "attempt_count": len(report.attempts),
        "stopped_early": report.stopped_early,
    }
    if report.healthy:
        assert report.last is not None
        app = await apps.promote(event, ctx)
        result = {
            "url": deployment["url"],
            "target": deployment.get("target"),
            "commit": event.analysis.commit_sha,
            "image": deployment.get("image"),
            "health": evidence,
            "timings": await _stage_timings(ctx, event),
            **({"app": app} if app else {}),
        }
        return Outcome(
            status="completed",
            stage="verifier",
            result=result,
            next_event=JobCompleted(job_id=event.job_id, result=result),
            message=(
                f"verifier: {url} answered HTTP {report.last.status} "
                f"in {report.last.latency_ms:.0f} ms"
            ),
        )
    logs = ""
    exit_code = None
    if container_id:
        try:
            # Enough lines to reach the cause: a multi-worker server (gunicorn) prints each
            # worker's traceback and then its own, pushing the app's error far up.
            logs = await asyncio.to_thread(engine.logs, container_id, DIAGNOSIS_LOG_LINES)
            state = await asyncio.to_thread(engine.state, container_id)
            exit_code = state.exit_code if not state.running else None
        except DeployError as exc:
            logs = f"(container logs unavailable: {exc})"
    expected = int(deployment.get("container_port") or 0)
    not_started = set(deployment.get("services_not_started") or ())
    found = diagnose(
        logs,
        report,
        exit_code=exit_code,
        expected_port=expected,
        services_not_started=[
            _with_evidence(service)
            for service in event.analysis.services
            if service.kind in not_started
        ],
    )
    await ctx.log.error(
        f"verifier: attempt {event.attempt} failed: {found.cause}",
        logs=logs[-4000:],
        health=evidence,
    )
    if found.repairable and event.attempt < ctx.settings.max_deploy_attempts:
        return Outcome(
            status="generating",
            stage="generator",
            result={"attempts": {str(event.attempt): {"cause": found.cause, "health": evidence}}},
            next_event=JobRepairRequested(
                job_id=event.job_id,
                request=event.request,
                analysis=event.analysis,
                attempt=event.attempt + 1,
                cause=found.cause,
                detected_port=found.detected_port,
                binds_loopback=found.binds_loopback,
                logs_tail=logs[-2000:],
            ),
            message=(
                f"verifier: sending the bundle back to the generator "
                f"for attempt {event.attempt + 1}"
            ),
        )
    tail = "\n".join(logs.strip().splitlines()[-8:])
    said = f" The container's log says: {found.evidence}." if found.evidence else ""
    raise PermanentError(
        f"health check of {url} failed: {found.cause}.{said} Last log lines:\n{tail}"
    )


def _with_evidence(service: BackingService) -> str:
    """ "mongodb (package.json:17)": the service and where the analyzer saw the need for it."""
    where = [f"{ev.file}:{ev.line}" if ev.line else ev.file for ev in service.evidence[:1]]
    return f"{service.kind} ({where[0]})" if where else service.kind


async def _stage_timings(ctx: StageContext, event: JobProvisioned) -> dict[str, float]:
    """Seconds each stage spent on the job (all attempts), the verifier's so far included."""
    return await ctx.store.stage_seconds(job_id=event.job_id)


async def _on_dead_letter(
    message: AbstractIncomingMessage, pool: asyncpg.Pool, relay: OutboxRelay
) -> None:
    """Mark the job of a dead-lettered message failed, unless it already ended."""
    try:
        job_id = UUID(json.loads(message.body)["job_id"])
    except (ValueError, KeyError, TypeError):
        logger.error(
            "dead-lettered message %s has no job id; kept in the dead-letter queue",
            message.message_id,
        )
        await message.ack()
        return
    deaths = (message.headers or {}).get("x-death")
    first = deaths[0] if isinstance(deaths, list) and deaths else None
    queue = str(first.get("queue", "?")) if isinstance(first, dict) else "?"
    stage = queue.rsplit(".", 1)[-1]
    reason = (
        f"the {stage} stage gave up on this job: its message was dead-lettered from {queue} "
        "after repeated deliveries (the stage process stopped while handling it each time)"
    )
    async with pool.acquire() as conn, conn.transaction():
        changed = await db.set_job(
            conn,
            job_id=job_id,
            status="failed",
            stage=stage,
            error=reason,
            finished=True,
            only_if_active=True,
        )
        if changed:
            await db.enqueue(conn, JobFailed(job_id=job_id, stage=stage, reason=reason))
            await JobLog(conn, job_id=job_id, service="verifier").error(f"verifier: {reason}")
    await message.ack()
    relay.wake()


async def on_start(
    settings: Settings, pool: asyncpg.Pool, broker: Broker, relay: OutboxRelay
) -> None:
    """Also consume the dead-letter bookkeeping queue."""

    async def callback(message: AbstractIncomingMessage) -> None:
        await _on_dead_letter(message, pool, relay)

    await broker.consume_queue(DEAD_LETTER_BOOKKEEPING_QUEUE, callback, prefetch=8)


def routes(settings: Settings) -> list[Route]:
    """The verifier's routes: repository jobs and brief-to-site tasks."""
    return [
        Route(JobProvisioned, handle_provisioned, working_status="verifying"),
        Route(TaskPublished, handle_task_published, working_status="verifying"),
    ]
