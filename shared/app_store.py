"""PostgreSQL access for apps: keyword-only functions over ``apps``, ``jobs.app_id`` and
``webhook_deliveries`` (migration 0006).

Kept apart from shared/db.py, whose job functions it reuses: an app is a layer over jobs,
and each revision is an ordinary job (`new_revision`).
"""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID, uuid4

from shared import db
from shared.apps import app_name_base, numbered_name, same_repository
from shared.events import JobRequest, JobRequested, JobTeardownRequested
from shared.security import redact_obj

__all__ = [
    "apps_for_repository",
    "claim_delivery",
    "delete_app",
    "get_app",
    "get_app_by_id",
    "join_app",
    "list_apps",
    "lock_app",
    "new_revision",
    "preview",
    "revisions",
    "set_current",
    "set_webhook_secret",
]

_MAX_NAME_TRIES = 100

# Every column but the sealed ones, which never leave the stages that need them.
_PUBLIC = (
    "id, name, repo_url, app_root, target, branch, description, proxy_port, current_job_id, "
    "preview_of, pull_request, webhook_secret IS NOT NULL AS webhook_configured, "
    "created_at, updated_at, deleted_at"
)


async def join_app(
    conn: db.Conn, *, job_id: UUID, request: JobRequest, app_root: str, target: str
) -> dict[str, Any]:
    """The job's app, created if this repository + app root + target has none yet.

    A job made for an app (redeploy, webhook) already names it. Two jobs of a new app
    that race here end in the same app: the key's unique index decides, and the loser
    reads the winner's row.
    """
    named = await conn.fetchval("SELECT app_id FROM jobs WHERE id = $1", job_id)
    if named is not None:
        app = await get_app_by_id(conn, app_id=named)
        assert app is not None
        return app
    repo_url = same_repository(request.repo_url)
    base = app_name_base(repo_url, app_root)
    for n in range(1, _MAX_NAME_TRIES + 1):
        app_id = await conn.fetchval(
            "SELECT id FROM apps WHERE repo_url = $1 AND app_root = $2 AND target = $3 "
            "AND deleted_at IS NULL AND preview_of IS NULL",
            repo_url,
            app_root,
            target,
        )
        if app_id is None:
            app_id = await conn.fetchval(
                "INSERT INTO apps (id, name, repo_url, app_root, target, description, "
                "sealed_token) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT DO NOTHING RETURNING id",
                uuid4(),
                numbered_name(base, n),
                repo_url,
                app_root,
                target,
                request.description,
                request.sealed_token,
            )
            if app_id is None:
                continue  # the name is taken (or the key was just created): look again
        elif request.sealed_token is not None:
            # The newest token wins: it is the one the user holds now.
            await conn.execute(
                "UPDATE apps SET sealed_token = $2, updated_at = clock_timestamp() WHERE id = $1",
                app_id,
                request.sealed_token,
            )
        await conn.execute("UPDATE jobs SET app_id = $2 WHERE id = $1", job_id, app_id)
        app = await get_app_by_id(conn, app_id=app_id)
        assert app is not None
        return app
    raise RuntimeError(f"no free app name after {_MAX_NAME_TRIES} tries from {base!r}")


async def get_app(conn: db.Conn, *, name: str) -> dict[str, Any] | None:
    """A live app by name (no sealed column), or None."""
    row = await conn.fetchrow(
        f"SELECT {_PUBLIC} FROM apps WHERE name = $1 AND deleted_at IS NULL",  # noqa: S608
        name,
    )
    return dict(row) if row else None


async def get_app_by_id(conn: db.Conn, *, app_id: UUID) -> dict[str, Any] | None:
    """An app, live or deleted, by id (no sealed column), or None."""
    row = await conn.fetchrow(f"SELECT {_PUBLIC} FROM apps WHERE id = $1", app_id)  # noqa: S608
    return dict(row) if row else None


async def list_apps(conn: db.Conn) -> list[dict[str, Any]]:
    """Live apps, by name."""
    rows = await conn.fetch(
        f"SELECT {_PUBLIC} FROM apps WHERE deleted_at IS NULL ORDER BY name"  # noqa: S608
    )
    return [dict(r) for r in rows]


async def revisions(conn: db.Conn, *, app_id: UUID, limit: int = 50) -> list[dict[str, Any]]:
    """An app's jobs, newest first: id, status, commit, error, timestamps."""
    rows = await conn.fetch(
        "SELECT id, status, stage, error, created_at, finished_at, "
        "coalesce(analysis->>'commit_sha', request->>'commit') AS commit "
        "FROM jobs WHERE app_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
        app_id,
        limit,
    )
    return [dict(r) for r in rows]


async def apps_for_repository(conn: db.Conn, *, repo_urls: set[str]) -> list[dict[str, Any]]:
    """Live apps of these repositories that have a webhook secret, with it (sealed)."""
    rows = await conn.fetch(
        "SELECT id, name, branch, webhook_secret FROM apps WHERE repo_url = ANY($1::text[]) "
        "AND deleted_at IS NULL AND webhook_secret IS NOT NULL AND preview_of IS NULL",
        sorted(repo_urls),
    )
    return [dict(r) for r in rows]


async def set_webhook_secret(conn: db.Conn, *, app_id: UUID, sealed: str) -> None:
    """Replace an app's webhook secret (sealed); the old one stops verifying at once."""
    await conn.execute(
        "UPDATE apps SET webhook_secret = $2, updated_at = clock_timestamp() WHERE id = $1",
        app_id,
        sealed,
    )


async def claim_delivery(conn: db.Conn, *, delivery_id: str, keep_s: float) -> bool:
    """Record a webhook delivery; False when it was seen within ``keep_s`` (a replay).

    Deliveries older than ``keep_s`` are forgotten here, on the insert that would
    otherwise grow the table without bound: one indexed range delete per webhook.
    """
    await conn.execute(
        "DELETE FROM webhook_deliveries "
        "WHERE received_at < now() - make_interval(secs => $1)",
        keep_s,
    )
    claimed = await conn.fetchval(
        "INSERT INTO webhook_deliveries (delivery_id) VALUES ($1) "
        "ON CONFLICT DO NOTHING RETURNING true",
        delivery_id,
    )
    return bool(claimed)


async def new_revision(
    conn: db.Conn, *, app_id: UUID, commit: str | None = None
) -> tuple[UUID, db.OutboxRow]:
    """Queue a job that deploys the app again (at ``commit``, else its branch's head)."""
    row = await conn.fetchrow(
        "SELECT repo_url, target, description, sealed_token FROM apps WHERE id = $1", app_id
    )
    assert row is not None
    request = JobRequest(
        repo_url=row["repo_url"],
        description=row["description"],
        target=row["target"],
        sealed_token=row["sealed_token"],
        commit=commit,
    )
    job_id = uuid4()
    public = cast(dict[str, Any], redact_obj(request.public(), shapes_only=True))
    outbox = await db.insert_job(
        conn,
        job_id=job_id,
        kind="repository",
        request=public,
        event=JobRequested(job_id=job_id, request=request),
    )
    await conn.execute("UPDATE jobs SET app_id = $2 WHERE id = $1", job_id, app_id)
    return job_id, outbox


async def lock_app(conn: db.Conn, *, app_id: UUID) -> dict[str, Any] | None:
    """An app's row, locked until the transaction ends (one revision switch at a time)."""
    row = await conn.fetchrow(
        f"SELECT {_PUBLIC} FROM apps WHERE id = $1 FOR UPDATE",  # noqa: S608
        app_id,
    )
    return dict(row) if row else None


async def set_current(conn: db.Conn, *, app_id: UUID, job_id: UUID, proxy_port: int) -> None:
    """The revision the app's URL now serves, and the port it serves it on."""
    await conn.execute(
        "UPDATE apps SET current_job_id = $2, proxy_port = $3, updated_at = clock_timestamp() "
        "WHERE id = $1",
        app_id,
        job_id,
        proxy_port,
    )


async def delete_app(conn: db.Conn, *, app_id: UUID) -> tuple[list[UUID], list[db.OutboxRow]]:
    """Delete an app and queue the teardown of its revisions (the last one removes its URL).

    Returns the jobs being torn down and their outbox rows, to hand to the relay.
    """
    own = await _mark_deleted(conn, app_id=app_id)
    job_ids: list[UUID] = []
    rows: list[db.OutboxRow] = []
    previews = await conn.fetch(
        "SELECT id FROM apps WHERE preview_of = $1 AND deleted_at IS NULL ORDER BY id", app_id
    )
    for row in previews:  # an app's pull request previews go with it
        more, more_rows = await delete_app(conn, app_id=row["id"])
        job_ids += more
        rows += more_rows
    for job_id in own:
        await db.set_job(conn, job_id=job_id, status="destroying")
        rows.append(await db.enqueue(conn, JobTeardownRequested(job_id=job_id)))
    return own + job_ids, rows


async def preview(conn: db.Conn, *, app_id: UUID, number: int, create: bool) -> UUID | None:
    """The live preview app of pull request ``number`` of an app (made when ``create``)."""
    found = await conn.fetchval(
        "SELECT id FROM apps WHERE preview_of = $1 AND pull_request = $2 AND deleted_at IS NULL",
        app_id,
        number,
    )
    if found is not None or not create:
        return cast(UUID | None, found)
    parent = await conn.fetchrow("SELECT name FROM apps WHERE id = $1", app_id)
    assert parent is not None
    base = f"{parent['name']}-pr-{number}"
    for n in range(1, _MAX_NAME_TRIES + 1):
        made = await conn.fetchval(
            "INSERT INTO apps (id, name, repo_url, app_root, target, branch, description, "
            "sealed_token, preview_of, pull_request) "
            "SELECT $1::uuid, $2::text, repo_url, app_root, target, branch, description, "
            "sealed_token, id, $4::integer FROM apps WHERE id = $3 "
            "ON CONFLICT DO NOTHING RETURNING id",
            uuid4(),
            base if n == 1 else f"{base}-{n}",
            app_id,
            number,
        )
        if made is not None:
            return cast(UUID, made)
    raise RuntimeError(f"no free app name after {_MAX_NAME_TRIES} tries from {base!r}")


async def _mark_deleted(conn: db.Conn, *, app_id: UUID) -> list[UUID]:
    await conn.execute(
        "UPDATE apps SET deleted_at = clock_timestamp(), webhook_secret = NULL, "
        "sealed_token = NULL, updated_at = clock_timestamp() WHERE id = $1",
        app_id,
    )
    rows = await conn.fetch(
        "SELECT id FROM jobs WHERE app_id = $1 AND status NOT IN ('destroying', 'destroyed') "
        "ORDER BY id FOR UPDATE",
        app_id,
    )
    return [r["id"] for r in rows]
