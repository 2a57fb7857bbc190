"""The stage runner: consume an event, do the stage's work, commit, hand off, then ack.

Every stage service is this runner plus its handlers. The order is what makes the
pipeline trustworthy:

1. parse the typed event (malformed → dead-letter, the job is told if it can be found);
2. in one statement: skip it if this stage already committed work for its ``event_id``
   (a redelivery), else start a run and move the job to the stage's working status
   (committed without a WAL flush of its own: step 4's flush covers it before the ack,
   and a step 4 that finds its run lost in a crash hands the delivery back);
3. run the handler (the stage's logic; it may log to the job as it goes), stamping the
   run's heartbeat every STAGE_HEARTBEAT_S;
4. in ONE statement: mark the event processed, update the job, store artifacts, write
   the next event to the outbox, log the outcome and close the run (and delete outbox
   rows the relay has published since: see `shared.outbox`);
5. hand the outbox rows to the relay, and ack the message; only then write the
   service's own log line for the outcome (off the next event's path).

The statements of steps 2 and 4 are group-committed (`shared.batch`): deliveries handled
at the same time send theirs together, one round trip and one transaction for the lot,
each still getting its own answer. Alone, a delivery's statement goes at once. Their
acks go out together too (`shared.acks`: one multiple-ack for a run of finished tags).

A crash anywhere before 4 commits leaves the message unacked: the broker redelivers it
and the work is redone. A crash between 4 and 5 is absorbed by step 2.

A run longer than the broker's consumer timeout has its delivery taken back (the broker
closes the channel) and redelivered while the run still works. Step 2 then finds the run
still beating and, instead of starting a second run, parks the redelivery in the stage's
retry queue to look again later; the first run commits and acks nothing (its channel is
gone), and the parked copy comes back to find the event processed. A run whose process
died stops beating: on the same host that is seen at once, elsewhere after 3 heartbeats.
Parking is bounded: after STAGE_MAX_PARKS looks in a row the delivery counts as a failed
attempt (a run that beats but never ends, such as a hung handler, cannot hold it forever).

Every attempt ends. Whatever a stage cannot get past — its handler raising, PostgreSQL
refusing its commit, the failure's own commit refused too — closes the run (so nothing
waits behind it), then retries with backoff up to MAX_RETRIES and finally marks the job
failed with a reason naming the stage and dead-letters the message; if even the failure
cannot be committed, a smaller statement (`db.fail_job`) records it. Only the database or
broker being away is not counted as an attempt: the delivery goes back once the database
answers (the broker's delivery limit bounds that too).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiormq
import asyncpg
from aio_pika.abc import AbstractIncomingMessage
from prometheus_client import Counter
from pydantic import ValidationError

from shared import db
from shared.acks import Acks
from shared.batch import Batcher
from shared.bus import ATTEMPT_HEADER, PARKED_HEADER, Broker, delivery_count, header_count
from shared.events import Event, JobFailed, event_class
from shared.jobstore import JobStore, PostgresJobStore
from shared.logs import JobLog
from shared.metrics import (
    BATCH_SIZE,
    DEAD_LETTERED,
    JOB_OUTCOMES,
    PARKED,
    RETRIES,
    STAGE_DURATION,
    STAGE_IN_PROGRESS,
)
from shared.outbox import OutboxRelay
from shared.security import redact
from shared.settings import Settings
from shared.topology import retry_queue_name

__all__ = [
    "Outcome",
    "PermanentError",
    "Route",
    "StageContext",
    "StageRunner",
    "owner_alive",
    "process_owner",
]

logger = logging.getLogger(__name__)


class RunLost(RuntimeError):
    """The run being committed is not in the database (a crash lost its begin)."""


# A batch one item spoiled is sent again item by item (`shared.batch`): PostgreSQL's
# refusals, and values the driver cannot encode.
_SPLIT_ON: tuple[type[BaseException], ...] = (asyncpg.PostgresError, ValueError, TypeError)


def _outage(exc: BaseException) -> bool:
    """Is this the database or the broker being away (hand the delivery back and wait)?

    Anything else a stage raises is about this delivery (its input, its result) and
    counts as a failed attempt. A value PostgreSQL or the driver refuses is the latter.
    """
    if isinstance(exc, ValueError | asyncpg.PostgresError) and not isinstance(
        exc, asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError
    ):
        return False
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.InterfaceError
        | aiormq.exceptions.AMQPError,
    )


# Control characters other than line breaks and tabs (a terminal's escape sequences in
# git's output, say): a reason is shown in terminals and pages, where they act or garble.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _readable(text: str) -> str:
    """``text`` with control characters shown as U+FFFD (storing it cleans the rest)."""
    return _CONTROLS.sub("\ufffd", text.replace("\r\n", "\n"))


def _reason(exc: BaseException, limit: int = 1000) -> str:
    """An exception as one line a user can read: its type and message, no traceback."""
    text = " ".join(_readable(str(exc)).split()) or "(no message)"
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"{type(exc).__name__}: {text}"


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
    """What a handler gets besides its event: the job store, not the pool (`shared.jobstore`)."""

    settings: Settings
    store: JobStore
    log: JobLog
    job: dict[str, Any]
    attempt: int
    delivery: int


Handler = Callable[[Any, StageContext], Awaitable[Outcome]]


@dataclass(frozen=True)
class _Committed:
    """A committed outcome: the outbox rows to hand on, then what to report of it."""

    rows: list[db.OutboxRow]
    line: db.LogLine | None = None  # the outcome's line, for the service's own log
    outcome: Counter | None = None  # the job-outcome counter, if the job ended here

    def report(self, log: JobLog) -> None:
        """Write the service log line and count the outcome (off the hand-off's path)."""
        if self.line is not None:
            log.emit(self.line)
        if self.outcome is not None:
            self.outcome.inc()


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
    PARKED.labels(stage)
    DEAD_LETTERED.labels(stage)
    for outcome in (*db.TERMINAL_STATUSES, *db.ACTIVE_STATUSES, "retry", "failed"):
        STAGE_DURATION.labels(stage, outcome)
    for status in db.TERMINAL_STATUSES:
        JOB_OUTCOMES.labels(status, stage)


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain.
    return stat.rsplit(")", 1)[1].split()[19]


def process_owner() -> str:
    """Who runs a stage run: ``host/pid/start-time``, unique across restarts."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_time(pid) or '?'}"


def owner_alive(owner: str | None) -> bool | None:
    """Is the process that owns a run alive? None when it cannot be told from here."""
    host, _, rest = (owner or "").partition("/")
    pid, _, started = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit() or started == "?":
        return None
    return _start_time(int(pid)) == started


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
        self.store = PostgresJobStore(pool)
        self.broker = broker
        self.relay = relay
        self.owner = process_owner()
        self._working: set[int] = set()  # ids of this process's runs in progress
        # Runs whose attempt ended while the database was away: closed once it answers.
        self._unclosed: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()  # deliveries being handled
        self._beater: asyncio.Task[None] | None = None
        # Deliveries finished together are acked together (one multiple-ack where safe).
        self._acks = Acks()
        # Deliveries handled at once share their begin and commit statements (group
        # commit): one round trip and one transaction for the lot, not one each.
        # Each keeps a connection of its own between batches (no pool round per statement).
        self._begin_conn = db.PinnedConnection(pool)
        self._commit_conn = db.PinnedConnection(pool)
        self._begins: Batcher[db.StageBegin, db.StageStart] = Batcher(
            lambda begins: self._begin_conn.run(lambda conn: db.begin_stage_runs(conn, begins)),
            split_on=_SPLIT_ON,
            observe=BATCH_SIZE.labels(stage, "begin").observe,
            linger_s=settings.batch_linger_ms / 1000,
        )
        # The commit also deletes the outbox rows the relay has published since the last.
        self._commits: Batcher[db.StageCommit, db.CommitResult] = Batcher(
            lambda commits: relay.deleting_published(
                lambda published: self._commit_conn.run(
                    lambda conn: db.commit_stage_runs(conn, commits, delete_outbox=published)
                )
            ),
            split_on=_SPLIT_ON,
            observe=BATCH_SIZE.labels(stage, "commit").observe,
            linger_s=settings.batch_linger_ms / 1000,
        )

    @property
    def lease_s(self) -> float:
        """A run that beat within this long is taken to be still working."""
        return 3 * self.settings.stage_heartbeat_s

    async def start(self) -> None:
        """Start beating and consuming, with prefetch = the stage's concurrency setting."""
        initialise_stage_metrics(self.stage)
        self._beater = asyncio.create_task(self._beat(), name=f"{self.stage}-heartbeat")
        await self.broker.consume(
            self.stage, self.on_message, prefetch=self.settings.concurrency(self.stage)
        )

    async def stop(self) -> None:
        """Stop beating and give the statements' kept connections back to the pool."""
        if self._beater is not None:
            self._beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beater
        await self._begin_conn.release()
        await self._commit_conn.release()

    async def _beat(self) -> None:
        # One statement per heartbeat stamps every run of this process.
        while True:
            await asyncio.sleep(self.settings.stage_heartbeat_s)
            if not self._working:
                continue
            try:
                await db.beat_stage_runs(self.pool, run_ids=sorted(self._working))
            except Exception as exc:  # the database is away: the runs wait for it anyway
                logger.warning("stage %s: heartbeat not stamped: %s", self.stage, exc)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        """Handle one delivery (aio-pika runs these concurrently up to the prefetch).

        A channel that closes (the broker's consumer timeout, a lost connection) cancels
        its consumer callbacks. The work goes on in a task of the runner's own: it
        commits, and the redelivery finds the event processed (or parks while it works).
        """
        task = asyncio.create_task(self._handle_safely(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    async def _handle_safely(self, message: AbstractIncomingMessage) -> None:
        try:
            await self._handle(message)
        except Exception:
            # The database or broker went away mid-way. Wait for the database before giving
            # the message back, so an outage costs one redelivery, not the delivery limit.
            logger.exception(
                "stage %s: could not finish handling %s", self.stage, message.message_id
            )
            await self._wait_for_database()
            await self._close_unclosed()
            if not message.processed:
                with contextlib.suppress(Exception):  # a closed channel requeues it anyway
                    await self._acks.reject(message, requeue=True)

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

    async def _close_unclosed(self) -> None:
        """Close the runs whose attempt ended without closing them, so none looks alive."""
        for run_id in sorted(self._unclosed):
            try:
                await db.finish_stage_run(self.pool, run_id=run_id, outcome="abandoned")
            except Exception as exc:  # still away: the next failure tries again
                logger.warning("stage %s: run %d not closed yet: %s", self.stage, run_id, exc)
                return
            self._unclosed.discard(run_id)

    async def _settle(self, message: AbstractIncomingMessage, rows: list[db.OutboxRow]) -> None:
        """Hand the committed rows on, then ack; the work is safe in the database either way."""
        self.relay.hand_off(rows)
        try:
            await self._acks.ack(message)
        except Exception as exc:
            # Its channel is gone (the broker's consumer timeout, or a lost connection):
            # the broker redelivers it, and the redelivery finds the event processed.
            logger.warning(
                "stage %s: %s committed but not acked (%s); its redelivery will be "
                "recognised as done",
                self.stage,
                message.message_id,
                exc,
            )

    async def _begin(self, event: Event, route: Route, delivery: int) -> db.StageStart:
        begin = db.StageBegin(
            job_id=event.job_id,
            stage=self.stage,
            event_id=event.event_id,
            delivery=delivery,
            working_status=route.working_status,
            owner=self.owner,
            lease_s=self.lease_s,
            even_if_settled=route.runs_on_ended_jobs,
        )
        start = await self._begins.submit(begin)
        dead = start.live.owner if start.live is not None else None
        if dead is not None and owner_alive(dead) is False:
            # Its process is gone (on this host that shows at once): take over now.
            takeover = dataclasses.replace(begin, dead_owners=[dead])
            start = (await db.begin_stage_runs(self.pool, [takeover]))[0]
        return start

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        route = self.routes.get(message.type or "")
        event = self._parse(message, route)
        if route is None or event is None:
            DEAD_LETTERED.labels(self.stage).inc()
            await self._acks.reject(message, requeue=False)
            return

        delivery = delivery_count(message) + 1
        start = await self._begin(event, route, delivery)
        if start.processed:
            logger.info(
                "stage %s: %s already handled; acking duplicate", self.stage, event.event_id
            )
            await self._acks.ack(message)
            return
        if start.job is None:
            logger.error(
                "stage %s: event %s names unknown job %s", self.stage, event.event_id, event.job_id
            )
            DEAD_LETTERED.labels(self.stage).inc()
            await self._acks.reject(message, requeue=False)
            return
        log = JobLog(self.pool, job_id=event.job_id, service=self.stage, event_id=event.event_id)
        if start.live is not None:
            await self._park(message, event, route, start.live, log, delivery)
            return
        if start.run_id is None:
            await log.info(f"{self.stage}: job already {start.job['status']}; nothing to do")
            await self._acks.ack(message)
            return

        run_id = start.run_id
        self._working.add(run_id)
        try:
            await self._run(message, event, route, start.job, run_id, log, delivery)
        except BaseException:
            # The attempt ended without closing its run (the database or broker went
            # away): close it once the database answers, so no redelivery parks behind it.
            self._unclosed.add(run_id)
            raise
        finally:
            self._working.discard(run_id)

    async def _park(
        self,
        message: AbstractIncomingMessage,
        event: Event,
        route: Route,
        live: db.LiveRun,
        log: JobLog,
        delivery: int,
    ) -> None:
        """Leave a redelivered event to the run still working on it; look again later.

        Only STAGE_MAX_PARKS times in a row: then the delivery counts as a failed attempt.
        """
        parked = header_count(message, PARKED_HEADER, 0) + 1
        if parked > self.settings.stage_max_parks:
            reason = (
                f"the {self.stage}'s run {live.id} ({live.owner}) kept working on this event "
                "without ending "
                f"while delivery {delivery} waited for it {parked - 1} times"
            )
            await self._retry_or_give_up(
                message,
                event,
                route,
                log=log,
                attempt=header_count(message, ATTEMPT_HEADER, 1),
                run_id=None,
                reason=reason,
                started=time.monotonic(),
            )
            return
        delay = self.lease_s
        text = (
            f"{self.stage}: delivery {delivery} arrived while run {live.id} "
            f"({live.owner}) still works on this event (it beat {live.quiet_s:.1f}s ago): "
            "the broker took the first delivery back (consumer timeout?); not running the "
            f"stage twice, looking again in {delay:g}s"
        )
        if parked == 1:
            await log.warning(text, run=live.id, parked=parked)
        else:
            logger.info("%s (parked %d times)", text, parked)
        await self.broker.publish_retry(
            message,
            queue=retry_queue_name(self.stage),
            attempt=header_count(message, ATTEMPT_HEADER, 1),
            delay_s=delay,
            headers={PARKED_HEADER: parked},
        )
        PARKED.labels(self.stage).inc()
        await self._acks.ack(message)

    async def _run(
        self,
        message: AbstractIncomingMessage,
        event: Event,
        route: Route,
        job: dict[str, Any],
        run_id: int,
        log: JobLog,
        delivery: int,
    ) -> None:
        if delivery > 1:
            await log.warning(
                f"{self.stage}: redelivered (delivery {delivery}); an earlier attempt was "
                "interrupted before it committed, so the stage runs again"
            )
        ctx = StageContext(
            settings=self.settings,
            store=self.store,
            log=log,
            job=job,
            attempt=header_count(message, ATTEMPT_HEADER, 1),
            delivery=delivery,
        )
        STAGE_IN_PROGRESS.labels(self.stage).inc()
        started = time.monotonic()
        failed = functools.partial(
            self._retry_or_give_up,
            message,
            event,
            route,
            log=log,
            attempt=ctx.attempt,
            run_id=run_id,
            started=started,
        )
        try:
            outcome = await route.handler(event, ctx)
        except PermanentError as exc:
            outcome = self._failure(str(exc))
        except Exception as exc:
            await failed(reason=_reason(exc))
            return
        finally:
            STAGE_IN_PROGRESS.labels(self.stage).dec()

        try:
            committed = await self._commit(event, outcome, run_id, route, log)
        except Exception as exc:
            if isinstance(exc, RunLost) or _outage(exc):
                raise
            # PostgreSQL refused what this attempt produced: a failed attempt like any.
            await failed(reason=f"the {self.stage}'s result could not be stored ({_reason(exc)})")
            return
        took = time.monotonic() - started
        await self._settle(message, committed.rows)
        # The service log line and the metrics wait until the next event is on its way.
        committed.report(log)
        STAGE_DURATION.labels(self.stage, outcome.status).observe(took)

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
        reason = _readable(reason)
        return Outcome(
            status="failed",
            stage=self.stage,
            error=reason,
            message=f"{self.stage} failed: {reason}",
        )

    async def _commit(
        self,
        event: Event,
        outcome: Outcome,
        run_id: int,
        route: Route,
        log: JobLog,
        *,
        replayable: bool = False,
    ) -> _Committed:
        """Commit the outcome, the next event and the processed mark in one statement.

        Returns the outbox rows written, for the relay to publish at once, and what to
        report once they are handed on. With ``replayable`` the event is not marked
        processed (a run that gave up may be replayed from the dead-letter queue).
        """
        events: list[Event] = []
        if outcome.next_event is not None:
            events.append(outcome.next_event)
        # The reason is stored and shown like a log line, and may quote a URL with a token.
        error = redact(outcome.error) if outcome.error else outcome.error
        if outcome.status == "failed":
            reason = error or "failed"
            events.append(JobFailed(job_id=event.job_id, stage=self.stage, reason=reason))
        level = "error" if outcome.status == "failed" else "info"
        commit = db.StageCommit(
            run_id=run_id,
            job_id=event.job_id,
            event_id=event.event_id,
            stage=self.stage,
            outcome=outcome.status,
            status=outcome.status,
            job_stage=outcome.stage or self.stage,
            line=log.line(level, outcome.message or f"{self.stage}: done", **outcome.fields),
            # Torn down (or failed elsewhere) while this stage worked: do not hand on.
            ended_line=log.line(
                "warning", f"{self.stage}: job ended meanwhile; result not handed on"
            ),
            mark_processed=not replayable,
            finished=outcome.finished,
            only_if_active=not route.runs_on_ended_jobs,
            analysis=outcome.analysis,
            merge_result=outcome.result,
            error=error,
            artifacts=outcome.artifacts,
            artifact_attempt=outcome.artifact_attempt,
            events=events,
        )
        result = await self._commits.submit(commit)
        if result.lost:
            # Its begin was lost in a database crash: hand the delivery back to run again.
            raise RunLost(f"stage {self.stage}: run {run_id} of event {event.event_id} is gone")
        if result.duplicate:
            # A duplicate delivery committed first; this attempt's work is discarded.
            logger.info(
                "stage %s: %s was committed by another delivery", self.stage, event.event_id
            )
            return _Committed(rows=[])
        return _Committed(
            rows=result.rows,
            line=commit.line if result.moved else commit.ended_line,
            outcome=JOB_OUTCOMES.labels(outcome.status, self.stage)
            if result.moved and outcome.finished
            else None,
        )

    async def _retry_or_give_up(
        self,
        message: AbstractIncomingMessage,
        event: Event,
        route: Route,
        *,
        log: JobLog,
        attempt: int,
        run_id: int | None,
        reason: str,
        started: float,
    ) -> None:
        """End a failed attempt: retry it later with backoff, or give up after the last."""
        if attempt > self.settings.max_retries:
            await self._give_up(
                message,
                event,
                route,
                log=log,
                run_id=run_id,
                started=started,
                reason=f"gave up after {attempt} attempts; last error: {reason}",
            )
            return
        delay = self.settings.retry_base_delay_ms / 1000 * 2 ** (attempt - 1)
        if run_id is not None:
            # The attempt is over: its run must not look alive to the retry (it would park).
            await db.finish_stage_run(self.pool, run_id=run_id, outcome="retry")
        await log.warning(
            f"{self.stage}: attempt {attempt} failed ({reason}); retrying in {delay:g}s",
            attempt=attempt,
        )
        await self.broker.publish_retry(
            message,
            queue=retry_queue_name(self.stage),
            attempt=attempt + 1,
            delay_s=delay,
            headers={PARKED_HEADER: 0},
        )
        RETRIES.labels(self.stage).inc()
        STAGE_DURATION.labels(self.stage, "retry").observe(time.monotonic() - started)
        await self._acks.ack(message)

    async def _give_up(
        self,
        message: AbstractIncomingMessage,
        event: Event,
        route: Route,
        *,
        log: JobLog,
        run_id: int | None,
        reason: str,
        started: float,
    ) -> None:
        """Mark the job failed (replayable: not marked processed) and dead-letter the message."""
        committed: _Committed | None = None
        if run_id is not None:
            try:
                committed = await self._commit(
                    event, self._failure(reason), run_id, route, log, replayable=True
                )
            except Exception as exc:
                if _outage(exc):
                    raise
                logger.error(
                    "stage %s: the failure of %s not committed: %s",
                    self.stage,
                    event.event_id,
                    _reason(exc),
                )
                reason = f"{reason}; recording that failed too ({_reason(exc)})"
        if committed is None:
            committed = await self._fail_plainly(event, run_id, reason, log)
        DEAD_LETTERED.labels(self.stage).inc()
        STAGE_DURATION.labels(self.stage, "failed").observe(time.monotonic() - started)
        committed.report(log)  # before the reject, which may fail on a closed channel
        self.relay.hand_off(committed.rows)
        await self._acks.reject(message, requeue=False)

    async def _fail_plainly(
        self, event: Event, run_id: int | None, reason: str, log: JobLog
    ) -> _Committed:
        """The least statement that marks the job failed (`db.fail_job`).

        For when the failure's own commit was refused. If even this is refused, the job
        is left to the dead-letter bookkeeping, which marks it failed from the message.
        """
        failed = JobFailed(job_id=event.job_id, stage=self.stage, reason=reason)
        try:
            rows = await db.fail_job(
                self.pool,
                job_id=event.job_id,
                stage=self.stage,
                reason=reason,
                event=failed,
                run_id=run_id,
                source_event_id=event.event_id,
            )
        except Exception as exc:
            if _outage(exc):
                raise
            logger.error(
                "stage %s: job %s not marked failed (%s); the dead-letter bookkeeping will",
                self.stage,
                event.job_id,
                _reason(exc),
            )
            return _Committed(rows=[])
        return _Committed(
            rows=rows,
            line=log.line("error", f"{self.stage} failed: {reason}"),
            outcome=JOB_OUTCOMES.labels("failed", self.stage) if rows else None,
        )
