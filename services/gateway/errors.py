"""Errors the gateway's routes raise and the app turns into answers."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from fastapi import HTTPException

from shared import db

__all__ = ["Repeat", "claim_idempotency_key", "field_error"]


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
