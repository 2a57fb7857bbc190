"""PostgreSQL access: the pool and keyword-only repository functions over the schema."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from pydantic_core import PydanticSerializationError

from shared.events import Event
from shared.storable import (
    LINE_LIMIT,
    storable_json,
    storable_json_text,
    storable_obj,
    storable_text,
)

__all__ = [
    "ACTIVE_STATUSES",
    "JOB_LOG_MAX_BYTES",
    "JOB_LOG_MAX_LINES",
    "TERMINAL_STATUSES",
    "CommitResult",
    "Conn",
    "LiveRun",
    "LogLine",
    "NewJob",
    "OutboxRow",
    "PinnedConnection",
    "StageBegin",
    "StageCommit",
    "StageStart",
    "add_log",
    "add_logs",
    "beat_stage_runs",
    "begin_stage_runs",
    "claim_idempotency_key",
    "commit_stage_runs",
    "create_pool",
    "enqueue",
    "fail_job",
    "finish_stage_run",
    "get_artifact",
    "get_artifact_bytes",
    "get_artifacts",
    "get_job",
    "get_logs",
    "insert_job",
    "insert_jobs",
    "list_artifacts",
    "list_jobs",
    "set_job",
]

TERMINAL_STATUSES = frozenset({"completed", "planned", "failed", "rejected", "destroyed"})
ACTIVE_STATUSES = frozenset(
    {"queued", "analyzing", "generating", "provisioning", "verifying", "destroying"}
)
# Statuses in which the pipeline must not move a job any more (teardown still may).
SETTLED_STATUSES = TERMINAL_STATUSES | {"destroying"}

# Repository functions take a pool or a connection (inside a transaction).
Conn = Any


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Every json/jsonb parameter is encoded here, so cleaned here (`shared.storable`).
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(
            typ, encoder=storable_json, decoder=json.loads, schema="pg_catalog"
        )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) costs a
    # round trip on every release; pooled connections here use none of those, so only an
    # abandoned transaction needs undoing.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """Open a pool whose connections speak JSON for json/jsonb columns."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_reset_connection,
    )


T = TypeVar("T")


class PinnedConnection:
    """A pooled connection kept between the statements of one sequential caller.

    A `shared.batch.Batcher` sends one batch at a time. Taking a connection from the
    pool and giving it back around each statement (asyncpg's acquire and release) put
    about 0.1 ms per statement on the path of every delivery (a traced stage: 0.41 ms
    per delivery with the pool, 0.18 ms kept). After an
    error the connection goes back to the pool (it may be broken: the next statement
    takes another); `release` gives it back for good (before the pool closes).
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._conn: asyncpg.Connection | None = None
        self._busy = False

    async def run(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``statement`` on the kept connection (one at a time)."""
        assert not self._busy, "a PinnedConnection runs one statement at a time"
        self._busy = True
        try:
            if self._conn is None:
                self._conn = await self._pool.acquire()
            conn = self._conn
            try:
                return await statement(conn)
            except BaseException:
                self._conn = None
                await self._pool.release(conn)
                raise
        finally:
            self._busy = False

    async def release(self) -> None:
        """Give the connection back to the pool (unless a statement is running on it)."""
        if self._conn is not None and not self._busy:
            conn, self._conn = self._conn, None
            await self._pool.release(conn)


async def _fetch_each(conn: Conn, query: str, args: list[tuple[Any, ...]]) -> list[Any]:
    """One row per argument tuple; several are pipelined in one implicit transaction."""
    if len(args) == 1:
        return [await conn.fetchrow(query, *args[0])]
    return list(await conn.fetchmany(query, args))


async def _fetch_in_job_order(
    conn: Conn, query: str, job_ids: Sequence[UUID], args: Sequence[tuple[Any, ...]]
) -> list[Any]:
    """`_fetch_each`, executed in job order, rows returned in the order given.

    Statements that lock job rows run in one order everywhere, so two batches sharing
    jobs cannot deadlock.
    """
    order = sorted(range(len(args)), key=lambda i: job_ids[i].bytes)
    rows = await _fetch_each(conn, query, [args[i] for i in order])
    ordered: list[Any] = [None] * len(args)
    for i, row in zip(order, rows, strict=True):
        ordered[i] = row
    return ordered


_INSERT_JOB = """
WITH cleared AS (
    DELETE FROM outbox WHERE id = ANY($7::bigint[])
), job AS (
    INSERT INTO jobs (id, kind, status, request) VALUES ($1, $2, 'queued', $3)
    RETURNING id
)
INSERT INTO outbox (event_id, job_id, routing_key, payload)
SELECT $4, id, $5, $6::text::jsonb FROM job
RETURNING id, created_at
"""


@dataclass(frozen=True)
class NewJob:
    """A job to create, with its first event."""

    job_id: UUID
    kind: str
    request: Mapping[str, Any]
    event: Event


async def insert_job(
    conn: Conn, *, job_id: UUID, kind: str, request: Mapping[str, Any], event: Event
) -> OutboxRow:
    """Create a job row and put its first event in the outbox, in one statement."""
    return (await insert_jobs(conn, [NewJob(job_id, kind, request, event)]))[0]


async def insert_jobs(
    conn: Conn, jobs: Sequence[NewJob], *, delete_outbox: Sequence[int] = ()
) -> list[OutboxRow]:
    """`insert_job` for several jobs: one round trip, one transaction.

    The same transaction deletes the outbox rows ``delete_outbox`` (published ones).
    """
    bodies = [event_json(j.event) for j in jobs]
    args = [
        (
            j.job_id,
            j.kind,
            dict(j.request),
            j.event.event_id,
            j.event.routing_key,
            body,
            list(delete_outbox) if i == 0 else [],
        )
        for i, (j, body) in enumerate(zip(jobs, bodies, strict=True))
    ]
    rows = await _fetch_each(conn, _INSERT_JOB, args)
    return [
        OutboxRow(row["id"], j.event.event_id, j.event.routing_key, b.encode(), row["created_at"])
        for j, b, row in zip(jobs, bodies, rows, strict=True)
    ]


async def claim_idempotency_key(
    conn: asyncpg.Connection, *, scope: str, key: str, body_hash: str, job_id: UUID
) -> tuple[UUID, str] | None:
    """Claim a key for a new job inside the job's transaction.

    Returns None when the key is new (the caller goes on creating the job), else the
    (job_id, body_hash) it was first used with. A concurrent claim of the same key waits
    on the unique index until the first transaction ends, so only one job is ever made.
    """
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (scope, key, body_hash, job_id) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        scope,
        key,
        body_hash,
        job_id,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT job_id, body_hash FROM idempotency_keys WHERE scope = $1 AND key = $2",
        scope,
        key,
    )
    assert row is not None
    return row["job_id"], row["body_hash"]


@dataclass(frozen=True)
class OutboxRow:
    """An event written to the outbox, as the relay publishes it."""

    id: int
    event_id: UUID
    routing_key: str
    body: bytes  # the event's JSON, as written to the outbox and as published
    created_at: datetime


def event_json(event: Event) -> str:
    """An event's JSON, encoded once for both the outbox row and the message body.

    Statements take it as text and cast it to jsonb (``$n::text::jsonb``): a jsonb
    parameter would be encoded again by the connection's codec. What jsonb cannot hold
    (a NUL, a lone surrogate from a file name that is not UTF-8) is cleaned out
    (`shared.storable`), so the event is stored and published the same.
    """
    try:
        return storable_json_text(event.model_dump_json())
    except PydanticSerializationError:  # lone surrogates: pydantic cannot write them
        return json.dumps(storable_obj(event.model_dump(mode="json")))


async def enqueue(conn: Conn, event: Event) -> OutboxRow:
    """Write an event to the outbox; it is published once the transaction commits."""
    body = event_json(event)
    row = await conn.fetchrow(
        "INSERT INTO outbox (event_id, job_id, routing_key, payload) "
        "VALUES ($1, $2, $3, $4::text::jsonb) RETURNING id, created_at",
        event.event_id,
        event.job_id,
        event.routing_key,
        body,
    )
    assert row is not None
    return OutboxRow(row["id"], event.event_id, event.routing_key, body.encode(), row["created_at"])


_JOB_COLUMNS = frozenset({"status", "stage", "analysis", "result", "error"})


async def set_job(
    conn: Conn,
    *,
    job_id: UUID,
    only_if_active: bool = False,
    finished: bool = False,
    merge_result: Mapping[str, Any] | None = None,
    **columns: Any,
) -> bool:
    """Update a job's columns (status, stage, analysis, result, error); True if a row changed.

    ``merge_result`` is merged into the existing ``result`` object instead of replacing it.
    With ``only_if_active`` a job that already ended (or is being torn down) is left alone.
    """
    unknown = set(columns) - _JOB_COLUMNS
    if unknown:
        raise ValueError(f"unknown job columns: {sorted(unknown)}")
    sets = ["updated_at = clock_timestamp()"]
    args: list[Any] = [job_id]
    for name, value in columns.items():
        args.append(storable_text(value) if isinstance(value, str) else value)
        sets.append(f"{name} = ${len(args)}")
    if merge_result:
        args.append(dict(merge_result))
        sets.append(f"result = coalesce(result, '{{}}'::jsonb) || ${len(args)}::jsonb")
    if finished:
        sets.append("finished_at = clock_timestamp()")
    where = "id = $1"
    if only_if_active:
        args.append(sorted(SETTLED_STATUSES))
        where += f" AND status <> ALL(${len(args)}::text[])"
    status = await conn.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE {where}", *args)  # noqa: S608
    return bool(status != "UPDATE 0")


async def get_job(conn: Conn, *, job_id: UUID) -> dict[str, Any] | None:
    """One job as a dict, or None."""
    row = await conn.fetchrow("SELECT * FROM jobs WHERE id = $1", job_id)
    return dict(row) if row else None


async def list_jobs(
    conn: Conn, *, status: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of jobs, newest first, and the total matching count."""
    rows = await conn.fetch(
        """
        SELECT id, kind, status, stage, request, error, created_at, updated_at, finished_at,
               result->>'url' AS url, count(*) OVER () AS total
        FROM jobs WHERE ($1::text IS NULL OR status = $1)
        ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3
        """,
        status,
        limit,
        offset,
    )
    total = int(rows[0]["total"]) if rows else 0
    if not rows and offset:
        total = int(
            await conn.fetchval(
                "SELECT count(*) FROM jobs WHERE ($1::text IS NULL OR status = $1)", status
            )
        )
    return [{k: v for k, v in dict(r).items() if k != "total"} for r in rows], total


# A job's log holds at most this many lines / bytes of messages written while its stages
# work (a build's output, a handler's lines); past either, lines are dropped and one
# marker line counts them. Each run's outcome line (the commit's) is always stored.
JOB_LOG_MAX_LINES = 10_000
JOB_LOG_MAX_BYTES = 8 * 1024 * 1024

_APPEND_LOGS = """
WITH used AS (
    SELECT count(*) AS lines, coalesce(sum(octet_length(message)), 0) AS bytes
    FROM (SELECT message FROM job_logs WHERE job_id = $1 ORDER BY id LIMIT $7) AS first
), given AS (
    SELECT l.level, l.message, l.fields::jsonb AS fields, l.n,
           sum(octet_length(l.message)) OVER (ORDER BY l.n) AS upto
    FROM unnest($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS l(level, message, fields, n)
), judged AS (
    SELECT g.*, used.lines + g.n <= $7 AND used.bytes + g.upto <= $8 AS fits
    FROM given g CROSS JOIN used
), kept AS (
    INSERT INTO job_logs (job_id, service, level, message, fields, event_id)
    SELECT $1, $2, level, message, fields, $6 FROM judged WHERE fits ORDER BY n
    RETURNING 1
), dropped AS (
    SELECT count(*) AS lines, coalesce(sum(octet_length(message)), 0) AS bytes
    FROM judged WHERE NOT fits
), marker AS (
    SELECT id, (fields->>'dropped_lines')::bigint AS lines,
           (fields->>'dropped_bytes')::bigint AS bytes
    FROM job_logs WHERE job_id = $1 AND fields ? 'job_log_full' LIMIT 1
), counted AS (
    SELECT coalesce(m.lines, 0) + d.lines AS lines, coalesce(m.bytes, 0) + d.bytes AS bytes
    FROM dropped d LEFT JOIN marker m ON true WHERE d.lines > 0
), updated AS (
    UPDATE job_logs SET
        message = format($9, c.lines, c.bytes),
        fields = jsonb_build_object(
            'job_log_full', true, 'dropped_lines', c.lines, 'dropped_bytes', c.bytes
        )
    FROM counted c WHERE job_logs.id = (SELECT id FROM marker)
    RETURNING 1
)
INSERT INTO job_logs (job_id, service, level, message, fields, event_id)
SELECT $1, $2, 'warning', format($9, c.lines, c.bytes),
       jsonb_build_object(
           'job_log_full', true, 'dropped_lines', c.lines, 'dropped_bytes', c.bytes
       ),
       $6
-- Reading kept's count first makes its lines take their ids before the marker.
FROM counted c WHERE NOT EXISTS (SELECT 1 FROM marker) AND (SELECT count(*) FROM kept) >= 0
"""

_LOG_FULL = (
    "this job's log is full ({lines} lines or {bytes} bytes): %s more lines (%s bytes) "
    "were not stored here; the service's own log has them"
)


async def add_log(
    conn: Conn,
    *,
    job_id: UUID,
    service: str,
    level: str,
    message: str,
    fields: Mapping[str, Any] | None = None,
    event_id: UUID | None = None,
) -> None:
    """Append one line to a job's log (callers redact first); see `add_logs`."""
    line = LogLine(level, message, dict(fields or {}))
    await add_logs(conn, job_id=job_id, service=service, lines=[line], event_id=event_id)


async def add_logs(
    conn: Conn,
    *,
    job_id: UUID,
    service: str,
    lines: Sequence[LogLine],
    event_id: UUID | None = None,
    max_lines: int = JOB_LOG_MAX_LINES,
    max_bytes: int = JOB_LOG_MAX_BYTES,
) -> None:
    """Append lines to a job's log in one statement, ids in the order given.

    Each message is made storable (`shared.storable`: no NUL, at most `LINE_LIMIT`
    characters). A job's log stops growing at ``max_lines`` lines or ``max_bytes``
    bytes of messages: what does not fit is counted in one marker line, updated as more
    is dropped, so a build that prints forever cannot fill the database.
    """
    await conn.execute(
        _APPEND_LOGS,
        job_id,
        service,
        [line.level for line in lines],
        [storable_text(line.message, LINE_LIMIT) for line in lines],
        [storable_json(line.fields) for line in lines],
        event_id,
        max_lines,
        max_bytes,
        _LOG_FULL.format(lines=max_lines, bytes=max_bytes),
    )


async def get_logs(
    conn: Conn, *, job_id: UUID, after_id: int = 0, include_superseded: bool = False
) -> list[dict[str, Any]]:
    """A job's log lines in order."""
    rows = await conn.fetch(
        """
        SELECT id, ts, service, level, message, fields, superseded FROM job_logs
        WHERE job_id = $1 AND id > $2 AND ($3 OR NOT superseded) ORDER BY id
        """,
        job_id,
        after_id,
        include_superseded,
    )
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class LiveRun:
    """Another run of the same event that still beats (see `begin_stage_runs`)."""

    id: int
    owner: str | None
    quiet_s: float


@dataclass(frozen=True)
class StageStart:
    """What `begin_stage_runs` found and did.

    ``job`` is the job as it was before the stage moved it (None: no such job);
    ``processed``: this stage already committed work for the event; ``run_id``: the new
    run, if the stage should work; ``live``: the run that still works on the event, if
    that is why no run was started.
    """

    job: dict[str, Any] | None
    processed: bool
    run_id: int | None
    live: LiveRun | None


_BEGIN_STAGE_RUN = """
WITH async_commit AS (
    -- Nothing here needs its own WAL flush: the delivery stays unacked until the run's
    -- commit statement, whose synchronous commit flushes the WAL up to and including
    -- this one. A begin lost in a crash is a delivery never begun: it is redelivered,
    -- and the commit refuses to close a run that is not there (_COMMIT_STAGE_RUN).
    SELECT set_config('synchronous_commit', 'off', true) AS setting
), job AS (
    SELECT * FROM jobs WHERE id = $1
), seen AS (
    SELECT EXISTS (
        SELECT 1 FROM processed_messages WHERE event_id = $3 AND consumer = $2
    ) AS processed
), live AS (
    SELECT id, owner, extract(epoch FROM clock_timestamp() - heartbeat_at) AS quiet_s
    FROM stage_runs
    WHERE event_id = $3 AND stage = $2 AND finished_at IS NULL
      AND heartbeat_at > clock_timestamp() - make_interval(secs => $9)
      AND owner IS NOT NULL AND owner <> ALL($10::text[])
    ORDER BY id DESC LIMIT 1
), go AS (
    SELECT 1 FROM job, seen
    WHERE NOT seen.processed AND NOT EXISTS (SELECT 1 FROM live)
      AND ($6 OR job.status <> ALL($7::text[]))
), abandoned AS (
    UPDATE stage_runs SET outcome = 'abandoned', finished_at = clock_timestamp()
    WHERE event_id = $3 AND stage = $2 AND finished_at IS NULL
      AND EXISTS (SELECT 1 FROM go)
    RETURNING started_at
), superseded AS (
    UPDATE job_logs SET superseded = true
    WHERE job_id = $1 AND event_id = $3 AND service = $2 AND NOT superseded
      AND ts >= (SELECT min(started_at) FROM abandoned)
    RETURNING 1
), moved AS (
    -- The stage before usually left the job in this status already.
    UPDATE jobs SET status = $5, stage = $2, updated_at = clock_timestamp()
    WHERE id = $1 AND EXISTS (SELECT 1 FROM go)
      AND (status IS DISTINCT FROM $5 OR stage IS DISTINCT FROM $2)
    RETURNING 1
), run AS (
    INSERT INTO stage_runs (job_id, stage, event_id, delivery, owner)
    SELECT $1, $2, $3, $4, $8 FROM go
    RETURNING id
)
SELECT job.*, seen.processed AS _processed,
       (SELECT id FROM run) AS _run_id,
       live.id AS _live_id, live.owner AS _live_owner, live.quiet_s AS _live_quiet_s,
       -- A SELECT in WITH runs only if referenced: this makes the setting apply.
       async_commit.setting AS _async_commit
FROM seen CROSS JOIN async_commit LEFT JOIN job ON true LEFT JOIN live ON true
"""


@dataclass(frozen=True)
class StageBegin:
    """What `begin_stage_runs` needs to know about one delivery."""

    job_id: UUID
    stage: str
    event_id: UUID
    delivery: int
    working_status: str
    owner: str
    lease_s: float
    even_if_settled: bool = False
    dead_owners: Sequence[str] = ()

    def args(self) -> tuple[Any, ...]:
        """The statement's parameters, $1 to $10."""
        return (
            self.job_id,
            self.stage,
            self.event_id,
            self.delivery,
            self.working_status,
            self.even_if_settled,
            sorted(SETTLED_STATUSES),
            self.owner,
            self.lease_s,
            list(self.dead_owners),
        )


def _stage_start(row: Mapping[str, Any]) -> StageStart:
    values = dict(row)
    live = None
    if values["_live_id"] is not None:
        live = LiveRun(values["_live_id"], values["_live_owner"], float(values["_live_quiet_s"]))
    job = {k: v for k, v in values.items() if not k.startswith("_")}
    return StageStart(
        job=job if job.get("id") is not None else None,
        processed=bool(values["_processed"]),
        run_id=values["_run_id"],
        live=live,
    )


async def begin_stage_runs(conn: Conn, begins: Sequence[StageBegin]) -> list[StageStart]:
    """For each delivery, look up the job its event names and start a run if the stage should.

    A run starts when the job exists, the stage has not committed this event yet, the job
    has not ended (unless ``even_if_settled``) and no other run of this event beat within
    ``lease_s`` (one whose owner is in ``dead_owners`` does not count). Starting a run
    moves the job to ``working_status``; an earlier unfinished run of the event is marked
    abandoned and its log lines superseded, so the job shows one set of lines per stage.

    One statement per delivery, all in one round trip and one transaction, in job order
    (`_fetch_in_job_order`); results come back in the order given.
    """
    rows = await _fetch_in_job_order(
        conn, _BEGIN_STAGE_RUN, [b.job_id for b in begins], [b.args() for b in begins]
    )
    return [_stage_start(row) for row in rows]


async def beat_stage_runs(conn: Conn, *, run_ids: Sequence[int]) -> None:
    """Stamp the heartbeat of runs that are still working (one statement for all)."""
    await conn.execute(
        "UPDATE stage_runs SET heartbeat_at = clock_timestamp() "
        "WHERE id = ANY($1::bigint[]) AND finished_at IS NULL",
        list(run_ids),
    )


async def finish_stage_run(conn: Conn, *, run_id: int, outcome: str) -> None:
    """Close a stage run with its outcome (retry, abandoned, …) without other writes.

    A run already closed (by its commit) keeps the outcome it has.
    """
    await conn.execute(
        "UPDATE stage_runs SET finished_at = clock_timestamp(), outcome = $2 "
        "WHERE id = $1 AND finished_at IS NULL",
        run_id,
        outcome,
    )


_FAIL_JOB = """
WITH closed AS (
    UPDATE stage_runs SET finished_at = clock_timestamp(), outcome = 'failed'
    WHERE id = $5 AND finished_at IS NULL
    RETURNING 1
), failed AS (
    UPDATE jobs SET status = 'failed', stage = $2, error = $3,
        finished_at = clock_timestamp(), updated_at = clock_timestamp()
    WHERE id = $1 AND status <> ALL($4::text[])
    RETURNING id
), sent AS (
    INSERT INTO outbox (event_id, job_id, routing_key, payload)
    SELECT $6, id, $7, $8::text::jsonb FROM failed
    RETURNING id, created_at
), logged AS (
    INSERT INTO job_logs (job_id, service, level, message, fields, event_id)
    SELECT id, $2, 'error', $9, '{}'::jsonb, $10 FROM failed
)
SELECT id, created_at FROM sent
"""


async def fail_job(
    conn: Conn,
    *,
    job_id: UUID,
    stage: str,
    reason: str,
    event: Event,
    run_id: int | None = None,
    source_event_id: UUID | None = None,
) -> list[OutboxRow]:
    """Mark a job failed with the least that can be written: the fallback of a failed commit.

    One statement: closes the run (if any, and still open), sets the job ``failed``
    with ``reason`` (unless it already ended), writes ``event`` (its JobFailed) to the
    outbox and one log line. Returns the outbox row, if the job was still going.
    """
    body = event_json(event)
    rows = await conn.fetch(
        _FAIL_JOB,
        job_id,
        stage,
        storable_text(reason),
        sorted(SETTLED_STATUSES),
        run_id,
        event.event_id,
        event.routing_key,
        body,
        storable_text(f"{stage} failed: {reason}", LINE_LIMIT),
        source_event_id,
    )
    return [
        OutboxRow(r["id"], event.event_id, event.routing_key, body.encode(), r["created_at"])
        for r in rows
    ]


@dataclass(frozen=True)
class LogLine:
    """A redacted job log line, ready to store."""

    level: str
    message: str
    fields: dict[str, Any]


@dataclass
class StageCommit:
    """Everything a stage run writes when it ends, committed by `commit_stage_runs`."""

    run_id: int
    job_id: UUID
    event_id: UUID
    stage: str
    outcome: str
    status: str
    job_stage: str
    line: LogLine
    # Written instead of ``line`` when the job ended while the stage worked.
    ended_line: LogLine
    mark_processed: bool = True
    finished: bool = False
    only_if_active: bool = True
    analysis: Mapping[str, Any] | None = None
    merge_result: Mapping[str, Any] | None = None
    error: str | None = None
    artifacts: Mapping[str, str | bytes] | None = None
    artifact_attempt: int = 1
    events: Sequence[Event] = ()


@dataclass(frozen=True)
class CommitResult:
    """What `commit_stage_runs` did."""

    duplicate: bool  # another delivery of the event committed first; nothing was written
    moved: bool  # the job took the outcome (False: it had ended meanwhile)
    rows: list[OutboxRow]
    # The run is not in the database (its begin was lost in a crash); nothing was written.
    lost: bool = False


_COMMIT_STAGE_RUN = """
WITH cleared AS (
    DELETE FROM outbox WHERE id = ANY($28::bigint[])
), run AS (
    -- The run's begin commits asynchronously; if a database crash lost it, nothing
    -- here is written and the caller hands the delivery back (CommitResult.lost).
    SELECT 1 FROM stage_runs WHERE id = $27 AND job_id = $4 AND event_id = $1 AND stage = $2
), claimed AS (
    INSERT INTO processed_messages (event_id, consumer)
    SELECT $1, $2 WHERE $3 AND EXISTS (SELECT 1 FROM run)
    ON CONFLICT DO NOTHING
    RETURNING 1
), ok AS (
    SELECT 1 FROM claimed UNION ALL SELECT 1 WHERE NOT $3 AND EXISTS (SELECT 1 FROM run)
), moved AS (
    UPDATE jobs SET
        status = $5, stage = $6,
        analysis = CASE WHEN $7::jsonb IS NULL THEN analysis ELSE $7::jsonb END,
        error = coalesce($8, error),
        result = CASE WHEN $9::jsonb IS NULL THEN result
                      ELSE coalesce(result, '{}'::jsonb) || $9::jsonb END,
        finished_at = CASE WHEN $10 THEN clock_timestamp() ELSE finished_at END,
        updated_at = clock_timestamp()
    WHERE id = $4 AND EXISTS (SELECT 1 FROM ok)
      AND (NOT $11 OR status <> ALL($12::text[]))
    RETURNING 1
), files AS (
    INSERT INTO artifacts (job_id, path, content, attempt, encoding)
    SELECT $4, f.path, f.content, $13, f.encoding
    FROM unnest($14::text[], $15::text[], $16::text[]) AS f(path, content, encoding)
    WHERE EXISTS (SELECT 1 FROM moved)
    ON CONFLICT (job_id, path)
    DO UPDATE SET content = excluded.content, attempt = excluded.attempt,
                  encoding = excluded.encoding, created_at = clock_timestamp()
    RETURNING 1
), sent AS (
    INSERT INTO outbox (event_id, job_id, routing_key, payload)
    SELECT e.event_id, $4, e.routing_key, e.payload::jsonb
    FROM unnest($17::uuid[], $18::text[], $19::text[])
         WITH ORDINALITY AS e(event_id, routing_key, payload, n)
    WHERE EXISTS (SELECT 1 FROM moved)
    ORDER BY e.n
    RETURNING id, event_id, created_at
), logged AS (
    INSERT INTO job_logs (job_id, service, level, message, fields, event_id)
    SELECT $4, $2, l.level, l.message, l.fields, $1
    FROM (
        SELECT $20::text, $21::text, $22::jsonb WHERE EXISTS (SELECT 1 FROM moved)
        UNION ALL
        SELECT $23::text, $24::text, $25::jsonb
        WHERE NOT EXISTS (SELECT 1 FROM moved) AND EXISTS (SELECT 1 FROM ok)
    ) AS l(level, message, fields)
    RETURNING 1
), closed AS (
    UPDATE stage_runs SET finished_at = clock_timestamp(),
        outcome = CASE WHEN EXISTS (SELECT 1 FROM ok) THEN $26 ELSE 'duplicate' END
    WHERE id = $27 AND EXISTS (SELECT 1 FROM run)
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM run) AS run_found,
       EXISTS (SELECT 1 FROM ok) AS ok, EXISTS (SELECT 1 FROM moved) AS moved,
       (SELECT array_agg(id ORDER BY id) FROM sent) AS ids,
       (SELECT array_agg(event_id ORDER BY id) FROM sent) AS event_ids,
       (SELECT array_agg(created_at ORDER BY id) FROM sent) AS created
"""


def _commit_args(
    commit: StageCommit, delete_outbox: Sequence[int]
) -> tuple[tuple[Any, ...], list[str]]:
    """The statement's parameters ($1 to $28) and the next events' JSON."""
    paths, contents, encodings = _artifact_columns(commit.artifacts or {})
    bodies = [event_json(e) for e in commit.events]
    args = (
        commit.event_id,
        commit.stage,
        commit.mark_processed,
        commit.job_id,
        commit.status,
        commit.job_stage,
        dict(commit.analysis) if commit.analysis is not None else None,
        storable_text(commit.error) if commit.error is not None else None,
        dict(commit.merge_result) if commit.merge_result else None,
        commit.finished,
        commit.only_if_active,
        sorted(SETTLED_STATUSES),
        commit.artifact_attempt,
        paths,
        contents,
        encodings,
        [e.event_id for e in commit.events],
        [e.routing_key for e in commit.events],
        bodies,
        commit.line.level,
        storable_text(commit.line.message, LINE_LIMIT),
        commit.line.fields,
        commit.ended_line.level,
        storable_text(commit.ended_line.message, LINE_LIMIT),
        commit.ended_line.fields,
        commit.outcome,
        commit.run_id,
        list(delete_outbox),
    )
    return args, bodies


def _commit_result(commit: StageCommit, bodies: list[str], row: Any) -> CommitResult:
    by_event = {e.event_id: (e, b) for e, b in zip(commit.events, bodies, strict=True)}
    rows = [
        OutboxRow(
            id_, event_id, by_event[event_id][0].routing_key, by_event[event_id][1].encode(), at
        )
        for id_, event_id, at in zip(
            row["ids"] or [], row["event_ids"] or [], row["created"] or [], strict=True
        )
    ]
    if not row["run_found"]:
        return CommitResult(duplicate=False, moved=False, rows=[], lost=True)
    return CommitResult(duplicate=not row["ok"], moved=bool(row["moved"]), rows=rows)


async def commit_stage_runs(
    conn: Conn, commits: Sequence[StageCommit], *, delete_outbox: Sequence[int] = ()
) -> list[CommitResult]:
    """Commit each stage run's outcome in ONE statement (so atomically).

    Marks the event processed (unless ``mark_processed`` is False: a run that gave up
    stays replayable), updates the job, stores the artifacts, writes the next events to
    the outbox, appends the log line and closes the run. If another delivery already
    committed this event, only the run is closed, as 'duplicate'. If the job ended while
    the stage worked, the outcome is not handed on and ``ended_line`` is logged instead.

    Several runs share one round trip and one transaction, in job order
    (`_fetch_in_job_order`); results come back in the order given. The same transaction
    deletes the outbox rows ``delete_outbox`` (published ones).
    """
    prepared = [_commit_args(c, delete_outbox if i == 0 else ()) for i, c in enumerate(commits)]
    rows = await _fetch_in_job_order(
        conn, _COMMIT_STAGE_RUN, [c.job_id for c in commits], [args for args, _ in prepared]
    )
    return [
        _commit_result(commit, bodies, row)
        for commit, (_, bodies), row in zip(commits, prepared, rows, strict=True)
    ]


def _artifact_columns(files: Mapping[str, str | bytes]) -> tuple[list[str], list[str], list[str]]:
    """Paths, contents and encodings; content that is not storable text is kept base64.

    A file is stored whole or not at all (a cut file is a broken one), so a NUL or a
    lone surrogate sends it to base64, like bytes that are not UTF-8.
    """
    paths, contents, encodings = [], [], []
    for path, content in files.items():
        text, encoding = _artifact_text(content)
        paths.append(storable_text(path))
        contents.append(text)
        encodings.append(encoding)
    return paths, contents, encodings


def _artifact_text(content: str | bytes) -> tuple[str, str]:
    if isinstance(content, str):
        if storable_text(content, len(content)) is content:
            return content, "utf-8"
        # A NUL survives base64; a lone surrogate has no UTF-8 form and becomes '?'.
        content = content.encode("utf-8", "replace")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        return base64.b64encode(content).decode(), "base64"
    return text, "utf-8"


async def get_artifact_bytes(conn: Conn, *, job_id: UUID) -> dict[str, bytes]:
    """All of a job's generated files as bytes (base64-stored ones decoded)."""
    rows = await conn.fetch(
        "SELECT path, content, encoding FROM artifacts WHERE job_id = $1", job_id
    )
    return {
        str(r["path"]): base64.b64decode(r["content"])
        if r["encoding"] == "base64"
        else str(r["content"]).encode()
        for r in rows
    }


async def list_artifacts(conn: Conn, *, job_id: UUID) -> list[dict[str, Any]]:
    """Paths and sizes of a job's generated files."""
    rows = await conn.fetch(
        "SELECT path, octet_length(content) AS size, attempt, created_at FROM artifacts "
        "WHERE job_id = $1 ORDER BY path",
        job_id,
    )
    return [dict(r) for r in rows]


async def get_artifacts(conn: Conn, *, job_id: UUID) -> dict[str, str]:
    """All of a job's generated files, path → content."""
    rows = await conn.fetch("SELECT path, content FROM artifacts WHERE job_id = $1", job_id)
    return {str(r["path"]): str(r["content"]) for r in rows}


async def get_artifact(conn: Conn, *, job_id: UUID, path: str) -> str | None:
    """One generated file's content."""
    value = await conn.fetchval(
        "SELECT content FROM artifacts WHERE job_id = $1 AND path = $2", job_id, path
    )
    return str(value) if value is not None else None
