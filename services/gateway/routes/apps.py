"""Apps: a repository (+ app root + target) deployed under a stable name and URL.

Each job that deploys it is one revision; the verifier moves the app's URL onto a
revision once its health check passes (services/verifier/apps.py). An app appears when
its repository's first job reaches the provisioner.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from services.gateway.deps import PoolDep, RelayDep, SettingsDep
from shared import app_store
from shared.security import seal
from shared.settings import Settings

__all__ = ["AppRead", "AppSummary", "RevisionRead", "WebhookSecret", "router"]

router = APIRouter(
    prefix="/apps", tags=["apps"], responses={404: {"description": "no app of that name"}}
)

WEBHOOK_PATH = "/webhooks/github"


class AppSummary(BaseModel):
    """An app as listed."""

    name: str
    repo_url: str = Field(description="The repository, without credentials")
    app_root: str
    target: str
    branch: str | None = Field(description="The branch pushes deploy; null: the default one")
    url: str | None = Field(description="The stable URL, once a revision served")
    current_job_id: UUID | None = Field(description="The revision the URL serves")
    webhook_configured: bool = Field(description="Whether a webhook secret was issued")
    pull_request: int | None = Field(description="A preview's pull request number")
    created_at: datetime
    updated_at: datetime


class RevisionRead(BaseModel):
    """One revision: a job of the app."""

    job_id: UUID
    status: str
    stage: str | None
    commit: str | None
    error: str | None
    current: bool
    created_at: datetime
    finished_at: datetime | None


class AppRead(AppSummary):
    """An app with its revisions, newest first (at most 50)."""

    revisions: list[RevisionRead]


class RevisionAccepted(BaseModel):
    """A revision was queued."""

    app: str
    job_id: UUID
    status: str = "queued"


class AppDeleting(BaseModel):
    """An app was deleted; its revisions are being torn down."""

    name: str
    status: str = "deleting"
    job_ids: list[UUID]


class WebhookSecret(BaseModel):
    """A new webhook secret: shown this once; configure it on the repository's webhook."""

    app: str
    secret: str
    url_path: str = Field(description="Where the repository's webhook posts, on this gateway")
    content_type: str = "application/json"
    events: list[str] = ["push"]


def app_url(app: dict[str, Any], settings: Settings) -> str | None:
    """The app's stable URL: its proxy port on the host local deployments are named by."""
    port = app.get("proxy_port")
    if port is None:
        return None
    host = settings.deploy_url_host or "127.0.0.1"
    return f"http://{host}:{port}"


def _summary(app: dict[str, Any], settings: Settings) -> dict[str, Any]:
    fields = set(AppSummary.model_fields) - {"url"}
    return {k: app[k] for k in fields} | {"url": app_url(app, settings)}


async def _existing(pool: asyncpg.Pool, name: str) -> dict[str, Any]:
    app = await app_store.get_app(pool, name=name)
    if app is None:
        raise HTTPException(status_code=404, detail=f"no app named {name!r} (GET /apps lists them)")
    return app


@router.get("", response_model=list[AppSummary])
async def list_apps(settings: SettingsDep, pool: PoolDep) -> list[AppSummary]:
    """Every app, by name."""
    apps = await app_store.list_apps(pool)
    return [AppSummary(**_summary(a, settings)) for a in apps]


@router.get("/{name}", response_model=AppRead)
async def get_app(name: str, settings: SettingsDep, pool: PoolDep) -> AppRead:
    """An app: its stable URL, the revision it serves, and its revisions."""
    app = await _existing(pool, name)
    rows = await app_store.revisions(pool, app_id=app["id"])
    revisions = [
        RevisionRead(
            job_id=r["id"],
            current=r["id"] == app["current_job_id"],
            **{
                k: r[k] for k in ("status", "stage", "commit", "error", "created_at", "finished_at")
            },
        )
        for r in rows
    ]
    return AppRead(**_summary(app, settings), revisions=revisions)


@router.post("/{name}/redeploy", status_code=202, response_model=RevisionAccepted)
async def redeploy(name: str, pool: PoolDep, relay: RelayDep) -> RevisionAccepted:
    """Deploy the app again from its branch's head, as a new revision."""
    app = await _existing(pool, name)
    async with pool.acquire() as conn, conn.transaction():
        job_id, row = await app_store.new_revision(conn, app_id=app["id"])
    relay.hand_off([row])
    return RevisionAccepted(app=name, job_id=job_id)


@router.post(
    "/{name}/webhook-secret",
    status_code=201,
    response_model=WebhookSecret,
    responses={503: {"description": "TOKEN_ENCRYPTION_KEY is not set"}},
)
async def issue_webhook_secret(name: str, settings: SettingsDep, pool: PoolDep) -> WebhookSecret:
    """A new webhook secret for the app, replacing any earlier one; shown only in this answer."""
    key = settings.token_encryption_key
    if key is None:
        raise HTTPException(
            status_code=503,
            detail="this server cannot keep webhook secrets: TOKEN_ENCRYPTION_KEY is not set",
        )
    app = await _existing(pool, name)
    secret = secrets.token_urlsafe(32)
    await app_store.set_webhook_secret(
        pool, app_id=app["id"], sealed=seal(secret, key.get_secret_value())
    )
    return WebhookSecret(app=name, secret=secret, url_path=WEBHOOK_PATH)


@router.delete("/{name}", status_code=202, response_model=AppDeleting)
async def delete_app(name: str, pool: PoolDep, relay: RelayDep) -> AppDeleting:
    """Delete the app: every revision is torn down, then its URL stops answering."""
    app = await _existing(pool, name)
    async with pool.acquire() as conn, conn.transaction():
        job_ids, rows = await app_store.delete_app(conn, app_id=app["id"])
    relay.hand_off(rows)
    return AppDeleting(name=name, job_ids=job_ids)
