"""POST /webhooks/github: a signed push to an app's branch deploys that commit.

The request carries no API token (GitHub cannot send one); it is trusted only through
``X-Hub-Signature-256``, an HMAC-SHA256 of the raw body with the app's webhook secret
(POST /apps/{name}/webhook-secret), compared in constant time. A delivery id is
accepted once, so a captured request replayed later starts nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request
from pydantic import BaseModel

from services.gateway.deps import PoolDep, RelayDep, SettingsDep
from shared import app_store, db
from shared.apps import preview_change, push_revision, repository_urls, signature_matches
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

    status: str  # queued | removing | ignored | duplicate | pong
    revisions: list[QueuedRevision] = []
    removed: list[str] = []  # previews being torn down (a closed pull request)
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
    settings: SettingsDep,
    pool: PoolDep,
    relay: RelayDep,
    x_github_event: Annotated[str, Header(max_length=100)],
    x_github_delivery: Annotated[str, Header(min_length=1, max_length=200)],
    x_hub_signature_256: Annotated[str | None, Header(max_length=200)] = None,
) -> WebhookAnswer:
    """A GitHub webhook delivery (JSON).

    `push` to an app's branch queues a revision of that commit; `pull_request` opened,
    reopened or synchronize deploys its head as the preview app `<app>-pr-<n>`, and
    closed tears that preview down.
    """
    body = await request.body()
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(status_code=400, detail="the body is not JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(status_code=400, detail="the body is not a JSON object")
    async with pool.acquire() as conn, conn.transaction():
        apps = await app_store.apps_for_repository(conn, repo_urls=repository_urls(payload))
        signed = [a for a in apps if _signed_by(a, body, x_hub_signature_256, settings)]
        if not signed:
            raise _UNSIGNED
        if not await app_store.claim_delivery(
            conn, delivery_id=x_github_delivery, keep_s=settings.webhook_deliveries_keep_s
        ):
            return WebhookAnswer(status="duplicate", reason="this delivery was already handled")
        if x_github_event == "ping":
            return WebhookAnswer(status="pong")
        if x_github_event == "push":
            change = await _start_revisions(conn, signed, payload)
        elif x_github_event == "pull_request":
            change = await _change_previews(conn, signed, payload)
        else:
            return WebhookAnswer(status="ignored", reason=f"{x_github_event} events deploy nothing")
    relay.hand_off(change.rows)
    if change.removed:
        return WebhookAnswer(status="removing", removed=change.removed)
    if not change.started:
        return WebhookAnswer(status="ignored", reason="; ".join(change.reasons))
    return WebhookAnswer(status="queued", revisions=change.started)


def _signed_by(app: dict[str, Any], body: bytes, header: str | None, settings: Settings) -> bool:
    key = settings.token_encryption_key
    if key is None:
        return False
    try:
        secret = unseal(app["webhook_secret"], key.get_secret_value())
    except ValueError:
        # TOKEN_ENCRYPTION_KEY changed since the secret was issued: it verifies nothing.
        logger.warning("app %s: its webhook secret cannot be opened; issue a new one", app["name"])
        return False
    return signature_matches(secret, body, header)


@dataclass
class _Change:
    """What an event did, and the outbox rows to hand to the relay once committed."""

    started: list[QueuedRevision] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    rows: list[db.OutboxRow] = field(default_factory=list)


async def _start_revisions(
    conn: db.Conn, apps: list[dict[str, Any]], payload: dict[str, Any]
) -> _Change:
    change = _Change()
    started, rows, reasons = change.started, change.rows, change.reasons
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
    return change


async def _change_previews(
    conn: db.Conn, apps: list[dict[str, Any]], payload: dict[str, Any]
) -> _Change:
    """Deploy a pull request's head as ``<app>-pr-<n>``, or tear that preview down."""
    wanted = preview_change(payload)
    change = _Change()
    if wanted.ignored:
        change.reasons.append(wanted.ignored)
        return change
    for app in apps:
        found = await app_store.preview(
            conn, app_id=app["id"], number=wanted.number, create=not wanted.close
        )
        if found is None:
            change.reasons.append(f"{app['name']} has no preview of #{wanted.number}")
            continue
        preview = await app_store.get_app_by_id(conn, app_id=found)
        assert preview is not None
        if wanted.close:
            _, rows = await app_store.delete_app(conn, app_id=found)
            change.removed.append(preview["name"])
        else:
            job_id, row = await app_store.new_revision(conn, app_id=found, commit=wanted.commit)
            change.started.append(QueuedRevision(app=preview["name"], job_id=job_id))
            rows = [row]
        change.rows += rows
    return change
