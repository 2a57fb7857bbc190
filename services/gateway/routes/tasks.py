"""POST /tasks and GET /tasks/{id}: brief-to-site jobs, in the contract evaluators use.

Validation errors answer 400 and a wrong secret 403 (both with nothing stored); an
accepted task answers 200 `{job_id, status: "queued"}`. The `secret` is the route's only
authentication (evaluators send no bearer token, whatever API_TOKENS says), and the
natural key (email, task, round, nonce) makes an evaluator's repeated post answer with
the first job, Idempotency-Key or not.
"""

from __future__ import annotations

import hmac
import re
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from services.gateway.attachments import AttachmentError, parse_attachment
from services.gateway.deps import PoolDep, RelayDep, SettingsDep
from services.gateway.errors import Repeat, claim_idempotency_key, field_error
from services.gateway.schemas import JobAccepted, JobLogLine, body_fingerprint
from shared import db
from shared.egress import resolve_and_check_host
from shared.events import TaskRequest, TaskRequested
from shared.logs import JobLog
from shared.metrics import JOBS_SUBMITTED
from shared.security import RepoUrlError, check_url

__all__ = ["SECRET_AUTHENTICATED", "TaskCreate", "TaskRead", "router"]

router = APIRouter(tags=["tasks"])

# (method, path) of the routes whose body's `secret` authenticates them: API_TOKENS'
# bearer check leaves these to the route.
SECRET_AUTHENTICATED = frozenset({("POST", "/tasks")})

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
_TASK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class AttachmentIn(BaseModel):
    """An attachment as the evaluator sends it: a name and a data: URI."""

    name: str = Field(min_length=1, max_length=255)
    url: str = Field(min_length=5)


class TaskCreate(BaseModel):
    """A brief-to-site task."""

    model_config = ConfigDict(extra="ignore")

    email: str = Field(max_length=320)
    secret: SecretStr
    task: str = Field(description="Task id, e.g. 'sum-of-sales'")
    round: int = Field(ge=1, le=20)
    nonce: str = Field(min_length=1, max_length=200)
    brief: str = Field(min_length=1, max_length=50_000)
    checks: list[str] = Field(default_factory=list, max_length=100)
    evaluation_url: str = Field(min_length=8, max_length=2048)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError("email is not an email address")
        return value

    @field_validator("task")
    @classmethod
    def _task(cls, value: str) -> str:
        if not _TASK.match(value):
            raise ValueError(
                "task must be 1-100 letters, digits, '.', '_' or '-', starting with a "
                "letter or digit"
            )
        return value

    @field_validator("evaluation_url")
    @classmethod
    def _callback_shape(cls, value: str) -> str:
        try:
            check_url(value, shape_only=True, field="evaluation_url", require_path=False)
        except RepoUrlError as exc:
            raise ValueError(str(exc)) from None
        return value


class TaskRead(BaseModel):
    """A task job: status, where it was published, its checks, callbacks and log."""

    job_id: UUID
    status: str
    stage: str | None
    task: str
    round: int
    repo_url: str | None = None
    commit_sha: str | None = None
    pages_url: str | None = None
    pages_live: bool | None = None
    placeholder: str | None = Field(
        default=None, description="why the labelled placeholder site was published, if it was"
    )
    checks: list[dict[str, Any]] = Field(default_factory=list)
    checks_not_run: str | None = Field(default=None, description="why no browser check ran")
    callback_attempts: list[dict[str, Any]] = Field(default_factory=list)
    callback_delivered: bool = False
    error: str | None = None
    logs: list[JobLogLine] = Field(default_factory=list)


@router.post(
    "/tasks",
    response_model=JobAccepted,
    responses={
        400: {"description": "invalid task (the reason names the field)"},
        403: {"description": "the secret does not match"},
    },
)
async def submit_task(
    body: TaskCreate,
    settings: SettingsDep,
    pool: PoolDep,
    relay: RelayDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobAccepted:
    """Accept a brief-to-site task; the site is built, published, checked, called back."""
    expected = settings.task_secret.get_secret_value() if settings.task_secret else ""
    if not expected:
        raise HTTPException(503, "this server takes no tasks: TASK_SECRET is not configured")
    if not hmac.compare_digest(body.secret.get_secret_value().encode(), expected.encode()):
        raise HTTPException(403, "secret does not match")
    allowed = [h.strip() for h in settings.callback_allowed_hosts.split(",") if h.strip()]
    field, setting = "evaluation_url", "CALLBACK_ALLOWED_HOSTS"
    try:
        host = check_url(
            body.evaluation_url, allowed, require_path=False, field=field, allow_setting=setting
        )
        await resolve_and_check_host(host, allowed, field=field, allow_setting=setting)
    except RepoUrlError as exc:
        raise field_error("evaluation_url", str(exc), status_code=400) from None
    attachments = []
    for index, item in enumerate(body.attachments):
        try:
            attachments.append(
                parse_attachment(
                    item.name,
                    item.url,
                    field_path=f"attachments[{index}]",
                    max_bytes=settings.attachment_max_bytes,
                )
            )
        except AttachmentError as exc:
            raise field_error(exc.field_path, exc.reason, status_code=400) from None
    attachment_names = [a.name for a in attachments]
    if len(set(attachment_names)) != len(attachment_names):
        raise field_error("attachments", "attachment names must be unique", status_code=400)

    task = TaskRequest(
        email=body.email,
        task=body.task,
        round=body.round,
        nonce=body.nonce,
        brief=body.brief,
        checks=body.checks,
        evaluation_url=body.evaluation_url,
        attachments=attachment_names,
    )
    job_id = uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await _claim_natural_key(conn, task)
        row = await db.insert_job(
            conn,
            job_id=job_id,
            kind="task",
            request=task.public(),
            event=TaskRequested(job_id=job_id, task=task),
        )
        await claim_idempotency_key(
            conn,
            scope="tasks",
            key=idempotency_key,
            body_hash=body_fingerprint(body),
            job_id=job_id,
        )
        # The data URI said one type and the bytes are another: kept, and said so.
        log = JobLog(conn, job_id=job_id, service="gateway")
        for attachment in attachments:
            if attachment.mime_note:
                await log.warning(f"gateway: attachment {attachment.name}: {attachment.mime_note}")
        await conn.executemany(
            "INSERT INTO task_attachments (job_id, name, mime, data) VALUES ($1, $2, $3, $4)",
            [(job_id, a.name, a.mime, a.data) for a in attachments],
        )
    relay.hand_off([row])
    JOBS_SUBMITTED.labels("task").inc()
    return JobAccepted(job_id=job_id, status="queued")


async def _claim_natural_key(conn: asyncpg.Connection, task: TaskRequest) -> None:
    """Inside the new job's transaction: go on, or raise Repeat with the round's first job.

    The transaction lock serialises posts of the same (email, task, round, nonce), so two
    at once still make one job; the lookup uses the (task, email) index of tasks.
    """
    key = "\x1f".join((task.email, task.task, str(task.round), task.nonce))
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 22))", key)
    first = await conn.fetchval(
        """
        SELECT id FROM jobs
        WHERE kind = 'task' AND request->>'task' = $1 AND request->>'email' = $2
          AND (request->>'round')::int = $3 AND request->>'nonce' = $4
        ORDER BY created_at LIMIT 1
        """,
        task.task,
        task.email,
        task.round,
        task.nonce,
    )
    if first is not None:
        raise Repeat(first)


@router.get("/tasks/{job_id}", response_model=TaskRead)
async def get_task(job_id: UUID, pool: PoolDep) -> TaskRead:
    """A task: status, repository, commit, Pages URL, check results, callbacks, log."""
    job = await db.get_job(pool, job_id=job_id)
    if job is None or job["kind"] != "task":
        raise HTTPException(404, f"no task job {job_id}")
    result = job["result"] or {}
    return TaskRead(
        job_id=job_id,
        status=job["status"],
        stage=job["stage"],
        task=job["request"]["task"],
        round=job["request"]["round"],
        repo_url=(result.get("repo") or {}).get("html_url"),
        commit_sha=result.get("commit_sha"),
        pages_url=result.get("pages_url"),
        pages_live=result.get("pages_live"),
        placeholder=result.get("placeholder"),
        checks=result.get("checks", []),
        checks_not_run=result.get("checks_not_run"),
        callback_attempts=result.get("callback_attempts", []),
        # A job that ended before the verifier's callback never delivered one.
        callback_delivered=bool(result.get("callback_delivered", False)),
        error=job["error"],
        logs=await db.get_logs(pool, job_id=job_id),
    )
