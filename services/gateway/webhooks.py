"""POST /webhooks/github: a signed push to an app's branch deploys that commit.

The request carries no API token (GitHub cannot send one); it is trusted only through
``X-Hub-Signature-256``, an HMAC-SHA256 of the raw body with the app's webhook secret
(POST /apps/{name}/webhook-secret), compared in constant time. A delivery id is
accepted once, so a captured request replayed later starts nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from shared import app_store, db
from shared.apps import push_revision, repository_urls, signature_matches
from shared.security import unseal
from shared.settings import Settings

__all__ = ["WebhookAnswer", "router"]

logger = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


class QueuedRevision(BaseModel):
    """A revision the event started."""

    app: str
    job_id: UUID


class WebhookAnswer(BaseModel):
    """What the event did: revisions started, or why none."""

    status: str  # queued | ignored | duplicate | pong
    revisions: list[QueuedRevision] = []
    reason: str = ""


_UNSIGNED = HTTPException(
    status_code=401,
    detail="X-Hub-Signature-256 does not match the webhook secret of any app of this "
    "repository (POST /apps/{name}/webhook-secret issues one); nothing was started",
)


@router.post(
    "/webhooks/github",
    response_model=WebhookAnswer,
    responses={401: {"description": "bad or missing signature; nothing started"}},
)
async def github_webhook(
    request: Request,
    x_github_event: Annotated[str, Header(max_length=100)],
    x_github_delivery: Annotated[str, Header(min_length=1, max_length=200)],
    x_hub_signature_256: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookAnswer:
    """A GitHub webhook delivery (JSON): `push` to an app's branch queues a revision."""
    body = await request.body()
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(status_code=400, detail="the body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(status_code=400, detail="the body is not a JSON object")
    settings: Settings = request.app.state.settings
    pool = request.app.state.pool
    async with pool.acquire() as conn, conn.transaction():
        apps = await app_store.apps_for_repository(conn, repo_urls=repository_urls(payload))
        signed = [a for a in apps if _signed_by(a, body, x_hub_signature_256, settings)]
        if not signed:
            raise _UNSIGNED
        if not await app_store.claim_delivery(conn, delivery_id=x_github_delivery):
            return WebhookAnswer(status="duplicate", reason="this delivery was already handled")
        if x_github_event == "ping":
            return WebhookAnswer(status="pong")
        if x_github_event != "push":
            return WebhookAnswer(status="ignored", reason=f"{x_github_event} events deploy nothing")
        started, rows, reasons = await _start_revisions(conn, signed, payload)
    request.app.state.relay.hand_off(rows)
    if not started:
        return WebhookAnswer(status="ignored", reason="; ".join(reasons))
    return WebhookAnswer(status="queued", revisions=started)


def _signed_by(app: dict[str, Any], body: bytes, header: str | None, settings: Settings) -> bool:
    key = settings.token_encryption_key
    if key is None:
        return False
    return signature_matches(unseal(app["webhook_secret"], key.get_secret_value()), body, header)


async def _start_revisions(
    conn: db.Conn, apps: list[dict[str, Any]], payload: dict[str, Any]
) -> tuple[list[QueuedRevision], list[db.OutboxRow], list[str]]:
    started: list[QueuedRevision] = []
    rows: list[db.OutboxRow] = []
    reasons: list[str] = []
    for app in apps:
        wanted = push_revision(payload, app["branch"])
        if wanted.commit is None:
            reasons.append(f"{app['name']}: {wanted.ignored}")
            continue
        job_id, row = await app_store.new_revision(conn, app_id=app["id"], commit=wanted.commit)
        logger.info(
            "webhook: push of %s starts revision %s of %s", wanted.commit, job_id, app["name"]
        )
        started.append(QueuedRevision(app=app["name"], job_id=job_id))
        rows.append(row)
    return started, rows, reasons
