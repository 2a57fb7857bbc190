"""The gateway: REST API over the job store; publishes job events through the outbox.

``create_app`` only assembles: the routers (`services.gateway.routes`), the exception
handlers (`services.gateway.errors`), the middlewares, and the lifespan that opens the
connections the routes take through `services.gateway.deps`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from services.gateway import errors
from services.gateway.deps import JobInserts
from services.gateway.fastpath import SubmitFastPath
from services.gateway.hosts import HostCheckMiddleware
from services.gateway.middleware import BearerAuthMiddleware, BodyLimitMiddleware
from services.gateway.routes import apps, artifacts, jobs, ops, tasks, web, webhooks
from shared import db
from shared.bus import Broker
from shared.metrics import BATCH_SIZE, JOBS_SUBMITTED
from shared.outbox import OutboxRelay
from shared.settings import Settings

__all__ = ["create_app", "lifespan"]

DESCRIPTION = (
    "Describe it, we deploy it. Post a Git repository and a plain-language description; "
    "follow the job through analyzer, generator, provisioner and verifier."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool, the broker and the outbox relay; put them on ``app.state``."""
    settings: Settings = app.state.settings
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
    inserts = JobInserts(
        lambda jobs: relay.deleting_published(
            lambda published: db.insert_jobs(pool, jobs, delete_outbox=published)
        ),
        split_on=(asyncpg.PostgresError,),
        observe=BATCH_SIZE.labels("gateway", "insert_job").observe,
        linger_s=settings.batch_linger_ms / 1000,
    )
    app.state.pool, app.state.broker = pool, broker
    app.state.relay, app.state.inserts = relay, inserts
    try:
        yield
    finally:
        await relay.stop()
        await broker.close()
        await pool.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the gateway application (connections open in the lifespan)."""
    settings = settings or Settings()
    app = FastAPI(title="autodeploy", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    # In this order: the OpenAPI document lists the paths so, and where two routes could
    # match a path the one included first answers.
    for area in (web, tasks, apps, webhooks, jobs, artifacts, ops):
        app.include_router(area.router)

    for lost in errors.DATABASE_DOWN:
        app.add_exception_handler(lost, errors.database_unavailable)
    app.add_exception_handler(errors.Repeat, errors.repeated_submission)
    app.add_exception_handler(RequestValidationError, errors.invalid_request)

    # Middlewares, innermost first. POST /request's common case skips FastAPI's
    # per-request layers (`services.gateway.fastpath`); authentication and the body
    # limits still apply to it.
    if settings.gateway_fast_path:
        app.add_middleware(
            SubmitFastPath, endpoint=jobs.submit, handlers=lambda: app.exception_handlers
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
    return app
