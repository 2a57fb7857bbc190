"""The stage runner: consume an event, do the stage's work, commit, hand off, then ack.

Every stage service is this runner plus its handlers. The order is what makes the
pipeline trustworthy:

1. parse the typed event (malformed → dead-letter, the job is told if it can be found);
2. skip it if this stage already committed work for its ``event_id`` (redelivery);
3. run the handler (the stage's logic; it may log to the job as it goes);
4. in ONE transaction: mark the event processed, update the job, store artifacts and
   write the next event to the outbox;
5. ack the message, and wake the outbox relay.

A crash anywhere before 4 commits leaves the message unacked: the broker redelivers it
and the work is redone. A crash between 4 and 5 is absorbed by step 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from shared import db
from shared.bus import ATTEMPT_HEADER, Broker, delivery_count
from shared.events import Event, JobFailed, event_class
from shared.logs import JobLog
from shared.metrics import (
    DEAD_LETTERED,
    JOB_OUTCOMES,
    RETRIES,
    STAGE_DURATION,
    STAGE_IN_PROGRESS,
)
from shared.outbox import OutboxRelay
from shared.settings import Settings
from shared.topology import retry_queue_name

__all__ = [
    "Outcome",
    "PermanentError",
    "Route",
    "StageContext",
    "StageRunner",
]

logger = logging.getLogger(__name__)


class PermanentError(Exception):
    """A failure that retrying cannot fix (repository not found, invalid input…).

    The message is shown to the user as the job's error: say what is wrong and what to do.
    """


@dataclass
class Outcome:
    """What a handler decided; the runner commits it atomically with the next event."""

    status: str
    stage: str | None = None
    next_event: Event | None = None
    analysis: Mapping[str, Any] | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None
    artifacts: Mapping[str, str | bytes] | None = None
    artifact_attempt: int = 1
    message: str = ""
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Does this outcome end the job?"""
        return self.status in db.TERMINAL_STATUSES


@dataclass
class StageContext:
    """What a handler gets besides its event."""

    settings: Settings
    pool: asyncpg.Pool
    log: JobLog
    job: dict[str, Any]
    attempt: int
    delivery: int


Handler = Callable[[Any, StageContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class Route:
    """A handler for one event type, and the job status while it runs."""

    event: type[Event]
    handler: Handler
    working_status: str
    # Teardown must run even on a job that already ended.
    runs_on_ended_jobs: bool = False


def initialise_stage_metrics(stage: str) -> None:
    """Export this stage's series at zero from the start.

    A counter's first increment is invisible to rate()/increase() if the series did not
    exist at the previous scrape, so the dashboard would miss the first job.
    """
    STAGE_IN_PROGRESS.labels(stage)
    RETRIES.labels(stage)
    DEAD_LETTERED.labels(stage)
    for outcome in (*db.TERMINAL_STATUSES, *db.ACTIVE_STATUSES, "retry", "failed"):
        STAGE_DURATION.labels(stage, outcome)
    for status in db.TERMINAL_STATUSES:
        JOB_OUTCOMES.labels(status, stage)


class StageRunner:
    """Consumes one stage's queue and runs its routes."""

    def __init__(
        self,
        stage: str,
        routes: list[Route],
        *,
        settings: Settings,
        pool: asyncpg.Pool,
        broker: Broker,
        relay: OutboxRelay,
    ) -> None:
        self.stage = stage
        self.routes = {r.event.routing_key: r for r in routes}
        self.settings = settings
        self.pool = pool
        self.broker = broker
        self.relay = relay

    async def start(self) -> None:
        """Start consuming with prefetch = the stage's concurrency setting."""
        initialise_stage_metrics(self.stage)
        await self.broker.consume(
            self.stage, self.on_message, prefetch=self.settings.concurrency(self.stage)
        )

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Handle one delivery (aio-pika runs these concurrently up to the prefetch)."""
        try:
            await self._handle(message)
        except Exception:
            # The database or broker went away mid-way. Wait for the database before giving
            # the message back, so an outage costs one redelivery, not the delivery limit.
            logger.exception(
                "stage %s: could not finish handling %s", self.stage, message.message_id
            )
            await self._wait_for_database()
            if not message.processed:
                with contextlib.suppress(Exception):  # a closed channel requeues it anyway
                    await message.nack(requeue=True)

    async def _wait_for_database(self, *, limit_s: float = 300.0) -> None:
        delay = 0.5
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                await self.pool.fetchval("SELECT 1")
                return
            except Exception as exc:
                logger.warning("stage %s: database unavailable (%s); waiting", self.stage, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        route = self.routes.get(message.type or "")
        event = self._parse(message, route)
        if route is None or event is None:
            DEAD_LETTERED.labels(self.stage).inc()
            await message.reject(requeue=False)
            return

        job, processed = await db.job_for_event(
            self.pool, job_id=event.job_id, event_id=event.event_id, consumer=self.stage
        )
        if processed:
            logger.info(
                "stage %s: %s already handled; acking duplicate", self.stage, event.event_id
            )
            await message.ack()
            return
        if job is None:
            logger.error(
                "stage %s: event %s names unknown job %s", self.stage, event.event_id, event.job_id
            )
            DEAD_LETTERED.labels(self.stage).inc()
            await message.reject(requeue=False)
            return
        log = JobLog(self.pool, job_id=event.job_id, service=self.stage, event_id=event.event_id)
        if job["status"] in db.SETTLED_STATUSES and not route.runs_on_ended_jobs:
            await log.info(f"{self.stage}: job already {job['status']}; nothing to do")
            await message.ack()
            return

        delivery = delivery_count(message) + 1
        raw_attempt = (message.headers or {}).get(ATTEMPT_HEADER, 1)
        attempt = raw_attempt if isinstance(raw_attempt, int) and raw_attempt > 0 else 1
        run_id = await db.start_stage_run(
            self.pool,
            job_id=event.job_id,
            stage=self.stage,
            event_id=event.event_id,
            delivery=delivery,
            working_status=route.working_status,
            even_if_settled=route.runs_on_ended_jobs,
        )
        if delivery > 1:
            await log.warning(
                f"{self.stage}: redelivered (delivery {delivery}); an earlier attempt was "
                "interrupted before it committed, so the stage runs again"
            )
        ctx = StageContext(
            settings=self.settings,
            pool=self.pool,
            log=log,
            job=job,
            attempt=attempt,
            delivery=delivery,
        )
        STAGE_IN_PROGRESS.labels(self.stage).inc()
        started = time.monotonic()
        try:
            outcome = await route.handler(event, ctx)
        except PermanentError as exc:
            outcome = self._failure(str(exc))
        except Exception as exc:
            await self._retry_or_give_up(message, event, ctx, run_id, exc, started, route)
            return
        finally:
            STAGE_IN_PROGRESS.labels(self.stage).dec()

        committed = await self._commit(event, outcome, run_id, route)
        STAGE_DURATION.labels(self.stage, outcome.status).observe(time.monotonic() - started)
        await message.ack()
        self.relay.hand_off(committed)

    def _parse(self, message: AbstractIncomingMessage, route: Route | None) -> Event | None:
        try:
            cls = route.event if route else event_class(message.type or "")
            return cls.model_validate_json(message.body)
        except (KeyError, ValidationError, ValueError) as exc:
            logger.error(
                "stage %s: dead-lettering malformed message %s (type %r): %s",
                self.stage,
                message.message_id,
                message.type,
                str(exc)[:500],
            )
            return None

    def _failure(self, reason: str) -> Outcome:
        return Outcome(
            status="failed",
            stage=self.stage,
            error=reason,
            message=f"{self.stage} failed: {reason}",
        )

    async def _commit(
        self, event: Event, outcome: Outcome, run_id: int, route: Route
    ) -> list[db.OutboxRow]:
        """Write the outcome, the next event and the processed mark in one transaction.

        Returns the outbox rows written, for the relay to publish at once.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            if not await db.mark_processed(conn, event_id=event.event_id, consumer=self.stage):
                # A duplicate delivery committed first; this attempt's work is discarded.
                await db.finish_stage_run(self.pool, run_id=run_id, outcome="duplicate")
                return []
            rows = await self._write_outcome(conn, event, outcome, route)
            await db.finish_stage_run(conn, run_id=run_id, outcome=outcome.status)
        return rows

    async def _write_outcome(
        self, conn: asyncpg.Connection, event: Event, outcome: Outcome, route: Route
    ) -> list[db.OutboxRow]:
        columns: dict[str, Any] = {"status": outcome.status, "stage": outcome.stage or self.stage}
        if outcome.analysis is not None:
            columns["analysis"] = dict(outcome.analysis)
        if outcome.error is not None:
            columns["error"] = outcome.error
        moved = await db.set_job(
            conn,
            job_id=event.job_id,
            finished=outcome.finished,
            merge_result=outcome.result,
            only_if_active=not route.runs_on_ended_jobs,
            **columns,
        )
        log = JobLog(conn, job_id=event.job_id, service=self.stage, event_id=event.event_id)
        if not moved:
            # Torn down (or failed elsewhere) while this stage worked: do not hand on.
            await log.warning(f"{self.stage}: job ended meanwhile; result not handed on")
            return []
        if outcome.artifacts:
            await db.add_artifacts(
                conn, job_id=event.job_id, files=outcome.artifacts, attempt=outcome.artifact_attempt
            )
        rows = []
        if outcome.next_event is not None:
            rows.append(await db.enqueue(conn, outcome.next_event))
        if outcome.status == "failed":
            failed = JobFailed(
                job_id=event.job_id, stage=self.stage, reason=outcome.error or "failed"
            )
            rows.append(await db.enqueue(conn, failed))
        if outcome.finished:
            JOB_OUTCOMES.labels(outcome.status, self.stage).inc()
        level = "error" if outcome.status == "failed" else "info"
        await log.log(level, outcome.message or f"{self.stage}: done", **outcome.fields)
        return rows

    async def _retry_or_give_up(
        self,
        message: AbstractIncomingMessage,
        event: Event,
        ctx: StageContext,
        run_id: int,
        exc: Exception,
        started: float,
        route: Route,
    ) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        if ctx.attempt <= self.settings.max_retries:
            delay = self.settings.retry_base_delay_ms / 1000 * 2 ** (ctx.attempt - 1)
            await ctx.log.warning(
                f"{self.stage}: attempt {ctx.attempt} failed ({reason}); retrying in {delay:g}s",
                attempt=ctx.attempt,
            )
            await self.broker.publish_retry(
                message, queue=retry_queue_name(self.stage), attempt=ctx.attempt + 1, delay_s=delay
            )
            await db.finish_stage_run(self.pool, run_id=run_id, outcome="retry")
            RETRIES.labels(self.stage).inc()
            STAGE_DURATION.labels(self.stage, "retry").observe(time.monotonic() - started)
            await message.ack()
            return
        final = f"gave up after {ctx.attempt} attempts; last error: {reason}"
        outcome = self._failure(final)
        async with self.pool.acquire() as conn, conn.transaction():
            # Not marked processed: an operator may replay it from the dead-letter queue.
            rows = await self._write_outcome(conn, event, outcome, route)
            await db.finish_stage_run(conn, run_id=run_id, outcome="failed")
        DEAD_LETTERED.labels(self.stage).inc()
        STAGE_DURATION.labels(self.stage, "failed").observe(time.monotonic() - started)
        await message.reject(requeue=False)
        self.relay.hand_off(rows)
