"""The gateway: REST API over the job store; publishes job events through the outbox."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, cast
from uuid import UUID, uuid4

import asyncpg
from fastapi import FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway import apps, tasks, web, webhooks
from services.gateway.errors import Repeat, claim_idempotency_key, field_error
from services.gateway.fastpath import SubmitFastPath
from services.gateway.hosts import HostCheckMiddleware
from services.gateway.schemas import (
    ArtifactRead,
    JobAccepted,
    JobCreate,
    JobPage,
    JobRead,
    JobSummary,
    body_fingerprint,
    bundle_tarball,
)
from shared import db
from shared.batch import Batcher
from shared.bus import Broker
from shared.egress import resolve_and_check_host
from shared.events import JobRequest, JobRequested, JobTeardownRequested
from shared.metrics import BATCH_SIZE, JOBS_SUBMITTED
from shared.outbox import OutboxRelay
from shared.security import RepoUrlError, check_repo_url, redact_obj, seal
from shared.settings import Settings

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


class BodyLimitMiddleware:
    """Refuse request bodies over a size limit with 413, before reading them whole."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_max = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default_max)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(send, limit)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._too_large(send, limit)

    async def _too_large(self, send: Send, limit: int) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {limit} bytes (MAX_REQUEST_BYTES)"},
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class BearerAuthMiddleware:
    """When API tokens are configured, every route but health and metrics needs one.

    Routes in ``own_auth`` ((method, path) pairs) authenticate themselves: POST /tasks
    by its body's `secret`, since evaluators never send a bearer token.
    """

    # A webhook cannot carry a token: its body's signature authenticates it instead.
    OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/webhooks/github"})

    def __init__(
        self,
        app: ASGIApp,
        tokens: frozenset[str],
        own_auth: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.own_auth = own_auth

    def _open(self, scope: Scope) -> bool:
        path = scope["path"]
        return path in self.OPEN_PATHS or (scope.get("method", ""), path) in self.own_auth

    def _authorized(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        offered = ""
        scheme, _, value = (
            headers.get(b"authorization", b"").decode(errors="replace").partition(" ")
        )
        if scheme.lower() == "bearer":
            offered = value.strip()
        else:
            # Browsers cannot attach a header to an EventSource: the dashboard uses a cookie.
            for part in headers.get(b"cookie", b"").decode(errors="replace").split(";"):
                name, _, cookie = part.strip().partition("=")
                if name == "autodeploy_token":
                    offered = cookie
        # Compare against every token in constant time, so timing says nothing.
        return any(hmac.compare_digest(offered.encode(), t.encode()) for t in self.tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope) or self._authorized(scope):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"detail": "missing or invalid API token: send 'Authorization: Bearer <token>'"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway application (connections open in the lifespan)."""
    settings = settings or Settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.create_pool(settings.database_url, max_size=20)
        broker = Broker(
            settings.amqp_url.get_secret_value(),
            delivery_limit=settings.delivery_limit,
            coalesce_writes=settings.amqp_coalesce_writes,
        )
        await broker.connect()
        relay = OutboxRelay(pool, broker)
        relay.start()
        JOBS_SUBMITTED.labels("repository")  # exported at zero before the first job
        # Requests that arrive together share one INSERT round trip (group commit), which
        # also deletes the outbox rows the relay has published since the last.
        inserts: Batcher[db.NewJob, db.OutboxRow] = Batcher(
            lambda jobs: relay.deleting_published(
                lambda published: db.insert_jobs(pool, jobs, delete_outbox=published)
            ),
            split_on=(asyncpg.PostgresError,),
            observe=BATCH_SIZE.labels("gateway", "insert_job").observe,
            linger_s=settings.batch_linger_ms / 1000,
        )
        state.update(pool=pool, broker=broker, relay=relay, inserts=inserts)
        app.state.pool = pool  # for routers in other modules (the web dashboard)
        app.state.relay = relay
        try:
            yield
        finally:
            await relay.stop()
            await broker.close()
            await pool.close()

    app = FastAPI(
        title="autodeploy",
        version="0.1.0",
        description=(
            "Describe it, we deploy it. Post a Git repository and a plain-language description; "
            "follow the job through analyzer, generator, provisioner and verifier."
        ),
        lifespan=lifespan,
    )
    app.include_router(web.router)
    app.include_router(tasks.router)
    app.include_router(apps.router)
    app.include_router(webhooks.router)
    app.state.settings = settings
    # Innermost of ours: POST /request's common case skips FastAPI's per-request layers
    # (`services.gateway.fastpath`); authentication and the body limits still apply.
    if settings.gateway_fast_path:
        app.add_middleware(
            SubmitFastPath,
            endpoint=lambda: state["submit"],
            handlers=lambda: app.exception_handlers,
        )
    # A task carries attachments of up to ATTACHMENT_MAX_BYTES each (base64: 4/3 larger).
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        per_path={"/tasks": settings.max_task_request_bytes},
    )
    if settings.api_token_set:
        app.add_middleware(
            BearerAuthMiddleware,
            tokens=settings.api_token_set,
            own_auth=tasks.SECRET_AUTHENTICATED,
        )
    # Outermost of ours, so it holds for the fast path too: a foreign Host is refused
    # before anything else looks at the request (DNS rebinding, `services.gateway.hosts`).
    if "*" not in settings.gateway_host_names:
        app.add_middleware(HostCheckMiddleware, allowed_hosts=settings.gateway_host_names)

    def pool() -> asyncpg.Pool:
        return state["pool"]

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(asyncpg.CannotConnectNowError)
    @app.exception_handler(asyncpg.AdminShutdownError)
    @app.exception_handler(asyncpg.InterfaceError)
    @app.exception_handler(asyncpg.InternalClientError)
    @app.exception_handler(asyncpg.InsufficientResourcesError)  # too many connections, disk full
    @app.exception_handler(ConnectionError)
    @app.exception_handler(OSError)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "the job store is unavailable; nothing was stored, try again"},
            status_code=503,
        )

    @app.exception_handler(Repeat)
    async def _repeat(request: Request, exc: Repeat) -> JSONResponse:
        return JSONResponse(
            {"job_id": str(exc.job_id), "status": "queued"},
            status_code=200 if request.url.path.startswith("/tasks") else 202,
            headers={"Idempotent-Replayed": "true"},
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI echoes the offending input by default; a token must never be echoed.
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        # The /tasks contract (evaluators test for it) answers 400 on validation errors.
        status = 400 if request.url.path.startswith("/tasks") else 422
        return JSONResponse({"detail": errors}, status_code=status)

    @app.post(
        "/request",
        status_code=202,
        response_model=JobAccepted,
        tags=["jobs"],
        responses={422: {"description": "invalid body, or an Idempotency-Key reused"}},
    )
    async def submit(
        body: JobCreate,
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
            row = await state["inserts"].submit(db.NewJob(job_id, "repository", public, event))
        else:
            async with pool().acquire() as conn, conn.transaction():
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
        state["relay"].hand_off([row])
        JOBS_SUBMITTED.labels("repository").inc()
        # The hot path: the answer is written directly (the docs still show JobAccepted),
        # sparing the response-model validation and serialisation on every submission.
        return JSONResponse({"job_id": str(job_id), "status": "queued"}, status_code=202)

    state["submit"] = submit

    @app.get("/list", response_model=JobPage, tags=["jobs"])
    async def list_jobs(
        status: Annotated[str | None, Query(description="Only jobs with this status")] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JobPage:
        """Jobs, newest first."""
        rows, total = await db.list_jobs(pool(), status=status, limit=limit, offset=offset)
        items = [
            JobSummary(
                **{k: v for k, v in r.items() if k != "request"},
                repo_url=r["request"].get("repo_url"),
            )
            for r in rows
        ]
        next_offset = offset + len(items) if offset + len(items) < total else None
        return JobPage(
            items=items, total=total, limit=limit, offset=offset, next_offset=next_offset
        )

    @app.get("/job/{job_id}", response_model=JobRead, tags=["jobs"])
    async def get_job(job_id: UUID) -> JobRead:
        """A job: status, stage, timestamps, analysis, result, error and its log."""
        job = await db.get_job(pool(), job_id=job_id)
        if job is None:
            raise HTTPException(status_code=404, detail=f"no job {job_id}")
        logs = await db.get_logs(pool(), job_id=job_id)
        return JobRead(**job, logs=logs)

    @app.delete("/job/{job_id}", status_code=202, response_model=JobAccepted, tags=["jobs"])
    async def destroy_job(job_id: UUID) -> JobAccepted:
        """Tear the job's deployment down (idempotent: repeating it is harmless)."""
        async with pool().acquire() as conn, conn.transaction():
            job = await conn.fetchrow("SELECT status FROM jobs WHERE id = $1 FOR UPDATE", job_id)
            if job is None:
                raise HTTPException(status_code=404, detail=f"no job {job_id}")
            if job["status"] == "destroying":
                return JobAccepted(job_id=job_id, status="destroying")
            await db.set_job(conn, job_id=job_id, status="destroying")
            row = await db.enqueue(conn, JobTeardownRequested(job_id=job_id))
        state["relay"].hand_off([row])
        return JobAccepted(job_id=job_id, status="destroying")

    @app.get("/job/{job_id}/artifacts", response_model=list[ArtifactRead], tags=["artifacts"])
    async def list_artifacts(job_id: UUID) -> list[ArtifactRead]:
        """The generated files of a job."""
        await _existing_job(job_id)
        rows = await db.list_artifacts(pool(), job_id=job_id)
        return [ArtifactRead(**r) for r in rows]

    @app.get("/job/{job_id}/bundle.tar.gz", tags=["artifacts"])
    async def download_bundle(job_id: UUID) -> Response:
        """Every generated file of a job as one tar.gz."""
        await _existing_job(job_id)
        files = await db.get_artifacts(pool(), job_id=job_id)
        if not files:
            raise HTTPException(status_code=404, detail=f"job {job_id} has no generated files yet")
        return Response(
            bundle_tarball(files, prefix=f"autodeploy-{job_id}"),
            media_type="application/gzip",
            headers={"Content-Disposition": f'attachment; filename="autodeploy-{job_id}.tar.gz"'},
        )

    @app.get("/job/{job_id}/artifacts/{path:path}", tags=["artifacts"])
    async def get_artifact(job_id: UUID, path: str) -> Response:
        """One generated file."""
        await _existing_job(job_id)
        content = await db.get_artifact(pool(), job_id=job_id, path=path)
        if content is None:
            raise HTTPException(status_code=404, detail=f"job {job_id} has no file {path!r}")
        return Response(content, media_type="text/plain; charset=utf-8")

    async def _existing_job(job_id: UUID) -> None:
        if not await pool().fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id):
            raise HTTPException(status_code=404, detail=f"no job {job_id}")

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(response: Response) -> dict[str, Any]:
        """PostgreSQL and RabbitMQ both answer."""
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(pool().fetchval("SELECT 1"), timeout=2)
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"down: {type(exc).__name__}"
        checks["rabbitmq"] = "ok" if state["broker"].is_connected else "down"
        ready = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ready else 503
        return {"status": "ready" if ready else "not ready", "checks": checks}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app
