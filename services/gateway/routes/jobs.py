"""Repository jobs: submit one, list them, read one, tear its deployment down."""

from __future__ import annotations

from typing import Annotated, Any, cast
from uuid import UUID, uuid4

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import JSONResponse

from services.gateway.deps import JobInsertsDep, PoolDep, RelayDep, SettingsDep
from services.gateway.errors import claim_idempotency_key, field_error
from services.gateway.schemas import (
    JobAccepted,
    JobCreate,
    JobPage,
    JobRead,
    JobSummary,
    body_fingerprint,
)
from shared import db
from shared.egress import resolve_and_check_host
from shared.events import JobRequest, JobRequested, JobTeardownRequested
from shared.metrics import JOBS_SUBMITTED
from shared.security import RepoUrlError, check_repo_url, redact_obj, seal

__all__ = ["router", "submit"]

router = APIRouter(tags=["jobs"])


@router.post(
    "/request",
    status_code=202,
    response_model=JobAccepted,
    responses={422: {"description": "invalid body, or an Idempotency-Key reused"}},
)
async def submit(
    body: JobCreate,
    settings: SettingsDep,
    pool: PoolDep,
    relay: RelayDep,
    inserts: JobInsertsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Repeat a submission safely: the same key and body return the "
            "first answer; the same key with another body is refused",
        ),
    ] = None,
) -> JSONResponse:
    """Accept a repository deployment; the job is queued for the analyzer."""
    try:
        host = check_repo_url(body.repo_url, settings.allowed_git_hosts)
        await resolve_and_check_host(host, settings.allowed_git_hosts)
    except RepoUrlError as exc:
        raise field_error("repo_url", str(exc)) from None
    sealed = None
    if body.github_token is not None:
        key = settings.token_encryption_key
        if key is None:
            raise HTTPException(
                status_code=503,
                detail="this server cannot accept tokens: TOKEN_ENCRYPTION_KEY is not set",
            )
        sealed = seal(body.github_token.get_secret_value(), key.get_secret_value())
    request = JobRequest(
        repo_url=body.repo_url,
        description=body.description,
        target=body.target,
        mode=body.mode,
        sealed_token=sealed,
    )
    job_id = uuid4()
    event = JobRequested(job_id=job_id, request=request)
    # Stored and shown (GET /job, /list, the dashboard): a token in the URL's query
    # string goes; the event keeps the URL as given, for the clone.
    public = cast(dict[str, Any], redact_obj(request.public(), shapes_only=True))
    if idempotency_key is None:  # one statement, no transaction to open
        row = await inserts.submit(db.NewJob(job_id, "repository", public, event))
    else:
        async with pool.acquire() as conn, conn.transaction():
            row = await db.insert_job(
                conn, job_id=job_id, kind="repository", request=public, event=event
            )
            await claim_idempotency_key(
                conn,
                scope="request",
                key=idempotency_key,
                body_hash=body_fingerprint(body),
                job_id=job_id,
            )
    relay.hand_off([row])
    JOBS_SUBMITTED.labels("repository").inc()
    # The hot path: the answer is written directly (the docs still show JobAccepted),
    # sparing the response-model validation and serialisation on every submission.
    return JSONResponse({"job_id": str(job_id), "status": "queued"}, status_code=202)


@router.get("/list", response_model=JobPage)
async def list_jobs(
    pool: PoolDep,
    status: Annotated[str | None, Query(description="Only jobs with this status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JobPage:
    """Jobs, newest first."""
    rows, total = await db.list_jobs(pool, status=status, limit=limit, offset=offset)
    items = [
        JobSummary(
            **{k: v for k, v in r.items() if k != "request"},
            repo_url=r["request"].get("repo_url"),
        )
        for r in rows
    ]
    next_offset = offset + len(items) if offset + len(items) < total else None
    return JobPage(items=items, total=total, limit=limit, offset=offset, next_offset=next_offset)


@router.get("/job/{job_id}", response_model=JobRead)
async def get_job(job_id: UUID, pool: PoolDep) -> JobRead:
    """A job: status, stage, timestamps, analysis, result, error and its log."""
    job = await db.get_job(pool, job_id=job_id)
    if job is None:
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    logs = await db.get_logs(pool, job_id=job_id)
    return JobRead(**job, logs=logs)


@router.delete("/job/{job_id}", status_code=202, response_model=JobAccepted)
async def destroy_job(job_id: UUID, pool: PoolDep, relay: RelayDep) -> JobAccepted:
    """Tear the job's deployment down (idempotent: repeating it is harmless)."""
    async with pool.acquire() as conn, conn.transaction():
        job = await conn.fetchrow("SELECT status FROM jobs WHERE id = $1 FOR UPDATE", job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        if job["status"] == "destroying":
            return JobAccepted(job_id=job_id, status="destroying")
        await db.set_job(conn, job_id=job_id, status="destroying")
        row = await db.enqueue(conn, JobTeardownRequested(job_id=job_id))
    relay.hand_off([row])
    return JobAccepted(job_id=job_id, status="destroying")
