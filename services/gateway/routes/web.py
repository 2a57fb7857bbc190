"""The web dashboard: HTML pages, their static assets, and a job's live event stream (SSE).

The pages are plain HTML; their scripts call the REST API and build the DOM with
``textContent`` only, because everything a job shows (logs, errors, analysis, file
contents) comes from untrusted repositories. The stream polls PostgreSQL, which every
stage writes to, so it needs no broker subscription and works with many gateway workers.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from services.gateway.deps import PoolDep
from shared import db

__all__ = ["POLL_INTERVAL_S", "STREAM_MAX_S", "parse_last_event_id", "router", "sse_frame"]

logger = logging.getLogger(__name__)

_HERE = Path(__file__).resolve().parent.parent  # services/gateway
_TEMPLATES = _HERE / "templates"
_STATIC = _HERE / "static"
_MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

# How often the stream looks for new log lines and status changes. Stages commit their
# lines as they go, so a third of a second reads as "live" without loading the database.
POLL_INTERVAL_S = 0.3
# A stream hands over to a fresh connection after this long (the browser reconnects with
# Last-Event-ID and misses nothing), so a job stuck for hours does not pin a connection
# and a gateway shutting down gracefully never waits longer than this for a stream.
STREAM_MAX_S = 120.0
# Proxies drop connections that stay silent; a comment line every so often keeps it open.
_KEEPALIVE_S = 15.0
# Tells the browser how long to wait before reconnecting after a dropped connection.
_RETRY_MS = 2000

# Everything the pages need is served from this origin; nothing loads from elsewhere.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

router = APIRouter(tags=["dashboard"])


def _page(name: str, status_code: int = 200, **values: str) -> HTMLResponse:
    text = (_TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value))
    return HTMLResponse(text, status_code=status_code, headers=_PAGE_HEADERS)


def _job_uuid(job_id: str) -> UUID | None:
    try:
        return UUID(job_id)
    except ValueError:
        return None


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/ui", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    """The job list and the submit form."""
    return _page("index.html")


@router.get("/ui/tasks", response_class=HTMLResponse, include_in_schema=False)
async def task_harness() -> HTMLResponse:
    """The brief-to-site harness: a prefilled /tasks form that follows the job."""
    return _page("tasks.html")


@router.get("/ui/apps", response_class=HTMLResponse, include_in_schema=False)
async def apps_page() -> HTMLResponse:
    """Apps: their stable URLs and serving revisions, with a redeploy button each."""
    return _page("apps.html")


@router.get("/ui/job/{job_id}", response_class=HTMLResponse, include_in_schema=False)
async def job_page(job_id: str, pool: PoolDep) -> HTMLResponse:
    """One job: timeline, live log, analysis, files, URL or error, teardown."""
    uid = _job_uuid(job_id)
    if uid is None or not await pool.fetchval("SELECT 1 FROM jobs WHERE id = $1", uid):
        return _page("not_found.html", status_code=404)
    return _page("job.html", job_id=str(uid))


@router.get("/ui/static/{name}", include_in_schema=False)
async def static_file(name: str) -> FileResponse:
    """A stylesheet, script or icon of the dashboard (flat folder, known types only)."""
    path = _STATIC / name
    media_type = _MEDIA_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or media_type is None or not path.is_file():
        raise HTTPException(status_code=404, detail=f"no dashboard file {name!r}")
    return FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def sse_frame(
    data: Mapping[str, Any], *, event: str | None = None, event_id: int | None = None
) -> str:
    """One Server-Sent Events message; the JSON body never spans lines."""
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if event is not None:
        lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, default=str, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"


def parse_last_event_id(header: str | None, query: int | None = None) -> int:
    """Where a (re)connecting stream resumes: the Last-Event-ID header, else ``?after=``."""
    if header is not None and header.strip().isdigit():
        return int(header.strip())
    return max(query or 0, 0)


def _status_of(job: Mapping[str, Any]) -> dict[str, Any]:
    result = job.get("result") or {}
    return {
        "status": job["status"],
        "stage": job["stage"],
        "error": job["error"],
        "url": result.get("url") if isinstance(result, dict) else None,
        "updated_at": job["updated_at"],
        "finished_at": job["finished_at"],
    }


async def _job_events(
    request: Request, pool: Any, job_id: UUID, after_id: int
) -> AsyncIterator[str]:
    yield f"retry: {_RETRY_MS}\n\n"
    started = last_sent = time.monotonic()
    last_status: tuple[Any, ...] | None = None
    while True:
        async with pool.acquire() as conn:
            job = await conn.fetchrow(
                "SELECT status, stage, error, result, updated_at, finished_at "
                "FROM jobs WHERE id = $1",
                job_id,
            )
            lines = await db.get_logs(conn, job_id=job_id, after_id=after_id)
        if job is None:  # deleted under us
            yield sse_frame({"reason": "the job no longer exists"}, event="end")
            return
        now = time.monotonic()
        for line in lines:
            after_id = int(line["id"])
            line.pop("superseded", None)
            last_sent = now
            yield sse_frame(line, event="log", event_id=after_id)
        status = _status_of(dict(job))
        key = (status["status"], status["stage"], status["error"], status["url"])
        if key != last_status:
            last_status = key
            last_sent = now
            yield sse_frame(status, event="status")
        # Logs were read after the status, so once the job has ended every line is sent.
        if job["status"] in db.TERMINAL_STATUSES:
            yield sse_frame({"status": job["status"]}, event="end")
            return
        if now - started > STREAM_MAX_S or await request.is_disconnected():
            return
        if now - last_sent > _KEEPALIVE_S:
            last_sent = now
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_INTERVAL_S)


@router.get("/job/{job_id}/events", tags=["jobs"])
async def job_events(
    request: Request, job_id: UUID, pool: PoolDep, after: int | None = None
) -> StreamingResponse:
    """Server-Sent Events: the job's new log lines (``id:`` = line id) and status changes.

    Reconnecting with ``Last-Event-ID`` (or ``?after=<id>``) resumes after that line. The
    stream ends with an ``end`` event once the job reaches an ending status.
    """
    if not await pool.fetchval("SELECT 1 FROM jobs WHERE id = $1", job_id):
        raise HTTPException(status_code=404, detail=f"no job {job_id}")
    after_id = parse_last_event_id(request.headers.get("last-event-id"), after)
    return StreamingResponse(
        _job_events(request, pool, job_id, after_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
