"""What a stage's handlers read and write of the job store, and its PostgreSQL implementation.

Handlers get a `JobStore` (``ctx.store``), never the pool: each method names one thing a
handler needs, with keyword-only arguments, so a handler can be unit-tested with an
in-memory fake (``tests/support/jobstore.py``) and the SQL lives in one place. The
runner's own statements (begin, commit, heartbeat) stay in `shared.db`; what a handler
decides reaches the database through its `Outcome`, committed by the runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import asyncpg

from shared import app_store, db
from shared.events import JobRequest, JobTeardownRequested

__all__ = [
    "AppSwitch",
    "EarlierRound",
    "JobStore",
    "PostgresJobStore",
    "StoredAttachment",
]


class StoredAttachment(NamedTuple):
    """A brief's attachment as the gateway stored it."""

    name: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class EarlierRound:
    """The latest published earlier round of a task: its job and its repository."""

    job_id: UUID
    repo: dict[str, Any]


class AppSwitch(Protocol):
    """An app's row, locked while its URL moves to a new revision (one switch at a time)."""

    app: dict[str, Any] | None

    async def newer(self, *, current: UUID, job_id: UUID) -> bool:
        """Whether revision ``current`` was requested after ``job_id``."""
        ...

    async def set_current(self, *, job_id: UUID, proxy_port: int) -> None:
        """The revision the app's URL now serves, and the port it serves it on."""
        ...

    async def retire(self, *, job_id: UUID) -> None:
        """Queue a superseded revision's teardown, as DELETE /job does (once)."""
        ...


class JobStore(Protocol):
    """The job store as the stages' handlers see it."""

    async def get_artifacts(self, *, job_id: UUID) -> dict[str, str]:
        """A job's generated files, path → text."""
        ...

    async def get_artifact_bytes(self, *, job_id: UUID) -> dict[str, bytes]:
        """A job's generated files, path → bytes."""
        ...

    async def get_attachments(self, *, job_id: UUID) -> list[StoredAttachment]:
        """A task's attachments, by name."""
        ...

    async def find_earlier_round(
        self, *, task: str, email: str, before_round: int
    ) -> EarlierRound | None:
        """The latest round of ``task`` by ``email`` before ``before_round`` with a repository."""
        ...

    async def join_app(
        self, *, job_id: UUID, request: JobRequest, app_root: str, target: str
    ) -> dict[str, Any]:
        """Make the job a revision of its app (created on the repository's first deploy)."""
        ...

    async def get_job_app(self, *, job_id: UUID) -> dict[str, Any] | None:
        """The app a job is a revision of: id, name, deleted_at, current_job_id."""
        ...

    async def get_app_id(self, *, job_id: UUID) -> UUID | None:
        """The id of the app a job is a revision of, if any."""
        ...

    async def get_app(self, *, app_id: UUID) -> dict[str, Any] | None:
        """An app that is not deleted: id, name, proxy_port, current_job_id."""
        ...

    async def stage_seconds(self, *, job_id: UUID) -> dict[str, float]:
        """Seconds each stage spent on the job (all attempts, runs in progress so far)."""
        ...

    def switching_app(self, *, app_id: UUID) -> AbstractAsyncContextManager[AppSwitch]:
        """Lock an app's row for a switch; what is done through it commits together."""
        ...


class _PostgresAppSwitch:
    def __init__(self, conn: db.Conn, app_id: UUID, app: dict[str, Any] | None) -> None:
        self._conn = conn
        self._app_id = app_id
        self.app = app

    async def newer(self, *, current: UUID, job_id: UUID) -> bool:
        return bool(
            await self._conn.fetchval(
                "SELECT (SELECT created_at FROM jobs WHERE id = $1) > "
                "(SELECT created_at FROM jobs WHERE id = $2)",
                current,
                job_id,
            )
        )

    async def set_current(self, *, job_id: UUID, proxy_port: int) -> None:
        await app_store.set_current(
            self._conn, app_id=self._app_id, job_id=job_id, proxy_port=proxy_port
        )

    async def retire(self, *, job_id: UUID) -> None:
        status = await self._conn.fetchval(
            "SELECT status FROM jobs WHERE id = $1 FOR UPDATE", job_id
        )
        if status in (None, "destroying", "destroyed"):
            return
        await db.set_job(self._conn, job_id=job_id, status="destroying")
        await db.enqueue(self._conn, JobTeardownRequested(job_id=job_id))


class PostgresJobStore:
    """`JobStore` over the stage's pool: one pooled connection per call."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def get_artifacts(self, *, job_id: UUID) -> dict[str, str]:
        """A job's generated files, path → text."""
        return await db.get_artifacts(self.pool, job_id=job_id)

    async def get_artifact_bytes(self, *, job_id: UUID) -> dict[str, bytes]:
        """A job's generated files, path → bytes."""
        return await db.get_artifact_bytes(self.pool, job_id=job_id)

    async def get_attachments(self, *, job_id: UUID) -> list[StoredAttachment]:
        """A task's attachments, by name."""
        rows = await self.pool.fetch(
            "SELECT name, mime, data FROM task_attachments WHERE job_id = $1 ORDER BY name",
            job_id,
        )
        return [StoredAttachment(r["name"], r["mime"], bytes(r["data"])) for r in rows]

    async def find_earlier_round(
        self, *, task: str, email: str, before_round: int
    ) -> EarlierRound | None:
        """The latest round of ``task`` by ``email`` before ``before_round`` with a repository."""
        row = await self.pool.fetchrow(
            """
            SELECT id, result FROM jobs
            WHERE kind = 'task' AND request->>'task' = $1 AND request->>'email' = $2
              AND (request->>'round')::int < $3 AND result ? 'repo'
            ORDER BY (request->>'round')::int DESC, created_at DESC LIMIT 1
            """,
            task,
            email,
            before_round,
        )
        return None if row is None else EarlierRound(row["id"], row["result"]["repo"])

    async def join_app(
        self, *, job_id: UUID, request: JobRequest, app_root: str, target: str
    ) -> dict[str, Any]:
        """Make the job a revision of its app (created on the repository's first deploy)."""
        async with self.pool.acquire() as conn, conn.transaction():
            return await app_store.join_app(
                conn, job_id=job_id, request=request, app_root=app_root, target=target
            )

    async def get_job_app(self, *, job_id: UUID) -> dict[str, Any] | None:
        """The app a job is a revision of: id, name, deleted_at, current_job_id."""
        row = await self.pool.fetchrow(
            "SELECT a.id, a.name, a.deleted_at, a.current_job_id FROM jobs j "
            "JOIN apps a ON a.id = j.app_id WHERE j.id = $1",
            job_id,
        )
        return dict(row) if row is not None else None

    async def get_app_id(self, *, job_id: UUID) -> UUID | None:
        """The id of the app a job is a revision of, if any."""
        app_id: UUID | None = await self.pool.fetchval(
            "SELECT app_id FROM jobs WHERE id = $1", job_id
        )
        return app_id

    async def get_app(self, *, app_id: UUID) -> dict[str, Any] | None:
        """An app that is not deleted: id, name, proxy_port, current_job_id."""
        row = await self.pool.fetchrow(
            "SELECT id, name, proxy_port, current_job_id FROM apps"
            " WHERE id = $1 AND deleted_at IS NULL",
            app_id,
        )
        return dict(row) if row is not None else None

    async def stage_seconds(self, *, job_id: UUID) -> dict[str, float]:
        """Seconds each stage spent on the job (all attempts, runs in progress so far)."""
        rows = await self.pool.fetch(
            "SELECT stage, sum(extract(epoch FROM coalesce(finished_at, clock_timestamp())"
            " - started_at)) AS seconds FROM stage_runs WHERE job_id = $1 GROUP BY stage",
            job_id,
        )
        return {str(r["stage"]): round(float(r["seconds"]), 3) for r in rows}

    @asynccontextmanager
    async def switching_app(self, *, app_id: UUID) -> AsyncIterator[AppSwitch]:
        """Lock an app's row for a switch; what is done through it commits together."""
        async with self.pool.acquire() as conn, conn.transaction():
            app = await app_store.lock_app(conn, app_id=app_id)
            yield _PostgresAppSwitch(conn, app_id, app)
