"""PostgreSQL access: the pool and keyword-only repository functions over the schema."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.events import Event

__all__ = [
    "ACTIVE_STATUSES",
    "TERMINAL_STATUSES",
    "Conn",
    "OutboxRow",
    "add_artifacts",
    "add_log",
    "claim_idempotency_key",
    "create_pool",
    "enqueue",
    "finish_stage_run",
    "get_artifact",
    "get_artifact_bytes",
    "get_artifacts",
    "get_job",
    "get_logs",
    "insert_job",
    "job_for_event",
    "list_artifacts",
    "list_jobs",
    "mark_processed",
    "set_job",
    "start_stage_run",
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
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


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


async def insert_job(
    conn: Conn, *, job_id: UUID, kind: str, request: Mapping[str, Any], status: str = "queued"
) -> None:
    """Create a job row."""
    await conn.execute(
        "INSERT INTO jobs (id, kind, status, request) VALUES ($1, $2, $3, $4)",
        job_id,
        kind,
        status,
        dict(request),
    )


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
    payload: dict[str, Any]
    created_at: datetime


async def enqueue(conn: Conn, event: Event) -> OutboxRow:
    """Write an event to the outbox; it is published once the transaction commits."""
    payload = event.model_dump(mode="json")
    row = await conn.fetchrow(
        "INSERT INTO outbox (event_id, job_id, routing_key, payload) VALUES ($1, $2, $3, $4) "
        "RETURNING id, created_at",
        event.event_id,
        event.job_id,
        event.routing_key,
        payload,
    )
    assert row is not None
    return OutboxRow(row["id"], event.event_id, event.routing_key, payload, row["created_at"])


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
        args.append(value)
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
    """Append one line to a job's log (callers redact first)."""
    await conn.execute(
        "INSERT INTO job_logs (job_id, service, level, message, fields, event_id) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        job_id,
        service,
        level,
        message,
        dict(fields or {}),
        event_id,
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


async def job_for_event(
    conn: Conn, *, job_id: UUID, event_id: UUID, consumer: str
) -> tuple[dict[str, Any] | None, bool]:
    """The job an event names, and whether this consumer already handled the event."""
    row = await conn.fetchrow(
        """
        SELECT j.*, EXISTS (
            SELECT 1 FROM processed_messages WHERE event_id = $2 AND consumer = $3
        ) AS _processed
        FROM (SELECT 1) one LEFT JOIN jobs j ON j.id = $1
        """,
        job_id,
        event_id,
        consumer,
    )
    assert row is not None
    processed = bool(row["_processed"])
    job = {k: v for k, v in dict(row).items() if k != "_processed"}
    return (job if job.get("id") is not None else None), processed


async def mark_processed(conn: asyncpg.Connection, *, event_id: UUID, consumer: str) -> bool:
    """Record the event as handled; False if another delivery got there first."""
    inserted = await conn.fetchval(
        "INSERT INTO processed_messages (event_id, consumer) VALUES ($1, $2) "
        "ON CONFLICT DO NOTHING RETURNING 1",
        event_id,
        consumer,
    )
    return inserted is not None


async def start_stage_run(
    conn: Conn,
    *,
    job_id: UUID,
    stage: str,
    event_id: UUID,
    delivery: int,
    working_status: str,
    even_if_settled: bool = False,
) -> int:
    """Record that a stage began working on an event and move the job to its status.

    One statement, so a hand-off costs one round trip. A redelivered event's earlier,
    unfinished attempt is marked abandoned and its log lines superseded, so the job
    shows one set of lines per completed stage. Returns the run id.
    """
    row = await conn.fetchrow(
        """
        WITH abandoned AS (
            UPDATE stage_runs SET outcome = 'abandoned', finished_at = clock_timestamp()
            WHERE event_id = $3 AND stage = $2 AND finished_at IS NULL
            RETURNING started_at
        ), superseded AS (
            UPDATE job_logs SET superseded = true
            WHERE job_id = $1 AND event_id = $3 AND service = $2 AND NOT superseded
              AND ts >= (SELECT min(started_at) FROM abandoned)
            RETURNING 1
        ), moved AS (
            UPDATE jobs SET status = $5, stage = $2, updated_at = clock_timestamp()
            WHERE id = $1 AND ($6 OR status <> ALL($7::text[]))
            RETURNING 1
        )
        INSERT INTO stage_runs (job_id, stage, event_id, delivery)
        VALUES ($1, $2, $3, $4)
        RETURNING id, (SELECT count(*) FROM superseded) AS superseded,
                  (SELECT count(*) FROM moved) AS moved
        """,
        job_id,
        stage,
        event_id,
        delivery,
        working_status,
        even_if_settled,
        sorted(SETTLED_STATUSES),
    )
    assert row is not None
    return int(row["id"])


async def finish_stage_run(conn: Conn, *, run_id: int, outcome: str) -> None:
    """Close a stage run with its outcome (done, failed, retry, rejected, skipped)."""
    await conn.execute(
        "UPDATE stage_runs SET finished_at = clock_timestamp(), outcome = $2 WHERE id = $1",
        run_id,
        outcome,
    )


async def add_artifacts(
    conn: Conn, *, job_id: UUID, files: Mapping[str, str | bytes], attempt: int = 1
) -> None:
    """Store generated files (replacing an earlier attempt's); bytes that are not UTF-8
    text are kept base64-encoded with ``encoding = 'base64'``."""
    rows = []
    for path, content in files.items():
        text, encoding = content, "utf-8"
        if isinstance(content, bytes):
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                text, encoding = base64.b64encode(content).decode(), "base64"
        rows.append((job_id, path, text, attempt, encoding))
    await conn.executemany(
        """
        INSERT INTO artifacts (job_id, path, content, attempt, encoding)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (job_id, path)
        DO UPDATE SET content = excluded.content, attempt = excluded.attempt,
                      encoding = excluded.encoding, created_at = clock_timestamp()
        """,
        rows,
    )


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
